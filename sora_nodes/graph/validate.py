"""ComfyUI workflow files: load them, convert the UI format to the API format, and validate a graph.

A workflow comes in two formats. The UI format (what the browser saves, "version": 0.4) holds
`nodes` with positional `widgets_values` and `links` `[id, from_node, from_slot, to_node, to_slot,
TYPE]`. The API format (what the browser queues) is `{id: {"class_type", "inputs"}}`, where an
input is a value or a link `[from_id, from_slot]`. Converting needs the node schemas (INPUT_TYPES),
because the widget values are stored by position; this follows what ComfyUI's frontend (1.27)
does in graphToPrompt. Validation mirrors the server's validate_prompt/validate_inputs, so a graph
rejected here would be rejected by ComfyUI at queue time, but every problem is reported at once.

Nothing here imports ComfyUI: node classes come in as a mapping {class_type: class}.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WorkflowError

NodeMapping = Mapping[str, type]

WIDGET_KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
# Frontend-only nodes: they never reach the server, their links are resolved while converting.
REROUTE, PRIMITIVE = "Reroute", "PrimitiveNode"
VIRTUAL_NODES = {REROUTE, PRIMITIVE, "Note", "MarkdownNote"}
MODE_MUTED, MODE_BYPASS = 2, 4  # LGraphEventMode.NEVER / BYPASS
CONTROL_MODES = {"fixed", "increment", "decrement", "randomize", "increment-wrap"}
UPLOAD_OPTIONS = ("image_upload", "video_upload", "animated_image_upload")
MAX_LISTED = 20  # like the server, do not print a combo of hundreds of model files


class ConversionError(WorkflowError):
    """A UI workflow that cannot be turned into an API graph (unknown node, misaligned widgets, ...)."""


# ---------------------------------------------------------------- node schemas


@dataclass(frozen=True)
class InputSpec:
    """One INPUT_TYPES entry: `("INT", {"min": 1})`, `(["a", "b"], {})` or `("COMBO", {"options": [...]})`."""

    name: str
    category: str  # "required" or "optional"
    type: Any  # a type name, or the list of combo options
    options: dict

    @property
    def choices(self) -> list | None:
        if isinstance(self.type, (list, tuple)):
            return list(self.type)
        if self.type == "COMBO":
            return list(self.options.get("options", []))
        return None

    @property
    def kind(self) -> str:
        return "COMBO" if self.choices is not None else str(self.type)

    @property
    def is_widget(self) -> bool:
        return self.kind in WIDGET_KINDS and not self.options.get("forceInput")

    def extra_slots(self) -> int:
        """widgets_values slots the frontend stores after this widget (control_after_generate, combo filter)."""
        control = self.options.get("control_after_generate")
        if self.kind == "INT":  # useIntWidget: seed/noise_seed get one unless the schema says otherwise
            return 1 if (control if control is not None else self.name in ("seed", "noise_seed")) else 0
        if self.kind == "FLOAT":
            return 1 if control else 0
        if self.kind == "COMBO":  # addValueControlWidgets: the mode, then control_filter_list
            return 2 if control else 0
        return 0

    @property
    def is_upload(self) -> bool:
        return self.kind == "COMBO" and any(self.options.get(k) is True for k in UPLOAD_OPTIONS)


def input_specs(cls: type) -> dict[str, InputSpec]:
    """The required then optional inputs of a node class, in declaration order."""
    types = _input_types(cls)
    specs = {}
    for category in ("required", "optional"):
        for name, entry in (types.get(category) or {}).items():
            entry = tuple(entry) if isinstance(entry, (list, tuple)) else (entry,)
            options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            specs[name] = InputSpec(name, category, entry[0], options)
    return specs


def hidden_inputs(cls: type) -> dict[str, str]:
    """{argument name: "PROMPT" | "EXTRA_PNGINFO" | "UNIQUE_ID" | ...}."""
    hidden = _input_types(cls).get("hidden") or {}
    return {name: (value[0] if isinstance(value, (list, tuple)) else value) for name, value in hidden.items()}


def _input_types(cls: type) -> dict:
    try:
        types = cls.INPUT_TYPES()
    except Exception as e:
        raise WorkflowError(f"node class {cls.__name__}.INPUT_TYPES() failed: {type(e).__name__}: {e}") from e
    if not isinstance(types, dict):
        raise WorkflowError(f"node class {cls.__name__}.INPUT_TYPES() must return a dict, got {type(types).__name__}")
    return types


def is_output_node(cls: type) -> bool:
    return getattr(cls, "OUTPUT_NODE", False) is True


def types_match(received: Any, spec: InputSpec) -> bool:
    """Can an output of type `received` feed `spec`? ComfyUI's validate_node_input, plus "*" and combos."""
    if spec.choices is not None:  # a combo socket takes a linked string or another combo
        return isinstance(received, (list, tuple)) or received in ("STRING", "COMBO", "*")
    if isinstance(received, (list, tuple)):
        return spec.type == "*"
    if received == "*" or spec.type == "*" or received == spec.type:
        return True
    if not isinstance(received, str) or not isinstance(spec.type, str):
        return False
    return bool({t.strip() for t in received.split(",")} & {t.strip() for t in spec.type.split(",")})


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]"


