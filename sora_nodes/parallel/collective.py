"""Thin wrappers around torch.distributed collectives that count what they move, and turn a lost peer or a
timeout into one clear `ParallelError` instead of a backend traceback (or a hang: the process group's timeout
bounds every call). No transport of our own: every byte goes through torch.distributed."""

from __future__ import annotations

import re
from collections import Counter

import torch
import torch.distributed as dist

from ..errors import ParallelError


class Collectives:
    """The collectives of one process group, with `sent[op]`: the bytes this rank sent to OTHER ranks, per op."""

    def __init__(self, timeout_s: float | None = None):
        self.sent: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.timeout_s = timeout_s

    def reset(self) -> None:
        self.sent.clear()
        self.calls.clear()

    def _failed(self, op: str, error: Exception) -> ParallelError:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        text = re.sub(r"\[[^\]]*\.(cc|cpp):\d+\]\s*", "", text).split(". This is typically")[0]  # gloo's source line
        limit = f" within {self.timeout_s:g} s" if self.timeout_s else ""
        return ParallelError(
            f"{op} failed on rank {dist.get_rank()}: another rank stopped or did not answer{limit} ({text[:200]})"
        )

    def all_to_all(self, x: torch.Tensor, group, size: int) -> torch.Tensor:
        """x [size, ...] -> out [size, ...] where out[j] is what rank j of `group` had at x[me]."""
        x = x.contiguous()
        out = torch.empty_like(x)  # contiguous like x (empty_like keeps a permuted tensor's strides)
        try:
            dist.all_to_all_single(out, x, group=group)
        except (RuntimeError, dist.DistError) as e:
            raise self._failed("all_to_all", e) from None
        self.sent["all_to_all"] += x.numel() * x.element_size() * (size - 1) // size
        self.calls["all_to_all"] += 1
        return out

    def all_gather(self, x: torch.Tensor, group, size: int) -> list[torch.Tensor]:
        """Every rank's x of `group`, in group rank order."""
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(size)]
        try:
            dist.all_gather(parts, x, group=group)
        except (RuntimeError, dist.DistError) as e:
            raise self._failed("all_gather", e) from None
        self.sent["all_gather"] += x.numel() * x.element_size() * (size - 1)
        self.calls["all_gather"] += 1
        return parts

    def total(self, value: float, device) -> float:
        """The sum of `value` over every rank of the world (for reports)."""
        t = torch.tensor([float(value)], dtype=torch.float64, device=device)
        try:
            dist.all_reduce(t)
        except (RuntimeError, dist.DistError) as e:
            raise self._failed("all_reduce", e) from None
        return float(t.item())

    def barrier(self) -> None:
        try:
            dist.barrier()
        except (RuntimeError, dist.DistError) as e:
            raise self._failed("barrier", e) from None
