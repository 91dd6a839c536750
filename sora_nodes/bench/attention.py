"""Attention backends side by side: time, peak memory, FLOP/s and how memory scales with tokens.

    sora bench attention [--tokens 1024,2048,4096,8192,16384] [--device auto|cpu|cuda] [--json]

Every backend runs on the same inputs, in one process, size by size, so the ratios against
`reference` compare like with like. Time is the median of `--repeats` calls after one warm-up.

Peak memory is the extra memory one attention call needs on top of its inputs (its output included):
- CUDA: torch.cuda.max_memory_allocated() minus the allocated bytes before the call, after
  resetting the peak. cuDNN and xformers workspaces come from the same caching allocator.
- CPU: torch keeps no peak statistic, so we read the kernel's. Before the call, malloc_trim(0)
  hands freed heap pages back to the OS (otherwise the call could silently reuse them and look
  smaller), then writing "5" to /proc/self/clear_refs resets the peak resident set size (VmHWM),
  and the peak is VmHWM after the call minus VmRSS before it. This matches a fresh process per
  case to within ~0.5 MB (checked at 256..4096 tokens) and the reference's analytic 2·B·H·N²·4
  bytes (scores + softmax in float32). Without Linux /proc the CPU peak is reported as null.

Cases whose estimated memory exceeds `--max-gb` are skipped and reported with the estimate, so
the naive reference at 16k tokens (~17 GB in float32) does not take the machine down.

Utilisation is 4·B·H·N²·D / time / peak, with peak = 190 GFLOP/s fp32 for the 2-core CPU box
(measured, see ANCHORS.md) and 989 TFLOP/s dense bf16 for H100/H200; `--peak-tflops` overrides.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch

from ..flags import add_settings_arguments, flag, settings_from_args
from ..io.device import pick_device
from ..models.attention import BACKENDS, AttentionBackendError, attention, available_backends, resolve_backend
from .common import DEVICES, Hardware, Meter, positive_int, report_main

DEFAULT_TOKENS = (1024, 2048, 4096, 8192, 16384)


def _int_list(text: str) -> tuple[int, ...]:
    parts = [t.strip() for t in text.split(",") if t.strip()]
    if not parts or not all(t.isdigit() and int(t) > 0 for t in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers like 1024,2048; got {text!r}")
    return tuple(int(t) for t in parts)


def _name_list(text: str) -> list[str]:
    return [b.strip() for b in text.split(",") if b.strip()]


@dataclass(frozen=True)
class AttentionBench:
    """What `sora bench attention` measures: every field is its flag."""

    tokens: tuple[int, ...] = field(
        default=DEFAULT_TOKENS, metadata=flag("comma-separated token counts (self-attention, Nq = Nk)", type=_int_list)
    )
    backends: list[str] | None = field(
        default=None,
        metadata=flag(
            f"comma-separated subset of {list(BACKENDS[1:])}; default: all available on the device", type=_name_list
        ),
    )
    device: str = field(default="auto", metadata=flag(choices=DEVICES))
    batch: int = field(default=1, metadata=flag(type=positive_int))
    heads: int = field(default=8, metadata=flag(type=positive_int))
    head_dim: int = field(default=64, metadata=flag(type=positive_int))
    repeats: int = field(default=3, metadata=flag("timed calls per case (median is reported)", type=positive_int))
    max_gb: float | None = field(
        default=None,
        metadata=flag("skip cases estimated above this many GB (default: 6 on CPU, 90%% of free GPU memory)"),
    )
    peak_tflops: float | None = field(default=None, metadata=flag("device peak for utilisation (default: known)"))
    json: bool = field(default=False, metadata=flag("print one JSON object instead of a table"))


def parse_args(argv: list[str] | None) -> AttentionBench:
    p = argparse.ArgumentParser(prog="sora bench attention", description=__doc__.split("\n")[0])
    add_settings_arguments(p, AttentionBench)
    return settings_from_args(AttentionBench, p.parse_args(argv))


def estimate_bytes(backend: str, batch: int, heads: int, tokens: int, head_dim: int, dtype: torch.dtype) -> int:
    """Inputs plus the call's working memory, erring high; only used to decide what to skip."""
    item = torch.tensor([], dtype=dtype).element_size()
    qkv = 3 * batch * heads * tokens * head_dim * item
    if backend == "reference":  # float32 scores and their softmax, plus float32 copies of q, k, v
        return qkv + 2 * batch * heads * tokens * tokens * 4 + 4 * batch * heads * tokens * head_dim * 4
    return 2 * qkv  # fused kernels: the output plus per-block tiles, linear in tokens


def _measure(backend: str, q, k, v, repeats: int, meter: Meter | None) -> tuple[float, int | None]:
    """Median seconds per call and the peak extra bytes of one call (None when it cannot be measured)."""
    cuda = q.device.type == "cuda"

    def call():
        out = attention(q, k, v, backend=backend)
        if cuda:
            torch.cuda.synchronize()
        return out

    call()  # warm-up: kernel selection, lazy library init, workspaces; its output is freed here
    times, peak = [], None
    for i in range(repeats):
        # The first timed call also gives the peak; starting and reading the meter stays outside the timing.
        if i == 0 and meter is not None:
            meter.start()
        t0 = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t0)
        if i == 0 and meter is not None:
            peak = meter.stop()
        del out
    return statistics.median(times), peak


