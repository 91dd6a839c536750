"""Third-party weight files (Wan 2.1 and its umT5): read, check against a module, and load.

Our own checkpoints carry their configs (checkpoint.py). Files from other releases do not, so the
loaders here read plain state dicts, infer a config from the tensor shapes, and check every key,
shape and dtype against the module built from it before anything is copied, with errors that
name the file, the folder it belongs in and what is wrong.

Accepted containers: `.safetensors` (one file, or the shards named by a `*.safetensors.index.json`)
and `.pth`/`.pt` read with torch's weights-only unpickler, which rebuilds tensors and refuses to
run code (the original Wan release ships its VAE and text encoder that way).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from ..errors import CheckpointError
from ..io.device import check_weights_fit

# The safetensors dtype names we can load. Others (U16, U32, U64, complex, ...) are refused.
DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
MAX_HEADER_BYTES = 100_000_000  # the limit the safetensors library itself enforces
FLOAT8 = (torch.float8_e4m3fn, torch.float8_e5m2)
SHOWN = 5  # how many offending keys an error lists


def _missing(path: Path, what: str, folder: str) -> CheckpointError:
    return CheckpointError(
        f"{what} file {path} does not exist; put it in ComfyUI's models/{folder}/ folder "
        f"(or pass its path). Nothing is ever downloaded."
    )


def _read_safetensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    table, _ = read_header(path)
    # Every tensor is read into memory at once: refuse before reading when they cannot fit.
    stored = sum(entry["data_offsets"][1] - entry["data_offsets"][0] for entry in table.values())
    check_weights_fit(f"{what} file {path}", stored, "cpu")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"{what} file {path} cannot be read ({str(e).strip()[:200]}); copy it again") from None


def _read_pickle(path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - the unpickler raises many types for damaged or unsafe files
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{what} file {path} is not a readable weights-only PyTorch file ({first}); "
            "use the release's .safetensors or .pth file as downloaded"
        ) from None
    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{what} file {path} does not hold a state dict of tensors")
    return dict(data)


def read_weights(path: str | Path, *, what: str, folder: str) -> dict[str, torch.Tensor]:
    """Every tensor of a weight file (or of a sharded release through its index JSON), on the CPU."""
    path = Path(path)
    if path.is_dir():
        indexes = sorted(path.glob("*.safetensors.index.json"))
        singles = sorted(path.glob("*.safetensors"))
        if len(indexes) == 1:
            path = indexes[0]
        elif len(singles) == 1:
            path = singles[0]
        else:
            raise CheckpointError(
                f"{what}: {path} is a folder with {len(singles)} .safetensors files and {len(indexes)} index "
                "files; name the file (or the *.safetensors.index.json of a sharded release)"
            )
    if not path.exists():
        raise _missing(path, what, folder)
    if path.name.endswith(".index.json"):
        try:
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise CheckpointError(f"{what} index {path} is not a safetensors index (no 'weight_map')") from None
        weights: dict[str, torch.Tensor] = {}
        for shard in shards:
            if not (path.parent / shard).exists():
                raise CheckpointError(f"{what}: shard {shard} named by {path.name} is missing from {path.parent}")
            weights.update(_read_safetensors(path.parent / shard, what))
        return weights
    if path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        return _read_pickle(path, what)
    return _read_safetensors(path, what)


def strip_prefix(weights: dict[str, torch.Tensor], prefixes: Iterable[str]) -> dict[str, torch.Tensor]:
    """Drop the first prefix that every key of the file starts with (ComfyUI saves some as
    `model.diffusion_model.*`)."""
    for prefix in prefixes:
        if weights and all(k.startswith(prefix) for k in weights):
            return {k[len(prefix) :]: v for k, v in weights.items()}
    return weights


def unscale_fp8(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ComfyUI's "fp8 scaled" files: a `scaled_fp8` marker, and each fp8 `X.weight` stored as
    weight / scale with the scale in `X.scale_weight` (`X.scale_input` only serves fp8 matmuls).
    Returns the plain state dict with every weight multiplied back, in float32."""
    if "scaled_fp8" not in weights:
        return weights
    out = {}
    for key, value in weights.items():
        if key == "scaled_fp8" or key.endswith((".scale_weight", ".scale_input")):
            continue
        scale = weights.get(key[: -len("weight")] + "scale_weight") if key.endswith(".weight") else None
        out[key] = value.float() * scale.float() if scale is not None else value
    return out


