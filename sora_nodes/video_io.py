"""MP4 read/write with PyAV, carrying the ComfyUI workflow in the container tags.

ComfyUI's SaveVideo writes `prompt` and `workflow` as JSON text into MP4 tags (movflags
use_metadata_tags), and its frontend restores the graph from them when a video is dropped onto
the canvas. write_video does the same, so our videos load back into ComfyUI.
"""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc

from .atomic import atomic_path
from .errors import ShapeError, SoraError

BT709 = 1  # AVColorSpace value; PyAV takes the int for `colorspace` and `dst_colorspace`


def _to_uint8(frames: Any) -> np.ndarray:
    """torch/numpy [T, H, W, 3], float in 0..1 or uint8 -> contiguous uint8 numpy."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu()
        if frames.dtype == torch.bfloat16:  # numpy has no bfloat16
            frames = frames.float()
        frames = frames.numpy()
    if not isinstance(frames, np.ndarray):
        raise SoraError(f"frames must be a torch tensor or numpy array [T, H, W, 3], got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ShapeError(
            f"frames must have shape [T, H, W, 3] (RGB, channels last), got {list(frames.shape)}; "
            "add a time axis for a single image (x[None]) and drop any alpha channel"
        )
    t, h, w, _ = frames.shape
    if t == 0 or h == 0 or w == 0:
        raise ShapeError(
            f"cannot write an empty clip: frames shape is {list(frames.shape)}; need at least one H x W frame"
        )
    if h % 2 or w % 2:
        raise ShapeError(
            f"H.264 yuv420p needs even width and height, got {w}x{h}; crop or pad to {w + w % 2}x{h + h % 2}"
        )
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames)
    if not np.issubdtype(frames.dtype, np.floating):
        raise SoraError(f"frames must be float in 0..1 or uint8 in 0..255, got dtype {frames.dtype}")
    frames = np.nan_to_num(frames.astype(np.float32), nan=0.0)
    return np.rint(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def _frame_rate(fps: float) -> Fraction:
    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)) or not math.isfinite(fps) or fps <= 0:
        raise SoraError(f"fps must be a finite number > 0, got {fps!r}")
    # 1001 keeps NTSC rates exact: 29.97002997 -> 30000/1001.
    return Fraction(fps).limit_denominator(1001)


def _tag_value(name: str, value: Any) -> str:
    """A dict/list becomes JSON text; a str must already be JSON text, as ComfyUI reads it back with JSON.parse."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            raise SoraError(
                f"{name} must be a dict or JSON text (ComfyUI parses this tag as JSON), got a plain string "
                f"starting {value[:40]!r}"
            ) from None
        return value
    try:
        return json.dumps(value)
    except TypeError as e:
        raise SoraError(f"{name} must be JSON-serialisable (dict, list, str, numbers): {e}") from None


def write_video(
    path: str | os.PathLike,
    frames: Any,
    fps: float,
    *,
    prompt: dict | str | None = None,
    workflow: dict | str | None = None,
    crf: int = 18,
) -> Path:
    """Encode [T, H, W, 3] frames to an H.264 yuv420p MP4 at `path`, atomically. Returns the path."""
    path = Path(path)
    pixels = _to_uint8(frames)  # [T, H, W, 3] uint8
    rate = _frame_rate(fps)
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise SoraError(f"crf must be an integer in 0..51 (0 = lossless, 18 = visually lossless), got {crf!r}")
    tags = {}
    if prompt is not None:
        tags["prompt"] = _tag_value("prompt", prompt)
    if workflow is not None:
        tags["workflow"] = _tag_value("workflow", workflow)

    _, h, w, _ = pixels.shape
    # Same options as ComfyUI's SaveVideo; faststart puts the index first so browsers can stream it.
    options = {"movflags": "use_metadata_tags+faststart"}
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4", options=options) as out:
        for key, value in tags.items():  # tags must be set before the first stream is added
            out.metadata[key] = value
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # x264's macroblock tree (mbtree) makes the same frames encode differently from run to run
        # (8 distinct videos in 12 encodes of one clip), so a stored graph could not reproduce its
        # video. Without it the bitstream is a function of the frames; clips are ~25 % larger at crf 18.
        stream.options = {"crf": str(crf), "x264-params": "no-mbtree=1"}
        stream.codec_context.time_base = 1 / rate
        # Tag BT.709 and convert with it, so players show the colours we wrote.
        _set_bt709(stream.codec_context)
        for i, rgb in enumerate(pixels):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace=BT709)
            _set_bt709(frame)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _set_bt709(target: Any) -> None:
    target.color_primaries = ColorPrimaries.BT709
    target.color_trc = ColorTrc.BT709
    target.colorspace = BT709
    target.color_range = ColorRange.MPEG


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    path = Path(path)
    if not path.is_file():
        raise SoraError(f"video file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as e:
        raise SoraError(
            f"{path} is not a readable video file ({e.strerror}); use an MP4, WebM, MKV, MOV or GIF"
        ) from None


def read_video(path: str | os.PathLike) -> tuple[torch.Tensor, float]:
    """Decode the first video stream of any PyAV-readable file to float32 [T, H, W, 3] in 0..1, plus its fps.

    fps is 0.0 only when the file declares no frame rate at all.
    """
    with _open(path) as container:
        if not container.streams.video:
            raise SoraError(f"{path} has no video stream (streams: {[s.type for s in container.streams]})")
        stream = container.streams.video[0]
        try:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]  # each [H, W, 3] uint8
        except av.error.FFmpegError as e:
            raise SoraError(
                f"{path} is damaged and could not be decoded ({e.strerror}); re-export or re-download it"
            ) from None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not frames:
        raise SoraError(f"{path} has a video stream but no decodable frames")
    if len({f.shape for f in frames}) > 1:
        raise ShapeError(f"{path} changes resolution mid-stream; re-encode it at one size first")
    video = torch.from_numpy(np.stack(frames)).float().div_(255.0)  # [T, H, W, 3]
    return video, float(rate) if rate else 0.0


def read_video_tags(path: str | os.PathLike) -> dict[str, str]:
    """The container's metadata tags (e.g. "prompt" and "workflow" as JSON text)."""
    with _open(path) as container:
        return dict(container.metadata)