def loglog_slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y against log x: ~1 linear growth, ~2 quadratic."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y and y > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def run(args: AttentionBench) -> dict:
    """Run every case and return the report (what --json prints)."""
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    backends = list(dict.fromkeys(args.backends or available_backends(device)))
    unknown = [b for b in backends if b not in BACKENDS[1:]]
    if unknown:
        raise AttentionBackendError(f"unknown backend(s) {unknown} in --backends; choose from {list(BACKENDS[1:])}")
    if "reference" not in backends:
        backends = [*backends, "reference"]  # every ratio is against it
    if cuda:
        max_bytes = args.max_gb * 1e9 if args.max_gb is not None else 0.9 * torch.cuda.mem_get_info(device)[0]
    else:
        max_bytes = (args.max_gb if args.max_gb is not None else 6.0) * 1e9
    hardware = Hardware.of(device, dtype, args.peak_tflops)
    meter = hardware.meter
    B, H, D = args.batch, args.heads, args.head_dim

    results = []
    gen = torch.Generator().manual_seed(0)
    for n in args.tokens:
        q, k, v = (torch.randn(B, H, n, D, generator=gen).to(device, dtype) for _ in range(3))  # [B, H, N, D]
        row = {}
        for backend in backends:
            case = {
                "backend": backend,
                "tokens": n,
                "status": "ok",
                "seconds": None,
                "peak_bytes": None,
                "flops_per_s": None,
                "utilisation": None,
                "time_vs_reference": None,
                "memory_vs_reference": None,
                "estimated_bytes": estimate_bytes(backend, B, H, n, D, dtype),
                "reason": None,
            }
            row[backend] = case
            results.append(case)
            try:
                resolve_backend(backend, device)
            except AttentionBackendError as e:
                case.update(status="skipped", reason=str(e))
                continue
            if case["estimated_bytes"] > max_bytes:
                case.update(
                    status="skipped",
                    reason=f"estimated {case['estimated_bytes'] / 1e9:.1f} GB > "
                    f"budget {max_bytes / 1e9:.1f} GB (--max-gb)",
                )
                continue
            print(f"attention bench: {backend} at {n} tokens ...", file=sys.stderr, flush=True)
            try:
                seconds, peak = _measure(backend, q, k, v, args.repeats, meter)
            except (AttentionBackendError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
                first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
                case.update(status="error", reason=f"{type(e).__name__}: {first_line}")
                if cuda:
                    torch.cuda.empty_cache()
                continue
            flops = 4 * B * H * n * n * D
            case.update(
                seconds=seconds,
                peak_bytes=peak,
                flops_per_s=flops / seconds,
                utilisation=flops / seconds / hardware.peak_flops if hardware.peak_flops else None,
            )
        ref = row["reference"]
        for case in row.values():
            if case["status"] == "ok" and ref["status"] == "ok":
                case["time_vs_reference"] = case["seconds"] / ref["seconds"]
                if case["peak_bytes"] and ref["peak_bytes"]:
                    case["memory_vs_reference"] = case["peak_bytes"] / ref["peak_bytes"]
        del q, k, v

    slopes = {}
    for backend in backends:
        ok = [c for c in results if c["backend"] == backend and c["status"] == "ok"]
        slopes[backend] = loglog_slope([c["tokens"] for c in ok], [c["peak_bytes"] for c in ok])
    return {
        **hardware.report_head("attention"),
        "batch": B,
        "heads": H,
        "head_dim": D,
        "repeats": args.repeats,
        "max_bytes": int(max_bytes),
        "peak_flops": hardware.peak_flops,
        "memory_method": hardware.memory_method,
        "results": results,
        "memory_slope": slopes,
    }


def format_table(report: dict) -> str:
    def num(x, width: int, digits: int, scale: float = 1.0) -> str:
        return f"{'-':>{width}}" if x is None else f"{x * scale:>{width}.{digits}f}"

    title = (
        f"attention: {report['device_name']} ({report['device']}), {report['dtype']}, batch {report['batch']}, "
        f"{report['heads']} heads, head dim {report['head_dim']}, median of {report['repeats']}, "
        f"torch {report['torch']}"
    )
    header = (
        f"{'tokens':>7} {'backend':<10} {'time s':>9} {'peak MB':>9} {'TFLOP/s':>8} {'util %':>6} "
        f"{'t/ref':>6} {'mem/ref':>7}"
    )
    lines = [title, header]
    for c in report["results"]:
        head = f"{c['tokens']:>7} {c['backend']:<10}"
        if c["status"] != "ok":
            lines.append(f"{head} {c['status']}: {c['reason']}")
            continue
        lines.append(
            f"{head} {num(c['seconds'], 9, 4)} {num(c['peak_bytes'], 9, 1, 1e-6)} "
            f"{num(c['flops_per_s'], 8, 3, 1e-12)} {num(c['utilisation'], 6, 1, 100)} "
            f"{num(c['time_vs_reference'], 6, 2)} {num(c['memory_vs_reference'], 7, 3)}"
        )
    slopes = ", ".join(f"{b} {num(s, 0, 2)}" for b, s in report["memory_slope"].items())
    lines.append(f"memory vs tokens, log-log slope (1 = linear, 2 = quadratic): {slopes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return report_main(argv, parse_args, run, format_table)


if __name__ == "__main__":
    sys.exit(main())
