"""Causal 3-D convolution whose temporal context is carried between chunks in an explicit cache.

A `Cache` is a plain dict owned by one encode/decode call and keyed by module, so two calls on
the same model never share state. `cache=None` means one-shot: the whole clip in a single call.
In both modes the first frames see zeros on their left, so chunked and one-shot runs do the same
arithmetic.
"""

from __future__ import annotations

import torch
from torch import nn

# module -> its carried input frames (convs), or None as a "has seen the first chunk" marker.
Cache = dict[nn.Module, "torch.Tensor | None"]


class Conv3d(nn.Conv3d):
    """nn.Conv3d that sends float32 CPU input straight to oneDNN.

    torch picks the kernel with a heuristic written for images (B*C*T*H > 20480), which sends a
    batch-1 video chunk to the im2col fallback, up to 5x slower. Same maths, float rounding apart.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
            and self.padding_mode == "zeros"
        ):
            return torch.ops.aten.mkldnn_convolution(
                x, self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups
            )
        return super().forward(x)


class CausalConv3d(Conv3d):
    """Conv3d that pads time on the left only (kernel_t - 1 frames) and never looks ahead."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int, int] = 3):
        kt, kh, kw = (kernel_size,) * 3 if isinstance(kernel_size, int) else kernel_size
        super().__init__(in_channels, out_channels, (kt, kh, kw), padding=(0, kh // 2, kw // 2))
        self.context = kt - 1

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        # x: [B, C, T, H, W]
        if self.context == 0:
            return super().forward(x)
        past = cache.get(self) if cache is not None else None
        if past is None:
            past = x.new_zeros(x.shape[0], x.shape[1], self.context, *x.shape[3:])
        x = torch.cat([past, x], dim=2)  # [B, C, context + T, H, W]
        if cache is not None:
            # clone: a view would keep this whole chunk's activation alive until the next chunk
            cache[self] = x[:, :, -self.context :].clone()
        return super().forward(x)
