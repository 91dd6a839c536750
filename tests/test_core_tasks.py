"""Tasks laid out as a ComfyUI core LATENT (sora_nodes/tasks/core_latent.py) and Wan 2.2 A14B's expert
switch, in pure torch. The real server, core's loaders and KSampler are in test_comfyui_core_tasks.py.

The VAE here is a small causal stand-in with a host VAE's ratios (its first frame coded alone, then
groups of k_t frames, k_s x k_s cells, a fixed channel projection), so the latent layout can be checked for
Wan 2.1 (16 ch, 8x space, 4x time) and Wan 2.2 TI2V-5B (48 ch, 16x space, 4x time) without weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from shipped_workflows import api_workflows, thumbnails_script, ui_workflows

from sora_nodes.diffusion.expert_switch import BOUNDARIES, switch_step
from sora_nodes.errors import ShapeError, SoraError
from sora_nodes.models.latent_format import LatentFormat
from sora_nodes.tasks import recipes
from sora_nodes.tasks.canvas import TaskCanvas
from sora_nodes.tasks.core_latent import CANVAS_KEY, core_task_latent, paste_back, task_canvas, video_format
from sora_nodes.tasks.seams import loop_seam, seam_ratio

WAN21 = LatentFormat.from_ratios(16, 8, 4)
WAN22_5B = LatentFormat.from_ratios(48, 16, 4)
CONTEXT = 33


def causal_encoder(fmt: LatentFormat):
    """frames [T, H, W, 3] -> [1, C, T', H', W'], as a causal video VAE lays it out."""
    projection = torch.randn(fmt.channels, 3, generator=torch.Generator().manual_seed(fmt.channels))

    def encode(frames):
        video = frames.permute(3, 0, 1, 2)  # [3, T, H, W]
        groups = torch.cat([video[:, :1], video[:, 1:].unflatten(1, (-1, fmt.temporal)).mean(2)], 1)  # [3, T', H, W]
        cells = F.avg_pool2d(groups, fmt.spatial)  # [3, T', H', W']
        return torch.einsum("ck,kthw->cthw", projection, cells)[None]  # [1, C, T', H', W']

    return encode


def clip(frames=17, size=64, seed=0):
    return torch.rand(frames, size, size, 3, generator=torch.Generator().manual_seed(seed))


def test_the_layout_comes_from_the_vaes_ratios():
    assert (WAN21.channels, WAN21.spatial, WAN21.temporal) == (16, 8, 4)
    assert (WAN22_5B.channels, WAN22_5B.spatial, WAN22_5B.temporal) == (48, 16, 4)
    for fmt, cells in ((WAN21, 8), (WAN22_5B, 4)):
        canvas = recipes.image_to_video(clip(1), 33, fmt=fmt, max_frames=CONTEXT)
        latent = core_task_latent(canvas, causal_encoder(fmt), fmt)
        assert latent["samples"].shape == (1, fmt.channels, 9, cells, cells)
        assert latent["noise_mask"].shape == (1, 1, 9, cells, cells)  # at latent resolution
        # image-to-video: latent frame 0 (the image, coded alone) is known, every other one is regenerated
        assert latent["noise_mask"][0, 0, :, 0, 0].tolist() == [0.0] + [1.0] * 8


def test_known_cells_hold_the_encoded_canvas_and_the_rest_holds_the_fill():
    fmt = WAN22_5B
    canvas = recipes.extend(clip(17), 12, "forward", fmt=fmt, max_frames=CONTEXT)
    fill = torch.arange(fmt.channels, dtype=torch.float32)
    latent = core_task_latent(canvas, causal_encoder(fmt), fmt, fill=fill, batch_size=2)
    encoded = causal_encoder(fmt)(canvas.frames)
    known = latent["noise_mask"][0, 0] == 0  # [T', H', W']
    assert known.any() and (~known).any()
    samples = latent["samples"]
    assert samples.shape[0] == 2 and torch.equal(samples[0], samples[1])
    assert torch.equal(samples[0][:, known], encoded[0][:, known])
    assert torch.equal(samples[0][:, ~known], fill[:, None].expand(-1, int((~known).sum())))
    assert latent[CANVAS_KEY] is canvas


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_extend_masks_the_new_frames_only_and_joins_inside_a_latent_frame(direction):
    fmt = WAN21
    canvas = recipes.extend(clip(17), 16, direction, fmt=fmt, max_frames=CONTEXT)
    mask = core_task_latent(canvas, causal_encoder(fmt), fmt)["noise_mask"][0, 0, :, 0, 0]  # [T']
    regenerated = mask.nonzero()[:, 0].tolist()
    assert regenerated == list(range(regenerated[0], regenerated[-1] + 1))  # one run of latent frames
    assert (regenerated[0] > 0) == (direction == "forward") and (regenerated[-1] < len(mask) - 1) == (
        direction == "backward"
    )
    (join,) = canvas.joins()
    known = canvas.known.flatten(1).all(1)
    seam_on_canvas = next(i for i in range(canvas.length - 1) if known[i] != known[i + 1])
    assert seam_on_canvas % fmt.temporal != 0  # inside a latent frame, where the decoder joins smoothly
    assert join == (16 if direction == "forward" else 15)  # the last source frame / the last new frame


def test_paste_back_keeps_every_source_frame_exactly_and_reports_the_seam():
    fmt = WAN21
    source = clip(17)
    canvas = recipes.extend(source, 16, "forward", fmt=fmt, max_frames=CONTEXT)
    decoded = (canvas.frames + 0.05 * torch.randn_like(canvas.frames)).clamp(0, 1)  # a VAE's coding error
    out, report = paste_back(canvas, torch.cat([decoded, decoded]))  # a batch of two, one after another
    assert out.shape == (2 * 33, 64, 64, 3)
    assert torch.equal(out[:17], source) and torch.equal(out[33:50], source)
    assert f"seam after frame 16: {seam_ratio(out[:33], 16):.2f}" in report


def test_a_loop_reports_its_wrap_around_seam():
    fmt = WAN21
    source = clip(17)
    canvas = recipes.loop(source, 8, fmt=fmt, max_frames=CONTEXT)
    assert canvas.loops
    out, report = paste_back(canvas, canvas.frames.clone())
    assert len(out) == 25 and torch.equal(out[:17], source)
    assert f"loop seam (last frame -> first): {loop_seam(out):.2f}" in report


def test_inpaint_regenerates_the_cells_the_mask_touches_and_keeps_the_rest():
    fmt = WAN21
    frames = clip(17)
    mask = torch.zeros(17, 64, 64)
    mask[:, 8:24, 40:56] = 1  # a box over every frame
    canvas = recipes.inpaint(frames, mask, fmt=fmt, max_frames=CONTEXT)
    latent = core_task_latent(canvas, causal_encoder(fmt), fmt)
    cells = latent["noise_mask"][0, 0, 0]  # [H', W'] in the first latent frame
    assert cells.sum() == 2 * 2 and cells[1:3, 5:7].eq(1).all()  # rows 8..23 are cells 1-2, cols 40..55 cells 5-6
    out, report = paste_back(canvas, torch.zeros_like(frames))
    assert torch.equal(out[mask[..., None].expand_as(out) == 0], frames[mask[..., None].expand_as(frames) == 0])
    assert "no join in time" in report


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: recipes.extend(clip(17), 40, "forward", fmt=WAN21, max_frames=CONTEXT), "context"),
        (lambda: recipes.image_to_video(clip(1, 60), 33, fmt=WAN21, max_frames=CONTEXT), "try 56 or 64"),
        (lambda: recipes.image_to_video(clip(1, 40), 33, fmt=WAN22_5B, max_frames=CONTEXT), "multiple of 16"),
        (lambda: video_format(4, 8, None), "video VAE"),
        (lambda: LatentFormat.from_ratios(16, 0, 4), "spatial ratio"),
        (lambda: task_canvas({"samples": torch.zeros(1, 16, 1, 1, 1)}), "Sora task node"),
        (
            lambda: core_task_latent(
                recipes.image_to_video(clip(1), 33, fmt=WAN21, max_frames=CONTEXT), causal_encoder(WAN22_5B), WAN21
            ),
            "VAE that belongs to the model",
        ),
    ],
)
def test_bad_input_is_refused_with_what_to_do(call, fragment):
    with pytest.raises((SoraError, ShapeError), match=fragment):
        call()


