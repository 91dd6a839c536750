"""evaluate(): render every prompt from one source, score it, and sum the scores up.

Sources:
  model      the default checkpoint (or `model_path`), fed the recaptioned prompt: what users get
  world      the world's own rendering of the recaptioned scene: the ceiling the evaluator can reach
  untrained  a freshly initialised model with the checkpoint's architecture (seed 0): the floor
  vae        the world's clip through the checkpoint's VAE (encode, decode): the ceiling any DiT on
             that latent can reach; rows also carry the reconstruction PSNR per frame
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import SoraError
from ..families.defaults import SORA
from ..world import SIZES
from .analyze import analyse_clip
from .prompts import EvalPrompt, Expectation
from .score import ClipScore, score_clip

SOURCES = ("model", "world", "untrained", "vae")
TEXTS = ("caption", "label")  # what the DiT is conditioned on: the long recaption, or the terse label
ATTRIBUTES = ("color", "shape", "motion")
QUALITY_BAR = {"color": 0.9, "shape": 0.8, "motion": 0.8, "occlusion_persistence": 0.7}


def untrained_like(path: str | Path, *, seed: int = 0, device="cpu"):
    """A random-init model with the architecture stored in checkpoint `path` (weights are never read)."""
    from ..families.bundle import DEFAULT_TEXT_ENCODER, new_sora_model
    from ..families.checkpoint import read_metadata
    from ..models.config import config_from_json
    from ..models.dit import DiTConfig
    from ..models.vae import VAEConfig

    path = Path(path)
    if not path.exists():
        raise SoraError(
            f"--source untrained copies the architecture of the checkpoint {path}, which does not exist; "
            "pass --model PATH to any sora-nodes checkpoint"
        )
    meta = read_metadata(path)
    dit, vae = config_from_json(DiTConfig, meta["dit.config"]), config_from_json(VAEConfig, meta["vae.config"])
    model = new_sora_model(dit, vae, text_encoder=meta.get("text_encoder", DEFAULT_TEXT_ENCODER), seed=seed)
    model.dit.to(device)
    model.vae.to(device)
    return model


def psnr_per_frame(video: np.ndarray, reference: np.ndarray) -> list[float]:
    """PSNR in dB of each frame of `video` against `reference` (uint8 or 0..1 float, [T, H, W, 3])."""

    def unit(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0)

    a, b = unit(video), unit(reference)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    return [float(10 * np.log10(1.0 / max(m, 1e-10))) for m in mse]


def _renderer(source: str, settings: dict, *, model_path, device, decoder=None) -> Callable:
    """(recaption, seed) -> frames [T, H, W, 3] for the source, rendered with the report's `settings`;
    `decoder`: a decoder-only fine-tune of the model's VAE to decode with instead of its own."""
    from ..world import label, render_scene

    if source == "world":
        return lambda rc, seed: render_scene(rc.scene)
    from ..families.bundle import default_model_path, use_decoder
    from ..families.sora import load_sora
    from ..models.text import load_text_encoder
    from ..pipeline.generate import check_request, decode_latent, encode_frames, generate
    from ..pipeline.sampling import SamplingSettings

    width, height, frames = settings["width"], settings["height"], settings["frames"]
    path = Path(model_path) if model_path is not None else default_model_path()
    if source == "vae":  # a whole model or a VAE alone (vae.safetensors of `sora train vae`)
        import torch

        from ..families.bundle import load_frozen_vae

        vae = load_frozen_vae(path, device)
        if decoder is not None:
            use_decoder(vae, decoder)
        vae.latent_shape(frames, height, width)  # a bad size fails before any rendering

        def roundtrip(rc, seed):
            truth = torch.from_numpy(render_scene(rc.scene)).float() / 255.0  # [T, H, W, 3]
            return decode_latent(vae, encode_frames(vae, truth)).numpy()

        return roundtrip
    model = untrained_like(path, device=device) if source == "untrained" else load_sora(path, device=device)
    if decoder is not None:
        use_decoder(model.vae, decoder)
    check_request(model, width=width, height=height, frames=frames)  # a bad size fails before any rendering
    text_encoder = load_text_encoder(model.text_encoder, device=model.device)

    def render(rc, seed):
        sampling = SamplingSettings(
            steps=settings["steps"], cfg=settings["cfg"], sampler=settings["sampler"], seed=seed,
            step_cache=settings.get("step_cache", 0.0),
        )  # fmt: skip
        prompt = label(rc.scene) if settings["text"] == "label" and rc.scene is not None else rc.text
        video = generate(
            model, prompt, width=width, height=height, frames=frames, settings=sampling, text_encoder=text_encoder
        )
        return video.numpy()

    return render


