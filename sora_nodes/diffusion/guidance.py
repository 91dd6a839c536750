"""Classifier-free guidance as a model wrapper, so samplers stay unaware of it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..errors import SoraError


def _stack(cond: Tensor, uncond: Tensor) -> Tensor:
    """cat([cond, uncond]) along the batch; token tensors of different lengths (dim 1) are right-padded
    with zeros, which is False in a text mask, so the padding is never attended to."""
    if cond.shape[1:] != uncond.shape[1:]:
        if cond.ndim < 2 or cond.shape[2:] != uncond.shape[2:]:
            raise SoraError(
                f"cannot batch guidance inputs of shapes {tuple(cond.shape)} and {tuple(uncond.shape)}; "
                "they may differ only in their token length (dim 1)"
            )
        length = max(cond.shape[1], uncond.shape[1])
        cond, uncond = (
            torch.cat([t, t.new_zeros(t.shape[0], length - t.shape[1], *t.shape[2:])], 1) for t in (cond, uncond)
        )
    return torch.cat([cond, uncond])


def classifier_free_guidance(
    model: Callable[..., Tensor],
    cond_args: dict[str, Any],
    uncond_args: dict[str, Any],
    scale: float,
    *,
    split: Any = None,
) -> Callable[..., Tensor]:
    """model'(x, sigma, **extra) = uncond + scale * (cond - uncond).

    cond runs `model` with `cond_args` (the prompt), uncond with `uncond_args` (the negative prompt),
    in ONE call of batch 2B: tensor arguments are stacked [cond; uncond] (see `_stack`), other
    values must be equal in both. Extra args from the sampler go to both halves.
    scale == 1 is the plain conditional model and never runs uncond.

    `split` (CFG-parallel, `sora_nodes.parallel.cfg.CfgSplit`): this process runs only its half, the prompt
    (split.index 0) or the negative prompt (1), at batch B, and `split.exchange` hands every rank both halves.
    """
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or math.isnan(scale):
        raise SoraError(f"guidance scale must be a number (1 = no guidance), got {scale!r}")
    if scale != 1 and cond_args.keys() != uncond_args.keys():
        raise SoraError(
            f"guidance needs the same arguments for prompt and negative prompt, "
            f"got {sorted(cond_args)} and {sorted(uncond_args)}"
        )

    def guided(x: Tensor, sigma: Tensor, **extra: Any) -> Tensor:
        if scale == 1:
            return model(x, sigma, **extra, **cond_args)
        if split is not None:
            mine = model(x, sigma, **extra, **(cond_args if split.index == 0 else uncond_args))
            out_cond, out_uncond = split.exchange(mine)
            return out_uncond + scale * (out_cond - out_uncond)
        both = {}
        for key, a in cond_args.items():
            b = uncond_args[key]
            if isinstance(a, Tensor) and isinstance(b, Tensor):
                both[key] = _stack(a, b)
            elif a is b or a == b:
                both[key] = a
            else:
                raise SoraError(
                    f"guidance argument {key!r} differs between prompt and negative prompt "
                    f"and is not a tensor that can be batched"
                )
        out_cond, out_uncond = model(torch.cat([x, x]), torch.cat([sigma, sigma]), **extra, **both).chunk(2)
        return out_uncond + scale * (out_cond - out_uncond)

    return guided
