"""Wan 2.1's causal video VAE as a model family: the released weights, our inference interface.

Module and parameter names follow the original Wan release (`Wan2.1_VAE.pth`, and ComfyUI's
repackaged `wan_2.1_vae.safetensors`, which has the same keys), so a real file loads as it is:
`encoder.conv1`, `encoder.downsamples.N.residual.{0,2,3,6}`, `...resample.1`, `...time_conv`,
`encoder.middle.{0,1,2}`, `encoder.head.{0,2}`, `conv1`, `conv2`, `decoder.*` alike. Wan's
Sequentials are module lists here, and their weightless slots (SiLU, dropout, padding, upsampling)
are kept as modules so the indices line up.

The maths is Wan's: [B, 3, 1 + 4k, H, W] -> [B, 16, 1 + k, H/8, W/8], frame 0 encoded alone, then
4 frames per chunk; decoding walks one latent frame per chunk. Wan carries temporal context in a
global list with an index counter; here every module keys its own state in a per-call `Cache`
dict (causal_conv.py), so two calls never share state and the chunk size is free (any multiple
of the temporal factor). Wan's two temporal resamplers have first-chunk rules that are not plain
causal convs, reproduced exactly (see Resample): the encoder's passes frame 0 through and then
convolves frame triples (2j-2, 2j-1, 2j) with stride 2; the decoder's leaves latent frame 0 alone
and runs its doubling conv on frames 1.. as if they started a new clip (zeros, not frame 0, on
their left). Output buffers are preallocated (video_codec._run_chunked), so memory stays flat in clip
length, and nothing reads tensor values in Python, so the same code runs on the meta device for
render_budget.py's memory estimate.

The encoder returns (mu - mean) / std with Wan 2.1's per-channel latent statistics; the decoder
undoes it and clamps to [-1, 1] as Wan does. The statistics are not in the release files, so they
are non-persistent buffers filled from the config (also after a meta-device build is loaded with
`assign=True`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, SoraError
from .causal_conv import Cache, CausalConv3d, Conv3d
from .config import check_config_limits
from .video_codec import VideoCodec
from .weights import load_weights, read_weights, strip_prefix, unscale_fp8

# Per-channel statistics of Wan 2.1's latents (Wan's vae.py, diffusers' AutoencoderKLWan config,
# ComfyUI's latent_formats.Wan21): the release normalises with them, the files do not hold them.
WAN21_LATENTS_MEAN = (
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
)  # fmt: skip
WAN21_LATENTS_STD = (
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
)  # fmt: skip

WHAT = "Wan VAE"
PREFIXES = ("first_stage_model.", "vae.", "model.")  # ComfyUI and some merges wrap the VAE's keys


@dataclass(frozen=True)
class WanVAEConfig:
    base_dim: int = 96
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)  # len - 1 spatial halvings
    num_res_blocks: int = 2  # per encoder stage; decoder stages get one more, as in Wan
    # Wan's scale bookkeeping: encoder stage i is at scale 1/2**i, decoder stage i at 2**i / 2**(n-2).
    # Empty in every release; the mid blocks always have attention.
    attn_scales: tuple[float, ...] = ()
    temporal_downsample: tuple[bool, ...] = (False, True, True)  # per encoder transition; decoder mirrors
    latents_mean: tuple[float, ...] = WAN21_LATENTS_MEAN
    latents_std: tuple[float, ...] = WAN21_LATENTS_STD

    def __post_init__(self):
        for name in ("base_dim", "z_dim", "num_res_blocks"):
            if getattr(self, name) < 1:
                raise SoraError(f"WanVAEConfig.{name} must be >= 1, got {getattr(self, name)}")
        if len(self.dim_mult) < 2 or min(self.dim_mult) < 1:
            raise SoraError(f"WanVAEConfig.dim_mult must be >= 2 positive ints, got {self.dim_mult}")
        if len(self.temporal_downsample) != len(self.dim_mult) - 1:
            raise SoraError(
                f"WanVAEConfig.temporal_downsample needs one flag per spatial halving, i.e. "
                f"len(dim_mult) - 1 = {len(self.dim_mult) - 1}, got {len(self.temporal_downsample)}"
            )
        if len(self.latents_mean) != self.z_dim or len(self.latents_std) != self.z_dim:
            raise SoraError(
                f"WanVAEConfig.latents_mean and latents_std need z_dim = {self.z_dim} values each, "
                f"got {len(self.latents_mean)} and {len(self.latents_std)}"
            )
        if min(self.latents_std) <= 0:
            raise SoraError("WanVAEConfig.latents_std must be > 0 in every channel")

    @property
    def latent_channels(self) -> int:
        return self.z_dim

    @property
    def in_channels(self) -> int:
        return 3

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(bool(t) for t in self.temporal_downsample)

    @property
    def spatial_factor(self) -> int:
        return 2 ** (len(self.dim_mult) - 1)


WAN_VAE_PRESETS: dict[str, WanVAEConfig] = {
    # the released Wan 2.1 VAE (127 M parameters), also used by Wan 2.1's 1.3B/14B and Wan 2.2's 14B models
    "wan2.1": WanVAEConfig(),
    # unit tests: same layout and factors (k_t 4, k_s 8), widths 8..32, 0.7 M parameters
    "tiny": WanVAEConfig(base_dim=8, num_res_blocks=1),
}


# ---- layers --------------------------------------------------------------------------------------


def _conv3d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding) -> torch.Tensor:
    # The same oneDNN shortcut as causal_conv.Conv3d, for the 2-D kernels run on 5-D input below.
    if x.device.type == "cpu" and x.dtype == torch.float32 and torch.backends.mkldnn.is_available():
        if torch.backends.mkldnn.enabled:
            return torch.ops.aten.mkldnn_convolution(x, weight, bias, padding, stride, (1, 1, 1), 1)
    return F.conv3d(x, weight, bias, stride, padding)


class FrameConv2d(nn.Conv2d):
    """A Conv2d (Wan stores these kernels as 2-D) applied to every frame of [B, C, T, H, W].

    Wan folds time into the batch for them; a (1, kh, kw) conv3d over the 5-D tensor is the same
    sum without the two transposed copies."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.unsqueeze(2)  # [out, in, 1, kh, kw]
        return _conv3d(x, weight, self.bias, (1, *self.stride), (0, *self.padding))


