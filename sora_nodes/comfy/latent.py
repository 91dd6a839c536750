"""Latent videos: an empty one to sample into, and the VAE's encode and decode."""

from __future__ import annotations

from ..families.defaults import SORA
from ..models.latent_format import SORA_LATENT
from ..pipeline.generate import MAX_LATENT_FRAMES, check_clip, decode_latent, empty_video_latent, encode_frames
from .sockets import SORA_VAE, SoraNode, fps_input, size_inputs, socket, validation

MAX_FRAMES = 1 + SORA_LATENT.temporal * (MAX_LATENT_FRAMES - 1)


class SoraEmptyVideoLatent(SoraNode):
    DESCRIPTION = "An empty latent video of a given size and length, for text-to-video."
    FUNCTION = "empty"
    OUTPUTS = (("LATENT", "latent", "Zeros of shape [batch, 16, 1 + (frames-1)/4, height/8, width/8], plus the fps."),)
    REQUIRED = {
        **size_inputs(),
        "frames": socket(
            "INT",
            f"Number of frames, 1 + k*{SORA_LATENT.frame_step} (17 is about 2 s at 8 fps).",
            default=SORA.frames,
            min=1,
            max=MAX_FRAMES,
            step=SORA_LATENT.frame_step,
        ),
        "fps": fps_input("Frames per second the video is meant to play at."),
        "batch_size": socket(
            "INT", "How many videos to render at once (item i uses seed + i).", default=1, min=1, max=64
        ),
    }

    @classmethod
    def VALIDATE_INPUTS(cls, width, height, frames):  # `sora render` runs the same check before any model loads
        return validation(lambda: check_clip(SORA_LATENT, width=width, height=height, frames=frames))

    def empty(self, width, height, frames, fps, batch_size):
        # "sora_video_size": the sampler re-lays the empty latent out for its model's own VAE and patch
        latent = empty_video_latent(frames, height, width, batch_size)
        return ({"samples": latent, "fps": float(fps), "sora_video_size": (frames, height, width)},)


class SoraVideoEncode(SoraNode):
    DESCRIPTION = "Encodes frames into a latent video with the Sora VAE (for style transfer and the editing tasks)."
    FUNCTION = "encode"
    OUTPUTS = (("LATENT", "latent", "The normalised latent [1, 16, T', H', W']."),)
    REQUIRED = {
        "vae": socket(SORA_VAE, "The video VAE from SoraCheckpointLoader."),
        "frames": socket("IMAGE", "Frames [T, H, W, 3]; T = 1 + k*4 and sides a multiple of 8."),
    }

    def encode(self, vae, frames):
        return ({"samples": encode_frames(vae, frames).cpu()},)


class SoraVideoDecode(SoraNode):
    DESCRIPTION = "Decodes a latent video into frames with the Sora VAE."
    FUNCTION = "decode"
    OUTPUTS = (
        (
            "IMAGE",
            "frames",
            "Frames [T, H, W, 3] in 0..1; a batch comes out as its clips one after another. A task's kept frames "
            "and pixels are pasted back exactly.",
        ),
    )
    REQUIRED = {
        "vae": socket(SORA_VAE, "The video VAE from SoraCheckpointLoader (the model's own)."),
        "latent": socket("LATENT", "The latent video, e.g. from SoraSampler."),
    }
    OPTIONAL = {
        "tile": socket(
            "INT",
            "Decode large frames in blended tiles of this many latent cells (bounded memory); 0 = whole frames.",
            default=0,
            min=0,
            max=4096,
        ),
    }

    def decode(self, vae, latent, tile=0):
        frames = decode_latent(vae, latent["samples"], tile=tile or None)  # [B*T, H, W, 3]
        canvas = latent.get("sora_canvas")  # a task's: its kept pixels go back in
        return (frames if canvas is None else canvas.finish_batch(frames),)
