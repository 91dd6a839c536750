"""The canvas every editing task is drawn on: a pixel timeline, the pixels that are known, and
which frames the output keeps.

A task (image-to-video, extend, connect, loop, inpaint) lays its inputs out on one timeline of a
length the model can render; source frames beyond its context go around the canvas unchanged. The
timeline is encoded once, so the known latents are those of the clip in context (a causal VAE codes
frames after others differently than alone), and the latent mask marks the cells whose pixels are
all known. After decoding, the known pixels are pasted back exactly: the
VAE cannot reproduce a frame bit for bit, and a kept frame must not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..diffusion.conditioning import SpacetimeCondition
from ..errors import ShapeError, SoraError
from ..models.latent_format import LatentFormat
from ..models.vae import VideoVAE
from ..pipeline.generate import encode_frames
from .seams import seam_correction  # also imported from here by older code


@dataclass(frozen=True, eq=False)  # eq=False: tensor fields have no truth value to compare by
class TaskCanvas:
    frames: Tensor  # [T, H, W, 3] float 0..1: known pixels; unknown ones hold the nearest known frame
    known: Tensor  # [T, H, W] bool: pixels the output keeps exactly
    keep: slice = field(default_factory=lambda: slice(None))  # the canvas frames the output keeps
    lead: Tensor | None = None  # [L, H, W, 3] source frames before the canvas, beyond the model's context
    trail: Tensor | None = None  # [L, H, W, 3] source frames after the canvas
    blend: int = 8  # new frames over which the VAE's error on the adjacent kept frame fades out (0 = off)
    loops: bool = False  # the output is played as a loop: its last frame leads into its first

    def __post_init__(self):
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise ShapeError(f"canvas frames must be [T, H, W, 3], got {tuple(self.frames.shape)}")
        if tuple(self.known.shape) != tuple(self.frames.shape[:3]) or self.known.dtype != torch.bool:
            raise ShapeError(
                f"canvas mask must be bool {tuple(self.frames.shape[:3])}, "
                f"got {self.known.dtype} {tuple(self.known.shape)}"
            )

    @property
    def length(self) -> int:
        return self.frames.shape[0]

    def latent_mask(self, fmt: LatentFormat) -> Tensor:
        """[1, 1, T', H', W'] float: 1 where every pixel the latent cell codes is known.

        Latent frame 0 codes video frame 0 alone, frame t > 0 codes frames k_t(t-1)+1 .. k_t*t."""
        fmt.latent_shape(*self.frames.shape[:3])
        k = fmt.temporal
        known = self.known.float()  # [T, H, W]
        groups = torch.cat([known[:1], known[1:].unflatten(0, (-1, k)).amin(1)])  # [T', H, W]
        cells = -F.max_pool2d(-groups[:, None], fmt.spatial)  # [T', 1, H', W']: min over each cell
        return cells.permute(1, 0, 2, 3)[None]  # [1, 1, T', H', W']

    def noise_mask(self, fmt: LatentFormat) -> Tensor:
        """[1, 1, T', H', W'] float: ComfyUI's `noise_mask` at latent resolution, 1 = regenerate (the
        complement of `latent_mask`). Given at latent size, core's sampler uses it as is, so the causal
        time grouping stays exact (its trilinear resize would blur it across latent frames)."""
        return 1.0 - self.latent_mask(fmt)

    def joins(self) -> list[int]:
        """Output index of the last frame before each join between wholly kept and new frames: the seams a
        viewer can see, in the timeline `finish` returns (source frames outside the canvas included)."""
        whole = self.known.flatten(1).all(1)  # [T]: frames kept entirely
        start, stop, _ = self.keep.indices(self.length)
        offset = (0 if self.lead is None else len(self.lead)) - start
        return [i + offset for i in range(start, stop - 1) if bool(whole[i]) != bool(whole[i + 1])]

    def condition(self, vae: VideoVAE, fmt: LatentFormat) -> SpacetimeCondition:
        """Encodes the timeline and masks it: the spacetime condition for the sampler."""
        mask = self.latent_mask(fmt)
        latent = encode_frames(vae, self.frames)  # [1, C, T', H', W']
        return SpacetimeCondition(latent * mask, mask.to(latent.device))

    def finish_batch(self, decoded: Tensor) -> Tensor:
        """`finish` for each clip of a decoded batch, laid out one after another as decode_latent returns them."""
        return torch.cat([self.finish(clip) for clip in decoded.split(self.length)])

    def finish(self, decoded: Tensor) -> Tensor:
        """Decoded frames [T, H, W, 3] -> the task's output: known pixels pasted back, kept frames only."""
        if tuple(decoded.shape) != tuple(self.frames.shape):
            raise ShapeError(
                f"decoded frames are {tuple(decoded.shape)} but the task's canvas is {tuple(self.frames.shape)}; "
                "decode the latent this task's node made, at its size"
            )
        decoded = decoded + seam_correction(self.frames - decoded, self.known.all(2).all(1), self.blend)
        out = torch.where(self.known[..., None], self.frames.to(decoded.dtype), decoded)
        parts = [self.lead, out[self.keep].clamp(0, 1), self.trail]
        return torch.cat([p.to(out.dtype) for p in parts if p is not None])


def check_context(length: int, max_frames: int, task: str) -> None:
    if length > max_frames:
        raise SoraError(
            f"{task} needs a {length}-frame render, longer than this model's {max_frames}-frame context; "
            "use fewer frames, or SoraLongVideo, which chains windows of the context's length"
        )


def check_frames(frames: Tensor, what: str) -> Tensor:
    """IMAGE-layout frames [T, H, W, 3] float 0..1 (an image [H, W, 3] is one frame)."""
    if frames.ndim == 3 and frames.shape[-1] == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ShapeError(f"{what} must be frames [T, H, W, 3] (the IMAGE layout), got {tuple(frames.shape)}")
    return frames.float()


def hold_nearest(frames: Tensor, known_frames: Tensor) -> Tensor:
    """Fills every frame that is not known with the nearest known one in time (ties go earlier).

    frames [T, H, W, 3]; known_frames [T] bool. Unknown latents are masked out, but the causal
    VAE's receptive field lets placeholders reach the known latents after them, so they should
    look like the video there rather than like black."""
    index = known_frames.nonzero()[:, 0]  # [K]
    if not len(index):
        raise SoraError("a task canvas needs at least one known frame")
    distance = (torch.arange(len(frames))[:, None] - index[None]).abs()  # [T, K]
    return frames[index[distance.argmin(1)]]
