"""Circle, square or triangle from a blob's outline.

Each candidate shape has an enclosing figure it fills exactly: a circle its minimum enclosing
circle, a square its minimum-area rectangle, a triangle its minimum enclosing triangle. The blob
is the shape whose figure it fills best. Fill ratios of the other two stay far below 1 (a square
fills 64% of its circle, a triangle 50% of its rectangle, a circle 60% of its triangle), which is
what keeps the decision stable on small, blurred, noisy blobs.
"""

import math

import cv2
import numpy as np

SHAPE_SYMMETRY = {"square": 4, "triangle": 3}  # n-fold rotational symmetry; a circle has none to track


def fill_ratios(contour: np.ndarray) -> dict[str, float]:
    """How much of each shape's minimum enclosing figure the contour's area covers."""
    points = cv2.convexHull(contour.reshape(-1, 1, 2).astype(np.float32))
    area = cv2.contourArea(points)
    if area <= 0:
        return {"circle": 0.0, "square": 0.0, "triangle": 0.0}
    _, radius = cv2.minEnclosingCircle(points)
    (_, (w, h), _) = cv2.minAreaRect(points)
    triangle_area, _ = cv2.minEnclosingTriangle(points)
    return {
        "circle": area / max(math.pi * radius**2, 1e-9),
        "square": area / max(w * h, 1e-9),
        "triangle": area / max(triangle_area, 1e-9),
    }


def classify_shape(contour: np.ndarray) -> str:
    ratios = fill_ratios(contour)
    return max(ratios, key=ratios.get)


def orientation(mask: np.ndarray, shape: str) -> float | None:
    """Rotation of an n-fold symmetric blob in degrees, in [0, 360/n); None for a circle.

    The n-th complex moment sum((x + iy)^n) about the centroid vanishes for a disc and turns by
    n*theta when the blob turns by theta, so its phase tracks rotation using every pixel.
    """
    n = SHAPE_SYMMETRY.get(shape)
    if n is None:
        return None
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    z = (xs - xs.mean()) + 1j * (ys - ys.mean())
    moment = np.sum(z**n)
    period = 360.0 / n
    return float(np.degrees(np.angle(moment)) / n % period)
