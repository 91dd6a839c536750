from __future__ import annotations

import pytest
import torch

from sora_nodes.diffusion.flow import sigma_schedule
from sora_nodes.diffusion.guidance import classifier_free_guidance
from sora_nodes.diffusion.noise import seeded_noise
from sora_nodes.diffusion.samplers import SAMPLERS, get_sampler, sample_euler
from sora_nodes.errors import SoraError

MU, S = 0.7, 0.3  # data: every element ~ N(MU, S^2) independently


def gaussian_denoiser(x, sigma, *, mu=MU):
    """Exact E[x0 | x_sigma] for x0 ~ N(mu, S^2) on the flow path x = (1-sigma) x0 + sigma eps."""
    s = sigma.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)  # [B, 1, ...]
    a = 1 - s
    return mu + a * S**2 * (x - a * mu) / (a**2 * S**2 + s**2)


def ode_endpoint(noise):
    # The flow ODE of a Gaussian is linear: x_sigma = (1-sigma) MU + sqrt((1-sigma)^2 S^2 + sigma^2) z.
    return MU + S * noise


@pytest.fixture(scope="module")
def noise():
    return seeded_noise((2, 1, 4, 16, 16), 1234, dtype=torch.float64)  # [B, C, T, H, W]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_transports_noise_to_data(name, noise):
    out = get_sampler(name)(gaussian_denoiser, noise, sigma_schedule(100, shift=2.0).double())
    assert out.shape == noise.shape and torch.isfinite(out).all()
    assert out.mean().item() == pytest.approx(MU, abs=0.03)
    assert out.std().item() == pytest.approx(S, abs=0.03)
    assert (out - ode_endpoint(noise)).abs().max().item() < 0.06


def test_samplers_agree_on_the_ode_endpoint(noise):
    sigmas = sigma_schedule(100).double()
    outs = {name: f(gaussian_denoiser, noise, sigmas) for name, f in SAMPLERS.items()}
    for name, out in outs.items():
        assert (out - outs["heun"]).abs().max().item() < 0.03, name


def test_higher_order_samplers_beat_euler_at_10_steps(noise):
    reference = sample_euler(gaussian_denoiser, noise, sigma_schedule(1000).double())
    assert (reference - ode_endpoint(noise)).abs().max().item() < 5e-3
    sigmas = sigma_schedule(10).double()
    err = {name: (f(gaussian_denoiser, noise, sigmas) - reference).abs().mean().item() for name, f in SAMPLERS.items()}
    assert err["heun"] < err["euler"] / 2, err
    assert err["dpmpp_2m"] < err["euler"] / 2, err
    assert err["unipc"] < err["euler"] / 2, err


@pytest.mark.parametrize("steps", [4, 10, 30])
def test_unipc_matches_diffusers_unipc_on_the_flow_path(steps):
    """Against diffusers' UniPCMultistepScheduler configured as Wan's pipelines use it (flow sigmas, flow
    prediction, shift 5), on its own schedule, with a nonlinear denoiser; the model sees (x - x0) / sigma."""
    diffusers = pytest.importorskip("diffusers")
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 8, generator=g, dtype=torch.float64) * 0.3

    def denoised(x, sigma):
        return torch.tanh(x @ w) * (1 - sigma.view(-1, 1)) + 0.2 * sigma.view(-1, 1)

    scheduler = diffusers.UniPCMultistepScheduler(
        use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=5.0
    )
    scheduler.set_timesteps(steps)
    x = torch.randn(3, 8, generator=g, dtype=torch.float64)
    expected = x.clone()
    for i, t in enumerate(scheduler.timesteps):
        sigma = scheduler.sigmas[i].double().expand(3)
        velocity = (expected - denoised(expected, sigma)) / sigma.view(-1, 1)
        expected = scheduler.step(velocity, t, expected, return_dict=False)[0]
    got = get_sampler("unipc")(denoised, x, scheduler.sigmas.double())
    assert ((got - expected).abs().max() / expected.abs().max()).item() < 1e-6


