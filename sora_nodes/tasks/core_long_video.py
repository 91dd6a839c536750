"""A long video on a host's own model and sampler: windows of the model's context, each extending the one
before in latent space, with the prompt a `SECONDS: prompt` schedule gives for the window's new frames.

The host (ComfyUI core) samples each window; this module plans the windows and chains them: the first
`known` latent frames of a window are the previous window's last ones, marked known in its noise_mask
(1 = regenerate), so core's sampler holds them while it fills the rest. Nothing is decoded in between; the
whole latent is decoded once at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import SoraError
from ..models.latent_format import LatentFormat
from ..pipeline.long_video import WINDOW_SEED_STRIDE, long_video_frames, window_starts
from ..pipeline.schedule import active_index, parse_schedule


@dataclass(frozen=True)
class CoreWindow:
    index: int
    start: int  # first latent frame of the window in the whole latent
    end: int  # one past its last
    known: int  # latent frames at its start that the window before rendered
    seconds: float  # when its new frames begin
    prompt: int  # the schedule entry that holds then; -1 = the base prompt
    seed: int


@dataclass(frozen=True)
class CoreLongVideoPlan:
    frames: int  # video frames of the whole video (1 + k*k_t)
    latent_frames: int
    windows: tuple[CoreWindow, ...]
    prompts: tuple[str, ...]  # the schedule's prompts, in start order


def plan_long_video(
    schedule: str, seconds: float, fps: float, fmt: LatentFormat, *, context_frames: int, overlap_frames: int, seed: int
) -> CoreLongVideoPlan:
    """The windows of a `seconds`-long video at `fps` (frames rounded up to 1 + k*k_t); bad values are refused
    with the values that would work, before anything is encoded or sampled."""
    entries = parse_schedule(schedule)
    if seconds <= 0 or fps <= 0:
        raise SoraError(f"seconds and fps must be positive, got {seconds} s at {fps} fps")
    fmt.latent_shape(context_frames, fmt.size_multiple(1), fmt.size_multiple(2))  # names the valid lengths
    frames = long_video_frames(seconds, fps, fmt)
    length = 1 + (frames - 1) // fmt.temporal
    window = 1 + (context_frames - 1) // fmt.temporal
    overlap = overlap_frames // fmt.temporal
    if not 0 < overlap < window:
        raise SoraError(
            f"overlap_frames must cover 1 to {window - 1} latent frames ({fmt.temporal} to "
            f"{(window - 1) * fmt.temporal} frames) of a {context_frames}-frame window, got {overlap_frames}"
        )
    starts = [e.start for e in entries]
    windows, done = [], 0
    for k, start in enumerate(window_starts(length, window, overlap) if length > window else [0]):
        end = min(start + window, length)
        begins = (1 + (done - 1) * fmt.temporal if done else 0) / fps  # the first new video frame, in seconds
        windows.append(CoreWindow(k, start, end, max(done - start, 0), begins, active_index(starts, begins),
                                  seed + k * WINDOW_SEED_STRIDE))  # fmt: skip
        done = end
    return CoreLongVideoPlan(frames, length, tuple(windows), tuple(e.prompt for e in entries))


SampleWindow = Callable[[CoreWindow, Tensor, Tensor], Tensor]  # (window, latent, noise_mask) -> sampled latent


def chain_windows(plan: CoreLongVideoPlan, empty: Tensor, sample: SampleWindow) -> Tensor:
    """Fills `empty` [B, C, T', H', W'] (T' = plan.latent_frames) window by window with `sample`, which gets the
    window's slice (its known frames filled in) and a noise_mask [B, 1, T_w, H', W'] with 0 on them."""
    if empty.ndim != 5 or empty.shape[2] != plan.latent_frames:
        raise SoraError(f"the long latent must be [B, C, {plan.latent_frames}, H', W'], got {tuple(empty.shape)}")
    latent = empty.clone()
    for window in plan.windows:
        part = latent[:, :, window.start : window.end].clone()  # [B, C, T_w, H', W']
        mask = torch.ones(part.shape[0], 1, *part.shape[2:])  # [B, 1, T_w, H', W']
        mask[:, :, : window.known] = 0
        sampled = sample(window, part, mask)
        if tuple(sampled.shape) != tuple(part.shape):
            raise SoraError(f"window {window.index} came back {tuple(sampled.shape)}, not {tuple(part.shape)}")
        latent[:, :, window.start : window.end] = sampled.to(latent.dtype).cpu()
    return latent
