"""One Wan 2.1 DiT step, ours against diffusers' WanTransformer3DModel on the same weights and inputs.

    sora bench wan-dit [--preset 1.3B] [--size 832x480] [--frames 81] [--layers N] [--device auto] [--json]

Both networks get the same random weights (ours renamed into diffusers' layout) and the same latent,
timestep and 512 text tokens, in one process, alternating call by call so load and clock drift hit
both alike. Reported per implementation: the median time of `--repeats` calls after one warm-up,
the peak memory of a call on top of the weights (CUDA: the caching allocator's peak; CPU: VmHWM, as
`sora bench attention` measures it), the achieved TFLOP/s (FLOPs counted on the meta device along our
own code path: matmuls, convolutions and attention) and that as a share of the device's peak, the
ratio of the two times, and the largest relative difference of their outputs (the two must compute
the same function). `--layers` runs fewer blocks than the preset (same widths) where the whole network
does not fit the time or memory at hand; the figures are then per those layers, and say so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time

import torch

from ..io.device import pick_device
from ..models.wan_dit import WAN_DIT_PRESETS, WanDiT
from ..models.wan_dit_keys import diffusers_config, wan_to_diffusers
from ..pipeline.budget import _dit_call
from .common import CPU_PEAK_FLOPS, DEVICES, HOPPER_PEAK_FLOPS, Hardware, positive_int


def parse_args(argv):
    p = argparse.ArgumentParser(prog="sora bench wan-dit", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=sorted(WAN_DIT_PRESETS), default="1.3B")
    p.add_argument("--size", default="832x480", help="video WIDTHxHEIGHT (default 832x480, Wan's 480p)")
    p.add_argument("--frames", type=positive_int, default=81, help="video frames, 1 + 4k (default 81)")
    p.add_argument("--layers", type=positive_int, default=None, help="run this many blocks (default: all)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--dtype", choices=("auto", "fp32", "bf16"), default="auto", help="auto: bf16 on CUDA, else fp32")
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--no-diffusers", action="store_true", help="time ours alone")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def _diffusers_twin(config, state):
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):
        twin = WanTransformer3DModel(**diffusers_config(config))
    twin.load_state_dict(wan_to_diffusers(state), strict=True, assign=True)
    twin.rope = type(twin.rope)(config.head_dim, config.patch_size, 1024)  # its tables are not weights
    return twin.to(next(iter(state.values())).device).eval()


def _time_alternating(runs: dict, peak, repeats: int) -> dict[str, tuple[float, int | None, torch.Tensor]]:
    """Median seconds, peak bytes and output of each implementation, their calls interleaved."""
    outputs = {name: fn() for name, fn in runs.items()}  # warm-up: kernel selection, allocator growth
    times: dict[str, list[float]] = {name: [] for name in runs}
    peaks: dict[str, list[int]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            if peak is not None:
                peak.start()
            start = time.perf_counter()
            outputs[name] = fn()
            if outputs[name].device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
            if peak is not None:
                peaks[name].append(peak.stop())
    return {
        name: (statistics.median(times[name]), max(peaks[name]) if peaks[name] else None, outputs[name])
        for name in runs
    }


def run(args) -> dict:
    device = pick_device(args.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(args.dtype)
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    config = WAN_DIT_PRESETS[args.preset]
    if args.layers is not None:
        config = dataclasses.replace(config, num_layers=args.layers)
    width, height = (int(v) for v in args.size.lower().split("x"))
    latent = (1 + (args.frames - 1) // 4, height // 8, width // 8)
    torch.manual_seed(0)
    with torch.device(device):
        ours = WanDiT(config).to(dtype).eval()
    twin = None if args.no_diffusers else _diffusers_twin(config, ours.state_dict())
    g = torch.Generator(device).manual_seed(1)
    x = torch.randn(1, config.in_channels, *latent, generator=g, device=device, dtype=dtype)  # [1, 16, T', H', W']
    text = torch.randn(1, config.text_len, config.text_dim, generator=g, device=device, dtype=dtype)
    sigma = torch.tensor([0.7], device=device)
    _, flops = _dit_call(WanDiT, config, 1, latent, "sdpa")
    peak_flops = HOPPER_PEAK_FLOPS if device.type == "cuda" else CPU_PEAK_FLOPS
    hardware = Hardware.of(device, dtype)
    tokens = latent[0] * (latent[1] // 2) * (latent[2] // 2)
    rows = {}
    with torch.inference_mode():
        runs = {"ours": lambda: ours(x, sigma, text)}
        if twin is not None:
            runs["diffusers"] = lambda: twin(x, sigma * 1000, text, return_dict=False)[0]
        outputs = {}
        for name, (seconds, peak, outputs[name]) in _time_alternating(runs, hardware.meter, args.repeats).items():
            rows[name] = {
                "seconds": seconds,
                "peak_gib": None if peak is None else peak / 2**30,
                "tflops": flops / seconds / 1e12,
                "of_peak": flops / seconds / peak_flops,
            }
    result = {
        "device": hardware.name,
        "preset": args.preset,
        "layers": f"{config.num_layers} of {WAN_DIT_PRESETS[args.preset].num_layers}",
        "dtype": str(dtype).removeprefix("torch."),
        "video": f"{width}x{height}x{args.frames}",
        "tokens": tokens,
        "flops_per_step": flops,
        "rows": rows,
    }
    if twin is not None:
        a, b = outputs["ours"].float(), outputs["diffusers"].float()
        result["time_ratio_ours_over_diffusers"] = rows["ours"]["seconds"] / rows["diffusers"]["seconds"]
        result["max_relative_difference"] = ((a - b).abs().max() / b.abs().max()).item()
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"Wan {result['preset']} DiT, {result['layers']} layers, {result['dtype']}, {result['video']} video = "
        f"{result['tokens']} tokens, {result['flops_per_step'] / 1e12:.2f} TFLOP per call, on {result['device']}"
    )
    for name, row in result["rows"].items():
        peak = "n/a" if row["peak_gib"] is None else f"{row['peak_gib']:.2f} GiB"
        print(
            f"  {name:10s} {row['seconds'] * 1000:10.1f} ms   peak {peak:>10s}   "
            f"{row['tflops']:7.2f} TFLOP/s ({row['of_peak']:.0%} of peak)"
        )
    if "time_ratio_ours_over_diffusers" in result:
        print(
            f"  ours / diffusers time: {result['time_ratio_ours_over_diffusers']:.2f}x; "
            f"outputs differ by at most {result['max_relative_difference']:.1e} (relative)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
