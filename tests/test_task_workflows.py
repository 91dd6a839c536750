"""The shipped task workflows, run as a user would: `sora run workflows/api/NAME.json --input-dir workflows/inputs`.

Each writes one MP4 of the expected length; the frames a task keeps (the source clip, the start image,
the pixels outside the inpaint box) come back within H.264 noise, and the frames it adds are new.
Also: the sample inputs are what scripts/make_sample_inputs.py makes, SoraLoadVideo reads still images, and
each workflow's template thumbnail shows frames of its render as scripts/make_thumbnails.py makes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from shipped_workflows import (
    CLIP,
    FPS,
    IMAGE,
    INPUTS,
    LATER,
    OUTPUT_FRAMES,
    ROOT,
    SIZE,
    WORKFLOWS,
    api_file,
    api_workflows,
    thumbnails_script,
    ui_file,
    ui_workflows,
)

from sora_nodes.comfy import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from sora_nodes.graph.host import HeadlessHost, use_host
from sora_nodes.io.video import read_video, read_video_tags, write_video

SORA = Path(sys.executable).with_name("sora")
TASKS = [name for name in OUTPUT_FRAMES if name != "text_to_video"]
# Frames compared after both went through H.264: a kept frame comes back at 38-42 dB (the model's own frames
# score 17-34 dB against their nearest source frame, the first new frame after a seam being the closest).
KEPT_DB = 35.0
COPY_DB = 38.0  # a new frame this close to a source frame is a copy of it


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR in dB of [T, H, W, 3] frames in 0..1."""
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))


def through_h264(frames: torch.Tensor, folder: Path) -> torch.Tensor:
    """The frames as an MP4 would give them back (H.264 4:2:0 alone costs a red edge ~33 dB)."""
    return read_video(write_video(folder / "h264.mp4", frames, FPS))[0]


