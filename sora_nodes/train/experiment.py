"""The DiT experiment protocol (docs/dit_experiments.md): arms trained for equal CPU minutes, then
scored on the quick eval; the overfit gate; the one-step denoising probe.

An arm is the v2 recipe with a few named changes, so every row of the table differs from the
baseline in what its name says and in nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import SoraError
from ..io.atomic import atomic_path
from ..models.dit import dit_preset
from ..models.patch_resize import finer_config
from .buckets import parse_buckets
from .dit_trainer import DiTTrainSettings, load_dit_config, train_dit
from .sources import WorldSource

QUICK_SETS = ("quick_seen", "quick_heldout")
OVERFIT_CLIPS = 64
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Arm:
    about: str
    dit: dict = field(default_factory=dict)  # DiTConfig fields changed from the shapes4 preset
    train: dict = field(default_factory=dict)  # DiTTrainSettings fields changed from BASE
    buckets: str = "64x64x17:4,112x64x17:2,64x112x17:2,64x64x9:1,64x64x33:1"


# the v2 recipe (scripts/train_default.sh at issue 13) at experiment scale: half its 4800 cached clips,
# which 20 CPU minutes of batch 16 see about 8 times
BASE = DiTTrainSettings(batch=16, lr=5e-4, dataset_size=2400, label_rate=0.2, save_every=100, precision="fp32")

ARMS: dict[str, Arm] = {
    "baseline": Arm("the v2 recipe: velocity prediction, unweighted flow loss, patch 1x4x4"),
    "object-weight": Arm("flow loss weighted 1 + 8 * salience per latent cell", train={"object_weight": 8.0}),
    "x-prediction": Arm("the DiT predicts x0, velocity-space loss (JiT)", dit={"prediction": "data"}),
    "x-pred+object": Arm(
        "x-prediction and the object-weighted loss", dit={"prediction": "data"}, train={"object_weight": 8.0}
    ),
    "patch-1x2x2": Arm(
        "patch 1x2x2: 4x the tokens, a quarter of the numbers per token (with --from: the trained patch "
        "weights resized, models/patch_resize.py)",
        dit={"patch_size": (1, 2, 2)},
    ),
    "depth-9": Arm(
        "9 DiT blocks instead of 6 (about 14 M parameters; with --from: three blocks appended at adaLN-zero, "
        "so the arm starts as the trained model)",
        dit={"depth": 9},
    ),
    "lr-1e-3": Arm("learning rate 1e-3 instead of 5e-4", train={"lr": 1e-3}),
    "batch-32": Arm("batch 32 instead of 16 (half the steps in the same time)", train={"batch": 32}),
    "x-pred+object+lr-1e-3": Arm(
        "x-prediction, the object-weighted loss and lr 1e-3",
        dit={"prediction": "data"},
        train={"object_weight": 8.0, "lr": 1e-3},
    ),
    "abs-position+lr-1e-3": Arm(
        "absolute grid-position features beside RoPE, lr 1e-3", dit={"absolute_position": True}, train={"lr": 1e-3}
    ),
    "shift-2x": Arm(
        "training sigmas shifted by twice the resolution shift (80 tokens: 3.2, median sigma 0.76 instead of 0.62)",
        train={"sigma_shift_scale": 2.0},
    ),
    "shift-half": Arm(
        "training sigmas shifted by half the resolution shift (80 tokens: 0.8, median sigma 0.44 instead of 0.62): "
        "more draws at low sigma, where SDEdit from the clip already turns circles into ovals",
        train={"sigma_shift_scale": 0.5},
    ),
    "9-frames": Arm("only 9-frame 64x64 clips (3 latent frames, 48 tokens)", buckets="64x64x9:1"),
    "output-refiner": Arm(
        "a 3x3x3 conv (64 channels) over the unpatchified output and x_t (models/output_refiner.py)",
        dit={"output_refiner": 64},
    ),
}


def arm_settings(
    arm: Arm, *, cpu_minutes: float, overfit: bool, start_from: str | Path | None = None, steps: int | None = None
) -> tuple:
    """The arm's DiT config, training settings and buckets. The CPU clock ends its run, or `steps` does (on a
    GPU, where CPU time does not measure the work, arms compare at equal steps and report their seconds)."""
    base = dit_preset("shapes4") if start_from is None else load_dit_config(start_from)
    config = dataclasses.replace(base, **arm.dit)
    if start_from is not None and config.patch_size != base.patch_size:  # resized weights keep RoPE's offsets
        config = dataclasses.replace(config, rope_scale=finer_config(base, config.patch_size).rope_scale)
    budget = {"cpu_minutes": cpu_minutes, "steps": 100_000} if steps is None else {"cpu_minutes": 0.0, "steps": steps}
    train = {**arm.train, **budget}
    buckets = arm.buckets
    if overfit:  # a fixed, small training set with nothing else varied: the model must memorise it
        train |= {"dataset_size": OVERFIT_CLIPS, "condition_rate": 0.0, "label_rate": 0.0}
        buckets = "64x64x17:1"
    return config, dataclasses.replace(BASE, **train), parse_buckets(buckets)


def run_arm(
    name: str,
    out_dir: str | Path,
    *,
    vae_path: str | Path,
    cpu_minutes: float,
    overfit: bool = False,
    cache_path: str | Path | None = None,
    resume: bool = False,
    start_from: str | Path | None = None,
    steps: int | None = None,
    device: str = "cpu",
    log=print,
) -> dict:
    """Train arm `name` for `cpu_minutes` (more, from its state.pt, with `resume`), score it, and write
    out_dir/result.json; a resumed arm's CPU minutes add up over its runs. With `start_from` (a model
    written by `sora train dit`) the arm is that model's DiT with the arm's change, warm-started from its
    EMA weights, so arms compare what each change adds to a trained model at equal CPU minutes."""
    if name not in ARMS:
        raise SoraError(f"unknown arm {name!r}; choose from {', '.join(ARMS)}")
    out_dir = Path(out_dir)
    config, settings, buckets = arm_settings(
        ARMS[name], cpu_minutes=cpu_minutes, overfit=overfit, start_from=start_from, steps=steps
    )
    source = WorldSource(buckets, label_rate=settings.label_rate)
    wall0 = time.perf_counter()
    model = train_dit(
        out_dir,
        config=config,
        vae_path=vae_path,
        source=source,
        settings=settings,
        cache_path=cache_path,
        resume=resume,
        warm_start=None if resume else start_from,
        device=device,
        log=log,
    )
    result = {
        "arm": name,
        "about": ARMS[name].about,
        "overfit": overfit,
        "start_from": None if start_from is None else str(start_from),
        "device": str(device),
        "train_seconds": round(time.perf_counter() - wall0),
        **training_figures(out_dir),
    }
    if overfit:
        result["own_captions"] = score_own_captions(model, out_dir / "latents.pt" if cache_path is None else cache_path)
    else:
        result |= quick_eval(model, device=device)
    with atomic_path(out_dir / RESULT_FILE) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1))
    log(json.dumps({k: v for k, v in result.items() if k != "about"}))
    return result


def training_figures(out_dir: Path) -> dict:
    """Steps done and the losses over the last 100 steps, from the run's state."""
    state = torch.load(out_dir / "state.pt", map_location="cpu", weights_only=True)
    losses = state["losses"][-100:]
    figures = {
        "steps": int(state["step"]),
        "cpu_minutes": round(float(state.get("cpu_seconds", 0.0)) / 60, 1),  # over every process of the run
        "loss": round(float(losses.mean()), 4),
    }
    split = state.get("loss_split", torch.zeros(0, 2))[-100:]  # [steps, 2]: object cells, background
    if len(split):
        figures["loss_object"], figures["loss_background"] = (round(float(v), 4) for v in split.mean(0))
    return figures


