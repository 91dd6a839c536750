"""Invisible watermark: a fixed 32-bit sora-nodes payload hidden in the luma of every frame.

Method: spread-transform dither modulation (STDM). The low-frequency band of each frame's luma
DCT (the part H.264 keeps) is split by a fixed key into 32 disjoint sets of coefficients, one per
bit. Each bit's set, with keyed random signs, is a unit vector p_b; the projection of the luma
onto p_b is moved to the nearest point of a keyed lattice (step DELTA) shifted by half a step for
a 1 bit. The reader measures the same projections and asks which lattice each lies closer to.
Quantising instead of adding a pattern makes the reading blind to the picture itself, which is
what lets a 64x64 frame carry all 32 bits on its own. The change is a grey (R=G=B) offset, so it
never shifts colours. Every frame carries the whole payload and the reader votes across frames.

invisible-watermark (imwatermark), the library Stable Diffusion uses, was measured first: it
refuses frames under 256x256, and at 64x64 its dwtDctSvd costs more (35.8 dB PSNR) and still
misreads bits after CRF 23 (0.947 per frame), while dwtDct reads only ~0.75 of bits even before
encoding on our flat-shaded frames (see sora_nodes/bench/watermark.py's docstring for the figures).

False positives: "found" needs the voted bits within MAX_BIT_ERRORS of the payload (16-bit magic,
version, CRC-8) and a mean vote margin of at least MIN_MARGIN. On an unmarked video the keyed
dither makes each voted bit a fair coin, so a chance match has probability
(1 + 32 + 496) / 2**32, about 1.2e-7. The margin test adds little on static video, whose frames
all vote alike, so the bound rests on the bit match.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..errors import ShapeError, SoraError
from ..io.video import check_image_layout

MAGIC = 0x534E  # "SN": sora-nodes
VERSION = 1
BITS = 32
KEY = 0x50A7_0001  # seeds the coefficient split, signs and dither; changing it orphans old marks
BAND = 0.125  # the band: the lowest eighth of DCT rows and columns (at least 8 each), without DC
# Lattice step per unit of sqrt(pixels), so the PSNR cost does not depend on the frame size:
# mean squared error is BITS * DELTA**2 / 12 per pixel, about 40.2 dB. Measured against a quarter
# band and smaller steps: lower bands survive H.264 better at the same cost, and 0.005 (41.8 dB)
# left up to 5 wrong bits in single frames at 64x64.
DELTA = 0.006
MIN_MARGIN = 0.5  # mean |vote| over bits; an intact mark votes near 1.0
MAX_BIT_ERRORS = 2  # voted bits that may differ from PAYLOAD: a one-frame video can lose a bit to H.264
# At 32x32 CRF 23 left 3-12 wrong bits in most frames: a mark there would not survive encoding.
MIN_SIDE = 64
MAX_FRAMES = 120  # read_watermark_file reads at most this many frames
# Reading holds about 45 bytes per pixel of the frame at hand (RGB, luma and projections in float32), and a
# 200 KB file can hold 60 frames of 8192x8192 (3 GB and 10 s for one frame). So one frame may have at most
# 16.8 M pixels (4096x4096; 4K is 8.3 M), and a file is read until 67 M pixels (32 frames of 1080p).
MAX_FRAME_PIXELS = 1 << 24
MAX_READ_PIXELS = 1 << 26
LUMA = (0.2126, 0.7152, 0.0722)  # BT.709, as video_io encodes
_REFINE = 8  # re-embedding passes that win back what clamping to [0, 1] took away (5 sufficed with 60% clipped)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _to_bits(data: bytes) -> tuple[int, ...]:
    return tuple((byte >> (7 - i)) & 1 for byte in data for i in range(8))


def _payload(version: int = VERSION) -> tuple[int, ...]:
    head = bytes([MAGIC >> 8, MAGIC & 0xFF, version])
    return _to_bits(head + bytes([_crc8(head)]))


PAYLOAD = _payload()


@dataclass(frozen=True)
class WatermarkReading:
    found: bool  # bits within MAX_BIT_ERRORS of PAYLOAD and confidence >= MIN_MARGIN
    bits: tuple[int, ...]  # the 32 voted bits
    bit_errors: int  # voted bits that differ from PAYLOAD; 0..32, about 16 for an unmarked video
    confidence: float  # mean |vote| over bits, 0 (coin flips) .. 1 (every frame sure)
    agreement: float  # fraction of (frame, bit) readings that agree with the voted bit
    frames_used: int

    def to_dict(self) -> dict:
        return {
            "found": self.found,
            "bit_errors": self.bit_errors,
            "confidence": round(self.confidence, 4),
            "agreement": round(self.agreement, 4),
            "frames_used": self.frames_used,
            "bits": "".join(map(str, self.bits)),
        }


@dataclass(frozen=True)
class _Key:
    rows: torch.Tensor  # [U, H] DCT-II rows
    cols: torch.Tensor  # [V, W]
    owner: torch.Tensor  # [U*V] which bit each band coefficient carries, -1 for DC
    signs: torch.Tensor  # [U*V] float, +-1/sqrt(set size); 0 for DC
    step: float
    dither: torch.Tensor  # [BITS] lattice offsets, in units of step


def _dct_rows(n: int, k: int) -> torch.Tensor:
    """The first k rows of the orthonormal DCT-II matrix of size n."""
    i = torch.arange(n, dtype=torch.float64)
    f = torch.arange(k, dtype=torch.float64)[:, None]
    rows = torch.cos(math.pi * (2 * i + 1) * f / (2 * n)) * math.sqrt(2.0 / n)
    rows[0] /= math.sqrt(2.0)
    return rows.float()


@lru_cache(maxsize=8)
def _key(height: int, width: int) -> _Key:
    u, v = max(8, math.ceil(height * BAND)), max(8, math.ceil(width * BAND))
    g = torch.Generator().manual_seed(KEY)
    owner = torch.empty(u * v, dtype=torch.long)
    owner[1:] = torch.randperm(u * v - 1, generator=g) % BITS  # index 0 is DC: brightness, left alone
    owner[0] = -1
    signs = torch.randint(0, 2, (u * v,), generator=g).float() * 2 - 1
    counts = torch.bincount(owner[1:], minlength=BITS).float()
    signs[1:] /= counts[owner[1:]].sqrt()
    signs[0] = 0.0
    dither = torch.rand(BITS, generator=g, dtype=torch.float64).float()
    step = DELTA * math.sqrt(height * width)
    return _Key(_dct_rows(height, u), _dct_rows(width, v), owner, signs, step, dither)


def _check(frames: torch.Tensor, what: str) -> None:
    if not isinstance(frames, torch.Tensor):
        raise SoraError(f"{what} needs a torch tensor [T, H, W, 3], got {type(frames).__name__}")
    check_image_layout(frames, what)
    t, h, w, _ = frames.shape
    if t == 0:
        raise ShapeError(f"{what} got an empty clip (0 frames); pass at least one frame")
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ShapeError(
            f"{what} needs frames of at least {MIN_SIDE}x{MIN_SIDE} pixels, got {w}x{h}: smaller frames cannot "
            "keep the watermark through H.264; render larger or turn the watermark off"
        )
    if not frames.is_floating_point():
        raise SoraError(f"{what} needs float frames in 0..1, got dtype {frames.dtype}; divide uint8 by 255")


def _luma(frames: torch.Tensor) -> torch.Tensor:
    return frames.float() @ torch.tensor(LUMA, device=frames.device)


def _projections(luma: torch.Tensor, key: _Key) -> torch.Tensor:
    """[T, H, W] luma -> [T, BITS] projections onto each bit's unit vector."""
    rows, cols = key.rows.to(luma.device), key.cols.to(luma.device)
    band = (rows @ luma @ cols.T).flatten(1) * key.signs.to(luma.device)  # [T, U*V]
    out = torch.zeros(luma.shape[0], BITS, device=luma.device)
    return out.index_add_(1, key.owner[1:].to(luma.device), band[:, 1:])


