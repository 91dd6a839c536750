"""Stub: see torchvision/__init__.py."""


def __getattr__(name: str):
    raise AttributeError(f"torchvision.models.{name} is not available: this is the test stub (tests/comfyui_stub)")
