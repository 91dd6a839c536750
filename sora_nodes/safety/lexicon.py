"""Word lists: the versioned data files in safety/data, compiled into matchers over normalised text.

Term syntax (the same for lexicons and the allow-list): lower case, spaces between words, a
trailing "*" for any word ending ("decapitat*"), and a hyphen that also matches a space or
nothing ("spider-man" finds "spiderman"). Latin, Greek and Cyrillic terms match whole words;
CJK terms match anywhere, since those scripts do not put spaces between words.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

from ..errors import SoraError
from .normalize import is_cjk, normalize

CATEGORIES = ("sexual", "violence", "hate", "self_harm", "real_person", "ip")
REQUIRED_LANGUAGES = ("en", "es", "fr", "de", "zh", "ja")

# Letters of the spaced scripts. In strict mode a term need only not touch one of these, so a Latin
# word glued to CJK text ("裸体nude") is still found.
_SPACED_LETTER = r"a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"


def load_data(name: str) -> dict:
    """One JSON file from sora_nodes/safety/data, with its "version" checked."""
    try:
        text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SoraError(
            f"safety data file {name!r} is missing from sora_nodes/safety/data; reinstall sora-nodes"
        ) from e
    doc = json.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), int):
        raise SoraError(f"safety data file {name!r} has no integer 'version' field; it is corrupt or from another tool")
    return doc


@dataclass(frozen=True)
class Term:
    text: str  # as written in the data file
    lang: str
    cjk: bool
    pattern: re.Pattern[str]  # word-boundary match (substring for CJK)
    strict: re.Pattern[str]  # looser boundaries for the no-embedding path


def _body(term: str) -> str:
    parts = []
    for word in term.split(" "):
        prefix = word.endswith("*")
        word = word.rstrip("*")
        piece = "[- ]?".join(re.escape(w) for w in word.split("-"))
        parts.append(piece + (r"\w*" if prefix else ""))
    # Spelled-out names lose their spaces when the letters are joined again ("t a y l o r s w i f t").
    return " ?".join(parts)


def compile_term(raw: str, lang: str) -> Term:
    # Terms go through the same normalisation as prompts, so "désnud*" and "desnud*" are one term.
    star = raw.strip().endswith("*")
    text = normalize(raw.strip().rstrip("*")).plain
    if not text:
        raise SoraError(f"empty term {raw!r} in a safety word list; remove it")
    text += "*" if star else ""
    body = _body(text)
    if any(is_cjk(c) for c in text):
        pattern = strict = re.compile(body)
    else:
        pattern = re.compile(rf"(?<!\w){body}(?!\w)")
        strict = re.compile(rf"(?<![{_SPACED_LETTER}]){body}(?![{_SPACED_LETTER}])")
    return Term(text=raw, lang=lang, cjk=pattern is strict, pattern=pattern, strict=strict)


@dataclass(frozen=True)
class Lexicon:
    category: str
    version: int
    terms: tuple[Term, ...]
    any_term: re.Pattern[str]  # all terms in one pattern: a fast "no" for most prompts
    any_strict: re.Pattern[str]

    def find(self, text: str, strict: bool = False) -> Term | None:
        """The first term found in normalised `text`, or None."""
        if not (self.any_strict if strict else self.any_term).search(text):
            return None
        for term in self.terms:
            if (term.strict if strict else term.pattern).search(text):
                return term
        return None


@functools.cache
def load_lexicon(category: str) -> Lexicon:
    if category not in CATEGORIES:
        raise SoraError(f"unknown safety category {category!r}; known: {', '.join(CATEGORIES)}")
    doc = load_data(f"lexicon_{category}.json")
    missing = [lang for lang in REQUIRED_LANGUAGES if not doc.get("terms", {}).get(lang)]
    if missing:
        raise SoraError(
            f"lexicon_{category}.json has no terms for {missing}; every category covers {REQUIRED_LANGUAGES}"
        )
    terms = tuple(compile_term(t, lang) for lang, words in doc["terms"].items() for t in words)
    # Longer terms first, so the reason names "suicide bomb" rather than a shorter word inside it.
    terms = tuple(sorted(terms, key=lambda t: -len(t.text)))
    return Lexicon(category, doc["version"], terms, _union(t.pattern for t in terms), _union(t.strict for t in terms))


def _union(patterns) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns))


def load_lexicons() -> tuple[Lexicon, ...]:
    return tuple(load_lexicon(c) for c in CATEGORIES)


@dataclass(frozen=True)
class AllowList:
    version: int
    phrases: tuple[Term, ...]

    def mask(self, text: str) -> tuple[str, list[str]]:
        """`text` with every allowed phrase blanked out, and the phrases that were."""
        found = []
        for phrase in self.phrases:
            text, n = phrase.pattern.subn(" ~ ", text)
            if n:
                found.append(phrase.text)
        return text, found


@functools.cache
def load_allowlist() -> AllowList:
    doc = load_data("allowlist.json")
    phrases = tuple(compile_term(p, "any") for p in doc["phrases"])
    return AllowList(doc["version"], tuple(sorted(phrases, key=lambda t: -len(t.text))))
