"""Safety gates: the prompt filter before the conditioner, the frame filter before every save (DESIGN section 5)."""

from __future__ import annotations

from ..safety.frames import FrameSafetySettings, require_safe_frames
from ..safety.gate import require_safe_prompt
from .sockets import SoraNode, prompt_input, socket

FRAME_DEFAULTS = FrameSafetySettings()


class SoraPromptSafety(SoraNode):
    DESCRIPTION = (
        "Checks the prompt with the offline safety filter (word lists in 19 languages, then MiniLM, window by "
        "window) and passes it on unchanged; a rejected prompt, or one in a language the filter cannot read, "
        "stops the run here, naming why."
    )
    FUNCTION = "check"
    OUTPUTS = (("STRING", "prompt", "The same prompt, once allowed; wire it to the recaptioner or a conditioner."),)
    REQUIRED = {
        "prompt": prompt_input(
            "What the video shows, e.g. 'a red circle moving left' (a schedule: one 'SECONDS: prompt' "
            "per line; every line is checked)."
        )
    }

    def check(self, prompt):
        return (require_safe_prompt(prompt),)


class SoraFrameSafety(SoraNode):
    DESCRIPTION = (
        "Scores sampled frames (first, last, every k-th) with an offline NSFW image classifier and passes safe "
        "frames on; unsafe ones stop the run here, so they never reach a save node."
    )
    FUNCTION = "check"
    OUTPUTS = (("IMAGE", "frames", "The same frames, once allowed; wire them to SoraSaveVideo."),)
    REQUIRED = {
        "frames": socket("IMAGE", "The decoded frames [T, H, W, 3]."),
        "every": socket("INT", "Score the first, the last and every k-th frame.", default=FRAME_DEFAULTS.every, min=1),
        "min_unsafe": socket(
            "INT",
            "Block when at least this many sampled frames score unsafe.",
            default=FRAME_DEFAULTS.min_unsafe,
            min=1,
        ),
    }

    def check(self, frames, every, min_unsafe):
        settings = FrameSafetySettings(every=every, min_unsafe=min_unsafe)
        return (require_safe_frames(frames, settings),)
