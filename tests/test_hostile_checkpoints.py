"""Crafted checkpoints (issue 21): tiny real safetensors files whose stored config asks for a huge network, or
whose header lies about its tensors. Each must end in one line that names the field, its value and the
limit, before anything large is allocated. The checks run under an address-space limit (RLIMIT_AS), so a
regression fails loudly here instead of eating the machine's memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memory_limit import GIB, address_space_limit
from safetensors import safe_open
from safetensors.torch import save_file

from sora_nodes.errors import CheckpointError, ResourceError, SoraError
from sora_nodes.families.bundle import load_sora_model
from sora_nodes.models.config import FIELD_LIMITS


def craft(src: Path, dst: Path, network: str, **fields) -> Path:
    """A copy of a real checkpoint, same tensors, with fields of one network's stored config replaced."""
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(meta[f"{network}.config"])
    config.update(fields)
    meta[f"{network}.config"] = json.dumps(config)
    save_file(tensors, str(dst), metadata=meta)
    return dst


def load_error(path: Path, kind: type = CheckpointError) -> str:
    with address_space_limit(), pytest.raises(kind) as info:
        load_sora_model(path)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "network, fields, expected",
    [
        ("dit", {"hidden_size": 1_000_000}, ["DiTConfig.hidden_size is 1000000", "1..32768"]),
        ("dit", {"depth": 100_000}, ["DiTConfig.depth is 100000", "1..512"]),
        ("dit", {"num_heads": 0}, ["DiTConfig.num_heads is 0", "1..1024"]),
        ("dit", {"mlp_ratio": 1e9}, ["DiTConfig.mlp_ratio is 1000000000.0", "at most 64"]),
        ("dit", {"patch_size": [1, 2]}, ["DiTConfig.patch_size", "must have 3 entries"]),
        ("dit", {"hidden_size": "64"}, ["DiTConfig.hidden_size", "must be an integer"]),
        ("dit", {"rope_theta": float("nan")}, ["DiTConfig.rope_theta", "finite number"]),
        ("dit", {"pooled_text": 1}, ["DiTConfig.pooled_text", "true or false"]),
        ("vae", {"base_channels": 10**7}, ["VAEConfig.base_channels is 10000000", "1..8192"]),
        ("vae", {"channel_mults": [1] * 100}, ["VAEConfig.channel_mults", "100 entries", "limit of 64"]),
        ("vae", {"num_res_blocks": 2**40}, ["VAEConfig.num_res_blocks is 1099511627776", "1..64"]),
    ],
)
def test_config_fields_beyond_their_limits_are_named(tiny_checkpoint, tmp_path, network, fields, expected):
    message = load_error(craft(tiny_checkpoint, tmp_path / "crafted.safetensors", network, **fields))
    for part in expected:
        assert part in message, message


def test_a_network_within_every_field_limit_but_too_large_for_memory_is_refused_before_it_is_built(
    tiny_checkpoint, tmp_path
):
    """Each field is at its limit, so only the estimate of the whole (about 45 TiB) can refuse it."""
    path = craft(tiny_checkpoint, tmp_path / "huge.safetensors", "dit", hidden_size=32768, depth=512, num_heads=256)
    message = load_error(path, ResourceError)
    assert "network 'dit'" in message and "needs about" in message and "billion parameters" in message
    assert "GiB is free" in message


def test_a_config_that_disagrees_with_the_tensor_shapes_is_a_damaged_or_mismatched_checkpoint(
    tiny_checkpoint, tmp_path
):
    message = load_error(craft(tiny_checkpoint, tmp_path / "wider.safetensors", "dit", hidden_size=128))
    assert "damaged or mismatched checkpoint" in message
    assert "patch_embed.weight: expected [128, 36], found [64, 36]" in message


def test_a_header_that_lies_about_a_tensor_shape_is_refused(tiny_checkpoint, tmp_path):
    """The shape the configs are compared with must account for the tensor's bytes."""
    data = Path(tiny_checkpoint).read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["dit.patch_embed.weight"]["shape"] = [1_000_000, 1_000_000]
    raw = json.dumps(header).encode()
    path = tmp_path / "lying.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + length :])
    message = load_error(path)
    assert "'dit.patch_embed.weight' claims shape [1000000, 1000000]" in message and "damaged" in message


@pytest.mark.parametrize("key, value", [("max_frames", "many"), ("max_frames", "1e12"), ("shift", "nan")])
def test_numeric_metadata_is_checked_when_the_model_loads(tiny_checkpoint, tmp_path, key, value):
    with safe_open(str(tiny_checkpoint), "pt") as f:
        meta = dict(f.metadata(), **{key: value})
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    save_file(tensors, str(tmp_path / "meta.safetensors"), metadata=meta)
    message = load_error(tmp_path / "meta.safetensors")
    assert f"metadata {key}={value!r}" in message


