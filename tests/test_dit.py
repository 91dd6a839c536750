import dataclasses
import json

import pytest
import torch
from conftest import randomize_zero_branches

from sora_nodes.errors import ShapeError
from sora_nodes.models.config import config_from_json, config_to_json
from sora_nodes.models.dit import DIT_PRESETS, DiT, DiTConfig, dit_preset, patchify, unpatchify
from sora_nodes.models.grid_position import grid_position_features
from sora_nodes.models.rope import apply_rope, rope_axis_dims, rope_frequencies


def trained_like(config: DiTConfig, seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    model = DiT(config).eval()
    randomize_zero_branches(model, seed)
    return model


def inputs(config, b=2, t=3, h=4, w=6, text_len=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, config.latent_channels, t, h, w, generator=g)
    sigma = torch.rand(b, generator=g)
    context = torch.randn(b, text_len, config.text_dim, generator=g)
    mask = torch.ones(b, text_len, dtype=torch.bool)
    return x, sigma, context, mask


@pytest.mark.parametrize("patch", [(1, 2, 2), (2, 1, 1), (1, 1, 1)])
def test_patchify_roundtrip(patch):
    x = torch.randn(2, 5, 4, 6, 8)
    tokens = patchify(x, patch)
    grid = (4 // patch[0], 6 // patch[1], 8 // patch[2])
    assert tokens.shape == (2, grid[0] * grid[1] * grid[2], 5 * patch[0] * patch[1] * patch[2])
    torch.testing.assert_close(unpatchify(tokens, grid, patch, 5), x, rtol=0, atol=0)


def test_patch_tokens_are_local_spacetime_cubes():
    patch = (1, 2, 2)
    x = torch.zeros(1, 1, 2, 4, 4)
    x[0, 0, 1, 2:4, 0:2] = 1.0  # one 2x2 cube in frame 1, bottom-left
    tokens = patchify(x, patch)  # grid (2, 2, 2), order t, h, w
    hot = tokens.sum(-1).nonzero()[:, 1].tolist()
    assert hot == [1 * 4 + 1 * 2 + 0]
    assert tokens[0, hot[0]].tolist() == [1.0] * 4


@pytest.mark.parametrize("grid", [(3, 4, 7), (1, 9, 16), (5, 16, 9), (2, 8, 8)])
def test_output_shape_on_any_grid_including_widescreen_and_portrait(grid):
    cfg = dit_preset("tiny")
    model = trained_like(cfg)
    t, gh, gw = grid
    x, sigma, ctx, mask = inputs(cfg, t=t, h=gh * 2, w=gw * 2)
    with torch.no_grad():
        v = model(x, sigma, ctx, mask)
    assert v.shape == x.shape
    assert torch.isfinite(v).all()


def test_untrained_model_outputs_zero_velocity():
    # adaLN-zero: an untrained network must not inject anything (stable start of training)
    cfg = dit_preset("tiny")
    model = DiT(cfg)
    x, sigma, ctx, mask = inputs(cfg)
    assert model(x, sigma, ctx, mask).abs().max() == 0


def test_padding_tokens_do_not_change_the_output():
    cfg = dit_preset("tiny")
    model = trained_like(cfg)
    x, sigma, ctx, mask = inputs(cfg, text_len=7)
    mask[0, 4:] = False
    mask[1, 2:] = False
    garbage = ctx.clone()
    garbage[0, 4:] = 100.0
    garbage[1, 2:] = -50.0
    with torch.no_grad():
        a = model(x, sigma, ctx, mask)
        b = model(x, sigma, garbage, mask)
        unmasked = model(x, sigma, garbage, torch.ones_like(mask))
    torch.testing.assert_close(a, b)
    assert (a - unmasked).abs().max() > 1e-3


def test_text_timestep_and_condition_each_change_the_output():
    cfg = dit_preset("tiny")
    model = trained_like(cfg)
    x, sigma, ctx, mask = inputs(cfg)
    cond = torch.zeros(x.shape[0], cfg.latent_channels + 1, *x.shape[2:])
    with torch.no_grad():
        base = model(x, sigma, ctx, mask)
        torch.testing.assert_close(model(x, sigma, ctx, mask, cond), base)  # zero condition == no condition
        cond[:, -1, 0] = 1.0
        cond[:, :-1, 0] = x[:, :, 0]
        for other in (
            model(x, sigma, ctx + 1, mask),
            model(x, sigma * 0.5, ctx, mask),
            model(x, sigma, ctx, mask, cond),
        ):
            assert (other - base).abs().max() > 1e-3


def test_batch_items_are_independent():
    cfg = dit_preset("tiny")
    model = trained_like(cfg)
    x, sigma, ctx, mask = inputs(cfg, b=3)
    with torch.no_grad():
        full = model(x, sigma, ctx, mask)
        single = model(x[1:2], sigma[1:2], ctx[1:2], mask[1:2])
    torch.testing.assert_close(full[1:2], single, rtol=1e-4, atol=1e-5)


def test_position_matters_through_rope():
    # Without positions a transformer is permutation-equivariant over tokens; RoPE must break that.
    cfg = dit_preset("tiny")
    model = trained_like(cfg)
    x, sigma, ctx, mask = inputs(cfg, b=1, t=1, h=4, w=4)
    flipped = x.flip(-1)
    with torch.no_grad():
        a = model(x, sigma, ctx, mask)
        b = model(flipped, sigma, ctx, mask).flip(-1)
    assert (a - b).abs().max() > 1e-4


def test_grid_position_features_place_tokens_by_fraction_of_the_frame():
    # "near the top left" must mean the same place in a 64x64 and a 112x64 bucket
    small, large = grid_position_features((1, 3, 3)), grid_position_features((2, 5, 5))  # [9, F], [50, F]
    spatial = slice(small.shape[1] // 3, None)  # the h and w features
    torch.testing.assert_close(small[4, spatial], large[12, spatial])  # both centres, at 0.5 of the frame
    assert (small[0, spatial] - large[0, spatial]).abs().max() > 0.1  # 1/6 and 1/10 of the frame differ
    assert len({tuple(r.tolist()) for r in large}) == 50  # every token of a clip gets its own place


def test_absolute_position_changes_the_output_and_older_configs_load_without_it():
    cfg = dataclasses.replace(dit_preset("tiny"), absolute_position=True)
    torch.manual_seed(0)
    model = trained_like(cfg)
    x, sigma, ctx, mask = inputs(cfg)
    with torch.no_grad():
        before = model(x, sigma, ctx, mask)
        model.position_proj.weight.zero_()
        model.position_proj.bias.zero_()
        assert (model(x, sigma, ctx, mask) - before).abs().max() > 1e-4
    stored = json.loads(config_to_json(dit_preset("tiny")))
    stored.pop("absolute_position")  # a v2 file's dit.config
    assert config_from_json(DiTConfig, json.dumps(stored)).absolute_position is False


def test_a_model_that_gains_an_output_refiner_renders_as_before_until_trained():
    cfg = dit_preset("tiny")
    base = trained_like(cfg)
    refined = DiT(dataclasses.replace(cfg, output_refiner=16)).eval()
    missing, unexpected = refined.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("refiner.") for k in missing)
    x, sigma, ctx, mask = inputs(cfg)
    with torch.no_grad():
        torch.testing.assert_close(refined(x, sigma, ctx, mask), base(x, sigma, ctx, mask), rtol=0, atol=0)
        torch.nn.init.normal_(refined.refiner.conv_out.weight, std=0.1)
        changed = (refined(x, sigma, ctx, mask) - base(x, sigma, ctx, mask)).abs()  # [B, C, T, H, W]
        x[:, :, 1, 2, 3] += 1.0  # one noisy cell reaches its 3x3x3 neighbourhood through the refiner alone
        moved = (refined(x, sigma, ctx, mask) - base(x, sigma, ctx, mask)).abs() - changed
    assert changed.min() > 0
    assert moved[:, :, 0:3, 1:4, 2:5].abs().amax() > 1e-4


def test_rope_scores_depend_only_on_relative_offsets():
    head_dim = 24
    cos, sin = rope_frequencies((4, 5, 6), head_dim)
    q = torch.randn(1, 1, 1, head_dim).expand(1, 1, 4 * 5 * 6, head_dim)
    k = torch.randn(1, 1, 1, head_dim).expand(1, 1, 4 * 5 * 6, head_dim)
    qr, kr = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    torch.testing.assert_close(qr.norm(dim=-1), q.norm(dim=-1))  # rotations keep norms

    def idx(t, h, w):
        return (t * 5 + h) * 6 + w

    def score(a, b):
        return (qr[0, 0, idx(*a)] * kr[0, 0, idx(*b)]).sum()

    torch.testing.assert_close(score((0, 0, 0), (1, 2, 3)), score((2, 1, 2), (3, 3, 5)))
    assert (score((0, 0, 0), (1, 2, 3)) - score((0, 0, 0), (1, 3, 2))).abs() > 1e-4
    assert sum(rope_axis_dims(head_dim)) == head_dim


def test_backends_give_the_same_numbers_through_the_model():
    from sora_nodes.models.attention import available_backends

    cfg = dit_preset("tiny")
    model = trained_like(cfg)
    x, sigma, ctx, mask = inputs(cfg)
    mask[0, 3:] = False
    with torch.no_grad():
        ref = model(x, sigma, ctx, mask, attention_backend="reference")
        for backend in available_backends("cpu"):
            torch.testing.assert_close(model(x, sigma, ctx, mask, attention_backend=backend), ref, rtol=1e-4, atol=1e-5)


def test_bad_shapes_give_clear_errors():
    cfg = dataclasses.replace(dit_preset("tiny"), patch_size=(2, 2, 2))
    model = DiT(cfg)
    x, sigma, ctx, mask = inputs(cfg, t=3)
    with pytest.raises(ShapeError, match="latent frames 3 is not divisible by the DiT patch size 2.*2 or 4"):
        model(x, sigma, ctx, mask)
    x, sigma, ctx, mask = inputs(cfg, t=2, h=5)
    with pytest.raises(ShapeError, match="latent height 5"):
        model(x, sigma, ctx, mask)
    x, sigma, ctx, mask = inputs(cfg, t=2)
    with pytest.raises(ShapeError, match="different text encoder"):
        model(x, sigma, ctx[..., :100], mask)
    with pytest.raises(ShapeError, match="latents"):
        model(x[:, :3], sigma, ctx, mask)


def test_presets_are_frozen_and_named():
    assert {"tiny", "S", "B", "L", "XL"} <= set(DIT_PRESETS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DIT_PRESETS["S"].depth = 3
    with pytest.raises(ValueError, match="choose one of"):
        dit_preset("huge")
    assert DIT_PRESETS["S"].in_channels == 2 * DIT_PRESETS["S"].latent_channels + 1


def test_gradient_checkpointing_gives_the_same_gradients():
    cfg = dit_preset("tiny")
    model = trained_like(cfg)
    x, sigma, ctx, mask = inputs(cfg)

    def grads(checkpointing):
        model.zero_grad()
        model.gradient_checkpointing = checkpointing
        model(x, sigma, ctx, mask).square().mean().backward()
        return [p.grad.clone() for p in model.parameters()]

    for a, b in zip(grads(False), grads(True), strict=True):
        torch.testing.assert_close(a, b)


def test_pooled_text_path_ignores_padding_and_changes_the_output():
    cfg = dataclasses.replace(dit_preset("tiny"), pooled_text=True)
    model = trained_like(cfg)
    x, sigma, ctx, mask = inputs(cfg, text_len=6)
    mask[:, 4:] = False
    padded = ctx.clone()
    padded[:, 4:] = 100.0  # padding content must not leak through the pooled mean
    torch.testing.assert_close(model(x, sigma, ctx, mask), model(x, sigma, padded, mask))
    without = trained_like(dataclasses.replace(cfg, pooled_text=False))
    without.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("pooled_proj")})
    assert not torch.allclose(model(x, sigma, ctx, mask), without(x, sigma, ctx, mask))
