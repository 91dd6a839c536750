"""Word lists: the versioned data files in safety/data, compiled into matchers over normalised text.

Term syntax (the same for lexicons and the allow-list): lower case, spaces between words, a
trailing "*" for any word ending ("decapitat*"), and a hyphen that also matches a space or
nothing ("spider-man" finds "spiderman"). Latin, Greek and Cyrillic terms match whole words;
CJK terms match anywhere, since those scripts do not put spaces between words.

A lexicon may also hold rules: word lists that must occur in order, with at most `gap` words
between them ("kicking" ... "a puppy"; "muslims" ... "as cockroaches"). A rule covers the cross
product of its lists, so paraphrases that pair a harmful action with a victim, or a group with
a dehumanising word, are caught without listing every sentence. In CJK rules `gap` counts
characters. A rule with "clause_end": true matches only where its last part ends a clause.

A lexicon may mark some of its terms "ambiguous": words with a common harmless sense ("killing weeds",
"could murder a coffee", "nude lipstick"). On the embedding path such a word blocks only with a person
or pet near it (people.json, `People`); alone it defers to the embedding stage, which judges the whole
prompt. The strict path, and a word found only by reading digits or symbols as letters, still block.

The allow-list also holds contexts: ambiguous words ("killing", "topless", "torture") allowed only
where a benign cue stands next to them and no human victim does (see `Context`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from ..errors import SoraError
from .normalize import is_cjk, normalize

CATEGORIES = ("sexual", "violence", "hate", "self_harm", "real_person", "ip")
# Every category has terms in each language the filter covers (data/languages.json, by speakers).
REQUIRED_LANGUAGES = (
    "en", "zh", "hi", "es", "fr", "ar", "bn", "pt", "ru", "ur", "id", "de", "ja", "mr", "te", "tr", "ta", "vi", "ko",
)  # fmt: skip

# Indic letters, vowel signs and viramas (Devanagari to Sinhala, without the danda sentence marks).
# Python's \w leaves the signs out, so a word boundary there would fall inside a word ("मार|ी").
_INDIC = "\u0900-\u0963\u0966-\u0dff"
_WORD_CHARS = rf"\w{_INDIC}"
_ARABIC = "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff"
# Letters of the spaced scripts. In strict mode a term need only not touch one of these, so a Latin
# word glued to CJK text ("裸体nude") is still found.
_SPACED_LETTER = rf"a-z\u00c0-\u024f\u1e00-\u1eff\u0370-\u03ff\u0400-\u04ff{_ARABIC}{_INDIC}"
# Arabic writes "and", "with", "for", "like" and "the" onto the next word ("والقتل", "بالسكين").
_ARABIC_PROCLITICS = "(?:[\u0648\u0641]?(?:[\u0628\u0644\u0643]?\u0627\u0644|\u0644\u0644|[\u0628\u0644\u0643]))?"


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
    source: str  # regex: word-boundary match (substring for CJK)
    strict_source: str  # regex with looser boundaries, for the no-embedding path
    rule: str | None = None  # the rule's name when this is a rule rather than a single term
    body: str = ""  # a single Latin term's regex without its boundaries
    ambiguous: bool = False  # a harmless sense is common: blocks only with a person near it (see module doc)

    # Compiled on first use only: a lexicon matches through one combined pattern, and compiling
    # thousands of single-term patterns would cost seconds at start-up.
    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.source)

    @functools.cached_property
    def strict(self) -> re.Pattern[str]:
        return re.compile(self.strict_source)


def _body(term: str, lang: str = "") -> str:
    words = term.split(" ")
    body = ""
    for n, word in enumerate(words):
        prefix = word.endswith("*")
        piece = "[- ]?".join(re.escape(w) for w in word.rstrip("*").split("-"))
        if n:
            # Spelled-out names lose their spaces when the letters are joined again ("t a y l o r s w i f t"),
            # but a one-letter word keeps its space, so "burning a cross" does not find "burning across".
            short = min(len(words[n - 1].rstrip("*")), len(word.rstrip("*"))) < 2
            body += " " if short else " ?"
        proclitics = _ARABIC_PROCLITICS if lang == "ar" else ""
        body += proclitics + piece + (f"[{_WORD_CHARS}]*" if prefix else "")
    return body


def _normalized_term(raw: str) -> str:
    # Terms go through the same normalisation as prompts, so "désnud*" and "desnud*" are one term.
    star = raw.strip().endswith("*")
    text = normalize(raw.strip().rstrip("*")).plain
    if not text:
        raise SoraError(f"empty term {raw!r} in a safety word list; remove it")
    return text + ("*" if star else "")


def compile_term(raw: str, lang: str) -> Term:
    text = _normalized_term(raw)
    body = _body(text, lang)
    if any(is_cjk(c) for c in text):
        return Term(text=raw, lang=lang, cjk=True, source=body, strict_source=body)
    pattern = rf"(?<![{_WORD_CHARS}]){body}(?![{_WORD_CHARS}])"
    strict = rf"(?<![{_SPACED_LETTER}]){body}(?![{_SPACED_LETTER}])"
    return Term(text=raw, lang=lang, cjk=False, source=pattern, strict_source=strict, body=body)


def compile_rule(rule: dict, lang: str, where: str) -> Term:
    """A rule {"name", "parts": [[term, ...], ...], "gap"} as one pattern: each part in order, `gap` words apart."""
    parts, gap, name = rule.get("parts"), rule.get("gap", 2), rule.get("name")
    clause_end = rule.get("clause_end", False)
    if (
        not isinstance(name, str)
        or not isinstance(parts, list)
        or len(parts) < 2
        or not isinstance(gap, int)
        or not isinstance(clause_end, bool)
    ):
        raise SoraError(
            f"{where}: a rule needs a 'name', two or more 'parts' (lists of terms), an integer 'gap' and an "
            "optional true/false 'clause_end'"
        )
    bodies = ["|".join(_body(_normalized_term(t), lang) for t in part) for part in parts]
    cjk = any(is_cjk(c) for part in parts for t in part for c in t)
    if cjk:
        pattern = strict = f".{{0,{gap}}}".join(f"(?:{b})" for b in bodies)
    else:
        # Words in between: letters, digits or the allow-list's "~" mask, each after a separator.
        filler = rf"(?:[^{_WORD_CHARS}~]+[{_WORD_CHARS}~]+){{0,{gap}}}[^{_WORD_CHARS}~]+"
        body = filler.join(rf"(?:{b})(?![{_WORD_CHARS}])" for b in bodies)
        if clause_end:
            # German separable verbs put their prefix last: "sticht ... auf eine Frau ein," not "sticht ein Loch".
            body += r"(?=\s*(?:[,.;:!?)]|$))"
        pattern = rf"(?<![{_WORD_CHARS}]){body}"
        strict = rf"(?<![{_SPACED_LETTER}]){body}"
    text = " … ".join(p[0] for p in parts)
    return Term(text=text, lang=lang, cjk=cjk, source=pattern, strict_source=strict, rule=name)


class _Matcher:
    """Terms as one combined pattern, compiled on first use, in two forms.

    `fast` puts the word boundaries of all Latin terms around one alternation, which Python's regex
    engine scans some fifty times faster than an alternation of bounded terms; it answers the common
    "no match". Only on a match is `grouped`, with one group per term, used to name the term
    (`term_index`). It shares the boundaries the same way: compiling a letter class once per term costs
    seconds now that the classes span Arabic and Indic letters too.
    """

    def __init__(self, terms: tuple[Term, ...], strict: bool):
        sources = [t.strict_source if strict else t.source for t in terms]
        latin = [i for i, t in enumerate(terms) if t.body]
        others = [i for i, t in enumerate(terms) if not t.body]
        letters = _SPACED_LETTER if strict else _WORD_CHARS
        before, after = f"(?<![{letters}])", f"(?![{letters}])"
        bounded = [f"{before}(?:{'|'.join(terms[i].body for i in latin)}){after}"] if latin else []
        self.fast_source = "|".join(bounded + [sources[i] for i in others])
        grouped = [f"{before}(?:{'|'.join(f'({terms[i].body})' for i in latin)}){after}"] if latin else []
        self.grouped_source = "|".join(grouped + [f"({sources[i]})" for i in others])
        # Term bodies hold no capturing groups, so group n is the n-th term in this order.
        self._order = latin + others

    def term_index(self, m: re.Match[str]) -> int:
        """The index, in the terms given, of the term whose group matched."""
        return self._order[m.lastindex - 1]

    @functools.cached_property
    def fast(self) -> re.Pattern[str]:
        return re.compile(self.fast_source)

    @functools.cached_property
    def grouped(self) -> re.Pattern[str]:
        return re.compile(self.grouped_source)


@dataclass(frozen=True)
class Lexicon:
    category: str
    version: int
    terms: tuple[Term, ...]

    @functools.cached_property
    def _matchers(self) -> tuple[_Matcher, _Matcher]:
        return _Matcher(self.terms, strict=False), _Matcher(self.terms, strict=True)

    def find(
        self, text: str, strict: bool = False, defer: Callable[[str], bool] | None = None
    ) -> tuple[Term, re.Match[str]] | None:
        """The term or rule with the longest match in normalised `text` (the first on a tie), or None.

        At each place the combined pattern tries longer terms first, so this is the longest term there.
        An ambiguous term with no person near it is skipped where `defer(matched_text)` says so.
        """
        matcher = self._matchers[strict]
        if not matcher.fast.search(text):
            return None
        best = None
        for m in matcher.grouped.finditer(text):
            term = self.terms[matcher.term_index(m)]
            if defer is not None and term.ambiguous and not load_people().near(text, m) and defer(m.group(0)):
                continue
            if best is None or m.end() - m.start() > best[1].end() - best[1].start():
                best = (term, m)
        return best


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
    ambiguous = {(lang, t) for lang, words in doc.get("ambiguous", {}).items() for t in words}
    unknown = ambiguous - {(lang, t) for lang, words in doc["terms"].items() for t in words}
    if unknown:
        raise SoraError(
            f"lexicon_{category}.json marks {sorted(unknown)} ambiguous but does not list them under 'terms'; "
            "add them there or drop them from 'ambiguous'"
        )
    terms = tuple(
        dataclasses.replace(compile_term(t, lang), ambiguous=(lang, t) in ambiguous)
        for lang, words in doc["terms"].items()
        for t in words
    )
    rules = tuple(
        compile_rule(rule, lang, f"lexicon_{category}.json rule {n} ({lang})")
        for lang, lang_rules in doc.get("rules", {}).items()
        for n, rule in enumerate(lang_rules)
    )
    # Longer terms first, so a tie goes to "suicide bomb" rather than a shorter word inside it.
    terms = tuple(sorted(terms, key=lambda t: -len(t.text))) + rules
    return Lexicon(category, doc["version"], terms)


def load_lexicons() -> tuple[Lexicon, ...]:
    return tuple(load_lexicon(c) for c in CATEGORIES)


_WINDOW_WORD = re.compile(rf"[{_WORD_CHARS}~]+")


@dataclass(frozen=True)
class People:
    """Words for a person or a pet that an ambiguous word may harm ("killing a man", "a naked woman").

    `either` words count within `window` words after the ambiguous word ("killing a man"). Before it
    they count only within `back_window` words, only when the word is one of `looks_back` (participles
    and adjectives that describe the person before them: "a woman murdered", "a naked woman"), and
    not when one of `things` follows it as its object ("a student who killed it"): the subject of an
    active verb is no victim ("a man killing time"). `after` words count after it only (object
    pronouns: "killing him", not "he could murder a coffee").
    """

    version: int
    either: tuple[Term, ...]
    after: tuple[Term, ...]
    looks_back: tuple[Term, ...]
    things: tuple[Term, ...]
    window: int
    back_window: int

    @functools.cached_property
    def _patterns(self) -> tuple[re.Pattern[str] | None, ...]:
        back = re.compile("|".join(t.body or t.source for t in self.looks_back)) if self.looks_back else None
        return _any_of(self.either), _any_of(self.after), back, _any_of(self.things)

    def near(self, text: str, m: re.Match[str]) -> bool:
        either, after, back, things = self._patterns
        right = " ".join(_WINDOW_WORD.findall(text[m.end() :])[: self.window])
        if (either and either.search(right)) or (after and after.search(right)):
            return True
        if back is None or not back.fullmatch(m.group(0)) or (things and things.match(right)):
            return False
        left = " ".join(_WINDOW_WORD.findall(text[: m.start()])[-self.back_window :])
        return bool(either and either.search(left))


@functools.cache
def load_people() -> People:
    doc = load_data("people.json")
    window, back_window = doc.get("window"), doc.get("back_window")
    lists = [doc.get(k) for k in ("either", "after", "looks_back", "things")]
    if not isinstance(window, int) or not isinstance(back_window, int) or not all(isinstance(x, dict) for x in lists):
        raise SoraError(
            "people.json needs integers 'window' and 'back_window' and 'either', 'after', 'looks_back' and "
            "'things' maps of language to words"
        )
    either, after, back, things = (tuple(compile_term(t, lang) for lang, ws in x.items() for t in ws) for x in lists)
    return People(doc["version"], either, after, back, things, window, back_window)


_SIDES = ("before", "after", "either")


def _any_of(terms: tuple[Term, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(t.source for t in terms)) if terms else None


@dataclass(frozen=True)
class Context:
    """A benign reading of ambiguous words, decided by the words around them.

    Each of `terms` is allowed where one of `cues` lies within `window` words on `cue_side` of it
    ("a sushi chef killing a fish", "an octopus strangling a crab", "a topless convertible") and
    none of `unless` lies within `window` words on `unless_side` (a human victim: "an octopus
    strangling a man" is still blocked); `unless_window`, when given, is the reach of `unless`
    instead. A word allowed here is masked like an allowed phrase,
    so the embedding stage still judges the rest of the prompt.
    """

    name: str
    terms: tuple[Term, ...]
    cues: tuple[Term, ...]
    unless: tuple[Term, ...]
    window: int
    cue_side: str
    unless_side: str
    unless_window: int

    @functools.cached_property
    def _patterns(self) -> tuple[re.Pattern[str], re.Pattern[str] | None, re.Pattern[str] | None]:
        return re.compile("|".join(f"({t.source})" for t in self.terms)), _any_of(self.cues), _any_of(self.unless)

    def _near(self, pattern: re.Pattern[str] | None, text: str, m: re.Match[str], side: str, window: int) -> bool:
        if pattern is None:
            return False
        words = list(_WINDOW_WORD.finditer(text))
        before = " ".join(w.group(0) for w in words if w.end() <= m.start())
        after = " ".join(w.group(0) for w in words if w.start() >= m.end())
        before = " ".join(before.split(" ")[-window:]) if before else ""
        after = " ".join(after.split(" ")[:window]) if after else ""
        near = {"before": before, "after": after, "either": f"{before} | {after}"}[side]
        return bool(pattern.search(near))

    def mask(self, text: str) -> tuple[str, list[str]]:
        terms, cues, unless = self._patterns
        found: list[str] = []

        def blank(m: re.Match[str]) -> str:
            if not self._near(cues, text, m, self.cue_side, self.window) or self._near(
                unless, text, m, self.unless_side, self.unless_window
            ):
                return m.group(0)
            found.append(f"{m.group(0)} ({self.name})")
            return " ~ "

        return terms.sub(blank, text), found


def compile_context(doc: dict, where: str) -> Context:
    name, window = doc.get("name"), doc.get("window", 3)
    unless_window = doc.get("unless_window", window)
    cue_side, unless_side = doc.get("cue_side", "either"), doc.get("unless_side", "either")
    lists = [doc.get(k, []) for k in ("terms", "cues", "unless")]
    if (
        not isinstance(name, str)
        or not all(isinstance(x, list) and all(isinstance(t, str) for t in x) for x in lists)
        or not lists[0]
        or not lists[1]
        or not isinstance(window, int)
        or not isinstance(unless_window, int)
        or cue_side not in _SIDES
        or unless_side not in _SIDES
    ):
        raise SoraError(
            f"{where}: a context needs a 'name', non-empty 'terms' and 'cues' (lists of terms), an optional "
            f"'unless' list, integer 'window' and optional 'unless_window', and 'cue_side'/'unless_side' in {_SIDES}"
        )
    terms, cues, unless = (tuple(compile_term(t, "any") for t in x) for x in lists)
    return Context(name, terms, cues, unless, window, cue_side, unless_side, unless_window)


@dataclass(frozen=True)
class AllowList:
    version: int
    phrases: tuple[Term, ...]  # longest first
    contexts: tuple[Context, ...] = ()

    @functools.cached_property
    def _matcher(self) -> _Matcher:
        return _Matcher(self.phrases, strict=False)

    def mask(self, text: str) -> tuple[str, list[str]]:
        """`text` with every allowed phrase, and every word allowed by its context, blanked out; and what was."""
        text, found = self._mask_phrases(text)
        for context in self.contexts:
            text, more = context.mask(text)
            found += [f for f in more if f not in found]
        return text, found

    def _mask_phrases(self, text: str) -> tuple[str, list[str]]:
        found: list[str] = []

        def blank(m: re.Match[str]) -> str:
            phrase = self.phrases[self._matcher.term_index(m)].text
            if phrase not in found:
                found.append(phrase)
            return " ~ "

        if not self._matcher.fast.search(text):
            return text, found
        return self._matcher.grouped.sub(blank, text), found


@functools.cache
def load_allowlist() -> AllowList:
    doc = load_data("allowlist.json")
    phrases = tuple(sorted((compile_term(p, "any") for p in doc["phrases"]), key=lambda t: -len(t.text)))
    contexts = tuple(compile_context(c, f"allowlist.json context {n}") for n, c in enumerate(doc.get("contexts", [])))
    return AllowList(doc["version"], phrases, contexts)
