"""Shared cases of the parallel tests: tiny models, their inputs, and a launcher of gloo ranks.

Run as a rank (`python tests/parallel_cases.py OUT.json MODE[,MODE...] [die]` under torchrun's environment):
every case renders once per mode across the ranks, rank 0 renders it again in one process, and rank 0 writes
{mode: {case: max |parallel - single|}} to OUT.json. With `die`, rank 1 exits in the middle of sampling and
rank 0 writes the one-line error it got instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world: int, port: int, **extra) -> dict[str, str]:
    """What torchrun sets for a rank, plus this checkout on the path and one thread per rank."""
    env = {**os.environ, **extra}
    env.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )  # fmt: skip
    return env


def start_ranks(world: int, argv: list[str], *, cwd=None, env_for=None, ranks=None) -> list[subprocess.Popen]:
    """Start processes of `python argv...` as the ranks (all, or `ranks`) of one gloo world of `world` ranks;
    `env_for(rank)` adds variables."""
    port = free_port()
    return [
        subprocess.Popen(
            [sys.executable, *argv],
            cwd=cwd or ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=rank_env(rank, world, port, **(env_for(rank) if env_for else {})),
        )
        for rank in (range(world) if ranks is None else ranks)
    ]


def launch_ranks(world: int, argv: list[str], *, timeout: float, **options) -> list[tuple[int, str]]:
    """`start_ranks`, then `wait_ranks`."""
    return wait_ranks(start_ranks(world, argv, **options), timeout)


def wait_ranks(procs: list[subprocess.Popen], timeout: float) -> list[tuple[int, str]]:
    """Wait for every process at most `timeout` seconds in all (then kill them all and fail); return each one's
    (exit status, stderr)."""
    deadline = time.monotonic() + timeout
    results = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise AssertionError(f"the ranks did not finish within {timeout} s") from None
        results.append((proc.returncode, err))
    return results


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights everywhere (adaLN-zero leaves an untrained DiT's output zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return module


def sora_model(max_frames: int | None = None):
    from sora_nodes.families.bundle import new_sora_model

    model = new_sora_model("tiny", "tiny", seed=0)
    _randomise(model.dit, 1)
    if max_frames is not None:
        model.metadata["max_frames"] = str(max_frames)
    return model


def wan_model():
    from sora_nodes.families.bundle import SoraModel
    from sora_nodes.models.wan_dit import WanDiT, wan_dit_preset
    from sora_nodes.models.wan_vae import WAN_VAE_PRESETS, WanVAE

    torch.manual_seed(0)
    dit = _randomise(WanDiT(wan_dit_preset("tiny")).eval(), 2)
    return SoraModel(dit, WanVAE(WAN_VAE_PRESETS["tiny"]).eval(), "umt5-xxl", {"shift": "5.0"})


def prompts(dim: int, seed: int = 0):
    """A prompt of 7 tokens and a negative prompt of 3 (guidance pads the shorter)."""
    from sora_nodes.models.text import TextEmbedding

    g = torch.Generator().manual_seed(seed)
    pos = TextEmbedding(torch.randn(1, 7, dim, generator=g), torch.ones(1, 7, dtype=torch.bool), ["a"])
    neg = TextEmbedding(torch.randn(1, 3, dim, generator=g), torch.ones(1, 3, dtype=torch.bool), ["b"])
    return pos, neg


def render(case: str, callback=None) -> torch.Tensor:
    """One case's latent, sampled under whatever parallel context is current."""
    from sora_nodes.diffusion.conditioning import SpacetimeCondition
    from sora_nodes.pipeline.long_video import LongVideoPlan, sample_long_video
    from sora_nodes.pipeline.sampling import SamplingSettings, sample_latent

    settings = SamplingSettings(steps=3, cfg=4.0, sampler="euler", seed=5)
    if case == "text_to_video":
        model = sora_model()
        pos, neg = prompts(model.dit.config.text_dim)
        return sample_latent(model, pos, neg, (5, 4, 4), settings, callback=callback)
    if case == "condition_mask":  # image-to-video: the first latent frame known
        model = sora_model()
        pos, neg = prompts(model.dit.config.text_dim)
        known = torch.zeros(1, 4, 5, 4, 4)
        known[:, :, :1] = torch.randn(1, 4, 1, 4, 4, generator=torch.Generator().manual_seed(3))
        mask = torch.zeros(1, 1, 5, 4, 4)
        mask[:, :, :1] = 1
        condition = SpacetimeCondition(known, mask)
        return sample_latent(model, pos, neg, (5, 4, 4), settings, condition=condition, callback=callback)
    if case == "wan":
        model = wan_model()
        pos, neg = prompts(model.dit.config.text_dim)
        return sample_latent(model, pos, neg, (3, 4, 4), dataclasses.replace(settings, sampler="unipc"))
    if case == "long_video":  # windows of 3 latent frames over 7: three windows, each knowing one frame
        model = sora_model(max_frames=9)
        pos, neg = prompts(model.dit.config.text_dim)
        second = prompts(model.dit.config.text_dim, seed=1)[0]
        plan = LongVideoPlan((1.0,), (second,), fps=8.0, overlap_frames=4)
        return sample_long_video(model, pos, neg, (7, 4, 4), settings, plan)
    raise ValueError(case)


CASES = ("text_to_video", "condition_mask", "wan", "long_video")


def main(out: str, modes: str, die: str = "") -> None:
    from sora_nodes.errors import ParallelError
    from sora_nodes.parallel.launch import close_parallel, context_for, join_world
    from sora_nodes.parallel.layout import use_parallel

    torch.set_num_threads(1)
    device = join_world(torch.device("cpu"), timeout_s=60 if not die else 20)
    rank = torch.distributed.get_rank()
    report: dict = {}
    try:
        for mode in modes.split(","):
            context = context_for(mode, device, 20)
            if die:

                def stop(step):  # noqa: E306 - rank 1 dies in the middle of sampling
                    if rank == 1 and step["i"] == 1:
                        os._exit(7)

                try:
                    with use_parallel(context):
                        render("text_to_video", callback=stop)
                    report[mode] = "no error"
                except ParallelError as e:
                    report[mode] = str(e)
                continue
            with use_parallel(context):
                results = {case: render(case) for case in CASES}
            context.collectives.barrier()
            if rank == 0:
                report[mode] = {case: float((latent - render(case)).abs().max()) for case, latent in results.items()}
                report[mode]["all_to_all_bytes"] = context.collectives.sent["all_to_all"]
    finally:
        if rank == 0:
            Path(out).write_text(json.dumps(report))
        if not die:
            close_parallel()


if __name__ == "__main__":
    main(*sys.argv[1:])
