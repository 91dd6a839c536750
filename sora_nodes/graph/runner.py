"""Run an API workflow headless with the pack's node classes, as ComfyUI's executor would (`sora run`).

The graph is validated first, so a bad graph fails before any node runs. Then only the nodes the
output nodes need run, dependencies first and each once, under torch.inference_mode like the
server. Nodes get the hidden inputs ComfyUI gives them: PROMPT (the API graph), EXTRA_PNGINFO
({"workflow": UI graph} when there is one) and UNIQUE_ID.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import SoraError
from .host import HeadlessHost, Host, Interrupted, use_host
from .schema import NodeMapping, hidden_inputs, input_specs
from .validate import needed_nodes, output_nodes, validate


def _split(result: Any, node: str, cls: type) -> tuple[dict, tuple]:
    """A node's return value -> (ui dict, outputs tuple); a tuple or {"ui": ..., "result": ...} as in ComfyUI."""
    if isinstance(result, dict):
        ui, outputs = result.get("ui") or {}, result.get("result", ())
    elif result is None:
        ui, outputs = {}, ()
    else:
        ui, outputs = {}, result
    if not isinstance(outputs, (tuple, list)):
        raise SoraError(
            f"{node} returned {type(outputs).__name__}; a node returns a tuple of its outputs or "
            '{"ui": ..., "result": (...)}'
        )
    declared = len(getattr(cls, "RETURN_TYPES", ()))
    if len(outputs) < declared:
        raise SoraError(f"{node} returned {len(outputs)} values but declares {declared} outputs")
    return ui, tuple(outputs)


def _saved_files(ui: dict, output_dir: Path) -> list[Path]:
    """Files an output node reports as {"filename", "subfolder", "type": "output"} in any `ui` list."""
    files = []
    for entries in ui.values():
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and "filename" in entry and entry.get("type", "output") == "output":
                files.append(output_dir / (entry.get("subfolder") or "") / entry["filename"])
    return files


def run_workflow(
    graph: dict,
    *,
    mapping: NodeMapping,
    host: Host | None = None,
    ui: dict | None = None,
    where: str = "the workflow",
    until: list[str] | None = None,
) -> list[Path]:
    """Validate and execute an API graph with the node classes of `mapping` (the pack's: `sora_nodes.comfy`'s
    NODE_CLASS_MAPPINGS); returns the files the output nodes saved, in order.

    A node that fails raises SoraError naming its id and class; Ctrl-C (KeyboardInterrupt) and
    `Interrupted` pass through unchanged. `until` runs only what those nodes need, themselves included,
    instead of what the output nodes need (a parallel render's other ranks stop at the sampler).
    """
    host = HeadlessHost() if host is None else host
    with use_host(host):  # schemas list the host's model and input files, so validate under it too
        graph = validate(graph, mapping, where)
        order = needed_nodes(graph, until if until is not None else output_nodes(graph, mapping))
        with torch.inference_mode():
            return _execute(graph, order, mapping, host, {"workflow": ui} if ui is not None else {})


def _execute(graph: dict, order: list[str], mapping: NodeMapping, host: Host, extra_pnginfo: dict) -> list[Path]:
    results: dict[str, tuple] = {}
    saved: list[Path] = []
    for node_id in order:
        node = graph[node_id]
        cls = mapping[node["class_type"]]
        label = f"node {node_id} ({node['class_type']})"
        kwargs, specs = {}, input_specs(cls)
        for name, value in node["inputs"].items():
            if name not in specs:
                continue  # e.g. the frontend's "upload": "image"; the server drops these too
            kwargs[name] = results[value[0]][value[1]] if isinstance(value, list) else value
        hidden = {"PROMPT": graph, "EXTRA_PNGINFO": extra_pnginfo, "UNIQUE_ID": node_id}
        for name, kind in hidden_inputs(cls).items():
            kwargs[name] = hidden.get(kind)
        try:
            returned = getattr(cls(), cls.FUNCTION)(**kwargs)
        except (Interrupted, KeyboardInterrupt):
            raise
        except SoraError as e:
            raise SoraError(f"{label}: {e}") from e
        except Exception as e:
            raise SoraError(f"{label} failed: {type(e).__name__}: {e}") from e
        ui_part, results[node_id] = _split(returned, label, cls)
        saved += _saved_files(ui_part, Path(host.output_dir()))
    return saved
