"""A DiT with finer patches, started from a trained coarse one (models/patch_resize.py)."""

import dataclasses

import pytest
import torch

from sora_nodes.errors import SoraError
from sora_nodes.families.checkpoint import save_checkpoint
from sora_nodes.models.dit import DiT, dit_preset, patchify
from sora_nodes.models.patch_resize import finer_config, resize_patch_weights
from sora_nodes.models.rope import rope_frequencies
from sora_nodes.train.dit_trainer import warm_start_from
from sora_nodes.train.run_state import make_ema

COARSE = dataclasses.replace(dit_preset("tiny"), patch_size=(1, 4, 4), absolute_position=True, pooled_text=True)
FINE = finer_config(COARSE, (1, 2, 2))


def trained_like(config, seed=0) -> DiT:
    """A DiT whose zero-initialised layers (adaLN-zero, the head) are not zero, as after training."""
    torch.manual_seed(seed)
    model = DiT(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_a_fine_patch_is_embedded_as_the_coarse_model_embeds_its_nearest_neighbour_upsampling():
    coarse = trained_like(COARSE)
    state = resize_patch_weights(coarse.state_dict(), COARSE, FINE)
    fine_patch = torch.randn(1, COARSE.in_channels, 1, 2, 2)
    upsampled = fine_patch.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)  # [1, Cin, 1, 4, 4]
    coarse_embedding = coarse.patch_embed(patchify(upsampled, (1, 4, 4)))
    fine_embedding = torch.nn.functional.linear(
        patchify(fine_patch, (1, 2, 2)), state["patch_embed.weight"], state["patch_embed.bias"]
    )
    torch.testing.assert_close(fine_embedding, coarse_embedding, rtol=1e-5, atol=1e-5)


def test_the_fine_head_draws_each_cell_as_the_mean_of_the_cells_the_coarse_head_draws_over_it():
    coarse = trained_like(COARSE)
    state = resize_patch_weights(coarse.state_dict(), COARSE, FINE)
    hidden = torch.randn(3, COARSE.hidden_size)
    c = COARSE.latent_channels
    coarse_cells = coarse.final_layer.linear(hidden).reshape(3, c, 1, 4, 4)
    fine_cells = torch.nn.functional.linear(
        hidden, state["final_layer.linear.weight"], state["final_layer.linear.bias"]
    )
    pooled = torch.nn.functional.avg_pool2d(coarse_cells.reshape(3 * c, 4, 4), 2).reshape(3, c, 1, 2, 2)
    torch.testing.assert_close(fine_cells.reshape(3, c, 1, 2, 2), pooled, rtol=1e-5, atol=1e-5)


def test_rope_on_the_fine_grid_puts_every_other_token_where_the_coarse_grid_has_one():
    assert FINE.rope_scale == (1.0, 0.5, 0.5)
    cos_c, sin_c = rope_frequencies((2, 3, 4), COARSE.head_dim)
    cos_f, sin_f = rope_frequencies((2, 6, 8), COARSE.head_dim, scale=FINE.rope_scale)
    every_other = torch.arange(2 * 6 * 8).reshape(2, 6, 8)[:, ::2, ::2].reshape(-1)
    torch.testing.assert_close(cos_f[every_other], cos_c)
    torch.testing.assert_close(sin_f[every_other], sin_c)


def test_an_arm_with_finer_patches_warm_starts_from_a_trained_coarse_checkpoint(tmp_path):
    coarse = trained_like(COARSE)
    path = save_checkpoint(tmp_path / "coarse.safetensors", {"dit": coarse})
    fine = DiT(FINE)
    ema = make_ema(fine, 0.998)
    assert warm_start_from(path, fine, ema) == []
    want = resize_patch_weights(coarse.state_dict(), COARSE, FINE)
    got = ema.module.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k].float()) for k in want)
    x = torch.randn(1, COARSE.latent_channels, 2, 8, 8)
    out = ema.module(x, torch.tensor([0.5]), torch.randn(1, 4, COARSE.text_dim), torch.ones(1, 4, dtype=torch.bool))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_a_patch_that_does_not_divide_the_trained_one_is_refused_with_the_sizes():
    with pytest.raises(SoraError, match=r"patch \(1, 3, 3\) does not divide the trained patch \(1, 4, 4\)"):
        finer_config(COARSE, (1, 3, 3))
    with pytest.raises(SoraError, match="not .* at a finer patch size"):
        resize_patch_weights(trained_like(COARSE).state_dict(), COARSE, dataclasses.replace(FINE, depth=3))
