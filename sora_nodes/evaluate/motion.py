"""Name a track's motion in the world's vocabulary: left, right, up, down, static, bounce, fall,
grow, shrink or spin.

Distances are in units of the frame's shorter side (the world's own unit), so the thresholds hold
at any resolution. The world's motions are far apart: a mover crosses at least ~0.45 units, a
bounce rises at least ~0.3 units and comes back down, a fall speeds up (its fastest step is over
twice its average one) and then lands, grow/shrink change the area about four-fold, a spin turns
at least ~180 degrees. Each threshold sits well above what detection jitter and camera-estimate
error produce on a still object, and well below the smallest real motion.
"""

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .detect import EDGES
from .shape import SHAPE_SYMMETRY
from .track import Track

MIN_OBSERVED = 3  # frames; fewer cannot show a motion
MIN_SHIFT = 0.15  # units of net displacement that count as moving
MIN_BOUNCE = 0.15  # units an object must rise and then drop again
FALL_PEAK_TO_MEAN = 1.7  # fastest step / mean step along the fall: 1 for steady motion, 2/landing time for a fall
AREA_CHANGE = 2.0  # end/start area ratio for grow (its inverse for shrink); the world's is (1.35 / 0.65)^2 = 4.3
MIN_ROTATION = 60.0  # degrees turned over the clip
VISIBLE = 0.75  # area fraction (of its largest) an object must show for its centroid to count
ENDS = 2  # observations averaged at each end of a track, against detection jitter


@dataclass(frozen=True)
class MotionFeatures:
    observed: int  # frames the object was seen in
    dx: float  # net displacement, units (x right, y down)
    dy: float
    bounce: float  # units risen and dropped again around the highest point
    peak_to_mean: float  # fastest vertical step / mean vertical step
    area_ratio: float  # area at the end / area at the start, from the fitted growth rate
    rotation: float  # degrees turned, signed, summed frame to frame


def _bounce_depth(y: np.ndarray) -> float:
    """max over interior points j of min(rise before j, drop after j); 0 for a monotone path."""
    best = 0.0
    for j in range(1, len(y) - 1):
        best = max(best, min(y[:j].max() - y[j], y[j + 1 :].max() - y[j]))
    return float(best)


def _rotation(track: Track, shape: str | None) -> float:
    """Degrees turned over the clip by a square or triangle (0 for a circle, whose turning cannot be seen)."""
    if shape not in SHAPE_SYMMETRY:
        return 0.0
    period = 360.0 / SHAPE_SYMMETRY[shape]
    angles = [
        (i, d.orientation) for i, d in enumerate(track.detections) if d is not None and d.shape == shape
    ]  # orientation is only comparable between detections of one shape
    total = 0.0
    for (i0, a0), (i1, a1) in pairwise(angles):
        if i1 - i0 == 1:
            total += (a1 - a0 + period / 2) % period - period / 2  # the smallest turn between two symmetric poses
    return total


def _uncut(track: Track, edges: set[str]) -> list[int]:
    """Frames where the object is seen and touches none of `edges`: a cut-off blob's centroid moves away
    from the cut (only along that axis) and its area shrinks."""
    return [i for i in track.seen if not track.detections[i].edges & edges]


def _unhidden(track: Track, frames: list[int]) -> list[int]:
    """The frames where the object shows (nearly) all of itself: one half behind another object has its
    centroid pulled to the visible half, which reads as a jump."""
    if not frames:
        return frames
    full = np.percentile([track.areas[i] for i in frames], 90)
    return [i for i in frames if track.areas[i] >= VISIBLE * full]


def motion_features(track: Track, frame_size: int) -> MotionFeatures:
    """frame_size: the frame's shorter side in pixels. A quantity seen in too few uncut frames reads as no change."""
    observed = len(track.seen)
    if observed < MIN_OBSERVED:
        return MotionFeatures(observed, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0)
    coords = {}
    for axis, edges in ((0, {"left", "right"}), (1, {"top", "bottom"})):
        frames = _unhidden(track, _uncut(track, edges))
        coords[axis] = (frames, np.array([track.positions[i][axis] for i in frames]) / frame_size)
    xs, x = coords[0]
    ys, y = coords[1]
    dx = float(x[-ENDS:].mean() - x[:ENDS].mean()) if len(xs) >= MIN_OBSERVED else 0.0
    dy = float(y[-ENDS:].mean() - y[:ENDS].mean()) if len(ys) >= MIN_OBSERVED else 0.0
    peak_to_mean, bounce = 1.0, 0.0
    if len(ys) >= MIN_OBSERVED:
        steps = np.abs(np.diff(y)) / np.diff(ys)  # per frame
        peak_to_mean = float(steps.max() / steps.mean()) if steps.mean() > 0 else 1.0
        bounce = _bounce_depth(y)
    whole = _uncut(track, set(EDGES))
    area_ratio = 1.0
    if len(whole) >= MIN_OBSERVED:
        # growth rate over the frames where it is whole, carried over the clip: an object that leaves the
        # frame half-way still shows how fast it grew
        slope = np.polyfit(whole, np.log(np.maximum([track.areas[i] for i in whole], 1e-9)), 1)[0]
        area_ratio = float(np.exp(slope * (track.frames - 1)))
    return MotionFeatures(observed, dx, dy, bounce, peak_to_mean, area_ratio, _rotation(track, track.shape))


def classify_motion(f: MotionFeatures) -> str | None:
    """The motion's name, or None when the object was seen too rarely to tell."""
    if f.observed < MIN_OBSERVED:
        return None
    if f.bounce >= MIN_BOUNCE:
        return "bounce"
    if f.area_ratio >= AREA_CHANGE:  # before shifts: a growing blob cut by an edge or a neighbour drifts a little
        return "grow"
    if f.area_ratio <= 1 / AREA_CHANGE:
        return "shrink"
    if max(abs(f.dx), abs(f.dy)) >= MIN_SHIFT:
        if abs(f.dx) > abs(f.dy):
            return "right" if f.dx > 0 else "left"
        if f.dy < 0:
            return "up"
        return "fall" if f.peak_to_mean >= FALL_PEAK_TO_MEAN else "down"
    if abs(f.rotation) >= MIN_ROTATION:
        return "spin"
    return "static"
