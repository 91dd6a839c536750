"""Every attention backend gives the reference's numbers (or raises), masks really mask, bad input is explained."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from sora_nodes.bench.attention import main as bench_main
from sora_nodes.errors import SoraError
from sora_nodes.models import attention as attention_module
from sora_nodes.models.attention import (
    BACKENDS,
    AttentionBackendError,
    attention,
    available_backends,
    resolve_backend,
)


def _device_backends():
    cases = [pytest.param("cpu", b, id=f"cpu-{b}") for b in available_backends("cpu")]
    if torch.cuda.is_available():
        cases += [pytest.param("cuda", b, id=f"cuda-{b}") for b in available_backends("cuda")]
    else:
        cases.append(pytest.param("cuda", "sdpa", id="cuda", marks=pytest.mark.skip(reason="no CUDA device")))
    return cases


DEVICE_BACKENDS = _device_backends()


def _qkv(b, h, nq, nk, d, device, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, nq, d, generator=g)  # [B, H, Nq, D]
    k = torch.randn(b, h, nk, d, generator=g)  # [B, H, Nk, D]
    v = torch.randn(b, h, nk, d, generator=g)
    return q.to(device, dtype), k.to(device, dtype), v.to(device, dtype)


def _padding_mask(lengths, nk, device):
    return torch.arange(nk, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]  # [B, Nk]


SHAPES = [  # (B, H, Nq, Nk, D)
    pytest.param(2, 4, 64, 64, 64, id="square-d64"),
    pytest.param(3, 2, 37, 13, 32, id="odd-nq37-nk13-d32"),
    pytest.param(2, 3, 13, 37, 64, id="odd-nq13-nk37-d64"),
    pytest.param(1, 1, 1, 5, 32, id="one-query"),
]


@pytest.mark.parametrize("device, backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("b, h, nq, nk, d", SHAPES)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "padmask"])
def test_backend_matches_reference(device, backend, b, h, nq, nk, d, masked):
    q, k, v = _qkv(b, h, nq, nk, d, device)
    # Varied valid lengths per row: full, a single key, and something in between.
    mask = _padding_mask([nk, 1, nk // 2 + 1][:b], nk, device) if masked else None
    out = attention(q, k, v, key_mask=mask, backend=backend)
    ref = attention(q, k, v, key_mask=mask, backend="reference")
    assert out.shape == (b, h, nq, d) and out.dtype == q.dtype and out.device == q.device
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("device, backend", DEVICE_BACKENDS + [pytest.param("cpu", "reference", id="cpu-ref")])
def test_padding_mask_equals_dropping_the_padded_keys(device, backend):
    # What a padding mask means, independent of any implementation: padded keys might as well not exist.
    q, k, v = _qkv(3, 2, 21, 19, 32, device, seed=1)
    lengths = [19, 4, 11]
    out = attention(q, k, v, key_mask=_padding_mask(lengths, 19, device), backend=backend)
    for row, n in enumerate(lengths):
        alone = attention(q[row : row + 1], k[row : row + 1, :, :n], v[row : row + 1, :, :n], backend=backend)
        torch.testing.assert_close(out[row : row + 1], alone)


@pytest.mark.parametrize("device, backend", DEVICE_BACKENDS)
def test_masked_keys_with_huge_values_do_not_leak(device, backend):
    q, k, v = _qkv(2, 2, 9, 8, 32, device, seed=2)
    k[:, :, 5:] = 1e4 * q[:, :, :1]  # would win every softmax if attended
    v[:, :, 5:] = 1e6
    mask = _padding_mask([5, 5], 8, device)
    out = attention(q, k, v, key_mask=mask, backend=backend)
    unmasked = attention(q, k, v, backend=backend)
    # A convex combination of the allowed values stays within their range...
    assert out.abs().max() <= v[:, :, :5].abs().max() + 1e-4
    # ...and the mask made a difference a user would see.
    assert (unmasked - out).abs().max() > 1e3


@pytest.mark.parametrize("device, backend", DEVICE_BACKENDS)
def test_all_true_mask_is_the_same_as_no_mask(device, backend):
    q, k, v = _qkv(2, 2, 10, 7, 32, device, seed=3)
    full = torch.ones(2, 7, dtype=torch.bool, device=device)
    with_mask = attention(q, k, v, key_mask=full, backend=backend)
    torch.testing.assert_close(with_mask, attention(q, k, v, backend=backend))


@pytest.mark.parametrize("backend", available_backends("cpu"))
def test_low_precision_keeps_dtype_and_stays_close(backend):
    q, k, v = _qkv(2, 2, 33, 17, 64, "cpu", dtype=torch.bfloat16, seed=4)
    mask = _padding_mask([17, 6], 17, "cpu")
    out = attention(q, k, v, key_mask=mask, backend=backend)
    assert out.dtype == torch.bfloat16
    ref = attention(q.float(), k.float(), v.float(), key_mask=mask, backend="reference")
    torch.testing.assert_close(out.float(), ref, atol=2e-2, rtol=2e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("backend", available_backends("cuda") if torch.cuda.is_available() else ["sdpa"])
def test_cuda_bf16_matches_reference(backend):
    q, k, v = _qkv(2, 4, 77, 29, 64, "cuda", dtype=torch.bfloat16, seed=5)
    mask = _padding_mask([29, 3], 29, "cuda")
    out = attention(q, k, v, key_mask=mask, backend=backend)
    ref = attention(q, k, v, key_mask=mask, backend="reference")
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref.float(), atol=2e-2, rtol=2e-2)


def test_auto_resolves_to_the_best_available_backend():
    usable = available_backends("cpu")
    assert usable[-1] == "reference" and "xformers" not in usable  # xformers is CUDA-only
    assert resolve_backend("auto", "cpu") == usable[0]
    assert resolve_backend("auto", torch.device("cpu")) in BACKENDS[1:]


def test_chosen_backend_is_logged_once(caplog):
    attention_module._announce.cache_clear()
    q, k, v = _qkv(1, 1, 4, 4, 32, "cpu")
    with caplog.at_level(logging.INFO, logger="sora_nodes"):
        for _ in range(3):
            attention(q, k, v)
    logged = [r.getMessage() for r in caplog.records if "attention backend" in r.getMessage()]
    assert len(logged) == 1 and resolve_backend("auto", "cpu") in logged[0]


def test_unknown_backend_names_the_choices():
    with pytest.raises(AttentionBackendError) as err:
        resolve_backend("flash3", "cpu")
    assert "flash3" in str(err.value) and all(b in str(err.value) for b in BACKENDS)
    assert isinstance(err.value, SoraError) and isinstance(err.value, ValueError)
    q, k, v = _qkv(1, 1, 4, 4, 32, "cpu")
    with pytest.raises(AttentionBackendError, match="choose one of"):
        attention(q, k, v, backend="Flash")


def test_xformers_on_cpu_is_refused_clearly():
    with pytest.raises(AttentionBackendError, match="CUDA-only"):
        resolve_backend("xformers", "cpu")
    q, k, v = _qkv(1, 2, 8, 8, 32, "cpu")
    with pytest.raises(AttentionBackendError, match="CUDA-only"):
        attention(q, k, v, key_mask=torch.ones(1, 8, dtype=torch.bool), backend="xformers")


def test_row_with_every_key_masked_raises():
    q, k, v = _qkv(3, 1, 4, 6, 32, "cpu")
    mask = _padding_mask([6, 0, 2], 6, "cpu")
    with pytest.raises(AttentionBackendError, match=r"rows \[1\].*at least one key per batch row"):
        attention(q, k, v, key_mask=mask)


@pytest.mark.parametrize(
    "mask, match",
    [
        (torch.ones(2, 5, dtype=torch.bool), r"\[B, Nk\] = \[2, 6\].*got torch.bool \[2, 5\]"),
        (torch.ones(2, 1, 6, dtype=torch.bool), r"\[B, Nk\] = \[2, 6\]"),
        (torch.ones(2, 6), r"bool tensor.*got torch.float32"),
        ([[True] * 6] * 2, r"bool tensor.*got list"),
    ],
    ids=["short", "rank3", "float", "list"],
)
def test_bad_key_mask_is_explained(mask, match):
    q, k, v = _qkv(2, 1, 4, 6, 32, "cpu")
    with pytest.raises(AttentionBackendError, match=match):
        attention(q, k, v, key_mask=mask)


def test_bad_qkv_shapes_are_explained():
    q, k, v = _qkv(2, 2, 4, 6, 32, "cpu")
    with pytest.raises(AttentionBackendError, match=r"q must be a 4-D tensor \[B, H, N, D\], got shape \[2, 4, 32"):
        attention(q[:, 0], k, v)
    with pytest.raises(AttentionBackendError, match="share batch, heads and head dim"):
        attention(q, k[..., :16], v)
    with pytest.raises(AttentionBackendError, match="share batch, heads and head dim"):
        attention(q, k[:1], v[:1])
    with pytest.raises(AttentionBackendError, match="same, non-zero number of keys"):
        attention(q, k, v[:, :, :5])
    with pytest.raises(AttentionBackendError, match="share dtype"):
        attention(q, k.double(), v)


def test_benchmark_json_smoke(capsys):
    assert bench_main(["--tokens", "128,256", "--heads", "2", "--head-dim", "32", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["device"] in ("cpu", "cuda")
    backends = set(available_backends(report["device"]))
    assert {c["backend"] for c in report["results"]} == backends
    assert {c["tokens"] for c in report["results"]} == {128, 256}
    for case in report["results"]:
        assert case["status"] == "ok", case
        assert case["seconds"] > 0 and case["flops_per_s"] > 0
        assert case["time_vs_reference"] is not None
    assert set(report["memory_slope"]) == backends
    ref = {c["tokens"]: c for c in report["results"] if c["backend"] == "reference"}
    assert ref[128]["time_vs_reference"] == 1.0
    if report["memory_method"] != "unavailable":
        # Doubling tokens quadruples the reference's score matrix: its slope is clearly super-linear.
        assert report["memory_slope"]["reference"] > 1.5


def test_benchmark_skips_cases_over_the_memory_budget(capsys):
    assert (
        bench_main(
            [
                "--tokens",
                "512",
                "--heads",
                "1",
                "--head-dim",
                "32",
                "--repeats",
                "1",
                "--max-gb",
                "0.001",
                "--backends",
                "reference",
                "--json",
            ]
        )
        == 0
    )
    (case,) = json.loads(capsys.readouterr().out)["results"]
    assert case["status"] == "skipped" and "budget" in case["reason"] and case["estimated_bytes"] > 1e6


def test_benchmark_rejects_unknown_backend(capsys):
    assert bench_main(["--tokens", "128", "--backends", "flash9"]) == 2
    assert "flash9" in capsys.readouterr().err