def _phase(projections: torch.Tensor, key: _Key) -> torch.Tensor:
    """Position of each projection within its lattice cell, in [0, 1): 0 is a 0 bit, 0.5 a 1 bit."""
    return torch.remainder(projections / key.step - key.dither.to(projections.device), 1.0)


def embed_watermark(frames: torch.Tensor) -> torch.Tensor:
    """Frames [T, H, W, 3] float 0..1 with the sora-nodes payload in every frame; same shape,
    dtype and device, clamped to [0, 1]. Deterministic: the same frames give the same output."""
    _check(frames, "embed_watermark")
    t, h, w, _ = frames.shape
    key = _key(h, w)
    device = frames.device
    rows, cols = key.rows.to(device), key.cols.to(device)
    bits = torch.tensor(PAYLOAD, dtype=torch.float32, device=device)
    signs, owner = key.signs.to(device), key.owner.to(device)
    dither = key.dither.to(device)
    out = torch.nan_to_num(frames.float(), nan=0.0).clamp(0.0, 1.0)  # as write_video treats NaN
    luma = _luma(out)
    # The lattice point nearest to the unmarked projection, for each frame and bit.
    cell = torch.round(_projections(luma, key) / key.step - dither - bits / 2)
    target = (cell + dither + bits / 2) * key.step
    for _ in range(_REFINE):
        move = target - _projections(luma, key)  # [T, BITS]
        if float(move.abs().max()) < 1e-3 * key.step:
            break
        coefficients = move[:, owner.clamp(min=0)] * signs  # [T, U*V]; DC has sign 0
        delta = rows.T @ coefficients.view(t, rows.shape[0], cols.shape[0]) @ cols  # [T, H, W]
        out = (out + delta[..., None]).clamp(0.0, 1.0)
        luma = _luma(out)
    return out.to(frames.dtype)


