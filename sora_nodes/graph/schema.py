"""Node schemas as the server reads them: a node class's INPUT_TYPES as `InputSpec`s, its hidden inputs,
whether it is an output node, and whether a value or a link fits an input.

Nothing in graph/ imports ComfyUI: node classes come in as a mapping {class_type: class}.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
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


def short_repr(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]"


def listed(values: list, limit: int = MAX_LISTED) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def is_link(value: Any) -> bool:
    """An API input that is a link [from_id, from_slot], not a value."""
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and not isinstance(value[1], bool)


def unknown_type(kind: Any, mapping: NodeMapping) -> str:
    close = difflib.get_close_matches(str(kind), list(mapping), n=1)
    hint = f"did you mean {close[0]}?" if close else "install the node pack that provides it"
    return f"unknown node type {kind!r}; {hint}"
