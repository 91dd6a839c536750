"""Frozen network configs <-> JSON, so a checkpoint stores its own architecture.

A config read from a file is untrusted: every field is checked for its declared type and against
FIELD_LIMITS before any network is built from it, because one edited number ("depth": 100000)
would otherwise make the constructor allocate terabytes before any weight is looked at.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, TypeVar

from ..errors import CheckpointError

C = TypeVar("C")

# The largest value a config read from a file may hold, by field name, for every network family (ours,
# Wan, umT5). Each is several times the largest published model of its kind (Wan 2.1 14B: dim 5120,
# ffn 13824, 40 layers, 40 heads; DiT-XL: 1152 wide, 28 deep; umT5-XXL: d_ff 10240, 24 layers, vocab
# 256384), so no real checkpoint is refused, and the product of the limits is what the memory estimate
# (checkpoint.py) then judges. Integer fields named here must also be >= 1.
FIELD_LIMITS: dict[str, float] = {
    "hidden_size": 32768,
    "dim": 32768,
    "d_model": 32768,
    "d_kv": 4096,
    "text_dim": 32768,
    "frequency_embedding_size": 32768,
    "freq_dim": 32768,
    "ffn_dim": 131072,
    "d_ff": 131072,
    "depth": 512,
    "num_layers": 512,
    "num_heads": 1024,
    "num_res_blocks": 64,
    "latent_channels": 4096,
    "in_channels": 4096,
    "out_channels": 4096,
    "z_dim": 4096,
    "base_channels": 8192,
    "base_dim": 8192,
    "channel_mults": 64,  # each entry
    "dim_mult": 64,
    "patch_size": 64,  # each entry, or the single value
    "mlp_ratio": 64,
    "text_len": 16384,
    "vocab_size": 1 << 22,
    "relative_attention_num_buckets": 4096,
    "relative_attention_max_distance": 1 << 20,
}
DEFAULT_INT_LIMIT = 1 << 20  # an integer field not named above
MAX_TUPLE_LENGTH = 64  # stage lists, statistics per channel


def config_to_json(config: Any) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def _hint_types(hint: Any) -> tuple[Any, ...]:
    """The alternatives of a type hint: `int | None` -> (int, NoneType); anything else -> (hint,)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _check_scalar(kind: Any, value: Any) -> str | None:
    """Why `value` is not a `kind` (int, float, bool, str), or None when it is."""
    if kind is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if kind is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "must be a finite number"
    if kind is str:
        return None if isinstance(value, str) else "must be a string"
    return None  # a field type this check does not know: the dataclass's own __post_init__ judges it


def _check_type(hint: Any, value: Any) -> str | None:
    """Why `value` does not fit the field's type hint, or None when it does."""
    reasons = []
    for kind in _hint_types(hint):
        if kind is type(None):
            if value is None:
                return None
            reasons.append("may be null")
            continue
        if typing.get_origin(kind) is tuple:
            args = typing.get_args(kind)
            if not isinstance(value, (list, tuple)):
                reasons.append("must be a list")
                continue
            if len(value) > MAX_TUPLE_LENGTH:
                reasons.append(f"has {len(value)} entries, more than the limit of {MAX_TUPLE_LENGTH}")
                continue
            fixed = not (len(args) == 2 and args[1] is Ellipsis)
            if fixed and len(value) != len(args):
                reasons.append(f"must have {len(args)} entries, has {len(value)}")
                continue
            item_kinds = args if fixed else [args[0]] * len(value)
            bad = next((r for k, v in zip(item_kinds, value, strict=True) if (r := _check_scalar(k, v))), None)
            if bad is None:
                return None
            reasons.append(f"entries {bad.replace('must be', 'must each be')}")
            continue
        reason = _check_scalar(kind, value)
        if reason is None:
            return None
        reasons.append(reason)
    return " or ".join(dict.fromkeys(reasons)) if reasons else None


def _check_limit(where: str, name: str, value: Any) -> None:
    limit = FIELD_LIMITS.get(name)
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if limit is None:
            if isinstance(item, int) and abs(item) > DEFAULT_INT_LIMIT:
                raise CheckpointError(
                    f"{where}.{name} is {item}, beyond the limit of {DEFAULT_INT_LIMIT} for a config field; "
                    "the file is damaged or was not made for sora-nodes"
                )
        elif isinstance(item, int) and not 1 <= item <= limit:
            raise CheckpointError(
                f"{where}.{name} is {item}; the limit is 1..{limit:g} (several times the largest released "
                "model), so the file is damaged or was not made for sora-nodes"
            )
        elif not 0 < item <= limit:
            raise CheckpointError(
                f"{where}.{name} is {item}; the limit is above 0 and at most {limit:g}, so the file is damaged or "
                "was not made for sora-nodes"
            )


def check_config_limits(config: Any, where: str | None = None) -> Any:
    """Refuse a config (a dataclass instance, or a mapping of fields) with a field of the wrong type or
    beyond FIELD_LIMITS, naming the field, its value and the limit; returns `config` unchanged."""
    where = where or type(config).__name__
    fields = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    for name, value in fields.items():
        _check_limit(where, name, value)
    return config


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build `cls` from a dict, turning JSON lists back into tuples; unknown or missing fields, values of the
    wrong type and values beyond FIELD_LIMITS raise CheckpointError before the dataclass is built."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CheckpointError(
            f"{cls.__name__} has no field(s) {unknown}; this checkpoint was written by a newer or "
            f"different version of sora-nodes. Known fields: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        reason = _check_type(hints.get(name), value)
        if reason is not None:
            raise CheckpointError(f"{cls.__name__}.{name} is {json.dumps(value)[:80]}; it {reason}")
        _check_limit(cls.__name__, name, value)
        if isinstance(value, list) and "tuple" in str(hints.get(name, "")).lower():
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, ArithmeticError) as e:
        raise CheckpointError(f"invalid {cls.__name__} in checkpoint metadata: {e}") from None


def config_from_json(cls: type[C], text: str) -> C:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{cls.__name__} metadata is not valid JSON: {e}") from None
    except RecursionError:
        raise CheckpointError(f"{cls.__name__} metadata nests too deeply to be a config") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{cls.__name__} metadata must be a JSON object, got {type(data).__name__}")
    return config_from_dict(cls, data)


def preset(registry: dict[str, C], name: str, kind: str) -> C:
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} preset {name!r}; choose one of {sorted(registry)}") from None
