"""Seams: where kept frames meet new ones. The correction that hides the VAE's coding error at a join,
and the figures that measure a join (and a loop's wrap-around) in 8-bit levels.

The measures live here, below the evaluator, because the task nodes report them on every render;
`evaluate.frame_metrics` re-exports them for the benchmark.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import ShapeError, SoraError


def seam_correction(residual: Tensor, known_frames: Tensor, blend: int) -> Tensor:
    """What to add to the decoded frames so new frames join kept ones without a jump.

    Pasting a kept frame exactly replaces the VAE's reconstruction of it, which is off by its
    coding error, so the first new frame would differ from the kept one by that error on top of
    the motion. The error of each kept frame next to new ones is carried whole into the first new
    frame and fades out linearly over the next `blend`; between two kept frames (connect) the two errors are
    interpolated. residual [T, H, W, 3] = source - decoded; known_frames [T] bool."""
    t = len(residual)
    times = torch.arange(t, dtype=torch.float32)
    index = known_frames.nonzero()[:, 0]  # [K]
    if not len(index) or blend <= 0:
        return torch.zeros_like(residual)
    gap = times[:, None] - index[None].float()  # [T, K]: time since each known frame (negative: until it)
    before = torch.where(gap >= 0, gap, torch.inf).argmin(1)  # [T]: the nearest known frame at or before
    after = torch.where(gap <= 0, -gap, torch.inf).argmin(1)  # [T]: the nearest known frame at or after
    weight = lambda k, ok: torch.where(ok, (1 - ((times - index[k]).abs() - 1) / blend).clamp(0, 1), 0.0)  # noqa: E731
    w_before = weight(before, index[before] <= times)
    w_after = weight(after, index[after] >= times)
    scale = torch.clamp(w_before + w_after, min=1)  # where both reach, interpolate between them
    w_before, w_after = w_before / scale, w_after / scale  # [T]
    correction = (
        w_before[:, None, None, None] * residual[index[before]] + w_after[:, None, None, None] * residual[index[after]]
    )
    return torch.where(known_frames[:, None, None, None], 0.0, correction)


def levels(frames) -> np.ndarray:
    """Frames [..., H, W, 3] (uint8, or float in 0..1, numpy or torch) -> float64 8-bit levels, as a saved
    video would hold them: a kept frame pasted back exactly compares as identical."""
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().float().numpy()
    frames = np.asarray(frames)
    if frames.ndim < 3 or frames.shape[-1] != 3:
        raise ShapeError(f"frames must be RGB [..., H, W, 3], got shape {list(frames.shape)}")
    if frames.dtype != np.uint8:
        if not np.issubdtype(frames.dtype, np.floating):
            raise SoraError(f"frames must be uint8 or float in 0..1, got dtype {frames.dtype}")
        frames = np.rint(np.clip(np.nan_to_num(frames), 0.0, 1.0) * 255.0).astype(np.uint8)
    return frames.astype(np.float64)


def consecutive_differences(frames) -> np.ndarray:
    """[T-1]: mean absolute difference between each frame and the next, 8-bit levels."""
    video = levels(frames)
    if video.ndim != 4 or len(video) < 2:
        raise ShapeError(f"consecutive differences need a clip [T >= 2, H, W, 3], got {list(video.shape)}")
    return np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))


def seam_ratio(frames, seam: int) -> float:
    """Difference between frames `seam` and `seam + 1`, over the clip's median consecutive difference.

    1 means the join moves as much as a typical frame step; a hard cut is several times that."""
    diffs = consecutive_differences(frames)
    if not 0 <= seam < len(diffs):
        raise ShapeError(f"the seam after frame {seam} is outside a {len(diffs) + 1}-frame clip")
    return float(diffs[seam] / max(float(np.median(diffs)), 1e-6))


def loop_seam(frames) -> float:
    """Difference from the last frame back to the first, over the median consecutive difference: the
    seam a viewer sees each time the loop restarts."""
    video = levels(frames)
    diffs = consecutive_differences(frames)
    wrap = float(np.abs(video[-1] - video[0]).mean())
    return wrap / max(float(np.median(diffs)), 1e-6)
