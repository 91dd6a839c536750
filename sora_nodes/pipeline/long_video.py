"""Videos longer than the model's context: extend windows chained in latent space.

The first window is text-to-video; each next one knows the last `overlap` latent frames of the
video so far and renders the rest, like SoraExtendVideo, but on latents: nothing is decoded and
re-encoded between windows, so no VAE error accumulates. The whole latent is decoded once at the
end, causally, so there is no seam between windows either. Each window takes its prompt from the
schedule at the time its new frames start.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..diffusion.conditioning import SpacetimeCondition
from ..errors import SoraError
from ..families.bundle import SoraModel
from ..models.latent_format import SORA_LATENT, LatentFormat
from ..models.text import TextEmbedding
from .sampling import SamplingSettings, sample_latent
from .schedule import active_index

WINDOW_SEED_STRIDE = 1_000_003  # window k samples with seed + k * stride, apart from batch seeds (seed + i)


@dataclass(frozen=True, eq=False)
class LongVideoPlan:
    """What SoraLongVideo hands the sampler: the prompt schedule (already encoded) and the overlap."""

    starts: tuple[float, ...]  # seconds at which each scheduled prompt begins
    prompts: tuple[TextEmbedding, ...]  # one per start
    fps: float
    overlap_frames: int = 16  # video frames each window knows from the one before

    def prompt_at(self, seconds: float, base: TextEmbedding) -> TextEmbedding:
        index = active_index(list(self.starts), seconds)
        return base if index < 0 else self.prompts[index]


def window_starts(length: int, window: int, overlap: int) -> list[int]:
    """Latent start of each window over `length` latent frames; the last window is moved back so
    it is full length (it then knows more than `overlap` frames)."""
    if not 0 < overlap < window:
        raise SoraError(f"the overlap must be 1..{window - 1} latent frames for a {window}-frame window, got {overlap}")
    starts = [0]
    while starts[-1] + window < length:
        starts.append(min(starts[-1] + window - overlap, length - window))
    return starts


def sample_long_video(
    model: SoraModel,
    positive: TextEmbedding,
    negative: TextEmbedding,
    latent_shape: tuple[int, int, int],
    settings: SamplingSettings,
    plan: LongVideoPlan,
    *,
    callback: Callable | None = None,
) -> torch.Tensor:
    """Normalised latent [1, C, T', H', W'] of any length; `positive` holds before the schedule's first entry."""
    if settings.denoise != 1:
        raise SoraError(f"a long video is rendered from noise; set denoise to 1 (got {settings.denoise})")
    fmt = model.latent_format
    window = _window(model)
    length, h, w = latent_shape
    latent = torch.zeros(1, fmt.channels, length, h, w)
    starts = window_starts(length, window, plan.overlap_frames // fmt.temporal)
    done = 0  # latent frames rendered so far
    for k, start in enumerate(starts):
        end = min(start + window, length)
        mask = torch.zeros(1, 1, end - start, h, w)
        mask[:, :, : done - start] = 1
        known = (latent[:, :, start:end] * mask).to(model.device)
        condition = SpacetimeCondition(known, mask.to(model.device))
        seconds = (fmt.video_size((done + 1, h, w))[0] - 1) / plan.fps  # when this window's new frames begin
        window_settings = dataclasses.replace(settings, seed=settings.seed + k * WINDOW_SEED_STRIDE)
        step_offset = k * settings.steps
        latent[:, :, start:end] = sample_latent(
            model,
            plan.prompt_at(seconds, positive),
            negative,
            (end - start, h, w),
            window_settings,
            condition=condition,
            callback=callback and (lambda step, offset=step_offset: callback({**step, "i": offset + step["i"]})),
        ).cpu()
        done = end
    return latent


def long_video_frames(seconds: float, fps: float, fmt: LatentFormat = SORA_LATENT) -> int:
    """The frame count of a long video of `seconds` at `fps`, rounded up to one the latent can hold (1 + k*k_t)."""
    step = fmt.frame_step
    return 1 + step * math.ceil(seconds * fps / step)


def _window(model: SoraModel) -> int:
    """Latent frames in one window: the model's whole context."""
    fmt = model.latent_format
    return 1 + (model.max_frames - 1) // fmt.temporal


def window_count(length: int, model: SoraModel, overlap_frames: int) -> int:
    return len(window_starts(length, _window(model), overlap_frames // model.latent_format.temporal))
