"""`sora eval --task`: every editing task rendered by the default model at the fixed seed and held to FLOORS,
and each figure shown to fail on output that is broken in the way it measures (a hard cut, a wrong first
frame, a teleporting object, an empty box, a colour that did not change)."""

import json

import numpy as np
import pytest

from sora_nodes.cli import main
from sora_nodes.evaluate.frame_metrics import PSNR_CAP, loop_seam, psnr, seam_ratio, sharpness
from sora_nodes.evaluate.task_inputs import JOIN_MOTIONS, MOVERS, inpaint_input, recoloured, world_input
from sora_nodes.evaluate.task_scores import JUMP, inside_box, leading_color, moving_on, restyled, segment_figures
from sora_nodes.evaluate.tasks import DEFAULT_SAMPLES, FLOORS, LONG_SECONDS, TASKS, TaskModel, run_task

SEED = 0
# Floors the default model misses at seed 0 (figures: the worst of the task's samples). They stay visible as
# strict xfails, so a model that meets one fails the run until it is moved back to a hard floor here.
SHORTFALLS = {
    ("connect", "seam_ratio"): "1.70-2.17 (median 1.92); the true latent gives 1.37-1.52",
    ("loop", "seam_score"): "one of 4 samples scores 1.85 (median 0.93), a source clip whose own loop scores 4.22",
    ("inpaint", "inside_detected"): "the prompted colour and shape show in the box in 0-100 % of frames (median "
    "35 %), not 50 % in every sample; the true latent gives 71-100 %",
    ("style_transfer", "centroid_error"): "one of 4 samples strays 0.104 of the frame (median 0.041; 0.1 allowed)",
}


@pytest.fixture(scope="module")
def task_model():
    return TaskModel()


@pytest.fixture(scope="module")
def reports(task_model, tmp_path_factory):
    """Each task rendered once at its default sample count, on first use."""
    out_dir = tmp_path_factory.mktemp("task_eval")
    cache = {}

    def report(task):
        if task not in cache:
            cache[task] = run_task(task, task_model, seed=SEED, out_dir=out_dir)
        return cache[task]

    return report


FLOOR_CASES = [
    pytest.param(
        task,
        figure,
        marks=[pytest.mark.xfail(strict=True, reason=SHORTFALLS[task, figure])] if (task, figure) in SHORTFALLS else [],
        id=f"{task}-{figure}",
    )
    for task, floors in FLOORS.items()
    for figure in floors
]


@pytest.mark.parametrize("task,figure", FLOOR_CASES)
def test_default_model_meets_the_floor(reports, task, figure):
    report = reports(task)
    floor = FLOORS[task][figure]
    values = [row[figure] for row in report["rows"]]
    assert report["samples"] == DEFAULT_SAMPLES[task] and len(values) >= DEFAULT_SAMPLES[task]
    assert all(floor.passes(None if v is None else float(v)) for v in values), (
        f"{task} {figure}: {values} against {'>=' if floor.at_least else '<='} {floor.limit}"
    )
    assert report["floors"][figure]["pass"]


def test_every_task_has_floors_and_a_default_sample_count():
    assert set(FLOORS) == set(TASKS) == set(DEFAULT_SAMPLES)


def test_outputs_keep_the_whole_source_and_add_the_asked_frames(reports):
    assert {r["frames"] for r in reports("extend")["rows"]} == {17 + 16}
    assert {r["frames"] for r in reports("connect")["rows"]} == {17 + 7 + 17}
    assert {r["frames"] for r in reports("loop")["rows"]} == {17 + 8}
    assert all(r["frame0_identical"] for r in reports("image_to_video")["rows"])


def test_reported_figures_are_honest_about_the_vae(reports):
    """The pasted figures are exact; the raw decoded ones, reported beside them, are the VAE's own and lower."""
    i2v, inpaint = reports("image_to_video")["rows"], reports("inpaint")["rows"]
    assert all(r["frame0_psnr_db"] == PSNR_CAP > r["decoded_frame0_psnr_db"] > 15 for r in i2v)
    assert all(r["outside_psnr_db"] == PSNR_CAP > r["decoded_outside_psnr_db"] > 15 for r in inpaint)


