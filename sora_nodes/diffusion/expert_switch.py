"""Wan 2.2 A14B's hand-over from the high-noise expert to the low-noise one, as a step index.

Wan runs the high-noise expert while the step's timestep t = sigma * 1000 is at least boundary * 1000
(Wan2.2 `text2video.py` / `image2video.py`: `if t.item() >= boundary`), with boundary 0.875 for T2V and
0.9 for I2V. In ComfyUI the experts are two models and two `KSamplerAdvanced`, so the rule becomes the
step at which the first sampler ends and the second starts. The sigmas depend on the steps, the shift and
the scheduler, so the host computes them (its `calculate_sigmas`) and this finds the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import SoraError

TIMESTEPS = 1000  # Wan's num_train_timesteps: t = sigma * 1000


@dataclass(frozen=True)
class ExpertBoundary:
    task: str
    boundary: float  # the high-noise expert runs while t >= boundary * TIMESTEPS
    shift: float  # the shift Wan samples this task with (for the node's default)


BOUNDARIES = {
    "t2v": ExpertBoundary("t2v", 0.875, 12.0),
    "i2v": ExpertBoundary("i2v", 0.900, 5.0),
}


def switch_step(sigmas: Tensor, boundary: float) -> int:
    """The first step the low-noise expert runs, for a schedule of sigmas [steps + 1] (the last one the end,
    usually 0). Steps 0 .. switch-1 go to the high-noise expert, switch .. steps-1 to the low-noise one:
    KSamplerAdvanced end_at_step = start_at_step = switch. 0 means the low-noise expert does every step
    (a denoise that starts below the boundary); steps means it does none."""
    if sigmas.ndim != 1 or len(sigmas) < 2:
        raise SoraError(f"the schedule must be 1-D sigmas [steps + 1], got shape {tuple(sigmas.shape)}")
    if not 0.0 < boundary < 1.0:
        raise SoraError(f"the boundary is a fraction of the noise level in (0, 1), got {boundary}")
    # t as the host computes it (float32 sigma * 1000) against Wan's threshold, step by step (sigmas[:-1])
    t = sigmas[:-1].to(torch.float32) * TIMESTEPS  # [steps]
    high = t >= boundary * TIMESTEPS  # [steps]
    low_at = (~high).nonzero()
    switch = int(low_at[0]) if len(low_at) else len(t)
    if bool(high[switch:].any()):
        raise SoraError("the schedule's sigmas rise again after the boundary; the experts cannot be split at one step")
    return switch
