"""Frozen network configs <-> JSON, so a checkpoint stores its own architecture."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, TypeVar

from ..errors import CheckpointError

C = TypeVar("C")


def config_to_json(config: Any) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build `cls` from a dict, turning JSON lists back into tuples; unknown or missing fields raise."""
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
        if isinstance(value, list) and "tuple" in str(hints.get(name, "")).lower():
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"invalid {cls.__name__} in checkpoint metadata: {e}") from None


def config_from_json(cls: type[C], text: str) -> C:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{cls.__name__} metadata is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{cls.__name__} metadata must be a JSON object, got {type(data).__name__}")
    return config_from_dict(cls, data)


def preset(registry: dict[str, C], name: str, kind: str) -> C:
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} preset {name!r}; choose one of {sorted(registry)}") from None