def _rate(values: list[bool | None]) -> float | None:
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else None


def _psnr_summary(rows: list[dict]) -> dict:
    """Mean reconstruction PSNR per frame index, frame 0 apart (only for sources with a reference)."""
    curves = [row["psnr_per_frame"] for row in rows if "psnr_per_frame" in row]
    if not curves:
        return {}
    per_frame = np.mean(np.array(curves), axis=0)
    return {
        "psnr_per_frame": [round(float(v), 2) for v in per_frame],
        "psnr_frame0": round(float(per_frame[0]), 2),
        "psnr_rest": round(float(per_frame[1:].mean()), 2) if len(per_frame) > 1 else None,
    }


def asked_size(scene, expect: Expectation) -> str | None:
    """The size the recaption gave the object the prompt is about (the one of the asked colour, else of
    the asked shape); None when the world has no scene for the prompt."""
    if scene is None or not scene.objects:
        return None
    by_color = [o for o in scene.objects if o.color == expect.color]
    by_shape = [o for o in scene.objects if o.shape == expect.shape]
    return (by_color or by_shape or scene.objects)[0].size


def summarize(rows: list[dict], scores: list[ClipScore]) -> dict:
    """Per-attribute accuracy, occlusion persistence, count accuracy, flicker, and breakdowns per asked
    motion, shape and object size."""
    accuracy = {a: _rate([getattr(s, a) for s in scores]) for a in ATTRIBUTES}
    accuracy["count"] = _rate([s.count for s in scores])
    by_motion: dict[str, dict] = {}
    for row, s in zip(rows, scores, strict=True):
        want = row["expect"].get("motion")
        if want is None:
            continue
        entry = by_motion.setdefault(want, {"n": 0, "correct": 0, "detected": Counter()})
        entry["n"] += 1
        entry["correct"] += bool(s.motion)
        entry["detected"][str(s.detected["motion"])] += 1
    breakdown = {
        m: {"n": e["n"], "accuracy": e["correct"] / e["n"], "detected": dict(e["detected"].most_common())}
        for m, e in sorted(by_motion.items())
    }
    confusion: dict[str, Counter] = {}
    for row, s in zip(rows, scores, strict=True):
        if (want := row["expect"].get("shape")) is not None:
            confusion.setdefault(want, Counter())[str(s.detected["shape"])] += 1
    by_size: dict[str, list[ClipScore]] = {}
    for row, s in zip(rows, scores, strict=True):
        if row.get("size") is not None:
            by_size.setdefault(row["size"], []).append(s)
    occlusion = _rate([s.occlusion for s in scores])
    figures = {**accuracy, "occlusion_persistence": occlusion}
    margins = [s.shape_margin for s in scores if s.shape_margin is not None]
    return {
        "accuracy": accuracy,
        "occlusion_persistence": occlusion,
        "n_occlusion": sum(s.occlusion is not None for s in scores),
        "flicker": float(np.mean([s.flicker for s in scores])) if scores else None,
        "color_jitter": float(np.mean([s.color_jitter for s in scores])) if scores else None,
        "motion_breakdown": breakdown,
        "shape_confusion": {k: dict(v.most_common()) for k, v in sorted(confusion.items())},
        # small objects fit inside one DiT token, so their shape is the first to go
        "by_size": {
            size: {"n": len(group), **{a: _rate([getattr(s, a) for s in group]) for a in ("shape", "motion")}}
            for size in SIZES
            if (group := by_size.get(size))
        },
        "shape_margin": float(np.mean(margins)) if margins else None,  # a graded shape score: > 0 reads right
        **_psnr_summary(rows),
        "quality_bar": {
            k: {"required": bar, "measured": figures[k], "pass": None if figures[k] is None else figures[k] >= bar}
            for k, bar in QUALITY_BAR.items()
        },
    }


