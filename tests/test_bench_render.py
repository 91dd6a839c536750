"""`sora bench render` on a tiny untrained model: the report's structure and its internal consistency.

No timing assertions: only relations that hold whatever the machine's speed.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch

from sora_nodes.bench.render import dit_flops, format_table, main
from sora_nodes.families.bundle import new_sora_model

TINY = ["--dit", "tiny", "--vae", "tiny", "--size", "64x64", "--frames", "5", "--repeats", "1", "--device", "cpu"]


def bench(*extra: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*TINY, *extra, "--json"]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def guided_euler():
    return bench("--steps", "2", "--cfg", "5", "--sampler", "euler")


@pytest.fixture(scope="module")
def unguided_heun():
    return bench("--steps", "3", "--cfg", "1", "--sampler", "heun")


def test_report_labels_the_untrained_model_and_counts_tokens_from_the_size(guided_euler):
    r = guided_euler
    assert r["model"]["source"] == "untrained" and r["model"]["untrained"]
    assert "UNTRAINED" in format_table(r)
    model = new_sora_model("tiny", "tiny")
    k_t, k_s = model.vae.config.temporal_factor, model.vae.config.spatial_factor
    p_t, p_h, p_w = model.dit.config.patch_size
    # 5 frames -> 1 + (5 - 1) / k_t latent frames; 64 px -> 64 / k_s latent cells; then patches.
    expected_grid = [(1 + 4 // k_t) // p_t, 64 // k_s // p_h, 64 // k_s // p_w]
    assert r["token_grid"] == expected_grid
    assert r["tokens_per_forward"] == math.prod(expected_grid)
    assert r["model"]["dit_params"] == sum(p.numel() for p in model.dit.parameters())


def test_stages_add_up_to_the_end_to_end_time(guided_euler):
    s, share = guided_euler["seconds"], guided_euler["share"]
    stages = [s["prompt_encoding"], s["sampling"], s["vae_decode"], s["mp4_encode"]]
    assert all(t > 0 for t in stages)
    assert sum(stages) <= s["end_to_end"] * (1 + 1e-9)
    assert sum(stages) == pytest.approx(s["end_to_end"], rel=1e-6)  # cut from one generate() call
    assert sum(share.values()) == pytest.approx(1.0)
    assert s["per_step"] * guided_euler["steps"] == pytest.approx(s["sampling"])
    assert s["end_to_end_runs"] == [s["end_to_end"]]  # --repeats 1
    assert s["cold"] == pytest.approx(s["text_encoder_load"] + s["first_render"])
    assert s["text_encoder_load"] > 0 and s["model_load"] > 0


def test_guidance_doubles_the_batch_and_heun_adds_a_forward_per_step(guided_euler, unguided_heun):
    assert (guided_euler["dit_forwards"], guided_euler["dit_batch"]) == (2, 2)  # euler: 1 per step, cfg: cond+uncond
    assert (unguided_heun["dit_forwards"], unguided_heun["dit_batch"]) == (5, 1)  # heun: 2 per step, last 1
    # Same clip and prompt (the empty negative prompt is shorter, so it pads to the prompt's length):
    # a batch of two costs exactly twice the FLOPs of one.
    assert guided_euler["text_tokens"] == unguided_heun["text_tokens"]
    assert guided_euler["dit_flops_per_forward"] == 2 * unguided_heun["dit_flops_per_forward"]
    for r in (guided_euler, unguided_heun):
        assert r["dit_flops_per_forward"] > 0
        assert r["dit_flops_per_step"] * r["steps"] == pytest.approx(r["dit_flops_per_forward"] * r["dit_forwards"])
        assert r["dit_flops_per_s"] == pytest.approx(r["dit_flops_per_render"] / r["seconds"]["sampling"])
        assert r["peak_flops"] == 190e9  # the CPU box of ANCHORS.md
        assert r["utilisation"] == pytest.approx(r["dit_flops_per_s"] / 190e9)


def test_memory_is_reported_on_linux(guided_euler):
    if guided_euler["memory_method"] == "unavailable":
        pytest.skip("no /proc/self/clear_refs here; the CPU peak cannot be measured")
    peak = guided_euler["peak_bytes"]
    assert peak["render"] > 0
    assert peak["process"] > peak["render"]  # the absolute peak also holds torch, the model and the text encoder


def test_flop_count_applies_every_weight_exactly_once():
    dit = new_sora_model("tiny", "tiny").dit
    params = sum(p.numel() for p in dit.parameters())
    d, depth = dit.config.hidden_size, dit.config.depth
    # With one video token and one text token every weight is used once per clip (2 FLOPs per
    # multiply-add), and self- plus cross-attention each cost 4·L·1·1·d.
    assert dit_flops(dit, 1, 1, 1) == 2 * params + 8 * depth * d
    assert dit_flops(dit, 3, 1, 1) == 3 * dit_flops(dit, 1, 1, 1)
    # Self-attention grows quadratically with the video tokens: the second difference in N is 2·4·L·d.
    f = [dit_flops(dit, 1, n, 7) for n in (10, 11, 12)]
    assert f[2] - 2 * f[1] + f[0] == 8 * depth * d


@pytest.mark.parametrize(
    "args,message",
    [
        (["--size", "60x64"], "width must be a multiple of 8"),
        (["--frames", "6"], "frames must be 1 + k*4"),
        (["--model", "no/such/model.safetensors"], "does not exist"),
    ],
)
def test_bad_input_is_one_clear_line(args, message, capsys):
    assert main([*TINY, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["--size", "64by64"], ["--dit", "huge"], ["--steps", "0"]])
def test_bad_arguments_are_rejected_by_the_parser(args, capsys):
    with pytest.raises(SystemExit) as e:
        main([*TINY, *args])
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_one_says_so(capsys):
    assert main([*TINY[:-2], "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