def test_paste_back_refuses_frames_that_are_not_the_tasks_decode():
    canvas: TaskCanvas = recipes.image_to_video(clip(1), 33, fmt=WAN21, max_frames=CONTEXT)
    with pytest.raises(ShapeError, match="decode the LATENT the task node made"):
        paste_back(canvas, torch.zeros(30, 64, 64, 3))


def flow_sigmas(steps: int, shift: float) -> torch.Tensor:
    """Core's "simple" schedule of a shifted flow model in closed form: shift*s / (1 + (shift-1)*s)."""
    s = torch.linspace(1, 0, steps + 1)
    return shift * s / (1 + (shift - 1) * s)


@pytest.mark.parametrize("task", ["t2v", "i2v"])
@pytest.mark.parametrize("steps", [1, 4, 20, 40, 50])
@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0, 8.0, 12.0])
def test_the_expert_switch_follows_wans_rule(task, steps, shift):
    boundary = BOUNDARIES[task].boundary
    sigmas = flow_sigmas(steps, shift)
    switch = switch_step(sigmas, boundary)
    for i in range(steps):  # Wan: the high-noise expert runs while t >= boundary * 1000
        assert (i < switch) == bool(sigmas[i] * 1000 >= boundary * 1000)


def test_the_expert_switch_for_wans_own_settings():
    # T2V: 40 steps at shift 12 (Wan 2.2's defaults): sigma(s) >= 0.875 while s >= 0.875/(12 - 11*0.875) ~ 0.3684
    assert switch_step(flow_sigmas(40, 12.0), 0.875) == math.floor(40 * (1 - 0.875 / (12 - 11 * 0.875))) + 1
    assert switch_step(torch.tensor([0.5, 0.2, 0.0]), 0.9) == 0  # a schedule that starts below: all low-noise
    with pytest.raises(SoraError, match="rise again"):
        switch_step(torch.tensor([0.95, 0.5, 0.95, 0.0]), 0.9)
    with pytest.raises(SoraError, match="fraction"):
        switch_step(flow_sigmas(10, 5.0), 87.5)


