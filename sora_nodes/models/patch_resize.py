"""Start a DiT with smaller patches from a trained one (FlexiViT's patch resizing, for a finer grid).

Only two weights depend on the patch size: the patch embedding and the output head. Each fine
patch is embedded as the coarse model would embed its nearest-neighbour upsampling (the coarse
kernel summed over the cells that copy one fine cell), and the head draws each fine patch as the
mean of the cells the coarse head would draw over that upsampled region. Everything else (blocks,
text, time, grid-position features in fractions of the frame) carries over; RoPE positions are
scaled by the ratio of the patch sizes (DiTConfig.rope_scale) so offsets keep the size they were
learned at. On a latent constant over each coarse patch, a fine token's embedding and a coarse
token's are then equal, so training starts from the trained model's layout, not from noise.
"""

from __future__ import annotations

import dataclasses

import torch

from ..errors import SoraError
from .dit import DiTConfig


def finer_config(coarse: DiTConfig, patch_size: tuple[int, int, int]) -> DiTConfig:
    """`coarse` with `patch_size`, which must divide its patch on every axis, and RoPE scaled to match."""
    ratios = [c // f for c, f in zip(coarse.patch_size, patch_size, strict=True)]
    if any(f * r != c for c, f, r in zip(coarse.patch_size, patch_size, ratios, strict=True)):
        raise SoraError(f"patch {patch_size} does not divide the trained patch {coarse.patch_size} on every axis")
    scale = tuple(s / r for s, r in zip(coarse.rope_scale, ratios, strict=True))
    return dataclasses.replace(coarse, patch_size=tuple(patch_size), rope_scale=scale)


def _split(patch: tuple[int, int, int], ratios: list[int]) -> list[int]:
    """The (fine, ratio) sizes each coarse patch axis splits into: index i = fine_index * ratio + r."""
    return [n for p, r in zip(patch, ratios, strict=True) for n in (p // r, r)]


def resize_patch_weights(state: dict[str, torch.Tensor], coarse: DiTConfig, fine: DiTConfig) -> dict[str, torch.Tensor]:
    """A coarse DiT's state dict with its patch embedding and output head resized to `fine.patch_size`."""
    if finer_config(coarse, fine.patch_size) != fine:
        raise SoraError(f"{fine} is not {coarse} at a finer patch size")
    ratios = [c // f for c, f in zip(coarse.patch_size, fine.patch_size, strict=True)]
    sizes, ratio_dims = _split(coarse.patch_size, ratios), (3, 5, 7)
    out = dict(state)

    embed = state["patch_embed.weight"]  # [D, Cin * pt * ph * pw]
    d = embed.shape[0]
    out["patch_embed.weight"] = embed.reshape(d, coarse.in_channels, *sizes).sum(ratio_dims).reshape(d, -1)

    c = coarse.latent_channels
    head, bias = state["final_layer.linear.weight"], state["final_layer.linear.bias"]  # [C * pt * ph * pw, D], [...]
    out["final_layer.linear.weight"] = head.reshape(c, *sizes, d).mean(tuple(k - 1 for k in ratio_dims)).reshape(-1, d)
    out["final_layer.linear.bias"] = bias.reshape(c, *sizes).mean(tuple(k - 1 for k in ratio_dims)).reshape(-1)
    return out
