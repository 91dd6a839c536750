"""The Wan 2.1 text-to-video diffusion transformer, as a model family beside our own DiT.

Same calling convention as `DiT` (velocity for rectified flow at sigma in [0, 1], the flow time fed
to the network as sigma * 1000), so the samplers, guidance, long videos and tasks run it
unchanged. Module names are those of the original Wan release, which ComfyUI's repackaged
`diffusion_models/wan2.1_*.safetensors` files keep, so a real file loads without renaming.

What differs from our DiT, and why it is kept exactly:
- q/k RMS norms span all heads (dim), not one head; the modulation is a learned table plus the
  time projection, applied in fp32 around fp32 LayerNorms, as the reference does in bf16 runs.
- The text is zero-padded to 512 tokens and attended WITHOUT a mask: Wan was trained that way, so
  the padded slots (text_embedding of zeros) carry signal. `context_mask` is therefore ignored.
- Wan T2V has no condition channels. The known region of a task is kept by re-imposing the noised
  known latent each step (`reads_condition = False` tells the pipeline).
- Output tokens are channel-last within a patch (p_t, p_h, p_w, C).
The 3-D RoPE is ours (`rope.py`), which splits head channels as Wan does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ShapeError
from .attention import attention
from .config import preset
from .dit import PatchTransformer, timestep_embedding
from .rope import apply_rope, rope_frequencies


@dataclass(frozen=True)
class WanDiTConfig:
    dim: int = 1536
    ffn_dim: int = 8960
    num_heads: int = 12
    num_layers: int = 30
    in_channels: int = 16
    out_channels: int = 16
    text_dim: int = 4096  # umT5-XXL states
    text_len: int = 512
    freq_dim: int = 256
    patch_size: tuple[int, int, int] = (1, 2, 2)
    eps: float = 1e-6
    rope_theta: float = 10000.0

    def __post_init__(self):
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.in_channels != self.out_channels:
            raise ValueError(
                f"in_channels {self.in_channels} != out_channels {self.out_channels}: that is an image-to-video "
                "(or other conditioned) Wan checkpoint, which this text-to-video network does not implement"
            )

    @property
    def latent_channels(self) -> int:
        return self.out_channels

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def depth(self) -> int:  # the names the render bench reads off any DiT config
        return self.num_layers

    @property
    def hidden_size(self) -> int:
        return self.dim


WAN_DIT_PRESETS: dict[str, WanDiTConfig] = {
    "1.3B": WanDiTConfig(),
    "14B": WanDiTConfig(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40),
    "tiny": WanDiTConfig(dim=48, ffn_dim=96, num_heads=4, num_layers=2, text_dim=32, freq_dim=32),
}


def wan_dit_preset(name: str) -> WanDiTConfig:
    return preset(WAN_DIT_PRESETS, name, "Wan DiT")


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 whatever the weights' dtype: bf16 statistics over 5120 channels drift."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps)


class WanAttention(nn.Module):
    """Self- or cross-attention with q/k RMS-normalised across all heads."""

    def __init__(self, dim: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = nn.RMSNorm(dim, eps=eps)
        self.norm_k = nn.RMSNorm(dim, eps=eps)

    def forward(self, x, context=None, *, rope=None, backend="auto", ulysses=None):
        context = x if context is None else context
        heads = lambda t: t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)  # noqa: E731 [B, N, D] -> [B, H, N, Dh]
        q, k, v = heads(self.norm_q(self.q(x))), heads(self.norm_k(self.k(context))), heads(self.v(context))
        if ulysses is not None:  # self-attention over this rank's token slice: swap to all tokens, H/P heads
            q, k, v = ulysses.seq_to_heads(q, k, v)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = attention(q, k, v, backend=backend)  # [B, H, N, Dh]
        if ulysses is not None:
            out = ulysses.heads_to_seq(out)
        return self.o(out.transpose(1, 2).flatten(2))


class WanBlock(nn.Module):
    def __init__(self, c: WanDiTConfig):
        super().__init__()
        self.norm1 = FP32LayerNorm(c.dim, c.eps, elementwise_affine=False)
        self.self_attn = WanAttention(c.dim, c.num_heads, c.eps)
        self.norm3 = FP32LayerNorm(c.dim, c.eps, elementwise_affine=True)  # before cross-attention (Wan's name)
        self.cross_attn = WanAttention(c.dim, c.num_heads, c.eps)
        self.norm2 = FP32LayerNorm(c.dim, c.eps, elementwise_affine=False)
        self.ffn = nn.Sequential(nn.Linear(c.dim, c.ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(c.ffn_dim, c.dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, c.dim) / c.dim**0.5)

    def forward(self, x, e, context, rope, backend, ulysses=None):
        # x [B, N, D]; e [B, 6, D] fp32 time projection
        shift, scale, gate, c_shift, c_scale, c_gate = (self.modulation.float() + e).unbind(1)  # each [B, D]
        h = (self.norm1(x) * (1 + scale[:, None]) + shift[:, None]).type_as(x)
        x = (
            x.float() + self.self_attn(h, rope=rope, backend=backend, ulysses=ulysses).float() * gate[:, None]
        ).type_as(x)
        x = x + self.cross_attn(self.norm3(x).type_as(x), context, backend=backend)
        h = (self.norm2(x) * (1 + c_scale[:, None]) + c_shift[:, None]).type_as(x)
        return (x.float() + self.ffn(h).float() * c_gate[:, None]).type_as(x)


class WanHead(nn.Module):
    def __init__(self, c: WanDiTConfig):
        super().__init__()
        self.norm = FP32LayerNorm(c.dim, c.eps, elementwise_affine=False)
        self.head = nn.Linear(c.dim, math.prod(c.patch_size) * c.out_channels)
        self.modulation = nn.Parameter(torch.randn(1, 2, c.dim) / c.dim**0.5)

    def forward(self, x, t_emb):
        shift, scale = (self.modulation.float() + t_emb.float()[:, None]).unbind(1)  # each [B, D]
        return self.head((self.norm(x) * (1 + scale[:, None]) + shift[:, None]).type_as(x))


def unpatchify_channels_last(tokens: torch.Tensor, grid, patch, channels: int) -> torch.Tensor:
    """[B, N, pt*ph*pw*C] (channels last within a patch, Wan's order) -> [B, C, T, H, W]."""
    (gt, gh, gw), (pt, ph, pw) = grid, patch
    x = tokens.reshape(tokens.shape[0], gt, gh, gw, pt, ph, pw, channels)
    return x.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(tokens.shape[0], channels, gt * pt, gh * ph, gw * pw)


class WanDiT(PatchTransformer):
    reads_condition = False  # T2V: known latents are re-imposed by the sampler, not read from channels

    def __init__(self, config: WanDiTConfig):
        super().__init__()
        self.config = config
        self.gradient_checkpointing = False  # interface parity with DiT; inference only here
        c = config
        self.patch_embedding = nn.Conv3d(c.in_channels, c.dim, c.patch_size, stride=c.patch_size)
        self.text_embedding = nn.Sequential(
            nn.Linear(c.text_dim, c.dim), nn.GELU(approximate="tanh"), nn.Linear(c.dim, c.dim)
        )
        self.time_embedding = nn.Sequential(nn.Linear(c.freq_dim, c.dim), nn.SiLU(), nn.Linear(c.dim, c.dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(c.dim, 6 * c.dim))
        self.blocks = nn.ModuleList(WanBlock(c) for _ in range(c.num_layers))
        self.head = WanHead(c)

    def forward(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor | None = None,
        condition: torch.Tensor | None = None,
        *,
        attention_backend: str = "auto",
        parallel=None,
    ) -> torch.Tensor:
        """Velocity for noisy latents x [B, 16, T, H, W] at sigma [B] (or a scalar); context [B, L, 4096]
        umT5 states, zero past each prompt's end (L <= 512). `context_mask` and `condition` are
        accepted for the DiT interface and not used (see the module docstring). `parallel`: a Ulysses group to
        spread the tokens over, as in `DiT.forward`. Returns [B, 16, T, H, W]."""
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise ShapeError(f"Wan DiT expects latents [B, {cfg.in_channels}, T, H, W], got {tuple(x.shape)}")
        b = x.shape[0]
        grid = self.token_grid(tuple(x.shape[2:]))
        if context.ndim != 3 or context.shape[0] != b or context.shape[2] != cfg.text_dim:
            raise ShapeError(
                f"text context must be [{b}, L, {cfg.text_dim}] (umT5 states), got {tuple(context.shape)}; "
                "encode the prompt with the Wan text encoder (umT5-XXL)"
            )
        if context.shape[1] > cfg.text_len:
            raise ShapeError(f"Wan reads at most {cfg.text_len} text tokens, got {context.shape[1]}")
        sigma = sigma.reshape(-1).expand(b) if sigma.numel() in (1, b) else sigma
        if sigma.shape != (b,):
            raise ShapeError(f"sigma must be a scalar or [B={b}], got {tuple(sigma.shape)}")

        dtype = self.patch_embedding.weight.dtype
        tokens = self.patch_embedding(x.to(dtype)).flatten(2).transpose(1, 2)  # [B, N, D]
        t_emb = self.time_embedding(timestep_embedding(sigma, cfg.freq_dim).to(dtype)).float()  # [B, D]
        e = self.time_projection(t_emb.to(dtype)).float().unflatten(1, (6, cfg.dim))  # [B, 6, D]
        padded = F.pad(context.to(dtype), (0, 0, 0, cfg.text_len - context.shape[1]))  # [B, 512, text_dim]
        ctx = self.text_embedding(padded)  # [B, 512, D]
        rope = rope_frequencies(grid, cfg.head_dim, theta=cfg.rope_theta, device=x.device)
        if parallel is not None:
            parallel.check(cfg.num_heads, tokens.shape[1], "the Wan DiT")
            tokens = parallel.shard(tokens)
        for block in self.blocks:
            tokens = block(tokens, e, ctx, rope, attention_backend, parallel)
        out = self.head(tokens, t_emb)  # [B, N, pt*ph*pw*C] (N/P under Ulysses)
        if parallel is not None:
            out = parallel.gather(out)
        return unpatchify_channels_last(out, grid, cfg.patch_size, cfg.out_channels).to(x.dtype)
