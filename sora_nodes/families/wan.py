"""Wan 2.1 checkpoints from disk: the files users already have, assembled into a `SoraModel`.

Three layouts are read; the first two with no renaming (ours use Wan's own module names):
- ComfyUI's repackaged single files: models/diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors
  (keys possibly prefixed `model.diffusion_model.`), models/vae/wan_2.1_vae.safetensors and
  models/text_encoders/umt5_xxl_fp16.safetensors (or its fp8 variants);
- the original release folder (Wan-AI/Wan2.1-T2V-1.3B): diffusion_pytorch_model*.safetensors (one
  file or shards with an index), Wan2.1_VAE.pth and models_t5_umt5-xxl-enc-bf16.pth with the
  tokenizer in google/umt5-xxl/;
- a diffusers-format transformer (Wan-AI/Wan2.1-T2V-1.3B-Diffusers' transformer/ folder), renamed.
The DiT's config is read off its tensor shapes; the head width is Wan's fixed 128.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import CheckpointError, SoraError
from ..models.config import check_config_limits
from ..models.wan_dit import WanDiT, WanDiTConfig
from ..models.wan_dit_keys import diffusers_to_wan, is_diffusers_layout
from ..models.weights import load_weights, read_weights, strip_prefix, unscale_fp8
from .bundle import SoraModel
from .defaults import WAN

WAN_HEAD_DIM = 128  # 1.3B: 1536 / 12 heads, 14B: 5120 / 40
# ComfyUI's model folders of the three files, by the SoraWanLoader input that names each
FOLDERS = {"diffusion_model": "diffusion_models", "vae_name": "vae", "text_encoder_name": "text_encoders"}
DIT_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "model.")
WEIGHT_DTYPES = {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# What a release folder calls its parts (the Wan-AI/Wan2.1-T2V-* repositories)
RELEASE_VAE = "Wan2.1_VAE.pth"
RELEASE_TEXT_ENCODER = "models_t5_umt5-xxl-enc-bf16.pth"


def weight_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto`: bf16 on a CUDA GPU with bf16 (how Wan runs), fp32 on the CPU (no fast bf16 matmuls here)."""
    if name not in WEIGHT_DTYPES:
        raise CheckpointError(f"weight dtype must be one of {sorted(WEIGHT_DTYPES)}, got {name!r}")
    chosen = WEIGHT_DTYPES[name]
    if chosen is None:
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    return chosen


def wan_dit_config_from_weights(weights: dict[str, torch.Tensor], path: Path) -> WanDiTConfig:
    need = ("patch_embedding.weight", "text_embedding.0.weight", "time_embedding.0.weight", "head.head.weight")
    if any(k not in weights for k in need) or "blocks.0.ffn.0.weight" not in weights:
        raise CheckpointError(
            f"{path} is not a Wan 2.1 diffusion model "
            f"(no {', '.join(k for k in need if k not in weights) or 'blocks'}); "
            "it belongs in models/diffusion_models/ only if it is one (a VAE goes in models/vae/, umT5 in "
            "models/text_encoders/)"
        )
    patch = weights["patch_embedding.weight"]  # [dim, in_channels, p_t, p_h, p_w]
    dim, in_channels, *patch_size = patch.shape
    if in_channels != 16:
        raise CheckpointError(
            f"{path} is a Wan model with {in_channels} input channels (image-to-video or another conditioned "
            "variant: 36 = latent + mask + image); sora-nodes runs the text-to-video checkpoints, and image-to-video "
            "through them (SoraImageToVideo keeps the first frame by re-imposing it)"
        )
    layers = 1 + max(int(m.group(1)) for k in weights if (m := re.match(r"blocks\.(\d+)\.", k)))
    # The layer count comes from a key's name, not a tensor: one stray "blocks.99999.x" must not build 100000 layers.
    check_config_limits({"num_layers": layers, "dim": dim}, f"the Wan DiT config of {path}")
    return WanDiTConfig(
        dim=dim,
        ffn_dim=weights["blocks.0.ffn.0.weight"].shape[0],
        num_heads=dim // WAN_HEAD_DIM if dim % WAN_HEAD_DIM == 0 else _heads_of_small(dim),
        num_layers=layers,
        in_channels=in_channels,
        out_channels=weights["head.head.weight"].shape[0] // (patch_size[0] * patch_size[1] * patch_size[2]),
        text_dim=weights["text_embedding.0.weight"].shape[1],
        freq_dim=weights["time_embedding.0.weight"].shape[1],
        patch_size=tuple(patch_size),
    )


