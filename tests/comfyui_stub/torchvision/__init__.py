"""Stand-in for torchvision, put on PYTHONPATH only for the ComfyUI server the host tests start.

ComfyUI imports torchvision at start-up (the cascade and cosmos models), but the real wheel
replaces the CPU torch with a CUDA build of several GB. Once these modules are importable,
transformers also believes torchvision is installed and imports a few names from it at module
level, so those exist too. Our pack never calls any of it; using anything here raises.
"""

from . import io, models, transforms  # noqa: F401  (ComfyUI does `from torchvision import transforms`)

__version__ = "0.0.0+stub"


def __getattr__(name: str):
    raise AttributeError(f"torchvision.{name} is not available: this is the test stub (tests/comfyui_stub)")