def evaluate(
    prompts: list[EvalPrompt],
    source: str = "model",
    *,
    seeds: int = 1,
    width: int = SORA.size[0],
    height: int = SORA.size[1],
    frames: int = SORA.frames,
    fps: float = SORA.fps,
    model_path: str | Path | None = None,
    steps: int = SORA.steps,
    cfg: float = 5.0,
    sampler: str = SORA.sampler,
    text: str = "caption",
    step_cache: float = 0.0,
    decoder: str | Path | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Render each prompt with seeds 0..seeds-1 from `source` and score it; returns the JSON-ready report."""
    from ..recaption import recaption

    if source not in SOURCES:
        raise SoraError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    if text not in TEXTS:
        raise SoraError(f"unknown text {text!r}; choose from {', '.join(TEXTS)}")
    if seeds < 1:
        raise SoraError(f"seeds must be at least 1, got {seeds}")
    if not prompts:
        raise SoraError("no prompts to evaluate")
    start = time.perf_counter()
    # What every clip is rendered with, and what the report says it was rendered with.
    settings = {"seeds": seeds, "width": width, "height": height, "frames": frames, "fps": fps}
    if source in ("model", "untrained"):
        settings |= {"steps": steps, "cfg": cfg, "sampler": sampler, "text": text, "step_cache": step_cache}
    if decoder is not None:
        if source not in ("model", "vae"):
            raise SoraError(f"--decoder swaps the decoder of a model's VAE; --source {source} has none to swap")
        settings["decoder"] = str(decoder)
    render = _renderer(source, settings, model_path=model_path, device=device, decoder=decoder)
    rows, scores = [], []
    total = len(prompts) * seeds
    for i, p in enumerate(prompts):
        for seed in range(seeds):
            rc = recaption(p.prompt, seed=seed, width=width, height=height, frames=frames, fps=fps)
            if (source in ("world", "vae") or text == "label") and rc.scene is None:
                raise SoraError(
                    f"prompt {i + 1} ({p.prompt!r}) is outside the shapes world, so the world cannot render it; "
                    "name a shape (circle, square, triangle) or an object's colour and motion"
                )
            video = render(rc, seed)
            s = score_clip(analyse_clip(video), p.expect)
            scores.append(s)
            rows.append(
                {
                    "prompt": p.prompt,
                    "seed": seed,
                    "caption": rc.text,
                    "size": asked_size(rc.scene, p.expect),
                    "expect": p.expect.as_dict(),
                    "detected": s.detected,
                    "scores": {k: v for k, v in asdict(s).items() if k in (*ATTRIBUTES, "count", "occlusion")},
                    "shape_margin": s.shape_margin,
                    "flicker": s.flicker,
                    "color_jitter": s.color_jitter,
                }
            )
            if source == "vae":
                from ..world import render_scene

                rows[-1]["psnr_per_frame"] = psnr_per_frame(video, render_scene(rc.scene))
            if progress is not None:
                progress(len(scores), total)
    model = None
    if source != "world":
        from ..families.bundle import default_model_path

        model = str(model_path if model_path is not None else default_model_path())
    return {
        "source": source,
        "model": model,
        "n_prompts": len(prompts),
        "n_clips": len(scores),
        "settings": settings,
        **summarize(rows, scores),
        "seconds": round(time.perf_counter() - start, 2),
        "rows": rows,
    }
