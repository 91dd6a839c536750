"""The editing tasks on ComfyUI core's types: a core VAE and IMAGE (and MASK) in, a core LATENT out, for the
models artists already load with UNETLoader / VAELoader (Wan 2.1, Wan 2.2). Sample it with core's KSampler,
decode it with core's VAEDecode, then SoraTaskPasteBack puts the kept pixels back and reports the seams."""

from __future__ import annotations

import torch

from ..errors import SoraError
from ..models.latent_format import LatentFormat
from ..tasks import recipes
from ..tasks.core_latent import core_task_latent, paste_back, task_canvas, video_format
from .sockets import SoraNode, socket

MAX_FRAMES = 1 + 4 * 256  # the widgets' ceiling; the context_frames input sets the real limit
OUTPUT_TOOLTIP = (
    "A LATENT on the task's canvas: the known frames encoded, a noise_mask (1 = regenerate) that KSampler "
    "honours, and the canvas for SoraTaskPasteBack. Sample it with KSampler at denoise 1."
)
WAN22_CHANNELS, WAN22_SPATIAL = 48, 16


def core_format(vae) -> LatentFormat:
    """The latent layout of a core VAE, read off the object (channels, and its time and space ratios)."""
    formula = getattr(vae, "downscale_index_formula", None)  # (time, height, width) for video VAEs
    if getattr(vae, "latent_dim", 2) != 3 or formula is None:
        return video_format(vae.latent_channels, getattr(vae, "downscale_ratio", 8), None)
    temporal, height, width = formula
    if height != width:
        raise SoraError(f"this VAE scales height by {height} and width by {width}; the tasks need square cells")
    return video_format(vae.latent_channels, height, temporal)


def _fill(fmt: LatentFormat):
    """What core writes into the cells to regenerate: Wan22ImageToVideoLatent writes the Wan 2.2 format's
    empty latent (its per-channel mean, since the LATENT holds raw VAE values); the other video nodes zeros."""
    if (fmt.channels, fmt.spatial) != (WAN22_CHANNELS, WAN22_SPATIAL):
        return None
    import comfy.latent_formats

    return comfy.latent_formats.Wan22().process_out(torch.zeros(1, fmt.channels, 1, 1, 1)).flatten()


def build(vae, recipe, *inputs, context_frames: int, batch_size: int = 1) -> tuple[dict]:
    fmt = core_format(vae)
    canvas = recipe(*inputs, fmt=fmt, max_frames=context_frames)
    return (core_task_latent(canvas, vae.encode, fmt, fill=_fill(fmt), batch_size=batch_size),)


def _vae():
    return socket("VAE", "The model's own VAE from VAELoader (wan_2.1_vae for Wan 2.1 and A14B, wan2.2_vae for 5B).")


def _count(tooltip: str, default: int):
    return socket("INT", tooltip, default=default, min=1, max=MAX_FRAMES)


def _context():
    return socket(
        "INT",
        "The most frames the model renders at once (Wan 2.1 and Wan 2.2 A14B: 81, Wan 2.2 TI2V-5B: 121). "
        "A task that needs more is refused; older source frames beyond it are kept unchanged.",
        default=81,
        min=1,
        max=MAX_FRAMES,
        step=4,
    )


def _batch():
    return socket("INT", "How many videos to sample at once, each with its own noise.", default=1, min=1, max=64)


class _CoreTask(SoraNode):
    FUNCTION = "build"
    OUTPUTS = (("LATENT", "latent", OUTPUT_TOOLTIP),)


class SoraImageToVideoLatent(_CoreTask):
    DESCRIPTION = "Image-to-video for any video model core loads: the image is frame 0, kept exactly."
    REQUIRED = {
        "vae": _vae(),
        "image": socket("IMAGE", "One image; its size is the video's (a multiple of the VAE's factor)."),
        "length": socket(
            "INT", "Frames in the video, 1 + k*4, the image included.", default=33, min=1, max=MAX_FRAMES, step=4
        ),
        "context_frames": _context(),
        "batch_size": _batch(),
    }

    def build(self, vae, image, length, context_frames, batch_size):
        if image.ndim == 4 and image.shape[0] != 1:
            raise SoraError(f"image-to-video takes one image, got a batch of {image.shape[0]}; pick one first")
        return build(vae, recipes.image_to_video, image, length, context_frames=context_frames, batch_size=batch_size)


