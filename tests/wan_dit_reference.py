"""Test helpers: tiny random diffusers Wan transformers and their weights in the original Wan layout.

The renaming is the inverse of diffusers' scripts/convert_wan_to_diffusers.py (checked by hand
against it and against ComfyUI's comfy/ldm/wan/model.py names); no code of either is used."""

from __future__ import annotations

import torch

BLOCK_RENAMES = {
    "attn1.to_q.": "self_attn.q.",
    "attn1.to_k.": "self_attn.k.",
    "attn1.to_v.": "self_attn.v.",
    "attn1.to_out.0.": "self_attn.o.",
    "attn1.norm_q.": "self_attn.norm_q.",
    "attn1.norm_k.": "self_attn.norm_k.",
    "attn2.to_q.": "cross_attn.q.",
    "attn2.to_k.": "cross_attn.k.",
    "attn2.to_v.": "cross_attn.v.",
    "attn2.to_out.0.": "cross_attn.o.",
    "attn2.norm_q.": "cross_attn.norm_q.",
    "attn2.norm_k.": "cross_attn.norm_k.",
    "norm2.": "norm3.",  # diffusers' norm2 is the cross-attention norm, Wan's norm3
    "ffn.net.0.proj.": "ffn.0.",
    "ffn.net.2.": "ffn.2.",
    "scale_shift_table": "modulation",
}
TOP_RENAMES = {
    "patch_embedding.": "patch_embedding.",
    "condition_embedder.text_embedder.linear_1.": "text_embedding.0.",
    "condition_embedder.text_embedder.linear_2.": "text_embedding.2.",
    "condition_embedder.time_embedder.linear_1.": "time_embedding.0.",
    "condition_embedder.time_embedder.linear_2.": "time_embedding.2.",
    "condition_embedder.time_proj.": "time_projection.1.",
    "proj_out.": "head.head.",
    "scale_shift_table": "head.modulation",
}


def diffusers_to_wan(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        new = None
        if key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            for old, repl in BLOCK_RENAMES.items():
                if rest.startswith(old):
                    new = f"blocks.{index}.{repl}{rest[len(old):]}"
                    break
        else:
            for old, repl in TOP_RENAMES.items():
                if key.startswith(old):
                    new = repl + key[len(old) :]
                    break
        if new is None:
            raise KeyError(f"no Wan name for diffusers key {key}")
        out[new] = value.detach().clone()
    return out


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
