"""3-D rotary position embeddings over the (t, h, w) token grid.

Each head's channels are split into three groups that rotate with the token's frame, row
and column index, so attention scores depend on relative spacetime offsets and any grid
size (16:9, 9:16, long or short clips) is handled without a learned position table.
"""

from __future__ import annotations

import functools

import torch


def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Channels per axis (t, h, w); each is even. Time gets the remainder, as in Wan."""
    if head_dim % 2 or head_dim < 6:
        raise ValueError(f"3-D RoPE needs an even head_dim >= 6, got {head_dim}")
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


@functools.lru_cache(maxsize=32)  # the same grid is used by every layer and sampling step
@torch.inference_mode(False)  # a table cached while sampling must stay usable by training in the same process
def rope_frequencies(
    grid: tuple[int, int, int],
    head_dim: int,
    *,
    theta: float = 10000.0,
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables for a (T, H, W) token grid, each [T*H*W, head_dim // 2], float32.

    A token's position on each axis is its index times `scale` (see DiTConfig.rope_scale)."""
    angles = []
    for size, dim, step in zip(grid, rope_axis_dims(head_dim), scale, strict=True):
        inv_freq = theta ** (-torch.arange(0, dim, 2, device=device, dtype=torch.float64) / dim)  # [dim/2]
        positions = torch.arange(size, device=device, dtype=torch.float64) * step  # [size]
        angles.append(positions[:, None] * inv_freq)  # [size, dim/2]
    t, h, w = grid
    at, ah, aw = angles
    full = torch.cat(
        [
            at[:, None, None, :].expand(t, h, w, -1),
            ah[None, :, None, :].expand(t, h, w, -1),
            aw[None, None, :, :].expand(t, h, w, -1),
        ],
        dim=-1,
    ).reshape(t * h * w, head_dim // 2)  # [N, head_dim/2]
    return full.cos().float(), full.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (2i, 2i+1) of x [B, H, N, D] by the angles of cos/sin [N, D/2]."""
    x_pairs = x.float().unflatten(-1, (-1, 2))  # [B, H, N, D/2, 2]
    x0, x1 = x_pairs.unbind(-1)
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)