def test_the_shipped_core_workflows_are_what_their_script_writes_and_have_ui_twins():
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    check = subprocess.run([sys.executable, "scripts/make_core_workflows.py", "--check"], cwd=root, capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    api_files = api_workflows(core=True)
    assert len(api_files) == 8 and {p.stem for p in api_files} == {p.stem for p in ui_workflows(core=True)}
    for path in api_files:  # the same nodes in both forms (the real frontend's test compares the inputs too)
        api = json.loads(path.read_text())
        ui = json.loads((root / "workflows" / path.name).read_text())
        assert {(str(n["id"]), n["type"]) for n in ui["nodes"]} == {(k, v["class_type"]) for k, v in api.items()}
        kinds = {v["class_type"] for v in api.values()}
        assert {"VAELoader", "CLIPTextEncode", "SoraFrameSafety", "SoraSaveVideo"} <= kinds
        assert kinds & {"VAEDecode", "VAEDecodeTiled"} and kinds & {
            "KSampler",
            "KSamplerAdvanced",
            "SoraLongVideoLatent",
        }
        assert ("SoraTaskPasteBack" in kinds) == (path.stem != "core_long_video")  # every task pastes back


@pytest.mark.parametrize("path", ui_workflows(core=True), ids=lambda p: p.stem)
def test_every_core_template_has_a_thumbnail_of_its_task(path):
    """The template browser shows workflows/core_NAME.jpg: the task's layout on the sample inputs as the
    script draws it today (no render: the Wan files cannot ship), new pixels hatched."""
    import json

    import cv2
    import numpy as np

    script = thumbnails_script()
    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file(), f"{thumbnail.name} is missing: run scripts/make_thumbnails.py {path.stem}"
    shipped = thumbnail.read_bytes()
    assert json.loads(script.read_comment(shipped) or "{}") == script.provenance(path.stem), (
        f"{thumbnail.name} shows an older {path.stem}: run scripts/make_thumbnails.py {path.stem}"
    )
    decode = lambda jpeg: cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).astype(float)  # noqa: E731
    image, expected = decode(shipped), decode(script.layout_thumbnail(path.stem))
    assert image.shape == expected.shape and max(image.shape[:2]) == script.LONG_SIDE, image.shape
    assert np.abs(image - expected).mean() < 1, f"{thumbnail.name} does not show {path.stem} of today"


