"""The prompt texts a graph types into its nodes, for the safety filter and the signed manifest."""

from __future__ import annotations

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
