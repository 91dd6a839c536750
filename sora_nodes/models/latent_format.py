"""The geometry a latent video has for a model: channels, VAE factors and DiT patch. The one place a clip's
latent shape (and the error for a size that has none) is worked out: a VAE's format has patch (1, 1, 1), a
model's adds its DiT's patch.

The empty-latent node has no model to ask, so it uses `SORA_LATENT`, the geometry every shipped
preset shares; the sampler checks a latent against the model's own format again."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError


@dataclass(frozen=True)
class LatentFormat:
    channels: int = 16
    temporal: int = 4  # VAE k_t: latent frame t > 0 covers k_t video frames
    spatial: int = 8  # VAE k_s
    patch: tuple[int, int, int] = (1, 2, 2)  # DiT (p_t, p_h, p_w)

    @classmethod
    def from_ratios(cls, channels: int, spatial: int, temporal: int) -> LatentFormat:
        """The format of a VAE known only by its ratios (a ComfyUI core VAE): no DiT patch, since the host's
        model pads to its own patch. Wan 2.1: (16, 8, 4); Wan 2.2 TI2V-5B: (48, 16, 4)."""
        for name, value in (("channels", channels), ("spatial ratio", spatial), ("temporal ratio", temporal)):
            if not isinstance(value, int) or value < 1:
                raise ShapeError(f"a latent format needs a positive whole {name}, got {value!r}")
        return cls(channels=channels, temporal=temporal, spatial=spatial, patch=(1, 1, 1))

    @property
    def frame_step(self) -> int:
        return self.temporal * self.patch[0]

    def size_multiple(self, axis: int) -> int:
        return self.spatial * self.patch[axis]

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Latent (T', H', W') for a clip; raises ShapeError naming the nearest sizes this format allows."""
        step = self.frame_step
        if frames < 1 or (frames - 1) % step:
            lo = 1 + max(0, (frames - 1) // step) * step
            raise ShapeError(
                f"frames must be 1 + k*{step} (1, {1 + step}, {1 + 2 * step}, ...) for this model; "
                f"got {frames}, try {lo} or {lo + step}"
            )
        wrong = []  # both sides, so that fixing one does not just reveal the other
        for name, size, axis in (("height", height, 1), ("width", width, 2)):
            multiple = self.size_multiple(axis)
            if size < multiple or size % multiple:
                lo = max(multiple, size // multiple * multiple)
                why = f"VAE factor {self.spatial}" + (f" x patch {self.patch[axis]}" if self.patch[axis] > 1 else "")
                wrong.append(
                    f"{name} must be a multiple of {multiple} ({why}); got {size}, try {lo} or {lo + multiple}"
                )
        if wrong:
            raise ShapeError("; ".join(wrong))
        return 1 + (frames - 1) // self.temporal, height // self.spatial, width // self.spatial

    def video_size(self, latent_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(frames, height, width) of the video a latent (T', H', W') decodes to."""
        t, h, w = latent_shape
        return 1 + (t - 1) * self.temporal, h * self.spatial, w * self.spatial

    def check_latent(self, shape: tuple[int, ...]) -> None:
        """A latent [B, C, T', H', W'] this model can sample, or a ShapeError saying why not."""
        if len(shape) != 5:
            raise ShapeError(f"a video latent must be [B, C, T', H', W'], got shape {tuple(shape)}")
        if shape[1] != self.channels:
            raise ShapeError(
                f"the latent has {shape[1]} channels but this model uses {self.channels}; "
                "make it with the same model's VAE or an empty latent for it"
            )
        self.latent_shape(*self.video_size(tuple(shape[2:])))


SORA_LATENT = LatentFormat()
