"""Loaded checkpoints kept across renders: a graph queued again does not reload an unchanged file."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from pathlib import Path

import torch

from .bundle import SoraModel, load_sora_model, require_model_file

log = logging.getLogger("sora_nodes")
MAX_MODELS = 2  # the default model is ~30 MB; two lets an A/B comparison stay warm

_models: OrderedDict[tuple, SoraModel] = OrderedDict()


def file_identity(path: Path) -> tuple[str, int, int]:
    """(resolved path, mtime in ns, size): changes whenever the file is replaced or rewritten."""
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def file_fingerprint(path: Path) -> str:
    """A short digest of `file_identity`: ComfyUI copies IS_CHANGED results into the saved graph,
    which must not leak the user's absolute paths."""
    return hashlib.sha256(repr(file_identity(path)).encode()).hexdigest()[:16]


def clear_model_cache() -> None:
    _models.clear()


def cached_sora_model(path: str | Path, device: torch.device, *, announce: bool = True) -> SoraModel:
    """`load_sora_model(path)`, reusing the loaded model while the file on disk is unchanged. A real load is
    logged (`announce`): in a server's log, reloads are what a user looks for."""
    path = Path(path)
    require_model_file(path)
    key = (*file_identity(path), str(device))
    if key in _models:
        _models.move_to_end(key)
        return _models[key]
    start = time.perf_counter()
    model = load_sora_model(path, device=device)
    if announce:
        log.info("loaded checkpoint %s (%.2f s)", path, time.perf_counter() - start)
    _models[key] = model
    while len(_models) > MAX_MODELS:
        _models.popitem(last=False)
    return model
