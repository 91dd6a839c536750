"""Spatial tiling for the video VAE: large frames at bounded memory.

Chunking in time keeps memory flat in clip length; tiling does the same for frame size. The frame
is cut into overlapping square tiles on the latent grid (a "cell" is one latent position, i.e.
k_s x k_s pixels), each tile is encoded or decoded on its own, and the tile outputs are blended
with a linear ramp across every overlap, so seams fade instead of cutting.

Design: tiles outside, time chunks inside. Each tile is one ordinary call of the chunked causal
path (`fn` below), so each tile gets its own cache for free and peak memory is one tile-chunk of
activations plus that tile's output for the whole clip (3 channels when decoding, never more than
the output itself). The other order (chunks outside, tiles inside) would need one live cache per
tile, and all tiles' caches together hold two full frames of every causal conv's input: memory
would grow with frame size again.

Tiling is an approximation, so it is opt-in: every conv sees zero padding at a tile border
instead of its neighbours, and the mid-level frame attention sees one tile instead of the whole
frame. The overlap hides the conv halo; a wider overlap gets closer to the untiled result. A
frame that fits in one tile runs the untiled path unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..errors import ShapeError


def check_tiling(tile: object, overlap: object, *, cell: int, unit: str) -> tuple[int, int] | None:
    """Validate tile and overlap given in `unit`s (`cell` units per latent cell) -> (tile, overlap)
    in cells, or None for untiled. overlap None means a quarter of the tile."""
    if tile is None:
        if overlap is not None:
            raise ShapeError(f"tile_overlap={overlap!r} needs a tile size; pass tile ({unit}) or drop tile_overlap")
        return None
    for name, v in (("tile", tile), ("tile_overlap", overlap)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ShapeError(f"{name} must be an int ({unit}), got {v!r}")
    cells = " (2 latent cells)" if cell > 1 else ""
    if tile < 2 * cell:
        raise ShapeError(f"tile must be at least {2 * cell} {unit}{cells}, got {tile}; e.g. tile={32 * cell}")
    if overlap is None:
        overlap = tile // cell // 4 * cell
    if not 0 <= overlap < tile:
        raise ShapeError(
            f"tile_overlap must be in 0 .. tile - {cell} = {tile - cell} {unit}, got {overlap} with tile {tile}; "
            f"a quarter of the tile ({tile // cell // 4 * cell}) is a good default"
        )
    for name, v in (("tile", tile), ("tile_overlap", overlap)):
        if v % cell:
            lo = v - v % cell
            raise ShapeError(
                f"{name} {v} is not a multiple of the VAE's spatial factor {cell}; use {lo} or {lo + cell} ({unit})"
            )
    return tile // cell, overlap // cell


def tile_spans(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """[start, stop) of the fewest tiles of length min(tile, size) that cover [0, size) with at
    least `overlap` shared between neighbours.

    Tiles are never cropped at the far edge: the slack is spread evenly over all the seams (each
    overlap grows a little) instead of shifting only the last tile back onto its neighbour.
    """
    if size <= tile:
        return [(0, size)]
    n = 1 + math.ceil((size - tile) / (tile - overlap))
    starts = [i * (size - tile) // (n - 1) for i in range(n)]
    return [(a, a + tile) for a in starts]


def blend_weights(spans: list[tuple[int, int]]) -> list[torch.Tensor]:
    """1-D float64 weight of each span over its own positions; at every position they sum to 1.

    A tile ramps up linearly across the overlap with its left neighbour and down across the one
    with its right neighbour (flat 1 at the frame border). Where two tiles meet the two ramps
    already sum to 1; dividing by the sum keeps that true where three tiles meet (tiny strides).
    """
    ramps = []
    for i, (a, b) in enumerate(spans):
        p = torch.arange(a, b, dtype=torch.float64)
        r = torch.ones(b - a, dtype=torch.float64)
        if i > 0:  # 1/(o+1) .. o/(o+1) across an overlap of o, so no position gets weight 0
            r = torch.minimum(r, (p - a + 1) / (spans[i - 1][1] - a + 1))
        if i < len(spans) - 1:
            r = torch.minimum(r, (b - p) / (b - spans[i + 1][0] + 1))
        ramps.append(r)
    total = torch.zeros(spans[-1][1], dtype=torch.float64)
    for (a, b), r in zip(spans, ramps, strict=True):
        total[a:b] += r
    return [r / total[a:b] for (a, b), r in zip(spans, ramps, strict=True)]


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int,
    *,
    in_cell: int = 1,
    out_cell: int = 1,
) -> torch.Tensor:
    """Apply `fn` tile by tile over H x W and blend: x [B, C, T, H, W] -> [B, C', T', H', W'].

    tile and overlap are in cells; a cell is `in_cell` input pixels and `out_cell` output pixels
    (decode: 1 and k_s, encode: k_s and 1), so H = cells * in_cell and H' = cells * out_cell.
    """
    rows = tile_spans(x.shape[-2] // in_cell, tile, overlap)  # in cells
    cols = tile_spans(x.shape[-1] // in_cell, tile, overlap)
    if len(rows) == 1 and len(cols) == 1:
        return fn(x)  # no blending, so bit-identical to the untiled path

    # ramps at output resolution, so a decoded seam fades over overlap * k_s pixels, not overlap
    row_w = blend_weights([(a * out_cell, b * out_cell) for a, b in rows])
    col_w = blend_weights([(a * out_cell, b * out_cell) for a, b in cols])
    out = None
    for (y0, y1), wy in zip(rows, row_w, strict=True):
        for (x0, x1), wx in zip(cols, col_w, strict=True):
            y = fn(x[..., y0 * in_cell : y1 * in_cell, x0 * in_cell : x1 * in_cell])  # [B, C', T', h, w]
            if out is None:
                out = y.new_zeros(*y.shape[:3], rows[-1][1] * out_cell, cols[-1][1] * out_cell)
            w = (wy[:, None] * wx[None, :]).to(y.dtype).to(y.device)  # [h, w]; float64 never reaches MPS
            out[..., y0 * out_cell : y1 * out_cell, x0 * out_cell : x1 * out_cell] += y * w
    return out
