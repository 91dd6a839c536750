"""generate(): the one place where the steps of a render are composed.

prompt -> text states -> sampling (one clip, or a long video's windows) -> latent -> VAE decode -> frames.
The nodes run the same steps one node each: the sampler node calls `check_sampling` and `sample_video`, which
`generate` calls too, so a node graph, `sora render`, the evaluator and the bench render alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..diffusion.conditioning import SpacetimeCondition
from ..errors import ShapeError, SoraError
from ..families.bundle import SoraModel
from ..families.defaults import SORA
from ..io.video import check_image_layout
from ..models.latent_format import SORA_LATENT, LatentFormat
from ..models.text import TextEmbedding, TextEncoder, load_text_encoder
from ..models.vae import VideoVAE
from ..models.vae_tiling import check_tiling
from .budget import check_render_fits
from .long_video import LongVideoPlan, sample_long_video, window_count
from .sampling import SamplingSettings, encode_prompt, sample_latent

MAX_LATENT_FRAMES = 513  # one clip: 2049 frames at the 4x temporal VAE, about 4 min at 8 fps
DEFAULT_SETTINGS = SamplingSettings()  # frozen, so one shared default is safe


def encode_frames(vae: VideoVAE, frames: torch.Tensor, *, tile: int | None = None) -> torch.Tensor:
    """Frames [T, H, W, 3] float in 0..1 (the IMAGE layout) -> normalised latent [1, C, T', H', W'].

    The inverse of `decode_latent`; image-to-video, extend and style transfer start from it.
    `tile` (pixels) encodes large frames in blended spatial tiles."""
    check_image_layout(frames)
    vae.latent_shape(*frames.shape[:3])  # frame count and size, with the allowed values in the message
    device = next(vae.parameters()).device
    video = frames.permute(3, 0, 1, 2)[None].to(device, torch.float32) * 2 - 1  # [1, 3, T, H, W] in -1..1
    with torch.inference_mode():
        return vae.encode(video, tile=tile)


def decode_latent(vae: VideoVAE, latent: torch.Tensor, *, tile: int | None = None) -> torch.Tensor:
    """Normalised latents [B, C, T', H', W'] -> frames [B*T, H, W, 3] float32 in 0..1 (the IMAGE layout).

    A batch comes back as its clips one after another, as ComfyUI's video nodes lay batches out.
    `tile` (latent cells) decodes large frames in blended spatial tiles at bounded memory."""
    device = next(vae.parameters()).device
    clips = []
    with torch.inference_mode():
        for item in latent.float().to(device).split(1):  # one clip at a time bounds memory
            video = vae.decode(item, tile=tile)  # [1, 3, T, H, W] in about -1..1
            clips.append(((video[0].permute(1, 2, 3, 0) + 1) / 2).clamp(0, 1).float().cpu())
    return torch.cat(clips)


def check_request(model: SoraModel, *, width: int, height: int, frames: int, decode_tile: int | None = None):
    """Validate a render's sizes before any expensive work; returns the latent (T', H', W')."""
    return check_clip(model.latent_format, width=width, height=height, frames=frames, decode_tile=decode_tile)


def check_clip(fmt: LatentFormat, *, width: int, height: int, frames: int, decode_tile: int | None = None):
    """`check_request` against a latent format alone: `sora render` runs it with the format its graph
    imposes (SORA_LATENT) before any model loads, and again with the loaded model's own."""
    check_tiling(decode_tile, None, cell=1, unit="latent cells")
    latent = fmt.latent_shape(frames, height, width)
    if latent[0] > MAX_LATENT_FRAMES:
        most = fmt.video_size((MAX_LATENT_FRAMES, *latent[1:]))[0]
        raise ShapeError(
            f"{frames} frames is more than one clip can hold: a clip has at most {most} frames ({most / 8:.0f} s at "
            "8 fps); make longer videos as a long video of clips with a prompt schedule (the SoraLongVideo node, "
            "workflows/long_video.json, `sora run workflows/long_video.json`)"
        )
    return latent


def empty_video_latent(frames: int, height: int, width: int, batch: int = 1) -> torch.Tensor:
    """Zeros [B, C, T', H', W'] for a clip in `SORA_LATENT`, the geometry every shipped preset shares: an empty
    latent's node has no model to ask. The sampler lays it out again for its own model (`latent_to_sample`)."""
    return torch.zeros(batch, SORA_LATENT.channels, *SORA_LATENT.latent_shape(frames, height, width))


def latent_to_sample(model: SoraModel, samples: torch.Tensor, video_size: tuple[int, int, int] | None = None):
    """The latent [B, C, T', H', W'] the sampler fills: an empty one (which carries its `video_size`, frames,
    height and width) laid out for this model's VAE and patch, else `samples` checked against its format."""
    if video_size is not None:
        shape = model.latent_shape(*video_size)
        return torch.zeros(samples.shape[0], model.vae.config.latent_channels, *shape)
    model.latent_format.check_latent(tuple(samples.shape))
    return samples


def check_render(
    model: SoraModel,
    settings: SamplingSettings,
    *,
    width: int,
    height: int,
    frames: int,
    batch: int = 1,
    decode_tile: int | None = None,
) -> tuple[int, int, int]:
    """Every check of one clip's render that needs its model but no work: the sizes, then the memory; returns
    the latent (T', H', W')."""
    latent_shape = check_request(model, width=width, height=height, frames=frames, decode_tile=decode_tile)
    check_render_fits(model, latent_shape, settings, frames=frames, batch=batch, decode_tile=decode_tile)
    return latent_shape


def check_sampling(
    model: SoraModel,
    positive: TextEmbedding,
    shape: tuple[int, ...],
    settings: SamplingSettings,
    plan: LongVideoPlan | None = None,
) -> int:
    """Refuse a request that cannot render (empty prompt, sizes the model cannot make, a batch that cannot fit,
    a long video of several items) before any sampling of a latent [B, C, T', H', W'] of `shape`; returns the
    model calls' step count for progress."""
    if not "".join(positive.prompts).strip():
        raise SoraError("the positive prompt is empty; describe the video in the positive SoraTextConditioner")
    if plan is None:  # a long video's windows are each the size of a normal clip
        frames, height, width = model.latent_format.video_size(tuple(shape[2:]))
        check_render(model, settings, width=width, height=height, frames=frames, batch=shape[0])  # one clip's limits
        return settings.steps
    if shape[0] != 1:
        raise SoraError(f"a long video renders one item at a time; its latent has a batch of {shape[0]}")
    return settings.steps * window_count(shape[2], model, plan.overlap_frames)


def sample_video(
    model: SoraModel,
    positive: TextEmbedding,
    negative: TextEmbedding,
    shape: tuple[int, ...],
    settings: SamplingSettings,
    *,
    start: torch.Tensor | None = None,
    plan: LongVideoPlan | None = None,
    condition: SpacetimeCondition | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """The sampled latent of `shape` [B, C, T', H', W']: one clip (from noise, or from `start` when denoise < 1,
    held to `condition`), or a long video's chained windows when `plan` is given. Check it first."""
    if plan is not None:
        return sample_long_video(model, positive, negative, tuple(shape[2:]), settings, plan, callback=callback)
    return sample_latent(
        model,
        positive,
        negative,
        tuple(shape[2:]),
        settings,
        batch=shape[0],
        start=start,
        condition=condition,
        callback=callback,
    )


def generate(
    model: SoraModel,
    prompt: str,
    *,
    negative_prompt: str = "",
    width: int = SORA.size[0],
    height: int = SORA.size[1],
    frames: int = SORA.frames,
    settings: SamplingSettings = DEFAULT_SETTINGS,
    condition: SpacetimeCondition | None = None,
    text_encoder: TextEncoder | None = None,
    callback: Callable | None = None,
    decode_tile: int | None = None,
) -> torch.Tensor:
    """Render one clip; returns frames [T, H, W, 3] float32 in 0..1."""
    latent_shape = check_render(model, settings, width=width, height=height, frames=frames, decode_tile=decode_tile)
    text_encoder = text_encoder or load_text_encoder(model.text_encoder, device=model.device)
    positive, negative = encode_prompt(text_encoder, prompt, negative_prompt)
    shape = (1, model.vae.config.latent_channels, *latent_shape)
    latent = sample_video(model, positive, negative, shape, settings, condition=condition, callback=callback)
    return decode_latent(model.vae, latent, tile=decode_tile)
