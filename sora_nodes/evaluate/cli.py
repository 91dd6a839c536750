"""`sora eval`: score videos rendered from prompts with known answers (the project's quality benchmark);
with --task, score an editing task (image-to-video, extend, connect, loop, inpaint, style transfer, long video)."""

import argparse
import json
import sys
from pathlib import Path

from ..families.defaults import SORA
from .prompts import load_prompts
from .run import ATTRIBUTES, SOURCES, TEXTS, evaluate
from .tasks import TASKS


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH like 112x64, got {text!r}") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text}")
    return w, h


def _percent(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:5.1f}%"


def print_table(report: dict, file=None) -> None:
    file = file or sys.stdout
    s = report["settings"]
    where = f" ({report['model']})" if report["model"] else ""
    if s.get("decoder"):
        where += f" with the decoder of {s['decoder']}"
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
    if "psnr_frame0" in report:
        print(f"  {'PSNR frame 0 / rest':22s} {report['psnr_frame0']:6.2f} / {report['psnr_rest']:.2f} dB", file=file)
    if report.get("shape_margin") is not None:
        margin = report["shape_margin"]
        print(f"  {'shape margin':22s} {margin:+6.3f}  (fill of the asked shape minus the next; > 0 right)", file=file)
    print("  shape confusion (asked: detected):", file=file)
    for shape, seen in report["shape_confusion"].items():
        print(f"    {shape:8s} " + ", ".join(f"{k} {v}" for k, v in seen.items()), file=file)
    if report.get("by_size"):
        print("  by the asked object's size:", file=file)
        for size, entry in report["by_size"].items():
            shape, motion = _percent(entry["shape"]), _percent(entry["motion"])
            print(f"    {size:8s} shape {shape}  motion {motion}  of {entry['n']:3d}", file=file)
    print("  motion breakdown:", file=file)
    for motion, entry in report["motion_breakdown"].items():
        seen = ", ".join(f"{k} {v}" for k, v in entry["detected"].items())
        print(f"    {motion:8s} {_percent(entry['accuracy'])} of {entry['n']:3d}   detected: {seen}", file=file)


def _figure(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "-" if value is None else f"{value:.3g}"


def print_task_table(report: dict, file=None) -> None:
    """One block per task: every figure's median and range over the samples, then each floor's verdict."""
    file = file or sys.stdout
    for name, task in report["tasks"].items():
        print(f"{name}: {task['samples']} sample(s), seed {task['seed']}, {task['seconds']:.1f} s", file=file)
        for figure, spread in task["spread"].items():
            if "true" in spread:
                print(f"  {figure:24s} {spread['true']} of {spread['of']} samples", file=file)
                continue
            low, mid, high = (_figure(spread[k]) for k in ("min", "median", "max"))
            print(f"  {figure:24s} median {mid:>7s}   range {low} .. {high}", file=file)
        for figure, floor in task["floors"].items():
            sign = ">=" if floor["at_least"] else "<="
            verdict = "pass" if floor["pass"] else "FAIL"
            worst = _figure(floor["worst"])
            print(f"  floor {figure:18s} worst {worst:>7s}  {sign} {floor['limit']:g}: {verdict}", file=file)
        for row in task["rows"]:
            if "plot" in row:
                print(f"  plot: {row['plot']}", file=file)
    print(f"{len(report['tasks'])} task(s) in {report['seconds']:.1f} s ({report['model']})", file=file)


def print_report(report: dict, as_json: bool, table) -> int:
    """The report as JSON, or as the table `table` prints; the command's exit status."""
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        table(report)
    return 0


def cmd_task_eval(args) -> int:
    import time

    from ..errors import SoraError
    from ..io.device import pick_device
    from .tasks import TaskModel, run_task

    if args.source != "model":
        raise SoraError(f"--task scores the model; --source {args.source} applies only to the text-to-video benchmark")
    start = time.perf_counter()
    tm = TaskModel(args.model, device=pick_device(args.device), steps=args.steps, cfg=args.cfg)
    names = TASKS if args.task == "all" else (args.task,)
    tasks = {}
    for name in names:
        if not args.quiet:
            print(f"eval task {name} ...", file=sys.stderr, flush=True)
        tasks[name] = run_task(name, tm, seed=args.seed, samples=args.samples, out_dir=args.out)
    report = {
        "model": str(tm.path),
        "seed": args.seed,
        "seconds": round(time.perf_counter() - start, 2),
        "tasks": tasks,
    }
    return print_report(report, args.json, print_task_table)


def cmd_eval(args) -> int:
    from tqdm import tqdm

    from ..io.device import pick_device

    if args.task is not None:
        return cmd_task_eval(args)

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
            text=args.text,
            step_cache=args.step_cache,
            decoder=args.decoder,
            width=args.size[0],
            height=args.size[1],
            device=device,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    return print_report(report, args.json, print_table)


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
        help="model: the checkpoint; world: ground truth (the ceiling); vae: ground truth through the "
        "checkpoint's VAE (the latent's ceiling); untrained: random weights (the floor)",
    )
    p.add_argument("--model", type=Path, default=None, help="checkpoint .safetensors (default: models/sora/)")
    p.add_argument(
        "--decoder",
        type=Path,
        default=None,
        help="decode with this decoder-only fine-tune of the model's VAE (the same samples, another decoder)",
    )
    p.add_argument("--seeds", type=_positive_int, default=1, help="render each prompt with seeds 0..N-1 (default 1)")
    p.add_argument("--limit", type=_positive_int, default=None, help="evaluate only the first N prompts")
    p.add_argument("--steps", type=_positive_int, default=SORA.steps)
    p.add_argument("--cfg", type=float, default=5.0, help="guidance scale; 1 disables guidance")
    p.add_argument(
        "--step-cache",
        type=float,
        default=0.0,
        metavar="THRESHOLD",
        help="render with step caching at this threshold (0 = off, the default; `sora bench step-cache` measures it)",
    )
    p.add_argument(
        "--size", type=_size, default=SORA.size, help="WxH of the rendered clips (default {}x{})".format(*SORA.size)
    )
    p.add_argument(
        "--text",
        choices=TEXTS,
        default="caption",
        help="condition on the recaptioned long caption (default, what users get) or the scene's terse label",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--json", action="store_true", help="print the full report (with per-prompt rows) as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tasks = p.add_argument_group("editing tasks (--task)")
    tasks.add_argument(
        "--task",
        choices=(*TASKS, "all"),
        default=None,
        help="score an editing task on world clips instead of text-to-video prompts",
    )
    tasks.add_argument("--seed", type=int, default=0, help="sample i uses world and sampling seed SEED + i (default 0)")
    tasks.add_argument(
        "--samples", type=_positive_int, default=None, help="samples per task (default: a few, per task)"
    )
    tasks.add_argument(
        "--out",
        type=Path,
        default=Path("runs/task_eval"),
        help="folder for the long-video chart (default runs/task_eval)",
    )
    p.set_defaults(func=cmd_eval)