def test_a_wan_file_with_a_stray_layer_index_is_refused_before_building(tmp_path):
    """Wan files carry no config: the layer count is read off the key names, so one stray key could ask
    for 100000 blocks."""
    from sora_nodes.families.wan import load_wan_dit
    from sora_nodes.models.wan_dit import WanDiT, wan_dit_preset

    weights = {k: v.contiguous() for k, v in WanDiT(wan_dit_preset("tiny")).state_dict().items()}
    weights["blocks.99999.norm3.weight"] = torch.zeros(1)
    save_file(weights, str(tmp_path / "wan.safetensors"))
    with address_space_limit(), pytest.raises(CheckpointError) as info:
        load_wan_dit(tmp_path / "wan.safetensors")
    assert "num_layers is 100000" in str(info.value) and "1..512" in str(info.value)


# A DiT field, and a value: far beyond its limit, negative, or a plausible small one that may load.
INT_FIELDS = ["hidden_size", "depth", "num_heads", "text_dim", "frequency_embedding_size", "latent_channels"]


@st.composite
def dit_edit(draw):
    name = draw(st.sampled_from(INT_FIELDS))
    limit = int(FIELD_LIMITS[name])
    value = draw(st.one_of(st.integers(-(2**40), 0), st.integers(limit + 1, 2**40), st.integers(1, 128)))
    return name, value


@settings(deadline=None, derandomize=True, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=dit_edit())
def test_any_integer_in_a_stored_dit_config_loads_or_gives_one_line(edit, tiny_checkpoint, tmp_path):
    name, value = edit
    path = craft(tiny_checkpoint, tmp_path / f"{name}.safetensors", "dit", **{name: value})
    with address_space_limit():
        try:
            model = load_sora_model(path)
        except SoraError as e:
            assert "\n" not in str(e) and str(e)
            return
    assert getattr(model.dit.config, name) == value  # loaded: then the config agreed with every tensor


def test_sora_render_refuses_crafted_checkpoints_with_exit_2_under_a_memory_limit(tiny_checkpoint, tmp_path):
    """The reported commands, end to end, in a process capped at 4 GiB of address space."""
    cases = {
        "hidden_size": craft(tiny_checkpoint, tmp_path / "h.safetensors", "dit", hidden_size=1_000_000),
        "depth": craft(tiny_checkpoint, tmp_path / "d.safetensors", "dit", depth=100_000),
        "needs about": craft(
            tiny_checkpoint, tmp_path / "big.safetensors", "dit", hidden_size=32768, depth=512, num_heads=256
        ),
    }
    driver = f"""
import contextlib, io, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({4 * GIB}, {4 * GIB}))
from sora_nodes.cli import main
for path in sys.argv[1:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["render", "a red circle moving left", "--model", path, "-o", path + ".mp4", "-q"])
    print(json.dumps({{"code": code, "err": err.getvalue()}}))
print(json.dumps({{"max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""
    r = subprocess.run(
        [sys.executable, "-c", driver, *map(str, cases.values())], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    *results, usage = [json.loads(line) for line in r.stdout.splitlines()]
    for (fragment, path), result in zip(cases.items(), results, strict=True):
        lines = result["err"].strip().splitlines()
        assert result["code"] == 2 and len(lines) == 1, result
        assert lines[0].startswith("sora render: error: ") and fragment in lines[0], lines
        assert not Path(f"{path}.mp4").exists()
    assert usage["max_rss"] < 3 * GIB  # the process never held more than the interpreter, torch and a tiny model


def test_an_umt5_file_with_a_stray_block_index_is_refused_before_building(tmp_path):
    from transformers import UMT5EncoderModel

    from sora_nodes.models.umt5 import load_umt5_text_encoder, umt5_config

    weights = {k: v.contiguous() for k, v in UMT5EncoderModel(umt5_config("tiny")).state_dict().items()}
    weights.pop("encoder.embed_tokens.weight")  # tied to shared.weight; files store it once
    weights["encoder.block.99999.layer.0.layer_norm.weight"] = torch.zeros(1)
    save_file(weights, str(tmp_path / "umt5.safetensors"))
    with address_space_limit(), pytest.raises(CheckpointError) as info:
        load_umt5_text_encoder(tmp_path / "umt5.safetensors")
    assert "num_layers is 100000" in str(info.value) and "1..512" in str(info.value)
