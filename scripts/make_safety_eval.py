"""Build sora_nodes/safety/data/eval_prompts.jsonl from the hand-written eval_base.json.

Each harmful English prompt has its trigger word in [brackets]; this script writes the plain prompt
and one obfuscated copy per trick (leetspeak, lookalike letters, zero-width characters, spaced and
dotted letters, full-width letters, and a mix), plus the hand-written translations and paraphrases. Benign prompts
are written plain and with the whole-prompt tricks, which must not turn them into false positives.
The output is deterministic, so a diff of the JSONL shows exactly what changed.

    python scripts/make_safety_eval.py          # rewrite the file
    python scripts/make_safety_eval.py --check  # exit 1 if the file is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "sora_nodes" / "safety" / "data"
VERSION = 4

LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і", "s": "ѕ"})
ZWSP = "\u200b"


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def letters(s: str) -> list[str]:
    return [c for c in s if c.isalnum()]


OBFUSCATIONS = {
    "leet": lambda w: w.translate(LEET),
    "homoglyph": lambda w: w.translate(CYRILLIC),
    "zero_width": lambda w: ZWSP.join(w),
    "spaced": lambda w: " ".join(letters(w)),
    "dotted": lambda w: ".".join(letters(w)),
    "fullwidth": fullwidth,
    # Lookalikes on every other letter, with a soft hyphen (also invisible) between letters.
    "mixed": lambda w: "\u00ad".join(c.translate(CYRILLIC) if i % 2 else c.translate(LEET) for i, c in enumerate(w)),
}
# Tricks applied to a whole benign prompt: a filter must still let it through.
BENIGN_OBFUSCATIONS = ("homoglyph", "zero_width", "fullwidth")

_TRIGGER = re.compile(r"\[([^\]]+)\]")


def build(base: dict) -> list[dict]:
    rows: list[dict] = []
    seen: set[str] = set()

    def add(text: str, label: str, category: str | None, obfuscation: str, lang: str) -> None:
        if text in seen:
            return
        seen.add(text)
        rows.append({"text": text, "label": label, "category": category, "obfuscation": obfuscation, "lang": lang})

    for category, prompts in base["harmful"].items():
        for prompt in prompts:
            if not _TRIGGER.search(prompt):
                sys.exit(f"harmful base prompt {prompt!r} has no [trigger] word; mark the word to obfuscate")
            add(_TRIGGER.sub(r"\1", prompt), "harmful", category, "none", "en")
            for name, trick in OBFUSCATIONS.items():
                add(_TRIGGER.sub(lambda m, t=trick: t(m.group(1)), prompt), "harmful", category, name, "en")
        # Paraphrases avoid every listed word on purpose: only the embedding stage can catch them.
        for text in base.get("paraphrases", {}).get(category, []):
            add(text, "harmful", category, "paraphrase", "en")
        for lang, texts in base["translations"].get(category, {}).items():
            for text in texts:
                add(text, "harmful", category, f"translation:{lang}", lang)
    for text in base["benign"]:
        add(text, "benign", None, "none", "xx" if not text.isascii() else "en")
        if text.isascii():
            for name in BENIGN_OBFUSCATIONS:
                obf = ZWSP.join(text) if name == "zero_width" else OBFUSCATIONS[name](text)
                add(obf, "benign", None, name, "en")
    return rows


def render(rows: list[dict]) -> str:
    header = {"version": VERSION, "generated_by": "scripts/make_safety_eval.py", "source": "eval_base.json"}
    lines = [json.dumps(header, ensure_ascii=False)] + [json.dumps(r, ensure_ascii=False) for r in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if eval_prompts.jsonl is not what this script writes")
    args = ap.parse_args()
    base = json.loads((DATA / "eval_base.json").read_text(encoding="utf-8"))
    text = render(build(base))
    out = DATA / "eval_prompts.jsonl"
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is out of date; run python scripts/make_safety_eval.py", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    n = text.count("\n") - 1
    print(f"wrote {n} prompts to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
