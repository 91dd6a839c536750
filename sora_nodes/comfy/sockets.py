"""Socket type names and the input and output helpers every node uses (every input and output gets a tooltip)."""

from __future__ import annotations

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


def model_outputs(model: str, vae: str, text_encoder: str) -> tuple[tuple[str, ...], ...]:
    """A model loader's three outputs (every family's loader gives the same sockets), with their tooltips."""
    return outputs(
        (SORA_MODEL, "model", model), (SORA_VAE, "vae", vae), (SORA_TEXT_ENCODER, "text_encoder", text_encoder)
    )
