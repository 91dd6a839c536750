"""The node graphs behind the command line: `sora render` stores the graph that reproduces its video.

The graph goes into the MP4's `prompt` tag, as a ComfyUI render would store it, so dragging a
CLI render into ComfyUI (or passing the tag to `sora run`) gives back the same video.
`workflows/api/text_to_video.json` is this graph with its defaults (a test keeps them equal).
"""

from __future__ import annotations

from ..families.bundle import DEFAULT_MODEL_NAME
from ..families.defaults import SORA
from ..safety.frames import FrameSafetySettings

FRAMES = FrameSafetySettings()


def _node(class_type: str, title: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


def wan_loader_node(diffusion_model: str, vae: str, text_encoder: str, weight_dtype: str = "auto") -> dict:
    """The loader node of a Wan 2.1 graph: file names in ComfyUI's model folders (or absolute paths headless)."""
    return _node(
        "SoraWanLoader", "Sora Wan 2.1 Loader",
        diffusion_model=diffusion_model, vae_name=vae, text_encoder_name=text_encoder, weight_dtype=weight_dtype,
    )  # fmt: skip


def text_to_video_graph(
    prompt: str,
    *,
    negative: str = "",
    ckpt_name: str = DEFAULT_MODEL_NAME,
    loader: dict | None = None,
    recaption: bool = True,
    width: int = SORA.size[0],
    height: int = SORA.size[1],
    frames: int = SORA.frames,
    fps: float = SORA.fps,
    seed: int = 0,
    steps: int = SORA.steps,
    cfg: float = 5.0,
    sampler: str = SORA.sampler,
    shift: float = 0.0,
    attention: str = "auto",
    precision: str = "auto",
    step_cache: float = 0.0,
    decode_tile: int | None = None,
    filename_prefix: str = "sora/text_to_video",
    c2pa_sign: bool = True,
    c2pa_include_prompt: bool = False,
    watermark: bool = True,
) -> dict:
    """The API-format text-to-video graph: loader, prompt safety -> recaptioner -> conditioners -> sampler -> decode
    -> frame safety -> save. The optional precision, step cache and decode tile appear only when they are not the
    default. `loader` replaces the checkpoint loader (a `wan_loader_node`); its outputs are the same sockets."""
    graph = {
        "1": loader or _node("SoraCheckpointLoader", "Sora Checkpoint Loader", ckpt_name=ckpt_name),
        "2": _node("SoraPromptSafety", "Prompt", prompt=prompt),
        "9": _node("SoraRecaptioner", "Sora Recaptioner", prompt=["2", 0], seed=seed, enabled=recaption),
        "3": _node("SoraTextConditioner", "Positive prompt", text_encoder=["1", 2], text=["9", 0]),
        "4": _node("SoraTextConditioner", "Negative prompt", text_encoder=["1", 2], text=negative),
        "5": _node(
            "SoraEmptyVideoLatent", "Sora Empty Video Latent",
            width=width, height=height, frames=frames, fps=float(fps), batch_size=1,
        ),
        "6": _node(
            "SoraSampler", "Sora Sampler",
            model=["1", 0], positive=["3", 0], negative=["4", 0], latent=["5", 0], seed=seed, steps=steps,
            cfg=float(cfg), sampler_name=sampler, shift=float(shift), denoise=1.0, attention=attention,
        ),
        "7": _node("SoraVideoDecode", "Sora Video Decode", vae=["1", 1], latent=["6", 0]),
        "10": _node(
            "SoraFrameSafety", "Sora Frame Safety", frames=["7", 0], every=FRAMES.every, min_unsafe=FRAMES.min_unsafe
        ),
        "8": _node(
            "SoraSaveVideo", "Sora Save Video",
            frames=["10", 0], fps=float(fps), filename_prefix=filename_prefix, format="video/h264-mp4",
            c2pa_sign=c2pa_sign, c2pa_include_prompt=c2pa_include_prompt, watermark=watermark,
        ),
    }  # fmt: skip
    if precision != "auto":
        graph["6"]["inputs"]["precision"] = precision
    if step_cache:
        graph["6"]["inputs"]["step_cache"] = float(step_cache)
    if decode_tile:
        graph["7"]["inputs"]["tile"] = decode_tile
    return graph
