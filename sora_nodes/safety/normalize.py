"""Prompt normalisation: undo the tricks people use to slip words past a word list.

Each step is its own function so that tests (and the filter's reasons) can name it. `normalize()`
chains them and returns `plain`, which keeps digits as digits, and alternate readings, which also
read digits and symbols as letters ("k1ll" -> "kill") or split spelled-out letters differently.
The filter matches every spelling, so an obfuscated word is found while "4 cats" is still plain.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Cyrillic and Greek letters that render like Latin ones (lower case: casefold runs first). A small
# hand table rather than the full Unicode confusables list: those are the letters a keyboard offers.
HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
        "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "г": "r", "п": "n", "ь": "b", "ɡ": "g",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u", "ϲ": "c", "ς": "s",
        # Latin-like symbols that NFKC leaves alone
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ß": "ss",
    }
)  # fmt: skip
_HOMOGLYPH_CHARS = frozenset(chr(c) for c in HOMOGLYPHS if chr(c) not in "ıłøđħß")

# Digits and symbols read as letters inside a word. "1" and "|" are both "i" and "l"; the filter
# tries each reading.
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s",
        "!": "i", "+": "t", "|": "l", "€": "e", "£": "l"}  # fmt: skip
_LEET_I = str.maketrans(LEET)
_LEET_L = str.maketrans({**LEET, "1": "l", "|": "l"})
_LEET_CLASS = re.escape("".join(LEET))

# A word: letters, digits and leet symbols (so "$3x" and "k!ll" stay one token).
_WORD = re.compile(rf"[\w{_LEET_CLASS}]+")
# Three or more single characters joined by spaces or punctuation: "k i l l", "k.i.l.l", "n-u-d-e".
_SPACED = re.compile(
    rf"(?<![\w'’{_LEET_CLASS}])(?:[\w{_LEET_CLASS}][ .\-_*·,/]+){{2,}}[\w{_LEET_CLASS}](?![\w{_LEET_CLASS}])"
)
_SEPARATORS = re.compile(r"[ .\-_*·,/]+")
_ONE_LETTER_WORDS = frozenset("aioye")


def is_cjk(ch: str) -> bool:
    """Han, kana, Hangul: scripts written without spaces, matched by substring."""
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # hiragana, katakana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0xAC00 <= o <= 0xD7AF  # Hangul syllables
        or 0x31F0 <= o <= 0x31FF
        or 0x20000 <= o <= 0x2FFFF
    )


def nfkc_casefold(text: str) -> str:
    """Full-width, ligature and styled letters ("ｎｕｄｅ", "ﬁ", "𝐧𝐮𝐝𝐞") become plain, then lower case."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def strip_format_chars(text: str) -> str:
    """Drop zero-width and other invisible format characters (Unicode category Cf), e.g. U+200B."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


# Combining marks that carry no letter of their own in any script: accents, strike-throughs, "Zalgo" stacks.
_GENERIC_MARKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))


def _mark_is_accent(mark: str, base: str | None) -> bool:
    """Is this combining mark an optional accent? Generic ones always are; a script's own marks are
    accents only on Latin, Greek, Cyrillic and Arabic letters (harakat). Elsewhere they spell the word:
    Devanagari, Bengali, Tamil and Telugu vowel signs and viramas, kana voicing (か/が)."""
    o = ord(mark)
    if any(lo <= o <= hi for lo, hi in _GENERIC_MARKS):
        return True
    if base is None:
        return True
    b = ord(base)
    return b < 0x0530 or 0x0600 <= b <= 0x06FF or 0x1E00 <= b <= 0x1FFF


def strip_accents(text: str) -> str:
    """ "désnudo" -> "desnudo". A script's own marks on other letters are kept (see `_mark_is_accent`)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.category(ch) == "Mn" and _mark_is_accent(ch, out[-1] if out else None):
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


# Characters that show nothing but are not Unicode format characters: Hangul fillers, the braille
# blank, the combining grapheme joiner and variation selectors (Default_Ignorable_Code_Point).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5") | frozenset(
    chr(c) for c in (*range(0x180B, 0x1810), *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0))
)


