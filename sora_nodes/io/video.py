"""MP4 read/write with PyAV, carrying the ComfyUI workflow in the container tags.

ComfyUI's SaveVideo writes `prompt` and `workflow` as JSON text into MP4 tags (movflags
use_metadata_tags), and its frontend restores the graph from them when a video is dropped onto
the canvas. write_video does the same, so our videos load back into ComfyUI (each tag capped in size:
video_tags.py).

Reading treats the file as untrusted: its header's size and frame count are checked against a pixel
budget before anything is decoded, and the decoded pixels are counted against it again.
"""

from __future__ import annotations

import errno
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc

from ..errors import ResourceError, ShapeError, SoraError
from .atomic import atomic_path
from .device import available_bytes
from .video_tags import capped_tag

BT709 = 1  # AVColorSpace value; PyAV takes the int for `colorspace` and `dst_colorspace`
# The most pixels (frames x height x width) one video input may decode: 268 M, e.g. 129 frames of 1080p or
# 1024 of 512x512, 3.2 GB as float32 frames. A header can promise far more than its file holds (a 200 KB
# MP4 of 60 blank 8192x8192 frames is 4 G pixels, 48 GB as frames), so the budget is checked on the header
# before decoding and counted again while decoding.
MAX_PIXELS = 1 << 28
BYTES_PER_PIXEL = 15  # a decoded uint8 RGB frame (3) and the float32 clip it is copied into (12)
SCALE_HINT = "trim or scale it down first, e.g. ffmpeg -i IN -vf scale=512:-2 -frames:v 64 OUT.mp4"


def check_image_layout(frames: Any, what: str = "frames") -> None:
    """Refuse anything but frames [T, H, W, 3] (the IMAGE layout: RGB, channels last), saying how to get there."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ShapeError(
            f"{what} must be [T, H, W, 3] (the IMAGE layout: RGB, channels last), got {list(frames.shape)}; "
            "add a time axis for a single image (x[None]) and drop any alpha channel"
        )


def _to_uint8(frames: Any) -> np.ndarray:
    """torch/numpy [T, H, W, 3], float in 0..1 or uint8 -> contiguous uint8 numpy."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu()
        if frames.dtype == torch.bfloat16:  # numpy has no bfloat16
            frames = frames.float()
        frames = frames.numpy()
    if not isinstance(frames, np.ndarray):
        raise SoraError(f"frames must be a torch tensor or numpy array [T, H, W, 3], got {type(frames).__name__}")
    check_image_layout(frames)
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
        tags["prompt"] = capped_tag("prompt", prompt)
    if workflow is not None:
        tags["workflow"] = capped_tag("workflow", workflow)

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