def test_dpmpp_2m_is_second_order_between_the_ends(noise):
    # Away from sigma = 0 and 1 (where lambda is infinite) doubling the steps should quarter the error.
    def state(sigma):
        a = 1 - sigma
        return a * MU + (a**2 * S**2 + sigma**2) ** 0.5 * noise

    def error(steps):
        out = get_sampler("dpmpp_2m")(gaussian_denoiser, state(0.9), torch.linspace(0.9, 0.1, steps + 1).double())
        return (out - state(0.1)).abs().max().item()

    assert error(40) / error(80) > 3.0


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_one_step_from_pure_noise_returns_denoised(name, noise):
    out = get_sampler(name)(gaussian_denoiser, noise, torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(out, torch.full_like(noise, MU))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_callback_once_per_step_and_no_nan_at_sigma_one(name, noise):
    seen = []
    sigmas = sigma_schedule(6, shift=3.0)
    out = get_sampler(name)(gaussian_denoiser, noise.float(), sigmas, callback=seen.append)
    assert [d["i"] for d in seen] == list(range(6))
    assert [float(d["sigma"]) for d in seen] == sigmas[:-1].tolist()
    assert [float(d["sigma_next"]) for d in seen] == sigmas[1:].tolist()
    assert all(torch.isfinite(d["denoised"]).all() and torch.isfinite(d["x"]).all() for d in seen)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_extra_args_reach_the_model(noise):
    out = get_sampler("dpmpp_2m")(gaussian_denoiser, noise, sigma_schedule(50).double(), extra_args={"mu": -2.0})
    assert out.mean().item() == pytest.approx(-2.0, abs=0.03)


def test_unknown_sampler_lists_choices():
    with pytest.raises(SoraError, match="dpmpp_2m.*euler.*heun"):
        get_sampler("ddim")


def test_bad_sigmas_are_rejected(noise):
    with pytest.raises(SoraError, match="decrease"):
        sample_euler(gaussian_denoiser, noise, torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(SoraError, match="at least 2"):
        sample_euler(gaussian_denoiser, noise, torch.tensor([1.0]))


# --- classifier-free guidance ---------------------------------------------------------------


class TextModel:
    """A tiny real model that reads masked text tokens and counts its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, sigma, *, context, context_mask, cond_channels=None):
        self.calls.append(x.shape[0])
        m = context_mask.unsqueeze(-1).to(x.dtype)  # [B, L, 1]
        pooled = (context * m).sum(1) / m.sum(1).clamp_min(1)  # [B, D], padding must not count
        out = x * (1 - sigma.view(-1, 1, 1)) + pooled.sum(-1).view(-1, 1, 1)
        return out if cond_channels is None else out + cond_channels


def _text(batch, length, seed):
    g = torch.Generator().manual_seed(seed)
    return {
        "context": torch.randn(batch, length, 8, generator=g),
        "context_mask": torch.ones(batch, length, dtype=torch.bool),
    }


def test_cfg_scale_one_is_the_cond_model_without_uncond():
    model, x, sigma = TextModel(), torch.randn(2, 3, 5), torch.full((2,), 0.4)
    cond = _text(2, 7, 0)
    guided = classifier_free_guidance(model, cond, {"context": None, "context_mask": None}, 1.0)
    assert torch.equal(guided(x, sigma), TextModel()(x, sigma, **cond))
    assert model.calls == [2]  # uncond (which would fail on None context) never ran


def test_cfg_matches_separate_calls_in_one_batched_call_with_padding():
    x, sigma = torch.randn(2, 3, 5), torch.full((2,), 0.4)
    cond, uncond = _text(2, 7, 0), _text(2, 3, 1)  # negative prompt is shorter
    cond["cond_channels"] = uncond["cond_channels"] = torch.randn(2, 3, 5)
    reference = TextModel()
    c, u = reference(x, sigma, **cond), reference(x, sigma, **uncond)
    model = TextModel()
    out = classifier_free_guidance(model, cond, uncond, 5.0)(x, sigma)
    assert model.calls == [4]  # one call, cond and uncond stacked
    assert torch.allclose(out, u + 5.0 * (c - u), atol=1e-5)


def test_cfg_pads_text_with_mask_false():
    seen = {}

    def model(x, sigma, *, context, context_mask):
        seen.update(context=context, context_mask=context_mask)
        return x

    cond, uncond = _text(1, 6, 0), _text(1, 2, 1)
    classifier_free_guidance(model, cond, uncond, 3.0)(torch.randn(1, 4), torch.ones(1))
    assert seen["context"].shape == (2, 6, 8)
    assert seen["context_mask"].tolist() == [[True] * 6, [True, True] + [False] * 4]
    assert torch.equal(seen["context"][1, :2], uncond["context"][0])


def test_cfg_once_per_sampler_step():
    model = TextModel()
    cond, uncond = _text(1, 4, 0), _text(1, 4, 1)
    guided = classifier_free_guidance(model, cond, uncond, 4.0)
    sample_euler(guided, torch.randn(1, 2, 3), sigma_schedule(5))
    assert model.calls == [2] * 5


def test_cfg_rejects_arguments_that_cannot_be_batched():
    cond, uncond = _text(1, 4, 0), _text(1, 4, 1)
    with pytest.raises(SoraError, match="same arguments"):
        classifier_free_guidance(TextModel(), cond, {"context": uncond["context"]}, 4.0)
    uncond["context"] = torch.randn(1, 4, 5)  # another text width: not just a longer prompt
    with pytest.raises(SoraError, match="only in their token length"):
        classifier_free_guidance(TextModel(), cond, uncond, 4.0)(torch.randn(1, 2, 3), torch.ones(1))


def test_cfg_rejects_non_numeric_scale():
    with pytest.raises(SoraError, match="guidance scale"):
        classifier_free_guidance(TextModel(), {}, {}, "7")


# --- seeded noise ---------------------------------------------------------------------------


def test_seeded_noise_is_reproducible_and_seed_dependent():
    a, b = seeded_noise((2, 4, 3, 8, 8), 7), seeded_noise((2, 4, 3, 8, 8), 7)
    assert torch.equal(a, b)
    assert not torch.equal(a, seeded_noise((2, 4, 3, 8, 8), 8))
    assert seeded_noise((3,), 2**64 - 1).shape == (3,)


def test_seeded_noise_dtype_and_device():
    n = seeded_noise((4, 5), 3, dtype=torch.float16, device="cpu")
    assert n.dtype == torch.float16 and n.device.type == "cpu"
    assert torch.equal(n, seeded_noise((4, 5), 3).half())
    if torch.cuda.is_available():
        assert torch.equal(seeded_noise((4, 5), 3, device="cuda").cpu(), seeded_noise((4, 5), 3))


def test_seeded_noise_bad_input():
    with pytest.raises(SoraError, match="seed"):
        seeded_noise((2,), -1)
    with pytest.raises(SoraError, match="seed"):
        seeded_noise((2,), 1.5)
    with pytest.raises(SoraError, match="shape"):
        seeded_noise((2, -1), 0)
