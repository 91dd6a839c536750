"""Render defaults, one place for both model families: what `sora render` takes for a flag left out, what the
nodes, the shipped graphs and the sampling settings start from, and the limits a loaded model reports of
itself (its longest clip, its fixed schedule shift). Guidance (cfg 5) and the rest of the sampling settings are
the same for every family and stay in `pipeline.generate.SamplingSettings`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderDefaults:
    size: tuple[int, int]  # (width, height)
    frames: int
    fps: float
    steps: int
    sampler: str
    max_frames: int  # the longest clip one window may render: the model has never seen longer contexts
    negative: str = ""  # the negative prompt
    shift: float | None = None  # the schedule shift the model was trained with when it is one value, else None

    def fill_in(self, args) -> None:
        """Fill in each of `sora render`'s arguments that the user left out (None) with this family's default."""
        for name in ("size", "frames", "fps", "steps", "sampler", "negative"):
            if getattr(args, name) is None:
                setattr(args, name, getattr(self, name))


# Wan 2.1's default negative prompt (its shared_config.sample_neg_prompt; diffusers' and ComfyUI's Wan
# examples use it too): oversaturated, overexposed, static, blurry, subtitles, worst quality, JPEG
# artefacts, deformed hands and faces, fused fingers, frozen frames, cluttered backgrounds, walking backwards
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)

# Ours: the default model's training size, 2 s at 8 fps; its longest training clip is its 64x64x33 bucket
SORA = RenderDefaults(size=(64, 64), frames=17, fps=8.0, steps=20, sampler="euler", max_frames=33)
# Wan 2.1: 480p, 5 s at 16 fps (its longest training clip, so a long video's window), its own sampler (UniPC)
# and schedule shift, and its default negative prompt
WAN = RenderDefaults(
    size=(832, 480), frames=81, fps=16.0, steps=30, sampler="unipc", max_frames=81, negative=WAN_NEGATIVE_PROMPT,
    shift=5.0,
)  # fmt: skip
