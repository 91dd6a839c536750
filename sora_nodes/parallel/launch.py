"""Start (and end) the process group of a parallel render from torchrun's environment.

    torchrun --nproc-per-node N -m sora_nodes.cli render "PROMPT" --parallel ulysses|cfg|cfg+ulysses

The backend follows the device: gloo on CPU, nccl on CUDA (each rank on cuda:LOCAL_RANK). Every wait has a
timeout (`--parallel-timeout`, default 300 s): a rank that never joins, or dies mid-render, ends the others
with one `ParallelError` line instead of a hang. A bad world size is refused on every rank alike, before the
group forms, so each rank says the same one line.
"""

from __future__ import annotations

import datetime
import os
from contextlib import contextmanager

import torch
import torch.distributed as dist

from ..errors import ParallelError
from .collective import Collectives
from .layout import ParallelContext, ParallelLayout, build_context, check_world

DEFAULT_TIMEOUT_S = 300.0
ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def world_from_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; ParallelError when not launched by it."""
    missing = [name for name in ENV if name not in os.environ]
    if missing:
        raise ParallelError(
            f"--parallel needs the process group torchrun sets up ({', '.join(missing)} not set); launch with "
            "torchrun --nproc-per-node N -m sora_nodes.cli render ... --parallel MODE"
        )
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError as e:
        raise ParallelError(f"torchrun's RANK / WORLD_SIZE / LOCAL_RANK are not integers ({e})") from None
    return rank, world, local


def rank_device(device: torch.device, local_rank: int) -> torch.device:
    """Each rank's own GPU (cuda:LOCAL_RANK) on CUDA; the CPU stays the CPU."""
    if device.type != "cuda":
        return device
    if local_rank >= torch.cuda.device_count():
        raise ParallelError(
            f"local rank {local_rank} has no GPU: torch sees {torch.cuda.device_count()}; "
            f"use --nproc-per-node {torch.cuda.device_count()} or fewer per machine"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def init_parallel(mode: str, device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> ParallelContext:
    """Join the world torchrun started and lay it out for `mode`; raises ParallelError in one line."""
    if not timeout_s > 0:
        raise ParallelError(f"--parallel-timeout must be a positive number of seconds, got {timeout_s}")
    _, world, _ = world_from_env()
    check_world(mode, world)  # the same verdict on every rank, before anyone waits for anyone
    device = join_world(device, timeout_s)
    return context_for(mode, device, timeout_s)


def join_world(device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> torch.device:
    """init_process_group from torchrun's environment with the device's backend; returns this rank's device."""
    rank, world, local = world_from_env()
    device = rank_device(device, local)
    timeout = datetime.timedelta(seconds=timeout_s)
    try:
        dist.init_process_group(backend_for(device), rank=rank, world_size=world, timeout=timeout)
    except (RuntimeError, dist.DistError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ParallelError(
            f"rank {rank} could not join the {world}-rank group within {timeout_s:g} s ({first[:200]})"
        ) from None
    return device


def context_for(mode: str, device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> ParallelContext:
    """The world already joined, laid out for `mode` (its groups are made on every rank, in one order)."""
    layout = ParallelLayout(mode, dist.get_world_size(), dist.get_rank())
    timeout = datetime.timedelta(seconds=timeout_s)
    collectives = Collectives(timeout_s)
    return build_context(layout, device, collectives, lambda ranks: dist.new_group(ranks, timeout=timeout))


def close_parallel() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def parallel_world(mode: str, device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S):
    """init_parallel ... close_parallel around a block."""
    context = init_parallel(mode, device, timeout_s)
    try:
        yield context
    finally:
        close_parallel()
