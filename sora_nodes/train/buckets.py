"""Aspect-ratio and duration buckets: every batch holds clips of one native size, never cropped."""

import math
import random
from dataclasses import dataclass

from ..errors import SoraError


@dataclass(frozen=True)
class Bucket:
    width: int
    height: int
    frames: int

    @property
    def aspect(self) -> float:
        return self.width / self.height

    def __str__(self) -> str:
        return f"{self.width}x{self.height}x{self.frames}"


def parse_buckets(text: str) -> dict[Bucket, float]:
    """ "64x64x17:4,112x64x17:2" -> {Bucket: weight}; a missing weight means 1."""
    out: dict[Bucket, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        size, _, weight = item.partition(":")
        try:
            w, h, f = (int(v) for v in size.lower().split("x"))
            out[Bucket(w, h, f)] = float(weight or 1)
        except ValueError:
            raise SoraError(f"bad bucket {item!r}: write WIDTHxHEIGHTxFRAMES[:WEIGHT], e.g. 112x64x17:2") from None
    if not out:
        raise SoraError("no buckets given: write e.g. 64x64x17,112x64x17,64x112x17")
    return out


def pick_bucket(buckets: dict[Bucket, float], rng: random.Random) -> Bucket:
    """One of `buckets`, drawn by its weight."""
    return rng.choices(list(buckets), weights=list(buckets.values()))[0]


def nearest_bucket(buckets, width: int, height: int, frames: int) -> Bucket | None:
    """The bucket with the closest aspect ratio among those no longer than the clip, longest first."""
    fitting = [b for b in buckets if b.frames <= frames]
    if not fitting:
        return None
    return min(fitting, key=lambda b: (round(abs(math.log(b.aspect * height / width)), 3), -b.frames))


# 1:1, 16:9 and 9:16 at 8 fps; 1 s and 4 s clips so the model sees more than one duration.
DIT_BUCKETS = "64x64x17:4,112x64x17:2,64x112x17:2,64x64x9:1,64x64x33:1"
VAE_BUCKETS = "64x64x9:2,112x64x9:1,64x112x9:1"
