"""The host inside a running ComfyUI server: its folders, its progress bar and its Cancel button."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import SoraError
from ..families.bundle import MODELS_DIR
from ..families.cache import clear_model_cache
from ..graph.host import INPUT_EXTENSIONS, MODEL_EXTENSIONS, MODEL_FOLDER, file_inside, listed_files

PREVIEW_MAX_SIZE = 512  # pixels; the stock frontend shows the preview at node size anyway


class _ComfyProgress:
    def __init__(self, total: int):
        import comfy.utils

        self.bar = comfy.utils.ProgressBar(total)

    def update(self, step: int, preview: np.ndarray | None = None) -> None:
        from PIL import Image

        image = None if preview is None else ("JPEG", Image.fromarray(preview), PREVIEW_MAX_SIZE)
        self.bar.update_absolute(step, preview=image)  # under the server this also checks Cancel
        ComfyUIHost.check_interrupted()


class ComfyUIHost:
    def __init__(self):
        import folder_paths

        # The repo's models/sora/ is always searched, after ComfyUI's own models/sora/ (or the
        # one extra_model_paths.yaml names), so a fresh install lists the shipped default model.
        folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER))
        folder_paths.add_model_folder_path(MODEL_FOLDER, str(MODELS_DIR))
        paths, _ = folder_paths.folder_names_and_paths[MODEL_FOLDER]
        folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, MODEL_EXTENSIONS)
        self.folder_paths = folder_paths
        _also_unload_on_free()

    def model_names(self) -> list[str]:
        return self.folder_paths.get_filename_list(MODEL_FOLDER)

    def model_path(self, name: str) -> Path:
        path = self.folder_paths.get_full_path(MODEL_FOLDER, name)
        if path is None:
            folders = ", ".join(self.folder_paths.get_folder_paths(MODEL_FOLDER))
            raise SoraError(f"checkpoint {name!r} was not found in {folders}; put .safetensors files in models/sora/")
        return Path(path)

    def weight_names(self, folder: str) -> list[str]:
        return self.folder_paths.get_filename_list(folder)

    def weight_path(self, folder: str, name: str) -> Path:
        path = self.folder_paths.get_full_path(folder, name)
        if path is None:
            folders = ", ".join(self.folder_paths.get_folder_paths(folder))
            raise SoraError(f"{name!r} was not found in {folders}; put the file in models/{folder}/")
        return Path(path)

    def input_names(self) -> list[str]:
        return listed_files([Path(self.folder_paths.get_input_directory())], INPUT_EXTENSIONS)

    def input_path(self, name: str) -> Path:
        folder = Path(self.folder_paths.get_input_directory())
        return file_inside([folder], name, "video", "upload it with the node's upload button")

    def output_dir(self) -> Path:
        return Path(self.folder_paths.get_output_directory())

    def device(self) -> torch.device:
        import comfy.model_management

        return comfy.model_management.get_torch_device()

    def progress(self, total: int) -> _ComfyProgress:
        return _ComfyProgress(total)

    @staticmethod
    def check_interrupted() -> None:
        import comfy.model_management

        comfy.model_management.throw_exception_if_processing_interrupted()


def _also_unload_on_free() -> None:
    """ComfyUI's "Unload models" (POST /free) calls unload_all_models(), which knows only its own
    ModelPatchers; wrap it so our cached checkpoints are dropped too."""
    import comfy.model_management as mm

    unload = mm.unload_all_models
    if getattr(unload, "_sora_wrapped", False):
        return

    def unload_all_models(*args, **kwargs):
        clear_model_cache()
        return unload(*args, **kwargs)

    unload_all_models._sora_wrapped = True
    mm.unload_all_models = unload_all_models


@functools.cache
def comfyui_host() -> ComfyUIHost:
    return ComfyUIHost()
