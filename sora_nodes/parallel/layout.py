"""Which rank does what: the layout of a world of ranks into cfg and ulysses groups, and the context a render
runs under.

Rank r of a world of cfg_degree * ulysses_degree ranks is (cfg index r // U, ulysses index r % U): the ranks of
one ulysses group share a cfg half and split its tokens; the ranks of one cfg group hold the same tokens of
the two halves. The context is set for a block of code (`use_parallel`) by the command that launched it, and
read once per render by the pipeline, which hands the DiT its `Ulysses` and guidance its `CfgSplit`: samplers
never see it.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ..errors import ParallelError
from .cfg import CfgSplit
from .collective import Collectives
from .ulysses import Ulysses

MODES = ("ulysses", "cfg", "cfg+ulysses")


@dataclass(frozen=True)
class ParallelLayout:
    mode: str
    world: int
    rank: int

    def __post_init__(self):
        check_world(self.mode, self.world)
        if not 0 <= self.rank < self.world:
            raise ParallelError(f"rank {self.rank} is outside a world of {self.world} ranks")

    @property
    def cfg_degree(self) -> int:
        return 2 if self.mode.startswith("cfg") else 1

    @property
    def ulysses_degree(self) -> int:
        return self.world // self.cfg_degree

    @property
    def cfg_index(self) -> int:
        return self.rank // self.ulysses_degree

    @property
    def ulysses_index(self) -> int:
        return self.rank % self.ulysses_degree

    def ulysses_groups(self) -> list[list[int]]:
        u = self.ulysses_degree
        return [[c * u + i for i in range(u)] for c in range(self.cfg_degree)]

    def cfg_groups(self) -> list[list[int]]:
        u = self.ulysses_degree
        return [[c * u + i for c in range(self.cfg_degree)] for i in range(u)]


def check_world(mode: str, world: int) -> None:
    """Raise ParallelError in one line unless `world` ranks can run `mode`, naming world sizes that can."""
    if mode not in MODES:
        raise ParallelError(f"unknown parallel mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "ulysses" and world < 2:
        raise ParallelError(
            f"--parallel ulysses needs at least 2 ranks, got {world}; "
            "launch with torchrun --nproc-per-node 2 (or 4, ...)"
        )
    if mode == "cfg" and world != 2:
        raise ParallelError(
            f"--parallel cfg runs the prompt and the negative prompt on exactly 2 ranks, got {world}; "
            "use --nproc-per-node 2, or --parallel cfg+ulysses with 4, 6, 8 ... ranks"
        )
    if mode == "cfg+ulysses" and (world < 4 or world % 2):
        raise ParallelError(
            f"--parallel cfg+ulysses needs an even world of at least 4 ranks (2 cfg halves x ulysses >= 2), "
            f"got {world}; use --nproc-per-node 4, 6, 8 ..."
        )


@dataclass
class ParallelContext:
    """This rank's place in the world and its groups' collectives."""

    layout: ParallelLayout
    device: torch.device
    collectives: Collectives
    ulysses: Ulysses | None = None
    cfg: CfgSplit | None = None
    groups: dict = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return self.layout.rank

    @property
    def is_main(self) -> bool:
        return self.layout.rank == 0


def build_context(layout: ParallelLayout, device: torch.device, collectives: Collectives, new_group) -> ParallelContext:
    """The groups of `layout` made with `new_group(ranks)` (every rank must make every group, in one order)."""
    context = ParallelContext(layout, device, collectives)
    for ranks in layout.ulysses_groups():
        group = new_group(ranks) if layout.ulysses_degree > 1 else None
        if layout.rank in ranks and layout.ulysses_degree > 1:
            context.ulysses = Ulysses(collectives, group, layout.ulysses_degree, layout.ulysses_index)
    for ranks in layout.cfg_groups():
        group = new_group(ranks) if layout.cfg_degree > 1 else None
        if layout.rank in ranks and layout.cfg_degree > 1:
            context.cfg = CfgSplit(collectives, group, layout.cfg_index)
    return context


_CURRENT: contextvars.ContextVar[ParallelContext | None] = contextvars.ContextVar("sora_parallel", default=None)


def current_parallel() -> ParallelContext | None:
    """The context of the render running now, or None for a single-process render."""
    return _CURRENT.get()


@contextmanager
def use_parallel(context: ParallelContext | None):
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
