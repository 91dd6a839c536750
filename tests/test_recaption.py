"""The recaptioner: short free-text prompts become the detailed caption style of the shapes world."""

import json
import random

import pytest

from sora_nodes import world
from sora_nodes.cli import main
from sora_nodes.errors import SoraError
from sora_nodes.recaption import lexicon, parse_prompt, recaption, unknown_words
from sora_nodes.world.caption import MOTION_PHRASES

# (prompt, what the first object must be: shape, colour, size, motion; None = left open)
PHRASINGS = [
    ("crimson ball drifting to the left", ("circle", "red", None, "left")),
    ("a box sliding rightwards", ("square", None, None, "right")),
    ("a scarlet dot gliding westward", ("circle", "red", None, "left")),
    ("an emerald pyramid rising", ("triangle", "green", None, "up")),
    ("a cube ascending slowly", ("square", None, None, "up")),
    ("A big red circle floating up!", ("circle", "red", "large", "up")),
    ("a yellow wedge plummeting", ("triangle", "yellow", None, "fall")),
    ("a golden disc dropping to the floor", ("circle", "yellow", None, "fall")),
    ("a navy tile hopping", ("square", "blue", None, "bounce")),
    ("a bouncing orange ball", ("circle", "orange", None, "bounce")),
    ("a blue ball bobbing up and down", ("circle", "blue", None, "bounce")),
    ("a violet triangle twirling", ("triangle", "purple", None, "spin")),
    ("a red circle rotating clockwise", ("circle", "red", None, "spin")),
    ("a white ring expanding", ("circle", "white", None, "grow")),
    ("an inflating red balloon", ("circle", "red", None, "grow")),
    ("a contracting blue cube", ("square", "blue", None, "shrink")),
    ("a dwindling yellow dot", ("circle", "yellow", None, "shrink")),
    ("a motionless purple box", ("square", "purple", None, "static")),
    ("a stationary orange block resting", ("square", "orange", None, "static")),
    ("a red square that doesn't move", ("square", "red", None, "static")),
    ("a tiny red ball", ("circle", "red", "small", None)),
    ("a huge blue square", ("square", "blue", "large", None)),
    ("a little square heading east", ("square", None, "small", "right")),
    ("a ball going from left to right", ("circle", None, None, "right")),
    ("a square moving from right to left", ("square", None, None, "left")),
    ("a triangle moving top-to-bottom", ("triangle", None, None, "down")),
    ("moving left, a red circle", ("circle", "red", None, "left")),
    ("a red circle, moving left", ("circle", "red", None, "left")),
    ("a red thing moving left", (None, "red", None, "left")),
    ("something blue spinning", (None, "blue", None, "spin")),
    ("a light blue ball", ("circle", "blue", None, None)),
    ("a square box", ("square", None, None, None)),
]


def first_object(prompt):
    o = parse_prompt(prompt).objects[0]
    return o.shape, o.color, o.size, o.motion


@pytest.mark.parametrize("prompt, expected", PHRASINGS)
def test_synonyms_and_paraphrases_map_onto_the_world_vocabulary(prompt, expected):
    assert first_object(prompt) == expected


@pytest.mark.parametrize("prompt, expected", PHRASINGS)
def test_the_text_names_what_was_asked_in_the_caption_style(prompt, expected):
    for seed in range(3):
        r = recaption(prompt, seed=seed)
        o = r.scene.objects[0]
        assert r.in_world
        assert all(
            want in (None, got) for want, got in zip(expected, (o.shape, o.color, o.size, o.motion), strict=True)
        )
        assert f"{o.color} {o.shape}" in r.text
        assert any(phrase in r.text for phrase in MOTION_PHRASES[o.motion])


def test_the_same_seed_gives_the_same_text_and_scene():
    a, b = recaption("a red circle and a box", seed=7), recaption("a red circle and a box", seed=7)
    assert a == b


def test_other_seeds_fill_what_the_prompt_leaves_open_differently_and_keep_what_it_names():
    scenes = [recaption("a circle moving left", seed=s).scene for s in range(12)]
    assert all(s.objects[0].shape == "circle" and s.objects[0].motion == "left" for s in scenes)
    assert len({s.objects[0].color for s in scenes}) > 1
    assert len({s.background for s in scenes}) > 1
    assert len({recaption("a circle moving left", seed=s).text for s in range(12)}) > 1


def test_the_text_is_the_world_caption_of_the_realised_scene():
    r = recaption("a huge green triangle spinning on a lavender background", seed=5, width=112, height=64)
    rng = random.Random(5)
    scene = world.realize(r.spec, rng, width=112, height=64, frames=17, fps=8.0)
    assert scene == r.scene and world.describe(scene, rng) == r.text
    assert (r.scene.width, r.scene.height, r.scene.background) == (112, 64, "lavender")


