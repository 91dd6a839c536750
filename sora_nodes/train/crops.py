"""Square crops of training clips: a VAE is convolutional, so it trains on crops at a fraction of the cost."""

import random

import torch


def crop_offsets(
    video: torch.Tensor, size: int, rng: random.Random, candidates: int = 1, step: int = 1
) -> list[tuple[int, int]]:
    """One (y, x) per clip of [B, 3, T, H, W], multiples of `step`: the busiest (largest pixel std) of
    `candidates` random offsets, so crops hold objects and edges rather than empty background."""
    h, w = video.shape[-2:]
    offsets = []
    for clip in video:  # [3, T, H, W]
        tries = [
            (step * rng.randrange(max(0, h - size) // step + 1), step * rng.randrange(max(0, w - size) // step + 1))
            for _ in range(candidates)
        ]
        offsets.append(max(tries, key=lambda o: float(clip[..., o[0] : o[0] + size, o[1] : o[1] + size].std())))
    return offsets


def random_crop(video: torch.Tensor, size: int | None, rng: random.Random, candidates: int = 1) -> torch.Tensor:
    """[B, 3, T, H, W] -> [B, 3, T, size, size] (the whole frame if smaller), each clip at its own
    `crop_offsets` (candidates=1: plain random crops)."""
    if size is None:
        return video
    offsets = crop_offsets(video, size, rng, candidates)
    return torch.stack([clip[..., y : y + size, x : x + size] for clip, (y, x) in zip(video, offsets, strict=True)])
