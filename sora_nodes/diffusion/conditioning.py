"""The spacetime condition (DESIGN section 3): a known latent z_c and a mask m, 1 = known.

Every task (image-to-video, extend, connect, loop, inpaint) is a recipe that builds (z_c, m); the
DiT sees [x_t, m * z_c, m] on its input channels and learns to fill in the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ShapeError, SoraError


@dataclass(frozen=True, eq=False)  # eq=False: tensor fields have no truth value to compare by
class SpacetimeCondition:
    latent: Tensor  # z_c [B, C, T, H, W], the known content (zeros where unknown)
    mask: Tensor  # m [B, 1, T, H, W] float in {0, 1}, 1 = known

    def __post_init__(self) -> None:
        z, m = self.latent, self.mask
        if z.ndim != 5:
            raise ShapeError(f"condition latent must be [B, C, T, H, W], got shape {tuple(z.shape)}")
        b, _, t, h, w = z.shape
        if tuple(m.shape) != (b, 1, t, h, w):
            raise ShapeError(
                f"condition mask must be [B, 1, T, H, W] = {(b, 1, t, h, w)} to match the latent, got {tuple(m.shape)}"
            )
        if m.device != z.device:
            raise SoraError(f"condition mask is on {m.device} but the latent is on {z.device}; move both to one device")
        if not ((m == 0) | (m == 1)).all():
            raise SoraError("condition mask must hold only 0 (unknown) and 1 (known)")

    def dit_channels(self) -> Tensor:
        m = self.mask.to(self.latent.dtype)
        return torch.cat([m * self.latent, m], dim=1)  # [B, C + 1, T, H, W]


def _check_latent(latent: Tensor) -> None:
    if latent.ndim != 5:
        raise ShapeError(f"latent must be [B, C, T, H, W], got shape {tuple(latent.shape)}")


def _from_mask(latent: Tensor, mask: Tensor) -> SpacetimeCondition:
    return SpacetimeCondition(latent=latent * mask.to(latent.dtype), mask=mask)


def no_condition(latent_shape, *, device, dtype) -> SpacetimeCondition:
    """Nothing known: plain text-to-video."""
    shape = tuple(latent_shape)
    if len(shape) != 5:
        raise ShapeError(f"latent shape must be (B, C, T, H, W), got {shape}")
    b, _, t, h, w = shape
    return SpacetimeCondition(
        latent=torch.zeros(shape, device=device, dtype=dtype),
        mask=torch.zeros((b, 1, t, h, w), device=device, dtype=dtype),
    )


def known_frames(latent: Tensor, frames: slice | list[int]) -> SpacetimeCondition:
    """Latent frames `frames` are known: [0] for image-to-video, slice(0, k) to extend forward,
    slice(-k, None) to extend backward, [0, 1, -2, -1] to connect two clips."""
    _check_latent(latent)
    n = latent.shape[2]
    if isinstance(frames, slice):
        index = list(range(n))[frames]
    else:
        index = list(frames)
        bad = [f for f in index if not (isinstance(f, int) and -n <= f < n)]
        if bad:
            raise ShapeError(f"frame indices {bad} are out of range for {n} latent frames; use -{n}..{n - 1}")
    if not index:
        raise ShapeError(f"frames {frames!r} select none of the {n} latent frames; select at least one")
    mask = torch.zeros_like(latent[:, :1])  # [B, 1, T, H, W]
    mask[:, :, index] = 1
    return _from_mask(latent, mask)


def known_box(latent: Tensor, *, t: slice, y: slice, x: slice, known_inside: bool) -> SpacetimeCondition:
    """A spatial box over a time range, in latent coordinates. Inpainting regenerates the box and
    keeps everything outside (known_inside=False); outpainting is the reverse."""
    _check_latent(latent)
    for name, s, n in (("t", t, latent.shape[2]), ("y", y, latent.shape[3]), ("x", x, latent.shape[4])):
        if not isinstance(s, slice):
            raise ShapeError(f"box {name} must be a slice, e.g. slice(0, {n}), got {s!r}")
        if not range(n)[s]:
            raise ShapeError(f"box {name}={s} selects none of the {n} latent positions on that axis")
    box = torch.zeros_like(latent[:, :1])  # [B, 1, T, H, W]
    box[:, :, t, y, x] = 1
    return _from_mask(latent, box if known_inside else 1 - box)


def paste_known(x0_hat: Tensor, cond: SpacetimeCondition) -> Tensor:
    """m * z_c + (1 - m) * x0_hat, as a select so the known latents come back bit-exact.

    A batch-1 condition applies to every item (e.g. the cond and uncond halves of guidance)."""
    if x0_hat.shape[1:] != cond.latent.shape[1:] or cond.latent.shape[0] not in (1, x0_hat.shape[0]):
        raise ShapeError(
            f"denoised latent has shape {tuple(x0_hat.shape)} but the condition is for "
            f"{tuple(cond.latent.shape)}; build the condition from a latent of the generated size"
        )
    return torch.where(cond.mask > 0.5, cond.latent.to(x0_hat.dtype), x0_hat)
