"""Saving a generated video: watermark the frames, write the MP4, then sign it, as one atomic write.

The order is DESIGN section 5's: any step after signing would break the signature. The file steps
happen on a hidden temporary file that is renamed into place only when signed, so an unsigned or
half-signed video never appears under the output name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..graph.prompts import prompt_texts
from ..io.atomic import atomic_path
from ..io.video import write_video
from .sign import sign_video
from .watermark import MIN_SIDE, embed_watermark

log = logging.getLogger(__name__)


def write_signed_video(
    path: str | os.PathLike,
    frames: Any,
    fps: float,
    *,
    sign: bool = True,
    watermark: bool = True,
    manifest_prompt: str | None = None,
    prompt: dict | None = None,
    workflow: dict | None = None,
) -> Path:
    """`write_video` of the watermarked frames (unless `watermark` is off) with the graph tags, then a
    C2PA manifest (unless `sign` is off); the text prompt enters the manifest only as
    `manifest_prompt`, which the user opts in to."""
    if watermark and min(frames.shape[1:3]) < MIN_SIDE:
        # Refusing would lose a finished render; the C2PA manifest still says a model made it.
        log.warning("frames of %dx%d are too small to carry the watermark (%d px minimum); saved without it",
                    frames.shape[2], frames.shape[1], MIN_SIDE)  # fmt: skip
    elif watermark:
        frames = embed_watermark(frames)
    with atomic_path(path) as tmp:
        write_video(tmp, frames, fps, prompt=prompt, workflow=workflow)
        if sign:
            sign_video(tmp, prompt=manifest_prompt)
    return Path(path)


def graph_prompt_text(graph: dict | None) -> str:
    """The prompt texts typed into a ComfyUI API graph, one per line: what "include the prompt" means
    for a render made from a graph."""
    return "\n".join(prompt_texts(graph or {}))
