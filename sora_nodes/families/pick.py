"""What `sora render --model` (with --vae and --text-encoder) names, resolved once: our checkpoint, or the
three files of a Wan 2.1 model, and that family's render defaults."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, SoraError
from ..io.file_kind import file_kind
from . import family_of, wan
from .bundle import SoraModel, default_model_path
from .cache import cached_sora_model, cached_wan_model
from .defaults import SORA, WAN, RenderDefaults


@dataclass(frozen=True)
class ModelChoice:
    path: Path  # our checkpoint, or the Wan diffusion model (a file or a release folder)
    wan_files: tuple[Path, Path, Path] | None = None  # (diffusion model, VAE, text encoder) of a Wan model

    @property
    def render_defaults(self) -> RenderDefaults:
        return SORA if self.wan_files is None else WAN

    def load(self, device, weight_dtype: str = "auto") -> SoraModel:
        """The model, from the cache the render graph's loader node reads, so that node gets this same object
        (one model per process, so no load news)."""
        if self.wan_files is None:
            return cached_sora_model(self.path, device, announce=False)
        return cached_wan_model(self.wan_files[0], self.wan_files[1], device, weight_dtype)


def pick_model(model: Path | None, vae: Path | None, text_encoder: Path | None) -> ModelChoice:
    """The model a render uses, judged without loading it: a Wan model by its tensor names (its VAE and text
    encoder from the arguments or from beside it), else our checkpoint (the default one when none is named)."""
    path = Path(model or default_model_path())
    check_model_path(path)
    files = wan.wan_files(path, vae, text_encoder) if family_of(path) == "wan" else None
    if files is None and path.is_dir():
        raise SoraError(
            f"--model {path} is a folder without a Wan 2.1 diffusion model in it; pass a .safetensors "
            "checkpoint, or a Wan 2.1 release folder"
        )
    return ModelChoice(path, files)


def check_model_path(path: Path) -> None:
    """Refuse a --model that is no file to read weights from by what it is: a device or a pipe (sniffing one
    for a Wan header could hang on a pipe), or an empty file. A folder passes (a Wan release folder is one),
    and so does a missing file: loading it says so, after the prompt filter has had its say."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as e:
        raise CheckpointError(f"--model {path} cannot be read ({e.strerror}); pass a checkpoint you can read") from None
    if stat.S_ISDIR(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(
            f"--model {path} is {file_kind(info.st_mode)}, not a regular file, so not a checkpoint; "
            "pass --model PATH to a .safetensors checkpoint"
        )
    if info.st_size == 0:
        raise CheckpointError(
            f"--model {path} is empty (0 bytes), not a checkpoint; pass --model PATH to a .safetensors checkpoint"
        )
