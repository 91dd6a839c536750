"""`sora render --parallel` end to end: torchrun launches the ranks, rank 0 alone writes the signed file, and
the video is the single-process render's; a bad world size, a rank that never joins and a rank killed in the
middle of a render each end every surviving rank with one clear line, within a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from parallel_cases import _randomise, free_port, rank_env, start_ranks, wait_ranks

from sora_nodes.cli import main
from sora_nodes.errors import ParallelError
from sora_nodes.families.bundle import new_sora_model, save_sora_model
from sora_nodes.io.video import read_video
from sora_nodes.parallel.launch import init_parallel

PROMPT = "a red circle moving left"
RENDER = ["-m", "sora_nodes.cli", "render", PROMPT, "--size", "32x32", "--frames", "9", "--steps", "3", "-q"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = new_sora_model("tiny", "tiny", seed=0)
    _randomise(model.dit, 1)  # an untrained DiT predicts zero velocity: every render would agree
    return save_sora_model(tmp_path_factory.mktemp("ckpt") / "random.safetensors", model)


def _env(tmp_path) -> dict:
    return rank_env(0, 1, 0, SORA_CONFIG_DIR=str(tmp_path / "config"))


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def test_torchrun_render_is_the_single_process_render_and_only_rank_0_writes(tmp_path, checkpoint):
    from sora_nodes.provenance import verify

    env = _env(tmp_path)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name)
    model = ["--model", str(checkpoint)]
    single = subprocess.run(
        [sys.executable, *RENDER, *model, "-o", str(tmp_path / "single.mp4")], env=env, timeout=120, cwd=tmp_path
    )
    assert single.returncode == 0
    out = tmp_path / "par"
    out.mkdir()
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*torchrun, *RENDER, *model, "-o", str(out / "par.mp4"), "--parallel", "cfg", "--parallel-timeout", "60"],
        env=env, timeout=180, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["par.mp4"]  # no second file, no temp folder left
    a, b = read_video(tmp_path / "single.mp4")[0], read_video(out / "par.mp4")[0]
    assert a.shape == b.shape and float((a - b).abs().max()) <= 2 / 255  # fp32 within 1e-5 before 8-bit
    assert verify(out / "par.mp4")["valid"]


@pytest.mark.parametrize("rank", [0, 1, 2])
def test_a_bad_world_size_ends_every_rank_with_one_line(tmp_path, monkeypatch, capsys, rank):
    """Each rank judges the world size alone, before it waits for any other, so all three say the same."""
    for name, value in rank_env(rank, 3, free_port()).items():
        monkeypatch.setenv(name, value)
    assert main(["render", PROMPT, "-o", str(tmp_path / "x.mp4"), "--parallel", "cfg"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "exactly 2 ranks, got 3" in line and "--nproc-per-node 2" in line
    assert not (tmp_path / "x.mp4").exists()


def test_a_rank_that_never_joins_ends_the_others_within_the_timeout(monkeypatch):
    for name, value in rank_env(0, 2, free_port()).items():
        monkeypatch.setenv(name, value)
    start = time.monotonic()
    with pytest.raises(ParallelError, match="rank 0 could not join the 2-rank group within 2 s") as e:
        init_parallel("ulysses", torch.device("cpu"), timeout_s=2)
    assert "\n" not in str(e.value) and time.monotonic() - start < 60  # a bound against a hang, not a timing


def test_a_rank_killed_mid_render_ends_the_others_with_one_line(tmp_path, checkpoint):
    argv = [*RENDER[:-2], "400", "-q", "--model", str(checkpoint), "-o", str(tmp_path / "x.mp4")]
    procs = start_ranks(2, [*argv, "--parallel", "ulysses", "--parallel-timeout", "60"], cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".sora-render-") for p in tmp_path.iterdir()):  # rank 0 is in the graph
        assert time.monotonic() < deadline and procs[0].poll() is None, "rank 0 never started rendering"
        time.sleep(0.2)
    time.sleep(1.0)
    os.kill(procs[1].pid, signal.SIGKILL)
    (code, err), _ = wait_ranks(procs, 120)
    assert code == 2 and "another rank stopped" in _one_line(err)
    assert not (tmp_path / "x.mp4").exists()


def test_parallel_outside_torchrun_says_how_to_launch(monkeypatch, capsys):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main(["render", PROMPT, "--parallel", "ulysses"]) == 2
    assert "torchrun --nproc-per-node N -m sora_nodes.cli render" in _one_line(capsys.readouterr().err)
