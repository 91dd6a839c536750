"""Atomic file writes: a reader never sees a half-written video or checkpoint."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path next to `path`; move it onto `path` only if the block succeeds.

    The temp file lives in the destination directory because os.replace is atomic only within
    one filesystem. It ends with the real extension (`.clip.mp4.1a2b3c4d.tmp.mp4`) because
    writers such as FFmpeg pick the container format from the name. On any exception,
    KeyboardInterrupt included, the temp file is removed and `path` keeps its previous content.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not created here (no mkstemp): the writer creates it, so it gets normal umask permissions.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{suffix}")
    try:
        yield tmp
        # Flush to disk before the rename, so a crash cannot leave a renamed but empty file.
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
