"""Workflow files: read a JSON workflow and tell its format (UI, as the browser saves it, or API, as it queues)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import WorkflowError


def load_workflow(path: str | os.PathLike) -> dict:
    """The parsed JSON of a workflow file (either format), with a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise WorkflowError(f"workflow file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        graph = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise WorkflowError(f"{path} is not a text file; pass a workflow .json saved by ComfyUI") from None
    except json.JSONDecodeError as e:
        raise WorkflowError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise WorkflowError(f"{path} nests lists or objects too deeply to be a workflow") from None
    workflow_format(graph, where=str(path))
    return graph


def workflow_format(graph: Any, where: str = "the workflow") -> str:
    """ "ui" for a saved UI workflow (nodes + links), "api" for an API prompt ({id: {class_type, inputs}})."""
    if isinstance(graph, dict) and isinstance(graph.get("nodes"), list) and isinstance(graph.get("links"), list):
        return "ui"
    if isinstance(graph, dict) and graph and all(isinstance(v, dict) and "class_type" in v for v in graph.values()):
        return "api"
    raise WorkflowError(
        f"{where} is not a ComfyUI workflow: expected a UI workflow (with 'nodes' and 'links') or an API prompt "
        '({"id": {"class_type": ..., "inputs": {...}}}); in ComfyUI use Workflow > Export (API)'
    )
