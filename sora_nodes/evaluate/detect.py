"""Find the world's objects in one frame by their palette colour.

A pixel belongs to an object colour when that colour is its nearest among the eight object
colours and the frame's own background, and lies within a tolerance of it: generated frames shift
colours, blur edges and add noise, so an exact match would find nothing, while "nearest to the
background" keeps the faint checker texture and anti-aliased rims out. A morphological opening
and a minimum area (both scaled with the frame) drop speckle; each remaining connected component
is one detection.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ShapeError, SoraError
from ..world.palette import OBJECT_COLORS
from .shape import fill_ratios, orientation

COLOR_NAMES = tuple(OBJECT_COLORS)
PALETTE = np.array([OBJECT_COLORS[c] for c in COLOR_NAMES], dtype=np.float32)  # [8, 3]
TOLERANCE = 70.0  # RGB distance to the nearest object colour; the closest two palette colours are 76 apart
MIN_AREA_64 = 20  # pixels at 64x64: a small object is ~130; scaled with frame area
REFERENCE_AREA = 64 * 64
EDGES = ("left", "right", "top", "bottom")
UPSAMPLE = 4  # outline resolution for shape and orientation


@dataclass(frozen=True)
class Detection:
    color: str
    area: int  # pixels
    centroid: tuple[float, float]  # (x, y) pixels
    bbox: tuple[int, int, int, int]  # (x, y, width, height) pixels
    shape: str  # circle, square or triangle
    orientation: float | None  # degrees within the shape's symmetry period (90 square, 120 triangle); None: circle
    mean_rgb: tuple[float, float, float]  # the blob's average colour, for colour stability over time
    edges: frozenset[str] = frozenset()  # frame edges it touches (left/right/top/bottom): it may be cut off there
    fills: tuple[tuple[str, float], ...] = ()  # (shape, fill of its enclosing figure): how clearly it is `shape`

    @property
    def clipped(self) -> bool:
        return bool(self.edges)


@dataclass(frozen=True)
class FrameObjects:
    detections: tuple[Detection, ...]  # largest first
    background: tuple[float, float, float]  # the frame's estimated background colour
    object_mask: np.ndarray  # bool [H, W]: the pixels of all detections


def as_uint8(frames) -> np.ndarray:
    """torch/numpy frames [..., H, W, 3], uint8 or float in 0..1 -> uint8 numpy."""
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().float().numpy()
    frames = np.asarray(frames)
    if frames.ndim < 3 or frames.shape[-1] != 3:
        raise ShapeError(f"frames must be RGB [..., H, W, 3], got shape {list(frames.shape)}")
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise SoraError(f"frames must be uint8 or float in 0..1, got dtype {frames.dtype}")
    return np.rint(np.clip(np.nan_to_num(frames), 0.0, 1.0) * 255.0).astype(np.uint8)


def estimate_background(frame: np.ndarray) -> np.ndarray:
    """The per-channel median: objects cover well under half of any world frame."""
    return np.median(frame.reshape(-1, 3), axis=0).astype(np.float32)


def color_labels(frame: np.ndarray, background: np.ndarray, tolerance: float = TOLERANCE) -> np.ndarray:
    """int [H, W]: index into COLOR_NAMES of each pixel's object colour, -1 for background or no colour."""
    refs = np.concatenate([PALETTE, background[None]], axis=0)  # [9, 3]; the background is the last
    dist = np.linalg.norm(frame.astype(np.float32)[:, :, None, :] - refs, axis=-1)  # [H, W, 9]
    nearest = dist.argmin(axis=-1)
    ok = (nearest < len(PALETTE)) & (np.take_along_axis(dist, nearest[..., None], axis=-1)[..., 0] <= tolerance)
    return np.where(ok, nearest, -1)


def subpixel_mask(
    frame: np.ndarray,
    blob: np.ndarray,
    bbox: tuple[int, int, int, int],
    color: np.ndarray,
    background: np.ndarray,
    kernel: np.ndarray,
) -> np.ndarray:
    """bool [UPSAMPLE*h, UPSAMPLE*w] mask of the blob around its bbox, traced where it is half object, half background.

    Rims are anti-aliased or blurred, so each pixel's position on the background -> object colour line
    says how much of it the object covers; interpolating that at 4x and cutting at one half recovers
    corners and curves that a whole-pixel mask at 64x64 loses.
    """
    x, y, w, h = bbox
    pad = kernel.shape[0]
    y0, y1, x0, x1 = (
        max(0, y - pad),
        min(frame.shape[0], y + h + pad),
        max(0, x - pad),
        min(frame.shape[1], x + w + pad),
    )
    axis = color - background
    cover = ((frame[y0:y1, x0:x1].astype(np.float32) - background) @ axis) / max(float(axis @ axis), 1e-6)
    near = cv2.dilate(blob[y0:y1, x0:x1].astype(np.uint8), kernel)  # keep other blobs of the same colour out
    cover = np.clip(cover, 0.0, 1.0) * near
    return cv2.resize(cover, None, fx=UPSAMPLE, fy=UPSAMPLE, interpolation=cv2.INTER_LINEAR) > 0.5


def _kernel_size(height: int, width: int) -> int:
    k = max(3, round(3 * min(height, width) / 64))
    return k + 1 - k % 2  # odd


def detect_frame(frame: np.ndarray, tolerance: float = TOLERANCE) -> FrameObjects:
    """All object-coloured blobs in one uint8 RGB frame [H, W, 3]."""
    frame = as_uint8(frame)
    if frame.ndim != 3:
        raise ShapeError(f"detect_frame takes one frame [H, W, 3], got shape {list(frame.shape)}")
    h, w, _ = frame.shape
    background = estimate_background(frame)
    labels = color_labels(frame, background, tolerance)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_kernel_size(h, w),) * 2)
    min_area = max(4, round(MIN_AREA_64 * h * w / REFERENCE_AREA))
    detections = []
    object_mask = np.zeros((h, w), dtype=bool)
    for index in np.unique(labels[labels >= 0]):
        mask = cv2.morphologyEx((labels == index).astype(np.uint8), cv2.MORPH_OPEN, kernel)
        count, components, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for c in range(1, count):
            x, y, bw, bh, area = (int(v) for v in stats[c])
            if area < min_area:
                continue
            blob = components == c
            object_mask |= blob
            outline = subpixel_mask(frame, blob, (x, y, bw, bh), PALETTE[index], background, kernel)
            contours, _ = cv2.findContours(outline.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            if not contours:
                continue
            fills = fill_ratios(max(contours, key=cv2.contourArea))
            shape = max(fills, key=fills.get)
            detections.append(
                Detection(
                    color=COLOR_NAMES[index],
                    area=area,
                    centroid=(float(centroids[c][0]), float(centroids[c][1])),
                    bbox=(x, y, bw, bh),
                    shape=shape,
                    orientation=orientation(outline, shape),
                    mean_rgb=tuple(float(v) for v in frame[blob].mean(axis=0)),
                    edges=frozenset(
                        e for e, cut in zip(EDGES, (x == 0, x + bw == w, y == 0, y + bh == h), strict=True) if cut
                    ),
                    fills=tuple((k, round(v, 4)) for k, v in fills.items()),
                )
            )
    detections.sort(key=lambda d: -d.area)
    return FrameObjects(tuple(detections), tuple(float(v) for v in background), object_mask)
