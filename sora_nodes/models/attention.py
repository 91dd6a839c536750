"""Scaled dot-product attention with interchangeable backends that give the same numbers or raise.

`reference` is the plain maths and the ground truth; `sdpa` is torch's fused kernel (flash / cuDNN /
memory-efficient on CUDA, a flash kernel on CPU); `xformers` is memory_efficient_attention, CUDA
only and optional because each xformers wheel pins one exact torch build.
"""

from __future__ import annotations

import functools
import inspect
import logging

import torch
import torch.nn.functional as F

from ..errors import SoraError

BACKENDS = ("auto", "xformers", "sdpa", "reference")

log = logging.getLogger("sora_nodes")


class AttentionBackendError(SoraError):
    """An attention backend is unknown, unavailable here, or cannot run these inputs exactly."""


@functools.cache
def _xformers_import_error() -> str | None:
    """None when `xformers.ops` imports, else why not (checked once; imports are process-wide anyway)."""
    try:
        import xformers.ops  # noqa: F401
    except Exception as e:  # noqa: BLE001 - a broken wheel raises more than ImportError (torch ABI)
        return f"{type(e).__name__}: {e}"
    return None


@functools.cache
def _prefer_cudnn(device_index: int) -> bool:
    """Hopper runs cuDNN attention about 2x faster than the FA2 kernel SDPA picks by default."""
    from torch.nn.attention import sdpa_kernel

    hopper = torch.cuda.get_device_capability(device_index)[0] == 9
    return hopper and "set_priority" in inspect.signature(sdpa_kernel).parameters  # torch >= 2.6


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    """Concrete backends usable on `device`, best first."""
    device = torch.device(device)
    if device.type != "cuda" or _xformers_import_error() is not None:
        return ["sdpa", "reference"]
    if _prefer_cudnn(device.index if device.index is not None else torch.cuda.current_device()):
        return ["sdpa", "xformers", "reference"]  # cuDNN via SDPA beats xformers' kernels on Hopper
    return ["xformers", "sdpa", "reference"]


def resolve_backend(name: str, device: torch.device | str) -> str:
    """Turn a user's choice (maybe "auto") into a concrete backend that runs on `device`, or raise."""
    device = torch.device(device)
    if name not in BACKENDS:
        raise AttentionBackendError(f"unknown attention backend {name!r}; choose one of {list(BACKENDS)}")
    usable = available_backends(device)
    if name == "auto":
        chosen = usable[0]
    elif name in usable:
        chosen = name
    elif name == "xformers" and device.type != "cuda":
        raise AttentionBackendError(
            f"the xformers backend is CUDA-only but the tensors are on {device.type}; use one of {['auto', *usable]}"
        )
    else:
        raise AttentionBackendError(
            f"attention backend {name!r} is not available on {device.type} "
            f"({_xformers_import_error()}); install xformers built for torch {torch.__version__} "
            f"or use one of {['auto', *usable]}"
        )
    if device.type != "meta":  # a render's memory estimate runs on meta; the user hears of the real run
        _announce(device.type, chosen)
    return chosen


@functools.cache
def _announce(device_type: str, chosen: str) -> None:
    # Cached so each choice is logged once per device type, not once per layer and step.
    log.info("attention backend: %s on %s", chosen, device_type)


def _check_inputs(q, k, v, key_mask) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4:
            got = f"shape {list(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise AttentionBackendError(f"attention {name} must be a 4-D tensor [B, H, N, D], got {got}")
    B, H, _, D = q.shape
    if k.shape[:2] != (B, H) or v.shape[:2] != (B, H) or k.shape[3] != D or v.shape[3] != D:
        raise AttentionBackendError(
            f"attention q/k/v must share batch, heads and head dim: q {list(q.shape)}, k {list(k.shape)}, "
            f"v {list(v.shape)}; expected q [B, H, Nq, D] and k, v [B, H, Nk, D]"
        )
    if k.shape[2] != v.shape[2] or k.shape[2] == 0:
        raise AttentionBackendError(
            f"attention k and v need the same, non-zero number of keys; got k {list(k.shape)}, v {list(v.shape)}"
        )
    if k.dtype != q.dtype or v.dtype != q.dtype or k.device != q.device or v.device != q.device:
        raise AttentionBackendError(
            f"attention q/k/v must share dtype and device; got {q.dtype}/{k.dtype}/{v.dtype} on "
            f"{q.device}/{k.device}/{v.device}"
        )
    if key_mask is None:
        return
    is_tensor = isinstance(key_mask, torch.Tensor)
    if not is_tensor or key_mask.dtype != torch.bool or key_mask.shape != (B, k.shape[2]):
        got = f"{key_mask.dtype} {list(key_mask.shape)}" if is_tensor else type(key_mask).__name__
        raise AttentionBackendError(
            f"key_mask must be a bool tensor [B, Nk] = [{B}, {k.shape[2]}] (True = key may be attended), got {got}"
        )