class FrameUpsample(nn.Module):
    """Nearest 2x in H and W, per frame (Wan's nn.Upsample(scale_factor=(2, 2), mode='nearest-exact'))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest-exact")


class RMSNorm(nn.Module):
    """Wan's RMS_norm over channels at each position: no bias, gamma [C, 1, 1, 1] (or [C, 1, 1] in
    the attention blocks, which Wan runs on frames; the key's shape must match the file)."""

    def __init__(self, dim: int, images: bool = False):
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, 1, 1) if images else torch.ones(dim, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = self.gamma.reshape(-1, 1, 1, 1)  # [C, 1, 1, 1] against [B, C, T, H, W]
        return F.normalize(x, dim=1) * self.scale * gamma


class ResidualBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        # indices 1, 4, 5 hold Wan's SiLU, SiLU, Dropout(0), so the convs sit at residual.2 and residual.6
        self.residual = nn.ModuleList(
            [
                RMSNorm(in_dim),
                nn.SiLU(),
                CausalConv3d(in_dim, out_dim, 3),
                RMSNorm(out_dim),
                nn.SiLU(),
                nn.Identity(),
                CausalConv3d(out_dim, out_dim, 3),
            ]
        )
        self.shortcut = Conv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, cache: Cache) -> torch.Tensor:
        return _run(self.residual, x, cache) + self.shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame (1x1 conv projections)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = FrameConv2d(dim, 3 * dim, 1)
        self.proj = FrameConv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        B, C, T, H, W = x.shape
        qkv = self.to_qkv(self.norm(x))  # [B, 3C, T, H, W]
        qkv = qkv.permute(0, 2, 3, 4, 1).reshape(B * T, 1, H * W, 3 * C)
        q, k, v = qkv.chunk(3, dim=-1)  # [BT, 1, HW, C] each
        h = F.scaled_dot_product_attention(q, k, v)  # [BT, 1, HW, C]
        h = h.reshape(B, T, H, W, C).permute(0, 4, 1, 2, 3)  # [B, C, T, H, W]
        return x + self.proj(h)


