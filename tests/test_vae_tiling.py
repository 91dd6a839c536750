"""Spatial tiling of the video VAE: exact when one tile fits, close and seamless otherwise, every pixel
weighted once, memory bounded in frame size, clear errors."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from vae_memory import LargestActivation, decode_peaks

from sora_nodes.errors import ShapeError
from sora_nodes.models.vae import VAE_PRESETS, VideoVAE
from sora_nodes.models.vae_tiling import blend_weights, check_tiling, run_tiled, tile_spans

KS = 4  # the tiny preset's spatial factor
# Tiled vs untiled mean abs error, relative to the output's std. Measured with tile 16 / overlap 8
# cells on seeds 0-2: 0.035-0.047 decoding, 0.056-0.057 encoding. What is left comes from the random
# network's reach (about 13 latent cells of conv halo, plus attention over the whole frame) being
# wider than the overlap. A misplaced or double-weighted tile costs about 1x the std.
REL_TOL = 0.1


@pytest.fixture(scope="module")
def vae() -> VideoVAE:
    torch.manual_seed(0)
    return VideoVAE(VAE_PRESETS["tiny"]).eval()


def clip(frames: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, frames, h, w, generator=g) * 2 - 1  # [B, 3, T, H, W] in [-1, 1]


def latent(frames: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 4, frames, h, w, generator=torch.Generator().manual_seed(seed))


def rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out - ref).abs().mean() / ref.std()).item()


@torch.inference_mode()
def test_frame_that_fits_one_tile_is_bit_identical(vae):
    z = latent(3, 6, 10)
    for tile in (10, 64):
        assert torch.equal(vae.decode(z, tile=tile, tile_overlap=2), vae.decode(z))
    video = clip(5, 24, 40)
    for a, b in zip(vae.encode_moments(video, tile=40), vae.encode_moments(video), strict=True):
        assert torch.equal(a, b)


@torch.inference_mode()
def test_tiled_decode_is_close_and_blends_its_seams(vae):
    """One row of three 16-cell tiles overlapping by 8. Against a hard cut of the same tiles at the
    middle of each overlap, the blend must remove most of the jump at the cut."""
    z = latent(2, 4, 32)
    ref = vae.decode(z)
    out = vae.decode(z, tile=16, tile_overlap=8)
    assert out.shape == ref.shape
    assert rel_error(out, ref) < REL_TOL

    spans = tile_spans(32, 16, 8)
    assert len(spans) == 3
    cuts = [0] + [KS * (spans[i + 1][0] + spans[i][1]) // 2 for i in range(len(spans) - 1)] + [32 * KS]
    hard = torch.empty_like(ref)
    for (a, b), c0, c1 in zip(spans, cuts[:-1], cuts[1:], strict=True):
        hard[..., c0:c1] = vae.decode(z[..., a:b])[..., c0 - a * KS : c1 - a * KS]

    def seam_jump(x: torch.Tensor) -> tuple[float, float]:
        """Mean |step| of the error across each cut, and that over its median across all columns."""
        steps = (x - ref).diff(dim=-1).abs().mean(dim=(0, 1, 2, 3))  # [W - 1]
        at_cuts = steps[[c - 1 for c in cuts[1:-1]]].mean()
        return at_cuts.item(), (at_cuts / steps.median()).item()

    blend, _ = seam_jump(out)
    hard_jump, hard_spike = seam_jump(hard)
    # the tiles disagree enough that a hard cut shows as a line (measured spike 1.9-2.6) ...
    assert hard_spike > 1.5
    # ... which the ramp mostly removes (measured 0.53-0.59 of the hard cut's jump)
    assert blend < 0.75 * hard_jump, f"seam jump {blend:.4f} vs hard cut {hard_jump:.4f}"


@pytest.mark.parametrize("h, w", [(18, 32), (32, 18)], ids=["16:9", "9:16"])
@torch.inference_mode()
def test_non_square_sizes_not_divisible_by_the_tile(vae, h, w):
    """18 cells do not split into 16-cell tiles at stride 8: the second tile is moved back, not cut."""
    z = latent(2, h, w, seed=1)
    ref = vae.decode(z)
    out = vae.decode(z, tile=16, tile_overlap=8)
    assert out.shape == (1, 3, 5, KS * h, KS * w)
    assert rel_error(out, ref) < REL_TOL

    video = clip(5, KS * h, KS * w, seed=1)
    ref = vae.encode(video)
    out = vae.encode(video, tile=16 * KS, tile_overlap=8 * KS)
    assert out.shape == ref.shape == (1, 4, 2, h, w)
    assert rel_error(out, ref) < REL_TOL


@pytest.mark.parametrize(
    "size, tile, overlap",
    [(18, 16, 8), (32, 16, 8), (21, 8, 2), (100, 7, 3), (9, 4, 0), (30, 5, 4), (16, 16, 4), (5, 16, 4)],
)
def test_tiles_are_full_size_inside_the_frame_and_fewest(size, tile, overlap):
    spans = tile_spans(size, tile, overlap)
    length = min(tile, size)
    assert spans[0][0] == 0 and spans[-1][1] == size
    assert all(b - a == length and 0 <= a < b <= size for a, b in spans)
    assert all(b0 - a1 >= overlap for (_, b0), (a1, _) in pairwise(spans))  # each shared part
    # one tile fewer could not cover the frame with the requested overlap
    assert len(spans) == 1 or tile + (len(spans) - 2) * (tile - overlap) < size


@pytest.mark.parametrize(
    "size, tile, overlap",
    [(72, 64, 32), (128, 64, 32), (84, 32, 8), (400, 28, 12), (36, 16, 0), (120, 20, 16)],
)
def test_blend_weights_sum_to_one_and_ramp_smoothly(size, tile, overlap):
    spans = tile_spans(size, tile, overlap)
    weights = blend_weights(spans)
    total = torch.zeros(size, dtype=torch.float64)
    for (a, b), w in zip(spans, weights, strict=True):
        assert w.shape == (b - a,) and (w > 0).all() and (w <= 1).all()
        total[a:b] += w
    torch.testing.assert_close(total, torch.ones(size, dtype=torch.float64), atol=1e-12, rtol=0)
    # no fade where the frame ends, so borders keep full weight
    assert weights[0][0] == 1 and weights[-1][-1] == 1
    if 2 * (tile - overlap) >= tile:  # at most two tiles meet: a linear ramp as wide as the overlap
        steps = torch.cat([w.diff().abs() for w in weights])
        assert steps.max() <= 1 / (overlap + 1) + 1e-12


@pytest.mark.parametrize("tile, overlap", [(4, 1), (5, 3), (6, 0), (32, 4)])
def test_every_pixel_is_weighted_exactly_once(tile, overlap):
    """With a function that acts on each cell alone, tiling must give exactly the untiled result:
    an uncovered pixel would be 0, a doubly weighted one twice too large."""
    x = torch.randn(2, 3, 4, 9, 14, generator=torch.Generator().manual_seed(0))  # [B, C, T, H, W] cells

    def upsample(t: torch.Tensor) -> torch.Tensor:  # decoder-like: one cell -> KS x KS pixels
        return t.repeat_interleave(KS, dim=-2).repeat_interleave(KS, dim=-1)

    out = run_tiled(upsample, x, tile, overlap, out_cell=KS)
    torch.testing.assert_close(out, upsample(x), atol=1e-6, rtol=0)

    pixels = upsample(x)

    def pool(t: torch.Tensor) -> torch.Tensor:  # encoder-like: KS x KS pixels -> one cell
        return F.avg_pool3d(t, (1, KS, KS))

    torch.testing.assert_close(run_tiled(pool, pixels, tile, overlap, in_cell=KS), x, atol=1e-6, rtol=0)


@torch.inference_mode()
def test_tiled_largest_activation_does_not_grow_with_frame_size(vae):
    """Every module output is recorded; a frame of 4x the area must not need bigger tensors."""
    with LargestActivation([*vae.encoder.modules(), *vae.decoder.modules()]) as largest:
        peak = largest.peak
        small, large = latent(2, 8, 8), latent(2, 16, 16)
        assert peak(lambda: vae.decode(large, tile=8)) == peak(lambda: vae.decode(small, tile=8))
        # untiled does grow, so the comparison above would catch tiling that is ignored
        assert peak(lambda: vae.decode(large)) == 4 * peak(lambda: vae.decode(small))

        small, large = clip(5, 32, 32), clip(5, 64, 64)
        assert peak(lambda: vae.encode(large, tile=32)) == peak(lambda: vae.encode(small, tile=32))
        assert peak(lambda: vae.encode(large)) == 4 * peak(lambda: vae.encode(small))


def test_tiled_decode_peak_memory_is_flat_in_frame_size():
    """Decoding 256x256 instead of 128x128 in 64-pixel tiles must not raise the decode's peak
    memory by more than the bigger output. 16 base channels: one full-resolution activation of the
    untiled decode alone grows by 3 MiB (and the whole untiled decode by ~100 MiB, measured)."""
    r = decode_peaks(
        [
            ("warmup", 1, 32, None, 16),
            ("small", 1, 32, None, 16),
            ("large", 1, 64, None, 16),
            ("untiled", 1, 64, None, None),
        ]
    )
    mib = 2**20
    extra_pixels = 256 * 256 - 128 * 128
    output_growth = 3 * extra_pixels * 4  # one float32 RGB frame: 0.56 MiB
    one_activation = 16 * extra_pixels * 4  # one full-resolution activation: 3 MiB
    untiled_growth = r["untiled"] - r["small"]  # the large frame decoded whole: ~140 MiB measured
    growth = r["large"] - r["small"]  # the large frame in tiles: ~1-3 MiB measured (allocator noise)
    assert untiled_growth > 10 * one_activation, "the meter must see what untiled decoding costs"
    assert growth < output_growth + untiled_growth / 10, (
        f"tiled peak memory grew {growth / mib:.1f} MiB for a 4x larger frame; the output grew "
        f"{output_growth / mib:.1f} MiB, untiled decoding grew {untiled_growth / mib:.1f} MiB"
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tile=1), r"tile must be at least 2 latent cells, got 1"),
        (dict(tile=0), r"at least 2 latent cells"),
        (dict(tile=8.0), r"tile must be an int \(latent cells\), got 8.0"),
        (dict(tile=True), r"tile must be an int"),
        (dict(tile="8"), r"tile must be an int"),
        (dict(tile=8, tile_overlap=8), r"tile_overlap must be in 0 \.\. tile - 1 = 7 latent cells, got 8"),
        (dict(tile=8, tile_overlap=-1), r"tile_overlap must be in 0 \.\. .*got -1"),
        (dict(tile=8, tile_overlap=1.5), r"tile_overlap must be an int"),
        (dict(tile_overlap=2), r"tile_overlap=2 needs a tile size"),
    ],
)
def test_bad_decode_tiles_give_clear_errors(vae, kwargs, match):
    with pytest.raises(ShapeError, match=match):
        vae.decode(latent(2, 8, 8), **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tile=30), r"tile 30 is not a multiple of the VAE's spatial factor 4; use 28 or 32 \(pixels\)"),
        (dict(tile=4), r"tile must be at least 8 pixels \(2 latent cells\), got 4"),
        (dict(tile=32, tile_overlap=6), r"tile_overlap 6 is not a multiple .* use 4 or 8"),
        (dict(tile=32, tile_overlap=32), r"tile_overlap must be in 0 \.\. tile - 4 = 28 pixels, got 32"),
    ],
)
def test_bad_encode_tiles_give_clear_errors(vae, kwargs, match):
    with pytest.raises(ShapeError, match=match):
        vae.encode(clip(5, 32, 32), **kwargs)


def test_default_overlap_is_a_quarter_of_the_tile():
    assert check_tiling(32, None, cell=1, unit="latent cells") == (32, 8)
    assert check_tiling(256, None, cell=8, unit="pixels") == (32, 8)
    assert check_tiling(None, None, cell=8, unit="pixels") is None
