"""Pixel-level figures for editing tasks, all in 8-bit levels: PSNR, consecutive differences, seams, sharpness.

Frames are compared as the uint8 a saved video would hold, so a kept frame that was pasted back
exactly compares as identical, and a difference below half a level does not count.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import ShapeError
from ..tasks.seams import consecutive_differences, levels, loop_seam, seam_ratio  # the seam figures live with the tasks
from .detect import as_uint8

__all__ = ["PSNR_CAP", "consecutive_differences", "levels", "loop_seam", "psnr", "seam_ratio", "sharpness"]

PSNR_CAP = 100.0  # dB reported for identical pixels, whose PSNR is infinite


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


def sharpness(frames) -> np.ndarray:
    """[T]: mean gradient magnitude of each frame's luma (8-bit levels per pixel); blur lowers it."""
    video = as_uint8(frames)
    out = []
    for frame in video.reshape(-1, *video.shape[-3:]):
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        gx, gy = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3) / 8
        out.append(float(np.sqrt(gx**2 + gy**2).mean()))
    return np.array(out)
