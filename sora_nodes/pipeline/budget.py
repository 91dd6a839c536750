"""What a render will cost before it starts: peak memory and time, and a refusal when it cannot fit.

The DiT call and the VAE decode run once on the meta device, where tensors have shapes and no
values: the bytes of the activations alive at once give the peak, and the FLOPs counted on the
way give the time. This is the real code path (chunked decode, tiles, attention kernel), not a
formula that drifts from it. Measured RSS on this CPU is 1.3-1.9x the live activations (oneDNN
workspaces, allocator slack), hence ALLOCATOR_SLACK.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import weakref
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..errors import ResourceError
from ..io.device import available_bytes

log = logging.getLogger("sora_nodes")

ALLOCATOR_SLACK = 2.0
SLOW_SECONDS = 600.0  # a render longer than this gets a warning before it starts
CONV_EFFICIENCY = 0.25  # 3-D convs and attention reach about a quarter of a plain matmul's FLOP/s
MODEL_CALLS_PER_STEP = {"euler": 1, "heun": 2, "dpmpp_2m": 1, "unipc": 1}
TEXT_TOKENS = 77  # a long recaptioned prompt; the text states are small beside the video either way


class _ShapeRun(TorchDispatchMode):
    """Counts FLOPs (matmuls, convolutions, attention) and the bytes of tensor storages alive at once."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.flops = 0
        self._seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.flops += _flops(func.overloadpacket.__name__, args, out)
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = id(storage)
                if key not in self._seen:
                    self._seen.add(key)
                    self.live += storage.nbytes()
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(storage, self._free, key, storage.nbytes())
        return out

    def _free(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes


def _flops(op: str, args: tuple, out) -> int:
    """Multiply-adds x 2 of the ops that dominate a render; under inference_mode they arrive undecomposed."""
    if op in ("conv1d", "conv2d", "conv3d", "linear"):
        weight = args[1]  # [C_out, C_in / groups, *kernel] or [out, in]
        return 2 * out.numel() * weight[0].numel()
    if op in ("mm", "bmm", "matmul", "addmm", "baddbmm"):
        a = args[-2]
        return 2 * out.numel() * a.shape[-1]
    if op == "scaled_dot_product_attention":
        q, k = args[0], args[1]  # [B, H, Nq, D], [B, H, Nk, D]
        return 4 * q.shape[:-1].numel() * k.shape[-2] * q.shape[-1]
    return 0


def _shapes_run(fn) -> tuple[int, int]:
    """(peak live bytes, FLOPs) of fn() run on meta tensors."""
    with torch.inference_mode(), _ShapeRun() as run:
        fn()
    return run.peak, run.flops


@functools.lru_cache(maxsize=64)
def _dit_call(
    network: type, config, batch: int, latent: tuple[int, int, int], attention: str, dtype=torch.float32
) -> tuple[int, int]:
    """(peak bytes, FLOPs) of one DiT call; `dtype`: the weights' (a bf16 Wan model has bf16 activations)."""
    with torch.device("meta"):
        dit = network(config).to(dtype).eval()
        x = torch.zeros(batch, config.latent_channels, *latent)  # [B, C, T', H', W']
        tokens = min(TEXT_TOKENS, getattr(config, "text_len", TEXT_TOKENS))
        context = torch.zeros(batch, tokens, config.text_dim)
        mask = torch.ones(batch, tokens, dtype=torch.bool)
        condition = torch.zeros(batch, config.latent_channels + 1, *latent)
        sigma = torch.ones(batch)
    return _shapes_run(lambda: dit(x, sigma, context, mask, condition, attention_backend=attention))


@functools.lru_cache(maxsize=64)
def _vae_decode(
    network: type, config, latent: tuple[int, int, int], tile: int | None, dtype=torch.float32
) -> tuple[int, int]:
    with torch.device("meta"):
        vae = network(config).to(dtype).eval()
        z = torch.zeros(1, config.latent_channels, *latent)
    return _shapes_run(lambda: vae.decode(z, tile=tile))


@functools.lru_cache(maxsize=1)
def matmul_flops_per_second() -> float:
    """FLOP/s of a 512x512 fp32 matmul on this CPU, measured once per process (about 20 ms)."""
    a = torch.randn(512, 512)
    a @ a
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < 0.02:
        a @ a
        n += 1
    return 2 * 512**3 * n / (time.perf_counter() - start)


@dataclass(frozen=True)
class RenderEstimate:
    peak_bytes: int  # memory the render needs on top of the loaded model
    flops: float
    seconds: float  # on this CPU

    def describe(self) -> str:
        return f"about {self.peak_bytes / 2**30:.1f} GiB and {_duration(self.seconds)}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_render(model, latent: tuple[int, int, int], settings, *, frames: int, batch: int = 1, decode_tile=None):
    """Peak memory and CPU time (a RenderEstimate) of rendering `batch` clips of latent size (T', H', W') with the
    sampling `settings` (their steps, cfg, sampler and attention)."""
    _, height, width = model.latent_format.video_size(latent)
    calls = batch * (1 if settings.cfg == 1 else 2)  # guidance runs the conditional and unconditional rows together
    backend = "reference" if settings.attention == "reference" else "sdpa"  # xformers and sdpa keep memory linear
    dit, vae = model.dit, model.vae
    dit_bytes, dit_flops = _dit_call(type(dit), dit.config, calls, latent, backend, next(dit.parameters()).dtype)
    vae_bytes, vae_flops = _vae_decode(type(vae), vae.config, latent, decode_tile, next(vae.parameters()).dtype)
    frame_bytes = batch * frames * height * width * 3 * 4  # the decoded clips, float32, until they are saved
    peak = ALLOCATOR_SLACK * max(dit_bytes, vae_bytes) + 3 * frame_bytes  # frames, watermarked copy, uint8 pixels
    flops = settings.steps * MODEL_CALLS_PER_STEP.get(settings.sampler, 2) * dit_flops + batch * vae_flops
    return RenderEstimate(int(peak), float(flops), flops / (CONV_EFFICIENCY * matmul_flops_per_second()))


def check_render_fits(model, latent: tuple[int, int, int], settings, *, frames: int, **options) -> RenderEstimate:
    """Raise ResourceError, with the estimate and the largest size that fits, when the render cannot fit in memory;
    log a warning when it will take long. `options`: estimate_render's batch and decode_tile."""
    estimate = estimate_render(model, latent, settings, frames=frames, **options)
    free = available_bytes(model.device)
    k = model.vae.config.spatial_factor
    if estimate.peak_bytes > free:
        guess = min(1.0, 1.2 * math.sqrt(free / estimate.peak_bytes))  # memory grows about with the pixel count
        fit = _largest_fitting(model, latent, free, guess, settings, frames=frames, **options)
        size = f"{latent[2] * k}x{latent[1] * k}"
        hint = (
            f"the largest {frames}-frame size of this shape that fits is {fit[1] * k}x{fit[0] * k}"
            if fit
            else ("no size of this shape fits; close other programs or use fewer frames")
        )
        raise ResourceError(
            f"a {size} render of {frames} frames (batch {options.get('batch', 1)}) needs {estimate.describe()}, but "
            f"only {free / 2**30:.1f} GiB of {model.device.type} memory is free; {hint}"
            + ("" if options.get("decode_tile") else ", or decode in tiles (--vae-tile 32)")
        )
    if model.device.type == "cpu" and estimate.seconds > SLOW_SECONDS:
        log.warning(
            "this render needs %s on this CPU (%.0f TFLOP); fewer steps, frames or pixels render faster",
            estimate.describe(),
            estimate.flops / 1e12,
        )
    return estimate


def _largest_fitting(model, latent, free, most: float, settings, **kwargs) -> tuple[int, int] | None:
    """The largest (H', W') of the same aspect ratio, at most `most` times the sides, whose render fits in `free`."""
    _, p_h, p_w = model.dit.config.patch_size

    def sides(scale: float) -> tuple[int, int]:  # whole patches, the width following the height's aspect ratio
        h = math.floor(latent[1] * scale / p_h) * p_h
        return h, round(h * latent[2] / latent[1] / p_w) * p_w

    lo, hi = 0.0, most  # scale of the latent's sides
    for _ in range(7):
        mid = (lo + hi) / 2
        h, w = sides(mid)
        if h and w and estimate_render(model, (latent[0], h, w), settings, **kwargs).peak_bytes <= free:
            lo = mid
        else:
            hi = mid
    h, w = sides(lo)
    return (h, w) if h and w else None
