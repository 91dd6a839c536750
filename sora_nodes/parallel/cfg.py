"""CFG-parallel: the conditional and the unconditional pass of classifier-free guidance on two ranks.

Rank index 0 of a cfg group runs the prompt, index 1 the negative prompt, each at batch B instead of one call
at 2B; one all_gather gives both ranks both halves, and each combines them the same way, so every rank carries
the same sampler state. With ulysses inside (cfg x ulysses), each half is itself spread over a ulysses group.
"""

from __future__ import annotations

import torch

from .collective import Collectives


class CfgSplit:
    """What `classifier_free_guidance` asks of a cfg group: which half this rank runs, and the exchange."""

    def __init__(self, collectives: Collectives, group, index: int):
        self.collectives, self.group, self.index = collectives, group, index

    def exchange(self, mine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's half -> (cond, uncond), the same on both ranks."""
        cond, uncond = self.collectives.all_gather(mine, self.group, 2)
        return cond, uncond
