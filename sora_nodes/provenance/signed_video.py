"""Saving a generated video: write the MP4, then sign it, as one atomic write.

Both steps happen on a hidden temporary file that is renamed into place only when signed, so an
unsigned or half-signed video never appears under the output name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..video_io import write_video
from .sign import sign_video


def write_signed_video(
    path: str | os.PathLike,
    frames: Any,
    fps: float,
    *,
    sign: bool = True,
    manifest_prompt: str | None = None,
    prompt: dict | None = None,
    workflow: dict | None = None,
) -> Path:
    """`write_video` with the graph tags, then a C2PA manifest (unless `sign` is off); the text
    prompt enters the manifest only as `manifest_prompt`, which the user opts in to."""
    with atomic_path(path) as tmp:
        write_video(tmp, frames, fps, prompt=prompt, workflow=workflow)
        if sign:
            sign_video(tmp, prompt=manifest_prompt)
    return Path(path)


def graph_prompt_text(graph: dict | None) -> str:
    """The prompt texts typed into a ComfyUI API graph (recaptioner prompts, conditioner texts),
    one per line: what "include the prompt" means for a render made from a graph."""
    texts = []
    for node in (graph or {}).values():
        for name in ("prompt", "text", "schedule"):
            value = node.get("inputs", {}).get(name) if isinstance(node, dict) else None
            if isinstance(value, str) and value.strip() and value not in texts:
                texts.append(value)
    return "\n".join(texts)
