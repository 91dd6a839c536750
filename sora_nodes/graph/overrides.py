"""`sora run --set NODE_ID.INPUT=VALUE`: override an input of an API graph, parsed by the input's own type."""

from __future__ import annotations

import copy
import math
from typing import Any

from ..errors import WorkflowError
from .convert import widget_slots
from .schema import WIDGET_KINDS, InputSpec, NodeMapping, input_specs, is_link, listed, unknown_type
from .validate import id_order


def parse_override(text: str) -> tuple[str, str, str]:
    """ "3.seed=42" -> ("3", "seed", "42")."""
    target, eq, raw = text.partition("=")
    node_id, dot, name = target.strip().rpartition(".")
    if not eq or not dot or not node_id or not name:
        raise WorkflowError(f"--set expects NODE_ID.INPUT=VALUE, e.g. --set 3.seed=42; got {text!r}")
    return node_id, name, raw


def parse_value(raw: str, spec: InputSpec) -> Any:
    """The typed value of `raw` for this input: INT, FLOAT, BOOLEAN (true/false), STRING or a COMBO choice."""
    kind = spec.kind
    if kind == "INT":
        try:
            return int(raw.strip())
        except ValueError:
            raise WorkflowError(f"expects an integer, got {raw!r}") from None
    if kind == "FLOAT":
        try:
            value = float(raw.strip())
        except ValueError:
            raise WorkflowError(f"expects a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise WorkflowError(f"expects a finite number, got {raw!r}")
        return value
    if kind == "BOOLEAN":
        word = raw.strip().lower()
        if word not in ("true", "false"):
            raise WorkflowError(f"expects true or false, got {raw!r}")
        return word == "true"
    if kind == "COMBO":
        choices = spec.choices or []
        if raw not in choices:
            raise WorkflowError(f"{raw!r} is not one of the choices ({listed(choices)})")
        return raw
    return raw


def apply_overrides(
    graph: dict, mapping: NodeMapping, overrides: list[str], ui: dict | None = None
) -> tuple[dict, dict | None]:
    """Set widget values from `--set NODE_ID.INPUT=VALUE` in copies of the API graph and, if given, its UI graph."""
    graph, ui = copy.deepcopy(graph), copy.deepcopy(ui)
    ui_nodes = {str(n.get("id")): n for n in ui["nodes"]} if ui else {}
    for text in overrides:
        node_id, name, raw = parse_override(text)
        node = graph.get(node_id)
        if node is None:
            nodes = ", ".join(
                f"{i} {n.get('class_type')}" for i, n in sorted(graph.items(), key=lambda kv: id_order(kv[0]))
            )
            raise WorkflowError(f"--set {text}: there is no node {node_id!r} in the workflow (nodes: {nodes})")
        label = f"node {node_id} ({node.get('class_type')})"
        if node.get("class_type") not in mapping:
            raise WorkflowError(f"--set {text}: {label}: {unknown_type(node.get('class_type'), mapping)}")
        specs = input_specs(mapping[node["class_type"]])
        spec = specs.get(name)
        if spec is None:
            settable = [n for n, s in specs.items() if s.is_widget]
            raise WorkflowError(
                f"--set {text}: {label} has no input {name!r}; its settable inputs are {', '.join(settable)}"
            )
        if spec.kind not in WIDGET_KINDS:
            raise WorkflowError(
                f"--set {text}: input {name!r} of {label} is a {spec.kind} socket; --set only sets INT, FLOAT, "
                "BOOLEAN, STRING and COMBO values"
            )
        ui_node = ui_nodes.get(node_id)
        linked_in_ui = ui_node is not None and any(
            i.get("name") == name and i.get("link") is not None for i in ui_node.get("inputs") or []
        )
        if is_link(node["inputs"].get(name)) or linked_in_ui:
            raise WorkflowError(
                f"--set {text}: input {name!r} of {label} is linked from another node; set that node's value instead"
            )
        try:
            value = parse_value(raw, spec)
        except WorkflowError as e:
            raise WorkflowError(f"--set {text}: input {name!r} of {label} {e}") from None
        node["inputs"][name] = value
        if ui_node is not None:
            slot = widget_slots(ui_node, specs).get(name)
            if slot is not None:
                ui_node["widgets_values"][slot] = value
    return graph, ui
