"""What every causal video VAE here shares: sizes and input checks, latent statistics, the posterior.

`VideoVAE` (ours) and `WanVAE` (Wan 2.1's) differ in their networks and their chunking rules: each
implements `_encode_chunk` and `_decode_chunk` (one temporal chunk, with the call's cache), and the
walk over the clip, the tiling and the checks are here. The pipeline, tasks, previews and memory
estimate see only this interface. A subclass has `config` with in_channels, latent_channels,
temporal_factor and spatial_factor, and `latent_mean`/`latent_std` buffers of one value per channel.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ShapeError, SoraError
from .causal_conv import Cache
from .latent_format import LatentFormat
from .vae_tiling import check_tiling, run_tiled


def _run_chunked(net: Callable, x: torch.Tensor, step: int, out_frames: int) -> torch.Tensor:
    """Run `net` on frame 0 alone, then on runs of `step` frames, with one cache for the clip."""
    cache: Cache = {}
    out = None
    t = 0
    for a in [0, *range(1, x.shape[2], step)]:
        b = 1 if a == 0 else a + step
        y = net(x[:, :, a:b], cache)  # [B, C_out, frames of this chunk, H_out, W_out]
        if out is None:  # preallocate: a list + cat would hold the whole clip twice
            out = y.new_empty(*y.shape[:2], out_frames, *y.shape[3:])
        out[:, :, t : t + y.shape[2]] = y
        t += y.shape[2]
    return out


class VideoCodec(nn.Module):
    @property
    def latent_format(self) -> LatentFormat:
        """The VAE's latent geometry alone (no DiT patch); a model's own format adds its DiT's patch."""
        c = self.config
        return LatentFormat(c.latent_channels, c.temporal_factor, c.spatial_factor, (1, 1, 1))

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T', H', W') for a clip of this size; raises ShapeError naming the nearest valid sizes."""
        return self.latent_format.latent_shape(frames, height, width)

    def _check_5d(self, x: object, what: str, layout: str, channels: int) -> torch.Tensor:
        """`x` as a float [B, channels, T, H, W] tensor on the weights' device and dtype, or a clear error."""
        if not isinstance(x, torch.Tensor):
            raise ShapeError(f"{what} must be a torch.Tensor {layout}, got {type(x).__name__}")
        if x.ndim != 5:
            hint = "; add a batch dim with x[None]" if x.ndim == 4 else ""
            raise ShapeError(f"{what} must be 5-D {layout}, got shape {tuple(x.shape)}{hint}")
        if x.shape[1] != channels:
            hint = "; it looks channels-last, use x.permute(0, 4, 1, 2, 3)" if x.shape[-1] == channels else ""
            raise ShapeError(
                f"{what} must have {channels} channels in dim 1 {layout}, got shape {tuple(x.shape)}{hint}"
            )
        if not x.is_floating_point():
            raise SoraError(f"{what} must be a float tensor, got {x.dtype}")
        if 0 in x.shape:
            raise ShapeError(f"{what} must not be empty {layout}, got shape {tuple(x.shape)}")
        weight = next(self.parameters())
        return x.to(device=weight.device, dtype=weight.dtype)

    @staticmethod
    def _check_chunk(chunk_frames: int | None, default: int, multiple: int, unit: str) -> int:
        if chunk_frames is None:
            return default
        not_int = isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int)
        if not_int or chunk_frames < 1 or chunk_frames % multiple:
            raise ShapeError(
                f"chunk_frames ({unit} per chunk) must be None or a positive multiple of {multiple} "
                f"({multiple}, {2 * multiple}, {3 * multiple}, ...), got {chunk_frames!r}"
            )
        return chunk_frames

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        mean, std = self.latent_mean.to(z), self.latent_std.to(z)
        return (z - mean[:, None, None, None]) / std[:, None, None, None]

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        mean, std = self.latent_mean.to(z), self.latent_std.to(z)
        return z * std[:, None, None, None] + mean[:, None, None, None]

    def _encode_chunk(self, x: torch.Tensor, cache: Cache) -> torch.Tensor:
        raise NotImplementedError  # [B, 3, T, H, W] -> moments [B, 2C, T', H', W'] of this chunk

    def _decode_chunk(self, z: torch.Tensor, cache: Cache) -> torch.Tensor:
        raise NotImplementedError  # raw latent [B, C, T', H', W'] -> [B, 3, T, H, W] of this chunk

    def _finish_decode(self, video: torch.Tensor) -> torch.Tensor:
        return video

    def encode_moments(
        self,
        video: torch.Tensor,
        *,
        chunk_frames: int | None = None,
        tile: int | None = None,
        tile_overlap: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """video [B, 3, T, H, W] in [-1, 1] -> raw posterior (mean, logvar), each [B, C, T', H', W'].

        chunk_frames: video frames per chunk after the first (a multiple of k_t; default k_t).
        tile (pixels per tile side, a multiple of k_s) encodes large frames in overlapping tiles
        at bounded memory, an approximation; see vae_tiling.py. Default None: untiled."""
        c = self.config
        video = self._check_5d(video, "video", "[B, C, T, H, W]", c.in_channels)
        latent_frames = self.latent_shape(*video.shape[2:])[0]
        step = self._check_chunk(chunk_frames, c.temporal_factor, c.temporal_factor, "video frames")
        tiling = check_tiling(tile, tile_overlap, cell=c.spatial_factor, unit="pixels")

        def run(x: torch.Tensor) -> torch.Tensor:
            return _run_chunked(self._encode_chunk, x, step, latent_frames)

        moments = run(video) if tiling is None else run_tiled(run, video, *tiling, in_cell=c.spatial_factor)
        mean, logvar = moments.chunk(2, dim=1)  # [B, C, T', H', W'] each
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(
        self,
        latent: torch.Tensor,
        *,
        chunk_frames: int | None = None,
        tile: int | None = None,
        tile_overlap: int | None = None,
    ) -> torch.Tensor:
        """normalised latent [B, C, T', H', W'] -> video [B, 3, 1 + k_t(T' - 1), k_s H', k_s W'], about [-1, 1].

        chunk_frames counts latent frames per chunk after the first (default 1). tile (latent
        cells per tile side) decodes large frames in overlapping tiles at bounded memory, an
        approximation; see vae_tiling.py. Default None: untiled."""
        c = self.config
        latent = self._check_5d(latent, "latent", "[B, C, T', H', W']", c.latent_channels)
        step = self._check_chunk(chunk_frames, 1, 1, "latent frames")
        tiling = check_tiling(tile, tile_overlap, cell=1, unit="latent cells")
        frames = self.latent_format.video_size(tuple(latent.shape[2:]))[0]

        def run(z: torch.Tensor) -> torch.Tensor:
            return _run_chunked(self._decode_chunk, z, step, frames)

        z = self.denormalize(latent)
        return self._finish_decode(run(z) if tiling is None else run_tiled(run, z, *tiling, out_cell=c.spatial_factor))

    def encode(
        self,
        video: torch.Tensor,
        *,
        chunk_frames: int | None = None,
        sample: bool = False,
        generator: torch.Generator | None = None,
        tile: int | None = None,
        tile_overlap: int | None = None,
    ) -> torch.Tensor:
        """video [B, 3, T, H, W] in [-1, 1] -> normalised latent [B, C, T', H', W'] (posterior mean
        unless sample=True)."""
        mean, logvar = self.encode_moments(video, chunk_frames=chunk_frames, tile=tile, tile_overlap=tile_overlap)
        z = mean
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + (0.5 * logvar).exp() * noise
        return self.normalize(z)
