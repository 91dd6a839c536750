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


class _Run:
    """What every sampler shares: the checked schedule, and the model called at it."""

    def __init__(self, model: Model, sigmas: Tensor, extra_args: dict, callback: Callback | None):
        self.model, self.sigmas, self.extra_args, self.callback = model, sigmas, extra_args, callback
        self.s = _check_sigmas(sigmas)

    def steps(self) -> range:
        return range(len(self.s) - 1)

    def denoise(self, x: Tensor, sigma: float) -> Tensor:
        """The model's x0 estimate at noise level `sigma` (a float of the schedule or between its entries)."""
        return self.model(x, _sigma_in(x, sigma, self.sigmas), **self.extra_args)

    def step(self, x: Tensor, i: int) -> Tensor:
        """Step i's model call at sigma_i, reported to the callback: x0_hat."""
        denoised = self.denoise(x, self.s[i])
        _report(self.callback, x, i, self.sigmas, denoised)
        return denoised


def _k_diffusion(solver: Callable[[_Run, Tensor], Tensor]) -> Callable[..., Tensor]:
    """A sampler in the k-diffusion calling convention from a solver, which takes the run and the start x."""

    @torch.no_grad()
    def sample(
        model: Model,
        x: Tensor,
        sigmas: Tensor,
        *,
        extra_args: dict | None = None,
        callback: Callback | None = None,
    ) -> Tensor:
        return solver(_Run(model, sigmas, extra_args or {}, callback), x)

    sample.__name__ = sample.__qualname__ = solver.__name__
    sample.__doc__, sample.__module__ = solver.__doc__, solver.__module__
    return sample


@_k_diffusion
def sample_euler(run: _Run, x: Tensor) -> Tensor:
    s = run.s
    for i in run.steps():
        denoised = run.step(x, i)
        x = x + (s[i + 1] - s[i]) * (x - denoised) / s[i]
    return x


@_k_diffusion
def sample_heun(run: _Run, x: Tensor) -> Tensor:
    """Euler predictor + trapezoid corrector; the last step to sigma 0 stays Euler because the
    velocity is undefined there (and the Euler step already lands on the denoised estimate)."""
    for i in run.steps():
        sigma, sigma_next = run.s[i], run.s[i + 1]
        denoised = run.step(x, i)
        v = (x - denoised) / sigma
        x_pred = x + (sigma_next - sigma) * v
        if sigma_next == 0:
            x = x_pred
            continue
        v_next = (x_pred - run.denoise(x_pred, sigma_next)) / sigma_next
        x = x + (sigma_next - sigma) * (v + v_next) / 2
    return x


def _log_snr(sigma: float) -> float:
    # lambda = log(alpha / sigma) with alpha = 1 - sigma: -inf at pure noise, +inf at clean data.
    if sigma >= 1.0:
        return -math.inf
    if sigma <= 0.0:
        return math.inf
    return math.log((1.0 - sigma) / sigma)


@_k_diffusion
def sample_dpmpp_2m(run: _Run, x: Tensor) -> Tensor:
    """DPM-Solver++(2M), data prediction, for the flow path alpha = 1 - sigma:

        x_next = (sigma_next / sigma) * x - alpha_next * expm1(-h) * D,   h = lambda_next - lambda

    with D the denoised estimate, linearly extrapolated in lambda from the previous step. A step out
    of sigma = 1 has h = inf (expm1(-inf) = -1, so x_next = sigma_next * x + alpha_next * D); the step
    after it has an infinitely old history, whose correction vanishes, so both are first-order.
    """
    old_denoised, h_last = None, math.inf
    for i in run.steps():
        sigma, sigma_next = run.s[i], run.s[i + 1]
        denoised = run.step(x, i)
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


UNIPC_SIGMA_MAX = (
    1 - 1e-6
)  # lambda is -inf at sigma = 1; UniPC's coefficients are taken just below it, as diffusers does


def _unipc_b(hh: float, order: int) -> tuple[list[float], float]:
    """UniPC's b_i for i = 1..order and B(h) = h*phi_1(h) = expm1(hh) (the "bh2" variant)."""
    b_h = math.expm1(hh)
    h_phi_k, factorial, b = b_h / hh - 1, 1, []
    for i in range(1, order + 1):
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return b, b_h


def _unipc_update(x, m0, m1, lam, sg, t, s0, s1, order, *, model_t=None):
    """One UniPC update from sigma index s0 to t in data prediction: the predictor UniP (model_t None) or
    the corrector UniC (model_t = the denoised estimate at t). m0/m1: the estimates at s0 and s1 (s1 = the
    one before s0, used when order is 2)."""
    h = lam[t] - lam[s0]
    hh = -h
    b, b_h = _unipc_b(hh, order)
    alpha_t = 1 - sg[t]
    x_t = (sg[t] / sg[s0]) * x - alpha_t * b_h * m0
    d1 = None
    if order == 2:
        rk = (lam[s1] - lam[s0]) / h
        d1 = (m1 - m0) / rk
    if model_t is None:  # UniP: for order 2 the solve reduces to rho = 1/2
        return x_t if d1 is None else x_t - alpha_t * b_h * 0.5 * d1
    if order == 1:
        rhos = [0.5]
    else:  # solve [[1, 1], [rk, 1]] rho = b
        rho0 = (b[0] - b[1]) / (1 - rk)
        rhos = [rho0, b[0] - rho0]
    correction = rhos[-1] * (model_t - m0)
    if d1 is not None:
        correction = correction + rhos[0] * d1
    return x_t - alpha_t * b_h * correction


@_k_diffusion
def sample_unipc(run: _Run, x: Tensor) -> Tensor:
    """UniPC-2 (Zhao et al. 2023; B(h) = e^h - 1, data prediction) for the flow path: Wan's own sampler.

    One model call per step, like Euler: each step is a predictor (UniP) from the last two denoised
    estimates, and once the next estimate is known, a corrector (UniC) redoes the step just taken with it.
    The first step and the last are first order (diffusers' warm-up and lower_order_final)."""
    sg = [min(v, UNIPC_SIGMA_MAX) for v in run.s]
    lam = [_log_snr(v) for v in sg]
    n = len(run.steps())
    history: list[Tensor] = []  # denoised estimates, newest last
    last_x, order = x, 1
    for i in run.steps():
        denoised = run.step(x, i)
        if i > 0:  # correct the step from i-1 to i now that its end point's estimate is known
            m1 = history[-2] if order == 2 else None
            x = _unipc_update(last_x, history[-1], m1, lam, sg, i, i - 1, i - 2, order, model_t=denoised)
        history = [*history[-1:], denoised]
        order = min(2, n - i, i + 1)
        last_x = x
        m1 = history[-2] if order == 2 else None
        x = _unipc_update(x, history[-1], m1, lam, sg, i + 1, i, i - 1, order)
    return x


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
    "unipc": sample_unipc,
}


def get_sampler(name: str) -> Callable[..., Tensor]:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise SoraError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}") from None
