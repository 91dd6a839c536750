"""What the benchmarks share: device names and peaks, peak-memory meters, and how a benchmark reports."""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import SoraError

CPU_PEAK_FLOPS = 190e9  # fp32 matmul, 2-core Zen 4 class box (ANCHORS.md)
HOPPER_PEAK_FLOPS = 989e12  # H100 / H200 dense bf16
DEVICES = ("auto", "cpu", "cuda")  # what a benchmark's --device takes


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return re.search(r"model name\s*:\s*(.+)", f.read()).group(1).strip()
    except (OSError, AttributeError):
        return platform.processor() or platform.machine() or "cpu"


class CudaPeak:
    """Peak bytes the caching allocator handed out during a block of code."""

    METHOD = "cuda.max_memory_allocated"

    def start(self) -> None:
        torch.cuda.reset_peak_memory_stats()
        self._base = torch.cuda.memory_allocated()

    def stop(self) -> int:
        return torch.cuda.max_memory_allocated() - self._base


class CpuPeak:
    """Peak resident memory during a block of code, from Linux's VmHWM.

    torch has no allocator peak on the CPU. Before the block, freed heap memory is handed back to the
    OS (malloc_trim) and the kernel's high-water mark is reset to the current RSS (clear_refs 5), so
    VmHWM - VmRSS afterwards is the block's own peak, not the process's history."""

    METHOD = "linux VmHWM after malloc_trim"

    @classmethod
    def if_supported(cls) -> CpuPeak | None:
        ok = platform.system() == "Linux" and os.access("/proc/self/clear_refs", os.W_OK)
        return cls() if ok else None

    def __init__(self):
        self._trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only; musl has none

    @staticmethod
    def status(field: str) -> int:
        with open("/proc/self/status") as f:
            return int(re.search(field + r":\s+(\d+) kB", f.read()).group(1)) * 1024

    def start(self) -> None:
        gc.collect()
        if self._trim is not None:
            self._trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        self._base = self.status("VmRSS")

    def stop(self) -> int:
        return self.status("VmHWM") - self._base


Meter = CudaPeak | CpuPeak


@dataclass(frozen=True)
class Hardware:
    """What a benchmark's figures are measured on: the device and the dtype computed in, the device's name,
    its peak FLOP/s for that dtype (None where that peak is not on file) and its peak-memory meter (None
    where it has none)."""

    device: torch.device
    dtype: torch.dtype
    name: str
    peak_flops: float | None
    meter: Meter | None

    @classmethod
    def of(cls, device: torch.device, dtype: torch.dtype, override_tflops: float | None = None) -> Hardware:
        """`override_tflops` (--peak-tflops) stands in for the peak on file."""
        cuda = device.type == "cuda"
        name = torch.cuda.get_device_name(device) if cuda else cpu_name()
        if override_tflops:
            peak = override_tflops * 1e12
        elif device.type == "cpu":
            peak = CPU_PEAK_FLOPS  # fp32; bf16 is no faster on this CPU (ANCHORS.md)
        else:  # fp32 peaks are not on file
            peak = HOPPER_PEAK_FLOPS if re.search(r"H100|H200|GH200", name) and dtype == torch.bfloat16 else None
        return cls(device, dtype, name, peak, CudaPeak() if cuda else CpuPeak.if_supported())

    @property
    def memory_method(self) -> str:
        """How the meter measures, for a report."""
        return self.meter.METHOD if self.meter is not None else "unavailable"

    def report_head(self, benchmark: str) -> dict:
        """What a benchmark's report starts with: which benchmark ran, on what, with which torch and dtype."""
        return {
            "benchmark": benchmark,
            "device": self.device.type,
            "device_name": self.name,
            "torch": torch.__version__,
            "dtype": str(self.dtype).removeprefix("torch."),
        }


def report_main(
    argv: list[str] | None,
    parse_args: Callable[[list[str] | None], argparse.Namespace],
    run: Callable[[argparse.Namespace], dict],
    format_table: Callable[[dict], str],
) -> int:
    """A benchmark's `main`: its report as JSON (--json) or as a table; a refused run (bad sizes, missing
    checkpoint, unknown backend, unavailable device) is one line on stderr and exit status 2."""
    args = parse_args(argv)
    try:
        report = run(args)
    except SoraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0
