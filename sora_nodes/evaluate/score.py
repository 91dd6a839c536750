"""Score one analysed clip against what its prompt asked for.

The object a prompt is about (the mover) is the track of the expected colour; when that colour is
missing, shape and motion are judged on the clip's most prominent object, so a wrong colour does
not hide a right shape or motion.
"""

from dataclasses import dataclass

from .analyze import ClipAnalysis
from .motion import classify_motion, motion_features
from .prompts import Expectation
from .track import Track

ENDS_FRACTION = 1 / 6  # "the first frames" and "the last frames" for occlusion persistence: ~3 of 17


@dataclass(frozen=True)
class ClipScore:
    color: bool | None  # None: the prompt does not ask for it
    shape: bool | None
    motion: bool | None
    count: bool
    occlusion: bool | None  # the mover is there before and after it passes behind the occluder
    shape_margin: float | None  # Track.shape_margin of the mover for the asked shape: graded, > 0 is right
    detected: dict  # what the evaluator saw: color, shape, motion of the mover, and the object count
    flicker: float
    color_jitter: float


def mover(analysis: ClipAnalysis, expect: Expectation) -> Track | None:
    track = analysis.track(expect.color) if expect.color is not None else None
    return track or (analysis.tracks[0] if analysis.tracks else None)


def color_correct(analysis: ClipAnalysis, expect: Expectation) -> bool:
    """The expected colour is one of the clip's persistent objects, and among the `count` most prominent:
    a clip full of every colour does not pass for any of them."""
    leaders = analysis.persistent[: expect.object_count]
    return any(t.color == expect.color for t in leaders)


def persists(track: Track | None) -> bool:
    """Seen in most of the first frames and again in most of the last ones."""
    if track is None:
        return False
    n = max(1, round(track.frames * ENDS_FRACTION))
    seen = [d is not None for d in track.detections]
    return sum(seen[:n]) > n / 2 and sum(seen[-n:]) > n / 2


def score_clip(analysis: ClipAnalysis, expect: Expectation) -> ClipScore:
    track = mover(analysis, expect)
    motion = classify_motion(motion_features(track, analysis.frame_size)) if track is not None else None
    shape = track.shape if track is not None else None
    count = len(analysis.persistent)
    return ClipScore(
        color=color_correct(analysis, expect) if expect.color is not None else None,
        shape=shape == expect.shape if expect.shape is not None else None,
        motion=motion == expect.motion if expect.motion is not None else None,
        count=count == expect.object_count,
        occlusion=persists(analysis.track(expect.color) if expect.color else track) if expect.occlusion else None,
        shape_margin=track.shape_margin(expect.shape) if track is not None and expect.shape is not None else None,
        detected={"color": track.color if track else None, "shape": shape, "motion": motion, "count": count},
        flicker=analysis.flicker,
        color_jitter=analysis.color_jitter,
    )
