"""Socket type names and the input-spec helper every node uses (every input gets a tooltip)."""

from __future__ import annotations

SORA_MODEL = "SORA_MODEL"
SORA_VAE = "SORA_VAE"
SORA_TEXT_ENCODER = "SORA_TEXT_ENCODER"
SORA_CONDITIONING = "SORA_CONDITIONING"
CATEGORY = "sora"

SEED_MAX = 2**64 - 1  # seeded_noise accepts any unsigned 64-bit seed


def socket(kind, tooltip: str, **options) -> tuple:
    """One INPUT_TYPES entry: (kind, {options..., "tooltip": tooltip})."""
    return (kind, {**options, "tooltip": tooltip})


def seed_input(tooltip: str) -> tuple:
    return socket("INT", tooltip, default=0, min=0, max=SEED_MAX, control_after_generate=True)
