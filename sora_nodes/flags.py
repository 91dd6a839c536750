"""Command-line flags built from a settings dataclass, so that no setting is typed twice.

A field that is also a flag carries `flag(...)` as its metadata: the flag is `--field-name`, its default
is the field's default (a command may pass another), its type is the field's, and its help and any
other argparse option (choices, ...) come from the metadata. `settings_from_args` builds the dataclass
back from the parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from typing import Any

SCALARS = {"int": int, "float": float, "str": str}


def flag(help: str | None = None, **options: Any) -> dict:
    """The metadata of a dataclass field that is also a command-line flag."""
    return {"flag": {"help": help, **options}}


def _kind(field: dataclasses.Field) -> type | None:
    """int, float or str from the annotation (a string under `from __future__ import annotations`)."""
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    for part in annotation.replace(" ", "").split("|"):
        if part in SCALARS:
            return SCALARS[part]
    return None


def add_settings_arguments(
    parser: argparse.ArgumentParser, settings: type, names: Iterable[str] | None = None, **defaults: Any
) -> None:
    """One flag per field of `settings` that carries `flag(...)` metadata (or per field in `names`, in that
    order); `defaults` overrides a field's default for this command."""
    fields = {f.name: f for f in dataclasses.fields(settings)}
    chosen = list(names) if names is not None else [n for n, f in fields.items() if "flag" in f.metadata]
    for name in chosen:
        field = fields[name]
        options = dict(field.metadata.get("flag", {}))
        default = defaults.get(name, field.default)
        if _kind(field) is None and isinstance(default, bool):
            options.setdefault("action", "store_true")
        else:
            options.setdefault("type", _kind(field))
        parser.add_argument("--" + name.replace("_", "-"), default=default, **options)


def settings_from_args(settings: type, args: argparse.Namespace, **overrides: Any):
    """`settings` with every field the arguments carry, then `overrides`."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(settings) if hasattr(args, f.name)}
    return settings(**{**values, **overrides})
