"""Temporal flicker: how much what should stay the same changes from frame to frame. Lower is better.

Background flicker is the mean absolute change of background pixels between consecutive frames,
after undoing the camera's motion (a pan must not count as flicker). Colour jitter is how much an
object's average colour changes between consecutive frames. Both are in 8-bit levels (0..255).
"""

from itertools import pairwise

import cv2
import numpy as np

from .track import Track

OBJECT_MARGIN = 2  # pixels around objects left out of the background: anti-aliased rims and blur


def background_flicker(frames: np.ndarray, object_masks: np.ndarray, to_first: np.ndarray) -> float:
    """frames uint8 [T, H, W, 3]; object_masks bool [T, H, W]; to_first [T, 3, 3] from camera_motion."""
    t, h, w, _ = frames.shape
    if t < 2:
        return 0.0
    kernel = np.ones((2 * OBJECT_MARGIN + 1,) * 2, np.uint8)
    clear = [cv2.dilate(m.astype(np.uint8), kernel) == 0 for m in object_masks]
    inside = np.ones((h, w), np.uint8)
    changes = []
    for i in range(1, t):
        current_to_previous = np.linalg.inv(to_first[i - 1]) @ to_first[i]
        m = current_to_previous[:2]
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        previous = cv2.warpAffine(frames[i - 1], m, (w, h), flags=flags)
        valid = cv2.warpAffine(inside, m, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
        prev_clear = cv2.warpAffine(clear[i - 1].astype(np.uint8), m, (w, h), flags=flags) > 0
        keep = valid & prev_clear & clear[i]
        if keep.any():
            changes.append(np.abs(frames[i].astype(np.float32) - previous.astype(np.float32))[keep].mean())
    return float(np.mean(changes)) if changes else 0.0


def color_jitter(tracks: list[Track]) -> float:
    """Mean frame-to-frame change of each track's average colour (RGB distance), over all given tracks."""
    changes = []
    for track in tracks:
        seen = track.seen
        for a, b in pairwise(seen):
            if b - a == 1:
                rgb_a, rgb_b = (np.array(track.detections[i].mean_rgb) for i in (a, b))
                changes.append(float(np.linalg.norm(rgb_b - rgb_a)))
    return float(np.mean(changes)) if changes else 0.0