def _open(path: str | os.PathLike, *, strict_tags: bool = False) -> av.container.InputContainer:
    """Open a video for reading. Frames do not need the tags, so a damaged (non-UTF-8) tag is read with
    replacement characters unless `strict_tags`, where it is an error that says so."""
    path = Path(path)
    if not path.is_file():
        raise SoraError(f"video file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        return av.open(str(path), mode="r", metadata_errors="strict" if strict_tags else "replace")
    except av.error.FFmpegError as e:
        raise SoraError(
            f"{path} is not a readable video file ({e.strerror}); use an MP4, WebM, MKV, MOV or GIF"
        ) from None
    except UnicodeDecodeError:
        raise SoraError(
            f"{path} has damaged metadata tags (not UTF-8 text), so the workflow it stores cannot be read; "
            "its frames may still load, but save the graph again from its source"
        ) from None


def _declared_frames(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> int | None:
    """The frame count the header promises: its frame count, else its duration times its rate (None: unknown,
    as in a raw H.264 stream)."""
    if stream.frames:
        return stream.frames
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    else:
        seconds = container.duration / av.time_base if container.duration else 0.0
    return max(1, round(seconds * float(rate))) if rate and seconds > 0 else None


def _pixels(n: int) -> str:
    return f"{n / 1e6:,.0f} M pixels" if n >= 10_000_000 else f"{n:,} pixels"


def _too_many_pixels(path, width: int, height: int, frames: int, max_pixels: int, *, stopped: bool) -> ShapeError:
    pixels = width * height * frames
    said = (
        f"decoding {path} stopped at frame {frames} ({width}x{height}, {_pixels(pixels)} so far)"
        if stopped
        else f"{path} is {width}x{height} with {frames} frame(s) ({_pixels(pixels)})"
    )
    return ShapeError(
        f"{said}: more than the {_pixels(max_pixels)} (about {max_pixels * 12 / 2**30:.2g} GiB as float frames) "
        f"decoded from one file; {SCALE_HINT}"
    )


def video_stream(
    container: av.container.InputContainer, path, *, max_pixels: int = MAX_PIXELS, max_frames: int | None = None
) -> av.video.stream.VideoStream:
    """The first video stream, once its header (size and frame count, of which only `max_frames` will be
    decoded) fits the pixel budget and the free memory: nothing is decoded before this says yes."""
    if not container.streams.video:
        raise SoraError(f"{path} has no video stream (streams: {[s.type for s in container.streams]})")
    stream = container.streams.video[0]
    if stream.codec_context is None:  # a codec id this FFmpeg does not know: damaged, or an exotic codec
        raise SoraError(f"{path} has a video stream in a codec that cannot be decoded here; re-export it as H.264 MP4")
    width, height = stream.codec_context.width, stream.codec_context.height
    declared = _declared_frames(stream, container)
    frames = min(declared or 1, max_frames or declared or 1)
    if width * height * frames > max_pixels:
        raise _too_many_pixels(path, width, height, frames, max_pixels, stopped=False)
    need = width * height * frames * BYTES_PER_PIXEL
    free = available_bytes(torch.device("cpu"))
    if need > free:
        raise ResourceError(
            f"{path} is {width}x{height} with {frames} frame(s): decoding it needs about {need / 2**30:.1f} GiB, "
            f"but only {free / 2**30:.1f} GiB of memory is free; {SCALE_HINT}"
        )
    return stream


def read_video(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> tuple[torch.Tensor, float]:
    """Decode the first video stream of any PyAV-readable file to float32 [T, H, W, 3] in 0..1, plus its fps.

    fps is 0.0 only when the file declares no frame rate at all. A video larger than `max_pixels`
    (frames x height x width) is refused from its header, or where the header does not say, as soon as
    decoding passes the budget.
    """
    frames: list[np.ndarray | None] = []
    with _open(path) as container:
        stream = video_stream(container, path, max_pixels=max_pixels)
        size = f"{stream.codec_context.width}x{stream.codec_context.height}"
        decoded = 0
        try:
            for frame in container.decode(stream):
                decoded += frame.width * frame.height
                if decoded > max_pixels:
                    raise _too_many_pixels(path, frame.width, frame.height, len(frames) + 1, max_pixels, stopped=True)
                frames.append(frame.to_ndarray(format="rgb24"))  # [H, W, 3] uint8
        except av.error.FFmpegError as e:
            if e.errno == errno.ENOMEM:
                raise _out_of_memory(path, size, len(frames)) from None
            raise SoraError(
                f"{path} is damaged and could not be decoded ({e.strerror}); re-export or re-download it"
            ) from None
        except MemoryError:
            raise _out_of_memory(path, size, len(frames)) from None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not frames:
        raise SoraError(f"{path} has a video stream but no decodable frames")
    if len({f.shape for f in frames}) > 1:
        raise ShapeError(f"{path} changes resolution mid-stream; re-encode it at one size first")
    # Frame by frame into the float clip, dropping each uint8 frame once copied: 15 bytes a pixel at the peak,
    # not the 18 of stacking them all first.
    try:
        video = torch.empty((len(frames), *frames[0].shape), dtype=torch.float32)  # [T, H, W, 3]
    except (MemoryError, RuntimeError):  # torch reports a failed allocation as a RuntimeError
        raise _out_of_memory(path, size, len(frames)) from None
    for i in range(len(frames)):
        video[i] = torch.from_numpy(frames[i])
        frames[i] = None
    return video.div_(255.0), float(rate) if rate else 0.0


def _out_of_memory(path, size: str, decoded: int) -> ResourceError:
    return ResourceError(
        f"decoding {path} ({size}, {decoded} frame(s) so far) ran out of memory; {SCALE_HINT}, or close other programs"
    )


def read_video_tags(path: str | os.PathLike) -> dict[str, str]:
    """The container's metadata tags (e.g. "prompt" and "workflow" as JSON text); damaged tags are an error."""
    with _open(path, strict_tags=True) as container:
        return dict(container.metadata)
