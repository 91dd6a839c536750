"""Partial scene descriptions, and filling in what they leave open.

The random world and the recaptioner share this one path: the world realises an empty spec, the
recaptioner realises the spec parsed from a prompt. So every attribute a user leaves unspecified
is filled from the same distribution the model was trained on.
"""

import random
from dataclasses import dataclass, field

from ..errors import SoraError
from .palette import BACKGROUND_COLORS, OBJECT_COLORS
from .scene import CAMERAS, DIRECTIONS, GROW_RANGE, MOTIONS, SHAPES, SIZES, Camera, Scene, SceneObject

MARGIN = 0.03  # units kept between an object and the frame edge
OCCLUDING_MOTIONS = ("left", "right", "up", "down")


@dataclass(frozen=True)
class ObjectSpec:
    shape: str | None = None
    color: str | None = None
    size: str | None = None
    motion: str | None = None

    def __post_init__(self):
        for name, allowed in (("shape", SHAPES), ("color", OBJECT_COLORS), ("size", SIZES), ("motion", MOTIONS)):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise SoraError(f"unknown {name} {value!r}; the shapes world knows {', '.join(allowed)}")


@dataclass(frozen=True)
class SceneSpec:
    objects: tuple[ObjectSpec, ...] = ()  # empty: 1-3 random objects
    background: str | None = None
    camera: str | None = None
    occlusion: bool | None = None  # True: objects[0] passes behind objects[1]
    object_count: tuple[int, ...] = field(default=(1, 1, 1, 1, 1, 2, 2, 2, 3, 3))  # drawn from when objects=()

    def __post_init__(self):
        if self.background is not None and self.background not in BACKGROUND_COLORS:
            raise SoraError(f"unknown background {self.background!r}; choose from {', '.join(BACKGROUND_COLORS)}")
        if self.camera is not None and self.camera not in CAMERAS:
            raise SoraError(f"unknown camera {self.camera!r}; choose from {', '.join(CAMERAS)}")
        if len(self.objects) > 3:
            raise SoraError(f"the shapes world holds 1-3 objects, got {len(self.objects)}")


def _fill_object(
    spec: ObjectSpec, rng: random.Random, used_colors: set[str], exclude: frozenset, motions: tuple[str, ...]
) -> ObjectSpec:
    explicit = None not in (spec.color, spec.shape, spec.motion)
    shapes = [s for s in SHAPES if s != "circle"] if spec.motion == "spin" else SHAPES  # a spinning circle is invisible
    for _ in range(200):
        color = spec.color or rng.choice([c for c in OBJECT_COLORS if c not in used_colors])
        shape = spec.shape or rng.choice(shapes)
        motion = spec.motion or rng.choice([m for m in motions if not (m == "spin" and shape == "circle")])
        if explicit or (color, shape, motion) not in exclude:
            break
    size = spec.size or rng.choice(["medium", "large"] if motion in ("grow", "shrink") else list(SIZES))
    return ObjectSpec(shape=shape, color=color, size=size, motion=motion)


def _axis_range(extent: float, r: float) -> tuple[float, float]:
    return r + MARGIN, extent - r - MARGIN


def _place(o: ObjectSpec, rng: random.Random, extent: tuple[float, float], duration: float, depth: int) -> SceneObject:
    r = SIZES[o.size] * (GROW_RANGE[1] if o.motion in ("grow", "shrink") else 1.0)
    (x0, x1), (y0, y1) = _axis_range(extent[0], r), _axis_range(extent[1], r)
    x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
    kw = {}
    if o.motion in DIRECTIONS:
        dx, dy = DIRECTIONS[o.motion]
        lo, hi = (x0, x1) if dx else (y0, y1)
        span = hi - lo
        travel = min(rng.uniform(0.25, 0.4) * (extent[0] if dx else extent[1]) * max(duration, 0.5), 0.8 * span)
        start = rng.uniform(lo, hi - travel)
        start = start if (dx or dy) > 0 else start + travel  # moving towards lower coordinates starts high
        x, y = (start, y) if dx else (x, start)
        kw["speed"] = travel / duration if duration > 0 else 0.0
    elif o.motion == "bounce":
        y = y1  # on the floor
        kw["amplitude"] = min(rng.uniform(0.3, 0.5) * extent[1], y1 - y0)
        kw["speed"] = rng.uniform(0.8, 1.3)
    elif o.motion == "fall":
        y = rng.uniform(y0, y0 + 0.1 * (y1 - y0))
        kw["amplitude"] = y1 - y
        landing = rng.uniform(0.6, 0.9) * max(duration, 1e-3)
        kw["speed"] = 2 * kw["amplitude"] / landing**2
    elif o.motion == "spin":
        kw["speed"] = rng.choice((-1, 1)) * rng.uniform(90, 200)
    angle = rng.uniform(0, 360) if o.motion == "spin" else 0.0
    return SceneObject(o.shape, o.color, o.size, o.motion, x, y, depth=depth, angle=angle, **kw)


