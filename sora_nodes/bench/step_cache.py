"""Step caching: DiT forwards saved against PSNR to the uncached render, and what the evaluator scores.

    sora bench step-cache [--thresholds 0.05,0.1,0.2] [--limit N] [--prompts FILE.jsonl] [--model PATH]
                          [--no-wan] [--json]

For each held-out prompt (seed 0) the default model renders the clip uncached and once per threshold, in one
process; reported per threshold: DiT forwards uncached / cached, the PSNR of the cached clip to the uncached
one (mean and worst clip, 8-bit frames in 0..1), and the evaluator's held-out scores of both. Then a tiny
random Wan DiT (its VAE is untrained, so PSNR is on the latent, peak = the uncached latent's range) over a few
seeds, as a check that the wrapper holds on the other family. The issue's goal: >= 1.6x fewer forwards at
>= 30 dB with held-out scores within 2 points of uncached.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from ..models.dit import PatchTransformer
from ..parallel.step_cache import DEFAULT_THRESHOLD

SCORES = ("color", "shape", "motion", "count", "occlusion_persistence")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="sora bench step-cache", description=__doc__.split("\n")[0])
    p.add_argument("--thresholds", default=f"0.05,{DEFAULT_THRESHOLD:g},0.2", help="comma-separated thresholds")
    p.add_argument("--prompts", default=None, help="JSON lines of {prompt, expect} (default: the held-out set)")
    p.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped default model)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's 20)")
    p.add_argument("--no-wan", action="store_true", help="skip the tiny Wan check")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


class ForwardCounter:
    """Counts DiT forwards (any PatchTransformer) while active."""

    def __enter__(self):
        self.n = 0
        self._hook = torch.nn.modules.module.register_module_forward_pre_hook(self._count)
        return self

    def _count(self, module, args):
        if isinstance(module, PatchTransformer) and args[0].device.type != "meta":  # not the memory estimate
            self.n += 1

    def __exit__(self, *exc):
        self._hook.remove()


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def default_model(args, thresholds: list[float]) -> dict:
    from ..evaluate.analyze import analyse_clip
    from ..evaluate.prompts import load_prompts
    from ..evaluate.run import _renderer, summarize
    from ..evaluate.score import score_clip
    from ..families.defaults import SORA
    from ..recaption import recaption

    prompts = load_prompts(args.prompts)[: args.limit]
    base = {"width": SORA.size[0], "height": SORA.size[1], "frames": SORA.frames, "fps": SORA.fps}
    base |= {"steps": args.steps or SORA.steps, "cfg": 5.0, "sampler": SORA.sampler, "text": "caption"}
    renders = {
        t: _renderer("model", {**base, "step_cache": t}, model_path=args.model, device="cpu")
        for t in [0.0, *thresholds]
    }
    rows = {t: [] for t in renders}
    scores = {t: [] for t in renders}
    forwards = dict.fromkeys(renders, 0)
    psnrs = {t: [] for t in thresholds}
    start = time.perf_counter()
    for p in prompts:
        rc = recaption(
            p.prompt, seed=0, width=base["width"], height=base["height"], frames=base["frames"], fps=base["fps"]
        )
        reference = None
        for t, render in renders.items():
            with ForwardCounter() as counter:
                video = render(rc, 0)
            forwards[t] += counter.n
            s = score_clip(analyse_clip(video), p.expect)
            scores[t].append(s)
            rows[t].append({"expect": p.expect.as_dict()})
            if t == 0.0:
                reference = video
            else:
                psnrs[t].append(psnr(video, reference))
    result = {"prompts": len(prompts), "seconds": round(time.perf_counter() - start, 1), "thresholds": {}}
    uncached = _scores(summarize(rows[0.0], scores[0.0]))
    result["uncached"] = {"forwards": forwards[0.0], "scores": uncached}
    for t in thresholds:
        cached = _scores(summarize(rows[t], scores[t]))
        finite = [v for v in psnrs[t] if math.isfinite(v)]
        result["thresholds"][str(t)] = {
            "forwards": forwards[t],
            "fewer_forwards": forwards[0.0] / forwards[t],
            "psnr_mean": float(np.mean(finite)) if finite else math.inf,
            "psnr_worst": float(min(psnrs[t])),
            "scores": cached,
            "worst_drop_points": max(uncached[k] - cached[k] for k in SCORES if cached[k] is not None),
        }
    return result


def _scores(summary: dict) -> dict:
    out = {k: summary["accuracy"].get(k) for k in SCORES if k in summary["accuracy"]}
    out["occlusion_persistence"] = summary["occlusion_persistence"]
    return {k: None if v is None else round(100 * v, 1) for k, v in out.items()}


def tiny_wan(thresholds: list[float], seeds: int = 4) -> dict:
    from ..families.bundle import SoraModel
    from ..models.text import TextEmbedding
    from ..models.wan_dit import WanDiT, wan_dit_preset
    from ..models.wan_vae import WAN_VAE_PRESETS, WanVAE
    from ..pipeline.sampling import SamplingSettings, sample_latent

    torch.manual_seed(0)
    dit = WanDiT(wan_dit_preset("tiny")).eval()
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model = SoraModel(dit, WanVAE(WAN_VAE_PRESETS["tiny"]).eval(), "umt5-xxl", {"shift": "5.0"})
    forwards = dict.fromkeys([0.0, *thresholds], 0)
    psnrs = {t: [] for t in thresholds}
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)
        pos = TextEmbedding(torch.randn(1, 12, 32, generator=g), torch.ones(1, 12, dtype=torch.bool), ["a"])
        neg = TextEmbedding(torch.zeros(1, 1, 32), torch.ones(1, 1, dtype=torch.bool), [""])
        reference = None
        for t in forwards:
            settings = SamplingSettings(steps=30, cfg=5.0, sampler="unipc", seed=seed, step_cache=t)
            with ForwardCounter() as counter:
                latent = sample_latent(model, pos, neg, (5, 8, 8), settings).numpy()
            forwards[t] += counter.n
            if t == 0.0:
                reference = latent
            else:
                psnrs[t].append(psnr(latent, reference, peak=float(reference.max() - reference.min())))
    return {
        "seeds": seeds,
        "steps": 30,
        "thresholds": {
            str(t): {
                "fewer_forwards": forwards[0.0] / forwards[t],
                "psnr_mean": float(np.mean(psnrs[t])),
                "psnr_worst": float(min(psnrs[t])),
            }
            for t in thresholds
        },
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_grad_enabled(False)
    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    report = {"default_model": default_model(args, thresholds)}
    if not args.no_wan:
        report["tiny_wan"] = tiny_wan(thresholds)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    d = report["default_model"]
    print(f"default model, {d['prompts']} held-out prompts, seed 0 ({d['seconds']} s):")
    names = " / ".join(SCORES)
    print(
        f"  uncached          {d['uncached']['forwards']:5d} forwards   scores {names}: {_row(d['uncached']['scores'])}"
    )
    for t, r in d["thresholds"].items():
        print(
            f"  threshold {float(t):<6g}  {r['forwards']:5d} forwards ({r['fewer_forwards']:.2f}x fewer)  PSNR "
            f"{r['psnr_mean']:.1f} dB mean, {r['psnr_worst']:.1f} worst   scores {_row(r['scores'])} "
            f"(worst drop {r['worst_drop_points']:.1f} points)"
        )
    if "tiny_wan" in report:
        w = report["tiny_wan"]
        print(f"tiny random Wan DiT, {w['seeds']} seeds x {w['steps']} unipc steps (PSNR on the latent):")
        for t, r in w["thresholds"].items():
            print(
                f"  threshold {float(t):<6g}  {r['fewer_forwards']:.2f}x fewer forwards  PSNR "
                f"{r['psnr_mean']:.1f} dB mean, {r['psnr_worst']:.1f} worst"
            )
    return 0


def _row(scores: dict) -> str:
    return "/".join("-" if scores.get(k) is None else f"{scores[k]:.1f}" for k in SCORES)
