"""Random spacetime-condition masks for training (DESIGN section 3).

One checkpoint serves text-to-video, image-to-video, extend, loop, connect and inpaint because it
is trained on all of their masks: nothing known, the first or last latent frame, a prefix or a
suffix, both ends, or a spatial box over a time range (inside or outside known).
"""

import random

import torch

CONDITION_KINDS = ("none", "first_frame", "last_frame", "prefix", "suffix", "both_ends", "box")


def condition_mask(kind: str, t: int, h: int, w: int, rng: random.Random) -> torch.Tensor:
    """mask [1, T, H, W] float, 1 = known; always leaves something unknown."""
    m = torch.zeros(1, t, h, w)
    if kind == "none" or (t < 2 and kind != "box"):
        return m
    if kind == "first_frame":
        m[:, 0] = 1
    elif kind == "last_frame":
        m[:, -1] = 1
    elif kind == "prefix":
        m[:, : rng.randint(1, t - 1)] = 1
    elif kind == "suffix":
        m[:, t - rng.randint(1, t - 1) :] = 1
    elif kind == "both_ends":
        a = rng.randint(1, max(1, (t - 1) // 2))
        b = rng.randint(1, max(1, t - 1 - a))
        m[:, :a] = 1
        m[:, t - b :] = 1
    elif kind == "box":
        t0 = rng.randrange(t)
        t1 = rng.randint(t0 + 1, t)
        bh, bw = rng.randint(1, max(1, h // 2 + 1)), rng.randint(1, max(1, w // 2 + 1))
        y0, x0 = rng.randrange(h - bh + 1), rng.randrange(w - bw + 1)
        box = torch.zeros(1, t, h, w)
        box[:, t0:t1, y0 : y0 + bh, x0 : x0 + bw] = 1
        m = box if rng.random() < 0.25 else 1 - box  # mostly inpainting (box unknown), sometimes outpainting
        if m.all():
            m[:, -1] = 0
    else:
        raise ValueError(f"unknown condition kind {kind!r}; choose from {CONDITION_KINDS}")
    return m


def random_condition_masks(
    batch: int, t: int, h: int, w: int, rng: random.Random, *, rate: float
) -> tuple[torch.Tensor, list[str]]:
    """[B, 1, T, H, W] masks: each clip is unconditioned with probability 1 - rate, else one of
    the task kinds, uniformly."""
    kinds = [rng.choice(CONDITION_KINDS[1:]) if rng.random() < rate else "none" for _ in range(batch)]
    return torch.stack([condition_mask(k, t, h, w, rng) for k in kinds]), kinds
