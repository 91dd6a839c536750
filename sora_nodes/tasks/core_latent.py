"""A task canvas laid out as a ComfyUI core LATENT, for the models artists already load (Wan 2.1, Wan 2.2).

Core's samplers have no input for our spacetime condition, but they honour `noise_mask`: at every step
`KSampler` re-imposes the known latent (noised to the step's level, or clean for Wan 2.2, whose model turns
the mask into a per-frame timestep of 0). So a task becomes:
- `samples`: the canvas encoded by the host's VAE, in the model's own latent layout, with the cells to
  regenerate set to `fill` (what the model reads as an empty latent);
- `noise_mask`: [B, 1, T', H', W'] at latent resolution, 1 = regenerate;
- `sora_canvas`: the canvas itself, which KSampler passes through untouched, so the paste-back node after
  `VAEDecode` can put the kept pixels back exactly and hide the seams.

Nothing here imports ComfyUI: the host's VAE comes in as an `encode` function and its ratios.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import ShapeError, SoraError
from ..models.latent_format import LatentFormat
from .canvas import TaskCanvas
from .seams import loop_seam, seam_ratio

CANVAS_KEY = "sora_canvas"  # the LATENT key that carries the canvas to the paste-back node

Encode = Callable[[Tensor], Tensor]  # frames [T, H, W, 3] float 0..1 -> latent [1, C, T', H', W']


def video_format(channels: int, spatial, temporal) -> LatentFormat:
    """The latent format of a host VAE from what it reports, or a clear refusal for an image VAE."""
    if temporal is None or temporal < 2:
        raise SoraError(
            "this VAE makes image latents, with no time axis; the video tasks need a video VAE such as "
            "wan_2.1_vae (Wan 2.1 and Wan 2.2 A14B) or wan2.2_vae (Wan 2.2 TI2V-5B) in models/vae"
        )
    return LatentFormat.from_ratios(channels, spatial, temporal)


def core_task_latent(
    canvas: TaskCanvas, encode: Encode, fmt: LatentFormat, *, fill: Tensor | None = None, batch_size: int = 1
) -> dict:
    """The LATENT dict for `canvas` (see the module). fill: [C] or a scalar, the raw latent of "nothing" for
    the cells to regenerate (core's empty latent for the model's format); zeros when not given."""
    if batch_size < 1:
        raise SoraError(f"batch_size must be at least 1, got {batch_size}")
    t, h, w = fmt.latent_shape(*canvas.frames.shape[:3])
    latent = encode(canvas.frames)  # [1, C, T', H', W']: the whole timeline at once, as the model saw it
    want = (1, fmt.channels, t, h, w)
    if tuple(latent.shape) != want:
        raise ShapeError(
            f"the VAE returned a latent of shape {tuple(latent.shape)} for a {canvas.frames.shape[0]}-frame "
            f"{canvas.frames.shape[2]}x{canvas.frames.shape[1]} canvas, expected {want}; "
            "use the VAE that belongs to the model you sample with"
        )
    latent = latent.float().cpu()
    noise_mask = canvas.noise_mask(fmt)  # [1, 1, T', H', W'], 1 = regenerate
    empty = torch.zeros(()) if fill is None else torch.as_tensor(fill, dtype=torch.float32).reshape(-1, 1, 1, 1)
    samples = latent * (1 - noise_mask) + empty * noise_mask  # [1, C, T', H', W']
    return {
        "samples": samples.repeat(batch_size, 1, 1, 1, 1),
        "noise_mask": noise_mask.repeat(batch_size, 1, 1, 1, 1),
        CANVAS_KEY: canvas,
    }


def task_canvas(latent: dict) -> TaskCanvas:
    """The canvas a task node put in a LATENT, or a refusal that says which nodes to wire."""
    canvas = latent.get(CANVAS_KEY) if isinstance(latent, dict) else None
    if not isinstance(canvas, TaskCanvas):
        raise SoraError(
            "this LATENT carries no task canvas; wire the LATENT that a Sora task node (image-to-video, extend, "
            "connect, loop, inpaint) made, through KSampler, into the paste-back node"
        )
    return canvas


def paste_back(canvas: TaskCanvas, decoded: Tensor) -> tuple[Tensor, str]:
    """Decoded frames [B*T, H, W, 3] (core VAEDecode's layout, clips one after another) -> the task's
    output with the kept pixels put back exactly and the seams corrected, and a report of the seam figures
    (1 = the join moves as much as a typical frame step of the output; a hard cut is several times that)."""
    if decoded.ndim != 4 or decoded.shape[-1] != 3 or decoded.shape[0] % canvas.length:
        raise ShapeError(
            f"the decoded frames are {tuple(decoded.shape)}, not clips of the task's {canvas.length} frames; "
            "decode the LATENT the task node made (through KSampler) with VAEDecode, without trimming it"
        )
    out = canvas.finish_batch(decoded.float().cpu())  # [B*T_out, H, W, 3]
    clip = out[: len(out) // (decoded.shape[0] // canvas.length)]  # the first clip of the batch
    lines = [f"seam after frame {j}: {seam_ratio(clip, j):.2f}" for j in canvas.joins() if j + 1 < len(clip)]
    if canvas.loops and len(clip) > 2:
        lines.append(f"loop seam (last frame -> first): {loop_seam(clip):.2f}")
    if not lines:
        return out, "no join in time: every frame has kept and regenerated pixels side by side"
    return out, "; ".join(lines) + " (1 = a typical frame step)"
