"""What a path names, in words a refusal can quote: a user who passed /dev/full needs to hear "a device"."""

from __future__ import annotations

import stat

_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """The words for an st_mode: "a character device" for /dev/null's, "a symbolic link" for a link's lstat."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")