def _listed(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def check_weights(module: nn.Module, weights: Mapping[str, torch.Tensor], *, what: str, path: Path) -> None:
    """Every key of `module` is in `weights` with its shape and a float dtype, and nothing else is."""
    expected = module.state_dict()
    missing = expected.keys() - weights.keys()
    unexpected = weights.keys() - expected.keys()
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_listed(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_listed(unexpected)})")
        raise CheckpointError(
            f"{path} is not a {what} file of this architecture: keys {'; '.join(parts)}. "
            "Check that the file is the right kind (diffusion model, VAE or text encoder) and release"
        )
    wrong = [
        f"{k} is {list(weights[k].shape)}, expected {list(v.shape)}"
        for k, v in expected.items()
        if tuple(weights[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise CheckpointError(
            f"{path} has {len(wrong)} tensor(s) of the wrong shape for {what}: {'; '.join(wrong[:3])}"
        )
    bad = sorted(k for k, v in weights.items() if not v.is_floating_point())
    if bad:
        raise CheckpointError(f"{path}: {what} tensors must be floating point; {_listed(bad)} are not")


def load_weights(
    module: nn.Module,
    weights: Mapping[str, torch.Tensor],
    *,
    what: str,
    path: Path,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Check, then copy `weights` into `module` as `dtype` on `device` (fp8 files are upcast: no kernel
    here computes in fp8). Built on the meta device, the module takes the tensors without a second copy."""
    check_weights(module, weights, what=what, path=path)
    state = {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in weights.items()}
    module.load_state_dict(state, strict=True, assign=True)
    return module.to(device=device).eval()


def read_header(path: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """Parse a safetensors header ourselves: tensor table and metadata, with precise errors. Every safetensors
    file is judged here first, ours and others' (Wan), so a truncated or garbled file reads the same everywhere."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little")
        if len(head) < 8 or n < 2 or n > MAX_HEADER_BYTES:
            # torch.save writes a zip ("PK") or a raw pickle (protocol opcode 0x80).
            if head.startswith((b"PK\x03\x04", b"\x80")):
                raise CheckpointError(
                    f"{path} is a PyTorch pickle checkpoint (.ckpt/.pt/.bin); sora-nodes loads only .safetensors "
                    "files, because unpickling can run arbitrary code"
                )
            raise CheckpointError(f"{path} is not a safetensors file; sora-nodes checkpoints are .safetensors files")
        if 8 + n > size:
            raise CheckpointError(
                f"{path} is truncated (its header alone needs {8 + n} bytes, the file has {size}); "
                "download or copy it again"
            )
        raw = f.read(n)
    try:
        if not raw.startswith(b"{"):
            raise ValueError("a safetensors header is a JSON object")
        table = json.loads(raw)
        meta = table.pop("__metadata__", None) or {}
        end = max((int(t["data_offsets"][1]) for t in table.values()), default=0)
        if not all(isinstance(v, str) for v in meta.values()):
            raise ValueError("metadata values must be strings")
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        raise CheckpointError(
            f"{path} is not a safetensors file (unreadable header); sora-nodes checkpoints are .safetensors files"
        ) from None
    if 8 + n + end > size:
        raise CheckpointError(
            f"{path} is truncated ({size} bytes, its header promises {8 + n + end}); download or copy it again"
        )
    for key, entry in table.items():
        _check_entry(path, key, entry)
    return table, meta


def _check_entry(path: Path, key: str, entry: Any) -> None:
    """A tensor's shape must account for exactly its bytes: the shapes are what the configs are checked
    against, so a header that lies about them must not get that far."""
    try:
        shape, dtype, (start, stop) = entry["shape"], entry["dtype"], entry["data_offsets"]
        ok = isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ok = ok and isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop
    except (TypeError, KeyError, ValueError):
        ok = False
    if not ok:
        raise CheckpointError(
            f"{path} is damaged: the header entry of tensor {key!r} is malformed; copy the file again"
        )
    if dtype in DTYPES and math.prod(shape) * DTYPES[dtype].itemsize != stop - start:
        raise CheckpointError(
            f"{path} is a damaged or mismatched checkpoint: tensor {key!r} claims shape {shape} ({dtype}) but holds "
            f"{stop - start} bytes; copy the file again"
        )
