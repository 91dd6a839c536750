"""Sampling: the settings of a render's sampler, and seeded noise denoised into a latent clip.

prompt -> text states -> (noise, sigmas, guided denoiser) -> sampler -> latent. Each step is its own function so
that the sampler node, the long video's windows and the editing tasks' conditions reuse them without branching
in here; `generate` composes them into a whole render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..diffusion.conditioning import SpacetimeCondition, no_condition, paste_known
from ..diffusion.flow import add_noise, denoised_from_velocity, resolution_shift, sigma_schedule
from ..diffusion.guidance import classifier_free_guidance
from ..diffusion.noise import seeded_noise
from ..diffusion.samplers import SAMPLERS, get_sampler
from ..errors import ShapeError, SoraError
from ..families.bundle import SoraModel
from ..families.defaults import SORA, WAN
from ..flags import flag
from ..models.attention import BACKENDS, resolve_backend
from ..models.text import TextEmbedding, TextEncoder
from ..parallel.layout import current_parallel
from ..parallel.step_cache import DEFAULT_THRESHOLD, step_cache

PRECISIONS = {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the DiT, or None for plain fp32."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    return None if PRECISIONS[precision] == torch.float32 else PRECISIONS[precision]


@dataclass(frozen=True)
class SamplingSettings:
    # The flags are `sora render`'s, where a model family's defaults stand in for the ones left out.
    steps: int = field(default=SORA.steps, metadata=flag(f"default {SORA.steps}; Wan {WAN.steps}"))
    cfg: float = field(default=5.0, metadata=flag("guidance scale; 1 disables guidance"))
    sampler: str = field(
        default=SORA.sampler, metadata=flag(f"default {SORA.sampler}; Wan {WAN.sampler}", choices=tuple(SAMPLERS))
    )
    seed: int = field(default=0, metadata=flag())
    shift: float | None = None  # None: resolution-dependent shift from the token count
    attention: str = field(default="auto", metadata=flag(choices=BACKENDS))
    # DiT compute: auto = bf16 autocast on CUDA with bf16, else fp32
    precision: str = field(default="auto", metadata=flag("DiT compute (auto: bf16 on CUDA)", choices=tuple(PRECISIONS)))
    denoise: float = 1.0  # < 1 starts part-way down the schedule from a given latent (SDEdit)
    reimpose: bool = False  # the DiT sees the known region re-noised from z_c with fresh noise each step (RePaint)
    # Skip DiT calls whose input barely changed, reusing the last velocity (sora_nodes/parallel/step_cache.py)
    step_cache: float = field(
        default=0.0,
        metadata=flag(
            f"skip DiT calls below this predicted change (0 = off; {DEFAULT_THRESHOLD:g} is the tested value)"
        ),
    )

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise SoraError(f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}")
        if self.steps < 1:
            raise SoraError(f"steps must be at least 1, got {self.steps}")
        if self.cfg < 0:
            raise SoraError(f"cfg must be >= 0 (1 disables guidance), got {self.cfg}")
        if not 0 <= self.step_cache <= 10:
            raise SoraError(
                f"step_cache must be in [0, 10] (0 = off, {DEFAULT_THRESHOLD:g} tested), got {self.step_cache}"
            )
        if not 0 < self.denoise <= 1:
            raise SoraError(f"denoise must be in (0, 1] (1 = from pure noise), got {self.denoise}")
        get_sampler(self.sampler)  # unknown names fail before any work is done


def encode_prompt(
    text_encoder: TextEncoder, prompt: str, negative_prompt: str = ""
) -> tuple[TextEmbedding, TextEmbedding]:
    if not prompt or not prompt.strip():
        raise SoraError('the prompt is empty; describe the video, e.g. "a red circle moving left"')
    positive, negative = text_encoder.encode([prompt]), text_encoder.encode([negative_prompt])
    return positive, negative


def flow_denoiser(
    model: SoraModel,
    condition: SpacetimeCondition,
    attention: str,
    compute_dtype: torch.dtype | None = None,
    *,
    reimpose_seed: int | None = None,
    ulysses=None,
) -> Callable:
    """k-diffusion style model(x, sigma, context, context_mask) -> denoised latent, with known latents pasted back.

    Pasting x0 already keeps the known region of x on (1 - sigma) z_c + sigma * noise0 for every
    sampler here (their updates are linear in x and x0), so re-imposing means fresh noise: with
    `reimpose_seed`, the DiT sees the known region as (1 - sigma) z_c + sigma * new noise each call.
    The DiT runs under autocast when `compute_dtype` is set; the sampler's state stays fp32. `ulysses` spreads
    each DiT call's tokens over a group of ranks (sora_nodes/parallel)."""
    cond_channels = condition.dit_channels()  # [1, C+1, T, H, W]
    generator = None if reimpose_seed is None else torch.Generator().manual_seed(reimpose_seed)
    parallel = {} if ulysses is None else {"parallel": ulysses}

    def denoise(x, sigma, *, context, context_mask):
        if generator is not None:
            noise = torch.randn(condition.latent.shape, generator=generator).to(x)  # [1, C, T, H, W]
            noised = add_noise(condition.latent.to(x), noise, sigma.flatten()[0] if torch.is_tensor(sigma) else sigma)
            x = torch.where(condition.mask > 0.5, noised, x)
        batch_cond = cond_channels.expand(x.shape[0], *cond_channels.shape[1:]).to(x.dtype)
        with torch.autocast(x.device.type, dtype=compute_dtype, enabled=compute_dtype is not None):
            velocity = model.dit(
                x, sigma, context, context_mask, batch_cond, attention_backend=attention, **parallel
            ).float()
        return paste_known(denoised_from_velocity(x, velocity, sigma), condition)

    return denoise


