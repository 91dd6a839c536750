"""Soak: one real ComfyUI server renders the shipped text-to-video graph many times; does it leak or reload?

Run: COMFYUI_DIR=~/ComfyUI COMFYUI_PYTHON=~/comfy-venv/bin/python python tests/comfyui_soak.py
         [--renders 20] [--steps 4] [--max-growth 5] [--keep]

The ComfyUI checkout and its interpreter are found as in tests/comfyui_host.py ($COMFYUI_DIR, else
~/ComfyUI; $COMFYUI_PYTHON, else this Python), and the server is started the same way, with the pack
linked into a custom_nodes folder under a temporary directory. The interpreter running this script
needs pytest, requests and websocket-client (the `test` and `comfyui-test` extras).

workflows/api/text_to_video.json is queued --renders times in a row, each waited for on /ws, with
the sampler's and the recaptioner's seeds changed every time (as "randomize" does in the UI), so
every render after the first reruns the recaptioner, the positive prompt, the sampler, the decode,
the frame check and the save, while ComfyUI's own cache keeps the checkpoint loader's output.
Steps are lowered to --steps (the shipped graph has 20) to keep the run short; the output says so.

Reported: the server process's VmRSS (/proc/<pid>/status) after the first render, which includes
the loaded model, and after the last; the growth between them in percent; seconds per render
(first, median and last of the rest); and how many times the pack logged
"loaded checkpoint" (sora_nodes/families/cache.py logs each real load, not a cache hit).
Exits 1 if the growth exceeds --max-growth percent, the checkpoint was loaded more than once, or a
render did not succeed; 2 if ComfyUI is not found.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from comfyui_host import comfyui_dir, load_json, start_server  # the server helpers the host tests use

REPO = Path(__file__).resolve().parents[1]

WORKFLOW = REPO / "workflows" / "api" / "text_to_video.json"
SHIPPED_STEPS = 20
LOADED_CHECKPOINT = re.compile(r"loaded checkpoint (\S+)")  # sora_nodes/families/cache.py


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


def only_node(prompt: dict, class_type: str) -> str:
    (node_id,) = [k for k, v in prompt.items() if v["class_type"] == class_type]
    return node_id


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--renders", type=int, default=20, help="renders in a row on one server (default 20; at least 2)")
    p.add_argument("--steps", type=int, default=4, help=f"sampler steps (the shipped graph has {SHIPPED_STEPS})")
    p.add_argument("--seed", type=int, default=1000, help="seed of the first render; render i uses seed + i")
    p.add_argument("--max-growth", type=float, default=5.0, help="RSS growth in percent that fails (default 5)")
    p.add_argument("--keep", action="store_true", help="keep the server's folders and log (printed at the end)")
    args = p.parse_args(argv)
    if args.renders < 2 or args.steps < 1:
        p.error("--renders must be at least 2 and --steps at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    comfy = comfyui_dir()
    if comfy is None:
        print("ComfyUI not found: set COMFYUI_DIR to a ComfyUI checkout (see tests/comfyui_host.py)", file=sys.stderr)
        return 2
    prompt = load_json(WORKFLOW)
    sampler, recaptioner = only_node(prompt, "SoraSampler"), only_node(prompt, "SoraRecaptioner")
    prompt[sampler]["inputs"]["steps"] = args.steps
    latent = prompt[only_node(prompt, "SoraEmptyVideoLatent")]["inputs"]
    print(
        f"{WORKFLOW.relative_to(REPO)} x {args.renders}: steps lowered to {args.steps} "
        f"(shipped: {SHIPPED_STEPS}), {latent['width']}x{latent['height']}, {latent['frames']} frames; "
        f"seeds {args.seed}..{args.seed + args.renders - 1}"
    )

    root = Path(tempfile.mkdtemp(prefix="comfyui-soak-"))
    seconds: list[float] = []
    rss: list[int] = []
    failure = ""
    try:
        server = start_server(comfy, "link", root)
    except BaseException as error:  # pytest.fail raises a BaseException
        print(f"ComfyUI did not start: {error}", file=sys.stderr)
        return 1
    try:
        rss_idle = rss_bytes(server.process.pid)
        for i in range(args.renders):
            prompt[sampler]["inputs"]["seed"] = args.seed + i
            prompt[recaptioner]["inputs"]["seed"] = args.seed + i
            run = server.run(prompt)
            if run.ended_with != "execution_success":
                errors = run.of_type("execution_error")
                failure = f"render {i + 1} ended with {run.ended_with}: {errors[0] if errors else ''}"
                break
            seconds.append(run.seconds)
            rss.append(rss_bytes(server.process.pid))
            print(f"  render {i + 1:2d}: {run.seconds:6.2f} s  RSS {rss[-1] / 2**20:7.1f} MiB", flush=True)
        loads = LOADED_CHECKPOINT.findall(server.log())
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if failure:
        print(failure, file=sys.stderr)
        return 1

    growth = 100.0 * (rss[-1] - rss[0]) / rss[0]
    rest = seconds[1:]
    mib = 2**20
    rows = [
        ("server RSS before any render", f"{rss_idle / mib:.1f} MiB"),
        ("server RSS after render 1", f"{rss[0] / mib:.1f} MiB"),
        (f"server RSS after render {len(rss)}", f"{rss[-1] / mib:.1f} MiB"),
        (f"RSS growth 1 -> {len(rss)}", f"{growth:+.2f} % (limit {args.max_growth:g} %)"),
        (f"RSS growth {len(rss) // 2} -> {len(rss)}", f"{100.0 * (rss[-1] - rss[len(rss) // 2 - 1]) / rss[0]:+.2f} %"),
        ("s/render, first (model load)", f"{seconds[0]:.2f}"),
        (f"s/render, median of {len(rest)} after", f"{statistics.median(rest):.2f}"),
        ("s/render, last", f"{seconds[-1]:.2f}"),
        ("last / median", f"{seconds[-1] / statistics.median(rest):.2f}"),
        ("checkpoint loads logged", f"{len(loads)} ({'once' if len(loads) == 1 else 'NOT once'})"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\n{'metric':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.keep:
        print(f"\nserver folders and log kept in {root}")
    bad = []
    if growth > args.max_growth:
        bad.append(f"RSS grew {growth:.2f} % over {len(rss) - 1} renders (limit {args.max_growth:g} %)")
    if len(loads) != 1:
        bad.append(f"the checkpoint was loaded {len(loads)} times, expected once: {loads}")
    for line in bad:
        print(f"FAIL: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
