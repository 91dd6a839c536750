"""Step caching (the EasyCache / TeaCache idea): skip the DiT when its input has barely changed since it last
ran, and reuse the last output's change.

A pure wrapper of the k-diffusion model function `model(x, sigma, **extra) -> x0_hat` (guidance included, so a
skip saves the prompt's and the negative prompt's passes alike), so the samplers stay pure functions. It
keeps, from the last call that ran the model, the input x_c and the velocity v_c = (x_c - x0_c) / sigma_c (for
rectified flow the velocity, noise - data, is what changes least along a path), and the rate k at which the
velocity's relative change followed the input's relative change between the last two computed calls. Each
call adds k * |x - x_prev| / |x_prev| (mean absolute values) to an accumulated predicted change since the last
computed call; while that stays below `threshold`, the call returns x - sigma * v_c instead of running the
model. The first `warmup` calls (where the layout forms) and the schedule's last step (where the detail is
finished) always run the model.

Known latents stay known: with x0 pasted on a region, x_c there is (1 - sigma_c) z_c + sigma_c n, so
v_c = n - z_c and x - sigma * v_c is z_c again at any sigma on the path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

DEFAULT_THRESHOLD = 0.15  # measured on the default model's held-out prompts (README, "Step caching")
WARMUP_CALLS = 2


def _relative(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().mean() / b.abs().mean().clamp_min(1e-12))


def step_cache(
    model: Callable[..., Tensor],
    threshold: float,
    *,
    sigmas: Tensor | None = None,
    warmup: int = WARMUP_CALLS,
) -> Callable[..., Tensor]:
    """`model` with step caching at `threshold` (0: every call runs the model). `sigmas` is the schedule, so
    its last step is never skipped. The wrapper's `stats` counts {"calls", "forwards", "skipped"}."""
    if threshold < 0:
        raise ValueError(f"the step cache threshold must be >= 0 (0 = off), got {threshold}")
    positive = [s for s in (sigmas.tolist() if sigmas is not None else []) if s > 0]
    last_sigma = min(positive) if positive else None
    state: dict[str, Any] = {"x": None, "v": None, "prev": None, "rate": None, "acc": 0.0}
    stats = {"calls": 0, "forwards": 0, "skipped": 0}

    def cached(x: Tensor, sigma: Tensor, **extra: Any) -> Tensor:
        s = float(sigma.flatten()[0]) if torch.is_tensor(sigma) else float(sigma)
        stats["calls"] += 1
        prev, state["prev"] = state["prev"], x
        edge = stats["calls"] <= warmup or (last_sigma is not None and s <= last_sigma)
        if threshold > 0 and not edge and state["rate"] is not None and prev is not None:
            predicted = state["acc"] + state["rate"] * _relative(x, prev)
            if predicted < threshold:
                state["acc"] = predicted
                stats["skipped"] += 1
                return x - s * state["v"]
        out = model(x, sigma, **extra)
        stats["forwards"] += 1
        v = (x - out) / max(s, 1e-4)
        if state["x"] is not None:
            dx = _relative(x, state["x"])
            state["rate"] = _relative(v, state["v"]) / dx if dx > 0 else None
        state["x"], state["v"], state["acc"] = x, v, 0.0
        return out

    cached.stats = stats
    return cached