def test_the_world_own_captions_parse_back_to_their_scenes():
    """Recaptioning is idempotent on its own style: every attribute a training caption states is recovered."""
    for seed in range(300):
        rng = random.Random(seed)
        scene = world.realize(world.SceneSpec(), rng, width=(64, 112)[seed % 2], height=64, frames=17, fps=8.0)
        spec = parse_prompt(world.describe(scene, rng))
        order = [i for i in range(len(scene.objects)) if i != scene.occluder]
        if scene.occluder is not None:
            order.insert(1, scene.occluder)
        want = [scene.objects[i] for i in order]
        assert [(o.shape, o.color, o.size) for o in spec.objects] == [(o.shape, o.color, o.size) for o in want]
        motions = [o.motion for o in spec.objects]
        if scene.occluder is not None:  # some wordings leave the occluder's stillness implied
            assert motions[1] in (None, "static")
            motions[1] = "static"
        assert motions == [o.motion for o in want]
        assert (spec.background, spec.camera, spec.occlusion) == (
            scene.background,
            scene.camera.kind,
            scene.occluder is not None,
        )


@pytest.mark.parametrize(
    "prompt, camera, motion",
    [
        ("the camera pans left over a green triangle", "pan left", None),
        ("a red circle moving right while the camera pans left", "pan left", "right"),
        ("the view tilts up as a purple circle grows", "pan up", "grow"),
        ("zooming in on a yellow triangle", "zoom in", None),
        ("the camera slowly zooms out while a black ball falls", "zoom out", "fall"),
        ("a static camera watches a red cube bounce", "static", "bounce"),
        ("a red square stays still, the camera moves right", "pan right", "static"),
        ("a blue square in the top left", None, None),
        ("a blue square in the top left moving right", None, "right"),
        ("a red circle on the left side moving up", None, "up"),
        ("a red circle to the left of a blue square", None, None),
        ("a red ball zooming left", None, "left"),
    ],
)
def test_camera_words_and_positions_are_not_object_motion(prompt, camera, motion):
    spec = parse_prompt(prompt)
    assert (spec.camera, spec.objects[0].motion) == (camera, motion)
    if camera is not None:
        assert recaption(prompt, seed=1).scene.camera.kind == camera


@pytest.mark.parametrize(
    "prompt, mover, occluder",
    [
        ("a red ball passes behind a blue box", ("red", "circle"), ("blue", "square")),
        ("a green triangle goes behind a large white square", ("green", "triangle"), ("white", "square")),
        ("a red disc hidden by a purple block", ("red", "circle"), ("purple", "square")),
        ("a blue square hides a yellow ball moving left", ("yellow", "circle"), ("blue", "square")),
        ("an orange circle sliding down behind a black triangle", ("orange", "circle"), ("black", "triangle")),
    ],
)
def test_occlusion_prompts_make_the_first_object_pass_behind_the_second(prompt, mover, occluder):
    spec = parse_prompt(prompt)
    assert spec.occlusion is True
    assert (spec.objects[0].color, spec.objects[0].shape) == mover
    assert (spec.objects[1].color, spec.objects[1].shape) == occluder
    r = recaption(prompt, seed=2)
    behind, front = r.scene.objects[0], r.scene.objects[r.scene.occluder]
    assert ((behind.color, behind.shape), (front.color, front.shape)) == (mover, occluder)
    assert front.motion == "static" and behind.motion in ("left", "right", "up", "down")
    assert f"behind {occluder[0]} {occluder[1]}" in world.label(r.scene)


def test_occlusion_the_world_cannot_show_keeps_the_asked_motions_instead():
    for prompt in ("a red circle bouncing behind a blue square", "a red circle passes in front of a blue square"):
        spec = parse_prompt(prompt)
        assert spec.occlusion is False and len(spec.objects) == 2
        assert recaption(prompt, seed=0).scene.occluder is None
    assert parse_prompt("a red circle bouncing behind a blue square").objects[0].motion == "bounce"


def test_a_background_colour_is_not_an_object():
    assert parse_prompt("a stationary orange block on a beige background").background == "beige"
    assert parse_prompt("a triangle on grey").background == "grey"
    spec = parse_prompt("a circle on a blue background")  # closest background the world has
    assert (spec.background, spec.objects[0].color, len(spec.objects)) == ("sky blue", None, 1)


