"""Evaluation prompts: JSON lines of {"prompt": ..., "expect": {"color", "shape", "motion", ...}}.

Every attribute of "expect" is optional (an accuracy counts only the prompts that state it):
  color, shape, motion  the world's names for the object the prompt is about (the mover)
  occlusion             true when the mover passes behind another object (persistence is scored)
  count                 how many objects the clip should hold (default 1, or 2 with occlusion)

The shipped held-out set asks only for (color, shape, motion) triples the training world never
draws, in wordings unlike its captions.
"""

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import SoraError
from ..world import MOTIONS, OBJECT_COLORS, SHAPES

EXPECT_KEYS = ("color", "shape", "motion", "occlusion", "count")
MAX_OBJECTS = 3


@dataclass(frozen=True)
class Expectation:
    color: str | None = None
    shape: str | None = None
    motion: str | None = None
    occlusion: bool = False
    count: int | None = None  # None: 1, or 2 with occlusion

    @property
    def object_count(self) -> int:
        return self.count if self.count is not None else 2 if self.occlusion else 1

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("color", "shape", "motion") if getattr(self, k) is not None}
        return out | {"occlusion": self.occlusion, "count": self.object_count}


@dataclass(frozen=True)
class EvalPrompt:
    prompt: str
    expect: Expectation


def prompt_set_path(name: str) -> Path:
    """A shipped prompt set: heldout_prompts, seen_prompts, quick_seen or quick_heldout."""
    return Path(str(resources.files("sora_nodes.evaluate") / "data" / f"{name}.jsonl"))


def heldout_prompts_path() -> Path:
    return prompt_set_path("heldout_prompts")


def _expectation(raw, where: str) -> Expectation:
    if not isinstance(raw, dict):
        raise SoraError(f'{where}: "expect" must be an object like {{"color": "red"}}, got {type(raw).__name__}')
    unknown = sorted(set(raw) - set(EXPECT_KEYS))
    if unknown:
        raise SoraError(f'{where}: unknown "expect" key(s) {unknown}; allowed: {", ".join(EXPECT_KEYS)}')
    if not any(k in raw for k in ("color", "shape", "motion", "occlusion")):
        raise SoraError(f'{where}: "expect" names nothing to score; give at least one of color, shape, motion')
    for key, allowed in (("color", tuple(OBJECT_COLORS)), ("shape", SHAPES), ("motion", MOTIONS)):
        if key in raw and raw[key] not in allowed:
            raise SoraError(f"{where}: unknown {key} {raw[key]!r}; the shapes world knows {', '.join(allowed)}")
    occlusion = raw.get("occlusion", False)
    if not isinstance(occlusion, bool):
        raise SoraError(f'{where}: "occlusion" must be true or false, got {occlusion!r}')
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_OBJECTS):
        raise SoraError(f'{where}: "count" must be a whole number from 1 to {MAX_OBJECTS}, got {count!r}')
    return Expectation(raw.get("color"), raw.get("shape"), raw.get("motion"), occlusion, count)


def parse_prompt_line(text: str, where: str) -> EvalPrompt:
    """One JSON line -> EvalPrompt; `where` ("file.jsonl:3") starts every error message."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as e:
        raise SoraError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise SoraError(f'{where}: each line must be a JSON object {{"prompt": ..., "expect": {{...}}}}')
    unknown = sorted(set(row) - {"prompt", "expect"})
    if unknown:
        raise SoraError(f'{where}: unknown key(s) {unknown}; a line holds "prompt" and "expect"')
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise SoraError(f'{where}: "prompt" must be a non-empty string')
    if "expect" not in row:
        raise SoraError(f'{where}: missing "expect", e.g. {{"color": "red", "shape": "circle", "motion": "left"}}')
    return EvalPrompt(prompt.strip(), _expectation(row["expect"], where))


def load_prompts(path: str | os.PathLike | None = None) -> list[EvalPrompt]:
    """The prompts in a .jsonl file (blank lines skipped); None: the shipped held-out set."""
    path = Path(path) if path is not None else heldout_prompts_path()
    if not path.is_file():
        raise SoraError(f"prompt file not found: {path}; pass a .jsonl file with one prompt object per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise SoraError(f"{path} is not UTF-8 text; a prompt file is JSON lines") from None
    prompts = [parse_prompt_line(line, f"{path}:{n}") for n, line in enumerate(lines, start=1) if line.strip()]
    if not prompts:
        raise SoraError(f"{path} holds no prompts; write one JSON object per line")
    return prompts
