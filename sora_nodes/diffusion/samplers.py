"""ODE samplers for rectified flow, in the k-diffusion calling convention.

`model(x, sigma_batch [B], **extra_args)` returns the denoised estimate x0_hat; guidance, masks and
progress come in through `model` and `callback` only. `sigmas` is a decreasing schedule ending at
0; when it starts at 1, `x` is the initial noise. For the flow path the velocity is
(x - x0_hat) / sigma, which stays finite at sigma = 1.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..errors import SoraError

Model = Callable[..., Tensor]
Callback = Callable[[dict[str, Any]], None]


def _check_sigmas(sigmas: Tensor) -> list[float]:
    if sigmas.ndim != 1 or sigmas.shape[0] < 2:
        raise SoraError(f"sigmas must be a 1-D schedule with at least 2 entries, got shape {tuple(sigmas.shape)}")
    s = sigmas.tolist()
    if not all(1.0 >= a > b >= 0.0 for a, b in itertools.pairwise(s)):
        raise SoraError(f"sigmas must decrease strictly within [1, 0] (e.g. sigma_schedule(steps)), got {s}")
    return s


def _sigma_in(x: Tensor, sigma: float, sigmas: Tensor) -> Tensor:
    # Keep the schedule's precision for the model's timestep, whatever dtype x runs in.
    return torch.full((x.shape[0],), sigma, dtype=sigmas.dtype, device=x.device)  # [B]


def _report(callback: Callback | None, x: Tensor, i: int, sigmas: Tensor, denoised: Tensor) -> None:
    if callback is not None:
        callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_next": sigmas[i + 1], "denoised": denoised})


@torch.no_grad()
def sample_euler(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict | None = None,
    callback: Callback | None = None,
) -> Tensor:
    extra_args = extra_args or {}
    s = _check_sigmas(sigmas)
    for i in range(len(s) - 1):
        denoised = model(x, _sigma_in(x, s[i], sigmas), **extra_args)
        _report(callback, x, i, sigmas, denoised)
        x = x + (s[i + 1] - s[i]) * (x - denoised) / s[i]
    return x


@torch.no_grad()
def sample_heun(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler predictor + trapezoid corrector; the last step to sigma 0 stays Euler because the
    velocity is undefined there (and the Euler step already lands on the denoised estimate)."""
    extra_args = extra_args or {}
    s = _check_sigmas(sigmas)
    for i in range(len(s) - 1):
        sigma, sigma_next = s[i], s[i + 1]
        denoised = model(x, _sigma_in(x, sigma, sigmas), **extra_args)
        _report(callback, x, i, sigmas, denoised)
        v = (x - denoised) / sigma
        x_pred = x + (sigma_next - sigma) * v
        if sigma_next == 0:
            x = x_pred
            continue
        v_next = (x_pred - model(x_pred, _sigma_in(x, sigma_next, sigmas), **extra_args)) / sigma_next
        x = x + (sigma_next - sigma) * (v + v_next) / 2
    return x


def _log_snr(sigma: float) -> float:
    # lambda = log(alpha / sigma) with alpha = 1 - sigma: -inf at pure noise, +inf at clean data.
    if sigma >= 1.0:
        return -math.inf
    if sigma <= 0.0:
        return math.inf
    return math.log((1.0 - sigma) / sigma)


@torch.no_grad()
def sample_dpmpp_2m(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    extra_args: dict | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M), data prediction, for the flow path alpha = 1 - sigma:

        x_next = (sigma_next / sigma) * x - alpha_next * expm1(-h) * D,   h = lambda_next - lambda

    with D the denoised estimate, linearly extrapolated in lambda from the previous step. A step out
    of sigma = 1 has h = inf (expm1(-inf) = -1, so x_next = sigma_next * x + alpha_next * D); the step
    after it has an infinitely old history, whose correction vanishes, so both are first-order.
    """
    extra_args = extra_args or {}
    s = _check_sigmas(sigmas)
    old_denoised, h_last = None, math.inf
    for i in range(len(s) - 1):
        sigma, sigma_next = s[i], s[i + 1]
        denoised = model(x, _sigma_in(x, sigma, sigmas), **extra_args)
        _report(callback, x, i, sigmas, denoised)
        if sigma_next == 0:
            return denoised
        h = _log_snr(sigma_next) - _log_snr(sigma)
        d = denoised
        if old_denoised is not None and math.isfinite(h_last):
            r = h_last / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (sigma_next / sigma) * x - (1 - sigma_next) * math.expm1(-h) * d
        old_denoised, h_last = denoised, h
    return x


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
}


def get_sampler(name: str) -> Callable[..., Tensor]:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise SoraError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}") from None
