"""Rectified flow: x_sigma = (1 - sigma) * x0 + sigma * noise, velocity v = noise - x0.

sigma runs over [0, 1] and sigma = 1 is pure noise. Nothing here assumes a tensor rank, so the
same maths serves images, videos and the 1-D toy problems in the tests.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ShapeError, SoraError


def _per_sample(sigma: float | Tensor, x: Tensor) -> float | Tensor:
    """A float, a 0-d tensor or a [B] tensor, shaped to broadcast over x [B, ...]."""
    if not isinstance(sigma, Tensor) or sigma.ndim == 0:
        return sigma
    if sigma.ndim != 1 or sigma.shape[0] != x.shape[0]:
        raise ShapeError(
            f"sigma has shape {tuple(sigma.shape)} but x has batch size {x.shape[0]}; "
            f"pass a float or a [B] tensor with B = {x.shape[0]}"
        )
    return sigma.view(-1, *([1] * (x.ndim - 1)))  # [B, 1, ..., 1]


def _same_shape(a: Tensor, b: Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise ShapeError(f"{what} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def add_noise(x0: Tensor, noise: Tensor, sigma: float | Tensor) -> Tensor:
    _same_shape(x0, noise, "x0 and noise")
    s = _per_sample(sigma, x0)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    _same_shape(x0, noise, "x0 and noise")
    return noise - x0


def denoised_from_velocity(x: Tensor, velocity: Tensor, sigma: float | Tensor) -> Tensor:
    """x0_hat = x - sigma * v: the data estimate the samplers consume."""
    _same_shape(x, velocity, "x and velocity")
    return x - _per_sample(sigma, x) * velocity


def flow_matching_loss(pred_velocity: Tensor, x0: Tensor, noise: Tensor, *, weight: Tensor | None = None) -> Tensor:
    """MSE against noise - x0; with `weight` (broadcastable to x, e.g. 1 - spacetime mask), the
    weighted mean, so known latents that the model only copies do not dilute the loss."""
    _same_shape(pred_velocity, x0, "pred_velocity and x0")
    err = (pred_velocity.float() - velocity_target(x0, noise).float()).square()
    if weight is None:
        return err.mean()
    try:
        w = weight.float().expand_as(err)
    except RuntimeError:
        raise ShapeError(
            f"loss weight of shape {tuple(weight.shape)} does not broadcast to the latent shape "
            f"{tuple(err.shape)}; use e.g. [B, 1, T, H, W] for a per-position weight"
        ) from None
    # An all-zero weight (nothing to learn in this batch) gives 0, not NaN.
    return (err * w).sum() / w.sum().clamp_min(1e-8)


def time_shift(sigmas: Tensor, shift: float) -> Tensor:
    """sigma' = shift*s / (1 + (shift - 1)*s); shift > 1 spends more of the schedule at high noise,
    which larger latents need because their redundancy survives more noise."""
    if not shift > 0:
        raise SoraError(f"time shift must be > 0 (1 = no shift), got {shift}")
    return shift * sigmas / (1 + (shift - 1) * sigmas)


MAX_SHIFT = 100.0  # also the sampler node's largest shift


def resolution_shift(
    num_tokens: int,
    *,
    base_tokens: int = 256,
    max_tokens: int = 4096,
    base_shift: float = 0.5,
    max_shift: float = 1.15,
) -> float:
    """SD3/Flux: mu is linear in the token count through (base_tokens, base_shift) and
    (max_tokens, max_shift), extrapolated beyond; the shift is exp(mu), at most MAX_SHIFT, since the
    extrapolation overflows for large videos (a schedule of all 1.0 samples nothing)."""
    if num_tokens < 1:
        raise ShapeError(f"num_tokens must be >= 1, got {num_tokens}")
    if max_tokens <= base_tokens:
        raise SoraError(f"max_tokens ({max_tokens}) must be greater than base_tokens ({base_tokens})")
    slope = (max_shift - base_shift) / (max_tokens - base_tokens)
    return math.exp(min(base_shift + slope * (num_tokens - base_tokens), math.log(MAX_SHIFT)))


def sigma_schedule(steps: int, *, shift: float = 1.0) -> Tensor:
    """[steps + 1] float32 sigmas from exactly 1.0 down to exactly 0.0."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise SoraError(f"steps must be an integer >= 1, got {steps!r}")
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    sigmas = time_shift(t, shift).float()
    # Pin the ends so rounding can never leave residual noise or skip the pure-noise start.
    sigmas[0], sigmas[-1] = 1.0, 0.0
    return sigmas


def sample_sigmas_logit_normal(
    batch: int,
    *,
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Training sigmas [B]: sigmoid(N(mean, std)), then time-shifted (SD3). Concentrates training on
    mid noise, where the velocity is hardest to predict."""
    if batch < 1:
        raise ShapeError(f"batch must be >= 1, got {batch}")
    if not std > 0:
        raise SoraError(f"logit-normal std must be > 0, got {std}")
    # Draw on the generator's own device so a CPU generator stays reproducible for any target.
    u = torch.randn(batch, generator=generator, device=generator.device if generator is not None else device)
    return time_shift(torch.sigmoid(mean + std * u), shift).to(device if device is not None else u.device)