def best_match(frames: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """For each frame, its PSNR to the most similar candidate frame."""
    return torch.stack([psnr(frame[None].expand_as(candidates), candidates).max() for frame in frames])


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    """render(name) -> the MP4 `sora run` wrote for that workflow; each workflow runs once per module."""
    done: dict[str, Path] = {}

    def run(name: str) -> Path:
        if name not in done:
            out = tmp_path_factory.mktemp(name)
            result = subprocess.run(
                [str(SORA), "run", str(api_file(name)), "--input-dir", str(INPUTS), "-o", str(out), "-q"],
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            (line,) = result.stdout.strip().splitlines()
            done[name] = Path(line)
        return done[name]

    return run


# ---------------------------------------------------------------- what ships


def test_every_shipped_workflow_has_both_formats_and_a_known_output():
    assert {p.stem for p in api_workflows(core=False)} == set(OUTPUT_FRAMES)
    assert {p.stem for p in ui_workflows(core=False)} == set(OUTPUT_FRAMES)
    for name in OUTPUT_FRAMES:
        titles = {int(k): node["_meta"]["title"] for k, node in json.loads(api_file(name).read_text()).items()}
        ui_titles = {  # the frontend stores no title that equals the node's display name
            node["id"]: node.get("title", NODE_DISPLAY_NAME_MAPPINGS[node["type"]])
            for node in json.loads(ui_file(name).read_text())["nodes"]
        }
        assert titles == ui_titles, f"{name}: the UI twin's titles differ; export it again"


@pytest.mark.parametrize("name", sorted(OUTPUT_FRAMES))
def test_every_template_has_a_thumbnail_of_its_own_render(render, name):
    """The template browser shows workflows/NAME.jpg: it must be there, and be what the workflow renders today."""
    script = thumbnails_script()
    path = WORKFLOWS / f"{name}.jpg"
    assert path.is_file(), f"{path.name} is missing: run scripts/make_thumbnails.py {name}"
    shipped = path.read_bytes()
    made_from = json.loads(script.read_comment(shipped) or "{}")
    assert made_from == script.provenance(name), (
        f"{path.name} shows an older {name} or model: run scripts/make_thumbnails.py {name}"
    )
    expected = cv2.imdecode(np.frombuffer(script.thumbnail(render(name)), np.uint8), cv2.IMREAD_COLOR)
    image = cv2.imdecode(np.frombuffer(shipped, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == expected.shape and max(image.shape[:2]) == script.LONG_SIDE, image.shape
    mse = ((image.astype(np.float64) - expected) ** 2).mean()
    assert 10 * np.log10(255**2 / max(mse, 1e-10)) > 30, f"{path.name} does not show {name}'s render of today"
    assert image.std() > 8, f"{path.name} is nearly flat: the render it shows is empty"


def test_sample_inputs_are_small_and_what_the_script_makes(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sample_inputs.py"), "-o", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in INPUTS.iterdir())
    for shipped in INPUTS.iterdir():
        assert shipped.stat().st_size < 16_000, f"{shipped.name} is {shipped.stat().st_size} bytes; keep samples small"
    image = cv2.imread(str(IMAGE))
    assert image.shape == (*SIZE, 3) and (image == cv2.imread(str(tmp_path / IMAGE.name))).all()
    for clip in (CLIP, LATER):
        shipped, fps = read_video(clip)
        made, _ = read_video(tmp_path / clip.name)
        assert shipped.shape == (17, *SIZE, 3) and fps == FPS
        assert psnr(shipped, made).min() > 40, f"{clip.name} is stale: run scripts/make_sample_inputs.py"
    first = through_h264(torch.from_numpy(image[..., ::-1].copy()).float()[None] / 255, tmp_path)
    assert psnr(first, read_video(CLIP)[0][:1]).item() > KEPT_DB  # the image is the clip's first frame


# ---------------------------------------------------------------- every task workflow, headless


@pytest.mark.parametrize("name", TASKS)
def test_task_workflow_runs_headless_and_saves_its_video(render, name):
    path = render(name)
    assert path.suffix == ".mp4" and path.parent.name == "sora" and path.name.startswith(name)
    frames, fps = read_video(path)
    assert tuple(frames.shape) == (OUTPUT_FRAMES[name], *SIZE, 3)
    assert fps == FPS
    assert frames.std() > 0.01  # a picture, not a blank frame
    saved = json.loads(read_video_tags(path)["prompt"])
    shipped = json.loads(api_file(name).read_text())
    assert {k: n["inputs"] for k, n in saved.items()} == {k: n["inputs"] for k, n in shipped.items()}


def test_extend_keeps_the_source_frames_and_adds_new_ones(render):
    out, source = read_video(render("extend_video"))[0], read_video(CLIP)[0]
    assert psnr(out[:17], source).min() > KEPT_DB
    assert best_match(out[17:], source).max() < COPY_DB, "a new frame is a copy of a source frame"


def test_image_to_video_starts_on_the_image(render, tmp_path):
    out, image = read_video(render("image_to_video"))[0], through_h264(read_video(IMAGE)[0], tmp_path)
    assert psnr(out[:1], image).item() > KEPT_DB
    assert best_match(out[1:], image).max() < COPY_DB, "a new frame is a copy of the image"


def test_connect_keeps_both_clips_around_new_frames(render):
    out, a, b = read_video(render("connect_videos"))[0], read_video(CLIP)[0], read_video(LATER)[0]
    assert psnr(out[:17], a).min() > KEPT_DB
    assert psnr(out[24:], b).min() > KEPT_DB
    assert best_match(out[17:24], torch.cat([a, b])).max() < COPY_DB, "a transition frame copies a clip frame"


def test_loop_keeps_the_clip_and_adds_the_way_back(render):
    out, clip = read_video(render("loop_video"))[0], read_video(CLIP)[0]
    assert psnr(out[:17], clip).min() > KEPT_DB
    assert best_match(out[17:], clip).max() < COPY_DB, "a loop frame is a copy of a clip frame"


def test_inpaint_keeps_everything_outside_the_box(render):
    out, source = read_video(render("inpaint_scene"))[0], read_video(CLIP)[0]
    box = json.loads(api_file("inpaint_scene").read_text())["6"]["inputs"]
    rows, cols = slice(box["y"], box["y"] + box["height"]), slice(box["x"], box["x"] + box["width"])
    outside = torch.ones(SIZE, dtype=torch.bool)
    outside[rows, cols] = False
    kept = ((out - source) ** 2)[:, outside].mean((1, 2))
    assert (10 * torch.log10(1 / kept)).min() > KEPT_DB
    assert psnr(out[:, rows, cols], source[:, rows, cols]).max() < COPY_DB, "the box was not regenerated"


def test_style_transfer_redraws_every_frame(render):
    out, source = read_video(render("style_transfer"))[0], read_video(CLIP)[0]
    assert psnr(out, source).max() < COPY_DB


def test_long_video_lasts_a_minute(render):
    frames, fps = read_video(render("long_video"))
    assert len(frames) / fps >= 60


# ---------------------------------------------------------------- still images in SoraLoadVideo


@pytest.mark.parametrize("extension", ["png", "jpg", "jpeg", "webp", "bmp"])
def test_load_video_reads_a_still_image_as_one_frame(tmp_path, extension):
    y, x = np.mgrid[0:32, 0:48]
    image = np.stack([x * 5, y * 7, np.full_like(x, 90)], -1).astype(np.uint8)  # smooth: lossy formats stay close
    assert cv2.imwrite(str(tmp_path / f"still.{extension}"), image[..., ::-1])
    write_video(tmp_path / "clip.mp4", torch.rand(3, 16, 16, 3), 12.0)
    (tmp_path / "notes.txt").write_text("neither")
    load = NODE_CLASS_MAPPINGS["SoraLoadVideo"]
    with use_host(HeadlessHost(input=tmp_path, output=tmp_path / "out")):
        assert load.INPUT_TYPES()["required"]["video"][0] == ["clip.mp4", f"still.{extension}"]
        frames, fps = load().load(f"still.{extension}")
    assert tuple(frames.shape) == (1, 32, 48, 3) and fps == 8.0
    error = (frames[0] - torch.from_numpy(image).float() / 255).abs()
    if extension in ("png", "bmp"):
        assert error.max() < 1e-6
    else:
        assert error.mean() < 0.02
