"""Atomic file writes: a reader never sees a half-written video or checkpoint, and nothing but a regular
file is ever replaced."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from ..errors import SoraError
from .file_kind import file_kind

# O_NOFOLLOW is POSIX; where it is missing, O_EXCL alone still refuses an existing link.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def refuse_non_regular(path: str | os.PathLike) -> None:
    """Raise SoraError if `path` exists as anything but a regular file (a link, a device, a folder, ...).

    lstat, not stat: a symbolic link is judged as itself, so a link to /etc/passwd or /dev/sda is refused
    rather than written through, and a device node is never swapped for a file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    kind = file_kind(mode)
    if kind != "a regular file":
        raise SoraError(f"{path} is {kind}, not a regular file, so it was left as it is; write to a new file name")


def move_into_place(tmp: str | os.PathLike, path: str | os.PathLike, *, replace: bool = True) -> None:
    """Rename the finished `tmp` onto `path` (same folder or filesystem), onto a regular file only if `replace`.

    Without `replace` the name is taken with a hard link, which fails with FileExistsError if anything holds
    it, so a file made between a caller's check and this move is never overwritten."""
    if not replace:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links (FAT, some network mounts): check, then rename
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
            os.replace(tmp, path)
            return
        os.unlink(tmp)
        return
    # The check and the rename are two calls; what a rename can then land on is only what another process
    # puts there in between, which a user who can write in the folder could do to the finished file anyway.
    refuse_non_regular(path)
    os.replace(tmp, path)


def _new_temp_file(path: Path, suffix: str) -> Path:
    """Create an empty temp file beside `path` that no one else made: O_EXCL|O_NOFOLLOW refuses a name that
    exists, a planted symbolic link included. Mode 0o666 less the umask, as the writer would have made it."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            os.close(os.open(tmp, _NEW_FILE, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise SoraError(f"could not create a temporary file beside {path}: 100 random names were all taken")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path next to `path`; move it onto `path` only if the block succeeds.

    The temp file lives in the destination directory because os.replace is atomic only within
    one filesystem. It ends with the real extension (`.clip.mp4.1a2b3c4d.tmp.mp4`) because
    writers such as FFmpeg pick the container format from the name. On any exception,
    KeyboardInterrupt included, the temp file is removed and `path` keeps its previous content.
    `path` may be a regular file or nothing; anything else is refused (SoraError) and left alone.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(path, suffix)
    try:
        yield tmp
        # Flush to disk before the rename, so a crash cannot leave a renamed but empty file.
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        move_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
