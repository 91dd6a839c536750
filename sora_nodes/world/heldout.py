"""(color, shape, motion) triples the world never draws at random, so that evaluation prompts ask
for attribute combinations the default model never saw in a training caption.

24 of the 232 possible triples; every colour, shape and motion is held out at least twice.
"""

from .palette import OBJECT_COLORS
from .scene import MOTIONS, SHAPES


def _held_out() -> frozenset[tuple[str, str, str]]:
    colors = list(OBJECT_COLORS)
    return frozenset((colors[i % 8], SHAPES[i % 3], MOTIONS[(7 * i) % 10]) for i in range(24))


HELD_OUT: frozenset[tuple[str, str, str]] = _held_out()
