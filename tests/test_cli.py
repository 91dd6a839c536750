"""The `sora` console script as a user runs it: render, info, bench, and one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sora_nodes.io.video import read_video

SORA = Path(sys.executable).with_name("sora")


def sora(*args, cwd=None, timeout=240):
    assert SORA.exists(), f"the `sora` console script is not installed next to {sys.executable}; run scripts/setup.sh"
    return subprocess.run([str(SORA), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_render_writes_a_playable_mp4(tiny_checkpoint, tmp_path):
    out = tmp_path / "clips" / "red.mp4"
    r = sora(
        "render",
        "a red circle moving left",
        "--model",
        tiny_checkpoint,
        "-o",
        out,
        "--size",
        "112x64",
        "--frames",
        "9",
        "--fps",
        "12",
        "--steps",
        "3",
        "--vae-tile",
        "8",
        "--sampler",
        "heun",
        "--seed",
        "3",
    )
    assert r.returncode == 0, r.stderr
    frames, fps = read_video(out)
    assert frames.shape == (9, 64, 112, 3)
    assert fps == 12
    from sora_nodes.provenance import verify

    report = verify(out)  # signed as the last step, without the prompt unless asked
    assert report["valid"] and "prompt" not in report["claims"], report
    assert "sampling" in r.stderr and "3/3" in r.stderr  # the tqdm progress bar
    assert sorted(p.name for p in out.parent.iterdir()) == ["red.mp4"]  # no temp file left behind


@pytest.mark.parametrize(
    "args,message",
    [
        (["--frames", "8"], "frames must be 1 + k*4 (1, 5, 9, ...) for this model; got 8, try 5 or 9"),
        (["--size", "60x64"], "width must be a multiple of 16"),
        (["--size", "64by64"], "size must look like WIDTHxHEIGHT"),
        (["--sampler", "ddim"], "invalid choice: 'ddim'"),
        (["--attention", "flash9"], "invalid choice: 'flash9'"),
        (["--steps", "0"], "steps must be at least 1"),
        (["--fps", "0"], "--fps: 0.0 is below the minimum 1.0"),
        (["--vae-tile", "1"], "tile must be at least 2"),
        (["--precision", "int8"], "invalid choice: 'int8'"),
        (["--frames", "100001"], "more than one clip can hold: a clip has at most 2049 frames"),
        (["--steps", "5000"], "--steps: 5000 is above the maximum 1000"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(tiny_checkpoint, tmp_path, args, message):
    r = sora("render", "a red circle", "--model", tiny_checkpoint, "-o", tmp_path / "x.mp4", *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("case", ["empty prompt", "missing model", "not a checkpoint"])
def test_bad_prompt_or_model_file_exit_nonzero_with_one_line(tiny_checkpoint, tmp_path, case):
    prompt, model = "a red circle", tiny_checkpoint
    if case == "empty prompt":
        prompt, expected = "  ", "the prompt is empty"
    elif case == "missing model":
        model, expected = tmp_path / "nope.safetensors", "does not exist"
    else:
        model = tmp_path / "notes.safetensors"
        model.write_text("these are my notes, not weights")
        expected = "safetensors"
    r = sora("render", prompt, "--model", model, "-o", tmp_path / "x.mp4")
    assert r.returncode == 2
    assert expected in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_render_too_big_for_this_machine_is_refused_before_any_work(tmp_path):
    from sora_nodes.families.bundle import default_model_path, load_sora_model
    from sora_nodes.pipeline.budget import available_bytes, estimate_render
    from sora_nodes.pipeline.generate import check_request
    from sora_nodes.pipeline.sampling import SamplingSettings

    model = load_sora_model(default_model_path())
    latent = check_request(model, width=4096, height=4096, frames=17)
    need = estimate_render(model, latent, SamplingSettings(steps=1), frames=17).peak_bytes
    if need < available_bytes(torch.device("cpu")):
        pytest.skip(f"this machine has room for a 4096x4096 render ({need / 2**30:.0f} GiB)")
    r = sora("render", "a red circle", "-o", tmp_path / "x.mp4", "--size", "4096x4096", "--steps", "1")
    assert r.returncode == 2
    assert "a 4096x4096 render of 17 frames (batch 1) needs about" in r.stderr
    assert "the largest 17-frame size of this shape that fits is" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_interrupted_render_leaves_no_file(tiny_checkpoint, tmp_path):
    out = tmp_path / "long.mp4"
    proc = subprocess.Popen(
        [str(SORA), "render", "a red circle", "--model", str(tiny_checkpoint), "-o", str(out), "--steps", "1000"],
        stderr=subprocess.PIPE,
        text=True,
        # a job started in the background by a non-interactive shell inherits SIGINT ignored; a user's Ctrl-C is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = ""
    deadline = time.monotonic() + 120
    while "sampling" not in seen or "/1000" not in seen:  # interrupt in the middle of sampling
        assert time.monotonic() < deadline, seen
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    assert "interrupted; nothing was written" in rest
    assert list(tmp_path.iterdir()) == []


def test_info_reports_backends_and_default_model():
    r = sora("info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert "sdpa" in info["attention_backends"]["cpu"] and "reference" in info["attention_backends"]["cpu"]
    assert info["default_model"].endswith(".safetensors")
    assert "cpu" in info["devices"]


def test_default_model_can_be_overridden_by_environment(tiny_checkpoint, tmp_path):
    env = {**os.environ, "SORA_MODEL": str(tiny_checkpoint)}
    r = subprocess.run([str(SORA), "info", "--json"], capture_output=True, text=True, env=env)
    assert json.loads(r.stdout)["default_model_exists"] is True


def test_init_checkpoint_then_render_with_it(tmp_path):
    ckpt = tmp_path / "untrained.safetensors"
    assert sora("init-checkpoint", ckpt, "--dit", "tiny", "--vae", "tiny").returncode == 0
    r = sora("render", "a green triangle", "--model", ckpt, "-o", tmp_path / "g.mp4", "--frames", "5", "--steps", "2")
    assert r.returncode == 0, r.stderr
    assert read_video(tmp_path / "g.mp4")[0].shape == (5, 64, 64, 3)


def test_bench_attention_json_through_the_cli():
    r = sora("bench", "attention", "--json", "--tokens", "128,256", "--repeats", "1")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    backends = {row["backend"] for row in report["results"]}
    assert {"sdpa", "reference"} <= backends
    assert set(report["memory_slope"]) >= {"sdpa", "reference"}