def _reading(phases: torch.Tensor) -> WatermarkReading:
    """Vote [T, BITS] lattice phases into one reading."""
    soft = torch.cos(2 * math.pi * phases.detach().cpu().double())  # +1: surely a 0 bit, -1: surely a 1 bit
    vote = soft.mean(0)
    bits = tuple(int(b) for b in (vote < 0).tolist())
    hard = (soft < 0).to(torch.int64)
    agreement = float((hard == torch.tensor(bits)).double().mean())
    confidence = float(vote.abs().mean())
    errors = sum(a != b for a, b in zip(bits, PAYLOAD, strict=True))
    found = errors <= MAX_BIT_ERRORS and confidence >= MIN_MARGIN
    return WatermarkReading(found, bits, errors, confidence, agreement, int(phases.shape[0]))


def frame_bits(frames: torch.Tensor) -> torch.Tensor:
    """The bits each frame reads on its own, before the vote: int64 [T, BITS]."""
    _check(frames, "frame_bits")
    key = _key(frames.shape[1], frames.shape[2])
    phases = _phase(_projections(_luma(frames.clamp(0.0, 1.0)), key), key)
    return (torch.cos(2 * math.pi * phases.detach().cpu().double()) < 0).to(torch.int64)


def read_watermark(frames: torch.Tensor) -> WatermarkReading:
    """Look for the sora-nodes payload in frames [T, H, W, 3] float 0..1, by a vote across frames."""
    _check(frames, "read_watermark")
    key = _key(frames.shape[1], frames.shape[2])
    return _reading(_phase(_projections(_luma(frames.clamp(0.0, 1.0)), key), key))


def read_watermark_file(path: str | os.PathLike, max_frames: int = MAX_FRAMES) -> WatermarkReading:
    """read_watermark on the first `max_frames` frames of a video file, decoded with PyAV one frame
    at a time so that long or large videos need no more memory than one frame."""
    import av

    from ..io.video import _open, video_stream

    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise SoraError(f"max_frames must be an integer >= 1, got {max_frames!r}")
    phases = []
    with _open(path) as container:
        if not container.streams.video:
            raise SoraError(f"{path} has no video stream, so it cannot carry a watermark")
        # Frames are read one at a time: the header's frame size is what is judged before decoding.
        stream = video_stream(container, path, max_frames=1, max_pixels=MAX_FRAME_PIXELS)
        decoded = 0
        try:
            for frame in container.decode(stream):
                # The vote needs a few frames, not all: large frames get fewer, and a frame larger than its
                # header said ends the reading.
                pixels = frame.width * frame.height
                decoded += pixels
                if pixels > MAX_FRAME_PIXELS and not phases:
                    raise ShapeError(
                        f"{path} has frames of {frame.width}x{frame.height}, more than the {MAX_FRAME_PIXELS:,} "
                        "pixels the watermark is read from"
                    )
                if pixels > MAX_FRAME_PIXELS or decoded > MAX_READ_PIXELS:
                    break
                rgb = torch.from_numpy(np.ascontiguousarray(frame.to_ndarray(format="rgb24"))).float() / 255.0
                _check(rgb[None], f"reading the watermark of {path}")
                key = _key(rgb.shape[0], rgb.shape[1])
                phases.append(_phase(_projections(_luma(rgb[None]), key), key))
                if len(phases) == max_frames:
                    break
        except av.error.FFmpegError as e:
            raise SoraError(f"{path} is damaged and could not be decoded ({e.strerror}); re-export it") from None
    if not phases:
        raise SoraError(f"{path} has a video stream but no decodable frames")
    return _reading(torch.cat(phases))