def _place_occlusion(
    mover: ObjectSpec, occluder: ObjectSpec, rng: random.Random, extent: tuple[float, float], duration: float
) -> tuple[SceneObject, SceneObject]:
    """The occluder sits mid-frame in front; the mover starts clear on one side and ends clear on the other."""
    dx, dy = DIRECTIONS[mover.motion]
    axis = 0 if dx else 1
    R, r = SIZES[occluder.size], SIZES[mover.size]
    centre = [e / 2 for e in extent]
    centre[1 - axis] += rng.uniform(-0.1, 0.1) * extent[1 - axis]
    half = R + r + MARGIN
    travel = 2 * half
    start = list(centre)
    start[axis] -= (dx or dy) * half
    front = SceneObject(occluder.shape, occluder.color, occluder.size, "static", centre[0], centre[1], depth=0)
    behind = SceneObject(
        mover.shape,
        mover.color,
        mover.size,
        mover.motion,
        start[0],
        start[1],
        depth=1,
        speed=travel / duration if duration > 0 else 0.0,
    )
    return behind, front


def _overlaps(a: SceneObject, others: list[SceneObject]) -> bool:
    return any((a.x - b.x) ** 2 + (a.y - b.y) ** 2 < (a.radius + b.radius + MARGIN) ** 2 for b in others)


def occlusion_fits(
    width: int, height: int, mover: str = "left", occluder_size: str = "medium", mover_size: str = "small"
) -> bool:
    m = min(width, height)
    extent = (width / m, height / m)[0 if mover in ("left", "right") else 1]
    return 2 * (SIZES[occluder_size] + 2 * SIZES[mover_size] + 2 * MARGIN) <= extent


def realize(
    spec: SceneSpec,
    rng: random.Random,
    *,
    width: int,
    height: int,
    frames: int,
    fps: float,
    exclude: frozenset = frozenset(),
) -> Scene:
    """A full Scene from `spec`, drawing each unspecified attribute with `rng`.

    `exclude` holds (color, shape, motion) triples never drawn at random (the held-out set); an
    object whose three attributes the spec names explicitly is always honoured.
    """
    if width < 16 or height < 16 or frames < 1 or fps <= 0:
        raise SoraError(
            f"a world clip needs width, height >= 16, frames >= 1, fps > 0; got {width}x{height}, {frames}, {fps}"
        )
    duration = (frames - 1) / fps
    m = min(width, height)
    extent = (width / m, height / m)
    specs = list(spec.objects) or [ObjectSpec()] * rng.choice(spec.object_count)
    occlusion = spec.occlusion
    if occlusion is None:
        occlusion = len(specs) >= 2 and frames > 1 and rng.random() < 0.4
    occluder = None
    if occlusion:
        if len(specs) == 1:
            specs.append(ObjectSpec())
        mover = specs[0]
        motion = mover.motion or rng.choice(("left", "right", "left", "right", "up", "down"))
        if motion not in OCCLUDING_MOTIONS:
            raise SoraError(f"an object passes behind another only while moving left/right/up/down, not {motion!r}")
        if not occlusion_fits(width, height, motion):
            motion = "left" if width >= height else "up"
        axis_extent = extent[0 if motion in ("left", "right") else 1]
        occ_size = specs[1].size or ("large" if occlusion_fits(width, height, motion, "large") else "medium")
        mov_size = mover.size or ("medium" if axis_extent >= 1.5 and rng.random() < 0.5 else "small")
        specs[0] = ObjectSpec(mover.shape, mover.color, mov_size, motion)
        specs[1] = ObjectSpec(specs[1].shape or rng.choice(("square", "circle")), specs[1].color, occ_size, "static")
        occluder = 1
    filled: list[ObjectSpec] = []
    used: set[str] = set()
    for i, o in enumerate(specs):
        motions = MOTIONS if i != occluder else ("static",)
        asked_later = {later.color for later in specs[i + 1 :] if later.color}  # random colours must not take these
        f = _fill_object(o, rng, used | asked_later if o.color is None else used, exclude, motions)
        if f.color in used:
            raise SoraError(f"two objects share the colour {f.color!r}; give each object its own colour")
        used.add(f.color)
        filled.append(f)
    placed: list[SceneObject] = []
    if occlusion:
        placed.extend(_place_occlusion(filled[0], filled[1], rng, extent, duration))
    for i, o in enumerate(filled[len(placed) :], start=len(placed)):
        for _ in range(50):
            obj = _place(o, rng, extent, duration, depth=i + 1)
            if not _overlaps(obj, placed):
                break
        placed.append(obj)
    background = spec.background or rng.choice(list(BACKGROUND_COLORS))
    camera_kind = spec.camera or rng.choice(("static",) * 14 + CAMERAS[1:])
    camera_speed = (
        0.0
        if camera_kind == "static"
        else rng.uniform(0.08, 0.15)
        if camera_kind.startswith("pan")
        else rng.uniform(0.12, 0.2)
    )
    return Scene(width, height, frames, fps, background, tuple(placed), Camera(camera_kind, camera_speed), occluder)
