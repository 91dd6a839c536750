"""A small convolution over the DiT's unpatchified output and its noisy input.

With 4x4 patches one token draws a whole 4x4 block of latent cells (16x16 pixels through the 4x VAE) by one
linear map, and an object of 10-20 pixels always straddles token borders: the blocks on either side of an
edge are drawn by different tokens that agree only through attention. The refiner lets neighbouring cells
of neighbouring tokens, and the noisy cells themselves, shape the edge (U-ViT adds a 3x3 conv after
unpatchify for the same reason). Its last convolution starts at zero, so a model that gains a refiner
computes what it did before until training moves it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OutputRefiner(nn.Module):
    def __init__(self, latent_channels: int, hidden: int, condition_dim: int):
        super().__init__()
        self.conv_in = nn.Conv3d(2 * latent_channels, hidden, kernel_size=3, padding=1)
        self.noise_level = nn.Linear(condition_dim, hidden)  # what the edge should look like depends on sigma
        self.conv_out = nn.Conv3d(hidden, latent_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, out: torch.Tensor, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """out, x [B, C, T, H, W] (the DiT's prediction and the noisy latent); c [B, D] the timestep and
        pooled-text embedding. Returns the refined prediction [B, C, T, H, W]."""
        h = self.conv_in(torch.cat([out, x.to(out.dtype)], dim=1))  # [B, hidden, T, H, W]
        h = h + self.noise_level(c.to(out.dtype))[:, :, None, None, None]
        return out + self.conv_out(F.silu(h))