class Resample(nn.Module):
    """Wan's Resample: 2x down or up in H and W, and optionally in time.

    downsample3d: after the spatial conv, the first chunk (frame 0 alone) passes through
    untouched; every later chunk is prefixed with the previous chunk's last frame and run through
    a kernel-3 stride-2 time conv without padding, so output j >= 1 sees frames 2j-2, 2j-1, 2j.
    Any later chunk of an even frame count gives the numbers of one pass.

    upsample3d: the first chunk (latent frame 0) is not doubled. Later chunks go through a causal
    kernel-3 conv to 2x channels (its context starts as zeros, so frame 0 never enters it: Wan's
    "Rep" marker), unfolded into two frames each; 1 + n frames become 1 + 2n.
    """

    def __init__(self, dim: int, mode: str):
        super().__init__()
        self.mode = mode
        if mode in ("downsample2d", "downsample3d"):
            # pad right and bottom by one, then a 3x3 stride-2 conv
            self.resample = nn.Sequential(nn.ZeroPad3d((0, 1, 0, 1, 0, 0)), FrameConv2d(dim, dim, 3, stride=2))
        elif mode in ("upsample2d", "upsample3d"):
            self.resample = nn.Sequential(FrameUpsample(), FrameConv2d(dim, dim // 2, 3, padding=1))
        else:
            raise SoraError(f"unknown Wan resample mode {mode!r}")
        if mode == "downsample3d":
            self.time_conv = Conv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))
        elif mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, 2 * dim, (3, 1, 1))

    def forward(self, x: torch.Tensor, cache: Cache) -> torch.Tensor:
        if self.mode == "upsample3d":
            if self not in cache:
                cache[self] = None  # marker: the clip's first chunk has been seen
            else:
                B, C, T, H, W = x.shape
                x = self.time_conv(x, cache).reshape(B, 2, C, T, H, W)  # two frames' worth of channels
                x = x.permute(0, 2, 3, 1, 4, 5).reshape(B, C, 2 * T, H, W)  # frame t -> 2t, 2t+1
        x = self.resample(x)  # [B, C', T, H*2 or H/2, W*2 or W/2]
        if self.mode == "downsample3d":
            past = cache.get(self)
            # clone: a view would keep this chunk's whole activation alive until the next chunk
            last = x[:, :, -1:].clone()
            if self in cache:
                x = self.time_conv(torch.cat([past, x], dim=2))  # [B, C, T/2, H, W]
            cache[self] = last
        return x


# ---- encoder / decoder ---------------------------------------------------------------------------

_TAKES_CACHE = (ResidualBlock, AttentionBlock, Resample, CausalConv3d)


def _head(dim: int, out: int) -> nn.ModuleList:
    return nn.ModuleList([RMSNorm(dim), nn.SiLU(), CausalConv3d(dim, out, 3)])


def _middle(dim: int) -> nn.ModuleList:
    return nn.ModuleList([ResidualBlock(dim, dim), AttentionBlock(dim), ResidualBlock(dim, dim)])


def _run(blocks: nn.ModuleList, x: torch.Tensor, cache: Cache) -> torch.Tensor:
    for block in blocks:
        x = block(x, cache) if isinstance(block, _TAKES_CACHE) else block(x)  # SiLU and placeholders do not
    return x


class Encoder3d(nn.Module):
    def __init__(self, c: WanVAEConfig):
        super().__init__()
        dims = [c.base_dim * m for m in (1, *c.dim_mult)]
        self.conv1 = CausalConv3d(3, dims[0], 3)
        blocks: list[nn.Module] = []
        scale = 1.0
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            for _ in range(c.num_res_blocks):
                blocks.append(ResidualBlock(in_dim, out_dim))
                if scale in c.attn_scales:
                    blocks.append(AttentionBlock(out_dim))
                in_dim = out_dim
            if i < len(c.dim_mult) - 1:
                blocks.append(Resample(out_dim, "downsample3d" if c.temporal_downsample[i] else "downsample2d"))
                scale /= 2.0
        self.downsamples = nn.ModuleList(blocks)
        self.middle = _middle(dims[-1])
        self.head = _head(dims[-1], 2 * c.z_dim)

    def forward(self, x: torch.Tensor, cache: Cache) -> torch.Tensor:
        x = self.conv1(x, cache)
        x = _run(self.downsamples, x, cache)
        x = _run(self.middle, x, cache)
        return _run(self.head, x, cache)  # [B, 2 * z_dim, T', H', W']


