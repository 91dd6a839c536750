"""Write evaluate/data/seen_prompts.jsonl: the held-out prompts with their colour word swapped, so
that each asks for a (colour, shape, motion) triple the training world draws.

Same wordings, same shapes, same motions: the held-out set and this one differ only in whether the
model saw the triple in training, which separates a generalisation gap from a fitting gap.
    .venv/bin/python scripts/make_seen_prompts.py
"""

import json
import re
from pathlib import Path

from sora_nodes.evaluate.prompts import heldout_prompts_path
from sora_nodes.recaption import recaption
from sora_nodes.recaption.lexicon import OBJECT_COLORS
from sora_nodes.world import HELD_OUT

COLORS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black")


def swap_colour(prompt: str, expect: dict, index: int) -> tuple[str, dict]:
    words = re.findall(r"[a-z]+", prompt.lower())
    word = next(w for w in words if OBJECT_COLORS.get(w) == expect["color"])
    start = COLORS.index(expect["color"])
    for k in range(1, len(COLORS)):
        colour = COLORS[(start + k + index) % len(COLORS)]
        if colour != expect["color"] and (colour, expect["shape"], expect["motion"]) not in HELD_OUT:
            new = re.sub(rf"\b{word}\b", colour, prompt, count=1, flags=re.IGNORECASE)
            new = re.sub(rf"\b(an?) {colour}\b", ("an " if colour[0] in "aeiou" else "a ") + colour, new, count=1)
            if recaption(new).scene.objects[0].color == colour:  # the recaptioner reads the swap
                return new, {**expect, "color": colour}
    raise RuntimeError(f"no seen colour for {prompt!r}")


def main() -> None:
    src = heldout_prompts_path()
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    out = Path(src).with_name("seen_prompts.jsonl")
    with out.open("w") as f:
        for i, row in enumerate(rows):
            prompt, expect = swap_colour(row["prompt"], row["expect"], i)
            f.write(json.dumps({"prompt": prompt, "expect": expect}) + "\n")
    print(f"wrote {len(rows)} prompts to {out}")


if __name__ == "__main__":
    main()
