"""One recipe per task: how its inputs are laid out on the canvas and what is known.

Every recipe validates sizes, frame counts and the model's context before anything is encoded,
so a wrong input fails at once with the values that would work.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ShapeError, SoraError
from ..models.latent_format import LatentFormat
from .canvas import TaskCanvas, check_context, check_frames, hold_nearest

DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True, eq=False)
class _Known:
    frames: Tensor  # [N, H, W, 3]
    side: str  # "before" the new frames (its last frames are the context) or "after" them (its first)
    output: bool = True  # False: only a target the new frames must reach (a loop's start)


_PAD = "pad"  # up to k_t - 1 extra new frames at an open end, rendered and dropped


def _seams(lengths: list[int], known: list[bool]) -> list[int]:
    """Canvas index of the last frame before each change between known and new frames."""
    ends = list(itertools.accumulate(lengths))
    return [ends[i] - 1 for i in range(len(lengths) - 1) if known[i] != known[i + 1] and lengths[i] and lengths[i + 1]]


def _layout(parts: list, fmt: LatentFormat, max_frames: int, task: str, loops: bool = False) -> TaskCanvas:
    """Picks how much of each known clip the canvas holds (as much as fits the model's context) and
    how many frames to pad, so the canvas is 1 + k*k_t frames and every join falls inside a latent
    frame: the decoder joins frames within a latent smoothly, while a join on a latent boundary
    jumps by the model's error at that boundary (a seam of 2-3.5x the clip's motion in tests)."""
    step, k_t = fmt.frame_step, fmt.temporal
    known_at = [i for i, p in enumerate(parts) if isinstance(p, _Known)]
    contexts = [range(1, min(len(parts[i].frames), max_frames) + 1) for i in known_at]
    pads = range(step) if _PAD in parts else [0]
    best, best_score = None, None
    for chosen in itertools.product(*contexts, pads):
        take = dict(zip(known_at, chosen[:-1], strict=True))
        lengths = [take[i] if i in take else chosen[-1] if p == _PAD else p for i, p in enumerate(parts)]
        total = sum(lengths)
        if total > max_frames or (total - 1) % step:
            continue
        aligned = sum(i % k_t != 0 for i in _seams(lengths, [isinstance(p, _Known) for p in parts]))
        score = (aligned, sum(take.values()), -chosen[-1])
        if best_score is None or score > best_score:
            best, best_score = lengths, score
    if best is None:
        new = sum(p for p in parts if isinstance(p, int))
        raise SoraError(
            f"{task}: {new} new frames plus at least one frame of context do not fit this model's "
            f"{max_frames}-frame context as 1 + k*{step} frames; ask for fewer new frames "
            f"(at most {max_frames - 2}), or use SoraLongVideo, which chains windows"
        )
    return _draw(parts, best, loops)


def _draw(parts: list, lengths: list[int], loops: bool = False) -> TaskCanvas:
    h, w = next(p.frames.shape[1:3] for p in parts if isinstance(p, _Known))
    frames, known, output, lead, trail = [], [], [], None, None
    for part, n in zip(parts, lengths, strict=True):
        if isinstance(part, _Known):
            inside = part.frames[len(part.frames) - n :] if part.side == "before" else part.frames[:n]
            outside = part.frames[: len(part.frames) - n] if part.side == "before" else part.frames[n:]
            if part.output and len(outside):
                lead, trail = (outside, trail) if part.side == "before" else (lead, outside)
            frames.append(inside)
        else:
            frames.append(torch.zeros(n, h, w, 3))
        known.append(torch.full((n,), isinstance(part, _Known)))
        output.append(torch.full((n,), part != _PAD and getattr(part, "output", True)))
    frames, known, output = torch.cat(frames), torch.cat(known), torch.cat(output)  # [T, H, W, 3], [T], [T]
    kept = output.nonzero()[:, 0]
    return TaskCanvas(
        hold_nearest(frames, known),
        known[:, None, None].expand(-1, h, w).clone(),
        slice(int(kept[0]), int(kept[-1]) + 1),
        lead,
        trail,
        loops=loops,
    )


def _same_size(clips: dict[str, Tensor], fmt: LatentFormat) -> None:
    sizes = {name: tuple(c.shape[1:3]) for name, c in clips.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{n} is {w}x{h}" for n, (h, w) in sizes.items())
        raise ShapeError(f"the clips must have the same size to be joined, but {listed}; resize one to match the other")
    h, w = next(iter(sizes.values()))
    fmt.latent_shape(1, h, w)  # names the nearest valid width and height


def _positive(value: int, name: str) -> None:
    if value < 1:
        raise SoraError(f"{name} must be at least 1, got {value}")


def image_to_video(image: Tensor, frames: int, *, fmt: LatentFormat, max_frames: int) -> TaskCanvas:
    """The image is frame 0 of a `frames`-long video."""
    image = check_frames(image, "image")[:1]
    fmt.latent_shape(frames, image.shape[1], image.shape[2])
    check_context(frames, max_frames, "image-to-video")
    return _layout([_Known(image, "before"), frames - 1], fmt, max_frames, "image-to-video")


def extend(source: Tensor, new_frames: int, direction: str, *, fmt: LatentFormat, max_frames: int) -> TaskCanvas:
    """`new_frames` after the source (forward) or before it (backward): one layout, mirrored in time.
    The output is the whole source plus the new frames; the model sees as much source as fits."""
    if direction not in DIRECTIONS:
        raise SoraError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    source = check_frames(source, "source frames")
    _same_size({"source": source}, fmt)
    _positive(new_frames, "new_frames")
    parts = [_Known(source, "before"), new_frames, _PAD]
    if direction == "backward":
        parts = [_PAD, new_frames, _Known(source, "after")]
    return _layout(parts, fmt, max_frames, f"extending {direction} by {new_frames} frames")


def connect(first: Tensor, second: Tensor, transition_frames: int, *, fmt: LatentFormat, max_frames: int) -> TaskCanvas:
    """`first`, then `transition_frames` new frames, then `second`."""
    first, second = check_frames(first, "clip A"), check_frames(second, "clip B")
    _same_size({"clip A": first, "clip B": second}, fmt)
    _positive(transition_frames, "transition_frames")
    parts = [_Known(first, "before"), transition_frames, _Known(second, "after")]
    return _layout(parts, fmt, max_frames, f"connecting through {transition_frames} frames")


def loop(clip: Tensor, transition_frames: int, *, fmt: LatentFormat, max_frames: int) -> TaskCanvas:
    """The clip, then `transition_frames` new frames that lead back into its first frames: those
    are rendered as a known target and dropped, so the output's last frame flows into its first."""
    clip = check_frames(clip, "clip")
    _same_size({"clip": clip}, fmt)
    _positive(transition_frames, "transition_frames")
    parts = [_Known(clip, "before"), transition_frames, _Known(clip, "after", output=False)]
    return _layout(parts, fmt, max_frames, f"looping through {transition_frames} frames", loops=True)


