"""Live previews while sampling: a linear latent -> RGB projection, fitted once per VAE.

Decoding every step with the VAE would cost as much as a DiT step, so the preview maps each
latent cell's channels straight to a colour. The map is fitted by least squares on a few clips
of the procedural world: encode them, and regress each cell's mean pixel colour on its latent.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
import torch.nn.functional as F

from ..models.vae import VideoVAE

FIT_CLIPS = 8
_fitted: weakref.WeakKeyDictionary[VideoVAE, torch.Tensor] = weakref.WeakKeyDictionary()


def fit_latent_rgb(vae: VideoVAE, *, clips: int = FIT_CLIPS, size: int = 64) -> torch.Tensor:
    """Least-squares map [C + 1, 3] from a normalised latent cell (plus a bias) to its RGB in 0..1."""
    from ..world.clip import make_clip

    ks, kt = vae.config.spatial_factor, vae.config.temporal_factor
    size = max(size, 2 * ks) // ks * ks
    device = next(vae.parameters()).device
    rows, targets = [], []
    for seed in range(clips):
        pixels = torch.from_numpy(make_clip(seed, width=size, height=size, frames=1 + kt).frames).float() / 255
        video = pixels.permute(3, 0, 1, 2)[None].to(device) * 2 - 1  # [1, 3, T, H, W]
        with torch.inference_mode():
            latent = vae.encode(video)[0].float().cpu()  # [C, T', H', W']
        # Latent frame t covers pixel frames up to 1 + (t - 1) * kt .. t * kt; take the last one.
        last = [0] + [t * kt for t in range(1, latent.shape[1])]
        colour = F.avg_pool2d(pixels[last].permute(0, 3, 1, 2), ks)  # [T', 3, H', W']
        rows.append(latent.permute(1, 2, 3, 0).reshape(-1, latent.shape[0]))  # [T'H'W', C]
        targets.append(colour.permute(0, 2, 3, 1).reshape(-1, 3))  # [T'H'W', 3]
    a = torch.cat(rows)
    a = torch.cat([a, torch.ones(a.shape[0], 1)], 1)  # [N, C + 1]
    return torch.linalg.lstsq(a.double(), torch.cat(targets).double()).solution.float()  # [C + 1, 3]


def latent_rgb(vae: VideoVAE) -> torch.Tensor:
    """The projection for `vae`, fitted on first use and kept while the VAE lives."""
    if vae not in _fitted:
        _fitted[vae] = fit_latent_rgb(vae)
    return _fitted[vae]


def preview_image(latent: torch.Tensor, projection: torch.Tensor, *, scale: int) -> np.ndarray:
    """The middle latent frame of item 0 of [B, C, T', H', W'] as RGB uint8 [H' * scale, W' * scale, 3];
    `scale` is the VAE's spatial factor, so the preview has the render's size."""
    cells = latent[0, :, latent.shape[2] // 2].float().cpu()  # [C, H', W']
    rgb = torch.einsum("chw,cd->dhw", cells, projection[:-1]) + projection[-1, :, None, None]  # [3, H', W']
    rgb = F.interpolate(rgb[None], scale_factor=scale, mode="bilinear", align_corners=False)[0]
    return (rgb.clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
