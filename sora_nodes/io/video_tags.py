"""The workflow and prompt a video carries in its MP4 tags: JSON text, capped in size.

ComfyUI parses both tags with JSON.parse when a video is dropped on the canvas, so what is stored is
always valid JSON. A graph over its cap (a 50 MB value pasted into a widget would otherwise make a
10 KB clip 50 MB) is stored with its long values replaced by a note of their length, which keeps it a
graph that loads and shows where the cut was; when even that is too large, a marker object that says
so is stored instead. Either way a warning is logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..errors import SoraError

log = logging.getLogger(__name__)

# 256 KiB each: 15 times the largest shipped workflow (17 KB), and larger than any graph we have seen
# that does not carry pasted data.
MAX_TAG_BYTES = {"workflow": 256 * 1024, "prompt": 256 * 1024}
CUT_LENGTHS = (65536, 16384, 4096, 1024, 256, 64)  # tried in turn until the graph fits
MARKER_KEY = "sora_nodes_cut"  # the object stored when no cut graph fits


def tag_value(name: str, value: Any) -> str:
    """A dict/list becomes JSON text; a str must already be JSON text, as ComfyUI reads it back with JSON.parse."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            raise SoraError(
                f"{name} must be a dict or JSON text (ComfyUI parses this tag as JSON), got a plain string "
                f"starting {value[:40]!r}"
            ) from None
        except RecursionError:
            raise SoraError(f"{name} nests lists or objects too deeply to be a graph") from None
        return value
    try:
        return json.dumps(value)
    except TypeError as e:
        raise SoraError(f"{name} must be JSON-serialisable (dict, list, str, numbers): {e}") from None
    except (ValueError, RecursionError) as e:  # a value that contains itself, or nests past the recursion limit
        raise SoraError(f"{name} cannot be stored as JSON: {e}") from None


def _note(size: int) -> str:
    return f"[cut by sora-nodes: {size} characters]"


def _cut(value: Any, length: int) -> tuple[Any, int]:
    """`value` with every string longer than `length` replaced by a note of its size, then every list of plain
    values whose JSON is still longer by a list of one such note (it stays a list: widgets_values must); and
    how many were replaced."""
    if isinstance(value, str):
        return (_note(len(value)), 1) if len(value) > length else (value, 0)
    if isinstance(value, list):
        pairs = [_cut(v, length) for v in value]
        items, count = [v for v, _ in pairs], sum(n for _, n in pairs)
        if all(not isinstance(v, (dict, list)) for v in items):
            size = len(json.dumps(items))
            if size > length:
                return [_note(size)], count + 1
        return items, count
    if isinstance(value, dict):
        pairs = {k: _cut(v, length) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, sum(n for _, n in pairs.values())
    return value, 0


def capped_tag(name: str, value: Any) -> str:
    """The JSON text stored as tag `name` ("workflow" or "prompt"): at most MAX_TAG_BYTES[name] bytes."""
    text = tag_value(name, value)
    cap = MAX_TAG_BYTES[name]
    size = len(text.encode("utf-8"))
    if size <= cap:
        return text
    try:
        data = json.loads(text)
        compact = json.dumps(data, separators=(",", ":"))
        if len(compact.encode("utf-8")) <= cap:
            return compact
        for length in CUT_LENGTHS:
            cut, count = _cut(data, length)
            shrunk = json.dumps(cut, separators=(",", ":"))
            if count and len(shrunk.encode("utf-8")) <= cap:
                log.warning(
                    "the %s is %.1f MB, more than the %d KiB a video stores; %d value(s) longer than %d characters "
                    "were replaced by '[cut by sora-nodes: N characters]' to fit",
                    name,
                    size / 1e6,
                    cap // 1024,
                    count,
                    length,
                )
                return shrunk
    except RecursionError:
        pass  # nested past the recursion limit: only the marker is left
    log.warning(
        "the %s is %.1f MB, more than the %d KiB a video stores, even with its long values cut; the video stores "
        "a marker in its place",
        name,
        size / 1e6,
        cap // 1024,
    )
    return json.dumps({MARKER_KEY: f"the {name} ({size} bytes) was larger than the {cap} bytes a video stores"})
