"""A fixed training set for the DiT, encoded once: VAE posterior moments and caption token states.

Encoding is most of the cost of a DiT step on a CPU (the VAE encoder and the text encoder each
cost about as much as the DiT's own forward and backward), so clips are encoded once per run and
reused; each step draws a fresh latent from the stored posterior.
"""

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic import atomic_path
from ..models.text import TextEncoder
from ..models.vae import VideoVAE
from .buckets import Bucket

CACHE_FILE = "latents.pt"


@dataclass
class BucketLatents:
    mean: torch.Tensor  # [N, C, T', H', W'] fp16, posterior mean (unnormalised)
    std: torch.Tensor  # [N, C, T', H', W'] fp16, posterior std
    states: torch.Tensor  # [N, L, D] fp16, caption token states
    mask: torch.Tensor  # [N, L] bool
    captions: list[str]


def _pad_cat(states: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(s.shape[1] for s in states)
    s = torch.cat([torch.nn.functional.pad(x, (0, 0, 0, n - x.shape[1])) for x in states])
    m = torch.cat([torch.nn.functional.pad(x, (0, n - x.shape[1])) for x in masks])
    return s, m


@torch.no_grad()
def build_cache(
    vae: VideoVAE, text_encoder: TextEncoder, source, counts: dict[Bucket, int], *, seed: int, device, log=print
) -> dict[Bucket, BucketLatents]:
    out = {}
    for bucket, n in counts.items():
        rng = random.Random(f"{seed}:cache:{bucket}")
        means, stds, states, masks, captions = [], [], [], [], []
        for start in range(0, n, 32):
            video, caps = source.sample(bucket, min(32, n - start), rng)
            mean, logvar = vae.encode_moments(video.to(device))
            emb = text_encoder.encode(caps)
            means.append(mean.half().cpu())
            stds.append((0.5 * logvar).exp().half().cpu())
            states.append(emb.states.half().cpu())
            masks.append(emb.mask.cpu())
            captions += caps
            log(f"cache {bucket}: {start + len(caps)}/{n}")
        s, m = _pad_cat(states, masks)
        out[bucket] = BucketLatents(torch.cat(means), torch.cat(stds), s, m, captions)
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
