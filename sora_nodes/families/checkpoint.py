"""Safetensors checkpoints that carry their own network configs (never pickle).

A file holds one or more networks. Tensors are stored as "<network>.<state-dict key>", and the
safetensors metadata (str -> str) holds "format", "networks" (a JSON list of names) and
"<network>.config" (the frozen config dataclass as JSON), so a file rebuilds its networks
without guessing.
Loading checks the header (keys, shapes, dtypes) against the freshly built module before any
tensor is read, so a wrong file gives one clear CheckpointError instead of a torch traceback.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import CheckpointError, SoraError
from ..io.atomic import atomic_path
from ..io.device import check_weights_fit
from ..models.config import config_from_json, config_to_json
from ..models.weights import DTYPES, read_header

FORMAT = "sora-nodes/1"


@dataclass(frozen=True)
class Architecture:
    """How to rebuild one network from its stored config."""

    config_class: type
    build: Callable[[Any], nn.Module]  # config -> module


def save_checkpoint(
    path: str | os.PathLike, networks: dict[str, nn.Module], *, metadata: dict[str, Any] | None = None
) -> Path:
    """Write `networks` (each with a frozen-dataclass `.config`) to one safetensors file, atomically."""
    path = Path(path)
    if not networks:
        raise SoraError("save_checkpoint needs at least one network, e.g. {'dit': model}")
    header = {"format": FORMAT, "networks": json.dumps(list(networks))}
    tensors = {}
    for name, module in networks.items():
        if not isinstance(name, str) or not name or "." in name:
            raise SoraError(f"network names must be non-empty strings without '.', got {name!r}")
        config = getattr(module, "config", None)
        if not dataclasses.is_dataclass(config) or isinstance(config, type):
            raise SoraError(
                f"network {name!r} ({type(module).__name__}) needs a `.config` dataclass instance so the "
                "checkpoint can rebuild it"
            )
        header[f"{name}.config"] = config_to_json(config)
        for key, value in module.state_dict().items():
            # Fresh contiguous CPU copies: safetensors refuses views and tensors that share storage (tied weights).
            tensors[f"{name}.{key}"] = value.detach().to("cpu", copy=True).contiguous()
    for key, value in (metadata or {}).items():
        if not isinstance(key, str):
            raise SoraError(f"metadata keys must be strings, got {key!r}")
        if key in header:
            raise SoraError(f"metadata key {key!r} is reserved by the checkpoint format; reserved: {sorted(header)}")
        try:
            header[key] = value if isinstance(value, str) else json.dumps(value)
        except TypeError as e:
            raise SoraError(f"metadata {key!r} must be a str or JSON-serialisable: {e}") from None
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def _check_format(path: Path, meta: dict[str, str]) -> list[str]:
    fmt = meta.get("format")
    if fmt is None:
        raise CheckpointError(
            f"{path} is a safetensors file but not a sora-nodes checkpoint (no 'format' in its metadata); "
            f"load a file written by sora-nodes (format {FORMAT!r})"
        )
    if fmt != FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {fmt!r}; this version of sora-nodes reads {FORMAT!r}")
    try:
        names = json.loads(meta["networks"])
        assert isinstance(names, list) and all(isinstance(x, str) for x in names)
    except (KeyError, ValueError, AssertionError):
        raise CheckpointError(f"{path} has no valid 'networks' list in its metadata; the file is damaged") from None
    return names


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a sora-nodes checkpoint, reading only the header."""
    path = Path(path)
    _, meta = read_header(path)
    _check_format(path, meta)
    return meta


def _few(keys: list[str], n: int = 5) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f", ... ({len(keys) - n} more)" if len(keys) > n else "")


