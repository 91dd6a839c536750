"""One DiT training step (forward, backward, AdamW) in fp32 and under bf16 autocast, side by side.

Run: sora bench train-precision [--preset shapes4] [--batch 32] [--steps 6] [--threads 2]
     (or python -m sora_nodes.bench.train_precision)

Both runs start from the same weights and batch; the script prints the median step time of each,
their ratio, the CPU's capability string (bf16 pays only with AVX512-BF16 or AMX), and the loss
after the same steps, so a speed-up that hurts the loss shows too. The default model's recipe uses
--precision auto, which picks bf16 only on AMX CPUs and CUDA.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from ..diffusion.flow import add_noise, flow_matching_loss
from ..models.dit import DiT, dit_preset


def run(preset: str, batch: int, steps: int, amp: torch.dtype | None) -> tuple[list[float], float]:
    torch.manual_seed(0)
    dit = DiT(dit_preset(preset)).train()
    opt = torch.optim.AdamW(dit.parameters(), lr=3e-4)
    c = dit.config
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(batch, c.latent_channels, 5, 4 * c.patch_size[1], 4 * c.patch_size[2], generator=g)
    noise = torch.randn(x0.shape, generator=g)
    sigma = torch.rand(batch, generator=g)
    context, mask = torch.randn(batch, 40, c.text_dim, generator=g), torch.ones(batch, 40, dtype=torch.bool)
    times, loss = [], float("nan")
    for _ in range(steps):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
            pred = dit(add_noise(x0, noise, sigma), sigma, context, mask)
        loss_t = flow_matching_loss(pred.float(), x0, noise)
        opt.zero_grad(set_to_none=True)
        loss_t.backward()
        opt.step()
        times.append(time.perf_counter() - t)
        loss = loss_t.item()
    return times[1:], loss  # the first step pays one-off allocation and kernel selection


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="shapes4")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {a.threads} threads, DiT {a.preset}, "
        f"batch {a.batch}, 80 tokens"
    )
    fp32, loss32 = run(a.preset, a.batch, a.steps, None)
    bf16, loss16 = run(a.preset, a.batch, a.steps, torch.bfloat16)
    m32, m16 = statistics.median(fp32), statistics.median(bf16)
    print(f"fp32 {m32:.3f} s/step, loss after {a.steps} steps {loss32:.4f}")
    print(f"bf16 {m16:.3f} s/step, loss after {a.steps} steps {loss16:.4f}")
    print(f"bf16 / fp32 step time {m16 / m32:.2f} ({'faster' if m16 < m32 else 'slower'} under bf16)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