def quick_eval(model_path: str | Path, *, device: str = "cpu") -> dict:
    """Colour, shape and motion on 24 seen and 24 held-out triples in new wordings: 1 seed, 64x64,
    20 euler steps, cfg 5, through the recaptioner, as a user renders."""
    from ..evaluate.prompts import load_prompts, prompt_set_path
    from ..evaluate.run import evaluate

    out = {}
    for name in QUICK_SETS:
        report = evaluate(load_prompts(prompt_set_path(name)), "model", model_path=model_path, device=device)
        scores = {k: round(report["accuracy"][k], 3) for k in ("color", "shape", "motion")}
        margin = report["shape_margin"]
        out[name.removeprefix("quick_")] = scores | {"shape_margin": None if margin is None else round(margin, 4)}
    return out


def score_own_captions(model_path: str | Path, cache_path: str | Path, *, cfg: float = 5.0) -> dict:
    """The overfit gate's score: each cached training clip rendered from its own caption, seed 0,
    scored against what the clip showed (its first object). "ceiling" scores the clips' own latents
    decoded by the same VAE: what a model that reproduced its training set exactly would get."""
    from ..families.bundle import load_sora_model
    from ..models.text import load_text_encoder
    from ..pipeline.generate import decode_latent, generate
    from ..pipeline.sampling import SamplingSettings
    from .latent_cache import load_cache

    model = load_sora_model(model_path)
    encoder = load_text_encoder(model.text_encoder)
    rendered, ceiling = [], []
    for bucket, data in load_cache(Path(cache_path)).items():
        for i, (caption, subject) in enumerate(zip(data.captions, data.subjects or [], strict=False)):
            video = generate(
                model, caption, width=bucket.width, height=bucket.height, frames=bucket.frames,
                settings=SamplingSettings(steps=20, cfg=cfg, seed=0), text_encoder=encoder,
            )  # fmt: skip
            rendered.append((video, subject))
            ceiling.append((decode_latent(model.vae, model.vae.normalize(data.mean[i : i + 1].float())), subject))
    if not rendered:
        raise SoraError(f"{cache_path} records no subjects to score; rebuild it from world data")
    return {**_accuracy(rendered), "ceiling": _accuracy(ceiling)}


