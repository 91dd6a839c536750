from __future__ import annotations

import pytest
import torch

from sora_nodes.diffusion.conditioning import (
    SpacetimeCondition,
    known_box,
    known_frames,
    no_condition,
    paste_known,
)
from sora_nodes.errors import ShapeError, SoraError


@pytest.fixture
def latent():
    return torch.randn(2, 4, 5, 6, 8, generator=torch.Generator().manual_seed(0))  # [B, C, T, H, W]


def test_no_condition_is_all_unknown():
    c = no_condition((2, 4, 5, 6, 8), device="cpu", dtype=torch.float16)
    assert c.mask.shape == (2, 1, 5, 6, 8) and c.latent.dtype == torch.float16
    assert not c.mask.any() and not c.latent.any()
    assert c.dit_channels().shape == (2, 5, 5, 6, 8)


def test_dit_channels_masks_latent_and_appends_mask(latent):
    c = known_frames(latent, [0])
    ch = c.dit_channels()
    assert ch.shape == (2, 5, 5, 6, 8)
    assert torch.equal(ch[:, :4, 0], latent[:, :, 0])
    assert not ch[:, :4, 1:].any()  # unknown frames carry no content
    assert torch.equal(ch[:, 4:], c.mask)


@pytest.mark.parametrize(
    "frames,known",
    [
        ([0], [0]),  # image-to-video
        (slice(0, 2), [0, 1]),  # extend forward
        (slice(-2, None), [3, 4]),  # extend backward
        ([0, -1], [0, 4]),  # connect / loop ends
    ],
)
def test_known_frames_masks(latent, frames, known):
    c = known_frames(latent, frames)
    per_frame = c.mask[:, 0].amax(dim=(-2, -1))  # [B, T]
    assert per_frame.tolist() == [[1.0 if t in known else 0.0 for t in range(5)]] * 2
    assert c.mask[:, :, known].all()  # whole frames, every pixel


def test_known_frames_bad_index(latent):
    with pytest.raises(ShapeError, match="out of range for 5"):
        known_frames(latent, [5])
    with pytest.raises(ShapeError, match="select none"):
        known_frames(latent, slice(3, 3))
    with pytest.raises(ShapeError, match=r"\[B, C, T, H, W\]"):
        known_frames(latent[0], [0])


def test_known_box_inpaint_and_outpaint(latent):
    inpaint = known_box(latent, t=slice(1, 4), y=slice(2, 4), x=slice(0, 3), known_inside=False)
    box = torch.zeros(2, 1, 5, 6, 8, dtype=torch.bool)
    box[:, :, 1:4, 2:4, 0:3] = True
    assert torch.equal(inpaint.mask.bool(), ~box)
    assert torch.equal(inpaint.latent[~box.expand_as(latent)], latent[~box.expand_as(latent)])
    assert not inpaint.latent[box.expand_as(latent)].any()
    outpaint = known_box(latent, t=slice(None), y=slice(2, 4), x=slice(0, 3), known_inside=True)
    assert outpaint.mask.sum().item() == 2 * 5 * 2 * 3
    with pytest.raises(ShapeError, match="box y"):
        known_box(latent, t=slice(None), y=slice(6, 9), x=slice(None), known_inside=False)


def test_paste_known_keeps_known_values_exactly(latent):
    c = known_box(latent, t=slice(0, 2), y=slice(None), x=slice(4, 8), known_inside=True)
    x0_hat = torch.randn_like(latent) * 1e6
    pasted = paste_known(x0_hat, c)
    known = c.mask.bool().expand_as(latent)
    assert torch.equal(pasted[known], latent[known])
    assert torch.equal(pasted[~known], x0_hat[~known])
    with pytest.raises(ShapeError, match="build the condition"):
        paste_known(x0_hat[:, :, :3], c)


def test_condition_validates_shapes_and_values(latent):
    with pytest.raises(ShapeError, match=r"\[B, 1, T, H, W\]"):
        SpacetimeCondition(latent=latent, mask=torch.ones(2, 4, 5, 6, 8))
    with pytest.raises(ShapeError, match=r"\[B, C, T, H, W\]"):
        SpacetimeCondition(latent=latent[0], mask=torch.ones(1, 1, 5, 6, 8))
    with pytest.raises(SoraError, match="only 0"):
        SpacetimeCondition(latent=latent, mask=torch.full((2, 1, 5, 6, 8), 0.5))
    with pytest.raises(ShapeError):
        no_condition((2, 4, 6, 8), device="cpu", dtype=torch.float32)
