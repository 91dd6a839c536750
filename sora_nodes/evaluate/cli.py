"""`sora eval`: score videos rendered from prompts with known answers (the project's quality benchmark)."""

import argparse
import json
import sys
from pathlib import Path

from .prompts import load_prompts
from .run import ATTRIBUTES, SOURCES, evaluate


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _percent(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:5.1f}%"


def print_table(report: dict, file=None) -> None:
    file = file or sys.stdout
    s = report["settings"]
    where = f" ({report['model']})" if report["model"] else ""
    print(
        f"source {report['source']}{where}: {report['n_prompts']} prompts x {s['seeds']} seed(s), "
        f"{s['width']}x{s['height']}, {s['frames']} frames, {report['seconds']:.1f} s",
        file=file,
    )
    bar = report["quality_bar"]
    for name in (*ATTRIBUTES, "count", "occlusion_persistence"):
        value = report["occlusion_persistence"] if name == "occlusion_persistence" else report["accuracy"][name]
        verdict = ""
        if name in bar and value is not None:
            verdict = f"  (bar {100 * bar[name]['required']:.0f}%: {'pass' if bar[name]['pass'] else 'FAIL'})"
        print(f"  {name:22s} {_percent(value)}{verdict}", file=file)
    print(f"  {'flicker (8-bit levels)':22s} {report['flicker']:6.2f}  (background; lower is better)", file=file)
    print(f"  {'colour jitter':22s} {report['color_jitter']:6.2f}  (objects; lower is better)", file=file)
    print("  motion breakdown:", file=file)
    for motion, entry in report["motion_breakdown"].items():
        seen = ", ".join(f"{k} {v}" for k, v in entry["detected"].items())
        print(f"    {motion:8s} {_percent(entry['accuracy'])} of {entry['n']:3d}   detected: {seen}", file=file)


def cmd_eval(args) -> int:
    from tqdm import tqdm

    from ..cli import pick_device

    prompts = load_prompts(args.prompts)[: args.limit]
    device = "cpu" if args.source == "world" else pick_device(args.device)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar  # opened on the first clip, so loading errors are not printed under a progress bar
        if bar is None:
            bar = tqdm(total=total, desc=f"eval {args.source}", unit="clip", disable=args.quiet)
        bar.update(done - bar.n)

    try:
        report = evaluate(
            prompts,
            args.source,
            seeds=args.seeds,
            model_path=args.model,
            steps=args.steps,
            cfg=args.cfg,
            device=device,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval", help="benchmark: render prompts with known answers and score colour, shape, motion, occlusion"
    )
    p.add_argument(
        "--prompts", type=Path, default=None, help="JSON lines of {prompt, expect} (default: the shipped held-out set)"
    )
    p.add_argument(
        "--source",
        choices=SOURCES,
        default="model",
        help="model: the checkpoint; world: ground truth (the ceiling); untrained: random weights (the floor)",
    )
    p.add_argument("--model", type=Path, default=None, help="checkpoint .safetensors (default: models/sora/)")
    p.add_argument("--seeds", type=_positive_int, default=1, help="render each prompt with seeds 0..N-1 (default 1)")
    p.add_argument("--limit", type=_positive_int, default=None, help="evaluate only the first N prompts")
    p.add_argument("--steps", type=_positive_int, default=20)
    p.add_argument("--cfg", type=float, default=5.0, help="guidance scale; 1 disables guidance")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--json", action="store_true", help="print the full report (with per-prompt rows) as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)
