"""Safety gates (DESIGN section 5): the prompt filter before generation, the frame filter before saving."""

from .evaluate import evaluate_filter
from .filter import PromptSafetyError, Verdict, check_prompt, check_prompt_dict, check_prompts
from .frames import (
    FrameSafetyError,
    FrameSafetySettings,
    FrameVerdict,
    UnsafeFramesError,
    check_frames,
    require_safe_frames,
    sample_indices,
)
from .gate import PromptRejected, require_safe_prompt

__all__ = [
    "FrameSafetyError",
    "FrameSafetySettings",
    "FrameVerdict",
    "PromptRejected",
    "PromptSafetyError",
    "UnsafeFramesError",
    "Verdict",
    "check_frames",
    "check_prompt",
    "check_prompt_dict",
    "check_prompts",
    "evaluate_filter",
    "require_safe_frames",
    "require_safe_prompt",
    "sample_indices",
]
