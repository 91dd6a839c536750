"""The Sora model bundle: the DiT, the video VAE and the name of the text encoder they were trained with.

One safetensors file holds all of it (configs and latent statistics in its metadata and
buffers), so a checkpoint loads without guessing. This is what the `SORA_MODEL`/`SORA_VAE`
sockets carry and what `sora render --model` reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..models.config import preset
from ..models.dit import DiT, DiTConfig, dit_preset
from ..models.latent_format import LatentFormat
from ..models.text import FILE_TEXT_ENCODERS, TEXT_ENCODERS
from ..models.vae import VAE_PRESETS, VAEConfig, VideoVAE
from .checkpoint import Architecture, load_checkpoint, save_checkpoint
from .defaults import SORA

ARCHITECTURES = {
    "dit": Architecture(DiTConfig, DiT),
    "vae": Architecture(VAEConfig, VideoVAE),
}
DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"
MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "sora"
DEFAULT_MODEL_NAME = "sora-default.safetensors"


def default_model_path() -> Path:
    """`$SORA_MODEL` if set, else the checkpoint shipped in the repository's models/sora/."""
    return Path(os.environ.get("SORA_MODEL") or MODELS_DIR / DEFAULT_MODEL_NAME)


def checkpoint_name(path: Path) -> str:
    """How a graph names a checkpoint: relative to models/sora/ when it lies there, else its file name."""
    resolved = path.resolve()
    return resolved.relative_to(MODELS_DIR).as_posix() if resolved.is_relative_to(MODELS_DIR) else path.name


@dataclass
class SoraModel:
    dit: DiT
    vae: VideoVAE
    text_encoder: str = DEFAULT_TEXT_ENCODER
    metadata: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self):
        if self.dit.config.latent_channels != self.vae.config.latent_channels:
            raise CheckpointError(
                f"the DiT expects {self.dit.config.latent_channels} latent channels but the VAE makes "
                f"{self.vae.config.latent_channels}; pair a DiT with the VAE it was trained on"
            )
        known = {*TEXT_ENCODERS, *FILE_TEXT_ENCODERS}
        if self.text_encoder not in known:
            raise CheckpointError(f"unknown text encoder {self.text_encoder!r}; known: {sorted(known)}")

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    @property
    def latent_format(self) -> LatentFormat:
        return dataclasses.replace(self.vae.latent_format, patch=self.dit.config.patch_size)

    @property
    def reads_condition(self) -> bool:
        """Whether the DiT reads the spacetime condition channels (ours) or needs it re-imposed (Wan T2V)."""
        return getattr(self.dit, "reads_condition", True)

    @property
    def fixed_shift(self) -> float | None:
        """The schedule shift the model was trained with, when it is one fixed value (Wan: 5.0)."""
        shift = self.metadata.get("shift")
        return None if shift is None else float(shift)

    @property
    def max_frames(self) -> int:
        """The longest clip one window may render: the model has never seen longer contexts."""
        return int(self.metadata.get("max_frames", SORA.max_frames))

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Latent (T', H', W') for a clip; raises ShapeError saying which sizes this model allows."""
        return self.latent_format.latent_shape(frames, height, width)


def new_sora_model(
    dit: str | DiTConfig = "tiny",
    vae: str | VAEConfig = "tiny",
    *,
    text_encoder: str = DEFAULT_TEXT_ENCODER,
    seed: int = 0,
) -> SoraModel:
    """A freshly initialised (untrained) bundle; the DiT's latent channels follow the VAE."""
    vae_cfg = preset(VAE_PRESETS, vae, "VAE") if isinstance(vae, str) else vae
    dit_cfg = dit_preset(dit) if isinstance(dit, str) else dit
    text_dim = TEXT_ENCODERS[text_encoder].dim if text_encoder in TEXT_ENCODERS else dit_cfg.text_dim
    dit_cfg = dataclasses.replace(dit_cfg, latent_channels=vae_cfg.latent_channels, text_dim=text_dim)
    torch.manual_seed(seed)
    return SoraModel(DiT(dit_cfg).eval(), VideoVAE(vae_cfg).eval(), text_encoder)


def save_sora_model(path: str | os.PathLike, model: SoraModel, *, training: dict | None = None) -> Path:
    metadata = {"text_encoder": model.text_encoder}
    if training is not None:
        metadata["training"] = json.dumps(training, sort_keys=True)
    return save_checkpoint(path, {"dit": model.dit, "vae": model.vae}, metadata=metadata)


def load_frozen_vae(path: str | os.PathLike, device) -> VideoVAE:
    """The VAE of a whole model or of a VAE-only checkpoint (`sora train vae`), frozen for training and scoring."""
    networks, _ = load_checkpoint(path, {"vae": ARCHITECTURES["vae"]}, device=device)
    return networks["vae"].eval().requires_grad_(False)


def latent_space_differences(vae: VideoVAE, other: VideoVAE) -> list[str]:
    """The weights and buffers outside the decoders in which two VAEs differ (the encoder, the latent
    statistics): none means a latent made with one means the same to the other, so decoders can be swapped
    without retraining a DiT. A different architecture is one difference, "architecture"."""
    ours, theirs = vae.state_dict(), other.state_dict()
    if ours.keys() != theirs.keys() or any(ours[k].shape != theirs[k].shape for k in ours):
        return ["architecture"]
    return [k for k in ours if not k.startswith("decoder.") and not torch.equal(ours[k], theirs[k])]


def use_decoder(vae: VideoVAE, path: str | os.PathLike) -> None:
    """Give `vae` the decoder of the VAE at `path` (a decoder-only fine-tune of it), in place."""
    other = load_frozen_vae(path, next(vae.parameters()).device)
    changed = latent_space_differences(vae, other)
    if changed:
        where = "in its architecture" if changed == ["architecture"] else f"outside its decoder ({changed[0]}, ...)"
        raise CheckpointError(
            f"{path} differs from the model's VAE {where}: only a decoder-only fine-tune of the model's own VAE "
            "(`sora train vae --decoder-only --init-from MODEL`) can decode its latents"
        )
    vae.load_state_dict(other.state_dict())


def require_model_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(
            f"model file {path} does not exist; pass --model PATH to a .safetensors "
            f"checkpoint (the default is looked up at {default_model_path()})"
        )


# The metadata values a render reads as numbers, and the range a real model's value lies in.
NUMERIC_METADATA = {"max_frames": (int, 1, 100_000), "shift": (float, 0.01, 1000.0)}


def _check_metadata(path: Path, metadata: dict[str, str]) -> None:
    """The numbers a render reads from the file's metadata, checked once here rather than failing mid-render."""
    for key, (kind, low, high) in NUMERIC_METADATA.items():
        if key not in metadata:
            continue
        try:
            value = kind(metadata[key])
            ok = low <= value <= high
        except (ValueError, OverflowError):
            ok = False
        if not ok:
            what = "an integer" if kind is int else "a number"
            raise CheckpointError(
                f"{path} has metadata {key}={metadata[key][:40]!r}; it must be {what} in {low:g}..{high:g}, so the "
                "file is damaged"
            )


def load_sora_model(path: str | os.PathLike, *, device="cpu", dtype: torch.dtype | None = None) -> SoraModel:
    path = Path(path)
    require_model_file(path)
    networks, metadata = load_checkpoint(path, ARCHITECTURES, device=device)
    _check_metadata(path, metadata)
    model = SoraModel(
        networks["dit"], networks["vae"], metadata.get("text_encoder", DEFAULT_TEXT_ENCODER), metadata, path
    )
    if dtype is not None:
        model.dit.to(dtype=dtype)
    return model
