"""Stub: see torchvision/__init__.py. transformers builds a PIL -> torchvision lookup table from this enum."""

import enum

from . import functional, v2  # noqa: F401


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def __getattr__(name: str):
    raise AttributeError(f"torchvision.transforms.{name} is not available: this is the test stub (tests/comfyui_stub)")
