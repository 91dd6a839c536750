"""Stub: see torchvision/__init__.py."""


def __getattr__(name: str):
    raise AttributeError(f"torchvision.io.{name} is not available: this is the test stub (tests/comfyui_stub)")
