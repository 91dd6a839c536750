"""Diffusion transformer over spacetime latent patches (DiT with adaLN-zero + text cross-attention).

The input channels are [x_t, m*z_c, m]: the noisy latent, the known latent of the spacetime
condition and its mask (DESIGN section 3). One network therefore serves text-to-video,
image-to-video, extension, loops and inpainting; an all-zero condition is plain text-to-video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from ..errors import ShapeError
from .attention import attention
from .config import preset
from .grid_position import grid_position_features
from .output_refiner import OutputRefiner
from .rope import apply_rope, rope_frequencies

PREDICTIONS = ("velocity", "data")
MIN_SIGMA = 1e-4  # a data-predicting DiT divides by sigma to return a velocity; samplers never go below


@dataclass(frozen=True)
class DiTConfig:
    latent_channels: int = 8
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (p_t, p_h, p_w) in latent cells
    hidden_size: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    text_dim: int = 384  # all-MiniLM-L6-v2 token states
    rope_theta: float = 10000.0
    # RoPE position of a token = its (t, h, w) index times this. A DiT resized to smaller patches from a
    # trained one (models/patch_resize.py) keeps the offsets it learned: 1x2x2 from 1x4x4 is (1, 0.5, 0.5).
    rope_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    frequency_embedding_size: int = 256
    # Add the masked mean of the text states to the timestep embedding (as SD3 adds pooled CLIP):
    # a direct global path that lets a small model learn colour and motion from fewer steps.
    pooled_text: bool = False
    # What the last layer predicts: "velocity" (noise - x0), or "data" (x0, as JiT): a 4x4x8 patch holds
    # 128 numbers, and predicting the clean patch asks the network to pass none of the noise through.
    # forward() returns the velocity either way, so samplers and the training loss see one convention.
    prediction: str = "velocity"
    # Add learned projections of absolute grid-position features to the tokens (models/grid_position.py):
    # RoPE alone cannot place "near the top left" when x_t is pure noise.
    absolute_position: bool = False
    # Hidden channels of a 3x3x3 convolution over the unpatchified output and x_t (models/output_refiner.py),
    # so cells on either side of a token border can agree on an edge; 0: none.
    output_refiner: int = 0

    def __post_init__(self):
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {self.prediction!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if len(self.patch_size) != 3 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size must be three positive ints (p_t, p_h, p_w), got {self.patch_size}")

    @property
    def in_channels(self) -> int:
        return 2 * self.latent_channels + 1  # [x_t, m*z_c, m]

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def patch_volume(self) -> int:
        return math.prod(self.patch_size)


DIT_PRESETS: dict[str, DiTConfig] = {
    "tiny": DiTConfig(hidden_size=64, depth=2, num_heads=4),  # unit tests
    "shapes": DiTConfig(
        latent_channels=16, hidden_size=256, depth=6, num_heads=4, pooled_text=True
    ),  # the default model v1 (CPU-trained, on the 8x VAE "shapes")
    # default model v2: the 4x VAE "shapes4" (8 channels, 16x16 cells at 64x64) cut into 4x4 patches,
    # so a 64x64x17 clip is still 80 tokens, each carrying twice v1's numbers
    "shapes4": DiTConfig(
        latent_channels=8, patch_size=(1, 4, 4), hidden_size=256, depth=6, num_heads=4, pooled_text=True
    ),
    # default model v3: v2 plus absolute grid-position features (docs/dit_experiments.md: on the overfit
    # gate, motion 13 -> 67 % and shape 39 -> 69 % of a 70 / 70 ceiling at equal CPU minutes)
    "shapes4-pos": DiTConfig(
        latent_channels=8,
        patch_size=(1, 4, 4),
        hidden_size=256,
        depth=6,
        num_heads=4,
        pooled_text=True,
        absolute_position=True,
    ),
    "S": DiTConfig(hidden_size=384, depth=12, num_heads=6),
    "B": DiTConfig(hidden_size=768, depth=12, num_heads=12),
    "L": DiTConfig(hidden_size=1024, depth=24, num_heads=16),
    "XL": DiTConfig(hidden_size=1152, depth=28, num_heads=16),
}


def dit_preset(name: str) -> DiTConfig:
    return preset(DIT_PRESETS, name, "DiT")


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]  # x [B, N, D], shift/scale [B, D]


def timestep_embedding(sigma: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of sigma*1000 (so the flow time has the resolution of DDPM steps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=sigma.device, dtype=torch.float32) / half)
    args = sigma.float()[:, None] * 1000.0 * freqs[None]  # [B, half]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # [B, dim]


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size: int, frequency_size: int):
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(nn.Linear(frequency_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(sigma, self.frequency_size).to(self.mlp[0].weight.dtype))


class Attention(nn.Module):
    """Multi-head attention with RMS-normalised q/k (stable at large token counts) and optional RoPE."""

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.q_norm = nn.RMSNorm(dim // num_heads, eps=1e-6)
        self.k_norm = nn.RMSNorm(dim // num_heads, eps=1e-6)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, context=None, *, key_mask=None, rope=None, backend="auto", ulysses=None):
        """`ulysses` (self-attention only): x is this rank's slice of the tokens, and attention runs over all of
        them for a share of the heads between two all_to_all swaps (sora_nodes/parallel/ulysses.py)."""
        context = x if context is None else context
        q = self.q(x).unflatten(-1, (self.num_heads, -1)).transpose(1, 2)  # [B, H, N, Dh]
        k, v = self.kv(context).unflatten(-1, (2, self.num_heads, -1)).permute(2, 0, 3, 1, 4)  # [B, H, L, Dh] each
        # normalised in fp32: under autocast q/k are bf16 while the norm weights stay fp32
        q, k = self.q_norm(q.float()).type_as(v), self.k_norm(k.float()).type_as(v)
        if ulysses is not None:
            q, k, v = ulysses.seq_to_heads(q, k, v)  # [B, H/P, N, Dh]: every token, this rank's heads
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = attention(q, k, v, key_mask=key_mask, backend=backend)  # [B, H, N, Dh]
        if ulysses is not None:
            out = ulysses.heads_to_seq(out)  # back to [B, H, N/P, Dh]
        return self.proj(out.transpose(1, 2).flatten(2))


class DiTBlock(nn.Module):
    """adaLN-zero self-attention and MLP around an (unmodulated) text cross-attention, as in PixArt."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        d = config.hidden_size
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.self_attn = Attention(d, config.num_heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.cross_attn = Attention(d, config.num_heads, context_dim=d)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * config.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, c, context, context_mask, rope, backend, ulysses=None):
        shift_sa, scale_sa, gate_sa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + gate_sa[:, None] * self.self_attn(
            modulate(self.norm1(x), shift_sa, scale_sa), rope=rope, backend=backend, ulysses=ulysses
        )
        x = x + self.cross_attn(self.norm2(x), context, key_mask=context_mask, backend=backend)
        x = x + gate_mlp[:, None] * self.mlp(modulate(self.norm3(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, config: DiTConfig):
        super().__init__()
        d = config.hidden_size
        self.norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, config.patch_volume * config.latent_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


def patchify(x: torch.Tensor, patch: tuple[int, int, int]) -> torch.Tensor:
    """[B, C, T, H, W] -> tokens [B, T/pt * H/ph * W/pw, C*pt*ph*pw], ordered t, h, w."""
    b, c, t, h, w = x.shape
    pt, ph, pw = patch
    x = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, (t // pt) * (h // ph) * (w // pw), c * pt * ph * pw)


def unpatchify(
    tokens: torch.Tensor, grid: tuple[int, int, int], patch: tuple[int, int, int], channels: int
) -> torch.Tensor:
    """Inverse of `patchify`: [B, N, C*pt*ph*pw] -> [B, C, T, H, W] for a token grid (T/pt, H/ph, W/pw)."""
    gt, gh, gw = grid
    pt, ph, pw = patch
    b = tokens.shape[0]
    x = tokens.reshape(b, gt, gh, gw, channels, pt, ph, pw)
    return x.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, channels, gt * pt, gh * ph, gw * pw)


def token_grid(latent_shape: tuple[int, int, int], patch: tuple[int, int, int]) -> tuple[int, int, int]:
    """Token grid for a latent (T', H', W') cut into patches; raises ShapeError naming the sizes that work."""
    grid = []
    for axis, size, p in zip(("frames", "height", "width"), latent_shape, patch, strict=True):
        if size < 1 or size % p:
            lower, upper = max(p, size // p * p), (size // p + 1) * p
            raise ShapeError(
                f"latent {axis} {size} is not divisible by the DiT patch size {p} on that axis; "
                f"use a latent {axis} of {lower} or {upper}"
            )
        grid.append(size // p)
    return tuple(grid)


class PatchTransformer(nn.Module):
    """What every diffusion transformer here (ours, Wan's) shares: a config with a patch size, and the token
    grid a latent makes with it."""

    def token_grid(self, latent_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        return token_grid(latent_shape, self.config.patch_size)


class DiT(PatchTransformer):
    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        # Recompute each block's activations in the backward pass: memory per block instead of per
        # network, for long clips in training. A runtime switch, not config: it changes no numbers.
        self.gradient_checkpointing = False
        d = config.hidden_size
        self.patch_embed = nn.Linear(config.in_channels * config.patch_volume, d)
        self.t_embedder = TimestepEmbedder(d, config.frequency_embedding_size)
        self.text_proj = nn.Sequential(nn.Linear(config.text_dim, d), nn.GELU(approximate="tanh"), nn.Linear(d, d))
        if config.pooled_text:
            self.pooled_proj = nn.Sequential(nn.Linear(config.text_dim, d), nn.SiLU(), nn.Linear(d, d))
        if config.absolute_position:
            self.position_proj = nn.Linear(grid_position_features((1, 1, 1)).shape[-1], d)
        self.blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.final_layer = FinalLayer(config)
        self.initialize_weights()
        if config.output_refiner:  # after initialize_weights: it keeps its own (zero-output) initialisation
            self.refiner = OutputRefiner(config.latent_channels, config.output_refiner, d)

    def initialize_weights(self):
        def basic_init(module):
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

        self.apply(basic_init)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        # adaLN-zero: every residual branch and the output start at zero, so the untrained
        # network is the identity on its tokens and training begins from a stable point.
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
            nn.init.zeros_(block.cross_attn.proj.weight)
            nn.init.zeros_(block.cross_attn.proj.bias)
        for layer in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor,
        condition: torch.Tensor | None = None,
        *,
        attention_backend: str = "auto",
        parallel=None,
    ) -> torch.Tensor:
        """Velocity for noisy latents.

        x [B, C, T, H, W]; sigma [B] in [0, 1]; context [B, L, text_dim] text token states with
        context_mask [B, L] (True = real token); condition [B, C+1, T, H, W] = [m*z_c, m] or None
        for no known content. `parallel`: a `sora_nodes.parallel.ulysses.Ulysses` to spread the tokens over its
        ranks (every rank passes the same inputs and gets the whole output). Returns [B, C, T, H, W].
        """
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.latent_channels:
            raise ShapeError(f"DiT expects latents [B, {cfg.latent_channels}, T, H, W], got {tuple(x.shape)}")
        b, _, t, h, w = x.shape
        grid = self.token_grid((t, h, w))
        if condition is None:
            condition = x.new_zeros(b, cfg.latent_channels + 1, t, h, w)
        elif condition.shape != (b, cfg.latent_channels + 1, t, h, w):
            raise ShapeError(
                f"spacetime condition must be [B, C+1, T, H, W] = {(b, cfg.latent_channels + 1, t, h, w)}, "
                f"got {tuple(condition.shape)}"
            )
        if context.ndim != 3 or context.shape[0] != b or context.shape[2] != cfg.text_dim:
            raise ShapeError(
                f"text context must be [{b}, L, {cfg.text_dim}], got {tuple(context.shape)}; "
                f"was the checkpoint trained with a different text encoder?"
            )
        if context_mask.shape != context.shape[:2]:
            raise ShapeError(f"context_mask must be {tuple(context.shape[:2])}, got {tuple(context_mask.shape)}")
        sigma = sigma.reshape(-1).expand(b) if sigma.numel() in (1, b) else sigma
        if sigma.shape != (b,):
            raise ShapeError(f"sigma must be a scalar or [B={b}], got {tuple(sigma.shape)}")

        dtype = self.patch_embed.weight.dtype
        tokens = self.patch_embed(patchify(torch.cat([x, condition], dim=1).to(dtype), cfg.patch_size))  # [B, N, D]
        if cfg.absolute_position:
            tokens = tokens + self.position_proj(grid_position_features(grid, device=x.device).to(dtype))  # [N, D]
        c = self.t_embedder(sigma)  # [B, D]
        if cfg.pooled_text:
            keep = context_mask.to(dtype)[..., None]  # [B, L, 1]
            pooled = (context.to(dtype) * keep).sum(1) / keep.sum(1).clamp_min(1)  # [B, text_dim]
            c = c + self.pooled_proj(pooled)
        ctx = self.text_proj(context.to(dtype))  # [B, L, D]
        rope = rope_frequencies(grid, cfg.head_dim, theta=cfg.rope_theta, scale=cfg.rope_scale, device=x.device)
        if parallel is not None:  # Ulysses: this rank keeps N/P tokens until the last layer
            parallel.check(cfg.num_heads, tokens.shape[1])
            tokens = parallel.shard(tokens)
        for block in self.blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                tokens = checkpoint(
                    block, tokens, c, ctx, context_mask, rope, attention_backend, parallel, use_reentrant=False
                )
            else:
                tokens = block(tokens, c, ctx, context_mask, rope, attention_backend, parallel)
        out = self.final_layer(tokens, c)  # [B, N, C*pt*ph*pw] (N/P under Ulysses)
        if parallel is not None:
            out = parallel.gather(out)
        out = unpatchify(out, grid, cfg.patch_size, cfg.latent_channels)  # [B, C, T, H, W]
        if cfg.output_refiner:
            out = self.refiner(out, x, c)
        out = out.float()
        if cfg.prediction == "data":  # v = (x_t - x0_hat) / sigma, so x_t - sigma * v gives back x0_hat
            out = (x.float() - out) / sigma.float().clamp_min(MIN_SIGMA).view(-1, 1, 1, 1, 1)
        return out.to(x.dtype)
