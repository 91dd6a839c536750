"""The Sora family: our own checkpoints (one safetensors file with the DiT, the video VAE and their configs).

The file format and the bundle live in `families.bundle`; this module adds what a render needs of the
family: a refusal that names the right loader when the file is of another family.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import CheckpointError
from . import family_of
from .bundle import SoraModel, load_sora_model


def load_sora(path: str | os.PathLike, *, device="cpu", dtype: torch.dtype | None = None) -> SoraModel:
    """`load_sora_model`, with a Wan 2.1 file refused by what it is and where it belongs."""
    try:
        return load_sora_model(path, device=device, dtype=dtype)
    except CheckpointError:
        if family_of(Path(path)) == "wan":
            raise CheckpointError(
                f"{path} is a Wan 2.1 diffusion model, not a Sora checkpoint: put it in models/diffusion_models/ "
                "and load it with the Sora Wan 2.1 Loader (SoraWanLoader); `sora render --model` takes it as it is"
            ) from None
        raise
