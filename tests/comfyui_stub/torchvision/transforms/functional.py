"""Stub: see torchvision/__init__.py."""


def pil_to_tensor(*args, **kwargs):  # transformers imports the name at module level
    raise NotImplementedError("torchvision.transforms.functional.pil_to_tensor: this is the test stub")


def __getattr__(name: str):
    raise AttributeError(f"torchvision.transforms.functional.{name} is not available: this is the test stub")
