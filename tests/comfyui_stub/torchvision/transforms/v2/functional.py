"""Stub: see torchvision/__init__.py."""


def __getattr__(name: str):
    raise AttributeError(f"torchvision.transforms.v2.functional.{name} is not available: this is the test stub")
