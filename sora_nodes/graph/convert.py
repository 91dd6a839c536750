"""ComfyUI workflows: the UI format converted to the API format.

A workflow comes in two formats. The UI format (what the browser saves, "version": 0.4) holds
`nodes` with positional `widgets_values` and `links` `[id, from_node, from_slot, to_node, to_slot,
TYPE]`. The API format (what the browser queues) is `{id: {"class_type", "inputs"}}`, where an
input is a value or a link `[from_id, from_slot]`. Converting needs the node schemas (INPUT_TYPES),
because the widget values are stored by position; this follows what ComfyUI's frontend (1.27)
does in graphToPrompt (`ui_to_api`).

Nothing here imports ComfyUI: node classes come in as a mapping {class_type: class}.
"""

from __future__ import annotations

import itertools
from typing import Any

from ..errors import WorkflowError
from .schema import (
    CONTROL_MODES,
    MODE_BYPASS,
    MODE_MUTED,
    PRIMITIVE,
    REROUTE,
    VIRTUAL_NODES,
    WIDGET_KINDS,
    InputSpec,
    NodeMapping,
    input_specs,
    is_link,
    short_repr,
    unknown_type,
)


class ConversionError(WorkflowError):
    """A UI workflow that cannot be turned into an API graph (unknown node, misaligned widgets, ...)."""


