"""Saving into an output folder: never outside it, never over an existing file, never half a file.

The command line names its outputs itself (`sora render -o FILE`, `sora run -o DIR`); those names are
checked here before any model loads, so a render that could not be saved is refused before it starts."""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from ..errors import SoraError
from .file_kind import file_kind

NO_NUL = "contains a NUL character (\\x00), which no file name can hold; remove it"


def resolve_prefix(output_dir: Path, filename_prefix: str) -> tuple[Path, str]:
    """(folder, stem) for a ComfyUI-style prefix such as "sora/clip"; refuses anything that leaves output_dir."""
    if "\0" in filename_prefix:
        raise SoraError(f"filename_prefix {filename_prefix!r} {NO_NUL}")
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


def _writable_folder(folder: Path, option: str, text: str) -> None:
    """The folder an output goes in must be a folder, or creatable in the nearest one that exists, and that
    one must take new files: judged now, not when the finished video has nowhere to go."""
    existing = folder
    while True:
        try:
            mode = os.stat(existing).st_mode
            break
        except (FileNotFoundError, NotADirectoryError):
            if existing.parent == existing:
                raise SoraError(
                    f"{option} {text}: no part of {folder} exists; name a file in an existing folder"
                ) from None
            existing = existing.parent
        except OSError as e:
            raise SoraError(
                f"{option} {text}: cannot look into {existing} ({e.strerror}); choose another folder"
            ) from None
    if not stat.S_ISDIR(mode):
        raise SoraError(f"{option} {text}: {existing} is {file_kind(mode)}, not a folder; choose a folder to write in")
    if hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise SoraError(f"{option} {text}: {existing} is on a read-only file system; choose a folder you can write to")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SoraError(f"{option} {text}: you may not create files in {existing}; choose a folder you can write to")


def check_output_file(text: str, *, overwrite: bool, suffixes: tuple[str, ...] = (".mp4",), option: str = "-o") -> Path:
    """The absolute path that `-o TEXT` names, or a SoraError saying why nothing may be written there.

    Only a new name, or with `overwrite` an existing regular file, is allowed: a symbolic link (whose target
    would be the real victim), a device, a pipe or a folder never is. The name must end in one of
    `suffixes`, the containers the writer makes, so a .txt or .gif name never receives MP4 bytes."""
    if "\0" in text:
        raise SoraError(f"{option} {text!r} {NO_NUL}")
    if not text:
        raise SoraError(f"{option} is empty; name the video file, e.g. {option} out.mp4")
    example = f"{option} {os.path.join(text, 'out' + suffixes[0])}"
    if text.endswith(("/", os.sep)) or Path(text).name in ("", ".", ".."):
        raise SoraError(f"{option} {text} names a folder, not a file; name the video file in it, e.g. {example}")
    path = Path(os.path.abspath(text))
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # a new name; a parent that is a file is reported below
    except OSError as e:  # a name too long, a folder the user may not look into, ...
        raise SoraError(f"{option} {text} cannot be used ({e.strerror}); name another file") from None
    if mode is not None and stat.S_ISLNK(mode):
        raise SoraError(
            f"{option} {text} is a symbolic link (to {os.readlink(path)}); outputs are never written through "
            "links: name the file itself or a new one"
        )
    if mode is not None and stat.S_ISDIR(mode):
        raise SoraError(f"{option} {text} is a folder, not a file; name the video file in it, e.g. {example}")
    if mode is not None and not stat.S_ISREG(mode):
        raise SoraError(f"{option} {text} is {file_kind(mode)}, not a regular file; name a new {suffixes[0]} file")
    if path.suffix.lower() not in suffixes:
        stem = path.stem if path.suffix else path.name
        stem = "out" if stem.lower() in suffixes or not stem.strip(".") else stem
        given = f"ends in {path.suffix}" if path.suffix else "has no extension"
        containers = "/".join(s[1:].upper() for s in suffixes)
        raise SoraError(
            f"{option} {text} {given}, but the video is written as {containers}; end the name in "
            f"{' or '.join(suffixes)}, e.g. {option} {os.path.join(os.path.dirname(text), stem + suffixes[0])}"
        )
    if mode is not None and not overwrite:
        raise SoraError(f"{option} {text} already exists; pass -y (--overwrite) to replace it, or name a new file")
    _writable_folder(path.parent, option, text)
    return path


def check_output_folder(text: str, *, option: str = "-o") -> Path:
    """The folder that `sora run -o TEXT` saves into (made if missing), or a SoraError saying why it cannot be.

    A folder may be reached through a symbolic link, as ComfyUI's output folder often is: files are only
    ever added inside it under new names, never written over what is there."""
    if "\0" in text:
        raise SoraError(f"{option} {text!r} {NO_NUL}")
    if not text:
        raise SoraError(f"{option} is empty; name the folder to save into, e.g. {option} output")
    path = Path(text)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as e:
        raise SoraError(f"{option} {text} cannot be used ({e.strerror}); name another folder") from None
    if mode is not None and not stat.S_ISDIR(mode):
        raise SoraError(f"{option} {text} is {file_kind(mode)}, not a folder; name the folder to save the videos in")
    _writable_folder(Path(os.path.abspath(text)), option, text)
    return path
