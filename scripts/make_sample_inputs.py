"""Make the sample inputs of the shipped task workflows (workflows/inputs/) from the procedural world.

    .venv/bin/python scripts/make_sample_inputs.py [-o workflows/inputs]

One seeded 41-frame world clip (a medium red circle moving right near the top of a plain mint
background, static camera, 64x64 at 8 fps) gives all of them, so every workflow's prompt can
describe the same scene:

    sora_red_circle.png        frame 0                 image-to-video
    sora_red_circle.mp4        frames 0..16 (2 s)      extend, loop, inpaint, style transfer; clip A of connect
    sora_red_circle_later.mp4  frames 24..40           clip B of connect: the same scene 3 s later

The same seed always gives the same pixels; the MP4s are H.264 at crf 18, a few KB each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from sora_nodes.io.atomic import atomic_path
from sora_nodes.io.video import write_video
from sora_nodes.world import ObjectSpec, SceneSpec, make_clip

ROOT = Path(__file__).resolve().parent.parent
SEED = 4  # the seed whose circle runs along the top, clear of the inpaint workflow's box at the bottom
FPS = 8.0
SCENE = SceneSpec((ObjectSpec("circle", "red", "medium", "right"),), background="mint", camera="static")
IMAGE, CLIP, LATER = "sora_red_circle.png", "sora_red_circle.mp4", "sora_red_circle_later.mp4"
CLIP_FRAMES = slice(0, 17)
LATER_FRAMES = slice(24, 41)


def make_sample_inputs(folder: Path) -> list[Path]:
    """Writes the three sample files into `folder`; returns their paths."""
    frames = make_clip(SEED, frames=LATER_FRAMES.stop, fps=FPS, spec=SCENE).frames  # uint8 [41, 64, 64, 3]
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / IMAGE
    with atomic_path(image) as tmp:
        if not cv2.imwrite(str(tmp), frames[0][..., ::-1]):  # OpenCV writes BGR
            raise OSError(f"could not write {image}")
    return [
        image,
        write_video(folder / CLIP, frames[CLIP_FRAMES], FPS),
        write_video(folder / LATER, frames[LATER_FRAMES], FPS),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "workflows" / "inputs")
    for path in make_sample_inputs(parser.parse_args().output):
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
