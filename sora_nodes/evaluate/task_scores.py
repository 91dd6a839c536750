"""What an editing task's output shows of the world's objects: does the image's object go on moving, is the
prompted object inside the inpainted box, did the restyled object keep its place, how a long video's object
and sharpness hold up over time. Each takes frames (uint8, or float in 0..1) and returns plain figures.
"""

from __future__ import annotations

import numpy as np

from ..world import OBJECT_COLORS
from .analyze import analyse_clip
from .detect import Detection, as_uint8, detect_frame
from .frame_metrics import sharpness
from .motion import classify_motion, motion_features
from .track import Track

JUMP = 0.2  # units of the frame's shorter side per frame. The fastest step of a world motion that image-to-video
# is scored on (task_inputs.MOVERS) at 8 fps is 0.14 (a fall about to land; a steady mover's is 0.04), so a real
# motion stays under it with room for detection jitter, while an object that vanishes and reappears elsewhere,
# or a second blob that takes over its colour, jumps further
LOST = 1.0  # centroid error of a frame where the object is not found: the whole frame


def track_jump(track: Track, frame_size: int) -> float | None:
    """Largest centroid step per frame between the frames the object is seen in, in units of the frame's
    shorter side; None when it is seen in fewer than two frames."""
    seen = track.seen
    if len(seen) < 2:
        return None
    steps = [
        float(np.hypot(*np.subtract(track.positions[j], track.positions[i]))) / (j - i)
        for i, j in zip(seen, seen[1:], strict=False)
    ]
    return max(steps) / frame_size


def moving_on(frames, color: str, motion: str) -> dict:
    """Image-to-video: the image's object (known by its colour) in every frame, without jumps, in the prompted
    motion."""
    analysis = analyse_clip(frames)
    track = analysis.track(color)
    detected = classify_motion(motion_features(track, analysis.frame_size)) if track else None
    return {
        "presence": track.presence if track else 0.0,
        "max_jump": track_jump(track, analysis.frame_size) if track else None,
        "detected_motion": detected,
        "motion_correct": detected == motion,
        "moves": detected not in (None, "static"),
    }


def _inside(detection: Detection, box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    cx, cy = detection.centroid
    return x <= cx < x + w and y <= cy < y + h


def inside_box(frames, box: tuple[int, int, int, int], color: str, shape: str) -> dict:
    """Inpainting: the fraction of frames with a blob of the prompted colour centred in the box, and of those
    where it also has the prompted shape."""
    color_in, both_in = [], []
    for frame in as_uint8(frames):
        found = [d for d in detect_frame(frame).detections if d.color == color and _inside(d, box)]
        color_in.append(bool(found))
        both_in.append(any(d.shape == shape for d in found))
    return {"inside_color": float(np.mean(color_in)), "inside_detected": float(np.mean(both_in))}


def _largest(frames) -> list[Detection | None]:
    return [next(iter(detect_frame(f).detections), None) for f in as_uint8(frames)]


def restyled(source, output, color: str, centroid_limit: float) -> dict:
    """Style transfer of a one-object clip: per frame, the output's largest blob against the source's.

    centroid_error: the largest distance between them over the clip (units of the frame's shorter side; a frame
    where the output shows no object counts as LOST); new_color: the fraction of frames whose blob has `color`;
    restyled_in_place: the fraction that have it within `centroid_limit` of the source's object."""
    size = min(as_uint8(source).shape[1:3])
    errors, colors = [], []
    for s, o in zip(_largest(source), _largest(output), strict=True):
        errors.append(LOST if o is None or s is None else float(np.hypot(*np.subtract(o.centroid, s.centroid))) / size)
        colors.append(o is not None and o.color == color)
    in_place = [c and e <= centroid_limit for c, e in zip(colors, errors, strict=True)]
    return {
        "new_color": float(np.mean(colors)),
        "centroid_error": max(errors),
        "median_centroid_error": float(np.median(errors)),
        "restyled_in_place": float(np.mean(in_place)),
    }


def segment_figures(frames, color: str, fps: float, segment_seconds: float) -> list[dict]:
    """Per segment of a clip: its start (s), the fraction of its frames showing `color`, that colour's drift
    (RGB distance of the detected blobs' mean colour from the palette's; None where it is never found), and the
    frames' mean sharpness. A remainder shorter than half a segment joins the last one."""
    video = as_uint8(frames)
    palette = np.array(OBJECT_COLORS[color], dtype=np.float64)
    per = max(1, round(segment_seconds * fps))
    bounds = list(range(0, len(video), per)) + [len(video)]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < per / 2:
        bounds.pop(-2)
    sharp = sharpness(video)
    out = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        found = [next((d for d in detect_frame(f).detections if d.color == color), None) for f in video[start:end]]
        rgb = [d.mean_rgb for d in found if d is not None]
        out.append(
            {
                "start_s": start / fps,
                "presence": float(np.mean([d is not None for d in found])),
                "color_drift": float(np.linalg.norm(np.mean(rgb, axis=0) - palette)) if rgb else None,
                "sharpness": float(sharp[start:end].mean()),
            }
        )
    return out


def leading_color(frames) -> str | None:
    """The colour of the clip's most prominent lasting object, as `sora eval` judges colour (a track seen in
    at least a third of the frames); None when there is none."""
    persistent = analyse_clip(frames).persistent
    return persistent[0].color if persistent else None
