"""One seeded clip of the shapes world: frames, terse label, long caption, and the scene graph."""

import random
from dataclasses import dataclass

import numpy as np

from .caption import describe, label
from .heldout import HELD_OUT
from .render import render_scene
from .scene import Scene
from .spec import SceneSpec, realize


@dataclass(frozen=True)
class WorldClip:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    label: str
    caption: str
    scene: Scene


def make_clip(
    seed: int,
    *,
    width: int = 64,
    height: int = 64,
    frames: int = 17,
    fps: float = 8.0,
    spec: SceneSpec | None = None,
    exclude: frozenset = HELD_OUT,
) -> WorldClip:
    """The clip for `seed`: the same arguments always give the same pixels and captions."""
    rng = random.Random(seed)
    scene = realize(spec or SceneSpec(), rng, width=width, height=height, frames=frames, fps=fps, exclude=exclude)
    return WorldClip(render_scene(scene), label(scene), describe(scene, rng), scene)
