from __future__ import annotations

import itertools
import math

import pytest
import torch

from sora_nodes.diffusion.flow import (
    add_noise,
    denoised_from_velocity,
    flow_matching_loss,
    resolution_shift,
    sample_sigmas_logit_normal,
    sigma_schedule,
    time_shift,
    velocity_target,
)
from sora_nodes.errors import ShapeError, SoraError


def _pair(shape=(3, 4, 2, 5, 6), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def test_add_noise_endpoints_and_per_sample_sigma():
    x0, noise = _pair()
    assert torch.equal(add_noise(x0, noise, 0.0), x0)
    assert torch.equal(add_noise(x0, noise, 1.0), noise)
    sigma = torch.tensor([0.0, 0.5, 1.0])
    x = add_noise(x0, noise, sigma)
    assert torch.equal(x[0], x0[0])
    assert torch.allclose(x[1], (x0[1] + noise[1]) / 2)
    assert torch.equal(x[2], noise[2])


def test_no_rank_assumed():
    x0, noise = _pair((2, 7))
    x = add_noise(x0, noise, torch.tensor([0.25, 0.75]))
    assert torch.allclose(x[1], 0.25 * x0[1] + 0.75 * noise[1])


def test_velocity_moves_from_data_to_noise():
    x0, noise = _pair()
    v = velocity_target(x0, noise)
    # the path's derivative d x_sigma / d sigma is the velocity, at any sigma
    eps = 1e-3
    fd = (add_noise(x0, noise, 0.3 + eps) - add_noise(x0, noise, 0.3 - eps)) / (2 * eps)
    assert torch.allclose(fd, v, atol=1e-3)


def test_denoised_from_velocity_inverts_add_noise():
    x0, noise = _pair()
    sigma = torch.tensor([0.1, 0.6, 1.0])
    x = add_noise(x0, noise, sigma)
    assert torch.allclose(denoised_from_velocity(x, velocity_target(x0, noise), sigma), x0, atol=1e-5)


def test_bad_sigma_shape_is_clear():
    x0, noise = _pair()
    with pytest.raises(ShapeError, match="batch size 3"):
        add_noise(x0, noise, torch.rand(5))
    with pytest.raises(ShapeError, match="same shape"):
        add_noise(x0, noise[:, :2], 0.5)


def test_loss_zero_for_true_velocity_and_positive_otherwise():
    x0, noise = _pair()
    v = velocity_target(x0, noise)
    assert flow_matching_loss(v, x0, noise).item() == 0.0
    assert flow_matching_loss(v + 0.5, x0, noise).item() == pytest.approx(0.25)


def test_weighted_loss_counts_only_weighted_region():
    x0, noise = _pair()
    v = velocity_target(x0, noise)
    weight = torch.zeros(3, 1, 2, 5, 6)
    weight[:, :, 1] = 1  # only latent frame 1 is regenerated
    wrong_outside = v.clone()
    wrong_outside[:, :, 0] += 100.0
    assert flow_matching_loss(wrong_outside, x0, noise, weight=weight).item() == 0.0
    wrong_inside = v.clone()
    wrong_inside[:, :, 1] += 2.0
    # mean over the weighted elements, not over the whole tensor
    assert flow_matching_loss(wrong_inside, x0, noise, weight=weight).item() == pytest.approx(4.0)
    assert flow_matching_loss(v, x0, noise, weight=torch.zeros(3, 1, 1, 1, 1)).item() == 0.0
    with pytest.raises(ShapeError, match="broadcast"):
        flow_matching_loss(v, x0, noise, weight=torch.ones(3, 2, 2, 5, 6))


@pytest.mark.parametrize("steps,shift", [(1, 1.0), (4, 1.0), (30, 3.0), (50, 0.5)])
def test_schedule_endpoints_and_monotone(steps, shift):
    s = sigma_schedule(steps, shift=shift)
    assert s.dtype == torch.float32 and s.shape == (steps + 1,)
    assert s[0].item() == 1.0 and s[-1].item() == 0.0
    assert (s[1:] < s[:-1]).all()


def test_shift_spends_more_steps_at_high_noise():
    plain, shifted = sigma_schedule(10), sigma_schedule(10, shift=3.0)
    assert (shifted[1:-1] > plain[1:-1]).all()
    assert (time_shift(plain, 0.5)[1:-1] < plain[1:-1]).all()


def test_bad_steps_and_shift():
    for bad in (0, -3, 2.5):
        with pytest.raises(SoraError, match="steps"):
            sigma_schedule(bad)
    with pytest.raises(SoraError, match="shift"):
        sigma_schedule(10, shift=0.0)


def test_resolution_shift_grows_with_tokens():
    assert resolution_shift(256) == pytest.approx(math.exp(0.5))
    assert resolution_shift(4096) == pytest.approx(math.exp(1.15))
    shifts = [resolution_shift(n) for n in (64, 256, 1024, 4096, 16384)]
    assert all(a < b for a, b in itertools.pairwise(shifts))  # extrapolates on both sides
    with pytest.raises(ShapeError):
        resolution_shift(0)


def test_logit_normal_sigmas():
    s = sample_sigmas_logit_normal(20000, generator=torch.Generator().manual_seed(0))
    assert s.shape == (20000,)
    assert ((s > 0) & (s < 1)).all()
    assert s.median().item() == pytest.approx(0.5, abs=0.02)
    # mid noise is favoured over the ends
    assert ((s > 0.25) & (s < 0.75)).float().mean() > 0.5
    again = sample_sigmas_logit_normal(20000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, again)
    shifted = sample_sigmas_logit_normal(20000, shift=3.0, generator=torch.Generator().manual_seed(0))
    assert shifted.median().item() > 0.7
