"""Prompts: the recaptioner (short prompt -> detailed caption) and the text conditioner."""

from __future__ import annotations

from ..recaption import recaption
from .sockets import SORA_CONDITIONING, SORA_TEXT_ENCODER, SoraNode, prompt_input, seed_input, socket


class SoraRecaptioner(SoraNode):
    DESCRIPTION = "Rewrites a short prompt in the detailed caption style the model was trained on."
    FUNCTION = "rewrite"
    OUTPUTS = (("STRING", "detailed_prompt", "The detailed caption; wire it into SoraTextConditioner's text."),)
    REQUIRED = {
        "prompt": prompt_input("What the video shows, e.g. 'a red circle moving left'."),
        "seed": seed_input("Picks the details the prompt leaves open (background, size, placement)."),
        "enabled": socket("BOOLEAN", "Off passes the prompt through unchanged.", default=True),
    }

    def rewrite(self, prompt, seed, enabled):
        return (recaption(prompt, seed=seed, enabled=enabled).text,)


class SoraTextConditioner(SoraNode):
    DESCRIPTION = "Encodes a prompt into token states for the sampler (positive or negative)."
    FUNCTION = "encode"
    OUTPUTS = (
        (SORA_CONDITIONING, "conditioning", "Token states and mask; wire to SoraSampler's positive or negative."),
    )
    REQUIRED = {
        "text_encoder": socket(SORA_TEXT_ENCODER, "The text encoder from SoraCheckpointLoader."),
        "text": socket(
            "STRING", "The prompt. Leave empty for the negative (unconditional) input.", multiline=True, default=""
        ),
    }

    def encode(self, text_encoder, text):
        return (text_encoder.encode([text]),)
