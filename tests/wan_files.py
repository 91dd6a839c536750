"""Tiny random Wan 2.1 files in ComfyUI's layout, for running the pack's nodes, tasks and CLI on a Wan model.

`write_tiny_wan(root)` fills root/diffusion_models, root/vae and root/text_encoders with the file names
the shipped Wan workflows use, so those workflows run unchanged on a 2-core CPU in seconds.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from safetensors.torch import save_file

from sora_nodes.models.umt5 import UMT5_PRESETS, umt5_config
from sora_nodes.models.wan_dit import WanDiT, wan_dit_preset
from sora_nodes.models.wan_vae import WAN_VAE_PRESETS, WanVAE

FILES = {  # as in scripts/make_wan_workflows.py
    "diffusion_models": "wan2.1_t2v_1.3B_fp16.safetensors",
    "vae": "wan_2.1_vae.safetensors",
    "text_encoders": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
}
CORPUS = [
    "a red circle moving right on a plain mint background, static camera",
    "a red paper lantern drifting over a night market, warm light, slow camera pan",
    "the lantern rises above the rooftops while dawn breaks over the city",
    "a blue square spinning and a green triangle bouncing in the snow",
    "waves crash against the rocky shore under a grey sky at sunset",
    "children play football in a dusty street after the rain",
]


def _randomised(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}  # untied copies


def tiny_spm() -> bytes:
    import sentencepiece

    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 50), model_writer=out, vocab_size=UMT5_PRESETS["tiny"]["vocab_size"],
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0, minloglevel=2,
    )  # fmt: skip
    return out.getvalue()


def write_tiny_wan(root: Path, seed: int = 0) -> dict[str, Path]:
    from transformers import UMT5EncoderModel

    paths = {folder: root / folder / name for folder, name in FILES.items()}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    dit = _randomised(WanDiT(wan_dit_preset("tiny")), seed)
    save_file({f"model.diffusion_model.{k}": v for k, v in dit.items()}, str(paths["diffusion_models"]))
    save_file(_randomised(WanVAE(WAN_VAE_PRESETS["tiny"]), seed + 1), str(paths["vae"]))
    text = _randomised(UMT5EncoderModel(umt5_config("tiny")), seed + 2)
    text["spiece_model"] = torch.frombuffer(bytearray(tiny_spm()), dtype=torch.uint8)
    save_file(text, str(paths["text_encoders"]))
    return paths


def damaged_file(state: dict[str, torch.Tensor], path: Path, *, without: str | None = None, changed=None) -> Path:
    """`state` saved at `path` with the key `without` left out and the keys of `changed` replaced."""
    save_file({k: v for k, v in state.items() if k != without} | (changed or {}), str(path))
    return path
