"""The scene graph: objects with a motion, a camera, a background, and where everything is at time t.

World units: 1 unit = the shorter side of the frame, so one scene renders at any size and aspect
ratio with round circles. The frame spans (0, 0)..(extent_x, extent_y) for a static camera.
Time is in seconds, so fps only changes how densely a scene is sampled.
"""

import math
from dataclasses import dataclass

SHAPES = ("circle", "square", "triangle")
MOTIONS = ("left", "right", "up", "down", "static", "bounce", "fall", "grow", "shrink", "spin")
DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
SIZES = {"small": 0.10, "medium": 0.14, "large": 0.19}  # radius in units: >= 12 px across at 64x64
CAMERAS = ("static", "pan left", "pan right", "pan up", "pan down", "zoom in", "zoom out")
GROW_RANGE = (0.65, 1.35)  # scale at the start and end of "grow"; "shrink" runs it backwards


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    size: str
    motion: str
    x: float  # start centre, world units
    y: float
    depth: int = 0  # drawn far to near: a larger depth is further back
    speed: float = 0.0  # units/s for left/right/up/down; hops/s for bounce; g for fall; deg/s for spin
    amplitude: float = 0.0  # bounce height or fall distance, units
    angle: float = 0.0  # start rotation, degrees

    @property
    def radius(self) -> float:
        return SIZES[self.size]

    def state(self, t: float, duration: float) -> tuple[float, float, float, float]:
        """(x, y, scale, angle) at time t seconds into a clip of `duration` seconds."""
        x, y, scale, angle = self.x, self.y, 1.0, self.angle
        if self.motion in DIRECTIONS:
            dx, dy = DIRECTIONS[self.motion]
            x, y = x + dx * self.speed * t, y + dy * self.speed * t
        elif self.motion == "bounce":
            y = y - self.amplitude * abs(math.sin(math.pi * self.speed * t))
        elif self.motion == "fall":
            y = y + min(0.5 * self.speed * t * t, self.amplitude)
        elif self.motion in ("grow", "shrink"):
            u = t / duration if duration > 0 else 0.0
            lo, hi = GROW_RANGE
            scale = lo + (hi - lo) * (u if self.motion == "grow" else 1.0 - u)
        elif self.motion == "spin":
            angle = angle + self.speed * t
        return x, y, scale, angle


@dataclass(frozen=True)
class Camera:
    kind: str = "static"  # one of CAMERAS
    speed: float = 0.0  # units/s for a pan, relative zoom per second for a zoom

    def transform(self, t: float) -> tuple[float, float, float]:
        """(offset_x, offset_y, zoom) at time t: a world point p shows at (p - centre - offset) * zoom."""
        if self.kind.startswith("pan"):
            dx, dy = DIRECTIONS[self.kind.split()[1]]
            return dx * self.speed * t, dy * self.speed * t, 1.0
        if self.kind.startswith("zoom"):
            rate = self.speed if self.kind == "zoom in" else -self.speed
            return 0.0, 0.0, math.exp(rate * t)
        return 0.0, 0.0, 1.0


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    frames: int
    fps: float
    background: str
    objects: tuple[SceneObject, ...]
    camera: Camera = Camera()
    occluder: int | None = None  # index of the object another one passes behind, if any

    @property
    def extent(self) -> tuple[float, float]:
        m = min(self.width, self.height)
        return self.width / m, self.height / m

    @property
    def duration(self) -> float:
        return (self.frames - 1) / self.fps

    def time(self, frame: int) -> float:
        return frame / self.fps
