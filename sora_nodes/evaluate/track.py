"""Follow each object colour through a clip, in the first frame's coordinates.

The world never gives two objects one colour, so a colour is an identity: a colour's track is its
largest blob in each frame (None while it is hidden or missing). Positions and areas are mapped
through the estimated camera motion, so a pan or zoom does not read as object motion.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .detect import Detection, FrameObjects


@dataclass(frozen=True)
class Track:
    color: str
    detections: tuple[Detection | None, ...]  # per frame
    positions: tuple[tuple[float, float] | None, ...]  # per frame: centroid in first-frame pixels
    areas: tuple[float | None, ...]  # per frame: pixels at first-frame scale

    @property
    def frames(self) -> int:
        return len(self.detections)

    @property
    def seen(self) -> list[int]:
        """Indices of the frames where this colour was found."""
        return [i for i, d in enumerate(self.detections) if d is not None]

    @property
    def presence(self) -> float:
        return len(self.seen) / max(self.frames, 1)

    @property
    def prominence(self) -> float:
        """Summed area over the clip: how much of the video this object is."""
        return float(sum(a for a in self.areas if a is not None))

    @property
    def whole(self) -> list[Detection]:
        """The frames that show the object at least half its usual size: a sliver peeking past an occluder
        says little about its shape."""
        seen = [d for d in self.detections if d is not None]
        if not seen:
            return []
        typical = float(np.median([d.area for d in seen]))
        return [d for d in seen if d.area >= 0.5 * typical]

    @property
    def shape(self) -> str | None:
        """The shape most of the `whole` frames agree on."""
        votes = Counter(d.shape for d in self.whole)
        return votes.most_common(1)[0][0] if votes else None

    def shape_margin(self, shape: str) -> float | None:
        """Median over the `whole` frames of how much better the object fills `shape`'s enclosing figure
        than the best other shape's: > 0 reads as `shape`. A graded shape score, so that two models that
        draw the same number of shapes right can still be told apart by how near they are."""
        margins = []
        for d in self.whole:
            fills = dict(d.fills)
            if shape in fills:
                margins.append(fills[shape] - max(v for k, v in fills.items() if k != shape))
        return float(np.median(margins)) if margins else None


def _map(to_first: np.ndarray, x: float, y: float) -> tuple[float, float]:
    p = to_first @ np.array([x, y, 1.0])
    return float(p[0]), float(p[1])


def build_tracks(frames: list[FrameObjects], to_first: np.ndarray) -> list[Track]:
    """One track per colour seen anywhere in the clip, most prominent first.

    to_first: [T, 3, 3] maps from each frame's pixels to the first frame's (see camera.camera_motion).
    """
    colors = {d.color for f in frames for d in f.detections}
    tracks = []
    for color in colors:
        dets = [next((d for d in f.detections if d.color == color), None) for f in frames]  # largest first
        positions = [None if d is None else _map(to_first[i], *d.centroid) for i, d in enumerate(dets)]
        zoom2 = [abs(np.linalg.det(m[:2, :2])) for m in to_first]
        areas = [None if d is None else d.area * zoom2[i] for i, d in enumerate(dets)]
        tracks.append(Track(color, tuple(dets), tuple(positions), tuple(areas)))
    tracks.sort(key=lambda t: -t.prominence)
    return tracks