_BLANK_CATEGORIES = frozenset(("Cc", "Cf", "Zs", "Zl", "Zp"))


def is_blank(text: str) -> bool:
    """Does `text` show nothing: only spaces, control, format (zero-width) or other invisible characters?"""
    return all(ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) in _BLANK_CATEGORIES for ch in text)


def map_homoglyphs(text: str) -> str:
    """Map Cyrillic/Greek lookalikes to Latin in words that are written with them.

    Only a word that mixes in Latin letters, or is made entirely of lookalike letters, is mapped,
    so genuine Russian or Greek text is not turned into nonsense.
    """

    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        letters = [c for c in word if c.isalpha()]
        has_latin = any("a" <= c <= "z" for c in letters)
        all_lookalike = bool(letters) and all(c in _HOMOGLYPH_CHARS or "a" <= c <= "z" for c in letters)
        return word.translate(HOMOGLYPHS) if has_latin or all_lookalike else word

    return _WORD.sub(fix, text)


def collapse_spaced(text: str, keep_one_letter_words: str = "") -> str:
    """Join letters written one by one: "k i l l" and "k.i.l.l" -> "kill". Needs three or more.

    keep_one_letter_words ("head", "tail" or both, "headtail") keeps a one-letter word ("a", "i",
    "y", "o", "e") at that end of a run apart: "a n u d e woman" -> "a nude woman" (head),
    "l y n c h i n g a man" -> "lynching a man" (tail). No reading is always right, so the filter
    matches them all.
    """

    def join(m: re.Match[str]) -> str:
        run = m.group(0)
        head = tail = ""
        if "head" in keep_one_letter_words and run[0] in _ONE_LETTER_WORDS and run[1] == " ":
            head, run = run[0] + " ", run[1:].lstrip()
        if "tail" in keep_one_letter_words and run[-1] in _ONE_LETTER_WORDS and run[-2] == " " and len(run) > 3:
            tail, run = " " + run[-1], run[:-1].rstrip()
        return head + _SEPARATORS.sub("", run) + tail

    return _SPACED.sub(join, text)


def deleet(text: str, one_as: str = "i") -> str:
    """Read digits and symbols as letters: "k1ll" -> "kill", "jump 70 h15 d347h" -> "jump to his death".

    Only the de-leeted spelling reads "4" as "a"; the plain spelling keeps numbers as they are.
    """
    return text.translate(_LEET_I if one_as == "i" else _LEET_L)


def squeeze_spaces(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Normalized:
    original: str
    plain: str  # NFKC, casefold, no format chars or accents, lookalikes mapped, spaced letters joined
    alternates: tuple[str, ...]  # other readings: one-letter words kept apart, leetspeak read as letters
    light: str = ""  # only NFKC, casefold and accents: the words as the user typed them

    def shows(self, word: str) -> bool:
        """Is `word` written plainly in the prompt, or is the whole prompt disguised alike (a styled-text copy)?

        A word found only by undoing a trick ("k1ll", "k\u200bill", Cyrillic letters) among plainly written
        words was hidden on purpose; a prompt written all in lookalike or spaced-out letters was not aimed
        at one word.
        """
        typed = _WORD.findall(self.light)
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", self.light):
            return True
        readable = [w for w in typed if len(w) > 1 and w.isascii() and w.isalpha()]
        return len(readable) < 0.5 * max(1, len(self.plain.split()))

    @property
    def variants(self) -> tuple[str, ...]:
        """Every distinct spelling to match against, plain first."""
        return tuple(dict.fromkeys((self.plain, *self.alternates)))


def normalize(text: str) -> Normalized:
    base = map_homoglyphs(strip_accents(strip_format_chars(nfkc_casefold(text))))
    plain = squeeze_spaces(collapse_spaced(base))
    spellings = dict.fromkeys(squeeze_spaces(collapse_spaced(base, keep)) for keep in ("", "head", "tail", "headtail"))
    alternates = [*spellings] + [deleet(s, one) for s in spellings for one in ("i", "l")]
    light = squeeze_spaces(strip_accents(nfkc_casefold(text)))
    return Normalized(original=text, plain=plain, alternates=tuple(dict.fromkeys(alternates)), light=light)
