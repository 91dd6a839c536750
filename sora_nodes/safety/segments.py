"""The pieces of a prompt the filter judges one at a time: sentences, and overlapping word windows.

Judging a long prompt as one text lets harmless padding average a harmful sentence away (MiniLM
reads 128 tokens and mean-pools them) and lets one sentence in another language hide among many.
So the language check reads each sentence, the embedding stage scores each sentence and, in a long
one, each window, and the worst piece decides.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? ; … before a space (not inside "k.i.l.l" or "3.5"), at a line break, after
# a CJK full stop, and at the Devanagari/Bengali danda and the Arabic and Urdu question and full stops.
_SENTENCE_END = re.compile(r"(?<=[.!?;…])\s+|[\r\n]+|(?<=[。！？；])|[।॥؟۔]+")

# A sentence of more words than this is also read in windows. Shorter ones are read whole, as they
# always were: a prompt that short has no room to bury a harmful phrase in padding.
LONG_SENTENCE = 24
# (size, stride) in words. A harmful phrase of up to size - stride + 1 words lies whole inside some
# window of that size, with at most stride - 1 other words beside it: a short phrase ("a man
# shooting his neighbour") in the 8-word windows, a longer one in the 16- and 32-word ones.
WINDOW_SIZES = ((8, 2), (16, 4), (32, 8))


def sentences(text: str) -> list[str]:
    """The non-empty sentences of `text`, in order."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def windows(text: str) -> list[str]:
    """Each sentence, and for a sentence longer than LONG_SENTENCE words its overlapping windows of each
    of WINDOW_SIZES, the last window of each size ending at the sentence's end. Each piece once, in order."""
    out: list[str] = []
    for sentence in sentences(text):
        out.append(sentence)
        words = sentence.split()
        if len(words) <= LONG_SENTENCE:
            continue
        for size, stride in WINDOW_SIZES:
            if len(words) > size:
                starts = [*range(0, len(words) - size, stride), len(words) - size]
                out += [" ".join(words[i : i + size]) for i in starts]
    return list(dict.fromkeys(out))
