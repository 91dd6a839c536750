"""What each shipped workflow renders, for the headless (test_task_workflows) and real-ComfyUI tests.

The task workflows read the sample inputs in workflows/inputs/ (made by scripts/make_sample_inputs.py):
a 64x64 image, a 17-frame clip and a later 17-frame clip of the same scene, at 8 fps.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
INPUTS = WORKFLOWS / "inputs"
IMAGE = INPUTS / "sora_red_circle.png"  # image-to-video
CLIP = INPUTS / "sora_red_circle.mp4"  # extend, loop, inpaint, style transfer; clip A of connect
LATER = INPUTS / "sora_red_circle_later.mp4"  # clip B of connect: the same scene 3 s later
SIZE = (64, 64)  # (height, width) of every shipped workflow's video
FPS = 8.0

# Frames in the saved MP4, from the graph's settings:
OUTPUT_FRAMES = {
    "text_to_video": 17,
    "image_to_video": 17,  # frames=17, the image included
    "extend_video": 17 + 16,  # the whole source, then new_frames=16
    "connect_videos": 17 + 7 + 17,  # clip A, transition_frames=7, clip B
    "loop_video": 17 + 8,  # the clip, then transition_frames=8 back towards its first frame
    "inpaint_scene": 17,
    "style_transfer": 17,
    "long_video": 1 + 4 * 120,  # 60 s at 8 fps, rounded up to 1 + k*4 frames
}


# The workflows on ComfyUI core's loaders and KSampler (scripts/make_core_workflows.py) sit beside the pack's own
# at the top of workflows/, where the template browser lists them, and are told apart by this prefix.
CORE_PREFIX = "core_"


def is_core(path: Path) -> bool:
    return path.stem.startswith(CORE_PREFIX)


def ui_workflows(core: bool) -> list[Path]:
    """The shipped UI workflows: those on core's models (core=True) or those on the pack's own."""
    return [p for p in sorted(WORKFLOWS.glob("*.json")) if is_core(p) == core]


def api_workflows(core: bool) -> list[Path]:
    return [p for p in sorted((WORKFLOWS / "api").glob("*.json")) if is_core(p) == core]


def api_file(name: str) -> Path:
    return WORKFLOWS / "api" / f"{name}.json"


def ui_file(name: str) -> Path:
    return WORKFLOWS / f"{name}.json"


def thumbnails_script():
    """scripts/make_thumbnails.py as a module (a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("make_thumbnails", ROOT / "scripts" / "make_thumbnails.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
