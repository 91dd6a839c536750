"""Prompt safety filter: normalisation, multilingual word lists, and a MiniLM similarity margin."""

from .evaluate import evaluate_filter
from .filter import PromptSafetyError, Verdict, check_prompt, check_prompt_dict, check_prompts

__all__ = ["PromptSafetyError", "Verdict", "check_prompt", "check_prompt_dict", "check_prompts", "evaluate_filter"]