def test_long_video_is_a_minute_and_draws_its_chart(reports):
    (row,) = reports("long_video")["rows"]
    assert row["seconds_of_video"] == LONG_SECONDS and row["frames"] == 481
    assert len(row["segments"]) == 15  # 4 s each
    assert all(s["color_drift"] is not None and s["sharpness"] > 0 for s in row["segments"])
    with open(row["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_reports_are_strict_json(reports):
    for task in TASKS:
        json.loads(json.dumps(reports(task), allow_nan=False))


# The figures on broken outputs: each must be able to fail.


def _clip(i, motions, frames):
    return world_input(SEED, i, motions, frames)


def test_seam_ratio_passes_the_world_and_fails_a_hard_cut():
    a, b = _clip(0, JOIN_MOTIONS, 33), _clip(1, JOIN_MOTIONS, 33)  # other colours, shapes and backgrounds
    assert seam_ratio(a.frames, 16) <= 1.5
    cut = np.concatenate([a.frames[:17], b.frames[17:]])
    assert seam_ratio(cut, 16) > 10
    frozen = np.concatenate([a.frames[:17], np.repeat(a.frames[16:17], 16, 0)])
    assert seam_ratio(frozen, 16) < 1.5  # a clip that stops is no seam: the median step is small there too


def test_loop_seam_passes_a_ping_pong_and_fails_a_one_way_clip():
    clip = _clip(0, JOIN_MOTIONS, 17).frames
    assert loop_seam(clip) > 5  # a mover jumps back to its start
    ping_pong = np.concatenate([clip, clip[-2:0:-1]])  # ends one step after the first frame
    assert loop_seam(ping_pong) <= 1.5


def test_a_wrong_first_frame_has_a_low_psnr():
    image = _clip(0, MOVERS, 17).frames[0]
    other = _clip(1, MOVERS, 17).frames[0]
    assert psnr(image, image) == PSNR_CAP
    assert psnr(image, other) < 20 < FLOORS["image_to_video"]["frame0_psnr_db"].limit
    assert psnr(image, image.astype(float) / 255 + 0.4 / 255) == PSNR_CAP  # under half a level rounds away
    with pytest.raises(ValueError, match="one shape"):
        psnr(image, image[:32])


def test_an_object_that_keeps_moving_passes_and_one_that_teleports_does_not():
    item = _clip(0, MOVERS, 17)
    figures = moving_on(item.frames, item.color, item.motion)
    assert figures["presence"] == 1 and figures["max_jump"] <= JUMP / 2 and figures["motion_correct"]
    moved = item.frames.copy()
    moved[9:] = np.roll(item.frames[9:], 24, axis=2)  # the second half 24 px to the right: a teleport
    assert moving_on(moved, item.color, item.motion)["max_jump"] > JUMP
    assert moving_on(item.frames, "black" if item.color != "black" else "white", item.motion)["presence"] == 0


def test_the_box_holds_the_world_object_but_not_the_empty_source():
    item = inpaint_input(SEED, 0, 17)
    src = item.source
    assert inside_box(item.target, item.box, src.color, src.shape)["inside_detected"] == 1
    assert inside_box(src.frames, item.box, src.color, src.shape)["inside_color"] == 0
    wrong_shape = "circle" if src.shape != "circle" else "square"
    assert inside_box(item.target, item.box, src.color, wrong_shape)["inside_detected"] == 0
    x, y, w, h = item.box
    outside = np.ones(src.frames.shape[:3], bool)
    outside[:, y : y + h, x : x + w] = False
    assert psnr(src.frames, item.target, outside) == PSNR_CAP  # the new object stays inside its box


def test_restyle_figures_pass_a_recoloured_clip_and_fail_an_unchanged_or_moved_one():
    item = _clip(0, JOIN_MOTIONS, 17)
    new = "blue" if item.color != "blue" else "green"
    target = recoloured(item, SEED, 0, new).frames
    limit = FLOORS["style_transfer"]["centroid_error"].limit
    good = restyled(item.frames, target, new, limit)
    assert good["new_color"] == 1 and good["centroid_error"] < 0.02 and good["restyled_in_place"] == 1
    assert restyled(item.frames, item.frames, new, limit)["new_color"] == 0
    moved = restyled(item.frames, np.roll(target, 16, axis=1), new, limit)  # 16 px lower: a quarter frame
    assert moved["centroid_error"] > limit and moved["restyled_in_place"] < 1


def test_segments_see_the_world_object_sharp_and_in_its_colour():
    item = world_input(SEED, 0, ("bounce",), 65)
    segments = segment_figures(item.frames, item.color, 8.0, 4.0)
    assert [s["start_s"] for s in segments] == [0.0, 4.0]
    assert all(s["presence"] == 1 and s["color_drift"] < 10 for s in segments)
    assert leading_color(item.frames) == item.color
    blurred = np.stack([np.full_like(f, f.reshape(-1, 3).mean(0).astype(np.uint8)) for f in item.frames])
    assert sharpness(blurred).max() == 0 < sharpness(item.frames).min()
    faded = (item.frames * 0.5 + 64).astype(np.uint8)  # washed out: the palette colour drifts away
    assert all(s["presence"] == 0 or s["color_drift"] > 30 for s in segment_figures(faded, item.color, 8.0, 4.0))


def test_cli_bad_task_arguments_fail_in_one_line(capsys):
    assert main(["eval", "--task", "loop", "--source", "world"]) == 2
    assert main(["eval", "--task", "loop", "--model", "/nonexistent/model.safetensors"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--source world applies only" in err[0] and "does not exist" in err[1]
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--task", "paint"])
    assert exit_info.value.code == 2 and "invalid choice: 'paint'" in capsys.readouterr().err


def test_cli_prints_a_task_as_json(capsys, tmp_path):
    assert (
        main(["eval", "--task", "loop", "--samples", "1", "--seed", "3", "--json", "-q", "--out", str(tmp_path)]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    (loop,) = report["tasks"].values()
    assert loop["samples"] == 1 and loop["seed"] == 3 and set(loop["floors"]) == set(FLOORS["loop"])
