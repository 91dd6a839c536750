"""Seeded noise that is identical on every device, so a seed names one video everywhere."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import ShapeError, SoraError


def seeded_noise(
    shape: Sequence[int], seed: int, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> Tensor:
    """Standard normal noise drawn in float32 on a CPU generator, then moved and cast: CUDA and CPU
    generators give different streams, and drawing in half precision would change the values."""
    try:
        seed = operator.index(seed)
    except TypeError:
        raise SoraError(f"seed must be an integer in [0, 2**64), got {seed!r}") from None
    if not 0 <= seed < 2**64:
        raise SoraError(f"seed must be an integer in [0, 2**64), got {seed}")
    try:
        dims = tuple(operator.index(n) for n in shape)
    except TypeError:
        raise ShapeError(f"noise shape must be a sequence of integers, got {shape!r}") from None
    if any(n < 0 for n in dims):
        raise ShapeError(f"noise shape must not have negative sizes, got {dims}")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(dims, generator=generator, dtype=torch.float32)
    return noise.to(device=device, dtype=dtype)