def test_several_objects_distinct_colours_and_at_most_three():
    spec = parse_prompt("a red circle and a red square")
    assert [(o.color, o.shape) for o in spec.objects] == [("red", "circle"), (None, "square")]
    colors = [o.color for o in recaption("a red circle and a red square", seed=3).scene.objects]
    assert colors[0] == "red" and colors[1] != "red"
    spec = parse_prompt("red moving left and blue moving right")
    assert [(o.color, o.motion) for o in spec.objects] == [("red", "left"), ("blue", "right")]
    spec = parse_prompt("a red circle and a spinning blue square")  # the motion before a noun is that noun's
    assert [(o.color, o.motion) for o in spec.objects] == [("red", None), ("blue", "spin")]
    assert [o.shape for o in parse_prompt("three circles").objects] == ["circle"] * 3
    many = parse_prompt("a red circle, a blue square and a green triangle and a yellow ball")
    assert [o.color for o in many.objects] == ["red", "blue", "green"]


def test_held_out_combinations_are_honoured_when_asked_for():
    for color, shape, motion in sorted(world.HELD_OUT)[:6]:
        o = recaption(f"a {color} {shape} {MOTION_PHRASES[motion][0]}", seed=0).scene.objects[0]
        assert (o.color, o.shape, o.motion) == (color, shape, motion)


@pytest.mark.parametrize("prompt", ["a cat in Tokyo", "a dog running left", "sunset over the ocean, cinematic"])
def test_out_of_world_prompts_keep_the_words_and_say_what_the_model_knows(prompt):
    r = recaption(prompt, seed=0)
    assert not r.in_world and r.scene is None
    assert r.text.startswith(prompt)
    assert "only knows the shapes world" in r.text


def test_a_partly_understood_prompt_recaptions_what_was_understood():
    r = recaption("a red circle next to a cat", seed=0)
    assert r.in_world and r.scene.objects[0].color == "red" and "red circle" in r.text
    assert unknown_words("a red circle next to a cat") == ("cat",)


def test_disabled_passes_the_prompt_through_but_keeps_the_ground_truth():
    on, off = recaption("a crimson ball", seed=4), recaption("a crimson ball", seed=4, enabled=False)
    assert off.text == "a crimson ball" and off.scene == on.scene and off.in_world
    assert recaption("a cat", enabled=False).text == "a cat"


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_an_empty_prompt_is_a_clear_error(prompt):
    with pytest.raises(SoraError, match="empty prompt: describe the video you want"):
        recaption(prompt)


def test_lexicon_names_only_what_the_world_has():
    assert set(lexicon.OBJECT_COLORS.values()) == set(world.OBJECT_COLORS)
    assert set(lexicon.BACKGROUND_COLORS.values()) == set(world.BACKGROUND_COLORS)
    assert set(lexicon.SHAPES.values()) == set(world.SHAPES)
    assert set(lexicon.MOTIONS.values()) == set(world.MOTIONS)
    assert set(lexicon.SIZES.values()) == set(world.SIZES)
    assert set(lexicon.CAMERA_PHRASES.values()) <= set(world.CAMERAS)
    assert set(lexicon.OBJECT_TO_BACKGROUND.values()) - {None} <= set(world.BACKGROUND_COLORS)
    assert set(lexicon.BACKGROUND_TO_OBJECT.values()) - {None} <= set(world.OBJECT_COLORS)


def test_cli_prints_the_detailed_text(capsys):
    assert main(["recaption", "a crimson ball drifting to the left", "--seed", "3"]) == 0
    assert capsys.readouterr().out.strip() == recaption("a crimson ball drifting to the left", seed=3).text


def test_cli_json(capsys):
    assert main(["recaption", "a red circle next to a cat", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["in_world"] is True and out["prompt"] == "a red circle next to a cat"
    assert out["spec"]["objects"][0]["color"] == "red" and out["unknown_words"] == ["cat"]
    assert main(["recaption", "a cat in Tokyo", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["in_world"] is False and out["spec"] is None and out["text"].startswith("a cat in Tokyo")


def test_cli_empty_prompt_is_a_one_line_error(capsys):
    assert main(["recaption", " "]) == 2
    assert "empty prompt" in capsys.readouterr().err


@pytest.mark.parametrize(
    "prompt,color,shape",
    [
        ("a jet black ball rolling left", "black", "circle"),
        ("a cherry red crate going up", "red", "square"),
        ("a lime green dot falling", "green", "circle"),
    ],
)
def test_two_word_colours_name_one_object(prompt, color, shape):
    spec = parse_prompt(prompt)
    assert len(spec.objects) == 1 and (spec.objects[0].color, spec.objects[0].shape) == (color, shape)


def test_a_filled_colour_never_collides_with_one_asked_for_later():
    r = recaption("a cherry red crate ascending disappears behind a large white ball")
    assert [(o.color, o.shape) for o in r.scene.objects] == [("red", "square"), ("white", "circle")]
