"""Saving into an output folder: never outside it, never over an existing file, never half a file."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from .errors import SoraError


def resolve_prefix(output_dir: Path, filename_prefix: str) -> tuple[Path, str]:
    """(folder, stem) for a ComfyUI-style prefix such as "sora/clip"; refuses anything that leaves output_dir."""
    prefix = filename_prefix.strip().replace("\\", "/")
    if not prefix or prefix.endswith("/"):
        raise SoraError(f"filename_prefix {filename_prefix!r} names no file; use e.g. 'sora/video'")
    if prefix.startswith("/") or re.match(r"^[A-Za-z]:", prefix):
        raise SoraError(f"filename_prefix {filename_prefix!r} is an absolute path; use a name inside the output folder")
    root = output_dir.resolve()
    target = (root / prefix).resolve()
    if not target.is_relative_to(root) or target == root:
        raise SoraError(
            f"filename_prefix {filename_prefix!r} points outside the output folder {root}; "
            "remove the '..' parts (subfolders such as 'sora/video' are fine)"
        )
    return target.parent, target.name


def _next_counter(folder: Path, stem: str, suffix: str) -> int:
    pattern = re.compile(rf"{re.escape(stem)}_(\d+)_{re.escape(suffix)}$")
    numbers = [int(m.group(1)) for p in folder.glob("*") if (m := pattern.match(p.name))] if folder.is_dir() else []
    return max(numbers, default=0) + 1


def save_new_file(output_dir: Path, filename_prefix: str, suffix: str, write: Callable[[Path], object]) -> Path:
    """Write a new `<prefix>_<00001>_<suffix>` file with `write(path)`, which must write atomically.

    The file is written under a hidden temporary name and then hard-linked to the first free
    counter: linking fails if the name exists, so two saves racing for a name can never
    overwrite each other, and a reader never sees the file before it is complete."""
    folder, stem = resolve_prefix(output_dir, filename_prefix)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{stem}.{secrets.token_hex(4)}.tmp{suffix}"
    write(tmp)
    try:
        counter = _next_counter(folder, stem, suffix)
        while True:
            path = folder / f"{stem}_{counter:05}_{suffix}"
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                counter += 1
    finally:
        tmp.unlink(missing_ok=True)
