"""Safety for API graphs run headless (`sora run`), including graphs saved without the safety nodes.

Prompts are checked before any node runs, and every save gets a SoraFrameSafety in front of it, so
`sora run` refuses what the shipped workflows' own safety nodes refuse.
"""

from __future__ import annotations

import copy

from ..safety.frames import FrameSafetySettings
from ..safety.gate import require_safe_prompts
from .prompts import prompt_texts

# class -> its frames input: the pack's save node, and ComfyUI core's nodes that save or wrap decoded frames
# (a graph run through a real ComfyUI, `sora run --comfyui`, may save with them)
SAVE_NODES = {
    "SoraSaveVideo": "frames",
    "SaveImage": "images",
    "SaveAnimatedWEBP": "images",
    "SaveAnimatedPNG": "images",
    "CreateVideo": "images",
}
FRAME_SAFETY = "SoraFrameSafety"
DEFAULTS = FrameSafetySettings()


def with_frame_safety(graph: dict) -> dict:
    """A copy of `graph` where every save node's frames pass through a SoraFrameSafety node first."""
    graph = copy.deepcopy(graph)
    next_id = max((int(i) for i in graph if i.isdigit()), default=0) + 1
    for node in list(graph.values()):
        name = SAVE_NODES.get(node.get("class_type"))
        source = node.get("inputs", {}).get(name) if name else None
        if isinstance(source, list) and graph.get(str(source[0]), {}).get("class_type") != FRAME_SAFETY:
            inputs = {"frames": source, "every": DEFAULTS.every, "min_unsafe": DEFAULTS.min_unsafe}
            graph[str(next_id)] = {"class_type": FRAME_SAFETY, "inputs": inputs, "_meta": {"title": FRAME_SAFETY}}
            node["inputs"][name] = [str(next_id), 0]
            next_id += 1
    return graph


def guard_graph(graph: dict, *, where: str = "the workflow") -> dict:
    """Check the graph's prompts now (raises PromptRejected) and return it with a frame check before every save."""
    require_safe_prompts(prompt_texts(graph, positive_only=True), where=where)
    return with_frame_safety(graph)
