"""The recaptioner: short free-text prompts -> the detailed caption style of the shapes world."""

from .parse import parse_prompt, unknown_words
from .recaptioner import Recaption, recaption

__all__ = ["Recaption", "parse_prompt", "recaption", "unknown_words"]