def _validate(path: Path, name: str, module: nn.Module, table: dict[str, dict]) -> None:
    """Compare the file's tensor table for `name` with the module's own state dict."""
    prefix = f"{name}."
    found = {k[len(prefix) :]: v for k, v in table.items() if k.startswith(prefix)}
    expected = module.state_dict()
    where = f"network {name!r} in {path}"
    missing, unexpected = set(expected) - set(found), set(found) - set(expected)
    if missing or unexpected:
        parts = [f"{len(missing)} missing key(s): {_few(list(missing))}"] if missing else []
        parts += [f"{len(unexpected)} unexpected key(s): {_few(list(unexpected))}"] if unexpected else []
        raise CheckpointError(f"{where} does not match its architecture: {'; '.join(parts)}")
    shapes = [
        f"{k}: expected {list(v.shape)}, found {list(found[k]['shape'])}"
        for k, v in expected.items()
        if list(v.shape) != list(found[k]["shape"])
    ]
    if shapes:
        more = f"; ... ({len(shapes) - 5} more)" if len(shapes) > 5 else ""
        raise CheckpointError(
            f"{where} is a damaged or mismatched checkpoint: {len(shapes)} tensor shape(s) disagree with its stored "
            f"config (or the file was written by a different version of the network code): "
            f"{'; '.join(shapes[:5])}{more}"
        )
    for k, v in expected.items():
        stored = found[k]["dtype"]
        dtype = DTYPES.get(stored)
        # Weights may be any float type (cast on load); integer/bool buffers must match exactly.
        ok = dtype is not None and (dtype.is_floating_point if v.is_floating_point() else dtype == v.dtype)
        if not ok:
            allowed = "a floating type (F32, F16, BF16, ...)" if v.is_floating_point() else str(v.dtype)
            raise CheckpointError(f"{where}: tensor {k} has unsupported dtype {stored}; expected {allowed}")


def _load_bytes(module: nn.Module, dtype: torch.dtype | None) -> int:
    """Bytes of `module`'s tensors once built (float32) and cast to `dtype`."""
    total = 0
    for t in itertools.chain(module.parameters(), module.buffers()):
        total += t.numel() * t.element_size()
        if dtype is not None and t.is_floating_point() and dtype != t.dtype:
            total += t.numel() * dtype.itemsize  # the cast copy, alive beside the original for a moment
    return total


def _stored_bytes(table: dict[str, dict], name: str) -> int:
    """Bytes of network `name`'s tensors in the file: read into memory beside the built module while loading."""
    return sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in table.items() if k.startswith(f"{name}."))


def load_checkpoint(
    path: str | os.PathLike,
    architectures: dict[str, Architecture],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """Rebuild each network in `architectures` from its stored config and load its weights.

    Networks in the file but not in `architectures` are ignored. `dtype` casts floating tensors.
    Returns the modules in eval mode, and the file's metadata.
    """
    path = Path(path)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise SoraError(f"dtype must be a floating torch dtype such as torch.float16 or torch.bfloat16, got {dtype!r}")
    table, meta = read_header(path)
    stored = _check_format(path, meta)
    modules = {}
    for name, arch in architectures.items():
        if name not in stored:
            raise CheckpointError(f"{path} has no network {name!r}; it holds {stored}")
        if f"{name}.config" not in meta:
            raise CheckpointError(f"{path} has no config for network {name!r}; the file is damaged")
        try:
            config = config_from_json(arch.config_class, meta[f"{name}.config"])
        except CheckpointError as e:
            raise CheckpointError(f"network {name!r} in {path}: {e}") from None
        # Shapes first, on the meta device (no memory): what the config implies is judged, and compared with
        # the file's own header, before a single weight is allocated.
        try:
            with torch.device("meta"):
                shape_only = arch.build(config)
        except Exception as e:  # noqa: BLE001 - a config within its limits that its network still rejects
            raise CheckpointError(
                f"network {name!r} in {path} has a config its architecture cannot build ({type(e).__name__}: "
                f"{str(e)[:200]}); the file is damaged or from another version of sora-nodes"
            ) from None
        check_weights_fit(
            f"network {name!r} of {path} (the file holds {_stored_bytes(table, name) / 2**20:.3g} MiB of its weights)",
            _load_bytes(shape_only, dtype) + _stored_bytes(table, name),
            device,
            parameters=sum(p.numel() for p in shape_only.parameters()),
        )
        _validate(path, name, shape_only, table)
        del shape_only
        module = arch.build(config).to(device=device, dtype=dtype)
        prefix = f"{name}."
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as f:
                state = {k[len(prefix) :]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}  # noqa: SIM118
        except (SafetensorError, OSError, RuntimeError) as e:  # header was valid: damaged tensor data
            raise CheckpointError(f"could not read the tensors of network {name!r} from {path}: {e}") from None
        module.load_state_dict(state, strict=True)
        modules[name] = module.eval()
    return modules, meta
