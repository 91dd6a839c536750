"""The pieces fit together: a DiT trained with the flow loss, then sampled by the pipeline's
denoiser, reproduces its training target. Catches sign and parameterisation mismatches
between loss, denoiser and samplers that unit tests of each part cannot see."""

import pytest
import torch

from sora_nodes.diffusion.conditioning import no_condition
from sora_nodes.diffusion.flow import add_noise, flow_matching_loss, sample_sigmas_logit_normal, sigma_schedule
from sora_nodes.diffusion.noise import seeded_noise
from sora_nodes.diffusion.samplers import get_sampler
from sora_nodes.families.bundle import new_sora_model
from sora_nodes.pipeline.sampling import flow_denoiser


@pytest.fixture(scope="module")
def overfit():
    torch.manual_seed(0)
    model = new_sora_model("tiny", "tiny")
    dit = model.dit.train()
    target = torch.randn(1, dit.config.latent_channels, 2, 4, 4)  # one "video" latent to memorise
    context, mask = torch.randn(1, 4, dit.config.text_dim), torch.ones(1, 4, dtype=torch.bool)
    opt = torch.optim.AdamW(dit.parameters(), lr=3e-3, weight_decay=0)
    g = torch.Generator().manual_seed(0)
    batch = 16
    for _ in range(300):
        sigma = sample_sigmas_logit_normal(batch, generator=g)
        noise = torch.randn(batch, *target.shape[1:], generator=g)
        x0 = target.expand(batch, *target.shape[1:])
        pred = dit(add_noise(x0, noise, sigma), sigma, context.expand(batch, -1, -1), mask.expand(batch, -1))
        loss = flow_matching_loss(pred, x0, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.dit.eval()
    return model, target, context, mask


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])
def test_trained_dit_samples_its_training_target(overfit, sampler):
    model, target, context, mask = overfit
    denoise = flow_denoiser(model, no_condition(target.shape, device="cpu", dtype=torch.float32), "auto")
    errors = []
    for seed in range(3):
        noise = seeded_noise(target.shape, seed)
        with torch.no_grad():
            sample = get_sampler(sampler)(
                lambda x, s: denoise(x, s, context=context, context_mask=mask), noise, sigma_schedule(12)
            )
        errors.append(((sample - target).square().mean() / target.var()).item())
        assert ((noise - target).square().mean() / target.var()).item() > 1.5  # where it started
    assert max(errors) < 0.1, errors
