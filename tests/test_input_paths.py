"""Input videos of a headless workflow stay inside the input folder (issue 21): a shared workflow must not read
any file the user can read. Absolute paths need `sora run --allow-absolute-inputs`; `..` and symlinks that
point out of the folder are refused either way."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from graph_files import copy_graph

from sora_nodes.cli import main
from sora_nodes.errors import SoraError
from sora_nodes.graph.host import HeadlessHost
from sora_nodes.io.video import read_video, write_video

FLAG = "--allow-absolute-inputs"


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    """(input folder with clip.mp4, a private file beside it)."""
    inputs = tmp_path / "input"
    write_video(inputs / "clip.mp4", torch.rand(3, 32, 48, 3), 6.0)
    private = write_video(tmp_path / "private" / "secret.mp4", torch.rand(3, 32, 48, 3), 6.0)
    return inputs, private


def refusal(host: HeadlessHost, name: str) -> str:
    with pytest.raises(SoraError) as info:
        host.input_path(name)
    return str(info.value)


def test_an_absolute_path_outside_the_input_folder_needs_the_flag(folders):
    inputs, private = folders
    message = refusal(HeadlessHost(input=inputs), str(private))
    assert "points outside" in message and FLAG in message and "\n" not in message
    assert HeadlessHost(input=inputs, allow_absolute_inputs=True).input_path(str(private)) == private


def test_an_absolute_path_inside_the_input_folder_is_an_input_like_any_other(folders):
    inputs, _ = folders
    assert HeadlessHost(input=inputs).input_path(str(inputs / "clip.mp4")) == (inputs / "clip.mp4").resolve()


@pytest.mark.parametrize("allowed", [False, True])
def test_dot_dot_and_symlinks_out_of_the_folder_are_refused_even_with_the_flag(folders, allowed):
    inputs, private = folders
    (inputs / "link.mp4").symlink_to(private)
    (inputs / "inner.mp4").symlink_to(inputs / "clip.mp4")
    host = HeadlessHost(input=inputs, allow_absolute_inputs=allowed)
    for name in ("../private/secret.mp4", "link.mp4"):
        assert "points outside" in refusal(host, name)
    assert host.input_path("inner.mp4") == (inputs / "clip.mp4").resolve()  # a link that stays inside is fine


def test_sora_run_refuses_an_absolute_input_in_one_line_and_runs_it_with_the_flag(folders, tmp_path, capsys):
    inputs, private = folders
    workflow = copy_graph(tmp_path, str(private))
    code = main(["run", str(workflow), "--input-dir", str(inputs), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and FLAG in err[0] and "SoraLoadVideo" in err[0], err
    assert not list(tmp_path.glob("out/**/*.mp4"))

    code = main(["run", str(workflow), "--input-dir", str(inputs), "-o", str(tmp_path / "out"), "-q", FLAG])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1
    assert read_video(out[0])[0].shape == (3, 32, 48, 3)
