"""Whether a file holds C2PA manifest bytes at all, readable or not.

The c2pa library says "no manifest" both for a file that was never signed and for one whose manifest
box is damaged past recognition (a flipped byte in the box type or its UUID). The difference matters:
the first is unsigned, the second is a signed file that was tampered with. Two independent markers
identify a manifest: the MP4 box's C2PA UUID and the JUMBF type UUID of the manifest store inside it;
one flipped byte can spoil only one of them.
"""

from __future__ import annotations

from pathlib import Path

BMFF_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # the usertype of C2PA's `uuid` box
JUMBF_STORE_UUID = bytes.fromhex("6332706100110010800000aa00389b71")  # "c2pa" + the ISO JUMBF UUID suffix
MARKERS = (BMFF_C2PA_UUID, JUMBF_STORE_UUID)
CHUNK = 1 << 20


def has_manifest_bytes(path: Path) -> bool:
    """Whether either marker occurs in the file; read in 1 MiB chunks, so any size is fine."""
    overlap = max(len(m) for m in MARKERS) - 1
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            window = tail + chunk
            if any(marker in window for marker in MARKERS):
                return True
            tail = window[-overlap:]
    return False
