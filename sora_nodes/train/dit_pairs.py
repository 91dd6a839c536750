"""Pairs of (a DiT's latent of a clip, the clip's frames), to tune a decoder to the DiT that feeds it.

A decoder trained on the encoder's latents has never seen a DiT's, and a DiT errs in a structured way
(its discs come out lumpy or oval). Each pair takes a training clip, encodes it, noises the latent to
a random denoise d and lets the DiT bring it back with the clip's own caption (SDEdit): the objects
stay where the clip has them, with the DiT's errors, and the clip's frames are what the decoder should
draw from that latent (docs/dit_experiments.md, "A decoder tuned to the DiT's latents").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import SoraError
from ..families.bundle import SoraModel, latent_space_differences
from ..io.atomic import atomic_path
from ..models.text import load_text_encoder
from ..models.vae import VideoVAE
from ..pipeline.generate import sample_video
from ..pipeline.sampling import SamplingSettings, encode_prompt
from .buckets import Bucket, pick_bucket
from .crops import crop_offsets

PAIRS_FILE = "dit_pairs.pt"
DENOISE = (0.2, 0.7)  # SDEdit strengths drawn per pair: 0.1-0.45 taught fewer circles (30 of 60 against 33)
STEPS_PER_UNIT_DENOISE = 20  # the sampling steps a full render takes, spread over the part of it SDEdit runs


@dataclass
class BucketPairs:
    latents: torch.Tensor  # [N, C, T', H', W'] fp16, normalised: what the DiT made of each clip
    frames: torch.Tensor  # [N, 3, T, H, W] uint8: the clips
    denoise: torch.Tensor  # [N] the SDEdit strength each latent was sampled from


def check_same_latents(vae: VideoVAE, model: SoraModel, model_path) -> None:
    """Refuse to tune `vae`'s decoder to a DiT trained on another latent space."""
    if latent_space_differences(vae, model.vae):
        raise SoraError(
            f"the DiT in {model_path} was trained on another VAE's latents than the one being tuned; "
            f"tune the decoder of that model's own VAE (--init-from {model_path})"
        )


@torch.inference_mode()
def build_pairs(
    model: SoraModel,
    source,
    count: int,
    *,
    seed: int,
    denoise: tuple[float, float] = DENOISE,
    cfg: float = 5.0,
    log=print,
) -> dict[Bucket, BucketPairs]:
    """`count` pairs from `source`'s clips, in its buckets by their weights; reproducible from `seed`."""
    if count < 1:
        raise SoraError(f"dit_pair_clips must be at least 1, got {count}")
    text_encoder = load_text_encoder(model.text_encoder, device=model.device)
    rng = random.Random(f"{seed}:dit-pairs")
    found: dict[Bucket, list[tuple[torch.Tensor, torch.Tensor, float]]] = {}
    for i in range(count):
        bucket = pick_bucket(source.buckets, rng)
        video, captions = source.sample(bucket, 1, rng)  # [1, 3, T, H, W] in [-1, 1]
        start = model.vae.normalize(model.vae.encode_moments(video.to(model.device))[0])  # [1, C, T', H', W']
        d = rng.uniform(*denoise)
        steps = max(3, round(STEPS_PER_UNIT_DENOISE * d))
        settings = SamplingSettings(steps=steps, cfg=cfg, seed=rng.randrange(2**31), denoise=d)
        positive, negative = encode_prompt(text_encoder, captions[0])
        latent = sample_video(model, positive, negative, tuple(start.shape), settings, start=start)
        frames = ((video[0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)  # [3, T, H, W]
        found.setdefault(bucket, []).append((latent[0].half().cpu(), frames, d))
        if (i + 1) % 50 == 0 or i + 1 == count:
            log(f"dit pairs {i + 1}/{count}")
    return {
        b: BucketPairs(
            torch.stack([z for z, _, _ in items]),
            torch.stack([f for _, f, _ in items]),
            torch.tensor([d for _, _, d in items]),
        )
        for b, items in found.items()
    }


def sample_pairs(
    pairs: dict[Bucket, BucketPairs],
    batch: int,
    rng: random.Random,
    *,
    crop: int | None,
    candidates: int,
    spatial_factor: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents [B, C, T', h', w'] float, clips [B, 3, T, h, w] in [-1, 1]) from one bucket, cropped
    alike: a `crop`-pixel square of the clip and the latent cells it decodes from, the busiest of
    `candidates` offsets on the latent grid, as the trainer crops clips."""
    bucket = pick_bucket({b: len(p.latents) for b, p in pairs.items()}, rng)
    chosen = [rng.randrange(len(pairs[bucket].latents)) for _ in range(batch)]
    latents = pairs[bucket].latents[chosen].float()
    video = pairs[bucket].frames[chosen].float() / 127.5 - 1
    if crop is None or crop >= min(video.shape[-2:]):
        return latents, video
    if crop % spatial_factor:
        raise SoraError(f"crop {crop} must be a multiple of the VAE's {spatial_factor}x downsampling")
    n = crop // spatial_factor  # latent cells across the crop
    offsets = crop_offsets(video, crop, rng, candidates, step=spatial_factor)
    cells = [(y // spatial_factor, x // spatial_factor) for y, x in offsets]
    latents = torch.stack([z[..., i : i + n, j : j + n] for z, (i, j) in zip(latents, cells, strict=True)])
    video = torch.stack([v[..., y : y + crop, x : x + crop] for v, (y, x) in zip(video, offsets, strict=True)])
    return latents, video


def save_pairs(path: Path, pairs: dict[Bucket, BucketPairs], model_path: str) -> None:
    buckets = {str(b): {"bucket": [b.width, b.height, b.frames], **vars(p)} for b, p in pairs.items()}
    blob = {"model": model_path, "buckets": buckets}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_pairs(path: Path, model_path: str) -> dict[Bucket, BucketPairs] | None:
    """The pairs saved at `path` when they were made with `model_path`'s DiT, else None."""
    if not path.exists():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob["model"] != model_path:
        return None
    out = {}
    for v in blob["buckets"].values():
        v = dict(v)
        bucket = Bucket(*v.pop("bucket"))
        out[bucket] = BucketPairs(**v)
    return out
