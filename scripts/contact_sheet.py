"""Render a few prompts with the default model into one PNG grid (docs/contact_sheet.png).

    .venv/bin/python scripts/contact_sheet.py [--model PATH [--model NAME=PATH ...]] [-o docs/contact_sheet.png]
        [PROMPT ...]

Each prompt gets a row of the world's ground truth for the recaptioned scene, then one row per
model: its render with the default settings (20 euler steps, cfg 5, seed 0), every 4th frame of 17.
Several --model give the models side by side (e.g. the shipped one beside an earlier one).
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

from sora_nodes.families.bundle import default_model_path, load_sora_model
from sora_nodes.io.atomic import atomic_path
from sora_nodes.pipeline.generate import generate
from sora_nodes.pipeline.sampling import SamplingSettings
from sora_nodes.recaption import recaption
from sora_nodes.world import render_scene

PROMPTS = [
    "a red circle moving left",
    "a big blue square falling",
    "a yellow triangle spinning",
    "a green ball bouncing",
    "a white circle moving right passes behind a purple square",
]
SCALE = 2  # 64 px frames are tiny on a page


def strip(frames: np.ndarray, every: int) -> np.ndarray:
    """[T, H, W, 3] uint8 -> one row of every `every`-th frame, upscaled, 2 px apart."""
    picked = [cv2.resize(f, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST) for f in frames[::every]]
    gap = np.full((picked[0].shape[0], 2, 3), 255, np.uint8)
    return np.concatenate([x for f in picked for x in (f, gap)][:-1], axis=1)


def labelled(row: np.ndarray, text: str, width: int = 230) -> np.ndarray:
    pad = np.full((row.shape[0], width, 3), 255, np.uint8)
    for i, line in enumerate(_wrap(text, 30)):
        cv2.putText(pad, line, (6, 20 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([pad, row], axis=1)


def _wrap(text: str, n: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > n:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("prompts", nargs="*", default=PROMPTS)
    p.add_argument("--model", action="append", default=None, help="PATH or NAME=PATH; repeat to compare models")
    p.add_argument("-o", "--output", type=Path, default=Path("docs/contact_sheet.png"))
    args = p.parse_args()
    models = {}
    for item in args.model or [str(default_model_path())]:
        name, _, path = item.rpartition("=")
        models[name or "model"] = load_sora_model(Path(path))
    rows = []
    for prompt in args.prompts:
        r = recaption(prompt, seed=0)
        rows.append(labelled(strip(render_scene(r.scene), 4), f'"{prompt}" - world ground truth'))
        for name, model in models.items():
            video = generate(model, r.text, width=64, height=64, frames=17, settings=SamplingSettings(seed=0))
            made = (video.clamp(0, 1) * 255).round().byte().numpy()
            rows.append(labelled(strip(made, 4), f"{name} render"))
        rows.append(np.full((8, rows[-1].shape[1], 3), 255, np.uint8))
    sheet = np.concatenate(rows[:-1], axis=0)
    with atomic_path(args.output) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.output} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
