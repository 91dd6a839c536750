"""A short prompt -> the detailed caption style the default model was trained on.

The parsed spec is filled by the world's own `realize` and written out by its own `describe`, with
one rng seeded from `seed`, so a recaption is the training caption of the scene the user asked for.
"""

import random
from dataclasses import dataclass

from ..errors import SoraError
from ..families.defaults import SORA
from ..world import Scene, SceneSpec, describe, realize
from .parse import parse_prompt

OUT_OF_WORLD_NOTE = (
    " (Note: the default model only knows the shapes world: coloured circles, squares and triangles"
    " moving on plain backgrounds.)"
)


@dataclass(frozen=True)
class Recaption:
    prompt: str  # the user's words
    text: str  # what the model is conditioned on
    spec: SceneSpec | None  # what was understood (None when nothing of the world was recognised)
    scene: Scene | None  # the realised scene (ground truth for the evaluator), None when out of world
    in_world: bool


def names_an_object(spec: SceneSpec | None) -> bool:
    """In-world: the prompt names a shape, or an object by colour and motion ("a red thing moving left")."""
    if spec is None:
        return False
    return any(o.shape is not None or (o.color is not None and o.motion is not None) for o in spec.objects)


def recaption(
    prompt: str,
    *,
    seed: int = 0,
    width: int = SORA.size[0],
    height: int = SORA.size[1],
    frames: int = SORA.frames,
    fps: float = SORA.fps,
    enabled: bool = True,
) -> Recaption:
    """Rewrite `prompt` in the detailed caption style; the same prompt and seed always give the same text.

    Unspecified attributes are filled by `seed` (held-out combinations are honoured when asked for).
    A prompt outside the shapes world keeps the user's words and says what the model knows.
    `enabled=False` passes the prompt through unchanged but still parses and realises it.
    """
    if not isinstance(prompt, str):
        raise SoraError(f"the prompt must be text, got {type(prompt).__name__}")
    if not prompt.strip():
        raise SoraError("empty prompt: describe the video you want, e.g. 'a red circle moving left'")
    spec = parse_prompt(prompt)
    if not names_an_object(spec):
        return Recaption(prompt, prompt.strip() + OUT_OF_WORLD_NOTE if enabled else prompt, spec, None, False)
    rng = random.Random(seed)
    scene = realize(spec, rng, width=width, height=height, frames=frames, fps=fps, exclude=frozenset())
    return Recaption(prompt, describe(scene, rng) if enabled else prompt, spec, scene, True)