def _heads_of_small(dim: int) -> int:
    """Test-sized models (dim not a multiple of 128) use heads of 12 channels, the smallest 3-D RoPE split."""
    if dim % 12:
        raise CheckpointError(f"a Wan DiT of width {dim} has no known head layout (128 or 12 channels per head)")
    return dim // 12


def load_wan_dit(path: str | Path, *, device="cpu", dtype: torch.dtype = torch.float32) -> WanDiT:
    path = Path(path)
    weights = read_weights(path, what="Wan diffusion model", folder="diffusion_models")
    weights = unscale_fp8(strip_prefix(weights, DIT_PREFIXES))
    if is_diffusers_layout(weights):  # the Wan-AI/*-Diffusers releases
        weights = diffusers_to_wan(weights)
    config = wan_dit_config_from_weights(weights, path)
    with torch.device("meta"):
        dit = WanDiT(config)
    return load_weights(dit, weights, what="Wan 2.1 diffusion model", path=path, dtype=dtype, device=device)


def load_wan_model(dit_path: str | Path, vae_path: str | Path, *, device="cpu", dtype: str = "auto") -> SoraModel:
    """The Wan DiT and VAE as one `SoraModel`; the VAE stays fp32 on the CPU and bf16 on a GPU, as the DiT."""
    from ..models.wan_vae import load_wan_vae

    device = torch.device(device)
    chosen = weight_dtype(dtype, device)
    dit = load_wan_dit(dit_path, device=device, dtype=chosen)
    vae = load_wan_vae(vae_path, device=device, dtype=chosen)
    metadata = {"max_frames": str(WAN.max_frames), "shift": str(WAN.shift)}  # what the model reports of itself
    return SoraModel(dit, vae, "umt5-xxl", metadata, Path(dit_path))


def release_parts(dit_path: Path) -> tuple[Path, Path] | None:
    """(VAE, text encoder) that belong with a diffusion model file by where it lies: the original release
    folder, or ComfyUI's models/ tree (the first Wan VAE and umT5 file found there)."""
    folder = dit_path.parent
    if (folder / RELEASE_VAE).exists() and (folder / RELEASE_TEXT_ENCODER).exists():
        return folder / RELEASE_VAE, folder / RELEASE_TEXT_ENCODER
    if folder.name in ("diffusion_models", "unet"):
        vaes = sorted((folder.parent / "vae").glob("wan*2.1*vae*.safetensors"))
        encoders = sorted((folder.parent / "text_encoders").glob("umt5*"))
        if vaes and encoders:
            return vaes[0], encoders[0]
    return None


def wan_files(model: Path, vae: Path | None, text_encoder: Path | None) -> tuple[Path, Path, Path]:
    """(diffusion model, VAE, text encoder) of a Wan render: `vae` and `text_encoder` (--vae and
    --text-encoder) when given, else the files that lie beside the model (its release folder, or ComfyUI's
    models/ tree)."""
    found = release_parts(model if model.is_file() else model / "diffusion_pytorch_model.safetensors")
    vae = vae or (found[0] if found else None)
    text = text_encoder or (found[1] if found else None)
    if vae is None or text is None:
        raise SoraError(
            f"{model} is a Wan 2.1 diffusion model; say where its VAE and text encoder are with --vae "
            "(wan_2.1_vae.safetensors or Wan2.1_VAE.pth) and --text-encoder (umt5_xxl_*.safetensors or "
            "models_t5_umt5-xxl-enc-bf16.pth), or keep them in ComfyUI's models/vae/ and models/text_encoders/"
        )
    return model, vae, text


def wan_root(wan: tuple[Path, Path, Path] | None) -> Path | None:
    """The models/ folder the three Wan files lie in, each in its ComfyUI subfolder, if they do."""
    if wan is None:
        return None
    root = wan[0].resolve().parent.parent
    inside = all(p.resolve().parent == root / folder for p, folder in zip(wan, FOLDERS.values(), strict=True))
    return root if inside else None


def wan_names(wan: tuple[Path, Path, Path]) -> list[str]:
    """How the render's graph names the Wan files: as ComfyUI lists them when they lie in its folders
    (the graph then opens in ComfyUI as is, and stores no private paths), else by absolute path."""
    root = wan_root(wan)
    return [p.name if root else str(p.resolve()) for p in wan]
