"""What the VAE memory tests share: the largest tensor a call makes in any module, and the peak memory of
decodes measured in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


class LargestActivation:
    """While open, every output of `modules` is recorded; `peak(call)` is the largest tensor `call` made."""

    def __init__(self, modules: Iterable[nn.Module]):
        self.modules, self.sizes, self.hooks = list(modules), [], []

    def __enter__(self) -> LargestActivation:
        self.hooks = [m.register_forward_hook(lambda m, i, o: self.sizes.append(o.numel())) for m in self.modules]
        return self

    def __exit__(self, *exc) -> None:
        for h in self.hooks:
            h.remove()

    def peak(self, call: Callable[[], object]) -> int:
        self.sizes.clear()
        call()
        return max(self.sizes)


_RSS_SCRIPT = r"""
import json, sys, torch
from sora_nodes.bench.common import CpuPeak
from sora_nodes.models.vae import VAEConfig, VideoVAE
torch.manual_seed(0)
cfg = VAEConfig(latent_channels=8, base_channels=16, channel_mults=(1, 2, 4), num_res_blocks=1)
vae = VideoVAE(cfg).eval()
meter = CpuPeak.if_supported()
out = {"supported": meter is not None}
with torch.inference_mode():
    for name, frames, side, chunk, tile in json.loads(sys.argv[1]):
        z = torch.randn(1, 8, frames, side, side)
        if meter: meter.start()
        video = vae.decode(z, chunk_frames=chunk, tile=tile)
        out[name] = meter.stop() if meter else 0  # the decode's own peak, not the process's history
        out[name + "_frames"] = video.shape[2]
        del video
print(json.dumps(out))
"""


def decode_peaks(cases: list[tuple[str, int, int, int | None, int | None]]) -> dict:
    """The peak memory of each decode (name, latent frames, latent side, chunk_frames, tile) by a VAE of 16
    base channels, in a fresh process and in order, with each output's frame count; skips where the meter
    cannot run."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # glibc otherwise moves its mmap threshold up as big blocks are freed and serves later ones
    # from a fragmenting heap; a fixed threshold makes RSS track live tensors.
    env["MALLOC_MMAP_THRESHOLD_"] = str(1 << 20)
    res = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, json.dumps(cases)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    r = json.loads(res.stdout.strip().splitlines()[-1])
    if not r["supported"]:
        pytest.skip("peak memory of a block needs Linux /proc/self/clear_refs")
    return r