def _reference(q, k, v, key_mask):
    scores = (q.float() * q.shape[-1] ** -0.5) @ k.float().transpose(-2, -1)  # [B, H, Nq, Nk]
    if key_mask is not None:
        scores.masked_fill_(~key_mask[:, None, None, :], float("-inf"))
    return (scores.softmax(dim=-1) @ v.float()).to(q.dtype)  # [B, H, Nq, D]


def _sdpa(q, k, v, key_mask):
    attn_mask = None if key_mask is None else key_mask[:, None, None, :]  # [B, 1, 1, Nk], broadcast by SDPA
    if q.device.type == "cuda" and _prefer_cudnn(q.device.index):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        order = [
            SDPBackend.CUDNN_ATTENTION,
            SDPBackend.FLASH_ATTENTION,
            SDPBackend.EFFICIENT_ATTENTION,
            SDPBackend.MATH,
        ]
        with sdpa_kernel(order, set_priority=True):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


def _xformers(q, k, v, key_mask):
    import xformers.ops as xops

    B, H, Nq, _ = q.shape
    Nk = k.shape[2]
    bias = None
    if key_mask is not None:
        # The kernel wants the bias rows 8-element aligned: allocate padded and slice. The mask is the
        # same for every head and query, so one row per batch expanded (stride 0) keeps memory linear.
        storage = q.new_zeros(B, 1, 1, -(-Nk // 8) * 8)
        storage[..., :Nk].masked_fill_(~key_mask[:, None, None, :], float("-inf"))
        bias = storage[..., :Nk].expand(B, H, Nq, Nk)  # [B, H, Nq, Nk]
    try:
        q_, k_, v_ = (t.transpose(1, 2) for t in (q, k, v))  # xformers' layout: [B, N, H, D]
        out = xops.memory_efficient_attention(q_, k_, v_, attn_bias=bias)
    except (NotImplementedError, ValueError) as e:  # xformers' words for "no kernel fits these inputs"
        # Never fall back silently: a different kernel could mean a dropped mask or different numbers.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AttentionBackendError(
            f"xformers cannot run attention on q {list(q.shape)} {q.dtype} (mask: {key_mask is not None}): "
            f"{first}; use backend 'sdpa' or 'auto'"
        ) from None
    return out.transpose(1, 2)  # [B, N, H, D] -> [B, H, N, D]


_IMPLS = {"reference": _reference, "sdpa": _sdpa, "xformers": _xformers}


def attention(q, k, v, *, key_mask=None, backend: str = "auto") -> torch.Tensor:
    """softmax(q·kᵀ/√D)·v over the keys that `key_mask` allows.

    q [B, H, Nq, D]; k, v [B, H, Nk, D]; key_mask bool [B, Nk], True = this key may be attended.
    Returns [B, H, Nq, D] in q's dtype.
    """
    _check_inputs(q, k, v, key_mask)
    if key_mask is not None and q.device.type == "meta":
        key_mask = None  # shapes only (a render's memory estimate): no values to check, same tensor sizes
    if key_mask is not None:
        key_mask = key_mask.to(q.device)
        # One host sync answers both questions: a row with no key would be NaN, and a mask that keeps
        # every key is a no-op that, dropped, lets SDPA use its fastest (mask-free) kernels.
        any_per_row, keeps_all = torch.stack([key_mask.any(dim=1).all(), key_mask.all()]).tolist()
        if not any_per_row:
            rows = (~key_mask.any(dim=1)).nonzero().flatten().tolist()
            raise AttentionBackendError(
                f"key_mask rows {rows} mask out every key; at least one key per batch row must be unmasked (True)"
            )
        if keeps_all:
            key_mask = None
    return _IMPLS[resolve_backend(backend, q.device)](q, k, v, key_mask)
