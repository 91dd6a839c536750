"""The prompt filter: normalise -> allow-list -> lexicons -> language check -> MiniLM margin, window by window.

The first stage to decide wins. An empty prompt, or one of only invisible characters, is refused
(stage "empty"); so is one in a language or script the word lists do not cover (category "language").

`check_prompt(text)` returns a Verdict; `Verdict.to_dict()` is the JSON the command line and the
nodes print: {"allowed": bool, "category": str | None, "reason": str}.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..errors import SoraError
from . import embedding
from .language import read_prompt, refusal
from .lexicon import load_allowlist, load_lexicons
from .normalize import is_blank, normalize
from .segments import sentences, windows

# The category of a refusal because the prompt's language or script cannot be judged (not a harm category).
LANGUAGE = "language"


class PromptSafetyError(SoraError):
    """The prompt given to the safety filter is not usable (not a string)."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    category: str | None
    reason: str
    stage: str = "lexicon"  # which stage decided: "empty", "lexicon", "language", "embedding", "strict-lexicon"

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


EMPTY = "the prompt is empty (it has only spaces or invisible characters); describe the video in words"


def _readable_by_embedding(text: str) -> bool:
    """Can MiniLM read every sentence of `text` that has letters? One it cannot makes the word lists strict."""
    return all(embedding.covered(s) for s in sentences(text) if any(c.isalpha() for c in s))


def check_prompts(texts: list[str], *, use_embedding: bool = True) -> list[Verdict]:
    """Check many prompts; the embedding stage runs as one batch over the windows of those the lexicons pass."""
    if isinstance(texts, str):
        raise PromptSafetyError("check_prompts() takes a list of prompts; use check_prompt() for a single prompt")
    texts = [_check_type(t) for t in texts]
    verdicts: list[Verdict | None] = [None] * len(texts)
    pending: list[tuple[int, list[str], list[str], list[str]]] = []
    for i, text in enumerate(texts):
        if is_blank(text):
            verdicts[i] = Verdict(False, None, EMPTY, "empty")
            continue
        plain = normalize(text).plain
        strict = not (use_embedding and _readable_by_embedding(plain))
        verdict, allowed, deferred = _lexicon_verdict(text, strict)
        if verdict is not None:
            verdicts[i] = verdict
            continue
        reading = read_prompt(text)
        if not reading.covered:
            verdicts[i] = Verdict(False, LANGUAGE, refusal(reading), "language")
            continue
        # The embedding sees the prompt with allowed phrases blanked out, as the lexicons did, one window at a
        # time (and whole, as before windows), so padding cannot dilute a harmful sentence.
        masked = _masked(plain)
        pieces = [w for s in sentences(text) for w in windows(_masked(normalize(s).plain))]
        parts = [w for w in dict.fromkeys([*pieces, masked]) if embedding.covered(w)] if use_embedding else []
        if not parts:
            note = f"; allowed phrases: {', '.join(allowed)}" if allowed else ""
            why = "embedding stage off" if not use_embedding else "no sentence the embedding model reads"
            verdicts[i] = Verdict(
                True, None, f"no word-list match in strict mode ({why}); {_languages(reading)}{note}", "strict-lexicon"
            )
        else:
            pending.append((i, parts, allowed, deferred))
    if pending:
        sims = iter(embedding.similarities([p for _, parts, _, _ in pending for p in parts]))
        for i, parts, allowed, deferred in pending:
            scored = [(part, next(sims)) for part in parts]
            harmful = [(p, s) for p, s in scored if embedding.is_harmful(s, ambiguous=bool(deferred))]
            # The worst window decides: the most harmful-leaning one, or the one closest to it when none is.
            part, sim = max(harmful or scored, key=lambda ps: ps[1].harmful_k - ps[1].benign_k)
            detail = (
                f"nearest harmful example {sim.harmful_example!r} ({sim.category}) similarity {sim.harmful:.2f}, "
                f"nearest benign example {sim.benign_example!r} {sim.benign:.2f}; "
                f"{embedding.load_exemplars().k} nearest of each {sim.harmful_k:.2f} vs {sim.benign_k:.2f} on average"
            )
            if len(parts) > 1:
                detail += f" in the part {part!r} (worst of {len(parts)} windows)"
            if deferred:
                detail += f"; ambiguous words with no person near them left to this stage: {', '.join(deferred)}"
            if harmful:
                verdicts[i] = Verdict(False, sim.category, f"too close to harmful examples: {detail}", "embedding")
            else:
                note = f"; allowed phrases: {', '.join(allowed)}" if allowed else ""
                verdicts[i] = Verdict(True, None, f"no word-list match; {detail}{note}", "embedding")
    return verdicts  # type: ignore[return-value]


def _masked(plain: str) -> str:
    return load_allowlist().mask(plain)[0]


def _languages(reading) -> str:
    return f"languages: {', '.join(reading.languages)}"


def check_prompt(text: str, *, use_embedding: bool = True) -> Verdict:
    """Decide whether a prompt may be rendered, and why."""
    return check_prompts([_check_type(text)], use_embedding=use_embedding)[0]


def check_prompt_dict(text: str, *, use_embedding: bool = True) -> dict:
    """JSON-ready verdict: {"allowed": bool, "category": str | None, "reason": str}."""
    return check_prompt(text, use_embedding=use_embedding).to_dict()
