"""Validation of an API graph, mirroring the server's validate_prompt/validate_inputs: a graph rejected here
would be rejected by ComfyUI at queue time, but every problem is reported at once. Also the order a graph
runs in: the nodes its outputs need, dependencies first.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
from typing import Any

from ..errors import WorkflowError
from .schema import (
    InputSpec,
    NodeMapping,
    hidden_inputs,
    input_specs,
    is_link,
    is_output_node,
    listed,
    types_match,
    unknown_type,
)


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
        return f"{value!r} is not one of the choices ({listed(choices)}){hint}"
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
            name: (None if is_link(v) else v)
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
        key=id_order,
    )


def id_order(node_id: str) -> tuple:
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
            v.error(node_id, unknown_type(node["class_type"], mapping))
    outputs = output_nodes(graph, mapping)
    if not outputs and not v.errors:
        savers = [name for name, cls in mapping.items() if is_output_node(cls)]
        v.errors.append(
            "the workflow has no output node, so nothing would be saved; add one such as "
            + (" or ".join(savers[:3]) or "a save node")
        )
    reachable = _reachable(graph, outputs)
    for node_id in sorted(reachable, key=id_order):
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
