"""Write the quick-eval prompt sets of the DiT experiment protocol (docs/dit_experiments.md):
evaluate/data/quick_seen.jsonl (24 triples the training world draws) and quick_heldout.jsonl (the 24
held-out triples), one prompt each, in wordings that occur neither in training captions nor in the
shipped held-out and seen sets. Every prompt is checked to be read back as its triple by the recaptioner.
    .venv/bin/python scripts/make_quick_prompts.py
"""

import json
import random
from pathlib import Path

from sora_nodes.evaluate.prompts import heldout_prompts_path
from sora_nodes.recaption import recaption
from sora_nodes.world import HELD_OUT, MOTIONS, OBJECT_COLORS, SHAPES

NOUNS = {"circle": ("disk", "sphere", "bubble", "circle"), "square": ("cube", "brick", "square"),
         "triangle": ("cone", "triangle")}  # fmt: skip
PHRASES = {
    "left": ("travelling to the left", "gliding leftward", "heading west"),
    "right": ("rolling to the right", "racing eastward", "gliding rightward"),
    "up": ("floating upward", "rising skyward", "climbing upward"),
    "down": ("drifting downward", "travelling southward", "moving toward the bottom"),
    "static": ("standing still", "holding still", "staying motionless"),
    "bounce": ("bouncing", "leaping again and again", "dribbling"),
    "fall": ("falling", "tumbling down", "dropping"),
    "grow": ("expanding", "growing larger", "scaling up"),
    "shrink": ("contracting", "shrinking", "scaling down"),
    "spin": ("rotating", "spinning clockwise", "turning around"),
}
FRAMES = ("there is a {c} {n} {m}", "a {c} {n} {m} across the picture", "one {c} {n}, {m}", "watch a {c} {n} {m}")


def seen_triples(rng: random.Random) -> list[tuple[str, str, str]]:
    """24 drawn triples covering every colour 3 times and every motion at least twice."""
    out = []
    for i in range(24):
        color, motion = list(OBJECT_COLORS)[i % 8], MOTIONS[(3 * i + 1) % 10]
        shapes = [s for s in SHAPES if (color, s, motion) not in HELD_OUT and not (motion == "spin" and s == "circle")]
        out.append((color, rng.choice(shapes), motion))
    return out


def write(triples, path: Path, rng: random.Random, used: set[str]) -> None:
    rows = []
    for color, shape, motion in triples:
        for _ in range(100):
            text = rng.choice(FRAMES).format(c=color, n=rng.choice(NOUNS[shape]), m=rng.choice(PHRASES[motion]))
            text = text.replace("a o", "an o")
            obj = recaption(text).scene
            if (
                text not in used
                and len(obj.objects) == 1
                and ((obj.objects[0].color, obj.objects[0].shape, obj.objects[0].motion) == (color, shape, motion))
            ):
                break
        else:
            raise RuntimeError(f"no wording the recaptioner reads for {(color, shape, motion)}")
        used.add(text)
        rows.append({"prompt": text, "expect": {"color": color, "shape": shape, "motion": motion}})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(rows)} prompts to {path}")


def main() -> None:
    data = heldout_prompts_path().parent
    used = {json.loads(line)["prompt"] for f in ("heldout_prompts.jsonl", "seen_prompts.jsonl")
            for line in (data / f).read_text().splitlines() if line.strip()}  # fmt: skip
    rng = random.Random(20)
    write(seen_triples(rng), data / "quick_seen.jsonl", rng, used)
    write(sorted(HELD_OUT), data / "quick_heldout.jsonl", rng, used)


if __name__ == "__main__":
    main()
