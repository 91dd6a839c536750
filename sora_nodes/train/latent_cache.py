"""A fixed training set for the DiT, encoded once: VAE posterior moments and caption token states.

Encoding is most of the cost of a DiT step on a CPU (the VAE encoder and the text encoder each
cost about as much as the DiT's own forward and backward), so clips are encoded once per run and
reused; each step draws a fresh latent from the stored posterior.
"""

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ..io.atomic import atomic_path
from ..models.text import TextEncoder
from ..models.vae import VideoVAE
from .buckets import Bucket
from .vae_trainer import salience

CACHE_FILE = "latents.pt"


@dataclass
class BucketLatents:
    mean: torch.Tensor  # [N, C, T', H', W'] fp16, posterior mean (unnormalised)
    std: torch.Tensor  # [N, C, T', H', W'] fp16, posterior std
    states: torch.Tensor  # [N, L, D] fp16, caption token states
    mask: torch.Tensor  # [N, L] bool
    captions: list[str]
    # [N, 1, T', H', W'] fp16: how far each latent cell's pixels stray from their frame's mean colour
    # (the VAE trainer's salience, max over the cell): ~0 on the backdrop, 0.3-1 where an object is
    salience: torch.Tensor | None = None
    subjects: list[dict | None] | None = None  # what each clip shows of its first object (world data)


def _pad_cat(states: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(s.shape[1] for s in states)
    s = torch.cat([torch.nn.functional.pad(x, (0, 0, 0, n - x.shape[1])) for x in states])
    m = torch.cat([torch.nn.functional.pad(x, (0, n - x.shape[1])) for x in masks])
    return s, m


def latent_salience(video: torch.Tensor, temporal_factor: int, spatial_factor: int) -> torch.Tensor:
    """[B, 3, T, H, W] in [-1, 1] -> [B, 1, T', H', W']: the largest pixel salience in each latent cell's
    footprint. The causal VAE encodes frame 0 alone and then groups of `temporal_factor` frames."""
    pixel = salience(video)  # [B, 1, T, H, W]
    first, rest = pixel[:, :, :1], pixel[:, :, 1:]
    if rest.shape[2]:
        rest = rest.unflatten(2, (-1, temporal_factor)).amax(dim=3)  # [B, 1, (T-1)/k, H, W]
    cells = torch.cat([first, rest], dim=2)  # [B, 1, T', H, W]
    return torch.nn.functional.max_pool3d(cells, (1, spatial_factor, spatial_factor))


@torch.no_grad()
def build_cache(
    vae: VideoVAE, text_encoder: TextEncoder, source, counts: dict[Bucket, int], *, seed: int, device, log=print
) -> dict[Bucket, BucketLatents]:
    out = {}
    for bucket, n in counts.items():
        rng = random.Random(f"{seed}:cache:{bucket}")
        means, stds, states, masks, saliences, captions, subjects = [], [], [], [], [], [], []
        for start in range(0, n, 32):
            video, caps, subs = source.sample_items(bucket, min(32, n - start), rng)
            mean, logvar = vae.encode_moments(video.to(device))
            emb = text_encoder.encode(caps)
            means.append(mean.half().cpu())
            stds.append((0.5 * logvar).exp().half().cpu())
            states.append(emb.states.half().cpu())
            masks.append(emb.mask.cpu())
            saliences.append(latent_salience(video, vae.config.temporal_factor, vae.config.spatial_factor).half())
            captions += caps
            subjects += subs
            log(f"cache {bucket}: {start + len(caps)}/{n}")
        s, m = _pad_cat(states, masks)
        out[bucket] = BucketLatents(torch.cat(means), torch.cat(stds), s, m, captions, torch.cat(saliences), subjects)
    return out


def save_cache(path: Path, cache: dict[Bucket, BucketLatents]) -> None:
    blob = {str(b): {"bucket": [b.width, b.height, b.frames], **vars(v)} for b, v in cache.items()}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_cache(path: Path) -> dict[Bucket, BucketLatents]:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    out = {}
    for v in blob.values():
        v = dict(v)
        bucket = Bucket(*v.pop("bucket"))
        out[bucket] = BucketLatents(**v)
    return out