class Decoder3d(nn.Module):
    def __init__(self, c: WanVAEConfig):
        super().__init__()
        dims = [c.base_dim * m for m in (c.dim_mult[-1], *reversed(c.dim_mult))]
        temporal_upsample = tuple(reversed(c.temporal_downsample))
        self.conv1 = CausalConv3d(c.z_dim, dims[0], 3)
        self.middle = _middle(dims[0])
        blocks: list[nn.Module] = []
        scale = 1.0 / 2 ** (len(c.dim_mult) - 2)
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            if i > 0:
                in_dim //= 2  # the upsampler before this stage halved the channels
            for _ in range(c.num_res_blocks + 1):
                blocks.append(ResidualBlock(in_dim, out_dim))
                if scale in c.attn_scales:
                    blocks.append(AttentionBlock(out_dim))
                in_dim = out_dim
            if i < len(c.dim_mult) - 1:
                blocks.append(Resample(out_dim, "upsample3d" if temporal_upsample[i] else "upsample2d"))
                scale *= 2.0
        self.upsamples = nn.ModuleList(blocks)
        self.head = _head(dims[-1], 3)

    def forward(self, z: torch.Tensor, cache: Cache) -> torch.Tensor:
        x = self.conv1(z, cache)
        x = _run(self.middle, x, cache)
        x = _run(self.upsamples, x, cache)
        return _run(self.head, x, cache)  # [B, 3, T, H, W]


# ---- the model -----------------------------------------------------------------------------------


