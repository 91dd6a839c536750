"""Causal video VAE: shapes, causality, chunked == one-shot, flat memory, latent stats, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from vae_memory import LargestActivation, decode_peaks

from sora_nodes.errors import ShapeError, SoraError
from sora_nodes.models.vae import VAE_PRESETS, VAEConfig, VideoVAE

KT, KS = 4, 4  # the tiny preset's temporal and spatial factors
ATOL = 1e-5


@pytest.fixture(scope="module")
def vae() -> VideoVAE:
    torch.manual_seed(0)
    return VideoVAE(VAE_PRESETS["tiny"]).eval()


def clip(frames: int, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, frames, h, w, generator=g) * 2 - 1  # [B, 3, T, H, W] in [-1, 1]


def latent(frames: int, h: int = 4, w: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 4, frames, h, w, generator=torch.Generator().manual_seed(seed))


def test_preset_factors():
    tiny, small = VAE_PRESETS["tiny"], VAE_PRESETS["small"]
    assert (tiny.temporal_factor, tiny.spatial_factor) == (KT, KS)
    assert (small.temporal_factor, small.spatial_factor) == (4, 8)
    assert 8 <= small.latent_channels <= 16
    assert "base" in VAE_PRESETS
    with pytest.raises(SoraError, match="one flag per spatial halving"):
        VAEConfig(channel_mults=(1, 2, 4), temporal_downsample=(True,))


@pytest.mark.parametrize("frames", [1, 5, 9, 17])
@pytest.mark.parametrize("size", [(16, 16), (32, 56), (56, 32)], ids=["1:1", "16:9", "9:16"])
@torch.inference_mode()
def test_shapes(vae, frames, size):
    h, w = size
    z = vae.encode(clip(frames, h, w))
    expected = (1 + (frames - 1) // KT, h // KS, w // KS)
    assert vae.latent_shape(frames, h, w) == expected
    assert z.shape == (1, 4, *expected)
    assert vae.decode(z).shape == (1, 3, frames, h, w)


@torch.inference_mode()
def test_image_is_a_one_frame_video(vae):
    image = clip(1, 32, 56)
    z = vae.encode(image)
    assert z.shape == (1, 4, 1, 8, 14)
    assert vae.decode(z).shape == image.shape
    # an image alone encodes exactly like the first frame of any clip that starts with it
    video = torch.cat([image, clip(8, 32, 56, seed=1)], dim=2)
    torch.testing.assert_close(vae.encode(video)[:, :, :1], z, atol=ATOL, rtol=0)


@torch.inference_mode()
def test_prefix_encodes_to_latent_prefix(vae):
    video = clip(17)
    full = vae.encode(video)
    for n in range(4):
        prefix = vae.encode(video[:, :, : 1 + n * KT])
        torch.testing.assert_close(prefix, full[:, :, : 1 + n], atol=ATOL, rtol=0)


@pytest.mark.parametrize("first_changed", [1, 4, 5, 12])
@torch.inference_mode()
def test_encoder_is_causal(vae, first_changed):
    video = clip(17)
    edited = video.clone()
    edited[:, :, first_changed:] = clip(17 - first_changed, seed=7)
    a, b = vae.encode(video), vae.encode(edited)
    # latent frame j sees video frames 0 .. j*k_t
    untouched = (first_changed - 1) // KT + 1
    torch.testing.assert_close(b[:, :, :untouched], a[:, :, :untouched], atol=ATOL, rtol=0)
    assert (b[:, :, untouched] - a[:, :, untouched]).abs().max() > 1e-3


@pytest.mark.parametrize("j", [1, 2, 4])
@torch.inference_mode()
def test_decoder_is_causal(vae, j):
    z = latent(5)
    edited = z.clone()
    edited[:, :, j] += 1.0
    a, b = vae.decode(z), vae.decode(edited)
    span = 1 + (j - 1) * KT  # first video frame that latent frame j decodes to
    torch.testing.assert_close(b[:, :, :span], a[:, :, :span], atol=ATOL, rtol=0)
    assert (b[:, :, span : span + KT] - a[:, :, span : span + KT]).abs().amax(dim=(0, 1, 3, 4)).min() > 1e-3


@torch.inference_mode()
def test_chunked_encode_matches_one_shot(vae):
    video = clip(25, 16, 24)
    one_shot = vae.encode(video, chunk_frames=24)
    for chunk in (None, 4, 8, 12, 20):
        torch.testing.assert_close(vae.encode(video, chunk_frames=chunk), one_shot, atol=ATOL, rtol=0)
    _, logvar = vae.encode_moments(video, chunk_frames=8)
    _, ref_logvar = vae.encode_moments(video, chunk_frames=24)
    torch.testing.assert_close(logvar, ref_logvar, atol=ATOL, rtol=0)


@torch.inference_mode()
def test_chunked_decode_matches_one_shot(vae):
    z = latent(7, 4, 6)
    one_shot = vae.decode(z, chunk_frames=6)
    for chunk in (None, 1, 2, 3, 4, 100):
        torch.testing.assert_close(vae.decode(z, chunk_frames=chunk), one_shot, atol=ATOL, rtol=0)


@torch.inference_mode()
def test_chunked_decode_largest_activation_does_not_grow(vae):
    """Every module output is recorded; chunked decode must not need bigger tensors for longer clips."""
    with LargestActivation(vae.decoder.modules()) as largest:

        def peak(frames: int, chunk: int) -> int:
            return largest.peak(lambda: vae.decode(latent(frames), chunk_frames=chunk))

        short, long = 3, 12
        assert peak(long, 1) == peak(short, 1)
        assert peak(long, 2) == peak(short, 2)
        # one-shot does grow, so the comparison above would catch a decoder that ignores chunking
        assert peak(long, long) > 3 * peak(short, short)


def test_chunked_decode_peak_memory_is_flat():
    """A 4x longer clip must not raise the decode's peak memory by more than its output tensor.

    128x128 frames, 16 base channels: one-shot decode of the long clip would hold at least one
    [16, 29, 128, 128] float tensor (29 MiB, and ~10x that in practice); chunked decode keeps only
    a few frames' activations and the growing output tensor (3 channels).
    """
    r = decode_peaks(
        [("warmup", 2, 32, 1, None), ("short", 2, 32, 1, None), ("long", 8, 32, 1, None), ("one_shot", 8, 32, 8, None)]
    )
    mib = 2**20
    plane_bytes = 128 * 128 * 4  # bytes per float32 plane
    extra_frames = r["long_frames"] - r["short_frames"]  # 24
    output_growth = 3 * extra_frames * plane_bytes  # 4.5 MiB
    one_activation = 16 * extra_frames * plane_bytes  # one full-res activation of the extra frames: 24 MiB
    one_shot_growth = r["one_shot"] - r["short"]  # the long clip decoded in one pass: ~215 MiB measured
    growth = r["long"] - r["short"]  # the long clip decoded in chunks: ~7 MiB measured
    assert one_shot_growth > 4 * one_activation, "the meter must see what one-shot decoding costs"
    assert growth < output_growth + one_shot_growth / 10, (
        f"peak memory grew {growth / mib:.1f} MiB for {extra_frames} more frames; output grew "
        f"{output_growth / mib:.1f} MiB, one-shot decoding grew {one_shot_growth / mib:.1f} MiB"
    )


def test_latent_stats_round_trip_and_effect():
    torch.manual_seed(0)
    vae = VideoVAE(VAE_PRESETS["tiny"]).eval()
    video = clip(5)
    with torch.inference_mode():
        raw = vae.encode(video)  # default stats (0, 1): normalised == raw posterior mean
        torch.testing.assert_close(raw, vae.encode_moments(video)[0])
        decoded_raw = vae.decode(raw)

        mean, std = torch.tensor([0.5, -1.0, 2.0, 0.0]), torch.tensor([2.0, 0.5, 1.0, 4.0])
        vae.set_latent_stats(mean, std)
        z = vae.encode(video)
        torch.testing.assert_close(z, (raw - mean[:, None, None, None]) / std[:, None, None, None])
        torch.testing.assert_close(vae.denormalize(vae.normalize(raw)), raw)
        # decode undoes the normalisation, so the pixels do not depend on the stats
        torch.testing.assert_close(vae.decode(z), decoded_raw, atol=ATOL, rtol=0)

    state = vae.state_dict()
    torch.testing.assert_close(state["latent_mean"], mean)
    torch.testing.assert_close(state["latent_std"], std)
    fresh = VideoVAE(VAE_PRESETS["tiny"])
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.latent_std, std)

    with pytest.raises(ShapeError, match=r"shape \[4\]"):
        vae.set_latent_stats(torch.zeros(3), torch.ones(3))
    with pytest.raises(SoraError, match="std must be > 0"):
        vae.set_latent_stats(torch.zeros(4), torch.tensor([1.0, 0.0, 1.0, 1.0]))


@torch.inference_mode()
def test_sampling_uses_generator(vae):
    video = clip(5)
    a = vae.encode(video, sample=True, generator=torch.Generator().manual_seed(1))
    b = vae.encode(video, sample=True, generator=torch.Generator().manual_seed(1))
    c = vae.encode(video, sample=True, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a, vae.encode(video))


def test_training_step_reaches_every_parameter():
    torch.manual_seed(0)
    vae = VideoVAE(VAE_PRESETS["tiny"])
    video = clip(5)
    mean, logvar = vae.encode_moments(video, chunk_frames=4)
    recon = vae.decode(mean, chunk_frames=1)
    loss = (recon - video).square().mean() + 1e-3 * (mean.square() + logvar.exp() - logvar).mean()
    loss.backward()
    missing = [n for n, p in vae.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reached {missing}"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda v: v.encode(torch.zeros(3, 5, 16, 16)), r"5-D .*add a batch dim"),
        (lambda v: v.encode(torch.zeros(1, 4, 5, 16, 16)), r"3 channels in dim 1"),
        (lambda v: v.encode(torch.zeros(1, 5, 16, 16, 3)), r"channels-last"),
        (
            lambda v: v.encode(torch.zeros(1, 3, 8, 16, 16)),
            r"frames must be 1 \+ k\*4 \(1, 5, 9, \.\.\.\) for this model; got 8, try 5 or 9",
        ),
        (
            lambda v: v.encode(torch.zeros(1, 3, 5, 30, 16)),
            r"height must be a multiple of 4 \(VAE factor 4\); got 30, try 28 or 32",
        ),
        (lambda v: v.encode(torch.zeros(1, 3, 5, 16, 18)), r"width must be .*; got 18, try 16 or 20"),
        (lambda v: v.encode(torch.zeros(1, 3, 5, 2, 16)), r"height must be a multiple of 4 .*; got 2, try 4"),
        (lambda v: v.encode(torch.zeros(1, 3, 9, 16, 16), chunk_frames=6), r"chunk_frames .* multiple of 4 \(4, 8, 12"),
        (lambda v: v.decode(torch.zeros(1, 4, 3, 4, 4), chunk_frames=0), r"chunk_frames .* positive"),
        (lambda v: v.decode(torch.zeros(1, 8, 3, 4, 4)), r"latent must have 4 channels"),
        (lambda v: v.decode(torch.zeros(1, 4, 0, 4, 4)), r"must not be empty"),
        (lambda v: v.latent_shape(0, 16, 16), r"got 0, try 1"),
    ],
)
def test_bad_input_gives_clear_error(vae, call, match):
    with pytest.raises(ShapeError, match=match):
        call(vae)


def test_integer_video_is_rejected(vae):
    with pytest.raises(SoraError, match="float tensor"):
        vae.encode(torch.zeros(1, 3, 5, 16, 16, dtype=torch.uint8))


def test_patch_size_folds_pixels_and_keeps_shapes_and_causality():
    from sora_nodes.models.vae import depth_to_space, space_to_depth

    x = torch.randn(2, 3, 5, 8, 12)
    assert space_to_depth(x, 2).shape == (2, 12, 5, 4, 6)
    torch.testing.assert_close(depth_to_space(space_to_depth(x, 2), 2), x)
    cfg = VAEConfig(latent_channels=4, base_channels=8, channel_mults=(1, 2), temporal_downsample=(True,), patch_size=2)
    assert cfg.spatial_factor == 4
    torch.manual_seed(0)
    vae = VideoVAE(cfg).eval()
    video = torch.rand(1, 3, 5, 16, 24) * 2 - 1
    with torch.no_grad():
        z = vae.encode(video)
        assert z.shape == (1, 4, 3, 4, 6) and vae.decode(z).shape == video.shape
        changed = video.clone()
        changed[:, :, -1] = 0  # a change in the last frame must not reach earlier latents
        torch.testing.assert_close(vae.encode(changed)[:, :, :2], z[:, :, :2])


def test_a_stage_can_keep_its_resolution_so_space_and_time_compress_4x_each():
    shapes4 = VAE_PRESETS["shapes4"]
    assert (shapes4.temporal_factor, shapes4.spatial_factor) == (4, 4)
    cfg = dataclasses.replace(shapes4, latent_channels=4, base_channels=8, num_res_blocks=2)  # shapes4, smaller
    assert (cfg.temporal_factor, cfg.spatial_factor) == (4, 4)
    torch.manual_seed(0)
    vae = VideoVAE(cfg).eval()
    video = clip(9, 16, 24)
    with torch.no_grad():
        z = vae.encode(video)
        assert z.shape == (1, 4, 3, 4, 6) and vae.decode(z).shape == video.shape
        torch.testing.assert_close(vae.encode(video, chunk_frames=8), z, atol=ATOL, rtol=0)
        changed = video.clone()
        changed[:, :, 5:] = 0  # frames 5.. belong to the last latent frame only
        torch.testing.assert_close(vae.encode(changed)[:, :, :2], z[:, :, :2], atol=ATOL, rtol=0)
    with pytest.raises(SoraError, match="spatial_downsample needs one flag per stage transition"):
        VAEConfig(channel_mults=(1, 2, 4), temporal_downsample=(True, True), spatial_downsample=(True,))
