"""Hostile video files (issue 21), made for real with PyAV: a decompression bomb, a stream whose header
does not say how long it is, a video that does not fit in memory, damaged metadata tags, and graphs too
large to store in a video's tags."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import pytest
import torch
from graph_files import copy_graph
from memory_limit import GIB, address_space_limit

from sora_nodes.cli import main
from sora_nodes.errors import ResourceError, ShapeError, SoraError
from sora_nodes.io.video import MAX_PIXELS, read_video, read_video_tags, write_video
from sora_nodes.io.video_tags import MARKER_KEY, MAX_TAG_BYTES

BOMB_SIDE, BOMB_FRAMES = 8192, 60


def blank_video(path: Path, side: int, frames: int, *, container: str = "mp4") -> Path:
    """`frames` black frames of side x side, H.264: a few hundred bytes a frame however large the frame."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "51"}
        frame = av.VideoFrame(side, side, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for i in range(frames):
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """The reported file: 60 frames of 8192x8192 in about 200 KB, 4 G pixels (48 GB as float frames)."""
    return blank_video(tmp_path_factory.mktemp("bomb") / "bomb.mp4", BOMB_SIDE, BOMB_FRAMES)


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding(bomb):
    assert bomb.stat().st_size < 400_000
    with address_space_limit(GIB), pytest.raises(ShapeError) as info:  # a full decode would need 48 GB
        read_video(bomb)
    message = str(info.value)
    assert f"{BOMB_SIDE}x{BOMB_SIDE} with {BOMB_FRAMES} frame(s)" in message and "4,027 M pixels" in message
    assert "stopped" not in message  # the header refused it, not the count while decoding
    assert "damaged" not in message and "ffmpeg" in message and "\n" not in message


def test_sora_run_refuses_the_bomb_as_an_input_video_in_one_line(bomb, tmp_path, capsys):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "bomb.mp4").write_bytes(bomb.read_bytes())
    graph = copy_graph(tmp_path, "bomb.mp4")
    with address_space_limit(2 * GIB):
        code = main(["run", str(graph), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "SoraLoadVideo" in err[0] and "8192x8192 with 60 frame(s)" in err[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.mp4"))


def test_sora_verify_reads_no_watermark_from_frames_that_large_and_still_reports(bomb):
    """Reading a watermark holds about 45 bytes per pixel of a frame: one 8192x8192 frame took 3 GB."""
    from sora_nodes.provenance import verify

    with address_space_limit(GIB):
        report = verify(bomb)
    assert not report["signed"] and report["errors"] == ["no C2PA manifest found"]
    assert not report["watermark"]["found"] and "8192x8192" in report["watermark"]["error"]


def test_decoding_stops_at_the_pixel_budget_when_the_header_gives_no_length(tmp_path):
    path = blank_video(tmp_path / "raw.h264", 64, 12, container="h264")
    with av.open(str(path)) as container:  # a raw H.264 stream has neither a frame count nor a duration
        stream = container.streams.video[0]
        assert stream.frames == 0 and stream.duration is None and container.duration is None
    with pytest.raises(ShapeError) as info:
        read_video(path, max_pixels=64 * 64 * 5)
    message = str(info.value)
    assert "stopped at frame 6 (64x64, 24,576 pixels so far)" in message and "20,480 pixels" in message
    assert read_video(path, max_pixels=64 * 64 * 12)[0].shape == (12, 64, 64, 3)  # the budget, not the file


def test_a_video_within_budget_that_does_not_fit_in_memory_names_its_size_not_damage(tmp_path):
    """48 frames of 2048x2048 (201 M pixels, under the budget) need 2.4 GB as float frames; the process may
    grow by only 1.5 GiB."""
    path = blank_video(tmp_path / "big.mp4", 2048, 48)
    assert 48 * 2048 * 2048 <= MAX_PIXELS
    with address_space_limit(GIB + GIB // 2), pytest.raises(ResourceError) as info:
        read_video(path)
    message = str(info.value)
    # decoding fails at the cap; a machine with under 3 GB free refuses from the header's figures first
    assert "ran out of memory" in message or "of memory is free" in message
    assert "2048x2048" in message and "damaged" not in message


def test_damaged_metadata_tags_are_named_and_the_frames_still_load(tmp_path):
    frames = torch.linspace(0, 1, 5 * 32 * 32 * 3).reshape(5, 32, 32, 3)
    path = write_video(tmp_path / "tagged.mp4", frames, 8.0, prompt={"1": {"inputs": {"text": "hello world"}}})
    data = bytearray(path.read_bytes())
    data[data.index(b"hello world")] = 0xFF  # no longer UTF-8: PyAV raised UnicodeDecodeError opening it
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with pytest.raises(SoraError, match=r"damaged metadata tags \(not UTF-8 text\)") as info:
        read_video_tags(damaged)
    assert "\n" not in str(info.value)
    assert torch.equal(read_video(damaged)[0], read_video(path)[0])  # frames do not depend on the tags


# ------------------------------------------------------------------ the graphs a video stores


def ui_graph(text: str, nodes: int = 1) -> dict:
    return {
        "nodes": [{"id": i, "type": "SoraTextPrompt", "widgets_values": [text]} for i in range(nodes)],
        "links": [],
    }


def tiny_clip() -> torch.Tensor:
    return torch.zeros(2, 16, 16, 3)


def test_a_50_mb_widget_value_is_cut_and_the_stored_workflow_still_loads_as_a_graph(tmp_path, caplog):
    huge = "x" * 50_000_000
    prompt = {"1": {"class_type": "SoraTextPrompt", "inputs": {"text": "a red circle"}}}
    with caplog.at_level(logging.WARNING):
        path = write_video(tmp_path / "big.mp4", tiny_clip(), 8.0, workflow=ui_graph(huge), prompt=prompt)
    assert path.stat().st_size < MAX_TAG_BYTES["workflow"] + 50_000  # not 50 MB
    stored = json.loads(read_video_tags(path)["workflow"])
    assert stored["nodes"][0]["widgets_values"] == ["[cut by sora-nodes: 50000000 characters]"]
    assert stored["nodes"][0]["type"] == "SoraTextPrompt" and stored["links"] == []
    assert json.loads(read_video_tags(path)["prompt"]) == prompt  # the small tag is untouched
    assert any("the workflow is 50.0 MB" in r.getMessage() and "256 KiB" in r.getMessage() for r in caplog.records)


def test_a_graph_too_large_even_when_cut_is_replaced_by_a_marker_that_says_so(tmp_path, caplog):
    many = ui_graph("a short prompt text", nodes=20_000)  # 1 MB of nodes, no long value to cut
    with caplog.at_level(logging.WARNING):
        path = write_video(tmp_path / "many.mp4", tiny_clip(), 8.0, prompt=many["nodes"])
    stored = json.loads(read_video_tags(path)["prompt"])
    assert list(stored) == [MARKER_KEY] and "was larger than the 262144 bytes" in stored[MARKER_KEY]
    assert any("stores a marker in its place" in r.getMessage() for r in caplog.records)


def test_a_graph_within_the_cap_is_stored_exactly_as_given(tmp_path):
    text = json.dumps(ui_graph("y" * 100_000), indent=2)  # 100 KB: under the cap, kept byte for byte
    path = write_video(tmp_path / "ok.mp4", tiny_clip(), 8.0, workflow=text)
    assert read_video_tags(path)["workflow"] == text


def test_a_huge_prompt_text_is_cut_in_the_signed_manifest(tmp_path, caplog):
    from sora_nodes.provenance import verify
    from sora_nodes.provenance.sign import MAX_PROMPT_CHARS
    from sora_nodes.provenance.signed_video import write_signed_video

    text = "a red circle " * 100_000  # 1.3 M characters
    with caplog.at_level(logging.WARNING):
        path = write_signed_video(tmp_path / "p.mp4", tiny_clip(), 8.0, watermark=False, manifest_prompt=text)
    assert path.stat().st_size < MAX_PROMPT_CHARS + 50_000
    report = verify(path)
    assert report["valid"]
    stored = report["claims"]["prompt"]
    assert stored == text[:MAX_PROMPT_CHARS] + " [cut by sora-nodes: 1300000 characters]"
    assert any("the C2PA manifest keeps the first 65536" in r.getMessage() for r in caplog.records)
