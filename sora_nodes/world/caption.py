"""Captions from the scene graph: a terse label, and a long description with varied wording.

The long style is what the DiT trains on; the recaptioner writes user prompts in it too. Colour
and shape names stay canonical (the palette's names) so the text encoder sees one token per
concept; verbs, sentence order and the description of the rest of the scene vary.
"""

import random

from .scene import Scene, SceneObject

LABEL_MOTION = {
    "left": "moving left",
    "right": "moving right",
    "up": "moving up",
    "down": "moving down",
    "static": "staying still",
    "bounce": "bouncing",
    "fall": "falling",
    "grow": "growing",
    "shrink": "shrinking",
    "spin": "spinning",
}

MOTION_PHRASES = {
    "left": [
        "moves to the left",
        "slides to the left",
        "travels leftward",
        "glides steadily left",
        "drifts from right to left",
        "heads toward the left edge",
    ],
    "right": [
        "moves to the right",
        "slides to the right",
        "travels rightward",
        "glides steadily right",
        "drifts from left to right",
        "heads toward the right edge",
    ],
    "up": ["moves upward", "rises toward the top", "slides up", "drifts upward", "travels up the frame"],
    "down": ["moves downward", "sinks toward the bottom", "slides down", "drifts downward", "travels down the frame"],
    "static": ["stays still", "rests motionless", "does not move", "sits in place", "remains static"],
    "bounce": ["bounces up and down", "hops along the floor", "bounces like a ball", "keeps bouncing off the bottom"],
    "fall": ["falls to the bottom", "drops down and lands", "falls under gravity", "tumbles down to the floor"],
    "grow": ["grows larger", "expands steadily", "swells in size", "gets bigger and bigger"],
    "shrink": ["shrinks", "gets smaller and smaller", "contracts steadily", "dwindles in size"],
    "spin": ["spins in place", "rotates on the spot", "turns around its centre", "keeps spinning"],
}
SIZE_WORDS = {"small": ["small", "little"], "medium": ["medium-sized", "mid-sized"], "large": ["large", "big"]}
CAMERA_PHRASES = {
    "static": ["The camera is static.", "The camera holds still.", "A locked-off camera watches the scene."],
    "pan left": ["The camera pans slowly to the left.", "The view pans left."],
    "pan right": ["The camera pans slowly to the right.", "The view pans right."],
    "pan up": ["The camera tilts slowly upward.", "The view pans up."],
    "pan down": ["The camera tilts slowly downward.", "The view pans down."],
    "zoom in": ["The camera slowly zooms in.", "The view zooms in."],
    "zoom out": ["The camera slowly zooms out.", "The view zooms out."],
}
BACKGROUND_PHRASES = [
    "on a plain {bg} background",
    "against a {bg} backdrop",
    "over a flat {bg} surface with a faint checker pattern",
    "in front of a {bg} wall",
]
SECOND_OPENERS = ["Meanwhile,", "Nearby,", "Also in view,", "At the same time,", "Elsewhere,"]


def label(scene: Scene) -> str:
    """Terse label, e.g. "red circle moving left" or "red circle moving left behind blue square"."""
    parts = []
    for i, o in enumerate(scene.objects):
        if i == scene.occluder:
            continue
        text = f"{o.color} {o.shape} {LABEL_MOTION[o.motion]}"
        if i == 0 and scene.occluder is not None:
            occ = scene.objects[scene.occluder]
            text += f" behind {occ.color} {occ.shape}"
        parts.append(text)
    return " and ".join(parts)


def _where(scene: Scene, o: SceneObject) -> str:
    ex, ey = scene.extent
    h = "left" if o.x < ex / 3 else "right" if o.x > 2 * ex / 3 else "centre"
    v = "top" if o.y < ey / 3 else "bottom" if o.y > 2 * ey / 3 else "middle"
    if h == "centre" and v == "middle":
        return "in the centre"
    if h == "centre":
        return f"near the {v}"
    if v == "middle":
        return f"on the {h} side"
    return f"near the {v} {h}"


def _object_phrase(rng: random.Random, scene: Scene, o: SceneObject, article: str) -> str:
    size = rng.choice(SIZE_WORDS[o.size])
    motion = rng.choice(MOTION_PHRASES[o.motion])
    start = "starting " if o.motion not in ("static", "grow", "shrink", "spin") else ""
    if rng.random() < 0.5:
        return f"{article} {size} {o.color} {o.shape} {motion}, {start}{_where(scene, o)}"
    return f"{article} {size} {o.color} {o.shape} {start}{_where(scene, o)} {motion}"


def describe(scene: Scene, rng: random.Random) -> str:
    """A long caption in varied wording; the same rng state always gives the same text."""
    bg = rng.choice(BACKGROUND_PHRASES).format(bg=scene.background)
    order = [i for i in range(len(scene.objects)) if i != scene.occluder]
    first = scene.objects[order[0]]
    sentences = [_object_phrase(rng, scene, first, "A") + f" {bg}."]
    if scene.occluder is not None:
        occ = scene.objects[scene.occluder]
        sentences.append(
            rng.choice(
                [
                    "It passes behind a {s} {c} {sh} that stands still, then reappears on the other side.",
                    "On its way it slips behind a motionless {s} {c} {sh} and comes out again.",
                    "A {s} {c} {sh} in front hides it for a moment before it emerges.",
                ]
            ).format(s=rng.choice(SIZE_WORDS[occ.size]), c=occ.color, sh=occ.shape)
        )
    for i in order[1:]:
        sentences.append(f"{rng.choice(SECOND_OPENERS)} " + _object_phrase(rng, scene, scene.objects[i], "a") + ".")
    sentences.append(rng.choice(CAMERA_PHRASES[scene.camera.kind]))
    return " ".join(s[0].upper() + s[1:] for s in sentences)