class SoraExtendVideoLatent(_CoreTask):
    DESCRIPTION = "Extends a video forward or backward in time; the source frames are kept exactly."
    REQUIRED = {
        "vae": _vae(),
        "frames": socket("IMAGE", "The source video [T, H, W, 3]; any length."),
        "direction": socket(list(recipes.DIRECTIONS), "forward adds frames after the source, backward before it."),
        "new_frames": _count("How many frames to add (within the context; chain for more).", 16),
        "context_frames": _context(),
        "batch_size": _batch(),
    }

    def build(self, vae, frames, direction, new_frames, context_frames, batch_size):
        return build(
            vae, recipes.extend, frames, new_frames, direction, context_frames=context_frames, batch_size=batch_size
        )


class SoraConnectVideosLatent(_CoreTask):
    DESCRIPTION = "Joins clip A to clip B with new transition frames; both clips are kept exactly."
    REQUIRED = {
        "vae": _vae(),
        "clip_a": socket("IMAGE", "The first clip [T, H, W, 3]."),
        "clip_b": socket("IMAGE", "The second clip, the same size as clip A."),
        "transition_frames": _count("New frames between the end of A and the start of B.", 8),
        "context_frames": _context(),
        "batch_size": _batch(),
    }

    def build(self, vae, clip_a, clip_b, transition_frames, context_frames, batch_size):
        return build(
            vae,
            recipes.connect,
            clip_a,
            clip_b,
            transition_frames,
            context_frames=context_frames,
            batch_size=batch_size,
        )


class SoraLoopVideoLatent(_CoreTask):
    DESCRIPTION = "Adds frames after a clip that flow back into its first frame, for a seamless loop."
    REQUIRED = {
        "vae": _vae(),
        "frames": socket("IMAGE", "The clip to loop [T, H, W, 3]; it is kept exactly."),
        "transition_frames": _count("New frames from the clip's end back to its start.", 8),
        "context_frames": _context(),
        "batch_size": _batch(),
    }

    def build(self, vae, frames, transition_frames, context_frames, batch_size):
        return build(vae, recipes.loop, frames, transition_frames, context_frames=context_frames, batch_size=batch_size)


class SoraInpaintSceneLatent(_CoreTask):
    DESCRIPTION = "Regenerates the masked region of a video from the prompt; every other pixel is kept exactly."
    REQUIRED = {
        "vae": _vae(),
        "frames": socket("IMAGE", "The video [T, H, W, 3]; T = 1 + k*4 within the context."),
        "mask": socket("MASK", "Where to regenerate (1): per frame [T, H, W], or one [H, W] for every frame."),
        "context_frames": _context(),
        "batch_size": _batch(),
    }

    def build(self, vae, frames, mask, context_frames, batch_size):
        return build(vae, recipes.inpaint, frames, mask, context_frames=context_frames, batch_size=batch_size)


class SoraTaskPasteBack(SoraNode):
    DESCRIPTION = (
        "After VAEDecode: puts the task's kept pixels back exactly, hides the VAE's coding error at each join, "
        "drops the canvas's helper frames and reports the seams (1 = a typical frame step)."
    )
    FUNCTION = "finish"
    OUTPUT_NODE = True  # shows the seam report on the node
    REQUIRED = {
        "images": socket("IMAGE", "The frames VAEDecode made from the sampled task LATENT."),
        "latent": socket("LATENT", "The sampled LATENT (KSampler passes the task's canvas through)."),
    }
    OUTPUTS = (
        ("IMAGE", "frames", "The task's video: kept frames exact, new frames joined without a jump."),
        ("STRING", "seams", "The seam figures: each join's step over the video's median frame step."),
    )

    def finish(self, images, latent):
        frames, report = paste_back(task_canvas(latent), images)
        return {"ui": {"text": [report]}, "result": (frames, report)}
