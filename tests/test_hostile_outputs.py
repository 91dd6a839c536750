"""Where `sora render -o` and `sora run -o` may write, tried with hostile names (issue 21): a device node, a
symbolic link, a pipe, a folder, an existing file, a wrong extension, a read-only folder, SIGTERM. Each ends
in one line and exit status 2 (or a video where one was asked for) before any model loads, and leaves every
file as it was.

Most cases run `main()` in this process with a --model that is not a checkpoint: loading it would fail with
"is not a safetensors file", so a case that shows its own error instead was refused before any load."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sora_nodes.cli import main
from sora_nodes.errors import SoraError
from sora_nodes.io.atomic import atomic_path, move_into_place
from sora_nodes.io.output_files import resolve_prefix
from sora_nodes.io.video import read_video

ROOT = Path(__file__).resolve().parent.parent
SORA = Path(sys.executable).with_name("sora")
PROMPT = "a red circle moving left"
HARMFUL = "a red circle next to a n.u.d.e woman"  # refused (status 3) by the prompt filter, which loads MiniLM
NOT_A_CHECKPOINT = "this is not a safetensors file\n"
PROPERTY = settings(
    deadline=None, max_examples=25, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def junk_model(tmp_path):
    model = tmp_path / "models" / "junk.safetensors"
    model.parent.mkdir()
    model.write_text(NOT_A_CHECKPOINT)
    return model


def sora_main(capsys, *args) -> tuple[int, str]:
    """(exit status, stderr) of `sora ARGS` run through main() here; an exception escaping it fails the test."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse
        code = e.code
    return code, capsys.readouterr().err


def render(capsys, model, output, *more, prompt=PROMPT) -> tuple[int, str]:
    return sora_main(capsys, "render", prompt, "--model", model, "-o", output, "-q", *more)


def one_error_line(code: int, err: str) -> str:
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sora "), err
    assert "is not a safetensors file" not in err, "the model was loaded before the bad input was noticed"
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under folder as lstat sees it: kind, size, device number, link target, content hash."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = os.lstat(path)
            content = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else None
            target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
            seen[str(path.relative_to(folder))] = (
                stat.S_IFMT(info.st_mode),
                info.st_size,
                info.st_rdev,
                target,
                content,
            )
    return seen


def private_char_device(folder: Path, name: str) -> Path:
    """A character device node made in the test's own folder (the same numbers as /dev/full), never the
    machine's /dev entry: the test must not be able to harm the machine even if the code under test fails."""
    path = folder / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("making a device node needs root (CAP_MKNOD)")
    return path


# ------------------------------------------------------------------ what -o names


@pytest.mark.parametrize("name", ["full", "full.mp4"])
@pytest.mark.parametrize("overwrite", [[], ["-y"]])
def test_a_device_node_is_never_replaced(junk_model, tmp_path, capsys, name, overwrite):
    device = private_char_device(tmp_path, name)
    before = snapshot(tmp_path)
    line = one_error_line(*render(capsys, junk_model, device, *overwrite))
    assert f"-o {device} is a character device, not a regular file" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("overwrite", [[], ["-y"]])
def test_a_named_pipe_is_never_written_to(junk_model, tmp_path, capsys, overwrite):
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    line = one_error_line(*render(capsys, junk_model, pipe, *overwrite))
    assert "is a named pipe (FIFO), not a regular file" in line
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)


@pytest.mark.parametrize("overwrite", [[], ["-y"]])
@pytest.mark.parametrize("target_exists", [True, False])
def test_a_symbolic_link_is_never_written_through(junk_model, tmp_path, capsys, overwrite, target_exists):
    victim = tmp_path / "elsewhere" / "precious.mp4"
    victim.parent.mkdir()
    if target_exists:
        victim.write_bytes(b"the user's own video")
    link = tmp_path / "out.mp4"
    link.symlink_to(victim)
    before = snapshot(tmp_path)
    line = one_error_line(*render(capsys, junk_model, link, *overwrite))
    assert f"is a symbolic link (to {victim})" in line and "never written through links" in line
    assert snapshot(tmp_path) == before  # the link is still a link, and its target as it was (or absent)