def default_shift(model: SoraModel, latent_shape: tuple[int, int, int]) -> float:
    """The model's own schedule shift when it was trained with a fixed one (Wan: 5), else the
    resolution-dependent shift from the token count."""
    if model.fixed_shift is not None:
        return model.fixed_shift
    p_t, p_h, p_w = model.dit.config.patch_size
    return resolution_shift(latent_shape[0] // p_t * (latent_shape[1] // p_h) * (latent_shape[2] // p_w))


def sampling_sigmas(steps: int, denoise: float, shift: float) -> torch.Tensor:
    """The last `steps` sigmas of a schedule of steps/denoise steps, so denoise < 1 runs `steps`
    steps from part-way down instead of fewer, coarser ones (ComfyUI's KSampler does the same)."""
    total = max(steps, round(steps / denoise))
    return sigma_schedule(total, shift=shift)[-(steps + 1) :]


def batch_noise(shape: tuple[int, ...], seed: int, device: torch.device) -> torch.Tensor:
    """Item i gets the noise of seed + i, so any item of a batch can be re-rendered alone."""
    return torch.cat([seeded_noise((1, *shape[1:]), seed + i, device=device) for i in range(shape[0])])


def sample_latent(
    model: SoraModel,
    positive: TextEmbedding,
    negative: TextEmbedding,
    latent_shape: tuple[int, int, int],
    settings: SamplingSettings,
    *,
    batch: int = 1,
    start: torch.Tensor | None = None,
    condition: SpacetimeCondition | None = None,
    callback: Callable | None = None,
) -> torch.Tensor:
    """Denoise seeded noise into normalised latents [batch, C, T', H', W'].

    `start` is the latent that denoise < 1 noises back to the schedule's first sigma (style transfer).
    Under a parallel context (`sora_nodes.parallel.layout.use_parallel`) the DiT calls are spread over its ranks,
    each of which returns the same latent."""
    device = model.device
    parallel = current_parallel()
    shape = (batch, model.vae.config.latent_channels, *latent_shape)
    condition = condition or no_condition((1, *shape[1:]), device=device, dtype=torch.float32)
    attention = resolve_backend(settings.attention, device)
    shift = settings.shift if settings.shift is not None else default_shift(model, latent_shape)
    sigmas = sampling_sigmas(settings.steps, settings.denoise, shift).to(device)
    x = batch_noise(shape, settings.seed, device)
    if settings.denoise < 1:
        if start is None:
            raise SoraError("denoise < 1 needs a latent to start from (encode a video); use 1 for text-to-video")
        if tuple(start.shape[1:]) != shape[1:] or start.shape[0] not in (1, batch):
            raise ShapeError(f"the start latent is {tuple(start.shape)} but the render is {shape}")
        x = add_noise(start.to(device, torch.float32), x, sigmas[0])
    # A network without condition channels (Wan T2V) can only be held to the known region by re-imposing it.
    reimpose = settings.reimpose or (not model.reads_condition and bool(condition.mask.any()))
    denoiser = flow_denoiser(
        model,
        condition,
        attention,
        autocast_dtype(settings.precision, device),
        reimpose_seed=settings.seed if reimpose else None,
        ulysses=parallel and parallel.ulysses,
    )
    as_args = lambda e: {  # noqa: E731
        "context": e.states.to(device).expand(batch, -1, -1),
        "context_mask": e.mask.to(device).expand(batch, -1),
    }
    split = parallel and parallel.cfg
    guided = classifier_free_guidance(denoiser, as_args(positive), as_args(negative), settings.cfg, split=split)
    if settings.step_cache > 0:
        guided = step_cache(guided, settings.step_cache, sigmas=sigmas)
    with torch.inference_mode():
        latent = get_sampler(settings.sampler)(guided, x, sigmas, callback=callback)
    return paste_known(latent, condition)  # the last step's arithmetic must not blur the known latents
