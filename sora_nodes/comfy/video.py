"""Video files: load frames (or a still image) from the input folder, save H.264 MP4s that carry their workflow."""

from __future__ import annotations

import torch

from ..families.cache import file_fingerprint
from ..families.defaults import SORA
from ..graph.host import IMAGE_EXTENSIONS, current_host
from ..io.output_files import resolve_prefix, save_new_file
from ..io.video import read_video
from ..provenance.signed_video import graph_prompt_text, write_signed_video
from .sockets import SoraNode, socket, validation

FORMATS = {"video/h264-mp4": ".mp4"}
# A still image has no frame rate (PyAV's image reader claims 25); give the default model's own.
IMAGE_FPS = 8.0


class SoraLoadVideo(SoraNode):
    DESCRIPTION = (
        "Loads a video file from ComfyUI's input folder as frames (upload with the button); "
        "a still image loads as a 1-frame video, e.g. for image-to-video."
    )
    FUNCTION = "load"
    OUTPUTS = (
        ("IMAGE", "frames", "The frames [T, H, W, 3] in 0..1; one frame for a still image."),
        ("FLOAT", "fps", f"The file's frame rate ({IMAGE_FPS:g} for a still image)."),
    )

    @classmethod
    def INPUT_TYPES(cls):  # the input folder's files, listed afresh each time ComfyUI asks
        return {
            "required": {
                "video": socket(
                    current_host().input_names(),
                    "A video in the input folder (mp4, webm, mkv, mov...), or a still image (png, jpg, webp, "
                    "bmp) as one frame. The button uploads videos; put images in the input folder or "
                    "upload them with Load Image.",
                    video_upload=True,
                )
            }
        }

    @classmethod
    def IS_CHANGED(cls, video):
        return file_fingerprint(current_host().input_path(video))

    @classmethod
    def VALIDATE_INPUTS(cls, video):
        return validation(lambda: current_host().input_path(video))

    def load(self, video):
        path = current_host().input_path(video)
        frames, fps = read_video(path)
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return (frames[:1], IMAGE_FPS)
        return (frames, fps)


class SoraSaveVideo(SoraNode):
    DESCRIPTION = "Saves frames as an H.264 MP4 in the output folder; drag the file into ComfyUI to get the graph back."
    OUTPUT_NODE = True
    FUNCTION = "save"
    REQUIRED = {
        "frames": socket("IMAGE", "The frames to save [T, H, W, 3]."),
        "fps": socket("FLOAT", "Playback frame rate.", default=SORA.fps, min=0.01, max=240.0, step=1.0),
        "filename_prefix": socket(
            "STRING",
            "File name, optionally with subfolders inside the output "
            "folder; a counter is added and no file is ever overwritten.",
            default="sora/video",
        ),
        "format": socket(list(FORMATS), "Container and codec: H.264 in MP4, playable in every browser."),
    }
    OPTIONAL = {
        "c2pa_sign": socket(
            "BOOLEAN", "Sign the MP4 with a C2PA manifest saying a trained model made it.", default=True
        ),
        "c2pa_include_prompt": socket(
            "BOOLEAN", "Also put the graph's prompt texts in the signed manifest.", default=False
        ),
        "watermark": socket(
            "BOOLEAN",
            "Hide an invisible mark that survives H.264 in every frame (about 40 dB PSNR; frames under "
            "64x64 are saved without it). `sora verify` reads it back.",
            default=True,
        ),
    }
    HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix):
        return validation(lambda: resolve_prefix(current_host().output_dir(), filename_prefix))

    def save(
        self,
        frames: torch.Tensor,
        fps,
        filename_prefix,
        format,
        c2pa_sign=True,
        c2pa_include_prompt=False,
        watermark=True,
        prompt=None,
        extra_pnginfo=None,
    ):
        host = current_host()
        workflow = (extra_pnginfo or {}).get("workflow")
        text = graph_prompt_text(prompt) if c2pa_include_prompt else None
        path = save_new_file(
            host.output_dir(),
            filename_prefix,
            FORMATS[format],
            lambda target: write_signed_video(
                target,
                frames,
                fps,
                sign=c2pa_sign,
                watermark=watermark,
                manifest_prompt=text,
                prompt=prompt,
                workflow=workflow,
            ),
        )
        subfolder = path.parent.relative_to(host.output_dir().resolve()).as_posix()
        entry = {"filename": path.name, "subfolder": "" if subfolder == "." else subfolder, "type": "output"}
        return {"ui": {"images": [entry], "animated": [True]}}
