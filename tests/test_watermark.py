"""Invisible watermark on real MP4s: embed, H.264 at CRF 23 through PyAV, read back by vote; verify()."""

import math

import pytest
import torch

from sora_nodes.errors import SoraError
from sora_nodes.io.video import write_video
from sora_nodes.provenance import sign_video, verify
from sora_nodes.provenance.watermark import (
    MAX_BIT_ERRORS,
    PAYLOAD,
    embed_watermark,
    frame_bits,
    read_watermark,
    read_watermark_file,
)
from sora_nodes.world import make_clip

CRF = 23  # harsher than write_video's default of 18
PSNR_FLOOR = 38.5  # dB per clip; the design cost is 40.2 dB


def world(seed, width=64, height=64, frames=17):
    return torch.from_numpy(make_clip(seed, width=width, height=height, frames=frames).frames).float() / 255.0


def psnr(a, b):
    return 10 * math.log10(1.0 / float(((a.double() - b.double()) ** 2).mean()))


@pytest.mark.parametrize(("width", "height", "frames"), [(64, 64, 17), (64, 112, 33), (1280, 720, 3)])
def test_mark_survives_h264_crf23_and_is_read_back_by_vote(tmp_path, width, height, frames):
    clip = world(3, width, height, frames)
    path = write_video(tmp_path / "marked.mp4", embed_watermark(clip), 8.0, crf=CRF)
    reading = read_watermark_file(path)
    assert reading.found and reading.bits == PAYLOAD and reading.bit_errors == 0
    assert reading.frames_used == frames and reading.confidence > 0.8
    assert reading.to_dict()["found"] is True

    assert read_watermark_file(path, max_frames=2).frames_used == 2


def test_a_one_frame_video_carries_the_whole_mark(tmp_path):
    still = world(5)[8:9]
    path = write_video(tmp_path / "still.mp4", embed_watermark(still), 8.0, crf=CRF)
    reading = read_watermark_file(path)
    assert reading.found and reading.frames_used == 1 and reading.bit_errors <= MAX_BIT_ERRORS


def test_unmarked_videos_read_not_found(tmp_path):
    g = torch.Generator().manual_seed(0)
    videos = {
        "world": world(11),
        "wide world": world(12, 112, 64),
        "noise": torch.rand(9, 64, 64, 3, generator=g),
        "flat grey": torch.full((5, 64, 64, 3), 0.5),
        "black": torch.zeros(3, 64, 64, 3),
    }
    for name, frames in videos.items():
        reading = read_watermark_file(write_video(tmp_path / "plain.mp4", frames, 8.0, crf=CRF))
        assert not reading.found, name
        assert reading.bit_errors > MAX_BIT_ERRORS, name


def test_the_mark_costs_little_and_keeps_shape_dtype_and_range():
    for seed, (width, height) in enumerate([(64, 64), (112, 64), (256, 256)]):
        clip = world(seed, width, height, 5)
        marked = embed_watermark(clip)
        assert marked.shape == clip.shape and marked.dtype == clip.dtype
        assert float(marked.min()) >= 0.0 and float(marked.max()) <= 1.0
        eight_bit = (marked * 255).round() / 255
        assert psnr(clip, eight_bit) >= PSNR_FLOOR, (width, height)
        # The change is grey: it never tints, so R, G and B move together.
        change = marked - clip
        assert torch.allclose(change[..., 0], change[..., 1], atol=1e-5)
        # Every frame carries every bit, before any encoding.
        assert (frame_bits(eight_bit) == torch.tensor(PAYLOAD)).all()
    assert torch.equal(embed_watermark(clip), marked)  # deterministic
    assert torch.equal(embed_watermark(marked), marked)  # marking twice changes nothing
    assert embed_watermark(clip.double()).dtype == torch.float64


def test_frames_touching_black_and_white_are_still_marked():
    clip = world(7, frames=3)
    clip[:, :20] = 0.0
    clip[:, 44:] = 1.0
    reading = read_watermark((embed_watermark(clip) * 255).round() / 255)
    assert reading.found and reading.bit_errors == 0


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (torch.rand(64, 64, 3), "[T, H, W, 3]"),
        (torch.rand(2, 64, 64, 4), "drop any alpha"),
        (torch.rand(0, 64, 64, 3), "empty clip"),
        (torch.rand(2, 32, 64, 3), "at least 64x64"),
        (torch.zeros(2, 64, 64, 3, dtype=torch.uint8), "float frames"),
        ([[0.5]], "torch tensor"),
    ],
)
def test_bad_frames_get_a_one_line_error(frames, message):
    for function in (embed_watermark, read_watermark):
        with pytest.raises(SoraError) as error:
            function(frames)
        assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_files_get_a_one_line_error(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    for path, message in [(tmp_path / "missing.mp4", "not found"), (tmp_path / "notes.mp4", "not a readable video")]:
        with pytest.raises(SoraError, match=message) as error:
            read_watermark_file(path)
        assert "\n" not in str(error.value)
    small = write_video(tmp_path / "small.mp4", torch.rand(2, 32, 32, 3), 8.0)
    with pytest.raises(SoraError, match="at least 64x64"):
        read_watermark_file(small)
    with pytest.raises(SoraError, match="max_frames"):
        read_watermark_file(small, max_frames=0)


def test_verify_reports_the_watermark_beside_the_signature(tmp_path, monkeypatch):
    monkeypatch.setenv("SORA_CONFIG_DIR", str(tmp_path / "config"))
    clip = world(2)
    marked = sign_video(write_video(tmp_path / "marked.mp4", embed_watermark(clip), 8.0))
    plain = write_video(tmp_path / "plain.mp4", clip, 8.0)

    report = verify(marked)
    assert report["valid"] and report["trusted"]
    assert report["watermark"]["found"] and report["watermark"]["frames_used"] == 17

    report = verify(plain)
    assert not report["signed"] and report["watermark"]["found"] is False

    (tmp_path / "notes.mp4").write_text("not a video")
    report = verify(tmp_path / "notes.mp4")
    assert report["watermark"] == {"found": False, "error": report["watermark"]["error"]}
    assert "not a readable video" in report["watermark"]["error"]
