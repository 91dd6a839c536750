"""The prompt filter: normalise -> allow-list -> lexicons -> MiniLM margin. The first stage to decide wins.

`check_prompt(text)` returns a Verdict; `Verdict.to_dict()` is the JSON the command line and the
nodes print: {"allowed": bool, "category": str | None, "reason": str}.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..errors import SoraError
from . import embedding
from .lexicon import load_allowlist, load_lexicons
from .normalize import normalize


class PromptSafetyError(SoraError):
    """The prompt given to the safety filter is not usable (not a string)."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    category: str | None
    reason: str
    stage: str = "lexicon"  # which stage decided: "empty", "lexicon", "embedding", "strict-lexicon"

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "category": self.category, "reason": self.reason}


def _check_type(text: object) -> str:
    if not isinstance(text, str):
        raise PromptSafetyError(
            f"the safety filter checks a prompt string, got {type(text).__name__}; "
            "pass the prompt text, e.g. str(prompt)"
        )
    return text


def _lexicon_verdict(text: str, strict: bool) -> tuple[Verdict | None, list[str], list[str]]:
    """The word lists' verdict (None: no match), the allowed phrases, and the ambiguous words left to MiniLM."""
    norm = normalize(text)
    allow = load_allowlist()
    allowed_phrases: list[str] = []
    deferred: list[str] = []
    hits = []

    def defer(word: str, first: bool) -> bool:
        # An ambiguous word written in disguise ("k1lling", "k\u200billing" among plain words) still blocks;
        # other readings of the prompt may only defer what the plain reading already deferred.
        if not (first or word in deferred) or not norm.shows(word):
            return False
        deferred.append(word)
        return True

    for i, variant in enumerate(norm.variants):
        masked, found = allow.mask(variant)
        allowed_phrases += [p for p in found if p not in allowed_phrases]
        defer_here = None if strict else functools.partial(defer, first=i == 0)
        for lexicon in load_lexicons():
            found = lexicon.find(masked, strict=strict, defer=defer_here)
            if found is not None:
                term, m = found
                hits.append((-(m.end() - m.start()), m.start(), i, term, m.group(0), lexicon, variant))
    if not hits:
        return None, allowed_phrases, list(dict.fromkeys(deferred))
    # The longest match wins across categories and spellings ("killing himself" is self-harm, not
    # violence); on a tie, the one that starts first.
    _, _, i, term, matched, lexicon, variant = min(hits, key=lambda h: h[:3])
    if term.rule:
        reason = f"matched {matched!r} ({term.lang}) by the rule {term.rule!r} in the {lexicon.category} word list"
    else:
        reason = f"matched {term.text!r} ({term.lang}) in the {lexicon.category} word list"
    if i > 0:
        reason += f", reading the prompt as {variant!r}"
    if strict:
        reason += "; strict word-list matching (no embedding stage for this prompt)"
    return Verdict(False, lexicon.category, reason, "strict-lexicon" if strict else "lexicon"), allowed_phrases, []


def check_prompts(texts: list[str], *, use_embedding: bool = True) -> list[Verdict]:
    """Check many prompts; the embedding stage runs as one batch over those the lexicons pass."""
    if isinstance(texts, str):
        raise PromptSafetyError("check_prompts() takes a list of prompts; use check_prompt() for a single prompt")
    texts = [_check_type(t) for t in texts]
    verdicts: list[Verdict | None] = [None] * len(texts)
    pending: list[tuple[int, str, list[str], list[str]]] = []
    for i, text in enumerate(texts):
        if not text.strip():
            verdicts[i] = Verdict(True, None, "empty prompt", "empty")
            continue
        plain = normalize(text).plain
        strict = not (use_embedding and embedding.covered(plain))
        verdict, allowed, deferred = _lexicon_verdict(text, strict)
        if verdict is not None:
            verdicts[i] = verdict
        elif strict:
            note = f"; allowed phrases: {', '.join(allowed)}" if allowed else ""
            why = "embedding stage off" if not use_embedding else "script not read by the embedding model"
            verdicts[i] = Verdict(True, None, f"no word-list match in strict mode ({why}){note}", "strict-lexicon")
        else:
            # The embedding sees the prompt with allowed phrases blanked out, as the lexicons did.
            masked, _ = load_allowlist().mask(plain)
            pending.append((i, masked, allowed, deferred))
    if pending:
        sims = embedding.similarities([m for _, m, _, _ in pending])
        for (i, _, allowed, deferred), sim in zip(pending, sims, strict=True):
            detail = (
                f"nearest harmful example {sim.harmful_example!r} ({sim.category}) similarity {sim.harmful:.2f}, "
                f"nearest benign example {sim.benign_example!r} {sim.benign:.2f}; "
                f"{embedding.load_exemplars().k} nearest of each {sim.harmful_k:.2f} vs {sim.benign_k:.2f} on average"
            )
            if deferred:
                detail += f"; ambiguous words with no person near them left to this stage: {', '.join(deferred)}"
            if embedding.is_harmful(sim, ambiguous=bool(deferred)):
                verdicts[i] = Verdict(False, sim.category, f"too close to harmful examples: {detail}", "embedding")
            else:
                note = f"; allowed phrases: {', '.join(allowed)}" if allowed else ""
                verdicts[i] = Verdict(True, None, f"no word-list match; {detail}{note}", "embedding")
    return verdicts  # type: ignore[return-value]


def check_prompt(text: str, *, use_embedding: bool = True) -> Verdict:
    """Decide whether a prompt may be rendered, and why."""
    return check_prompts([_check_type(text)], use_embedding=use_embedding)[0]


def check_prompt_dict(text: str, *, use_embedding: bool = True) -> dict:
    """JSON-ready verdict: {"allowed": bool, "category": str | None, "reason": str}."""
    return check_prompt(text, use_embedding=use_embedding).to_dict()
