"""Prompt schedules: different prompts over time segments of a long video.

Written one entry per line as `SECONDS: prompt`, e.g.

    0: a red circle moving right on a mint background
    20: a blue square moving up on a mint background

An entry holds from its start until the next one. Before the first entry (or with no entries)
the base prompt holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import SoraError

_LINE = re.compile(r"^\s*(?P<start>\d+(?:\.\d+)?)\s*s?\s*:\s*(?P<prompt>.*?)\s*$")


@dataclass(frozen=True)
class ScheduleEntry:
    start: float  # seconds
    prompt: str


def parse_schedule(text: str) -> tuple[ScheduleEntry, ...]:
    """Entries sorted by start; blank lines and lines starting with # are skipped."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise SoraError(
                f"prompt schedule line {number} ({line.strip()!r}) is not 'SECONDS: prompt'; "
                "write e.g. '20: a blue square moving up'"
            )
        if not match["prompt"]:
            raise SoraError(f"prompt schedule line {number} has no prompt after its time")
        entries.append(ScheduleEntry(float(match["start"]), match["prompt"]))
    starts = [e.start for e in entries]
    if len(set(starts)) != len(starts):
        raise SoraError(f"the prompt schedule gives two prompts for one start time ({starts}); keep one")
    return tuple(sorted(entries, key=lambda e: e.start))


def active_index(starts: list[float], time: float) -> int:
    """Which entry holds at `time`: -1 before the first (the base prompt), else its index."""
    return sum(1 for s in starts if s <= time) - 1
