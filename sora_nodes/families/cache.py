"""Loaded checkpoints kept across renders: a graph queued again does not reload an unchanged file."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from .bundle import SoraModel, require_model_file
from .sora import load_sora

log = logging.getLogger("sora_nodes")
MAX_MODELS = 2  # the default model is ~30 MB; two lets an A/B comparison stay warm

_models: OrderedDict[tuple, SoraModel] = OrderedDict()
_wan_models: OrderedDict[tuple, SoraModel] = OrderedDict()
_text_encoders: OrderedDict[tuple, object] = OrderedDict()
T = TypeVar("T")


def file_identity(path: Path) -> tuple[str, int, int]:
    """(resolved path, mtime in ns, size): changes whenever the file is replaced or rewritten."""
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def file_fingerprint(path: Path) -> str:
    """A short digest of `file_identity`: ComfyUI copies IS_CHANGED results into the saved graph,
    which must not leak the user's absolute paths."""
    return hashlib.sha256(repr(file_identity(path)).encode()).hexdigest()[:16]


def clear_model_cache() -> None:
    for cache in (_models, _wan_models, _text_encoders):
        cache.clear()


def _cached(cache: OrderedDict, key: tuple, load: Callable[[], T], what: str, limit: int, announce: bool) -> T:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    while len(cache) >= limit:  # drop the old one first: two 14B models at once would not fit
        cache.popitem(last=False)
    start = time.perf_counter()
    value = load()
    if announce:
        log.info("loaded %s (%.2f s)", what, time.perf_counter() - start)
    cache[key] = value
    return value


def cached_sora_model(path: str | Path, device: torch.device, *, announce: bool = True) -> SoraModel:
    """`load_sora(path)`, reusing the loaded model while the file on disk is unchanged. A real load is
    logged (`announce`): in a server's log, reloads are what a user looks for."""
    path = Path(path)
    require_model_file(path)
    key = (*file_identity(path), str(device))
    load = lambda: load_sora(path, device=device)  # noqa: E731
    return _cached(_models, key, load, f"checkpoint {path}", MAX_MODELS, announce)


def _identity(path: Path) -> tuple:
    return file_identity(path) if path.exists() else (str(path),)  # a missing file fails in the loader, clearly


def cached_wan_model(dit: Path, vae: Path, device: torch.device, dtype: str = "auto") -> SoraModel:
    """A Wan DiT + VAE, kept while both files are unchanged; only one at a time (the 14B DiT is 28 GB in bf16)."""
    from .wan import load_wan_model

    key = (_identity(dit), _identity(vae), str(device), dtype)
    load = lambda: load_wan_model(dit, vae, device=device, dtype=dtype)  # noqa: E731
    return _cached(_wan_models, key, load, f"Wan 2.1 model {dit.name} + {vae.name}", 1, True)


def cached_umt5(path: Path, device: torch.device, dtype: str = "auto"):
    """The umT5-XXL text encoder, kept while its file is unchanged; one at a time. `auto` is bf16 everywhere, as
    Wan runs it: 11 GB, where fp32 (23 GB) would not fit beside the DiT on a 24 GB machine."""
    from ..models.umt5 import load_umt5_text_encoder
    from .wan import weight_dtype

    key = (_identity(path), str(device), dtype)
    chosen = None if dtype == "auto" else weight_dtype(dtype, device)
    load = lambda: load_umt5_text_encoder(path, device=device, dtype=chosen)  # noqa: E731
    return _cached(_text_encoders, key, load, f"text encoder {path.name}", 1, True)
