"""The one place a `--device` name becomes a torch device (every command and the headless host ask here), and
how much memory that device has free."""

from __future__ import annotations

import os

import torch

from ..errors import ResourceError, SoraError


def pick_device(name: str = "auto") -> torch.device:
    """ "auto": the GPU when torch sees one, else the CPU. A CUDA device asked for on a machine without one is
    refused in one line up front, not deep inside the first kernel launch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SoraError(f"--device {name} was asked for but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def available_bytes(device: torch.device) -> int:
    """Memory a render may still use: free GPU memory, or MemAvailable of this machine."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_weights_fit(what: str, nbytes: int, device: torch.device | str, *, parameters: int | None = None) -> None:
    """Raise ResourceError when loading `what` needs more than the free memory of `device`: the render's own
    measure (available_bytes), applied before a network is built, so a file that claims a huge network is
    refused instead of exhausting the machine."""
    device = torch.device(device)
    free = available_bytes(device)
    if nbytes > free:
        count = f" ({parameters / 1e9:.3g} billion parameters)" if parameters is not None else ""
        raise ResourceError(
            f"{what} needs about {nbytes / 2**30:.3g} GiB of {device.type} memory to load{count}, but only "
            f"{free / 2**30:.1f} GiB is free; close other programs or use a machine with more memory (if the file "
            "should be small, its config is damaged)"
        )
