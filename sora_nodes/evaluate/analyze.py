"""One clip -> what the evaluator sees in it: per-frame detections, camera motion, object tracks, flicker."""

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from .camera import camera_motion
from .detect import FrameObjects, as_uint8, detect_frame
from .flicker import background_flicker, color_jitter
from .track import Track, build_tracks

PERSISTENT = 1 / 3  # fraction of frames an object must be seen in to count as one of the clip's objects;
# an occluded mover is hidden for up to about half the clip


@dataclass(frozen=True)
class ClipAnalysis:
    frames: int
    frame_size: int  # the shorter side, pixels: the world's unit of length
    objects: tuple[FrameObjects, ...]  # per frame
    camera: np.ndarray  # [T, 3, 3] each frame's pixels -> the first frame's
    tracks: tuple[Track, ...]  # one per colour, most prominent first
    flicker: float  # background, 8-bit levels
    color_jitter: float  # of the persistent objects, 8-bit levels

    @property
    def persistent(self) -> tuple[Track, ...]:
        return tuple(t for t in self.tracks if t.presence >= PERSISTENT)

    def track(self, color: str) -> Track | None:
        return next((t for t in self.tracks if t.color == color), None)


def analyse_clip(frames) -> ClipAnalysis:
    """frames: [T, H, W, 3] RGB, uint8 or float in 0..1 (numpy or torch)."""
    video = as_uint8(frames)
    if video.ndim != 4 or video.shape[0] < 1:
        raise ShapeError(f"a clip must be frames [T, H, W, 3] with T >= 1, got shape {list(video.shape)}")
    objects = tuple(detect_frame(f) for f in video)
    masks = np.stack([o.object_mask for o in objects])
    camera = camera_motion(video, masks)
    tracks = tuple(build_tracks(list(objects), camera))
    persistent = [t for t in tracks if t.presence >= PERSISTENT]
    return ClipAnalysis(
        frames=video.shape[0],
        frame_size=min(video.shape[1:3]),
        objects=objects,
        camera=camera,
        tracks=tracks,
        flicker=background_flicker(video, masks, camera),
        color_jitter=color_jitter(persistent),
    )
