from __future__ import annotations

import json
from fractions import Fraction

import pytest
import torch

from sora_nodes.errors import ShapeError, SoraError
from sora_nodes.io.atomic import atomic_path
from sora_nodes.io.video import read_video, read_video_tags, write_video

RED, GREEN, BLUE, YELLOW = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0)


def quadrants(t: int = 6, h: int = 32, w: int = 48) -> torch.Tensor:
    """Four flat colour blocks plus a brightness ramp over time: [T, H, W, 3] in 0..1."""
    x = torch.zeros(t, h, w, 3)
    x[:, : h // 2, : w // 2] = torch.tensor(RED)
    x[:, : h // 2, w // 2 :] = torch.tensor(GREEN)
    x[:, h // 2 :, : w // 2] = torch.tensor(BLUE)
    x[:, h // 2 :, w // 2 :] = torch.tensor(YELLOW)
    return x * torch.linspace(0.4, 1.0, t)[:, None, None, None]


def test_round_trip_keeps_shape_fps_and_colours(tmp_path):
    clip = quadrants()
    path = write_video(tmp_path / "clip.mp4", clip, fps=8)
    assert path == tmp_path / "clip.mp4"

    video, fps = read_video(path)
    assert video.dtype == torch.float32 and video.shape == clip.shape
    assert fps == 8.0
    assert (video - clip).abs().mean() < 0.02
    # Block centres: channel order must be RGB (a BGR slip swaps red and blue).
    for (y, x), colour in {(8, 12): RED, (8, 36): GREEN, (24, 12): BLUE, (24, 36): YELLOW}.items():
        assert torch.allclose(video[-1, y, x], torch.tensor(colour), atol=0.05), (colour, video[-1, y, x])
    # The brightness ramp over time survives, so frames are in order.
    means = video.mean(dim=(1, 2, 3))
    assert torch.all(means[1:] > means[:-1])


def drifting_blob(t: int = 17, h: int = 64, w: int = 112) -> torch.Tensor:
    """A soft blob crossing a gradient with light grain, like a render: [T, H, W, 3] in 0..1."""
    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    frames = []
    for i in range(t):
        cx, cy = 20 + 4 * i, 30 + 10 * torch.sin(torch.tensor(i / 3.0))
        blob = torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 120.0)
        background = torch.stack([x / w, y / h, 0.5 + 0 * x], -1) * 0.6
        grain = 0.03 * torch.rand(h, w, 3, generator=g)
        frames.append(background + blob[..., None] * torch.tensor([0.9, 0.2, 0.1]) + grain)
    return torch.stack(frames).clamp(0, 1)


def test_the_same_frames_always_encode_to_the_same_video(tmp_path):
    # x264's macroblock tree gave 8 different videos in 12 encodes of this clip (issue 14), so a
    # graph stored in a render could not reproduce it.
    clip = drifting_blob()
    videos = [read_video(write_video(tmp_path / f"{i}.mp4", clip, 8))[0] for i in range(12)]
    assert all(torch.equal(videos[0], v) for v in videos[1:])
    assert (videos[0] - clip).abs().mean() < 0.02


def test_uint8_numpy_and_float_torch_give_the_same_video(tmp_path):
    clip = quadrants(t=3)
    as_uint8 = (clip * 255).round().to(torch.uint8).numpy()
    a, _ = read_video(write_video(tmp_path / "a.mp4", clip, 10, crf=0))
    b, _ = read_video(write_video(tmp_path / "b.mp4", as_uint8, 10, crf=0))
    assert torch.equal(a, b)


def test_out_of_range_and_nan_values_are_clamped(tmp_path):
    clip = quadrants(t=2) * 3 - 1  # values in -1..2
    clip[0, 0, 0, 0] = float("nan")
    video, _ = read_video(write_video(tmp_path / "c.mp4", clip, 10))
    assert video.min() >= 0 and video.max() <= 1
    assert torch.isfinite(video).all()


@pytest.mark.parametrize("fps", [30000 / 1001, Fraction(24000, 1001), 12.5])
def test_fractional_fps(tmp_path, fps):
    _, read_fps = read_video(write_video(tmp_path / "f.mp4", quadrants(t=4), fps))
    assert read_fps == pytest.approx(float(fps), abs=1e-6)


def test_prompt_and_workflow_are_stored_as_comfyui_json_tags(tmp_path):
    prompt = {"3": {"class_type": "SoraSampler", "inputs": {"seed": 7, "text": "a red circle ✓"}}}
    workflow = {"last_node_id": 3, "nodes": [{"id": 3, "type": "SoraSampler"}]}
    path = write_video(tmp_path / "w.mp4", quadrants(t=2), 8, prompt=prompt, workflow=workflow)
    tags = read_video_tags(path)
    assert json.loads(tags["prompt"]) == prompt
    assert json.loads(tags["workflow"]) == workflow
    # The ComfyUI frontend reads them from the moov/udta/meta `keys` box, in the `mdta` namespace
    # that movflags=use_metadata_tags produces (the plain mp4 muxer drops unknown tags).
    raw = path.read_bytes()
    assert b"mdtaworkflow" in raw and b"mdtaprompt" in raw


def test_json_text_is_stored_verbatim_and_plain_text_is_rejected(tmp_path):
    text = '{"nodes": [], "version": 0.4}'
    tags = read_video_tags(write_video(tmp_path / "j.mp4", quadrants(t=2), 8, workflow=text))
    assert tags["workflow"] == text
    assert "prompt" not in tags
    with pytest.raises(SoraError, match="dict or JSON text"):
        write_video(tmp_path / "k.mp4", quadrants(t=2), 8, prompt="a red circle")


@pytest.mark.parametrize(
    "frames, match",
    [
        (torch.zeros(4, 16, 16), r"\[T, H, W, 3\]"),
        (torch.zeros(4, 16, 16, 4), r"\[T, H, W, 3\]"),
        (torch.zeros(0, 16, 16, 3), "empty"),
        (torch.zeros(2, 15, 16, 3), "even width and height.*16x16"),
        (torch.zeros(2, 16, 17, 3), "even width and height.*18x16"),
        (torch.zeros(2, 16, 16, 3, dtype=torch.int64), "float in 0..1 or uint8"),
        ([[[[0.0, 0.0, 0.0]]]], "torch tensor or numpy array"),
    ],
)
def test_bad_frames_raise_clear_errors(tmp_path, frames, match):
    with pytest.raises(SoraError, match=match):
        write_video(tmp_path / "bad.mp4", frames, 8)
    assert list(tmp_path.iterdir()) == []


def test_odd_size_is_a_shape_error(tmp_path):
    with pytest.raises(ShapeError, match="yuv420p"):
        write_video(tmp_path / "odd.mp4", torch.zeros(1, 9, 9, 3), 8)


@pytest.mark.parametrize("fps", [0, -5, float("nan"), float("inf"), "24"])
def test_bad_fps_raises(tmp_path, fps):
    with pytest.raises(SoraError, match="fps must be"):
        write_video(tmp_path / "bad.mp4", quadrants(t=1), fps)


def test_bad_crf_raises(tmp_path):
    with pytest.raises(SoraError, match="crf must be"):
        write_video(tmp_path / "bad.mp4", quadrants(t=1), 8, crf=60)


def test_reading_missing_or_non_video_files_raises(tmp_path):
    with pytest.raises(SoraError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    with pytest.raises(SoraError, match="not found"):
        read_video_tags(tmp_path)
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is a text file, not a video\n")
    with pytest.raises(SoraError, match="not a readable video"):
        read_video(fake)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SoraError, match="not a readable video"):
        read_video_tags(empty)


def test_overwrite_replaces_the_file_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out" / "clip.mp4"  # missing folders are created
    write_video(path, quadrants(t=2), 8)
    write_video(path, quadrants(t=5), 8)
    assert read_video(path)[0].shape[0] == 5
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.mp4"]


def test_failed_write_leaves_the_previous_file(tmp_path):
    path = write_video(tmp_path / "clip.mp4", quadrants(t=3), 8)
    before = path.read_bytes()
    with pytest.raises(SoraError):
        write_video(path, torch.zeros(2, 16, 15, 3), 8)
    assert path.read_bytes() == before


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_atomic_path_removes_the_temp_file_on_interrupt(tmp_path, error):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"previous")
    with pytest.raises(error), atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".clip.mp4.") and tmp.suffix == ".mp4"
        write_video(tmp, quadrants(t=2), 8)  # a complete video, then the interrupt
        raise error()
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]

    fresh = tmp_path / "fresh.mp4"
    with pytest.raises(error), atomic_path(fresh) as tmp:
        tmp.write_bytes(b"half")
        raise error()
    assert not fresh.exists()
