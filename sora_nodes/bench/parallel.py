"""Parallel sampling over torch.distributed: time per step, all_to_all bytes against Ulysses' theory, speed-up.

    sora bench parallel [--world 2] [--modes ulysses,cfg] [--latent 5x16x16] [--hidden 256] [--depth 4]
                        [--heads 4] [--steps 4] [--device auto|cpu|cuda] [--json]

One process samples a randomly initialised DiT at a reduced size (guidance on, so each step is one DiT call of
batch 2); then, for each mode, `--world` ranks started by torchrun (gloo on CPU, nccl on CUDA) sample the same
thing under that mode. Reported per run: seconds per step (the median after one warm-up step), the bytes
all_to_all moved per step summed over ranks against the theory 4*B*N*D*(P-1)/P per attention layer (Ulysses'
degree P, B the batch one ulysses group runs, N tokens, D the width, 4-byte fp32 elements), the speed-up over
one process, and each rank's largest difference from the one-process latent. Every process, the one-process
run's included, gets one thread: a rank stands for one device, as one GPU per rank on a GPU machine. On this
2-core CPU the collectives cost more than they save; the figures to expect on GPUs are the anchors'
(README, "Parallel sampling").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from .common import DEVICES, positive_int


def parse_args(argv):
    p = argparse.ArgumentParser(prog="sora bench parallel", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=positive_int, default=2, help="ranks per parallel run (default 2)")
    p.add_argument("--modes", default=None, help="comma-separated (default: ulysses,cfg for 2, all three for 4+)")
    p.add_argument("--latent", default="5x16x16", help="latent frames x height x width (default 5x16x16)")
    p.add_argument("--hidden", type=positive_int, default=256)
    p.add_argument("--depth", type=positive_int, default=4)
    p.add_argument("--heads", type=positive_int, default=4)
    p.add_argument("--steps", type=positive_int, default=4, help="timed steps, after one warm-up step")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before a run is given up")
    p.add_argument("--json", action="store_true")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # a rank's mode (or "single")
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _model(args, device):
    from ..families.bundle import SoraModel
    from ..models.dit import DiT, DiTConfig
    from ..models.vae import VAE_PRESETS, VideoVAE

    torch.manual_seed(0)
    config = DiTConfig(latent_channels=4, hidden_size=args.hidden, depth=args.depth, num_heads=args.heads)
    dit = DiT(config).eval()
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return SoraModel(dit.to(device), VideoVAE(VAE_PRESETS["tiny"]).eval().to(device))


def _sample(args, device) -> tuple[torch.Tensor, list[float]]:
    from ..models.text import TextEmbedding
    from ..pipeline.sampling import SamplingSettings, sample_latent

    model = _model(args, device)
    g = torch.Generator().manual_seed(1)
    pos = TextEmbedding(torch.randn(1, 8, 384, generator=g), torch.ones(1, 8, dtype=torch.bool), ["a"])
    neg = TextEmbedding(torch.randn(1, 8, 384, generator=g), torch.ones(1, 8, dtype=torch.bool), ["b"])
    stamps = []

    def tick(step):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        stamps.append(time.perf_counter())

    settings = SamplingSettings(steps=args.steps + 1, cfg=5.0, sampler="euler", seed=0, precision="fp32")
    start = time.perf_counter()
    latent = sample_latent(model, pos, neg, _latent(args.latent), settings, callback=tick)
    times = [b - a for a, b in zip([start, *stamps], stamps, strict=False)][1:]  # the first step warms up
    return latent.cpu(), times


def _latent(text: str) -> tuple[int, int, int]:
    t, h, w = (int(v) for v in text.lower().split("x"))
    return t, h, w


def worker(args) -> int:
    """One rank of a parallel run (under torchrun), or the one-process run ("single")."""
    from ..io.device import pick_device
    from ..parallel.launch import close_parallel, init_parallel
    from ..parallel.layout import use_parallel

    device = pick_device(args.device)
    if args.worker == "single":
        latent, times = _sample(args, device)
        torch.save({"latent": latent, "times": times}, args.out)
        return 0
    torch.set_num_threads(1)
    context = init_parallel(args.worker, device, args.timeout)
    try:
        with use_parallel(context):
            latent, times = _sample(args, context.device)
        reference = torch.load(Path(args.out).with_name("single.pt"))["latent"]
        worst = context.collectives.all_gather(
            (latent - reference).abs().max().reshape(1).to(context.device), None, context.layout.world
        )
        sent = context.collectives.total(context.collectives.sent["all_to_all"], context.device)
        if context.is_main:
            layout = context.layout
            Path(args.out).write_text(
                json.dumps(
                    {
                        "mode": args.worker,
                        "world": layout.world,
                        "cfg": layout.cfg_degree,
                        "ulysses": layout.ulysses_degree,
                        "seconds_per_step": statistics.median(times),
                        "all_to_all_bytes_per_step": sent / (args.steps + 1),
                        "max_difference": float(torch.cat(worst).max()),
                    }
                )
            )
    finally:
        close_parallel()
    return 0


def theory_bytes_per_step(args, cfg: int, ulysses: int) -> float:
    """4*B*N*D*(P-1)/P fp32 elements per attention layer, per ulysses group, times layers and groups."""
    from ..parallel.ulysses import theoretical_bytes_per_layer

    if ulysses == 1:
        return 0.0
    t, h, w = _latent(args.latent)
    tokens = t * (h // 2) * (w // 2)  # patch (1, 2, 2)
    batch = 2 // cfg  # guidance batches prompt and negative prompt unless cfg-parallel splits them
    return cfg * args.depth * theoretical_bytes_per_layer(batch, tokens, args.hidden, ulysses, 4)


def _run(argv: list[str], env: dict, timeout: float) -> None:
    done = subprocess.run(argv, env=env, timeout=timeout, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or "").splitlines() if "error" in line.lower()] or [done.stderr[-500:]]
        raise SystemExit(f"sora bench parallel: a run failed: {lines[-1].strip()}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        return worker(args)
    modes = (args.modes or ("ulysses,cfg" if args.world < 4 else "ulysses,cfg,cfg+ulysses")).split(",")
    forwarded = [
        *("--latent", args.latent, "--hidden", str(args.hidden), "--depth", str(args.depth)),
        *("--heads", str(args.heads), "--steps", str(args.steps), "--device", args.device),
        *("--timeout", str(args.timeout)),
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="sora-bench-parallel-") as folder:
        single = Path(folder) / "single.pt"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        me = [sys.executable, "-m", "sora_nodes.cli", "bench", "parallel"]
        _run([*me, *forwarded, "--worker", "single", "--out", str(single)], env, args.timeout)
        base = statistics.median(torch.load(single)["times"])
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.world}"]
        for mode in modes:
            out = Path(folder) / f"{mode}.json"
            if mode == "cfg" and args.world != 2:
                continue
            rank = ["-m", "sora_nodes.cli", "bench", "parallel", *forwarded, "--worker", mode, "--out", str(out)]
            _run([*torchrun, *rank], env, args.timeout)
            r = json.loads(out.read_text())
            r["theory_bytes_per_step"] = (
                theory_bytes_per_step(args, r["cfg"], r["ulysses"]) * (args.steps + 1) / (args.steps + 1)
            )
            r["speedup"] = base / r["seconds_per_step"]
            results.append(r)
    from ..io.device import pick_device

    t, h, w = _latent(args.latent)
    report = {
        "device": pick_device(args.device).type,
        "size": {
            "latent": [t, h, w],
            "tokens": t * (h // 2) * (w // 2),
            "hidden": args.hidden,
            "depth": args.depth,
            "heads": args.heads,
        },
        "one_process": {"seconds_per_step": base, "threads": 1},
        "runs": results,
        "gpu_command": (
            "sora bench parallel --device cuda --world 8 --modes cfg+ulysses --latent 21x60x104 "
            "--hidden 1536 --depth 30 --heads 12 --steps 4   # nccl, one GPU per rank; Wan 1.3B's shape at 480p x 81"
        ),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    s = report["size"]
    print(
        f"DiT {s['hidden']} wide x {s['depth']} layers, {s['heads']} heads, {s['tokens']} tokens, batch 2 (guidance), "
        f"fp32 on {report['device']}, one thread per process; one process: {base:.3f} s/step"
    )
    for r in results:
        theory = r["theory_bytes_per_step"]
        ratio = f" = {r['all_to_all_bytes_per_step'] / theory:.3f} x theory" if theory else ""
        print(
            f"  {r['mode']:12s} {r['world']} ranks (cfg {r['cfg']} x ulysses {r['ulysses']}): "
            f"{r['seconds_per_step']:.3f} s/step, {r['speedup']:.2f}x over one process; all_to_all "
            f"{r['all_to_all_bytes_per_step'] / 2**20:.2f} MiB/step (theory {theory / 2**20:.2f}){ratio}; "
            f"max |diff| {r['max_difference']:.1e}"
        )
    print(f"on GPUs (NCCL): {report['gpu_command']}")
    return 0
