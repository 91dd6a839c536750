"""What every causal video VAE here shares: sizes and input checks, latent statistics, the posterior.

`VideoVAE` (ours) and `WanVAE` (Wan 2.1's) differ in their networks and their chunking rules and
implement `encode_moments` and `decode`; the pipeline, tasks, previews and memory estimate see only
this interface. A subclass has `config` with latent_channels, temporal_factor and spatial_factor,
and `latent_mean`/`latent_std` buffers of one value per latent channel.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ShapeError, SoraError


class VideoCodec(nn.Module):
    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T', H', W') for a clip of this size; raises ShapeError naming the nearest valid sizes."""
        kt, ks = self.config.temporal_factor, self.config.spatial_factor
        if frames < 1 or (frames - 1) % kt:
            lo = max(1, frames - (frames - 1) % kt)
            near = f"use {lo} or {lo + kt}" if frames > 1 else "use 1"
            raise ShapeError(f"frames must be 1 + k*{kt} (1, {1 + kt}, {1 + 2 * kt}, ...), got {frames}; {near}")
        for name, size in (("height", height), ("width", width)):
            if size < ks:
                raise ShapeError(f"{name} {size} is below the VAE's spatial factor {ks}; use a multiple of {ks}")
            if size % ks:
                lo = size - size % ks
                raise ShapeError(
                    f"{name} {size} is not divisible by the VAE's spatial factor {ks}; use {lo} or {lo + ks}"
                )
        return 1 + (frames - 1) // kt, height // ks, width // ks

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

    def encode_moments(self, video: torch.Tensor, **options) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

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