def _list(values: list, limit: int = MAX_LISTED) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


# ---------------------------------------------------------------- loading


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


# ---------------------------------------------------------------- UI -> API


def _ui_links(ui: dict) -> dict[int, tuple]:
    """link id -> (from_node, from_slot, to_node, to_slot, type); schema 0.4 arrays or schema 1 objects."""
    links = {}
    for link in ui.get("links") or []:
        if isinstance(link, dict):
            link = [link.get(k) for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")]
        if not isinstance(link, list) or len(link) < 5 or not isinstance(link[0], int) or isinstance(link[0], bool):
            raise ConversionError(
                f"bad link {_short(link)}: expected [id, from_node, from_slot, to_node, to_slot, TYPE] with a number id"
            )
        links[link[0]] = (str(link[1]), link[2], str(link[3]), link[4], link[5] if len(link) > 5 else "*")
    return links


def _node_label(node: dict) -> str:
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
        f"{where}: {_node_label(node)} stores {len(values)} widget values {_short(values)}, but this version of the "
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
        raise ConversionError(f"{where}: {what} must be {expected}, got {_short(value)}; re-save the file in ComfyUI")

    for node in ui["nodes"]:
        if not isinstance(node, dict):
            continue  # _UiGraph names it
        label = f"node {_short(node.get('id'))}"
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
                bad(f"{label}'s input {_short(entry.get('name'))} link", link, "a link id (a number) or null")


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
            errors.append(f"{_node_label(node)} is a subgraph, which `sora run` cannot expand; unpack it in ComfyUI")
            continue
        cls = mapping.get(kind)
        if cls is None:
            errors.append(f"{_node_label(node)}: {_unknown_type(kind, mapping)}")
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
            if _is_link(value) and value[0] not in api:
                del entry["inputs"][name]
    return api


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and not isinstance(value[1], bool)


def _unknown_type(kind: Any, mapping: NodeMapping) -> str:
    close = difflib.get_close_matches(str(kind), list(mapping), n=1)
    hint = f"did you mean {close[0]}?" if close else "install the node pack that provides it"
    return f"unknown node type {kind!r}; {hint}"


# ---------------------------------------------------------------- validation


def _coerce(value: Any, spec: InputSpec) -> tuple[Any, str | None]:
    """(value converted to the input's type, None) or (value, reason it is invalid)."""
    kind = spec.kind
    if kind == "INT":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return value, f"expects an integer, got {value!r}"
        try:
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, float) and not number.is_integer():
                return value, f"expects an integer, got {value!r}"
            return int(number), None
        except (ValueError, OverflowError):
            return value, f"expects an integer, got {value!r}"
    if kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return value, f"expects a number, got {value!r}"
        try:
            number = float(value)
        except ValueError:
            return value, f"expects a number, got {value!r}"
        return (number, None) if math.isfinite(number) else (value, f"expects a finite number, got {value!r}")
    if kind == "STRING":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return value, f"expects text, got {value!r}"
        return str(value), None
    if kind == "BOOLEAN":  # stricter than the server, where bool("false") is True
        return (value, None) if isinstance(value, bool) else (value, f"expects true or false, got {value!r}")
    if kind == "COMBO" or kind == "*":
        return value, None
    return value, f"is a {kind} socket and must be linked to another node's output, not set to {value!r}"


def _check_range(value: Any, spec: InputSpec) -> str | None:
    if spec.kind in ("INT", "FLOAT"):
        low, high = spec.options.get("min"), spec.options.get("max")
        if low is not None and value < low:
            return f"{value!r} is below the minimum {low}"
        if high is not None and value > high:
            return f"{value!r} is above the maximum {high}"
    choices = spec.choices
    if choices == [] and spec.options.get("tooltip"):  # an empty folder: say what belongs there
        return f"{value!r} is not one of the choices: there are none. {spec.options['tooltip'].rstrip('.')}"
    if choices is not None and value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{value!r} is not one of the choices ({_list(choices)}){hint}"
    return None


def _validate_function(cls: type) -> tuple[Any, set[str], bool]:
    fn = getattr(cls, "VALIDATE_INPUTS", None)
    if fn is None:
        return None, set(), False
    spec = inspect.getfullargspec(fn)
    return fn, set(spec.args), spec.varkw is not None


