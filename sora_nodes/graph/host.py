"""Where the nodes run: inside the ComfyUI server, or headless under `sora run`.

Nodes never talk to ComfyUI directly. They ask the current host for folders, progress bars and
the interrupt check, so the same node classes run in both places. Inside a ComfyUI process
(`folder_paths` is already imported by the server) the host is the one `sora_nodes.comfy` registered
with `serve_inside_comfyui`; otherwise it is a `HeadlessHost`, which the runner configures with its own
folders. The ComfyUI host registers itself so that this module, below the adapters, never imports them.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..errors import SoraError
from ..families.bundle import MODELS_DIR
from ..io.device import pick_device

MODEL_FOLDER = "sora"  # models/sora/, the folder name registered with ComfyUI
MODEL_EXTENSIONS = {".safetensors"}
WEIGHT_EXTENSIONS = {".safetensors", ".pth", ".pt"}
VIDEO_EXTENSIONS = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif", ".m4v"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}  # SoraLoadVideo loads these as 1-frame videos
INPUT_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS


class Interrupted(Exception):
    """The user cancelled the run (headless: Ctrl-C or `HeadlessHost.interrupt()`)."""


class Progress(Protocol):
    def update(self, step: int, preview: np.ndarray | None = None) -> None:
        """Report `step` of the total (1-based); `preview` is an RGB uint8 [H, W, 3] image. Raises on cancel."""


class Host(Protocol):
    def model_names(self) -> list[str]: ...
    def model_path(self, name: str) -> Path: ...
    def weight_names(self, folder: str) -> list[str]: ...
    def weight_path(self, folder: str, name: str) -> Path: ...
    def input_names(self) -> list[str]: ...
    def input_path(self, name: str) -> Path: ...
    def output_dir(self) -> Path: ...
    def device(self) -> torch.device: ...
    def progress(self, total: int) -> Progress: ...
    def check_interrupted(self) -> None: ...


def listed_files(folders: list[Path], extensions: set[str]) -> list[str]:
    """Relative names of the files under `folders` with one of `extensions`, sorted, first folder wins."""
    names: dict[str, None] = {}
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.suffix.lower() in extensions and not path.name.startswith("."):
                    names.setdefault(path.relative_to(folder).as_posix(), None)
    return sorted(names)


def file_inside(
    folders: list[Path], name: str, what: str, hint: str, outside: str = "pick a file inside that folder"
) -> Path:
    """The existing file `name` in one of `folders`. A name that leaves its folder, by `..`, an absolute path or a
    symlink that points out (paths are compared after resolving links), is refused with `outside` as the fix."""
    for folder in folders:
        root = folder.resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            raise SoraError(f"{what} {name!r} points outside {root}; {outside}")
        if path.is_file():
            return path
    raise SoraError(f"{what} {name!r} was not found in {', '.join(str(f) for f in folders)}; {hint}")


class _Bar:
    """A tqdm bar that also honours the headless host's interrupt flag."""

    def __init__(self, host: HeadlessHost, total: int):
        from tqdm import tqdm

        self.host, self.bar = host, tqdm(total=total, desc="sampling", unit="step", disable=host.quiet)

    def update(self, step: int, preview: np.ndarray | None = None) -> None:
        self.bar.update(step - self.bar.n)
        if step >= self.bar.total:
            self.bar.close()
        self.host.check_interrupted()


@dataclass
class HeadlessHost:
    """Folders and progress for `sora run` and tests; `interrupt()` cancels the running graph."""

    output: Path = field(default_factory=lambda: Path.cwd() / "output")
    input: Path = field(default_factory=lambda: Path.cwd() / "input")
    models: list[Path] = field(default_factory=lambda: [MODELS_DIR])
    weights: Path = field(default_factory=lambda: MODELS_DIR.parent)  # holds diffusion_models/, vae/, text_encoders/
    quiet: bool = False
    compute: torch.device | None = None  # None: CUDA when torch sees one, else the CPU
    # A shared workflow names its inputs; off, it can read only files in the input folder, as in ComfyUI.
    allow_absolute_inputs: bool = False
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def model_names(self) -> list[str]:
        return listed_files(self.models, MODEL_EXTENSIONS)

    def model_path(self, name: str) -> Path:
        return file_inside(self.models, name, "checkpoint", "put .safetensors files in models/sora/")

    def weight_names(self, folder: str) -> list[str]:
        return listed_files([self.weights / folder], WEIGHT_EXTENSIONS)

    def weight_path(self, folder: str, name: str) -> Path:
        if Path(name).is_absolute():  # `sora render --model /path/to/wan.safetensors`
            if not Path(name).exists():
                raise SoraError(f"{name} does not exist; pass the path of a file in models/{folder}/")
            return Path(name)
        return file_inside(
            [self.weights / folder],
            name,
            "model file",
            f"put it in models/{folder}/, or point `sora run --models-dir` at a models folder that has it "
            "(ComfyUI's, for example)",
        )

    def input_names(self) -> list[str]:
        return listed_files([self.input], INPUT_EXTENSIONS)

    def input_path(self, name: str) -> Path:
        if Path(name).is_absolute() and self.allow_absolute_inputs:  # the user let this graph name any file
            if not Path(name).is_file():
                raise SoraError(f"video {name!r} does not exist")
            return Path(name)
        return file_inside(
            [self.input],
            name,
            "video",
            "put the file in the input folder, or point `sora run --input-dir` at its folder "
            "(the shipped samples are in workflows/inputs)",
            outside="a workflow reads inputs only from the input folder: copy the file there, point "
            "`sora run --input-dir` at its folder, or pass --allow-absolute-inputs to let it name absolute paths",
        )

    def output_dir(self) -> Path:
        return self.output

    def device(self) -> torch.device:
        return self.compute if self.compute is not None else pick_device("auto")

    def progress(self, total: int) -> Progress:
        return _Bar(self, total)

    def interrupt(self) -> None:
        self._cancel.set()

    def check_interrupted(self) -> None:
        if self._cancel.is_set():
            self._cancel.clear()
            raise Interrupted("the run was cancelled")


_override: Host | None = None
_comfyui_host: Callable[[], Host] | None = None


def serve_inside_comfyui(make_host: Callable[[], Host]) -> None:
    """Called once by `sora_nodes.comfy`: how to build the host when running inside ComfyUI's server."""
    global _comfyui_host
    _comfyui_host = make_host


def current_host() -> Host:
    """The host set by `use_host`, else ComfyUI's when running inside its server, else a default headless one."""
    if _override is not None:
        return _override
    if "folder_paths" in sys.modules and _comfyui_host is not None:
        return _comfyui_host()
    return HeadlessHost()


@contextlib.contextmanager
def use_host(host: Host) -> Iterator[Host]:
    global _override
    previous, _override = _override, host
    try:
        yield host
    finally:
        _override = previous