def test_a_core_thumbnail_hatches_exactly_the_pixels_the_model_draws():
    """Extending forward keeps the source's first frame and draws the last; backward the other way round;
    inpainting draws the box in every frame and keeps its surroundings."""
    import cv2
    import numpy as np

    script = thumbnails_script()
    light, dark, _ = script.HATCH

    def hatched(name):  # [2, 2] fraction of each tile (first, ..., last frame) that shows the stripes
        image = cv2.imdecode(np.frombuffer(script.layout_thumbnail(name), np.uint8), cv2.IMREAD_COLOR)
        grey = [(np.abs(image.astype(int) - c).max(-1) < 24) for c in (light, dark)]
        stripes = (grey[0] | grey[1]).astype(float)
        h, w = stripes.shape
        return stripes.reshape(2, h // 2, 2, w // 2).mean((1, 3))

    forward, backward, inpaint = map(hatched, ("core_extend_video", "core_extend_video_backward", "core_inpaint_scene"))
    assert forward[0, 0] < 0.02 and forward[1, 1] > 0.98, forward
    assert backward[0, 0] > 0.98 and backward[1, 1] < 0.02, backward
    assert (abs(inpaint - 0.25) < 0.05).all(), inpaint  # the 32x32 box of the 64x64 frame


def test_sora_run_names_the_core_nodes_and_how_to_point_at_a_comfyui(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "SORA_COMFYUI"} | {"PYTHONPATH": str(root)}
    workflow = root / "workflows" / "api" / "core_extend_video.json"
    command = [sys.executable, "-m", "sora_nodes.cli", "run", str(workflow), "-o", str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "KSampler" in line and "UNETLoader" in line and "--comfyui DIR" in line and "SORA_COMFYUI" in line
    assert not list(tmp_path.iterdir())


def test_a_long_video_is_planned_in_windows_that_each_know_the_last_and_follow_the_schedule():
    from sora_nodes.tasks.core_long_video import chain_windows, plan_long_video

    plan = plan_long_video("2: a blue square\n4: a green triangle", 6.0, 8.0, WAN21, context_frames=17,
                           overlap_frames=8, seed=7)  # fmt: skip
    assert plan.frames == 49 and plan.latent_frames == 13  # 6 s at 8 fps = 48 frames, rounded up to 1 + 4k
    starts = [(w.start, w.end, w.known) for w in plan.windows]
    assert starts == [(0, 5, 0), (3, 8, 2), (6, 11, 2), (8, 13, 3)]  # the last window moved back to full length
    assert [w.prompt for w in plan.windows] == [-1, 0, 0, 1]  # new frames from 0, 2.1, 3.6 and 5.1 s
    assert len({w.seed for w in plan.windows}) == 4

    seen = []

    def sample(window, latent, mask):  # a sampler that writes the window's index into what it regenerates
        seen.append((window.index, latent[:, :, : window.known].clone(), mask[0, 0, :, 0, 0].tolist()))
        return torch.where(mask.bool().expand_as(latent), float(window.index + 1), latent)

    latent = chain_windows(plan, torch.zeros(1, 16, 13, 2, 2), sample)
    assert latent[0, 0, :, 0, 0].tolist() == [1] * 5 + [2] * 3 + [3] * 3 + [4] * 2
    assert all(known.eq(previous + 1).all() for (_, known, _), previous in zip(seen[1:], [0, 1, 2], strict=True))
    assert seen[1][2] == [0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    "call, fragment",
    [
        (dict(schedule="two: x"), "SECONDS: prompt"),
        (dict(overlap_frames=40), "overlap_frames must cover"),
        (dict(context_frames=18), "try 17 or 21"),
        (dict(seconds=0.0), "positive"),
    ],
)
def test_a_bad_long_video_is_refused_before_anything_is_sampled(call, fragment):
    from sora_nodes.tasks.core_long_video import plan_long_video

    args = dict(schedule="2: x", seconds=4.0, fps=8.0, context_frames=17, overlap_frames=8) | call
    with pytest.raises(SoraError, match=fragment):
        plan_long_video(args.pop("schedule"), args.pop("seconds"), args.pop("fps"), WAN21, seed=0, **args)


def test_sora_run_puts_a_frame_check_before_cores_save_nodes_too():
    from sora_nodes.graph.guard import with_frame_safety

    graph = {
        "1": {"class_type": "VAEDecode", "inputs": {"samples": ["0", 0], "vae": ["9", 0]}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
        "3": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 16.0}},
    }
    guarded = with_frame_safety(graph)
    for save in ("2", "3"):
        gate = guarded[guarded[save]["inputs"]["images"][0]]
        assert gate["class_type"] == "SoraFrameSafety" and gate["inputs"]["frames"] == ["1", 0]
