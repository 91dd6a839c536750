"""The editing tasks: each lays its inputs out on a canvas and hands SoraSampler a LATENT carrying
the spacetime condition; SoraVideoDecode pastes the kept pixels back from the same LATENT."""

from __future__ import annotations

import torch

from ..errors import SoraError
from ..families.defaults import SORA
from ..tasks import recipes
from ..tasks.canvas import TaskCanvas
from .sockets import SORA_MODEL, SoraNode, socket

MAX_NEW_FRAMES = 1024  # the recipes check the real limit (the model's context) with a useful message
OUTPUT_TOOLTIP = "An empty latent of the task's canvas carrying the condition; sample it with SoraSampler."


def task_latent(model, recipe, *inputs) -> tuple[dict]:
    """The LATENT every task node returns: `recipe`'s canvas for the model (its latent format, within its
    context), zeros to sample into, the condition, and the canvas."""
    canvas: TaskCanvas = recipe(*inputs, fmt=model.latent_format, max_frames=model.max_frames)
    condition = canvas.condition(model.vae, model.latent_format)
    return ({"samples": torch.zeros_like(condition.latent).cpu(), "sora_cond": condition, "sora_canvas": canvas},)


def _model(tooltip="The Sora model from SoraCheckpointLoader; its VAE encodes what is known."):
    return socket(SORA_MODEL, tooltip)


def _frames(tooltip: str):
    return socket("IMAGE", tooltip)


def _count(tooltip: str, default: int):
    return socket("INT", tooltip, default=default, min=1, max=MAX_NEW_FRAMES)


class _TaskNode(SoraNode):
    FUNCTION = "build"
    OUTPUTS = (("LATENT", "latent", OUTPUT_TOOLTIP),)


class SoraImageToVideo(_TaskNode):
    DESCRIPTION = "Animates a still image: it becomes frame 0 of the video, kept exactly."
    REQUIRED = {
        "model": _model(),
        "image": _frames("One image [1, H, W, 3]; sides a multiple of 16."),
        "frames": socket(
            "INT",
            "Length of the video, 1 + k*4 frames, the image included.",
            default=SORA.frames,
            min=1,
            max=1 + 4 * 256,
            step=4,
        ),
    }

    def build(self, model, image, frames):
        if image.ndim == 4 and image.shape[0] != 1:
            raise SoraError(f"image-to-video takes one image, got a batch of {image.shape[0]}; pick one first")
        return task_latent(model, recipes.image_to_video, image, frames)


class SoraExtendVideo(_TaskNode):
    DESCRIPTION = "Extends a video forward or backward in time; the source frames are kept exactly."
    REQUIRED = {
        "model": _model(),
        "frames": _frames("The source video [T, H, W, 3]; any length, sides a multiple of 16."),
        "direction": socket(list(recipes.DIRECTIONS), "forward adds frames after the source, backward before it."),
        "new_frames": _count("How many frames to add (within the model's context; chain for more).", 16),
    }

    def build(self, model, frames, direction, new_frames):
        return task_latent(model, recipes.extend, frames, new_frames, direction)


class SoraConnectVideos(_TaskNode):
    DESCRIPTION = "Joins clip A to clip B with new transition frames; both clips are kept exactly."
    REQUIRED = {
        "model": _model(),
        "clip_a": _frames("The first clip [T, H, W, 3]."),
        "clip_b": _frames("The second clip, the same size as clip A."),
        "transition_frames": _count("New frames between the end of A and the start of B.", 8),
    }

    def build(self, model, clip_a, clip_b, transition_frames):
        return task_latent(model, recipes.connect, clip_a, clip_b, transition_frames)


class SoraLoopVideo(_TaskNode):
    DESCRIPTION = "Adds frames after a clip that flow back into its first frame, for a seamless loop."
    REQUIRED = {
        "model": _model(),
        "frames": _frames("The clip to loop [T, H, W, 3]; it is kept exactly."),
        "transition_frames": _count("New frames from the clip's end back to its start.", 8),
    }

    def build(self, model, frames, transition_frames):
        return task_latent(model, recipes.loop, frames, transition_frames)


def _box(tooltip: str, default: int, least: int = 0):
    return socket("INT", tooltip, default=default, min=least, max=4096)


class SoraInpaintScene(_TaskNode):
    DESCRIPTION = (
        "Regenerates a region of a video from the prompt (a MASK, or a box over a time range); "
        "the rest is kept exactly."
    )
    REQUIRED = {
        "model": _model(),
        "frames": _frames("The video [T, H, W, 3]; T = 1 + k*4 within the model's context."),
        "x": _box("Box left edge in pixels (used when no mask is connected).", 16),
        "y": _box("Box top edge in pixels.", 16),
        "width": _box("Box width in pixels.", 32, least=1),
        "height": _box("Box height in pixels.", 32, least=1),
        "start_frame": _box("First frame of the box's time range.", 0),
        "end_frame": _box("Frame after the box's time range; 0 = to the end.", 0),
    }
    OPTIONAL = {
        "mask": socket(
            "MASK", "Where to regenerate (1), per frame [T, H, W] or one [H, W] for all; overrides the box."
        ),
    }

    def build(self, model, frames, x, y, width, height, start_frame, end_frame, mask=None):
        if mask is None:
            t, h, w = frames.shape[:3]
            mask = recipes.box_mask(
                t, h, w, x=x, y=y, box_width=width, box_height=height, start=start_frame, end=end_frame or t
            )
        return task_latent(model, recipes.inpaint, frames, mask)