class _Validator:
    def __init__(self, graph: dict, mapping: NodeMapping):
        self.graph, self.mapping = graph, mapping
        self.errors: list[str] = []
        self._specs: dict[str, dict[str, InputSpec]] = {}

    def error(self, node_id: str, reason: str, input_name: str | None = None) -> None:
        label = f"node {node_id} ({self.graph[node_id].get('class_type')})"
        self.errors.append(f"{label} input {input_name!r}: {reason}" if input_name else f"{label}: {reason}")

    def specs(self, class_type: str) -> dict[str, InputSpec]:
        if class_type not in self._specs:
            self._specs[class_type] = input_specs(self.mapping[class_type])
        return self._specs[class_type]

    def known(self, node_id: str) -> bool:
        node = self.graph.get(node_id)
        return isinstance(node, dict) and node.get("class_type") in self.mapping

    def check_node(self, node_id: str) -> None:
        node = self.graph[node_id]
        cls = self.mapping[node["class_type"]]
        specs = self.specs(node["class_type"])
        inputs = node["inputs"]
        fn, fn_args, fn_kwargs = _validate_function(cls)
        before = len(self.errors)
        received_types = {}
        for name, spec in specs.items():
            if name not in inputs:
                if spec.category == "required":
                    self.error(node_id, "required input is missing", name)
                continue
            value = inputs[name]
            if isinstance(value, list):
                received = self.check_link(node_id, name, value, spec, skip_type="input_types" in fn_args)
                if received is not None:
                    received_types[name] = received
                continue
            if isinstance(value, dict) and "__value__" in value:  # a list-valued widget, wrapped by the frontend
                value = value["__value__"]
            value, reason = _coerce(value, spec)
            if reason is None and name not in fn_args and not fn_kwargs:
                reason = _check_range(value, spec)
            if reason is not None:
                self.error(node_id, reason, name)
            inputs[name] = value
        if fn is not None and len(self.errors) == before:
            self.call_validate_inputs(node_id, cls, fn, fn_args, fn_kwargs, received_types)

    def check_link(self, node_id: str, name: str, value: list, spec: InputSpec, skip_type: bool) -> Any:
        if len(value) != 2:
            self.error(node_id, f"bad link {value!r}: a link is [node_id, output_slot]", name)
            return None
        source, slot = str(value[0]), value[1]
        value[0] = source
        if source not in self.graph:
            self.error(node_id, f"is linked to node {source}, which is not in the workflow", name)
            return None
        if not self.known(source):
            return None  # reported on that node
        source_class = self.graph[source]["class_type"]
        outputs = tuple(getattr(self.mapping[source_class], "RETURN_TYPES", ()))
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < len(outputs):
            have = f"outputs 0..{len(outputs) - 1}" if outputs else "no outputs"
            self.error(
                node_id, f"is linked to output {slot!r} of node {source} ({source_class}), which has {have}", name
            )
            return None
        received = outputs[slot]
        if not skip_type and not types_match(received, spec):
            expected = "a COMBO or STRING" if spec.choices is not None else spec.type
            self.error(
                node_id,
                f"expects {expected} but node {source} ({source_class}) output {slot} gives {received}",
                name,
            )
        return received

    def call_validate_inputs(self, node_id, cls, fn, fn_args, fn_kwargs, received_types) -> None:
        """As the server calls it: constants it names, None for linked inputs, the hidden inputs it names."""
        node = self.graph[node_id]
        given = {
            name: (None if _is_link(v) else v)
            for name, v in node["inputs"].items()
            if name in self.specs(node["class_type"])
        }
        for name, kind in hidden_inputs(cls).items():
            given[name] = {"PROMPT": {}, "UNIQUE_ID": node_id}.get(kind)
        kwargs = {k: v for k, v in given.items() if fn_kwargs or k in fn_args}
        if "input_types" in fn_args:
            kwargs["input_types"] = received_types
        try:
            result = fn(**kwargs)
        except Exception as e:
            self.error(node_id, f"VALIDATE_INPUTS raised {type(e).__name__}: {e}")
            return
        if result is not True:
            names = ", ".join(k for k in kwargs if k != "input_types") or "(none)"
            reason = "VALIDATE_INPUTS returned False" if result is False else str(result)
            self.errors.append(f"node {node_id} ({node['class_type']}) inputs {names}: {reason}")


def _dependencies(graph: dict, node_id: str) -> list[str]:
    inputs = graph[node_id].get("inputs") or {}
    return [str(v[0]) for v in inputs.values() if isinstance(v, list) and len(v) == 2 and str(v[0]) in graph]


def _reachable(graph: dict, roots: list[str]) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        node_id = todo.pop()
        if node_id not in seen:
            seen.add(node_id)
            todo += _dependencies(graph, node_id)
    return seen


