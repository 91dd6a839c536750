"""diffusers' names for the Wan 2.1 DiT (WanTransformer3DModel) -> the original Wan names our module uses.

Written from the two layouts side by side (diffusers' scripts/convert_wan_to_diffusers.py maps the other
way, ComfyUI's comfy/ldm/wan/model.py keeps the original names), so the Wan-AI/*-Diffusers releases load
as well as the original and ComfyUI files."""

from __future__ import annotations

import torch

from .wan_dit import WanDiTConfig

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


# WanDiTConfig's fields by their WanTransformer3DModel argument names; diffusers gives the width as heads x head width
CONFIG_RENAMES = {
    "num_attention_heads": "num_heads", "ffn_dim": "ffn_dim", "num_layers": "num_layers", "in_channels": "in_channels",
    "out_channels": "out_channels", "text_dim": "text_dim", "freq_dim": "freq_dim", "patch_size": "patch_size",
    "eps": "eps",
}  # fmt: skip


def diffusers_config(config: WanDiTConfig) -> dict:
    """The WanTransformer3DModel arguments of a Wan 2.1 text-to-video DiT with `config`."""
    wan = {theirs: getattr(config, ours) for theirs, ours in CONFIG_RENAMES.items()}
    return wan | {"attention_head_dim": config.head_dim, "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads"}


def config_from_diffusers(config) -> WanDiTConfig:
    """Our config of a WanTransformer3DModel (its `.config`)."""
    wan = {ours: config[theirs] for theirs, ours in CONFIG_RENAMES.items()}
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    return WanDiTConfig(dim=dim, **wan | {"patch_size": tuple(config["patch_size"])})


def is_diffusers_layout(weights: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith("condition_embedder.") for k in weights)


def _rename(key: str, renames: dict[str, str], prefix: str = "") -> str | None:
    for old, new in renames.items():
        if key.startswith(old):
            return prefix + new + key[len(old) :]
    return None


def diffusers_to_wan(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Renamed tensors (not copies); a key with no Wan name is kept as is, so the strict check names it."""
    out = {}
    for key, value in weights.items():
        if key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            new = _rename(rest, BLOCK_RENAMES, f"blocks.{index}.")
        else:
            new = _rename(key, TOP_RENAMES)
        out[new or key] = value
    return out


def wan_to_diffusers(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse, for comparing against diffusers' transformer on the same weights."""
    back_block = {v: k for k, v in BLOCK_RENAMES.items()}
    back_top = {v: k for k, v in TOP_RENAMES.items() if v != "head.modulation"}
    out = {}
    for key, value in weights.items():
        if key == "head.modulation":
            out["scale_shift_table"] = value
        elif key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            out[_rename(rest, back_block, f"blocks.{index}.") or key] = value
        else:
            out[_rename(key, back_top) or key] = value
    return out
