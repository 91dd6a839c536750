"""Causal video VAE: compresses [B, 3, T, H, W] to [B, C, 1 + (T-1)/k_t, H/k_s, W/k_s].

Frame 0 is encoded alone (so an image is a 1-frame video), then every k_t frames become one latent
frame. Nothing mixes information backwards in time: convs pad time on the left only, norms are
per position, attention is per frame. That makes the model chunkable: encode and decode walk the
clip in temporal chunks with a carried per-call cache (see causal_conv.py), give the same numbers
as one pass, and use memory that does not grow with clip length. Design after Wan 2.1's VAE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError, SoraError
from .causal_conv import Cache, CausalConv3d, Conv3d
from .video_codec import VideoCodec


@dataclass(frozen=True)
class VAEConfig:
    in_channels: int = 3
    latent_channels: int = 8
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 4)  # len - 1 spatial halvings
    temporal_downsample: tuple[bool, ...] = (True, True)  # per stage transition: is time halved
    # per stage transition: is space halved (None: always). False keeps a stage at the resolution of
    # the one before, so time can be compressed 4x while space is compressed only 4x, not 8x.
    spatial_downsample: tuple[bool, ...] | None = None
    num_res_blocks: int = 2
    mid_attention: bool = True  # per-frame spatial self-attention at the lowest resolution
    patch_size: int = 1  # pixels folded into channels (p x p) before the first conv: cheap full-resolution stage

    def __post_init__(self):
        if len(self.temporal_downsample) != len(self.channel_mults) - 1:
            raise SoraError(
                f"VAEConfig.temporal_downsample needs one flag per spatial halving, i.e. "
                f"len(channel_mults) - 1 = {len(self.channel_mults) - 1}, got {len(self.temporal_downsample)}"
            )
        if self.spatial_downsample is not None and len(self.spatial_downsample) != len(self.channel_mults) - 1:
            raise SoraError(
                f"VAEConfig.spatial_downsample needs one flag per stage transition, i.e. "
                f"len(channel_mults) - 1 = {len(self.channel_mults) - 1}, got {len(self.spatial_downsample)}"
            )
        for name in ("in_channels", "latent_channels", "base_channels", "num_res_blocks", "patch_size"):
            if getattr(self, name) < 1:
                raise SoraError(f"VAEConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise SoraError(f"VAEConfig.channel_mults must be non-empty positive ints, got {self.channel_mults}")

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(bool(t) for t in self.temporal_downsample)

    @property
    def spatial_halvings(self) -> tuple[bool, ...]:
        return self.spatial_downsample or (True,) * (len(self.channel_mults) - 1)

    @property
    def spatial_factor(self) -> int:
        return self.patch_size * 2 ** sum(self.spatial_halvings)


VAE_PRESETS: dict[str, VAEConfig] = {
    # unit tests: k_s 4, k_t 4, 0.5 M parameters
    "tiny": VAEConfig(latent_channels=4, base_channels=8, channel_mults=(1, 2, 4), num_res_blocks=1),
    # the shipped default model on a 2-core CPU (10.6 M parameters): 17x64x64 -> 5x8x8 latent
    "small": VAEConfig(
        latent_channels=16,
        base_channels=32,
        channel_mults=(1, 2, 4, 4),
        temporal_downsample=(False, True, True),
        num_res_blocks=1,
    ),
    # the shipped default model (1.9 M parameters): pixels folded 2x2 first, 17x64x64 -> 16x5x8x8 latent,
    # cheap enough to encode a training set of thousands of clips on a 2-core CPU
    "shapes": VAEConfig(
        latent_channels=16,
        base_channels=16,
        channel_mults=(1, 2, 4),
        temporal_downsample=(True, True),
        num_res_blocks=1,
        patch_size=2,
    ),
    # default model v2 (issue 13): 4x spatial compression, so a 12 px shape spans 3 latent cells and
    # keeps its corners; 17x64x64 -> 8x5x16x16 (twice the numbers of "shapes", a quarter per cell)
    "shapes4": VAEConfig(
        latent_channels=8,
        base_channels=32,
        channel_mults=(1, 2, 2),
        temporal_downsample=(True, True),
        spatial_downsample=(True, False),
        num_res_blocks=1,
        patch_size=2,
    ),
    # Wan 2.1 VAE proportions (131 M parameters), for users with a GPU
    "base": VAEConfig(
        latent_channels=16,
        base_channels=96,
        channel_mults=(1, 2, 4, 4),
        temporal_downsample=(False, True, True),
        num_res_blocks=2,
    ),
}


class RMSNorm(nn.Module):
    """Channel RMS norm at each (t, h, w) position: never pools over time, so it stays causal."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = channels**0.5
        self.gamma = nn.Parameter(torch.ones(channels, 1, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.scale * self.gamma + self.bias


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.norm1 = RMSNorm(in_ch)
        self.conv1 = CausalConv3d(in_ch, out_ch, 3)
        self.norm2 = RMSNorm(out_ch)
        self.conv2 = CausalConv3d(out_ch, out_ch, 3)
        self.skip = Conv3d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.skip(x) + h


class FrameAttention(nn.Module):
    """Single-head self-attention over the pixels of each frame separately."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = RMSNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        B, C, T, H, W = x.shape
        h = self.norm(x).permute(0, 2, 3, 4, 1).reshape(B * T, 1, H * W, C)  # [BT, 1, HW, C]
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        h = self.proj(F.scaled_dot_product_attention(q, k, v))  # [BT, 1, HW, C]
        return x + h.reshape(B, T, H, W, C).permute(0, 4, 1, 2, 3)


class Downsample(nn.Module):
    """Halve H and W (stride-2 conv per frame) unless spatial=False; optionally halve time as well.

    Time: left-pad one zero frame, then kernel 2 stride 2, so output 0 sees frame 0 only and
    output j sees frames 2j-1 and 2j. Chunks start at 1 + 2m, so no pair straddles two chunks and
    only the clip's first chunk gets the pad.
    """

    def __init__(self, channels: int, temporal: bool, spatial: bool = True):
        super().__init__()
        stride = (1, 2, 2) if spatial else (1, 1, 1)
        self.spatial = Conv3d(channels, channels, (1, 3, 3), stride=stride, padding=(0, 1, 1))
        self.temporal = Conv3d(channels, channels, (2, 1, 1), stride=(2, 1, 1)) if temporal else None

    def forward(self, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        x = self.spatial(x)  # [B, C, T, H/2, W/2] (or H, W)
        if self.temporal is None:
            return x
        if cache is None or self not in cache:
            x = F.pad(x, (0, 0, 0, 0, 1, 0))  # [B, C, 1 + T, H/2, W/2]
            if cache is not None:
                cache[self] = None
        return self.temporal(x)  # [B, C, T', H/2, W/2]


class Upsample(nn.Module):
    """Double H and W (nearest + conv per frame) unless spatial=False; optionally double time.

    Time: a causal conv to 2x channels, unfolded into 2 frames each; the clip's very first frame
    is dropped so 1 + n frames become 1 + 2n (mirror of Downsample).
    """

    def __init__(self, channels: int, temporal: bool, spatial: bool = True):
        super().__init__()
        self.temporal = CausalConv3d(channels, 2 * channels, (3, 1, 1)) if temporal else None
        self.scale = 2.0 if spatial else 1.0
        self.spatial = Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        if self.temporal is not None:
            B, C, T, H, W = x.shape
            x = self.temporal(x, cache).reshape(B, 2, C, T, H, W)
            x = x.permute(0, 2, 3, 1, 4, 5).reshape(B, C, 2 * T, H, W)  # frame t -> frames 2t, 2t+1
            if cache is None or self not in cache:
                x = x[:, :, 1:]
                if cache is not None:
                    cache[self] = None
        if self.scale != 1.0:
            x = F.interpolate(x, scale_factor=(1.0, self.scale, self.scale), mode="nearest")
        return self.spatial(x)


def _mid(channels: int, attention: bool) -> nn.ModuleList:
    blocks = [ResBlock(channels, channels)]
    if attention:
        blocks.append(FrameAttention(channels))
    blocks.append(ResBlock(channels, channels))
    return nn.ModuleList(blocks)


def space_to_depth(x: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, C*p*p, T, H/p, W/p]"""
    if p == 1:
        return x
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t, h // p, p, w // p, p).permute(0, 1, 4, 6, 2, 3, 5)
    return x.reshape(b, c * p * p, t, h // p, w // p)


def depth_to_space(x: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C*p*p, T, H, W] -> [B, C, T, H*p, W*p]"""
    if p == 1:
        return x
    b, cpp, t, h, w = x.shape
    x = x.reshape(b, cpp // (p * p), p, p, t, h, w).permute(0, 1, 4, 5, 2, 6, 3)
    return x.reshape(b, cpp // (p * p), t, h * p, w * p)


class Encoder(nn.Module):
    def __init__(self, c: VAEConfig):
        super().__init__()
        chans = [c.base_channels * m for m in c.channel_mults]
        self.patch_size = c.patch_size
        self.conv_in = CausalConv3d(c.in_channels * c.patch_size**2, chans[0], 3)
        blocks: list[nn.Module] = []
        ch = chans[0]
        for i, out in enumerate(chans):
            for _ in range(c.num_res_blocks):
                blocks.append(ResBlock(ch, out))
                ch = out
            if i < len(chans) - 1:
                blocks.append(Downsample(ch, c.temporal_downsample[i], c.spatial_halvings[i]))
        self.down = nn.ModuleList(blocks)
        self.mid = _mid(ch, c.mid_attention)
        self.norm_out = RMSNorm(ch)
        self.conv_out = CausalConv3d(ch, 2 * c.latent_channels, 3)

    def forward(self, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        x = self.conv_in(space_to_depth(x, self.patch_size), cache)
        for block in [*self.down, *self.mid]:
            x = block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)  # [B, 2 * latent, T', H', W']


class Decoder(nn.Module):
    def __init__(self, c: VAEConfig):
        super().__init__()
        chans = [c.base_channels * m for m in c.channel_mults]
        ch = chans[-1]
        self.conv_in = CausalConv3d(c.latent_channels, ch, 3)
        self.mid = _mid(ch, c.mid_attention)
        blocks: list[nn.Module] = []
        for i in reversed(range(len(chans))):
            for _ in range(c.num_res_blocks + 1):
                blocks.append(ResBlock(ch, chans[i]))
                ch = chans[i]
            if i > 0:
                blocks.append(Upsample(ch, c.temporal_downsample[i - 1], c.spatial_halvings[i - 1]))
        self.up = nn.ModuleList(blocks)
        self.norm_out = RMSNorm(ch)
        self.patch_size = c.patch_size
        self.conv_out = CausalConv3d(ch, c.in_channels * c.patch_size**2, 3)

    def forward(self, z: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        x = self.conv_in(z, cache)
        for block in [*self.mid, *self.up]:
            x = block(x, cache)
        x = self.conv_out(F.silu(self.norm_out(x)), cache)  # [B, 3 * p * p, T, H / p, W / p]
        return depth_to_space(x, self.patch_size)  # [B, 3, T, H, W]


class VideoVAE(VideoCodec):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))

    # ---- latent statistics -------------------------------------------------------------------

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        C = self.config.latent_channels
        mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        if mean.shape != (C,) or std.shape != (C,):
            raise ShapeError(
                f"latent stats must each have shape [{C}] (one value per latent channel), "
                f"got mean {tuple(mean.shape)} and std {tuple(std.shape)}"
            )
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise SoraError("latent stats must be finite and std must be > 0 in every channel")
        with torch.no_grad():
            self.latent_mean.copy_(mean)
            self.latent_std.copy_(std)

    # ---- encode / decode (the walk over the clip is VideoCodec's) ------------------------------

    def _encode_chunk(self, x: torch.Tensor, cache: Cache) -> torch.Tensor:
        return self.encoder(x, cache)  # [B, 2 * latent, T', H', W']

    def _decode_chunk(self, z: torch.Tensor, cache: Cache) -> torch.Tensor:
        return self.decoder(z, cache)  # [B, 3, T, H, W]
