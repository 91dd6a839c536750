"""Absolute position features of the (t, h, w) token grid, beside RoPE.

RoPE makes attention depend only on offsets between tokens, so at high noise, where x_t holds no
layout, nothing tells a token where in the frame it is, and a caption such as "near the bottom
left" cannot be placed. These features give each token its place as a fraction of the frame
(the same for every bucket size) and its latent frame index, as the sin-cos table of DiT does,
but computed for any grid.
"""

from __future__ import annotations

import functools
import math

import torch

POSITION_FREQUENCIES = 8  # per axis: periods from 2 frames down to 1/128 of a frame


@functools.lru_cache(maxsize=32)
@torch.inference_mode(False)  # a table cached while sampling must stay usable by training in the same process
def grid_position_features(grid: tuple[int, int, int], *, device=None) -> torch.Tensor:
    """[T*H*W, 6 * POSITION_FREQUENCIES] float32 sin-cos features of each token's (t, h, w)."""
    t, h, w = grid
    k = torch.arange(POSITION_FREQUENCIES, device=device, dtype=torch.float64)
    spatial_freq = math.pi * 2.0**k  # [K]; rows and columns in fractions of the frame, cell centres
    time_freq = 100.0 ** (-k / POSITION_FREQUENCIES)  # [K]; frames by index, as a 1-D sin-cos table
    coords = (
        torch.arange(t, device=device, dtype=torch.float64)[:, None] * time_freq,  # [T, K]
        ((torch.arange(h, device=device, dtype=torch.float64) + 0.5) / h)[:, None] * spatial_freq,  # [H, K]
        ((torch.arange(w, device=device, dtype=torch.float64) + 0.5) / w)[:, None] * spatial_freq,  # [W, K]
    )
    feats = [torch.cat([a.sin(), a.cos()], dim=-1) for a in coords]  # each [size, 2K]
    full = torch.cat(
        [
            feats[0][:, None, None, :].expand(t, h, w, -1),
            feats[1][None, :, None, :].expand(t, h, w, -1),
            feats[2][None, None, :, :].expand(t, h, w, -1),
        ],
        dim=-1,
    )  # [T, H, W, 6K]
    return full.reshape(t * h * w, -1).float()
