"""The model side of `sora eval --task`: one loaded checkpoint rendering every task through the library's
own steps (recipes' canvas -> condition -> sample -> decode -> finish), as the task nodes do."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import SoraError
from ..families.defaults import SORA


class TaskModel:
    """The model, its text encoder and sampling settings, shared by every task of a run."""

    def __init__(
        self, model_path: str | Path | None = None, *, device="cpu", steps: int = SORA.steps, cfg: float = 5.0
    ):
        from ..families.bundle import default_model_path
        from ..families.sora import load_sora
        from ..models.text import load_text_encoder

        self.path = Path(model_path) if model_path is not None else default_model_path()
        if not self.path.is_file():
            raise SoraError(f"the checkpoint {self.path} does not exist; pass --model PATH to a sora-nodes checkpoint")
        self.model = load_sora(self.path, device=device)
        self.text_encoder = load_text_encoder(self.model.text_encoder, device=self.model.device)
        self.fmt = self.model.latent_format
        self.max_frames = self.model.max_frames
        self.steps, self.cfg = steps, cfg

    def settings(self, seed: int, **kw):
        from ..pipeline.sampling import SamplingSettings

        return SamplingSettings(steps=self.steps, cfg=self.cfg, seed=seed, **kw)

    def _prompt(self, prompt: str):
        from ..pipeline.sampling import encode_prompt

        return encode_prompt(self.text_encoder, prompt)

    def render(self, canvas, prompt: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(the task's output, the decoded canvas before the known pixels were pasted back)."""
        from ..pipeline.generate import decode_latent, sample_video

        positive, negative = self._prompt(prompt)
        shape = (1, self.fmt.channels, *self.fmt.latent_shape(*canvas.frames.shape[:3]))
        condition = canvas.condition(self.model.vae, self.fmt)
        latent = sample_video(self.model, positive, negative, shape, self.settings(seed), condition=condition)
        decoded = decode_latent(self.model.vae, latent)
        return canvas.finish(decoded), decoded

    def roundtrip(self, frames: torch.Tensor) -> torch.Tensor:
        """The frames through the VAE: what a DiT that sampled the true latent would give (the ceiling)."""
        from ..pipeline.generate import decode_latent, encode_frames

        return decode_latent(self.model.vae, encode_frames(self.model.vae, frames))

    def restyle(self, frames: torch.Tensor, prompt: str, seed: int, denoise: float) -> torch.Tensor:
        """SDEdit: the source's latent, noised to `denoise` and denoised under the new prompt."""
        from ..pipeline.generate import decode_latent, encode_frames, sample_video

        positive, negative = self._prompt(prompt)
        start = encode_frames(self.model.vae, frames)
        settings = self.settings(seed, denoise=denoise)
        latent = sample_video(self.model, positive, negative, start.shape, settings, start=start)
        return decode_latent(self.model.vae, latent)

    def long_video(self, prompt: str, frames: int, size: int, fps: float, seed: int) -> torch.Tensor:
        """Text-to-video beyond the model's context: windows chained in latent space, decoded once."""
        from ..pipeline.generate import decode_latent, sample_video
        from ..pipeline.long_video import LongVideoPlan

        positive, negative = self._prompt(prompt)
        plan = LongVideoPlan((), (), fps, 16)
        shape = (1, self.fmt.channels, *self.fmt.latent_shape(frames, size, size))
        latent = sample_video(self.model, positive, negative, shape, self.settings(seed), plan=plan)
        return decode_latent(self.model.vae, latent)
