"""Pixel-level figures for editing tasks, all in 8-bit levels: PSNR, consecutive differences, seams, sharpness.

Frames are compared as the uint8 a saved video would hold, so a kept frame that was pasted back
exactly compares as identical, and a difference below half a level does not count.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import ShapeError
from .detect import as_uint8

PSNR_CAP = 100.0  # dB reported for identical pixels, whose PSNR is infinite


def levels(frames) -> np.ndarray:
    """Frames [..., H, W, 3] (uint8, or float in 0..1, numpy or torch) -> float64 8-bit levels."""
    return as_uint8(frames).astype(np.float64)


def psnr(a, b, mask=None) -> float:
    """PSNR in dB of b against a (peak 255), capped at PSNR_CAP; `mask` [..., H, W] bool: the pixels compared."""
    a, b = levels(a), levels(b)
    if a.shape != b.shape:
        raise ShapeError(f"PSNR compares frames of one shape, got {list(a.shape)} and {list(b.shape)}")
    error = (a - b) ** 2
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), a.shape[:-1])
        if not mask.any():
            raise ShapeError("the PSNR mask selects no pixels")
        error = error[mask]
    mse = float(error.mean())
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))


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


def sharpness(frames) -> np.ndarray:
    """[T]: mean gradient magnitude of each frame's luma (8-bit levels per pixel); blur lowers it."""
    video = as_uint8(frames)
    out = []
    for frame in video.reshape(-1, *video.shape[-3:]):
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        gx, gy = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3) / 8
        out.append(float(np.sqrt(gx**2 + gy**2).mean()))
    return np.array(out)
