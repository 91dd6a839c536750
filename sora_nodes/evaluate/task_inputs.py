"""The inputs each editing task is scored on, built from the procedural world at fixed seeds.

Sample i of a run with seed s is world seed s + i; its colour, shape and motion step through
fixed cycles, so a few samples already cover several of each. The camera is static, so any
change between frames is the object's own (and, in generated frames, the model's noise).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..world import OBJECT_COLORS, SHAPES, ObjectSpec, Scene, SceneSpec, make_clip, object_geometry
from ..world.render import SQUARE_HALF_SIDE, TRIANGLE_CIRCUMRADIUS, render_scene

COLORS = tuple(OBJECT_COLORS)
MOVERS = ("right", "left", "up", "down", "fall")  # motions whose every step the jump threshold bounds
JOIN_MOTIONS = ("right", "left", "up", "down")  # extend, connect: steady speed, so the world's own seam ratio is ~1
# (a bounce or a fall changes speed, and the world's own ratio at a seam reaches 2)
STYLE_MOTIONS = ("right", "static", "left", "up", "down")  # motions the VAE reconstructs (fast ones blur away)
LOOP_MOTIONS = ("bounce", "spin")  # no net travel: a mover must come back over 16 steps in 8 frames, so even a
# perfect loop of one shows a seam of ~1.8
LONG_MOTIONS = ("bounce", "spin", "static")  # motions that stay in frame for a minute

REACH = {"circle": 1.0, "square": SQUARE_HALF_SIDE * 2**0.5, "triangle": TRIANGLE_CIRCUMRADIUS}  # x radius: the
# farthest a shape's outline reaches from its centre


@dataclass(frozen=True)
class TaskInput:
    frames: np.ndarray  # uint8 [T, H, W, 3]: the world clip the task starts from
    prompt: str  # the long caption the model was trained on
    color: str  # the prompted object's colour
    shape: str
    motion: str
    scene: Scene


def _pick(options: tuple, seed: int, i: int):
    return options[(seed + i) % len(options)]


def _object(seed: int, i: int, motions: tuple[str, ...], *, skip_circle_spin: bool = True) -> ObjectSpec:
    motion = _pick(motions, seed, i)
    shape = _pick(SHAPES, seed, i // 2)  # a different cycle length than colour's, so pairs vary too
    if skip_circle_spin and motion == "spin" and shape == "circle":
        shape = "square"  # a spinning circle looks static
    return ObjectSpec(shape=shape, color=_pick(COLORS, seed, i), size="medium", motion=motion)


def world_input(seed: int, i: int, motions: tuple[str, ...], frames: int, fps: float = 8.0) -> TaskInput:
    """One object on a static camera."""
    spec = _object(seed, i, motions)
    clip = make_clip(seed + i, frames=frames, fps=fps, spec=SceneSpec((spec,), camera="static"), exclude=frozenset())
    return TaskInput(clip.frames, clip.caption, spec.color, spec.shape, spec.motion, clip.scene)


def recoloured(item: TaskInput, seed: int, i: int, color: str) -> TaskInput:
    """The same scene and caption wording with the object in another colour (style transfer's target)."""
    spec = ObjectSpec(shape=item.shape, color=color, size="medium", motion=item.motion)
    clip = make_clip(
        seed + i,
        frames=len(item.frames),
        fps=item.scene.fps,
        spec=SceneSpec((spec,), camera="static"),
        exclude=frozenset(),
    )
    return TaskInput(clip.frames, clip.caption, color, item.shape, item.motion, clip.scene)


@dataclass(frozen=True)
class InpaintInput:
    source: TaskInput  # the scene without the new object; source.color etc. describe the new object
    box: tuple[int, int, int, int]  # x, y, width, height in pixels, on the latent grid
    target: np.ndarray  # uint8 [T, H, W, 3]: the world's own rendering with the new object


def _box_around(cx: float, cy: float, r: float, size: tuple[int, int], cell: int) -> tuple[int, int, int, int]:
    """The smallest box on the `cell` grid holding a circle of radius r + 2 px around (cx, cy): the new object
    and its blurred rim."""
    w, h = size
    x0, y0 = int(max(0, (cx - r - 2) // cell * cell)), int(max(0, (cy - r - 2) // cell * cell))
    x1, y1 = int(min(w, -(-(cx + r + 2) // cell) * cell)), int(min(h, -(-(cy + r + 2) // cell) * cell))
    return x0, y0, x1 - x0, y1 - y0


def _disjoint(scene: Scene, obj, box: tuple[int, int, int, int], margin: float = 2.0) -> bool:
    x, y, bw, bh = box
    for f in range(scene.frames):
        cx, cy, r, _ = object_geometry(scene, obj, f)
        nx, ny = min(max(cx, x), x + bw), min(max(cy, y), y + bh)  # nearest point of the box
        if (cx - nx) ** 2 + (cy - ny) ** 2 < (r * REACH[obj.shape] + margin) ** 2:
            return False
    return True


def inpaint_input(seed: int, i: int, frames: int, cell: int = 8) -> InpaintInput:
    """A one-object clip, and a box over background where the prompt (the caption of the same scene
    with a second, static object) asks for a new object. Seeds whose mover would enter the box are
    skipped, deterministically, so the box holds only background in the source."""
    new = _object(seed, i, ("static",))
    mover_color = _pick(tuple(c for c in COLORS if c != new.color), seed, i + 3)
    mover = ObjectSpec(shape=_pick(SHAPES, seed, i + 1), color=mover_color, size="small", motion=_pick(MOVERS, seed, i))
    for attempt in range(100):  # noqa: B007 (the last attempt is the one used)
        world_seed = (seed + i) * 100 + attempt
        clip = make_clip(world_seed, frames=frames, spec=SceneSpec((mover, new), camera="static", occlusion=False))
        full = clip.scene
        placed = full.objects[1]
        cx, cy, r, _ = object_geometry(full, placed, 0)
        box = _box_around(cx, cy, r * REACH[new.shape], (full.width, full.height), cell)
        if _disjoint(full, full.objects[0], box):
            break
    source_scene = dataclasses.replace(full, objects=full.objects[:1])
    source = TaskInput(render_scene(source_scene), clip.caption, new.color, new.shape, "static", source_scene)
    return InpaintInput(source, box, clip.frames)