def needed_nodes(graph: dict, outputs: list[str]) -> list[str]:
    """The nodes the outputs depend on (outputs included), dependencies first, each once; cycles raise."""
    order, state = [], {}  # state: 1 = on the stack, 2 = done
    for root in outputs:
        if state.get(root) == 2:
            continue
        stack = [(root, iter(_dependencies(graph, root)))]
        state[root], path = 1, [root]
        while stack:
            node_id, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                path.pop()
                state[node_id] = 2
                order.append(node_id)
            elif state.get(dep) == 1:
                cycle = path[path.index(dep) :] + [dep]
                raise _CycleError(cycle)
            elif state.get(dep) is None:
                state[dep] = 1
                path.append(dep)
                stack.append((dep, iter(_dependencies(graph, dep))))
    return order


class _CycleError(Exception):
    def __init__(self, cycle: list[str]):
        steps = ", which takes input from ".join(f"node {n}" for n in cycle)
        super().__init__(f"{steps}; a node cannot depend on its own output")
        self.cycle = cycle


def output_nodes(graph: dict, mapping: NodeMapping) -> list[str]:
    return sorted(
        (
            i
            for i, n in graph.items()
            if isinstance(n, dict) and is_output_node(mapping.get(n.get("class_type"), object))
        ),
        key=_id_order,
    )


def _id_order(node_id: str) -> tuple:
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


def validate(graph: Any, mapping: NodeMapping, where: str = "the workflow") -> dict:
    """Check an API graph against the node schemas; returns a copy with values converted to their types.

    Raises one WorkflowError listing every problem: unknown node types, missing required inputs,
    links to missing nodes or slots, type mismatches, invalid values, VALIDATE_INPUTS rejections,
    no output node, and cycles. Like the server, only the nodes the output nodes need are checked.
    """
    if not isinstance(graph, dict) or not graph:
        raise WorkflowError(f"{where} has no nodes")
    graph = copy.deepcopy(graph)
    v = _Validator(graph, mapping)
    for node_id in list(graph):
        node = graph.pop(node_id)
        graph[str(node_id)] = node
    for node_id, node in graph.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            v.errors.append(f"node {node_id}: has no class_type; every node needs 'class_type' and 'inputs'")
            graph[node_id] = {"class_type": None, "inputs": {}}
            continue
        if not isinstance(node.setdefault("inputs", {}), dict):
            v.error(node_id, f"'inputs' must be an object of name: value, got {type(node['inputs']).__name__}")
            node["inputs"] = {}
        if node["class_type"] not in mapping:
            v.error(node_id, _unknown_type(node["class_type"], mapping))
    outputs = output_nodes(graph, mapping)
    if not outputs and not v.errors:
        savers = [name for name, cls in mapping.items() if is_output_node(cls)]
        v.errors.append(
            "the workflow has no output node, so nothing would be saved; add one such as "
            + (" or ".join(savers[:3]) or "a save node")
        )
    reachable = _reachable(graph, outputs)
    for node_id in sorted(reachable, key=_id_order):
        if v.known(node_id):
            v.check_node(node_id)
    try:
        needed_nodes(graph, outputs)
    except _CycleError as e:
        v.error(e.cycle[0], f"is part of a cycle: {e}")
    if v.errors:
        count = f"{len(v.errors)} error{'s' if len(v.errors) > 1 else ''}"
        raise WorkflowError(f"{where} is invalid ({count}): " + "; ".join(v.errors), v.errors)
    return graph


# ---------------------------------------------------------------- --set NODE_ID.INPUT=VALUE


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
            raise WorkflowError(f"{raw!r} is not one of the choices ({_list(choices)})")
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
                f"{i} {n.get('class_type')}" for i, n in sorted(graph.items(), key=lambda kv: _id_order(kv[0]))
            )
            raise WorkflowError(f"--set {text}: there is no node {node_id!r} in the workflow (nodes: {nodes})")
        label = f"node {node_id} ({node.get('class_type')})"
        if node.get("class_type") not in mapping:
            raise WorkflowError(f"--set {text}: {label}: {_unknown_type(node.get('class_type'), mapping)}")
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
        if _is_link(node["inputs"].get(name)) or linked_in_ui:
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


PROMPT_INPUTS = ("prompt", "text", "schedule")


def prompt_texts(graph: dict, *, positive_only: bool = False) -> list[str]:
    """The prompt texts typed into a graph's nodes, each once, in node order. `positive_only` leaves
    out conditioners wired to a sampler's `negative`: naming what to avoid is not a request for it."""
    negative = {str(v[0]) for node in graph.values() for k, v in node.get("inputs", {}).items() if k == "negative"}
    texts = []
    for node_id, node in graph.items():
        if positive_only and node_id in negative:
            continue
        for name in PROMPT_INPUTS:
            value = node.get("inputs", {}).get(name)
            if isinstance(value, str) and value.strip() and value not in texts:
                texts.append(value)
    return texts
