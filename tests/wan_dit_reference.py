"""Test helpers: tiny random diffusers Wan transformers and their weights in the original Wan layout."""

from __future__ import annotations

import torch

from sora_nodes.models import wan_dit_keys as keys


def diffusers_to_wan(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in keys.diffusers_to_wan(state).items()}


def tiny_diffusers_transformer(*, seed: int = 0, layers: int = 2, channels: int = 16, text_dim: int = 32):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    model = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=4,
        attention_head_dim=12,
        in_channels=channels,
        out_channels=channels,
        text_dim=text_dim,
        freq_dim=32,
        ffn_dim=96,
        num_layers=layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=1e-6,
    ).eval()
    with torch.no_grad():  # no parameter may keep its trivial init (ones, zeros), or a swapped norm would pass
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model
