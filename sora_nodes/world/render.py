"""Rasterise a Scene to RGB frames with anti-aliased opencv drawing."""

import math

import cv2
import numpy as np

from .palette import BACKGROUND_COLORS, BACKGROUND_TEXTURE, OBJECT_COLORS
from .scene import Scene, SceneObject

CHECKER_CELL = 0.25  # world units: large, faint squares that make camera motion visible
SUBPIXEL_BITS = 4
SQUARE_HALF_SIDE = 0.9  # x radius: the three shapes of one size cover similar areas
TRIANGLE_CIRCUMRADIUS = 1.35


def _vertices(shape: str, r: float, angle: float) -> np.ndarray:
    if shape == "square":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        pts = np.array(corners, dtype=np.float64) * SQUARE_HALF_SIDE * r
    else:  # triangle, apex up
        a = np.deg2rad([-90, 30, 150])
        pts = np.stack([np.cos(a), np.sin(a)], axis=1) * TRIANGLE_CIRCUMRADIUS * r
    t = math.radians(angle)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return pts @ rot.T


def _draw(img: np.ndarray, shape: str, color: tuple[int, int, int], cx: float, cy: float, r: float, angle: float):
    k = 1 << SUBPIXEL_BITS
    if shape == "circle":
        cv2.circle(img, (round(cx * k), round(cy * k)), max(1, round(r * k)), color, -1, cv2.LINE_AA, SUBPIXEL_BITS)
        return
    pts = (_vertices(shape, r, angle) + (cx, cy)) * k
    cv2.fillPoly(img, [np.round(pts).astype(np.int32)], color, cv2.LINE_AA, SUBPIXEL_BITS)


def _background(scene: Scene, ox: float, oy: float, zoom: float) -> np.ndarray:
    m = min(scene.width, scene.height)
    ex, ey = scene.extent
    # world coordinates of the pixel centres under this frame's camera
    wx = (np.arange(scene.width) + 0.5) / m / zoom + ex / 2 * (1 - 1 / zoom) + ox  # [W]
    wy = (np.arange(scene.height) + 0.5) / m / zoom + ey / 2 * (1 - 1 / zoom) + oy  # [H]
    parity = (np.floor(wy / CHECKER_CELL)[:, None] + np.floor(wx / CHECKER_CELL)[None, :]) % 2  # [H, W]
    base = np.array(BACKGROUND_COLORS[scene.background], dtype=np.int16)
    img = base + (parity[..., None] * 2 - 1).astype(np.int16) * BACKGROUND_TEXTURE
    return np.clip(img, 0, 255).astype(np.uint8)  # [H, W, 3]


def object_geometry(scene: Scene, obj: SceneObject, frame: int) -> tuple[float, float, float, float]:
    """(cx, cy, radius, angle) in pixels/degrees of `obj` on `frame`, after the camera."""
    m = min(scene.width, scene.height)
    ex, ey = scene.extent
    x, y, scale, angle = obj.state(scene.time(frame), scene.duration)
    ox, oy, zoom = scene.camera.transform(scene.time(frame))
    cx = ((x - ox - ex / 2) * zoom + ex / 2) * m
    cy = ((y - oy - ey / 2) * zoom + ey / 2) * m
    return cx - 0.5, cy - 0.5, obj.radius * scale * zoom * m, angle


def render_scene(scene: Scene) -> np.ndarray:
    """uint8 RGB frames [T, H, W, 3]."""
    out = np.empty((scene.frames, scene.height, scene.width, 3), dtype=np.uint8)
    far_to_near = sorted(scene.objects, key=lambda o: -o.depth)
    for f in range(scene.frames):
        img = _background(scene, *scene.camera.transform(scene.time(f)))
        for obj in far_to_near:
            cx, cy, r, angle = object_geometry(scene, obj, f)
            _draw(img, obj.shape, OBJECT_COLORS[obj.color], cx, cy, r, angle)
        out[f] = img
    return out
