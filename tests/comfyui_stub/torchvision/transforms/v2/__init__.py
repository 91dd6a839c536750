"""Stub: see torchvision/__init__.py."""

from . import functional  # noqa: F401
