"""The Wan 2.1 DiT against diffusers' WanTransformer3DModel: same weights, same velocity, same samples."""

from __future__ import annotations

import pytest
import torch

from sora_nodes.diffusion.guidance import classifier_free_guidance
from sora_nodes.diffusion.samplers import sample_euler
from sora_nodes.errors import ShapeError
from sora_nodes.models.wan_dit import WanDiT, WanDiTConfig

diffusers = pytest.importorskip("diffusers")
from wan_dit_reference import diffusers_to_wan, tiny_diffusers_transformer  # noqa: E402

TEXT_LEN = 512


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def ours_from(reference) -> WanDiT:
    c = reference.config
    config = WanDiTConfig(
        dim=c.num_attention_heads * c.attention_head_dim,
        ffn_dim=c.ffn_dim,
        num_heads=c.num_attention_heads,
        num_layers=c.num_layers,
        in_channels=c.in_channels,
        out_channels=c.out_channels,
        text_dim=c.text_dim,
        freq_dim=c.freq_dim,
        patch_size=tuple(c.patch_size),
    )
    model = WanDiT(config).eval()
    model.load_state_dict(diffusers_to_wan(reference.state_dict()), strict=True)
    return model


def padded(states: torch.Tensor) -> torch.Tensor:
    """What WanPipeline hands its transformer: the prompt's states, zero-padded to 512 tokens."""
    return torch.cat([states, states.new_zeros(states.shape[0], TEXT_LEN - states.shape[1], states.shape[2])], 1)


@pytest.fixture(scope="module")
def pair():
    reference = tiny_diffusers_transformer()
    return reference, ours_from(reference)


def test_velocity_matches_diffusers(pair):
    reference, ours = pair
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, 3, 6, 10, generator=g)  # [B, C, T', H', W']: non-square, several latent frames
    text = torch.randn(2, 7, 32, generator=g)
    sigma = torch.tensor([0.9, 0.35])
    with torch.no_grad():
        expected = reference(x, sigma * 1000, padded(text), return_dict=False)[0]
        got = ours(x, sigma, text, torch.ones(2, 7, dtype=torch.bool))
    assert got.shape == x.shape
    assert rel_err(got, expected) < 1e-4


@pytest.mark.parametrize("backend", ["sdpa", "reference"])
def test_every_attention_backend_gives_the_reference_velocity(pair, backend):
    reference, ours = pair
    g = torch.Generator().manual_seed(2)
    x, text = torch.randn(1, 16, 2, 4, 4, generator=g), torch.randn(1, 5, 32, generator=g)
    with torch.no_grad():
        expected = reference(x, torch.tensor([500.0]), padded(text), return_dict=False)[0]
        got = ours(x, torch.tensor([0.5]), text, attention_backend=backend)
    assert rel_err(got, expected) < 1e-4


def test_four_step_sample_matches_diffusers_scheduler(pair):
    """Euler with classifier-free guidance over diffusers' own shifted schedule, from the same noise."""
    reference, ours = pair
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=5.0)
    scheduler.set_timesteps(4)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(1, 16, 2, 4, 6, generator=g)
    positive, negative = torch.randn(1, 6, 32, generator=g), torch.zeros(1, 1, 32)
    cfg = 5.0

    x = noise.clone()
    with torch.no_grad():
        for t in scheduler.timesteps:
            cond = reference(x, t.expand(1), padded(positive), return_dict=False)[0]
            uncond = reference(x, t.expand(1), padded(negative), return_dict=False)[0]
            x = scheduler.step(uncond + cfg * (cond - uncond), t, x, return_dict=False)[0]
    expected = x

    def denoiser(x, sigma, *, context, context_mask):
        return x - sigma.view(-1, 1, 1, 1, 1) * ours(x, sigma, context, context_mask)

    mask = lambda e: torch.ones(e.shape[:2], dtype=torch.bool)  # noqa: E731
    guided = classifier_free_guidance(
        denoiser,
        {"context": positive, "context_mask": mask(positive)},
        {"context": negative, "context_mask": mask(negative)},
        cfg,
    )
    got = sample_euler(guided, noise.clone(), scheduler.sigmas.float())
    assert rel_err(got, expected) < 1e-3


def test_the_text_beyond_512_tokens_and_wrong_widths_are_refused(pair):
    _, ours = pair
    x = torch.zeros(1, 16, 1, 4, 4)
    with pytest.raises(ShapeError, match="at most 512"):
        ours(x, torch.tensor([0.5]), torch.zeros(1, 513, 32))
    with pytest.raises(ShapeError, match="umT5"):
        ours(x, torch.tensor([0.5]), torch.zeros(1, 4, 384))
    with pytest.raises(ShapeError, match="divisible"):
        ours(torch.zeros(1, 16, 1, 5, 4), torch.tensor([0.5]), torch.zeros(1, 4, 32))


def test_image_to_video_checkpoint_shapes_are_named():
    with pytest.raises(ValueError, match="image-to-video"):
        WanDiTConfig(in_channels=36)