@pytest.mark.parametrize("name", ["", ".", "..", "clips/", "clips/./", "existing", "existing/"])
@pytest.mark.parametrize("overwrite", [[], ["-y"]])
def test_a_folder_is_refused_and_none_is_made(junk_model, tmp_path, capsys, monkeypatch, name, overwrite):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").mkdir()
    before = snapshot(tmp_path)
    line = one_error_line(*render(capsys, junk_model, name, *overwrite))
    assert "-o is empty" in line if name == "" else "folder, not a file; name the video file in it" in line
    assert snapshot(tmp_path) == before  # `-o clips/` made neither a folder nor a file named clips


def test_a_name_under_a_file_is_refused(junk_model, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    line = one_error_line(*render(capsys, junk_model, notes / "clip.mp4"))
    assert f"{notes} is a regular file, not a folder" in line
    assert notes.read_text() == "mine"


@PROPERTY
@given(
    content=st.binary(max_size=64),
    stem=st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12),
    suffix=st.sampled_from([".mp4", ".MP4", ".Mp4"]),
)
def test_an_existing_video_is_replaced_only_with_overwrite(junk_model, capsys, content, stem, suffix):
    with tempfile.TemporaryDirectory() as folder:
        existing = Path(folder, stem + suffix)
        existing.write_bytes(content)
        line = one_error_line(*render(capsys, junk_model, existing))
        assert f"-o {existing} already exists; pass -y (--overwrite) to replace it" in line
        assert existing.read_bytes() == content
        assert sorted(os.listdir(folder)) == [existing.name]


@PROPERTY
@given(
    stem=st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12),
    suffix=st.sampled_from(["", ".txt", ".gif", ".mkv", ".webm", ".mov", ".png", ".mp4.txt", ".mp"]),
    exists=st.booleans(),
    overwrite=st.booleans(),
)
def test_only_an_mp4_name_is_written(junk_model, capsys, stem, suffix, exists, overwrite):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, stem + suffix)
        assume(path.suffix.lower() != ".mp4")
        if exists:
            path.write_text("not a video")
        before = snapshot(Path(folder))
        line = one_error_line(*render(capsys, junk_model, path, *(["-y"] if overwrite else [])))
        assert "but the video is written as MP4; end the name in .mp4" in line
        assert snapshot(Path(folder)) == before


NAME_PARTS = st.sampled_from(["a", "é", "clip", ".mp4", ".", "..", "/", "//", " ", "\n", "\x00", "\x1b", "-y", "~"])


@PROPERTY
@given(parts=st.lists(NAME_PARTS, max_size=8))
def test_any_output_name_ends_in_one_line_before_any_load(junk_model, capsys, parts):
    """Whatever -o is, the command ends in one line and status 2 with nothing made: either the name is
    refused, or it passes and the junk model then fails to load (before anything is written)."""
    with tempfile.TemporaryDirectory() as folder:
        before = snapshot(Path(folder))
        code, err = render(capsys, junk_model, folder + "/" + "".join(parts))
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and err.startswith("sora render: error: "), err
        assert snapshot(Path(folder)) == before


