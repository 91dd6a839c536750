"""The prompt gate every render passes: a rejected prompt stops the run before any work, naming the category.

The nodes, `sora render` and `sora run` all call `require_safe_prompt`, so they refuse the same prompts.
"""

from __future__ import annotations

from ..errors import SafetyRejection
from .filter import EMPTY, PromptSafetyError, check_prompts
from .normalize import is_blank


class PromptRejected(SafetyRejection):
    """A prompt the safety filter refused."""


def prompt_parts(text: str) -> list[str]:
    """Each line when there are several (a schedule has one prompt per line, and a harmful line should
    not hide among benign ones in the embedding stage), then the whole prompt."""
    lines = [line.strip() for line in text.splitlines() if not is_blank(line)]
    return (lines if len(lines) > 1 else []) + [text]


def require_prompt(text: str, *, where: str = "the prompt") -> str:
    """Return `text` unless it is empty or of only invisible characters: an input error (PromptSafetyError, exit
    status 2 on the command line), not a refusal. The gate's one check that needs no model, so `sora render`
    runs it before anything else; `require_safe_prompt`, the prompt node's gate, runs it first."""
    if isinstance(text, str) and is_blank(text):  # not a string: the filter says so
        raise PromptSafetyError(f"{where}: {EMPTY}, e.g. 'a red circle moving left'")
    return text


def require_safe_prompt(text: str, *, where: str = "the prompt") -> str:
    """Return `text` unchanged when the filter allows it; otherwise raise PromptRejected (or, for an empty
    prompt, `require_prompt`'s PromptSafetyError)."""
    parts = prompt_parts(require_prompt(text, where=where))
    for part, verdict in zip(parts, check_prompts(parts), strict=True):
        if not verdict.allowed:
            line = f" (in the line {part!r})" if part is not text else ""
            raise PromptRejected(
                f"{where} was rejected by the safety filter, category {verdict.category}{line}: {verdict.reason}. "
                "Nothing was rendered; rewrite the prompt without it",
                verdict.category,
            )
    return text


def require_safe_prompts(texts: list[str], *, where: str = "the workflow") -> None:
    """Check every prompt text of a graph before any node runs."""
    for text in texts:
        require_safe_prompt(text, where=f"a prompt in {where}")
