"""Signed videos with flipped bytes (issue 21), signed for real with the repo's own provenance code: a byte
changed in the metadata tags or inside the C2PA manifest makes the file INVALID, with the failed check
named; it is never a traceback and never "unsigned"."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sora_nodes.cli import main
from sora_nodes.errors import SoraError
from sora_nodes.io.video import read_video, read_video_tags, write_video
from sora_nodes.provenance import verify
from sora_nodes.provenance.signed_video import write_signed_video

FLIPS = settings(
    deadline=None, derandomize=True, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def boxes(data: bytes, start: int, end: int) -> dict[str, tuple[int, int]]:
    """MP4 box type -> (box start, box end), for the boxes directly inside data[start:end]."""
    found, pos = {}, start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        size = {0: end - pos, 1: struct.unpack(">Q", data[pos + 8 : pos + 16])[0]}.get(size, size)
        found.setdefault(kind.decode("latin-1"), (pos, pos + size))
        pos += size
    return found


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """A signed, watermarked 64x64 clip with a prompt and a workflow in its tags; its bytes and where its
    manifest box ("manifest") and its metadata tags ("tags": moov/udta/meta) lie."""
    frames = torch.linspace(0, 1, 9 * 64 * 64 * 3).reshape(9, 64, 64, 3)
    graph = {"1": {"class_type": "SoraTextPrompt", "inputs": {"text": "hello world"}}}
    path = tmp_path_factory.mktemp("signed") / "clip.mp4"
    data = write_signed_video(path, frames, 8.0, prompt=graph, workflow=graph).read_bytes()
    top = boxes(data, 0, len(data))
    moov = top["moov"]
    udta = boxes(data, moov[0] + 8, moov[1])["udta"]
    meta = boxes(data, udta[0] + 8, udta[1])["meta"]
    return data, {"manifest": top["uuid"], "tags": meta}


def flipped_somewhere_in(tmp_path: Path, signed: tuple, region: str, data) -> Path:
    """The signed clip with one byte of `region` changed, the offset and the XOR drawn by hypothesis."""
    original, regions = signed
    start, end = regions[region]
    at = data.draw(st.integers(start, end - 1), label="offset")
    return flipped(tmp_path, original, at, data.draw(st.integers(1, 255), label="xor"))


def flipped(tmp_path: Path, data: bytes, at: int, xor: int = 0xFF) -> Path:
    changed = bytearray(data)
    changed[at] ^= xor
    path = tmp_path / "flipped.mp4"
    path.write_bytes(bytes(changed))
    return path


def sora_verify(path: Path, capsys) -> tuple[int, list[str], str]:
    code = main(["verify", str(path)])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_the_untouched_file_is_valid_and_its_regions_are_where_the_tests_flip(signed, tmp_path):
    data, regions = signed
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    assert verify(path)["valid"]
    assert b"hello world" in data[slice(*regions["tags"])] and b"jumd" in data[slice(*regions["manifest"])]


def test_a_byte_flipped_in_a_metadata_tag_is_invalid_in_one_report_and_the_frames_still_load(signed, tmp_path, capsys):
    """The reported case: the tag is no longer UTF-8, which made PyAV raise UnicodeDecodeError."""
    data, _ = signed
    path = flipped(tmp_path, data, data.index(b"hello world"))
    report = verify(path)
    assert report["signed"] and not report["valid"]
    assert any(e.startswith("assertion.bmffHash.mismatch") for e in report["errors"]), report["errors"]
    assert report["watermark"]["found"]  # read from the frames, which the flip did not touch

    code, out, err = sora_verify(path, capsys)
    assert code == 1 and out[0] == f"{path}: INVALID" and err == ""
    with pytest.raises(SoraError, match="damaged metadata tags") as info:
        read_video_tags(path)
    assert "\n" not in str(info.value)
    assert read_video(path)[0].shape == (9, 64, 64, 3)


@FLIPS
@given(data=st.data())
def test_any_byte_flip_in_the_metadata_tags_is_invalid_and_never_a_traceback(signed, tmp_path, data):
    path = flipped_somewhere_in(tmp_path, signed, "tags", data)
    report = verify(path)  # no exception of any kind
    assert report["signed"] and not report["valid"], report["errors"]
    try:
        frames, _ = read_video(path)
    except SoraError as e:  # a flip in a box size can make the container unreadable: one line, not a crash
        assert "\n" not in str(e)
    else:
        assert frames.shape == (9, 64, 64, 3)


def test_a_damaged_manifest_box_header_is_invalid_not_unsigned(signed, tmp_path, capsys):
    """c2pa finds no manifest when the box type is changed; the manifest bytes are still in the file."""
    data, regions = signed
    path = flipped(tmp_path, data, regions["manifest"][0] + 4)  # "uuid" -> another box type
    report = verify(path)
    assert report["signed"] and not report["valid"] and not report["trusted"]
    assert report["errors"][0].startswith("manifest.unreadable:")
    code, out, _ = sora_verify(path, capsys)
    assert code == 1 and out[0] == f"{path}: INVALID"
    assert any(line.strip().startswith("error: manifest.unreadable") for line in out)


def test_a_damaged_manifest_structure_names_the_check_that_failed(signed, tmp_path):
    data, regions = signed
    jumd = data.index(b"jumd", *regions["manifest"])  # the manifest store's description box type
    report = verify(flipped(tmp_path, data, jumd))
    assert report["signed"] and not report["valid"]
    assert report["errors"] == [
        "manifest.damaged: the C2PA manifest is present but cannot be read (Verify: expected JUMD)"
    ]


def test_an_unsigned_file_is_still_unsigned(signed, tmp_path):
    frames = torch.rand(3, 64, 64, 3)
    report = verify(write_video(tmp_path / "plain.mp4", frames, 8.0))
    assert not report["signed"] and report["errors"] == ["no C2PA manifest found"]


@FLIPS
@given(data=st.data())
def test_any_byte_flip_in_the_manifest_box_is_never_unsigned_and_never_a_traceback(signed, tmp_path, data):
    report = verify(flipped_somewhere_in(tmp_path, signed, "manifest", data))
    assert report["signed"]
    # c2pa itself ignores some bytes (the box's version and offset fields, the signature's zero padding):
    # those flips stay valid. Every other flip is INVALID with the failed check named as "code: explanation".
    assert report["valid"] or (report["errors"] and all(": " in e for e in report["errors"])), report