def read_only_folder(folder: Path, argv: list) -> list[str]:
    """argv run with `folder` covered, for that process alone, by an empty read-only file system: a mount in
    a private mount namespace, which ends with the process (as root chmod cannot make a folder read-only)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs util-linux `unshare` to mount a private read-only folder")
    flags = "-m" if os.geteuid() == 0 else "-Urm"
    mount = 'mount -t tmpfs -o ro,size=1m tmpfs "$0"'
    probe = subprocess.run([unshare, flags, "sh", "-c", mount, str(folder)], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private read-only folder here: {probe.stderr.strip()}")
    return [unshare, flags, "sh", "-c", f'{mount} && exec "$@"', str(folder), *map(str, argv)]


@pytest.mark.parametrize("command", ["render", "run"])
def test_a_read_only_output_folder_is_one_line(junk_model, tmp_path, command):
    folder = tmp_path / "read-only"
    folder.mkdir()
    if command == "render":
        argv = [SORA, "render", PROMPT, "--model", junk_model, "-o", folder / "sub" / "x.mp4", "-q"]
    else:
        argv = [SORA, "run", ROOT / "workflows" / "api" / "text_to_video.json", "-o", folder / "sub", "-q"]
    r = subprocess.run(read_only_folder(folder, argv), capture_output=True, text=True, timeout=120)
    line = one_error_line(r.returncode, r.stderr)
    assert f"{folder} is on a read-only file system; choose a folder you can write to" in line
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------ sora run -o DIR


@pytest.mark.parametrize("case", ["empty", "file", "pipe", "device"])
def test_sora_run_output_must_be_a_folder(tmp_path, capsys, case):
    output = {"empty": "", "file": tmp_path / "notes.txt", "pipe": tmp_path / "pipe", "device": None}[case]
    if case == "file":
        output.write_text("mine")
    elif case == "pipe":
        os.mkfifo(output)
    elif case == "device":
        output = private_char_device(tmp_path, "full")
    before = snapshot(tmp_path)
    code, err = sora_main(capsys, "run", ROOT / "workflows" / "api" / "text_to_video.json", "-o", output, "-q")
    line = one_error_line(code, err)
    expected = {
        "empty": "-o is empty; name the folder to save into",
        "file": "is a regular file, not a folder",
        "pipe": "is a named pipe (FIFO), not a folder",
        "device": "is a character device, not a folder",
    }
    assert expected[case] in line
    assert snapshot(tmp_path) == before


def test_a_nul_in_the_filename_prefix_is_named(tmp_path, capsys):
    graph = json.loads((ROOT / "workflows" / "api" / "text_to_video.json").read_text())
    graph["8"]["inputs"]["filename_prefix"] = "sora/a\x00b"
    workflow = tmp_path / "nul.json"
    workflow.write_text(json.dumps(graph))
    line = one_error_line(*sora_main(capsys, "run", workflow, "-o", tmp_path / "out", "-q"))
    assert "filename_prefix 'sora/a\\x00b' contains a NUL character" in line
    assert "VALIDATE_INPUTS raised" not in line
    assert not (tmp_path / "out").exists()


@settings(deadline=None, max_examples=200, derandomize=True)
@given(prefix=st.text(max_size=30))
def test_a_filename_prefix_resolves_or_says_why(prefix):
    """resolve_prefix is what SoraSaveVideo's VALIDATE_INPUTS runs: any text gives a folder inside the output
    folder or a SoraError, never another exception (which ComfyUI would show as 'VALIDATE_INPUTS raised')."""
    root = Path(tempfile.gettempdir()) / "sora-prefix-root"
    try:
        folder, stem = resolve_prefix(root, prefix)
    except SoraError:
        return
    assert folder.is_relative_to(root.resolve()) and stem


# ------------------------------------------------------------------ argument checks before any model loads


@pytest.mark.parametrize(
    "args,message",
    [
        (["--fps", "0.001"], "--fps: 0.001 is below the minimum 1.0"),
        (["--fps", "0"], "--fps: 0.0 is below the minimum 1.0"),
        (["--fps", "nan"], "--fps: expects a finite number, got nan"),
        (["--seed=-1"], "--seed: -1 is below the minimum 0"),
        (["--steps", "0"], "steps must be at least 1, got 0"),
        (["--steps", "5000"], "--steps: 5000 is above the maximum 1000"),
        (["--cfg=-1"], "cfg must be >= 0"),
        (["--cfg", "inf"], "--cfg: expects a finite number, got inf"),
        (["--frames", "8"], "frames must be 1 + k*4 (1, 5, 9, ...)"),
        (["--frames", "100001"], "a clip has at most 2049 frames"),
        (["--vae-tile", "1"], "tile must be at least 2"),
    ],
)
def test_arguments_are_checked_before_any_model_loads(junk_model, tmp_path, capsys, args, message):
    # a harmful prompt too: the prompt filter's model is not loaded either (it would answer status 3)
    line = one_error_line(*render(capsys, junk_model, tmp_path / "x.mp4", *args, prompt=HARMFUL))
    assert message in line
    assert line.count(message.split(":")[0]) == 1, "said twice"
    assert list(tmp_path.iterdir()) == [junk_model.parent]


def test_a_size_names_both_wrong_sides(junk_model, tmp_path, capsys):
    line = one_error_line(*render(capsys, junk_model, tmp_path / "x.mp4", "--size", "8x24"))
    assert "height must be a multiple of 16 (VAE factor 8 x patch 2); got 24, try 16 or 32" in line
    assert "width must be a multiple of 16 (VAE factor 8 x patch 2); got 8, try 16 or 32" in line


def test_output_checks_come_before_argument_checks_and_the_prompt_filter(junk_model, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    line = one_error_line(*render(capsys, junk_model, notes, "--steps", "5000", prompt=HARMFUL))
    assert "-o" in line and "ends in .txt" in line
    assert notes.read_text() == "mine"


@pytest.mark.parametrize("case", ["pipe", "empty", "device", "folder"])
def test_a_model_that_is_no_checkpoint_file_says_what_it_is(tmp_path, capsys, case):
    model = tmp_path / "model.safetensors"
    if case == "pipe":
        os.mkfifo(model)  # opening it to read a header would wait for a writer forever
    elif case == "empty":
        model.touch()
    elif case == "device":
        model = private_char_device(tmp_path, "model.safetensors")
    else:
        model.mkdir()
    line = one_error_line(*render(capsys, model, tmp_path / "x.mp4"))
    expected = {
        "pipe": f"--model {model} is a named pipe (FIFO), not a regular file, so not a checkpoint",
        "empty": f"--model {model} is empty (0 bytes), not a checkpoint",
        "device": f"--model {model} is a character device, not a regular file, so not a checkpoint",
        "folder": f"--model {model} is a folder without a Wan 2.1 diffusion model in it",
    }
    assert expected[case] in line and "not found" not in line
    assert not (tmp_path / "x.mp4").exists()


# ------------------------------------------------------------------ the write itself


def test_overwrite_replaces_an_existing_video(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"an older render")
    code, err = render(capsys, tiny_checkpoint, out, "-y", "--steps", "1", "--frames", "1")
    assert code == 0, err
    frames, _ = read_video(out)
    assert frames.shape[0] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no hidden work folder left


def test_the_final_move_refuses_what_appeared_at_the_name(tmp_path):
    """The name is checked before the render and again by lstat right before the rename: a link or a pipe put
    there meanwhile is refused and left alone, and the finished temp file is removed."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    dest = tmp_path / "out.mp4"
    with pytest.raises(SoraError, match="out.mp4 is a symbolic link, not a regular file, so it was left as it is"):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"video")
            dest.symlink_to(victim)
    assert victim.read_text() == "precious" and dest.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "victim"]


