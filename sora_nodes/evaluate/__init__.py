"""The evaluator: find the world's objects in generated frames and score them against the prompt.

`sora eval` renders prompts with known answers (the shipped held-out set by default) and reports
colour, shape and motion accuracy, object count, occlusion persistence and flicker.
"""

from .analyze import ClipAnalysis, analyse_clip
from .detect import Detection, FrameObjects, detect_frame
from .motion import MotionFeatures, classify_motion, motion_features
from .prompts import EvalPrompt, Expectation, heldout_prompts_path, load_prompts
from .run import QUALITY_BAR, SOURCES, evaluate
from .score import ClipScore, score_clip
from .shape import classify_shape
from .track import Track, build_tracks

__all__ = [
    "QUALITY_BAR",
    "SOURCES",
    "ClipAnalysis",
    "ClipScore",
    "Detection",
    "EvalPrompt",
    "Expectation",
    "FrameObjects",
    "MotionFeatures",
    "Track",
    "analyse_clip",
    "build_tracks",
    "classify_motion",
    "classify_shape",
    "detect_frame",
    "evaluate",
    "heldout_prompts_path",
    "load_prompts",
    "motion_features",
    "score_clip",
]