def inpaint(frames: Tensor, mask: Tensor, *, fmt: LatentFormat, max_frames: int) -> TaskCanvas:
    """Regenerates the pixels where mask > 0.5 and keeps the rest. mask: [T, H, W], or [1, H, W]
    or [H, W] for every frame (ComfyUI's MASK layout)."""
    frames = check_frames(frames, "frames")
    t, h, w = frames.shape[:3]
    fmt.latent_shape(t, h, w)
    check_context(t, max_frames, "inpainting")
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3 or tuple(mask.shape[1:]) != (h, w) or mask.shape[0] not in (1, t):
        raise ShapeError(
            f"the mask is {tuple(mask.shape)} but the frames are {t} x {h}x{w}; give a mask [H, W], "
            f"[1, H, W] or [T, H, W] = [{t}, {h}, {w}] (1 = regenerate)"
        )
    region = (mask > 0.5).expand(t, h, w)
    if not region.any():
        raise SoraError("the mask is empty, so there is nothing to inpaint; paint the region to regenerate")
    return TaskCanvas(frames, ~region)


def box_mask(
    frames: int, height: int, width: int, *, x: int, y: int, box_width: int, box_height: int, start: int, end: int
) -> Tensor:
    """A [T, H, W] mask of a box (pixels) over frames start..end-1, for inpaint."""
    if not (0 <= x < width and 0 <= y < height and box_width >= 1 and box_height >= 1):
        raise SoraError(
            f"the box at x={x}, y={y}, {box_width}x{box_height} must start inside the {width}x{height} frame"
        )
    if not 0 <= start < end <= frames:
        raise SoraError(f"the time range must satisfy 0 <= start < end <= {frames} frames, got {start}..{end}")
    mask = torch.zeros(frames, height, width)
    mask[start:end, y : y + box_height, x : x + box_width] = 1
    return mask
