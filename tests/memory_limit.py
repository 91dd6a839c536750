"""An address-space cap (RLIMIT_AS) around one check, so a regression that allocates gigabytes fails at once
with an allocation error instead of eating the machine's memory."""

from __future__ import annotations

import contextlib
import resource

GIB = 1 << 30


def vm_size() -> int:
    """This process's current address-space size in bytes (VmSize)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmSize:"))
    return int(line.split()[1]) * 1024


@contextlib.contextmanager
def address_space_limit(extra: int = 3 * GIB):
    """Cap this process's address space at its current size plus `extra`, and restore the cap after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm_size() + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
