"""What the sampler does between its inputs and its output latent: every check a render runs before it
starts, then one clip or a long video's chained windows. SoraSampler adapts its sockets to these two
functions and reports progress; nothing of the render is decided in the node."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..diffusion.conditioning import SpacetimeCondition
from ..errors import SoraError
from ..families.bundle import SoraModel
from ..models.text import TextEmbedding
from ..pipeline.generate import SamplingSettings, check_budget, check_request, sample_latent
from .long_video import LongVideoPlan, sample_long_video, window_count


def check_sampling(
    model: SoraModel,
    positive: TextEmbedding,
    samples: torch.Tensor,
    settings: SamplingSettings,
    plan: LongVideoPlan | None = None,
) -> int:
    """Refuse a request that cannot render (empty prompt, sizes the model cannot make, a batch that cannot fit,
    a long video of several items) before any sampling; returns the model calls' step count for progress."""
    if not "".join(positive.prompts).strip():
        raise SoraError("the positive prompt is empty; describe the video in the positive SoraTextConditioner")
    if plan is None:  # a long video's windows are each the size of a normal clip
        frames, height, width = model.latent_format.video_size(tuple(samples.shape[2:]))
        latent_shape = check_request(model, width=width, height=height, frames=frames)  # one clip's limits
        check_budget(model, latent_shape, settings, frames=frames, batch=samples.shape[0])
        return settings.steps
    if samples.shape[0] != 1:
        raise SoraError(f"a long video renders one item at a time; its latent has a batch of {samples.shape[0]}")
    return settings.steps * window_count(samples.shape[2], model, plan.overlap_frames)


def sample_video(
    model: SoraModel,
    positive: TextEmbedding,
    negative: TextEmbedding,
    samples: torch.Tensor,
    settings: SamplingSettings,
    *,
    plan: LongVideoPlan | None = None,
    condition: SpacetimeCondition | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """The sampled latent [B, C, T', H', W'] for `samples` (empty, or a start for denoise < 1): one clip, or a
    long video when `plan` is given. Call `check_sampling` first."""
    shape = tuple(samples.shape[2:])
    if plan is not None:
        return sample_long_video(model, positive, negative, shape, settings, plan, callback=callback)
    return sample_latent(
        model,
        positive,
        negative,
        shape,
        settings,
        batch=samples.shape[0],
        start=samples if settings.denoise < 1 else None,
        condition=condition,
        callback=callback,
    )
