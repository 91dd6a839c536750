"""How the camera moved, from the background alone, so object motion is judged in scene coordinates.

The world's backgrounds carry a faint checker texture that pans and zooms with the camera. ECC
image alignment (opencv) with every object masked out recovers each frame's shift and zoom: first
frame to frame for a close starting guess, then each frame straight against the first so errors do
not pile up along the clip; a fit of shift and zoom that does not converge is retried as a shift
alone. A flat or noisy background that gives no reliable alignment counts as a still camera.

The world's camera pans at a constant speed or zooms at a constant rate about the frame centre,
so the per-frame estimates are finally fitted to that motion (robustly, with medians): a single
mis-aligned frame then cannot fake an object's jump.
"""

import cv2
import numpy as np

MIN_TEXTURE = 2.0  # grey-level std of the visible background below which there is nothing to align
MAX_STEP_SHIFT = 0.1  # per frame, in frame (shorter side) units; more is a failed alignment
MAX_STEP_ZOOM = 0.1  # relative scale change per frame
MIN_CORRELATION = 0.6  # ECC's correlation coefficient below which an alignment is not trusted
OBJECT_MARGIN = 5  # pixels kept clear around objects at 64x64: they move a few pixels per frame
CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)


def _similarity(warp: np.ndarray) -> np.ndarray:
    """3x3 shift + uniform zoom from an ECC affine warp: the world's camera neither rotates nor shears."""
    zoom = (warp[0, 0] + warp[1, 1]) / 2
    return np.array([[zoom, 0, warp[0, 2]], [0, zoom, warp[1, 2]], [0, 0, 1]], dtype=np.float64)


def _align(template: np.ndarray, image: np.ndarray, mask: np.ndarray, guess: np.ndarray) -> np.ndarray | None:
    """3x3 map from `template` pixel coordinates to `image` ones, or None when ECC finds no trustworthy fit."""
    if mask.sum() < 0.2 * mask.size or template[mask > 0].std() < MIN_TEXTURE:
        return None
    # A pan alone is two numbers. On a decoded clip the checker's edges are soft, and the six-number affine
    # fit often fails to converge where the shift is plain (a VAE round trip of a 15 px pan: affine fails,
    # translation finds 1.0 / 3.8 / 7.3 px at frames 1 / 4 / 8 against the world's 1.0 / 4.0 / 7.6), so a
    # failed affine fit retries as a translation instead of reading as a still camera.
    for motion in (cv2.MOTION_AFFINE, cv2.MOTION_TRANSLATION):
        try:
            # gaussFiltSize 1: the checker's edges are the only signal; blurring them widens the basin into the
            # wrong cell
            rho, warp = cv2.findTransformECC(template, image, guess[:2].astype(np.float32), motion, CRITERIA, mask, 1)
        except cv2.error:  # did not converge
            continue
        if rho >= MIN_CORRELATION:
            return _similarity(warp)
    return None


def _plausible_step(step: np.ndarray, size: int) -> bool:
    return abs(step[0, 0] - 1) <= MAX_STEP_ZOOM and np.hypot(*step[:2, 2]) <= MAX_STEP_SHIFT * size


def camera_motion(frames: np.ndarray, object_masks: np.ndarray) -> np.ndarray:
    """float64 [T, 3, 3]: for each frame, the map from its pixel coordinates to the first frame's.

    frames: uint8 [T, H, W, 3]; object_masks: bool [T, H, W], True where an object may be.
    """
    t, h, w, _ = frames.shape
    size = min(h, w)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames]
    k = max(3, round(2 * OBJECT_MARGIN * size / 64) + 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    clear = [(cv2.dilate(m.astype(np.uint8), kernel) == 0).astype(np.uint8) for m in object_masks]
    first_to = [np.eye(3)]  # first frame's coordinates -> frame i's
    for i in range(1, t):
        step = _align(grey[i - 1], grey[i], clear[i - 1] & clear[i], np.eye(3))
        guess = (step if step is not None and _plausible_step(step, size) else np.eye(3)) @ first_to[-1]
        # objects of frame i, seen from the first frame, must stay out of the comparison too
        clear_i = cv2.warpAffine(clear[i], guess[:2], (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
        direct = _align(grey[0], grey[i], clear[0] & clear_i, guess)
        first_to.append(
            direct if direct is not None and _plausible_step(direct @ np.linalg.inv(guess), size) else guess
        )
    return np.stack([np.linalg.inv(m) for m in steady_camera(np.stack(first_to), (w, h))])


def steady_camera(first_to: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[T, 3, 3] maps first frame -> frame t, refitted as x_t = exp(c t) (x_0 - centre) + centre + v t."""
    t = np.arange(len(first_to), dtype=np.float64)
    if len(t) < 3:
        return first_to
    later = t >= 2  # a one-frame shift is mostly quantisation: the checker is drawn on whole pixels
    zoom = np.exp(np.median(np.log(np.clip(first_to[later, 0, 0], 1e-3, None)) / t[later]) * t)  # [T]
    centre = (np.array(size, dtype=np.float64) - 1) / 2
    shift = first_to[:, :2, 2] - centre * (1 - zoom[:, None])  # [T, 2]: the part a zoom about the centre leaves
    velocity = np.median(shift[later] / t[later, None], axis=0)
    fitted = np.tile(np.eye(3), (len(t), 1, 1))
    fitted[:, 0, 0] = fitted[:, 1, 1] = zoom
    fitted[:, :2, 2] = centre * (1 - zoom[:, None]) + velocity * t[:, None]
    return fitted
