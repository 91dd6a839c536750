"""Classifier-free guidance as a model wrapper, so samplers stay unaware of it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..errors import SoraError

_SCALARS = (bool, int, float, str)


def _pad_tokens(t: Tensor, length: int) -> Tensor:
    # Right-pad dim 1 (tokens) with zeros, which is False for a bool attention mask.
    pad = t.new_zeros((t.shape[0], length - t.shape[1], *t.shape[2:]))
    return torch.cat([t, pad], dim=1)


def _batch_args(cond: dict[str, Any], uncond: dict[str, Any], batch: int) -> dict[str, Any] | None:
    """One dict whose tensors are cat([cond, uncond]) along dim 0, or None when the two cannot be
    batched (then the caller runs two calls, which is slower but always correct).

    - tensors with batch dim `batch` are concatenated; if their lengths differ only in dim 1
      (text tokens), both are right-padded to the longer one, and this is allowed only when every
      padded float tensor [B, L, ...] has a bool mask [B, L] in the same dict that marks the
      padding False, so attention ignores it;
    - None, the very same tensor object without the batch dim, and equal plain scalars pass through;
    - anything else (differing keys, other objects) means no batching.
    """
    if cond.keys() != uncond.keys():
        return None
    out, padded_to = {}, {}
    for key, a in cond.items():
        b = uncond[key]
        if a is None and b is None:
            out[key] = None
        elif isinstance(a, Tensor) and isinstance(b, Tensor):
            if a.ndim >= 1 and b.ndim >= 1 and a.shape[0] == b.shape[0] == batch:
                if a.shape != b.shape:
                    if a.ndim < 2 or a.shape[2:] != b.shape[2:]:
                        return None
                    length = max(a.shape[1], b.shape[1])
                    a, b = _pad_tokens(a, length), _pad_tokens(b, length)
                    padded_to[key] = length
                if a.dtype != b.dtype or a.device != b.device:
                    return None
                out[key] = torch.cat([a, b])
            elif a is b:
                out[key] = a
            else:
                return None
        elif isinstance(a, _SCALARS) and type(a) is type(b) and a == b:
            out[key] = a
        else:
            return None
    masks = {k: v.shape for k, v in out.items() if isinstance(v, Tensor) and v.dtype == torch.bool and v.ndim == 2}
    for key, length in padded_to.items():
        if out[key].dtype != torch.bool and (2 * batch, length) not in masks.values():
            return None  # zero tokens without a mask would be attended to
    return out


def classifier_free_guidance(
    model: Callable[..., Tensor], cond_args: dict[str, Any], uncond_args: dict[str, Any], scale: float
) -> Callable[..., Tensor]:
    """model'(x, sigma, **extra) = uncond + scale * (cond - uncond), where uncond (the negative
    prompt) runs `model` with `uncond_args` and cond with `cond_args`; extra args from the sampler
    are shared by both.

    Batched keys: every tensor value whose dim 0 equals the batch size B of x (text states, text
    masks, spacetime-condition channels) is concatenated as [cond; uncond] into one call of batch
    2B; text tensors of different lengths are right-padded, masks with False. None values, plain
    equal scalars and identical unbatched tensors pass through. When the two dicts cannot be
    combined so (see `_batch_args`), cond and uncond run as two calls instead.
    scale == 1 is the plain conditional model and never runs uncond.
    """
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or math.isnan(scale):
        raise SoraError(f"guidance scale must be a number (1 = no guidance), got {scale!r}")

    def guided(x: Tensor, sigma: Tensor, **extra: Any) -> Tensor:
        cond, uncond = {**extra, **cond_args}, {**extra, **uncond_args}
        if scale == 1:
            return model(x, sigma, **cond)
        both = _batch_args(cond, uncond, x.shape[0])
        if both is not None:
            sigma2 = torch.cat([sigma, sigma]) if isinstance(sigma, Tensor) and sigma.ndim == 1 else sigma
            out_cond, out_uncond = model(torch.cat([x, x]), sigma2, **both).chunk(2)
        else:
            out_cond, out_uncond = model(x, sigma, **cond), model(x, sigma, **uncond)
        return out_uncond + scale * (out_cond - out_uncond)

    return guided
