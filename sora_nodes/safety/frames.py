"""Frame safety filter: score sampled frames with an offline NSFW classifier; block when m of them are unsafe."""

import math
from dataclasses import dataclass, field

import torch

from ..errors import SafetyRejection, SoraError
from .nsfw_model import CLASSIFIERS, nsfw_scores

CATEGORY = "sexual"  # the prompt filter's name for what open_nsfw detects


class FrameSafetyError(SoraError):
    """The frames or settings given to the frame safety filter are not usable."""


@dataclass(frozen=True)
class FrameSafetySettings:
    every: int = 4  # besides the first and last frame, every k-th frame is scored
    min_unsafe: int = 1  # the video is blocked when at least this many sampled frames are unsafe
    threshold: float = 0.5  # a frame whose P(nsfw) is at least this counts as unsafe
    classifier: str = "open_nsfw"

    def __post_init__(self):
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise FrameSafetyError(f"every must be a whole number >= 1 (1 scores every frame), got {self.every!r}")
        if isinstance(self.min_unsafe, bool) or not isinstance(self.min_unsafe, int) or self.min_unsafe < 1:
            raise FrameSafetyError(
                f"min_unsafe must be a whole number >= 1 (1 blocks on any unsafe frame), got {self.min_unsafe!r}"
            )
        if not isinstance(self.threshold, (int, float)) or not 0 < self.threshold < 1:
            raise FrameSafetyError(f"threshold must be a number strictly between 0 and 1, got {self.threshold!r}")
        if self.classifier not in CLASSIFIERS:
            raise FrameSafetyError(
                f"unknown frame classifier {self.classifier!r}; choose one of {', '.join(CLASSIFIERS)}"
            )


@dataclass(frozen=True)
class FrameVerdict:
    allowed: bool
    unsafe_frames: list[int]
    scores: dict[int, float]  # P(nsfw) per sampled frame index
    sampled: list[int]
    reason: str
    category: str | None = None
    settings: FrameSafetySettings = field(default_factory=FrameSafetySettings)

    def to_dict(self) -> dict:
        return {
            "allowed": self.allowed,
            "category": self.category,
            "reason": self.reason,
            "unsafe_frames": list(self.unsafe_frames),
            "sampled": list(self.sampled),
            "scores": {str(i): round(s, 6) for i, s in self.scores.items()},
            "threshold": self.settings.threshold,
            "min_unsafe": self.settings.min_unsafe,
            "classifier": self.settings.classifier,
        }


class UnsafeFramesError(SafetyRejection):
    """The frame safety filter blocked a video; `verdict` holds the scores."""

    def __init__(self, verdict: FrameVerdict):
        super().__init__(
            f"the frames were rejected by the safety filter, category {verdict.category}: {verdict.reason}. "
            "The video was stopped before saving; change the prompt or seed",
            verdict.category,
        )
        self.verdict = verdict


def sample_indices(n_frames: int, every: int) -> list[int]:
    """The first frame, every `every`-th frame, and the last frame, sorted and unique."""
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise FrameSafetyError(f"a video needs at least 1 frame to check, got {n_frames!r}")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise FrameSafetyError(f"every must be a whole number >= 1 (1 scores every frame), got {every!r}")
    return sorted(set(range(0, n_frames, every)) | {n_frames - 1})


def _check_frames(frames) -> torch.Tensor:
    if not isinstance(frames, torch.Tensor):
        raise FrameSafetyError(
            f"frames must be a torch tensor [T, H, W, 3] (ComfyUI IMAGE), got {type(frames).__name__}; "
            "convert with torch.from_numpy(array).float() / 255"
        )
    if frames.ndim == 3:
        raise FrameSafetyError(
            f"frames must be [T, H, W, 3], got one image {list(frames.shape)}; add a frame axis with frames[None]"
        )
    if frames.ndim != 4:
        raise FrameSafetyError(f"frames must be [T, H, W, 3] (ComfyUI IMAGE), got shape {list(frames.shape)}")
    t, h, w, c = frames.shape
    if c != 3:
        hint = "; drop the alpha channel with frames[..., :3]" if c == 4 else ""
        raise FrameSafetyError(
            f"frames must have 3 RGB channels last ([T, H, W, 3]), got shape {list(frames.shape)}{hint}"
        )
    if t == 0 or h == 0 or w == 0:
        raise FrameSafetyError(f"the video is empty (shape {list(frames.shape)}); pass at least one frame of pixels")
    if not frames.is_floating_point():
        raise FrameSafetyError(f"frames must be float in [0, 1], got {frames.dtype}; convert with frames.float() / 255")
    lo, hi = frames.min().item(), frames.max().item()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise FrameSafetyError("frames contain NaN or infinite values; fix the decode that produced them")
    if lo < 0 or hi > 1:
        raise FrameSafetyError(
            f"frames must be float in [0, 1], got values from {lo:.3g} to {hi:.3g}; "
            "divide 0..255 pixel values by 255, or clamp with frames.clamp(0, 1)"
        )
    return frames


def _blocked_reason(unsafe: list[int], scores: dict[int, float], s: FrameSafetySettings) -> str:
    worst = max(scores[i] for i in unsafe)
    shown = ", ".join(str(i) for i in unsafe[:10]) + (", ..." if len(unsafe) > 10 else "")
    return (
        f"{len(unsafe)} of {len(scores)} sampled frames scored unsafe "
        f"(frames {shown}; highest {s.classifier} score {worst:.3f} >= threshold {s.threshold}, "
        f"blocking at {s.min_unsafe})"
    )


def check_frames(frames: torch.Tensor, settings: FrameSafetySettings = FrameSafetySettings()) -> FrameVerdict:
    """Score the sampled frames of a [T, H, W, 3] float 0..1 video and decide whether it may be saved."""
    frames = _check_frames(frames)
    sampled = sample_indices(frames.shape[0], settings.every)
    if settings.min_unsafe > len(sampled):
        # Such a filter could never block anything; that is a misconfiguration, not a pass.
        raise FrameSafetyError(
            f"min_unsafe={settings.min_unsafe} but only {len(sampled)} of {frames.shape[0]} frames are sampled "
            f"with every={settings.every}; lower min_unsafe or every"
        )
    scores = dict(zip(sampled, nsfw_scores(frames[sampled], settings.classifier), strict=True))
    unsafe = [i for i in sampled if scores[i] >= settings.threshold]
    if len(unsafe) >= settings.min_unsafe:
        return FrameVerdict(
            False, unsafe, scores, sampled, _blocked_reason(unsafe, scores, settings), CATEGORY, settings
        )
    reason = (
        f"{len(unsafe)} of {len(sampled)} sampled frames scored unsafe (blocking at {settings.min_unsafe}); "
        f"highest {settings.classifier} score {max(scores.values()):.3f}, threshold {settings.threshold}"
    )
    return FrameVerdict(True, unsafe, scores, sampled, reason, None, settings)


def require_safe_frames(frames: torch.Tensor, settings: FrameSafetySettings = FrameSafetySettings()) -> torch.Tensor:
    """Return `frames` unchanged when check_frames allows them; otherwise raise UnsafeFramesError."""
    verdict = check_frames(frames, settings)
    if not verdict.allowed:
        raise UnsafeFramesError(verdict)
    return frames
