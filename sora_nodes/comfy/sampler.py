"""SoraSampler: rectified-flow sampling with progress, a live preview and Cancel."""

from __future__ import annotations

from ..diffusion.flow import MAX_SHIFT
from ..diffusion.samplers import SAMPLERS
from ..families.defaults import SORA
from ..graph.host import current_host
from ..models.attention import BACKENDS
from ..parallel.step_cache import DEFAULT_THRESHOLD
from ..pipeline.generate import check_sampling, latent_to_sample, sample_video
from ..pipeline.preview import latent_rgb, preview_image
from ..pipeline.sampling import PRECISIONS, SamplingSettings
from .sockets import SORA_CONDITIONING, SORA_MODEL, SoraNode, seed_input, socket


class SoraSampler(SoraNode):
    DESCRIPTION = (
        "Denoises a latent video under a prompt: text-to-video, the editing tasks' latents, long videos, "
        "and style transfer (an encoded video with denoise < 1)."
    )
    FUNCTION = "sample"
    OUTPUTS = (("LATENT", "latent", "The denoised latent video, for SoraVideoDecode."),)
    REQUIRED = {
        "model": socket(SORA_MODEL, "The diffusion transformer from SoraCheckpointLoader."),
        "positive": socket(SORA_CONDITIONING, "What the video should show."),
        "negative": socket(SORA_CONDITIONING, "What to steer away from; an empty prompt is the usual choice."),
        "latent": socket("LATENT", "Where to sample: an empty latent, or an encoded video with denoise < 1."),
        "seed": seed_input("The noise seed; the same seed and settings give the same video."),
        "steps": socket(
            "INT",
            f"Sampling steps; {SORA.steps} is the default model's sweet spot.",
            default=SORA.steps,
            min=1,
            max=1000,
        ),
        "cfg": socket(
            "FLOAT",
            "Guidance scale: how strongly to follow the prompt (1 = no guidance).",
            default=5.0,
            min=0.0,
            max=30.0,
            step=0.1,
            round=0.01,
        ),
        "sampler_name": socket(
            sorted(SAMPLERS),
            "The ODE solver: euler (1 call/step), heun (2), dpmpp_2m (1), unipc (1; Wan's own).",
        ),
        "shift": socket(
            "FLOAT",
            "Schedule shift towards high noise; 0 = automatic from the video's size.",
            default=0.0,
            min=0.0,
            max=MAX_SHIFT,
            step=0.1,
        ),
        "denoise": socket(
            "FLOAT",
            "1 = from pure noise; below 1 keeps that much of the input latent's layout.",
            default=1.0,
            min=0.01,
            max=1.0,
            step=0.01,
        ),
        "attention": socket(
            list(BACKENDS), "Attention kernel: auto picks xformers or sdpa; all give the same numbers."
        ),
    }
    OPTIONAL = {
        "precision": socket(
            list(PRECISIONS), "DiT arithmetic: auto = bf16 autocast on a CUDA GPU with bf16, else fp32."
        ),
        "step_cache": socket(
            "FLOAT",
            f"Step caching: skip DiT calls whose input barely changed and reuse the last velocity. 0 = off; "
            f"{DEFAULT_THRESHOLD:g} saves about half the calls (see the README for the quality it costs).",
            default=0.0,
            min=0.0,
            max=10.0,
            step=0.01,
        ),
    }

    def sample(
        self, model, positive, negative, latent, seed, steps, cfg, sampler_name, shift, denoise, attention,
        precision="auto", step_cache=0.0,
    ):  # fmt: skip
        samples = latent_to_sample(model, latent["samples"], latent.get("sora_video_size"))  # [B, C, T', H', W']
        settings = SamplingSettings(
            steps=steps,
            cfg=cfg,
            sampler=sampler_name,
            seed=seed,
            shift=shift or None,
            attention=attention,
            precision=precision,
            denoise=denoise,
            step_cache=step_cache,
        )
        plan = latent.get("sora_long")
        total = check_sampling(model, positive, samples.shape, settings, plan)
        host = current_host()
        bar, projection, scale = host.progress(total), latent_rgb(model.vae), model.vae.config.spatial_factor
        host.check_interrupted()

        def report(step):  # k-diffusion callback: step["denoised"] is the current x0 estimate
            bar.update(step["i"] + 1, preview_image(step["denoised"], projection, scale=scale))

        condition = latent.get("sora_cond")
        out = sample_video(
            model, positive, negative, samples.shape, settings, start=samples, plan=plan, condition=condition,
            callback=report,
        )  # fmt: skip
        rest = {k: v for k, v in latent.items() if k != "sora_video_size"}  # the output is no longer empty
        return ({**rest, "samples": out.cpu()},)