def _accuracy(clips: list[tuple[torch.Tensor, dict]]) -> dict:
    """Colour, shape and motion accuracy of (frames [T, H, W, 3], subject) pairs."""
    from ..evaluate.analyze import analyse_clip
    from ..evaluate.prompts import Expectation
    from ..evaluate.score import score_clip

    hits = {"color": [], "shape": [], "motion": []}
    for video, subject in clips:
        expect = Expectation(subject["color"], subject["shape"], subject["motion"], count=subject["count"])
        score = score_clip(analyse_clip(video.numpy()), expect)
        for k in hits:
            hits[k].append(bool(getattr(score, k)))
    return {k: round(float(np.mean(v)), 3) for k, v in hits.items()}


def results_table(root: str | Path) -> str:
    """A markdown table of every result.json under `root`, overfit runs first."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(root).glob(f"*/{RESULT_FILE}"))]
    lines = [
        "| arm | gate | CPU min | steps | loss | object cells | backdrop cells | seen (or own) c/s/m | held-out c/s/m "
        "(or VAE ceiling) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def csm(scores: dict | None) -> str:
        if not scores:
            return ""
        margin = f" ({scores['shape_margin']:+.3f})" if scores.get("shape_margin") is not None else ""
        return " / ".join(f"{100 * scores[k]:.0f}" for k in ("color", "shape", "motion")) + margin

    for r in sorted(rows, key=lambda r: (not r["overfit"], r["arm"])):
        seen = r.get("own_captions") if r["overfit"] else r.get("seen")
        lines.append(
            f"| {r['arm']} | {'overfit 64' if r['overfit'] else 'quick eval'} | {r['cpu_minutes']} | {r['steps']} "
            f"| {r['loss']} | {r.get('loss_object', '')} | {r.get('loss_background', '')} | {csm(seen)} "
            f"| {csm(r.get('heldout') or (seen or {}).get('ceiling'))} |"
        )
    return "\n".join(lines)
