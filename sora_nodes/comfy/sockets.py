"""Socket type names, the input and output helpers every node uses (every input and output gets a tooltip),
and SoraNode, the base that makes ComfyUI's class attributes from one declaration per node."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import ClassVar

from ..errors import SoraError
from ..families.defaults import SORA
from ..models.latent_format import SORA_LATENT

SORA_MODEL = "SORA_MODEL"
SORA_VAE = "SORA_VAE"
SORA_TEXT_ENCODER = "SORA_TEXT_ENCODER"
SORA_CONDITIONING = "SORA_CONDITIONING"
CATEGORY = "sora"

SEED_MAX = 2**64 - 1  # seeded_noise accepts any unsigned 64-bit seed
MAX_SIZE = 2048  # the largest video side the size inputs offer
EXAMPLE_PROMPT = "a red circle moving left"


def socket(kind, tooltip: str, **options) -> tuple:
    """One INPUT_TYPES entry: (kind, {options..., "tooltip": tooltip})."""
    return (kind, {**options, "tooltip": tooltip})


def seed_input(tooltip: str) -> tuple:
    return socket("INT", tooltip, default=0, min=0, max=SEED_MAX, control_after_generate=True)


def prompt_input(tooltip: str) -> tuple:
    """A prompt typed into the node: several lines, the example prompt to start from."""
    return socket("STRING", tooltip, multiline=True, default=EXAMPLE_PROMPT)


def size_inputs() -> dict[str, tuple]:
    """`width` and `height` in pixels: multiples of what every shipped model needs, the default model's size first."""
    multiple = SORA_LATENT.size_multiple(1)
    return {
        side: socket(
            "INT",
            f"Video {side} in pixels, a multiple of {multiple}.",
            default=default,
            min=multiple,
            max=MAX_SIZE,
            step=multiple,
        )  # fmt: skip
        for side, default in zip(("width", "height"), SORA.size, strict=True)
    }


def fps_input(tooltip: str) -> tuple:
    return socket("FLOAT", tooltip, default=SORA.fps, min=1.0, max=120.0, step=1.0)


def outputs(*specs: tuple[str, str, str]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """A node's RETURN_TYPES, RETURN_NAMES and OUTPUT_TOOLTIPS from one (type, name, tooltip) per output."""
    types, names, tooltips = zip(*specs, strict=True)
    return types, names, tooltips


def model_outputs(model: str, vae: str, text_encoder: str) -> tuple[tuple[str, str, str], ...]:
    """A model loader's three outputs (every family's loader gives the same sockets), with their tooltips."""
    return (SORA_MODEL, "model", model), (SORA_VAE, "vae", vae), (SORA_TEXT_ENCODER, "text_encoder", text_encoder)


def validation(check: Callable[[], object]) -> bool | str:
    """What VALIDATE_INPUTS answers for a check that raises SoraError: True, or the error's message, which
    ComfyUI shows on the node when the prompt is queued (a message beats a failure halfway through a run)."""
    try:
        check()
    except SoraError as error:
        return str(error)
    return True


class SoraNode:
    """A node declared once: its DESCRIPTION, FUNCTION, OUTPUTS (one (type, name, tooltip) per output) and
    inputs by name in REQUIRED, OPTIONAL and HIDDEN. ComfyUI never reads the last four: it reads what is made
    from them, RETURN_TYPES, RETURN_NAMES and OUTPUT_TOOLTIPS (RETURN_TYPES alone, empty, for a node without
    outputs) and INPUT_TYPES(), a fresh copy on every call. A node whose inputs are worked out on every call
    (a list of files) writes its own INPUT_TYPES."""

    CATEGORY = CATEGORY
    OUTPUTS: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    REQUIRED: ClassVar[dict[str, tuple]] = {}
    OPTIONAL: ClassVar[dict[str, tuple]] = {}
    HIDDEN: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.OUTPUTS:
            cls.RETURN_TYPES, cls.RETURN_NAMES, cls.OUTPUT_TOOLTIPS = outputs(*cls.OUTPUTS)
        else:
            cls.RETURN_TYPES = ()

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict]:
        groups = {"required": cls.REQUIRED, "optional": cls.OPTIONAL, "hidden": cls.HIDDEN}
        return copy.deepcopy({group: inputs for group, inputs in groups.items() if inputs or group == "required"})
