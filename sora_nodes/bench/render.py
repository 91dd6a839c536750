"""Where render time goes, stage by stage, and how far the DiT is from the hardware limit.

    sora bench render [--model PATH | --dit S --vae small] [--size 64x64] [--frames 17] [--steps 20]
                      [--cfg 5] [--sampler euler] [--attention auto] [--device auto|cpu|cuda] [--json]

Everything runs in one process: build or load the model, load the text encoder (timed once, as a
fresh load), render once as a warm-up (this is the "first render"), then `--repeats` timed renders.
A render is generate() plus write_video() to a temporary directory: the steps the nodes of `sora render`'s graph
run, without the watermark and the C2PA signature (`--command-runs` times whole `sora render` processes).

The stages are cut out of that same generate() call rather than timed in separate calls, so they add
up to the end-to-end time: the text encoder is wrapped to note when its last encode() returns, and
the sampler callback notes when each step's denoised estimate is ready (with a CUDA sync on a GPU).
- prompt encoding: generate() start -> last encode() return (the prompt and the negative prompt)
- sampling: -> the last step's callback; per step is that divided by --steps
- VAE decode: -> generate() returns (also the last step's few elementwise ops)
- MP4 encode: -> write_video() returns
The reported stages come from the repeat with the median end-to-end time, so their shares sum to 1.
"cold" is the text-encoder load plus the first render (what a user's first render costs once the
model is loaded; it includes one-time kernel selection and allocator warm-up).

DiT FLOPs are counted from the calls the DiT actually receives (a forward pre-hook sees their batch,
token grid and text length), so guidance (batch 2 when cfg != 1) and samplers with several model
calls per step (heun: 2, except the last step) need no special cases. Per call, following ANCHORS.md
(2·params·N + 4·L·N²·d) with text cross-attention 4·L·N·Lt·d added, each weight is counted on the
rows it is applied to: most on the N video tokens, the text projection and cross-attention K/V on the
Lt text tokens, adaLN and the timestep MLP once per sample. Counting every weight on N video tokens
would overstate DiT-S by about a third. Utilisation is these FLOPs / sampling time / device peak
(CPU 190 GFLOP/s fp32; H100/H200 989 TFLOP/s dense bf16; `--peak-tflops` overrides); sampling time
also holds the sampler's own arithmetic, which is what a user waits for.

Peak memory is that of the first timed render, measured as in `sora bench attention` (VmHWM on
Linux CPU, max_memory_allocated on CUDA): `render` is the extra on top of the loaded model and text
encoder, `process` the absolute peak.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..diffusion.samplers import SAMPLERS
from ..families.bundle import SoraModel, default_model_path, new_sora_model
from ..families.defaults import SORA
from ..families.sora import load_sora
from ..io.device import pick_device
from ..io.video import write_video
from ..models.attention import BACKENDS, resolve_backend
from ..models.dit import DIT_PRESETS, DiT
from ..models.text import TEXT_ENCODERS, TextEmbedding
from ..models.vae import VAE_PRESETS
from ..pipeline.generate import generate
from ..pipeline.sampling import PRECISIONS, SamplingSettings, autocast_dtype
from .common import DEVICES, CpuPeak, Hardware, positive_int, report_main

DEFAULT_PROMPT = "a red circle moving left over a blue background"
DEFAULT_DIT, DEFAULT_VAE = "S", "small"
FPS = 8.0
STAGES = ("prompt_encoding", "sampling", "vae_decode", "mp4_encode")
RENDER_BUDGET_S = 15.0  # the default model's 64x64, 17-frame render on 2 CPU cores, as a user times it


def time_render_command(args: argparse.Namespace, model_path: Path) -> dict:
    """Wall time of whole `sora render` processes: what a user waits for from Enter to the file."""
    import subprocess

    sora = Path(sys.executable).with_name("sora")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.command_runs):
            cmd = [
                str(sora),
                "render",
                args.prompt,
                "--model",
                str(model_path),
                "-o",
                f"{tmp}/{i}.mp4",
                "-q",
                "--size",
                "{}x{}".format(*args.size),
                "--frames",
                str(args.frames),
                "--steps",
                str(args.steps),
                "--cfg",
                str(args.cfg),
                "--sampler",
                args.sampler,
                "--device",
                args.device,
            ]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            runs.append(time.perf_counter() - start)
    median = sorted(runs)[len(runs) // 2]
    return {"runs": runs, "median": median, "budget": RENDER_BUDGET_S, "median_over_budget": median / RENDER_BUDGET_S}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sora bench render", description=__doc__.split("\n")[0])
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"checkpoint .safetensors (default: {default_model_path()} if it exists, else an untrained "
        f"--dit/--vae bundle; timing does not depend on the weights)",
    )
    p.add_argument(
        "--dit", choices=list(DIT_PRESETS), default=None, help=f"untrained DiT preset (default {DEFAULT_DIT})"
    )
    p.add_argument(
        "--vae", choices=list(VAE_PRESETS), default=None, help=f"untrained VAE preset (default {DEFAULT_VAE})"
    )
    p.add_argument("--size", type=_size, default=SORA.size, help="WIDTHxHEIGHT (default {}x{})".format(*SORA.size))
    p.add_argument("--frames", type=positive_int, default=SORA.frames)
    p.add_argument("--steps", type=positive_int, default=SORA.steps)
    p.add_argument("--cfg", type=float, default=5.0, help="guidance scale; 1 disables guidance (half the DiT batch)")
    p.add_argument("--sampler", choices=sorted(SAMPLERS), default=SORA.sampler)
    p.add_argument("--attention", choices=BACKENDS, default="auto")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument(
        "--precision",
        choices=sorted(PRECISIONS),
        default="auto",
        help="DiT compute, as in sora render (the VAE stays float32); auto: bf16 autocast on CUDA, fp32 on CPU",
    )
    p.add_argument("--prompt", default=DEFAULT_PROMPT)
    p.add_argument("--repeats", type=positive_int, default=3, help="timed renders after the warm-up (median)")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for utilisation (default: known)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--command-runs",
        type=int,
        default=0,
        help="also time N whole `sora render` processes (import, model and text-encoder load, render, MP4) "
        f"against the {RENDER_BUDGET_S:g} s budget for the default 2 s clip",
    )
    return p.parse_args(argv)


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or min(int(m[1]), int(m[2])) < 1:
        raise argparse.ArgumentTypeError(
            f"size must look like WIDTHxHEIGHT with positive sides, e.g. 64x64; got {text!r}"
        )
    return int(m[1]), int(m[2])


def dit_flops(dit: DiT, batch: int, tokens: int, text_tokens: int) -> int:
    """Matmul FLOPs of one DiT forward on `batch` clips of `tokens` video and `text_tokens` text tokens."""
    per_sample = per_text = per_token = 0
    for name, p in dit.named_parameters():
        if "adaLN_modulation" in name or name.startswith("t_embedder."):
            per_sample += p.numel()  # applied to the conditioning vector c [B, D], once per clip
        elif name.startswith("text_proj.") or ".cross_attn.kv." in name:
            per_text += p.numel()  # applied to the text states [B, Lt, D]
        else:
            per_token += p.numel()  # applied to every video token [B, N, D]
    n, lt, layers, d = tokens, text_tokens, dit.config.depth, dit.config.hidden_size
    weights = 2 * (per_token * n + per_text * lt + per_sample)
    attention = 4 * layers * n * n * d + 4 * layers * n * lt * d  # self (QK^T and PV) + cross
    return batch * (weights + attention)


class _TimedEncoder:
    """The real text encoder, noting when its latest encode() finished (generate() encodes, then samples)."""

    def __init__(self, encoder, sync):
        self.encoder, self.sync = encoder, sync
        self.name, self.dim = encoder.name, encoder.dim
        self.done: float | None = None

    def encode(self, prompts: list[str]) -> TextEmbedding:
        out = self.encoder.encode(prompts)
        self.sync()
        self.done = time.perf_counter()
        return out


def _render(model: SoraModel, encoder: _TimedEncoder, args, settings: SamplingSettings, out: Path, sync) -> dict:
    """One generate() + write_video(); returns seconds per stage and end to end (see the module docstring)."""
    width, height = args.size
    step_done: list[float] = []

    def on_step(info):
        sync()
        step_done.append(time.perf_counter())

    encoder.done = None
    t0 = time.perf_counter()
    frames = generate(
        model,
        args.prompt,
        width=width,
        height=height,
        frames=args.frames,
        settings=settings,
        text_encoder=encoder,
        callback=on_step,
    )  # [T, H, W, 3] on the CPU, so the GPU is done
    t_decoded = time.perf_counter()
    write_video(out, frames, FPS)
    t_written = time.perf_counter()
    return {
        "prompt_encoding": encoder.done - t0,
        "sampling": step_done[-1] - encoder.done,
        "vae_decode": t_decoded - step_done[-1],
        "mp4_encode": t_written - t_decoded,
        "end_to_end": t_written - t0,
    }


def _load_model(args, device: torch.device) -> tuple[SoraModel, dict]:
    """--model, else --dit/--vae if given, else the default checkpoint if present, else untrained S + small."""
    path = args.model
    if path is None and args.dit is None and args.vae is None and default_model_path().exists():
        path = default_model_path()
    if path is not None:
        model = load_sora(path, device=device)
        training = json.loads(model.metadata.get("training", "{}"))
        return model, {"source": "checkpoint", "path": str(path), "untrained": bool(training.get("untrained"))}
    dit, vae = args.dit or DEFAULT_DIT, args.vae or DEFAULT_VAE
    model = new_sora_model(dit, vae)
    model.dit.to(device)
    model.vae.to(device)
    return model, {"source": "untrained", "path": None, "untrained": True, "dit_preset": dit, "vae_preset": vae}


@torch.no_grad()  # a decorator, not set_grad_enabled: run() is also called in-process by tests
def run(args: argparse.Namespace) -> dict:
    """Load, warm up, time the renders and return the report (what --json prints)."""
    # Taken before any work of ours: on a shared CPU, other busy processes stall torch's threads.
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    dtype = autocast_dtype(args.precision, device) or torch.float32
    hardware = Hardware.of(device, dtype, args.peak_tflops)
    settings = SamplingSettings(
        steps=args.steps, cfg=args.cfg, sampler=args.sampler, attention=args.attention, precision=args.precision
    )

    t0 = time.perf_counter()
    model, source = _load_model(args, device)
    model_load = time.perf_counter() - t0
    width, height = args.size
    latent_shape = model.latent_shape(args.frames, height, width)  # bad sizes fail before the slow loads
    grid = model.dit.token_grid(latent_shape)
    backend = resolve_backend(args.attention, device)

    sync = torch.cuda.synchronize if cuda else lambda: None
    print(f"render bench: loading text encoder {model.text_encoder} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    # A fresh instance, not load_text_encoder()'s cached one, so this is a real (cold) load.
    encoder = _TimedEncoder(TEXT_ENCODERS[model.text_encoder](device=device), sync)
    sync()
    text_encoder_load = time.perf_counter() - t0

    calls: list[tuple[int, int, int]] = []  # (batch, tokens, text tokens) of each DiT forward

    def count_call(module, call_args, call_kwargs):
        x = call_args[0] if call_args else call_kwargs["x"]
        context = call_args[2] if len(call_args) > 2 else call_kwargs["context"]
        t, h, w = module.token_grid(tuple(x.shape[2:]))
        calls.append((x.shape[0], t * h * w, context.shape[1]))

    meter = hardware.meter
    hook = model.dit.register_forward_pre_hook(count_call, with_kwargs=True)
    try:
        with tempfile.TemporaryDirectory(prefix="sora-bench-") as tmp:
            out = Path(tmp) / "bench.mp4"
            print("render bench: warm-up render ...", file=sys.stderr, flush=True)
            first = _render(model, encoder, args, settings, out, sync)
            render_calls = list(calls)
            runs, peak, process_peak = [], None, None
            for i in range(args.repeats):
                print(f"render bench: timed render {i + 1}/{args.repeats} ...", file=sys.stderr, flush=True)
                if i == 0 and meter is not None:  # starting and reading the meter stays outside the timing
                    meter.start()
                runs.append(_render(model, encoder, args, settings, out, sync))
                if i == 0 and meter is not None:
                    peak = meter.stop()
                    process_peak = torch.cuda.max_memory_allocated() if cuda else CpuPeak.status("VmHWM")
    finally:
        hook.remove()

    median = sorted(runs, key=lambda r: r["end_to_end"])[(len(runs) - 1) // 2]
    flops = sum(dit_flops(model.dit, *c) for c in render_calls)
    flops_per_s = flops / median["sampling"]
    dit_params = sum(p.numel() for p in model.dit.parameters())
    cfg = model.dit.config
    return {
        **hardware.report_head("render"),
        "cpu_threads": torch.get_num_threads(),
        "load_average_before": load_average,
        "model": {
            **source,
            "dit": {
                "hidden_size": cfg.hidden_size,
                "depth": cfg.depth,
                "heads": cfg.num_heads,
                "patch": cfg.patch_size,
            },
            "vae": {
                "latent_channels": model.vae.config.latent_channels,
                "spatial_factor": model.vae.config.spatial_factor,
                "temporal_factor": model.vae.config.temporal_factor,
            },
            "text_encoder": model.text_encoder,
            "dit_params": dit_params,
            "vae_params": sum(p.numel() for p in model.vae.parameters()),
        },
        "prompt": args.prompt,
        "width": width,
        "height": height,
        "frames": args.frames,
        "steps": args.steps,
        "cfg": args.cfg,
        "sampler": args.sampler,
        "attention": backend,
        "repeats": args.repeats,
        "latent_shape": [model.vae.config.latent_channels, *latent_shape],
        "token_grid": list(grid),
        "tokens_per_forward": grid[0] * grid[1] * grid[2],
        "text_tokens": max(c[2] for c in render_calls),
        "dit_forwards": len(render_calls),
        "dit_batch": max(c[0] for c in render_calls),
        "dit_flops_per_forward": flops / len(render_calls),
        "dit_flops_per_step": flops / args.steps,
        "dit_flops_per_render": flops,
        "dit_flops_per_s": flops_per_s,
        "peak_flops": hardware.peak_flops,
        "utilisation": flops_per_s / hardware.peak_flops if hardware.peak_flops else None,
        "seconds": {
            "model_load": model_load,
            "text_encoder_load": text_encoder_load,
            **{s: median[s] for s in STAGES},
            "per_step": median["sampling"] / args.steps,
            "end_to_end": median["end_to_end"],
            "end_to_end_runs": [r["end_to_end"] for r in runs],
            "first_render": first["end_to_end"],
            "cold": text_encoder_load + first["end_to_end"],
        },
        "share": {s: median[s] / median["end_to_end"] for s in STAGES},
        "peak_bytes": {"render": peak, "process": process_peak},
        "command": time_render_command(args, Path(source["path"])) if args.command_runs and source["path"] else None,
        "memory_method": hardware.memory_method,
    }


def format_table(report: dict) -> str:
    def mb(x) -> str:
        return "-" if x is None else f"{x / 1e6:,.0f} MB"

    def flops(x: float) -> str:
        return f"{x / 1e12:.3g} TFLOP" if x >= 1e12 else f"{x / 1e9:.3g} GFLOP"

    m, s, share = report["model"], report["seconds"], report["share"]
    dit = m["dit"]
    if m["source"] == "checkpoint":
        label = f"{m['path']}{' (UNTRAINED weights)' if m['untrained'] else ''}"
    else:
        label = f"UNTRAINED DiT {m['dit_preset']} + VAE {m['vae_preset']} (timing does not depend on the weights)"
    util = "-" if report["utilisation"] is None else f"{report['utilisation'] * 100:.1f}%"
    peak = "unknown peak (--peak-tflops)" if report["peak_flops"] is None else f"{flops(report['peak_flops'])}/s peak"
    lines = [
        f"render: {report['width']}x{report['height']}, {report['frames']} frames, {report['steps']} steps "
        f"{report['sampler']}, cfg {report['cfg']:g}, attention {report['attention']}, "
        f"{report['device_name']} ({report['device']}), {report['dtype']}, torch {report['torch']}",
        f"model: {label}",
        f"  DiT {m['dit_params'] / 1e6:.1f} M params (d {dit['hidden_size']}, depth {dit['depth']}, "
        f"patch {'x'.join(map(str, dit['patch']))}), VAE {m['vae_params'] / 1e6:.1f} M params, "
        f"latent {'x'.join(map(str, report['latent_shape']))}",
        f"  {report['tokens_per_forward']} tokens per forward (grid {'x'.join(map(str, report['token_grid']))}) "
        f"+ {report['text_tokens']} text tokens; {report['dit_forwards']} DiT forwards of batch {report['dit_batch']}",
        "",
        f"{'stage':<22} {'seconds':>9} {'share':>7}",
        f"{'model load':<22} {s['model_load']:>9.3f} {'once':>7}",
        f"{'text-encoder load':<22} {s['text_encoder_load']:>9.3f} {'once':>7}",
    ]
    names = {"prompt_encoding": "prompt encoding", "sampling": "sampling", "vae_decode": "VAE decode"}
    names["mp4_encode"] = "MP4 encode"
    for stage in STAGES:
        lines.append(f"{names[stage]:<22} {s[stage]:>9.3f} {share[stage] * 100:>6.1f}%")
        if stage == "sampling":
            lines.append(f"{'  per step':<22} {s['per_step']:>9.4f}")
    runs = ", ".join(f"{t:.3f}" for t in s["end_to_end_runs"])
    lines += [
        f"{'end to end (warm)':<22} {s['end_to_end']:>9.3f} {100:>6.1f}%   median of {report['repeats']}: {runs}",
        f"{'cold (load + 1st)':<22} {s['cold']:>9.3f}           text-encoder load + first render",
        "",
        f"DiT: {flops(report['dit_flops_per_forward'])} per forward, {flops(report['dit_flops_per_step'])} per step, "
        f"{flops(report['dit_flops_per_s'])}/s achieved while sampling = {util} of {peak}",
        f"peak memory: render +{mb(report['peak_bytes']['render'])}, process {mb(report['peak_bytes']['process'])} "
        f"({report['memory_method']})",
    ]
    if report["command"]:
        c = report["command"]
        lines.append(
            f"whole `sora render` process: median {c['median']:.2f} s of {len(c['runs'])} "
            f"({', '.join(f'{t:.2f}' for t in c['runs'])}) = "
            f"{c['median_over_budget']:.2f} x the {c['budget']:g} s budget"
        )
    busy = report["load_average_before"]
    if busy is not None and busy > 0.5:
        lines.append(
            f"warning: 1-minute load average {busy:.1f} before the run ({report['cpu_threads']} torch threads): "
            "the CPU was busy (other processes, or a run just before), so these times are slower and noisier"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return report_main(argv, parse_args, run, format_table)


if __name__ == "__main__":
    sys.exit(main())