def _ui_links(ui: dict) -> dict[int, tuple]:
    """link id -> (from_node, from_slot, to_node, to_slot, type); schema 0.4 arrays or schema 1 objects."""
    links = {}
    for link in ui.get("links") or []:
        if isinstance(link, dict):
            link = [link.get(k) for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")]
        if not isinstance(link, list) or len(link) < 5 or not isinstance(link[0], int) or isinstance(link[0], bool):
            raise ConversionError(
                f"bad link {short_repr(link)}: expected [id, from_node, from_slot, to_node, to_slot, TYPE] "
                "with a number id"
            )
        links[link[0]] = (str(link[1]), link[2], str(link[3]), link[4], link[5] if len(link) > 5 else "*")
    return links


def node_label(node: dict) -> str:
    return f"node {node.get('id')} ({node.get('type')})"


def widget_slots(node: dict, specs: dict[str, InputSpec], where: str = "the workflow") -> dict[str, int]:
    """{input name: index in the node's widgets_values}, matching what the frontend stored.

    Widgets follow INPUT_TYPES order (required, then optional). A widget that was turned into a
    socket and linked keeps its slot. Extra slots: control_after_generate (and a combo's filter)
    after its widget, and the upload button's value after the required widgets of a loader. Files
    saved before frontend 1.16 also hold a dummy value for each forceInput input. A file saved
    before an optional widget was added to the node ends before it, and the node's default holds.
    """
    values = node.get("widgets_values")
    if isinstance(values, dict):  # some frontends store widgets by name
        return {name: name for name, spec in specs.items() if spec.is_widget and name in values}
    values = values or []
    ordered = list(specs.values())
    has_upload = any(s.is_upload for s in ordered if s.category == "required")

    def layout(with_upload: bool, legacy_force_input: bool, allow_older: bool) -> dict[str, int] | None:
        slots, i, upload_pending, older = {}, 0, with_upload, None
        for spec in ordered:
            if spec.category == "optional" and upload_pending:  # the frontend appends `upload` to required
                i, upload_pending = i + 1, False
            if spec.is_widget:
                if spec.category == "optional" and i == len(values) and older is None:
                    older = dict(slots)  # the values end here: saved before the optional widgets existed
                slots[spec.name] = i
                i += 1 + spec.extra_slots()
            elif legacy_force_input and spec.kind in WIDGET_KINDS:
                i += 1 + spec.extra_slots()
        i += upload_pending
        return slots if i == len(values) else older if allow_older else None

    uploads = (False, True) if has_upload else (False,)
    # An exact fit first; only then a file that ends before the optional widgets.
    for allow_older, with_upload, legacy in itertools.product((False, True), uploads, (False, True)):
        slots = layout(with_upload, legacy, allow_older)
        if slots is not None:
            for spec in ordered:
                if spec.name in slots and spec.extra_slots() and values[slots[spec.name] + 1] not in CONTROL_MODES:
                    slots = None
                    break
        if slots is not None:
            return slots
    names = []
    for spec in ordered:
        if spec.is_widget:
            names.append(spec.name)
            names += ["control_after_generate", "control_filter_list"][: spec.extra_slots()]
    raise ConversionError(
        f"{where}: {node_label(node)} stores {len(values)} widget values {short_repr(values)}, but this version of the "
        f"node has the widgets ({', '.join(names) or 'none'}); the file was saved with a different version of "
        "the node: open it in ComfyUI and save it again"
    )


def _widget_values(node: dict, specs: dict[str, InputSpec], where: str) -> dict[str, Any]:
    values = node.get("widgets_values") or []
    return {name: values[slot] for name, slot in widget_slots(node, specs, where).items()}


def _types_compatible(a: Any, b: Any) -> bool:
    """LiteGraph.isValidConnection: equal, any ("*" or ""), or overlapping comma lists."""
    if a in ("*", "", None) or b in ("*", "", None) or a == b:
        return True
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return bool({t.strip().upper() for t in a.split(",")} & {t.strip().upper() for t in b.split(",")})


class _UiGraph:
    """Resolves UI links through reroutes, primitives and bypassed nodes, as ExecutableNodeDTO does."""

    def __init__(self, ui: dict, where: str):
        self.where = where
        self.nodes = {}
        for node in ui["nodes"]:
            if not isinstance(node, dict) or "id" not in node or "type" not in node:
                raise ConversionError(f"{where}: every node needs an 'id' and a 'type', got {str(node)[:80]}")
            self.nodes[str(node["id"])] = node
        self.links = _ui_links(ui)

    def resolve_link(self, link_id: Any, target_type: Any, seen: frozenset = frozenset()) -> tuple | None:
        """("link", node_id, slot), ("value", v) from a PrimitiveNode, ("muted", node_id), or None for nothing."""
        if link_id in seen:
            raise ConversionError(f"{self.where}: link {link_id} loops back on itself through reroutes or bypasses")
        seen = seen | {link_id}
        if link_id not in self.links:
            raise ConversionError(f"{self.where}: an input refers to link {link_id}, which is not in 'links'")
        from_id, from_slot, _, _, _ = self.links[link_id]
        source = self.nodes.get(from_id)
        if source is None:
            raise ConversionError(f"{self.where}: link {link_id} starts at node {from_id}, which is not in 'nodes'")
        inputs = source.get("inputs") or []
        if source["type"] == PRIMITIVE:
            values = source.get("widgets_values") or []
            return ("value", values[0]) if values else None
        if source["type"] == REROUTE:
            link = inputs[0].get("link") if inputs else None
            return None if link is None else self.resolve_link(link, target_type, seen)
        if source.get("mode") == MODE_BYPASS:
            index = self._bypass_input(source, from_slot, target_type)
            link = inputs[index].get("link") if index >= 0 else None
            return None if link is None else self.resolve_link(link, target_type, seen)
        if source.get("mode") == MODE_MUTED:
            return ("muted", from_id)
        return ("link", from_id, from_slot)

    @staticmethod
    def _bypass_input(node: dict, slot: int, target_type: Any) -> int:
        """The input a bypassed node passes through to output `slot` (same index if compatible, else by type)."""
        inputs = node.get("inputs") or []
        outputs = node.get("outputs") or []
        out_type = outputs[slot].get("type") if slot < len(outputs) else target_type
        if target_type in ("*", ""):
            return slot if len(inputs) > slot else 0
        if slot < len(inputs):
            t = inputs[slot].get("type")
            if _types_compatible(t, out_type) and _types_compatible(t, target_type):
                return slot
        for i, inp in enumerate(inputs):
            if inp.get("type") == target_type:
                return i
        for i, inp in enumerate(inputs):
            if _types_compatible(inp.get("type"), out_type) and _types_compatible(inp.get("type"), target_type):
                return i
        return -1


def _check_ui_fields(ui: dict, where: str) -> None:
    """The field types the conversion relies on, so a damaged file gets a message and not a TypeError."""

    def bad(what: str, value: Any, expected: str):
        raise ConversionError(
            f"{where}: {what} must be {expected}, got {short_repr(value)}; re-save the file in ComfyUI"
        )

    for node in ui["nodes"]:
        if not isinstance(node, dict):
            continue  # _UiGraph names it
        label = f"node {short_repr(node.get('id'))}"
        if not isinstance(node.get("id"), (int, str)) or isinstance(node.get("id"), bool):
            bad(f"{label}'s 'id'", node.get("id"), "a number")
        if not isinstance(node.get("type"), str):
            bad(f"{label}'s 'type'", node.get("type"), "a node class name")
        for field in ("inputs", "outputs"):
            entries = node.get(field)
            if entries is not None and not (isinstance(entries, list) and all(isinstance(e, dict) for e in entries)):
                bad(f"{label}'s '{field}'", entries, "a list of objects")
        values = node.get("widgets_values")
        if values is not None and not isinstance(values, (list, dict)):
            bad(f"{label}'s 'widgets_values'", values, "a list")
        if not isinstance(node.get("mode", 0), int):
            bad(f"{label}'s 'mode'", node.get("mode"), "0, 2 (muted) or 4 (bypassed)")
        for entry in node.get("inputs") or []:
            link = entry.get("link")
            if link is not None and (not isinstance(link, int) or isinstance(link, bool)):
                bad(f"{label}'s input {short_repr(entry.get('name'))} link", link, "a link id (a number) or null")


def ui_to_api(ui: dict, mapping: NodeMapping, where: str = "the workflow") -> dict:
    """The API graph the ComfyUI frontend would queue for this UI workflow (muted and bypassed nodes left out)."""
    _check_ui_fields(ui, where)
    graph = _UiGraph(ui, where)
    subgraphs = {s.get("id") for s in (ui.get("definitions") or {}).get("subgraphs") or [] if isinstance(s, dict)}
    api: dict[str, dict] = {}
    errors = []
    for node_id, node in graph.nodes.items():
        kind, mode = node["type"], node.get("mode", 0)
        if kind in VIRTUAL_NODES or mode in (MODE_MUTED, MODE_BYPASS):
            continue
        if kind in subgraphs:
            errors.append(f"{node_label(node)} is a subgraph, which `sora run` cannot expand; unpack it in ComfyUI")
            continue
        cls = mapping.get(kind)
        if cls is None:
            errors.append(f"{node_label(node)}: {unknown_type(kind, mapping)}")
            continue
        specs = input_specs(cls)
        try:
            values = _widget_values(node, specs, where)
        except ConversionError as e:
            errors.append(str(e).removeprefix(f"{where}: "))
            continue
        inputs = {name: {"__value__": v} if isinstance(v, list) else v for name, v in values.items()}
        for inp in node.get("inputs") or []:
            if inp.get("link") is None:
                continue
            name = inp.get("name")
            resolved = graph.resolve_link(inp["link"], inp.get("type", "*"))
            if resolved is None:  # a reroute or primitive that leads nowhere: a widget keeps its own value
                if name not in values:
                    inputs.pop(name, None)
            elif resolved[0] == "muted":  # the frontend links it, then drops links to left-out nodes
                inputs.pop(name, None)
            elif resolved[0] == "value":
                inputs[name] = resolved[1]
            else:
                inputs[name] = [resolved[1], resolved[2]]
        api[node_id] = {"inputs": inputs, "class_type": kind, "_meta": {"title": node.get("title") or kind}}
    if errors:
        raise ConversionError(f"{where} cannot be converted to an API graph: " + "; ".join(errors), errors)
    # the frontend drops links to nodes that were left out (muted ones)
    for entry in api.values():
        for name, value in list(entry["inputs"].items()):
            if is_link(value) and value[0] not in api:
                del entry["inputs"][name]
    return api
