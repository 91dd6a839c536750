"""One-step denoising probe: noise world clips to sigma, take the DiT's x0 estimate in one call,
decode it and score it. It shows at which noise levels a model loses shape or motion, which a full
sample (whose errors compound over the steps) cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..diffusion.flow import add_noise, denoised_from_velocity
from ..world import make_clip
from .sources import to_model_range

PROBE_SIGMAS = (0.0, 0.3, 0.5, 0.7, 0.9)  # 0: the VAE alone, the ceiling of the rows below it


@torch.inference_mode()
def one_step_scores(
    model_path: str | Path, *, sigmas=PROBE_SIGMAS, clips: int = 24, seed: int = 10_000, device: str = "cpu"
) -> dict[float, dict]:
    """{sigma: {colour, shape, motion accuracy, x0 MSE}} over `clips` 64x64x17 world clips (seeds from
    `seed`, never drawn for training caches), each conditioned on its own caption."""
    from ..evaluate.analyze import analyse_clip
    from ..evaluate.prompts import Expectation
    from ..evaluate.score import score_clip
    from ..families.bundle import load_sora_model
    from ..models.text import load_text_encoder
    from ..pipeline.generate import decode_latent

    model = load_sora_model(model_path, device=device)
    encoder = load_text_encoder(model.text_encoder, device=model.device)
    world = [make_clip(seed + i) for i in range(clips)]
    video = to_model_range(np.stack([c.frames for c in world])).to(model.device)  # [N, 3, T, H, W]
    x0 = model.vae.normalize(model.vae.encode_moments(video)[0])  # [N, C, T', H', W'], the posterior mean
    text = encoder.encode([c.caption for c in world])
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed)).to(x0)
    out = {}
    for s in sigmas:
        sigma = torch.full((clips,), float(s), device=x0.device)
        x_t = add_noise(x0, noise, sigma)
        estimate = x0 if s == 0 else denoised_from_velocity(x_t, model.dit(x_t, sigma, text.states, text.mask), sigma)
        frames = decode_latent(model.vae, estimate).reshape(clips, -1, *world[0].frames.shape[1:]).numpy()
        hits = {"color": [], "shape": [], "motion": []}
        for clip, f in zip(world, frames, strict=True):
            o = clip.scene.objects[0]
            score = score_clip(analyse_clip(f), Expectation(o.color, o.shape, o.motion, count=len(clip.scene.objects)))
            for k in hits:
                hits[k].append(bool(getattr(score, k)))
        out[float(s)] = {k: round(float(np.mean(v)), 3) for k, v in hits.items()}
        out[float(s)]["x0_mse"] = round(float((estimate - x0).square().mean()), 4)
    return out