class WanVAE(VideoCodec):
    def __init__(self, config: WanVAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder3d(config)
        self.conv1 = Conv3d(2 * config.z_dim, 2 * config.z_dim, 1)  # Wan's quant conv, on (mu, logvar)
        self.conv2 = Conv3d(config.z_dim, config.z_dim, 1)  # Wan's post-quant conv
        self.decoder = Decoder3d(config)
        self._make_latent_stats()
        # load_state_dict(assign=True) on a meta-built module replaces the weights only; these stay
        # meta unless made again, on the device the weights arrived on.
        self.register_load_state_dict_post_hook(lambda module, _: module._make_latent_stats())

    def _make_latent_stats(self) -> None:
        device = self.encoder.conv1.weight.device
        mean = torch.tensor(self.config.latents_mean, dtype=torch.float32, device=device)
        std = torch.tensor(self.config.latents_std, dtype=torch.float32, device=device)
        self.register_buffer("latent_mean", mean, persistent=False)
        self.register_buffer("latent_std", std, persistent=False)

    # ---- encode / decode ---------------------------------------------------------------------

    def _encode_chunk(self, x: torch.Tensor, cache: Cache) -> torch.Tensor:
        return self.conv1(self.encoder(x, cache))  # [B, 2 * z_dim, T', H', W']

    def _decode_chunk(self, z: torch.Tensor, cache: Cache) -> torch.Tensor:
        return self.decoder(self.conv2(z), cache)  # [B, 3, T, H, W]

    def _finish_decode(self, video: torch.Tensor) -> torch.Tensor:
        # after blending, as Wan's and diffusers' tiled decoders do; in place, the output is the clip's biggest tensor
        return video.clamp(-1.0, 1.0) if video.requires_grad else video.clamp_(-1.0, 1.0)


# ---- weights -------------------------------------------------------------------------------------

_DIFFUSERS_MARKERS = ("encoder.conv_in.weight", "decoder.conv_in.weight", "quant_conv.weight", "post_quant_conv.weight")


def _stage_blocks(weights: dict[str, torch.Tensor], prefix: str, source: str) -> list[tuple[str, int]]:
    """Kinds of `prefix`.N blocks in order: ("residual", out channels), ("attention", 0),
    ("resample2d" / "resample3d", 0)."""
    names = {k[len(prefix) :].split(".")[0] for k in weights if k.startswith(prefix)}
    indices = sorted(int(n) for n in names if n.isdigit())
    if not indices or len(indices) != len(names) or indices != list(range(len(indices))):
        raise CheckpointError(f"{source}: {prefix}N blocks are missing or not numbered 0..N-1 (found {indices[:20]})")
    blocks = []
    for i in indices:
        p = f"{prefix}{i}."
        if p + "residual.2.weight" in weights:
            blocks.append(("residual", weights[p + "residual.2.weight"].shape[0]))
        elif p + "to_qkv.weight" in weights:
            blocks.append(("attention", 0))
        elif p + "resample.1.weight" in weights:
            blocks.append(("resample3d" if p + "time_conv.weight" in weights else "resample2d", 0))
        else:
            keys = sorted(k for k in weights if k.startswith(p))[:3]
            raise CheckpointError(f"{source}: {p[:-1]} is not a Wan residual, attention or resample block ({keys})")
    return blocks


def wan_vae_config_from_weights(weights: dict[str, torch.Tensor], *, source: str = "the weights") -> WanVAEConfig:
    """Infer the architecture of a Wan-layout VAE state dict from its keys and shapes.

    Only the layout is read here; `load_wan_vae` then checks every key and shape against the
    module built from the result. `source` names the file in error messages."""
    if any(k in weights for k in _DIFFUSERS_MARKERS) or any(k.startswith("decoder.up_blocks.") for k in weights):
        raise CheckpointError(
            f"{source} is a Wan VAE in the diffusers layout (keys like encoder.conv_in.weight, "
            "decoder.up_blocks.*); this loader reads the original Wan layout. Use ComfyUI's repackaged "
            "wan_2.1_vae.safetensors (Comfy-Org/Wan_2.1_ComfyUI_repackaged, split_files/vae/) or the original "
            "Wan2.1_VAE.pth from the Wan-AI release, in models/vae/"
        )
    needed = ("encoder.conv1.weight", "conv1.weight", "conv2.weight", "decoder.conv1.weight")
    missing = [k for k in needed if k not in weights]
    if missing:
        shown = ", ".join(sorted(weights)[:5]) or "none"
        raise CheckpointError(
            f"{source} is not a Wan VAE: it lacks {', '.join(missing)} (its first keys: {shown}). Wan 2.1's VAE is "
            "wan_2.1_vae.safetensors (ComfyUI) or Wan2.1_VAE.pth, in models/vae/"
        )
    conv_in = weights["encoder.conv1.weight"]
    if conv_in.ndim != 5:
        raise CheckpointError(f"{source}: encoder.conv1.weight is {list(conv_in.shape)}, not a 3-D conv kernel")
    if conv_in.shape[1] != 3:
        raise CheckpointError(
            f"{source}: encoder.conv1.weight takes {conv_in.shape[1]} input channels, not 3 (RGB); Wan 2.2's "
            "patchified VAE (48 latent channels) is a different architecture, only Wan 2.1's VAE is supported"
        )
    base_dim, z_dim = conv_in.shape[0], weights["conv2.weight"].shape[0]
    if z_dim != len(WAN21_LATENTS_MEAN):
        raise CheckpointError(
            f"{source}: conv2.weight has {z_dim} latent channels; Wan 2.1's VAE has {len(WAN21_LATENTS_MEAN)} "
            "(its latent statistics are known only for that release)"
        )

    dim_mult: list[int] = []
    temporal: list[bool] = []
    attn_scales: set[float] = set()
    res_blocks: list[int] = [0]
    for kind, out in _stage_blocks(weights, "encoder.downsamples.", source):
        if kind == "residual":
            if out % base_dim:
                raise CheckpointError(f"{source}: a residual block has {out} channels, not a multiple of {base_dim}")
            if res_blocks[-1] == 0:
                dim_mult.append(out // base_dim)
            res_blocks[-1] += 1
        elif kind == "attention":
            attn_scales.add(1.0 / 2 ** (len(res_blocks) - 1))
        else:
            temporal.append(kind == "resample3d")
            res_blocks.append(0)
    if len(set(res_blocks)) != 1 or res_blocks[0] == 0 or len(dim_mult) != len(res_blocks):
        raise CheckpointError(
            f"{source}: encoder stages have {res_blocks} residual blocks; a Wan VAE has the same number (>= 1) in each"
        )
    try:
        config = WanVAEConfig(
            base_dim=base_dim,
            z_dim=z_dim,
            dim_mult=tuple(dim_mult),
            num_res_blocks=res_blocks[0],
            attn_scales=tuple(sorted(attn_scales, reverse=True)),
            temporal_downsample=tuple(temporal),
        )
        return check_config_limits(config, "WanVAEConfig")
    except SoraError as e:
        raise CheckpointError(f"{source}: not a Wan VAE layout ({e})") from None


def load_wan_vae(path: str | Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> WanVAE:
    """Wan 2.1's VAE from `wan_2.1_vae.safetensors` (ComfyUI) or `Wan2.1_VAE.pth` (the Wan release)."""
    path = Path(path)
    weights = unscale_fp8(strip_prefix(read_weights(path, what=WHAT, folder="vae"), PREFIXES))
    config = wan_vae_config_from_weights(weights, source=str(path))
    with torch.device("meta"):  # no random init, and a real file is never held twice
        vae = WanVAE(config)
    return load_weights(vae, weights, what=WHAT, path=path, dtype=dtype, device=device)
