"""SoraLongVideoLatent: a long video with a prompt schedule on core's MODEL, CLIP and VAE, each window sampled
by core's own sampler; decode the LATENT once with core's VAEDecode (or VAEDecodeTiled)."""

from __future__ import annotations

import torch

from ..pipeline.schedule import parse_schedule
from ..tasks.core_long_video import CoreWindow, chain_windows, plan_long_video
from .core_tasks import core_format
from .sockets import SoraNode, seed_input, socket, validation


def _encode(clip, text: str):
    """Core CLIPTextEncode's conditioning for `text`."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


class SoraLongVideoLatent(SoraNode):
    DESCRIPTION = (
        "A long video on the model you loaded: windows of its context, each extending the last in latent space "
        "and sampled by core's KSampler machinery, the prompt following a 'SECONDS: prompt' schedule. Decode the "
        "LATENT once with VAEDecode (or VAEDecodeTiled)."
    )
    FUNCTION = "render"
    OUTPUTS = (("LATENT", "latent", "The whole video's latent, in the model's layout; decode it once."),)

    @classmethod
    def INPUT_TYPES(cls):
        try:
            import comfy.samplers

            samplers, schedulers = comfy.samplers.KSampler.SAMPLERS, comfy.samplers.KSampler.SCHEDULERS
        except ImportError:  # the headless runner reads every schema
            samplers, schedulers = ["euler", "uni_pc"], ["simple", "normal", "beta"]
        count = {"min": 1, "max": 4096}
        return {
            "required": {
                "model": socket("MODEL", "The diffusion model from UNETLoader (after ModelSamplingSD3, LoRAs...)."),
                "clip": socket("CLIP", "Encodes the prompt and each schedule line, as CLIPTextEncode does."),
                "vae": socket("VAE", "The model's VAE: its latent layout sizes the video."),
                "negative": socket("CONDITIONING", "What to avoid, from CLIPTextEncode, for every window."),
                "prompt": socket("STRING", "The prompt before the schedule's first entry.", multiline=True,
                                 default="a red paper lantern drifting over a night market"),
                "schedule": socket("STRING", "One 'SECONDS: prompt' per line, e.g. '20: the lantern rises'.",
                                   multiline=True, default="20: the lantern rises above the rooftops"),
                "seconds": socket("FLOAT", "Length of the video.", default=30.0, min=0.1, max=3600.0, step=0.1),
                "fps": socket("FLOAT", "Frame rate (Wan 2.1: 16, Wan 2.2 TI2V-5B: 24).", default=16.0, min=1.0,
                              max=120.0, step=1.0),
                "width": socket("INT", "Video width in pixels.", default=832, min=16, max=4096, step=16),
                "height": socket("INT", "Video height in pixels.", default=480, min=16, max=4096, step=16),
                "context_frames": socket("INT", "Frames per window, the model's context (Wan 2.1: 81).",
                                         default=81, min=5, max=1025, step=4),
                "overlap_frames": socket("INT", "Frames each window knows from the one before.", default=16,
                                         min=4, max=1024, step=4),
                "seed": seed_input("Noise seed; window k uses seed + k * 1000003."),
                "steps": socket("INT", "Sampling steps per window.", default=30, **count),
                "cfg": socket("FLOAT", "Classifier-free guidance.", default=5.0, min=0.0, max=100.0, step=0.1),
                "sampler_name": socket(samplers, "Core's sampler, as on KSampler."),
                "scheduler": socket(schedulers, "Core's scheduler, as on KSampler."),
            }
        }  # fmt: skip

    @classmethod
    def VALIDATE_INPUTS(cls, schedule):
        return validation(lambda: schedule is None or parse_schedule(schedule))  # a linked one arrives as None

    def render(self, model, clip, vae, negative, prompt, schedule, seconds, fps, width, height, context_frames,
               overlap_frames, seed, steps, cfg, sampler_name, scheduler):  # fmt: skip
        import comfy.model_management
        import comfy.sample
        import comfy.utils

        fmt = core_format(vae)
        plan = plan_long_video(schedule, seconds, fps, fmt, context_frames=context_frames,
                               overlap_frames=overlap_frames, seed=seed)  # fmt: skip
        _, h, w = fmt.latent_shape(1, height, width)
        texts = {-1: prompt} | dict(enumerate(plan.prompts))
        conditions = {k: _encode(clip, text) for k, text in texts.items()}  # each line once, before any sampling
        total = len(plan.windows) * steps
        bar = comfy.utils.ProgressBar(total)

        def sample(window: CoreWindow, latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            def step(i, *_):
                bar.update_absolute(window.index * steps + i + 1, total)  # also Cancel's check under the server
                comfy.model_management.throw_exception_if_processing_interrupted()

            noise = comfy.sample.prepare_noise(latent, window.seed)
            return comfy.sample.sample(
                model, noise, steps, cfg, sampler_name, scheduler, conditions[window.prompt], negative, latent,
                denoise=1.0, noise_mask=mask if window.known else None, callback=step, disable_pbar=True,
                seed=window.seed,
            )  # fmt: skip

        empty = torch.zeros(1, fmt.channels, plan.latent_frames, h, w)  # [1, C, T', H', W'], core's empty video
        return ({"samples": chain_windows(plan, empty, sample)},)