def test_without_overwrite_the_final_move_never_replaces(tmp_path):
    dest, tmp = tmp_path / "out.mp4", tmp_path / "new.mp4"
    dest.write_text("made meanwhile")
    tmp.write_text("the render")
    with pytest.raises(FileExistsError):
        move_into_place(tmp, dest, replace=False)
    assert dest.read_text() == "made meanwhile"
    move_into_place(tmp, tmp_path / "free.mp4", replace=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.mp4", "out.mp4"]


def test_the_temp_file_is_made_fresh_with_the_users_umask(tmp_path):
    umask = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "out.json") as tmp:
            info = os.lstat(tmp)
            assert stat.S_ISREG(info.st_mode) and info.st_size == 0  # made here, not by whoever planted a link
            assert stat.S_IMODE(info.st_mode) == 0o640
            tmp.write_text("{}")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.json").read_text() == "{}"


def test_sigterm_during_a_render_leaves_nothing(tiny_checkpoint, tmp_path):
    out = tmp_path / "long.mp4"
    proc = subprocess.Popen(
        [str(SORA), "render", PROMPT, "--model", str(tiny_checkpoint), "-o", str(out), "--steps", "1000"],
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
    while "/1000" not in seen:  # terminate in the middle of sampling, while the hidden work folder exists
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen += proc.stderr.read(1)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sora-render-")], "no work folder to clean"
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM, rest
    assert "sora render: terminated; nothing was written" in rest
    assert list(tmp_path.iterdir()) == []
