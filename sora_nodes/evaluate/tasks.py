"""`sora eval --task`: score the editing tasks (image-to-video, extend, connect, loop, inpaint, style
transfer, long video) on world clips with known answers.

Each task renders a few samples with the library's own recipes and reports per-sample figures,
their spread over the samples, and a verdict against FLOORS, the one table of pass marks (the
tests use it too). A floor is judged on the worst sample, so one bad seed fails it.
Pixel figures are in 8-bit levels; "seam ratio" is the difference across a join over the
clip's median consecutive difference (frame_metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import SoraError
from .detect import as_uint8
from .frame_metrics import loop_seam, psnr, seam_ratio
from .task_inputs import (
    COLORS,
    JOIN_MOTIONS,
    LONG_MOTIONS,
    LOOP_MOTIONS,
    MOVERS,
    STYLE_MOTIONS,
    inpaint_input,
    recoloured,
    world_input,
)
from .task_model import TaskModel
from .task_scores import JUMP, inside_box, leading_color, moving_on, restyled, segment_figures

TASKS = ("image_to_video", "extend", "connect", "loop", "inpaint", "style_transfer", "long_video")
FPS = 8.0
CLIP = 17  # frames of a source clip: 2 s at 8 fps, as `sora render` makes by default
NEW_FRAMES = 16  # extend
CONNECT_GAP = 7  # connect: the transition frames between A and B
LOOP_FRAMES = 8  # loop: transition frames
STYLE_DENOISE = 0.6  # measured on 8 samples at seed 0: the share of frames restyled in place (new colour within
# 0.10 of the source's object) is 0.13, 0.27, 0.38, 0.40, 0.38, 0.35, 0.10 at denoise 0.3, 0.4, ..., 0.9: less
# keeps the old colour or fades the object out, more loses its place
LONG_SECONDS, LONG_SEGMENT = 60.0, 4.0  # long video: duration, and the span each point of its curves covers
DEFAULT_SAMPLES = {  # small enough that --task all runs in a few minutes on 2 CPU cores
    "image_to_video": 4,
    "extend": 3,  # x 2 directions
    "connect": 3,
    "loop": 4,
    "inpaint": 4,
    "style_transfer": 4,
    "long_video": 1,  # ~35 s on 2 cores
}


@dataclass(frozen=True)
class Floor:
    limit: float
    at_least: bool  # True: a figure passes at or above the limit; False: at or below it

    def passes(self, measured: float | None) -> bool:
        if measured is None:
            return False
        return measured >= self.limit if self.at_least else measured <= self.limit

    def worst(self, values: list[float | None]) -> float | None:
        if not values or any(v is None for v in values):
            return None
        return min(values) if self.at_least else max(values)


FLOORS: dict[str, dict[str, Floor]] = {
    "image_to_video": {
        "frame0_psnr_db": Floor(28.0, True),  # the output's frame 0 against the image
        "presence": Floor(0.9, True),  # fraction of frames the image's object colour is found in
        "max_jump": Floor(JUMP, False),  # units per frame
    },
    "extend": {"kept_identical": Floor(1, True), "seam_ratio": Floor(1.5, False)},
    "connect": {"kept_identical": Floor(1, True), "seam_ratio": Floor(1.5, False)},  # the worse of the two joins
    "loop": {"kept_identical": Floor(1, True), "seam_score": Floor(1.5, False)},
    "inpaint": {
        "outside_psnr_db": Floor(30.0, True),
        "inside_detected": Floor(0.5, True),  # fraction of frames with the prompted colour AND shape in the box
    },
    "style_transfer": {
        "centroid_error": Floor(0.10, False),  # units of the frame's shorter side, worst frame
        "new_color": Floor(0.9, True),  # fraction of frames, as `sora eval`'s colour bar
    },
    "long_video": {"end_color": Floor(1, True)},  # the last segment's leading object has the prompted colour
}


def _float(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).float() / 255


def _identical(a, b) -> bool:
    return bool(np.array_equal(as_uint8(a), as_uint8(b)))


def _truth_canvas(truth: np.ndarray, canvas, start: int) -> torch.Tensor:
    """The world's frames where the canvas lies (canvas frame j = truth frame start + j); frames beyond the
    truth (a layout's padding, dropped from the output) hold its nearest frame."""
    index = np.clip(np.arange(canvas.length) + start, 0, len(truth) - 1)
    return _float(truth[index])


def _ceiling(tm: TaskModel, canvas, truth: np.ndarray, start: int) -> torch.Tensor:
    """The task's output had the DiT sampled the true latent: the world's frames through the VAE, then the
    canvas's own finish (paste and seam correction). What the pipeline allows a perfect DiT."""
    return canvas.finish(tm.roundtrip(_truth_canvas(truth, canvas, start)))


def image_to_video(tm: TaskModel, seed: int, samples: int) -> list[dict]:
    """Frame 0 of a world clip and that clip's caption; the prompt names the motion the object should go on in."""
    from ..tasks import recipes

    rows = []
    for i in range(samples):
        item = world_input(seed, i, MOVERS, CLIP)
        canvas = recipes.image_to_video(_float(item.frames[:1]), CLIP, fmt=tm.fmt, max_frames=tm.max_frames)
        out, decoded = tm.render(canvas, item.prompt, seed + i)
        rows.append(
            {
                "prompt": item.prompt,
                "frame0_psnr_db": psnr(item.frames[0], out[0]),
                "frame0_identical": _identical(item.frames[0], out[0]),
                "decoded_frame0_psnr_db": psnr(item.frames[0], decoded[0]),  # the VAE's own, before pasting
                "motion": item.motion,
                **moving_on(out, item.color, item.motion),
                **{
                    f"ceiling_{k}": v
                    for k, v in moving_on(_ceiling(tm, canvas, item.frames, 0), item.color, item.motion).items()
                    if k in ("presence", "max_jump")
                },
            }
        )
    return rows


def extend(tm: TaskModel, seed: int, samples: int) -> list[dict]:
    """One world clip of CLIP + NEW_FRAMES frames is the truth: forward extends its first CLIP frames, backward
    its last, so the world's own ratio across the same seam is known (world_seam_ratio)."""
    from ..tasks import recipes

    rows = []
    for i in range(samples):
        item = world_input(seed, i, JOIN_MOTIONS, CLIP + NEW_FRAMES)
        for direction in recipes.DIRECTIONS:
            forward = direction == "forward"
            source = item.frames[:CLIP] if forward else item.frames[NEW_FRAMES:]
            canvas = recipes.extend(_float(source), NEW_FRAMES, direction, fmt=tm.fmt, max_frames=tm.max_frames)
            out, _ = tm.render(canvas, item.prompt, seed + i)
            seam = CLIP - 1 if forward else NEW_FRAMES - 1  # the last frame before the join
            lead, trail = (len(x) if x is not None else 0 for x in (canvas.lead, canvas.trail))
            start = lead if forward else len(item.frames) - trail - canvas.length
            rows.append(
                {
                    "prompt": item.prompt,
                    "direction": direction,
                    "frames": len(out),
                    "kept_identical": _identical(out[:CLIP] if forward else out[NEW_FRAMES:], source),
                    "seam_ratio": seam_ratio(out, seam),
                    "world_seam_ratio": seam_ratio(item.frames, seam),
                    "ceiling_seam_ratio": seam_ratio(_ceiling(tm, canvas, item.frames, start), seam),
                }
            )
    return rows


def connect(tm: TaskModel, seed: int, samples: int) -> list[dict]:
    """Clips A and B of one world clip, CONNECT_GAP frames apart, so the world's own joins are known too."""
    from ..tasks import recipes

    joins = (CLIP - 1, CLIP + CONNECT_GAP - 1)  # the last frame before each join
    rows = []
    for i in range(samples):
        item = world_input(seed, i, JOIN_MOTIONS, 2 * CLIP + CONNECT_GAP)
        a, b = item.frames[:CLIP], item.frames[CLIP + CONNECT_GAP :]
        canvas = recipes.connect(_float(a), _float(b), CONNECT_GAP, fmt=tm.fmt, max_frames=tm.max_frames)
        out, _ = tm.render(canvas, item.prompt, seed + i)
        ratios = [seam_ratio(out, j) for j in joins]
        ceiling = _ceiling(tm, canvas, item.frames, len(canvas.lead) if canvas.lead is not None else 0)
        rows.append(
            {
                "prompt": item.prompt,
                "frames": len(out),
                "kept_identical": _identical(out[:CLIP], a) and _identical(out[CLIP + CONNECT_GAP :], b),
                "seam_ratio": max(ratios),
                "seam_ratio_a": ratios[0],
                "seam_ratio_b": ratios[1],
                "world_seam_ratio": max(seam_ratio(item.frames, j) for j in joins),
                "ceiling_seam_ratio": max(seam_ratio(ceiling, j) for j in joins),
            }
        )
    return rows


def loop(tm: TaskModel, seed: int, samples: int) -> list[dict]:
    """A clip with no net travel (bounce, spin) closed into a loop through LOOP_FRAMES new frames."""
    from ..tasks import recipes

    rows = []
    for i in range(samples):
        item = world_input(seed, i, LOOP_MOTIONS, CLIP)
        canvas = recipes.loop(_float(item.frames), LOOP_FRAMES, fmt=tm.fmt, max_frames=tm.max_frames)
        out, _ = tm.render(canvas, item.prompt, seed + i)
        rows.append(
            {
                "prompt": item.prompt,
                "frames": len(out),
                "kept_identical": _identical(out[:CLIP], item.frames),
                "seam_score": loop_seam(out),
                "join_ratio": seam_ratio(out, CLIP - 1),  # clip -> transition
                "source_seam_score": loop_seam(item.frames),  # the clip looped as it is, without a transition
            }
        )
    return rows


def inpaint(tm: TaskModel, seed: int, samples: int) -> list[dict]:
    """A box over background, and the caption of the same scene with a new static object in the box."""
    from ..tasks import recipes

    rows = []
    for i in range(samples):
        item = inpaint_input(seed, i, CLIP)
        src, (x, y, w, h) = item.source, item.box
        height, width = src.frames.shape[1:3]
        mask = recipes.box_mask(CLIP, height, width, x=x, y=y, box_width=w, box_height=h, start=0, end=CLIP)
        canvas = recipes.inpaint(_float(src.frames), mask, fmt=tm.fmt, max_frames=tm.max_frames)
        out, decoded = tm.render(canvas, src.prompt, seed + i)
        outside = mask.numpy() < 0.5
        rows.append(
            {
                "prompt": src.prompt,
                "object": f"{src.color} {src.shape}",
                "box": list(item.box),
                "outside_psnr_db": psnr(src.frames, out, outside),
                "decoded_outside_psnr_db": psnr(src.frames, decoded, outside),  # before pasting
                **inside_box(out, item.box, src.color, src.shape),
                "ceiling_inside_detected": inside_box(
                    _ceiling(tm, canvas, item.target, 0), item.box, src.color, src.shape
                )["inside_detected"],
            }
        )
    return rows


def style_transfer(tm: TaskModel, seed: int, samples: int, *, denoise: float = STYLE_DENOISE) -> list[dict]:
    """A one-object clip re-rendered (SDEdit) under the caption of the same scene with another colour."""
    limit = FLOORS["style_transfer"]["centroid_error"].limit
    rows = []
    for i in range(samples):
        item = world_input(seed, i, STYLE_MOTIONS, CLIP)
        new_color = COLORS[(COLORS.index(item.color) + 1 + i % (len(COLORS) - 1)) % len(COLORS)]
        target = recoloured(item, seed, i, new_color)
        out = tm.restyle(_float(item.frames), target.prompt, seed + i, denoise)
        rows.append(
            {
                "prompt": target.prompt,
                "denoise": denoise,
                "source_color": item.color,
                "prompt_color": new_color,
                **restyled(item.frames, out, new_color, limit),
                **{
                    f"ceiling_{k}": v
                    for k, v in restyled(item.frames, tm.roundtrip(_float(target.frames)), new_color, limit).items()
                    if k in ("centroid_error", "new_color")
                },
            }
        )
    return rows


def long_video(tm: TaskModel, seed: int, samples: int, *, out_dir: str | Path | None = None) -> list[dict]:
    """LONG_SECONDS of one prompt at FPS and 64x64, chained in latent space; curves per LONG_SEGMENT."""
    from .task_plot import plot_long_video

    step = tm.fmt.frame_step
    frames = 1 + round(LONG_SECONDS * FPS / step) * step
    per = round(LONG_SEGMENT * FPS)
    rows = []
    for i in range(samples):
        item = world_input(seed, i, LONG_MOTIONS, CLIP)  # a short clip's caption: what the model was trained on
        video = tm.long_video(item.prompt, frames, 64, FPS, seed + i)
        segments = segment_figures(video, item.color, FPS, LONG_SEGMENT)
        world = segment_figures(item.frames, item.color, FPS, LONG_SEGMENT)[0]
        row = {
            "prompt": item.prompt,
            "frames": len(video),
            "seconds_of_video": (len(video) - 1) / FPS,
            "end_color": leading_color(video[-per:]) == item.color,
            "end_presence": segments[-1]["presence"],
            "max_color_drift": max((s["color_drift"] for s in segments if s["color_drift"] is not None), default=None),
            "sharpness_first": segments[0]["sharpness"],
            "sharpness_last": segments[-1]["sharpness"],
            "world_sharpness": world["sharpness"],
            "segments": segments,
        }
        if out_dir is not None:
            path = Path(out_dir) / f"long_video_seed{seed + i}.png"
            row["plot"] = str(plot_long_video(segments, item.color, world["sharpness"], path))
        rows.append(row)
    return rows


RUNNERS: dict[str, Callable[..., list[dict]]] = {
    "image_to_video": image_to_video,
    "extend": extend,
    "connect": connect,
    "loop": loop,
    "inpaint": inpaint,
    "style_transfer": style_transfer,
    "long_video": long_video,
}


def _spread(values: list) -> dict | None:
    if values and all(isinstance(v, bool) for v in values):
        return {"true": sum(values), "of": len(values)}
    numbers = [float(v) for v in values if v is not None]
    if not numbers:
        return None
    return {"min": min(numbers), "median": float(np.median(numbers)), "max": max(numbers)}


def summarise(task: str, rows: list[dict]) -> dict:
    """The spread of every numeric figure over the samples, and each floor's verdict on the worst sample."""
    numeric = [k for k in rows[0] if all(r[k] is None or isinstance(r[k], (bool, int, float)) for r in rows)]
    spread = {k: _spread([r[k] for r in rows]) for k in numeric}
    floors = {}
    for name, floor in FLOORS[task].items():
        worst = floor.worst([None if r[name] is None else float(r[name]) for r in rows])
        floors[name] = {"limit": floor.limit, "at_least": floor.at_least, "worst": worst, "pass": floor.passes(worst)}
    return {"spread": {k: v for k, v in spread.items() if v is not None}, "floors": floors}


def run_task(
    task: str, tm: TaskModel, *, seed: int = 0, samples: int | None = None, out_dir: str | Path | None = None
) -> dict:
    """One task's JSON-ready report: settings, per-sample rows, their spread, the floors' verdicts, seconds."""
    if task not in RUNNERS:
        raise SoraError(f"unknown task {task!r}; choose from {', '.join(TASKS)}, or all")
    samples = DEFAULT_SAMPLES[task] if samples is None else samples
    if samples < 1:
        raise SoraError(f"samples must be at least 1, got {samples}")
    start = time.perf_counter()
    rows = RUNNERS[task](tm, seed, samples, **({"out_dir": out_dir} if task == "long_video" else {}))
    return {
        "task": task,
        "model": str(tm.path),
        "seed": seed,
        "samples": samples,
        "settings": {"steps": tm.steps, "cfg": tm.cfg, "fps": FPS},
        **summarise(task, rows),
        "seconds": round(time.perf_counter() - start, 2),
        "rows": rows,
    }
