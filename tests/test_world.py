import random

import numpy as np
import pytest

from sora_nodes.errors import SoraError
from sora_nodes.world import (
    BACKGROUND_COLORS,
    HELD_OUT,
    OBJECT_COLORS,
    ObjectSpec,
    SceneSpec,
    label,
    make_clip,
    realize,
)
from sora_nodes.world.caption import MOTION_PHRASES


def one(color="red", shape="square", motion="static", size="medium", **kw):
    return SceneSpec(objects=(ObjectSpec(shape, color, size, motion),), camera="static", **kw)


def pixels_of(frames: np.ndarray, color: str) -> np.ndarray:
    """[T, H, W] bool: exactly the palette value (anti-aliased edges excluded)."""
    return (frames == np.array(OBJECT_COLORS[color], dtype=np.uint8)).all(-1)


def centroids(frames, color):
    mask = pixels_of(frames, color)
    ys, xs = np.mgrid[: mask.shape[1], : mask.shape[2]]
    area = mask.sum((1, 2))
    return (mask * xs).sum((1, 2)) / np.maximum(area, 1), (mask * ys).sum((1, 2)) / np.maximum(area, 1), area


def test_same_seed_same_clip_and_different_seeds_differ():
    a, b, c = make_clip(5), make_clip(5), make_clip(6)
    assert np.array_equal(a.frames, b.frames) and a.caption == b.caption and a.label == b.label
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("size", [(64, 64, 17, 8), (112, 64, 17, 8), (64, 112, 9, 8), (96, 96, 33, 12)])
def test_any_size_aspect_length_and_fps(size):
    w, h, t, fps = size
    clip = make_clip(1, width=w, height=h, frames=t, fps=fps)
    assert clip.frames.shape == (t, h, w, 3) and clip.frames.dtype == np.uint8


def test_named_colours_are_drawn_with_their_exact_srgb_values():
    for color in OBJECT_COLORS:
        clip = make_clip(0, spec=one(color=color, size="large"))
        assert pixels_of(clip.frames, color).sum() > 200, color


def test_backgrounds_never_use_an_object_colour():
    for seed in range(30):
        clip = make_clip(seed)
        corner = clip.frames[:, :3, :3].reshape(-1, 3).astype(int)
        dist = np.linalg.norm(corner[:, None] - np.array(list(OBJECT_COLORS.values()))[None], axis=-1)
        if clip.scene.objects and all(o.radius < 0.2 for o in clip.scene.objects):
            assert (dist.min(1) > 60).mean() > 0.5


@pytest.mark.parametrize("motion,axis,sign", [("left", 0, -1), ("right", 0, 1), ("up", 1, -1), ("down", 1, 1)])
def test_directional_motions_move_the_object_that_way(motion, axis, sign):
    clip = make_clip(3, spec=one(motion=motion))
    pos = centroids(clip.frames, "red")[axis]
    assert sign * (pos[-1] - pos[0]) > 15  # pixels at 64x64 over 2 s
    assert np.all(sign * np.diff(pos) >= -0.5)


def test_grow_shrink_fall_bounce_spin_static():
    area = lambda m: centroids(make_clip(2, spec=one(motion=m)).frames, "red")[2]  # noqa: E731
    assert area("grow")[-1] > 2.5 * area("grow")[0]
    assert area("shrink")[-1] < 0.5 * area("shrink")[0]
    _, y, _ = centroids(make_clip(2, spec=one(motion="fall")).frames, "red")
    assert y[-1] - y[0] > 20 and np.all(np.diff(y) >= -0.5)
    _, y, _ = centroids(make_clip(2, spec=one(motion="bounce", size="small")).frames, "red")
    top = int(np.argmin(y))
    assert y[top] < y[0] - 10 and y[top:].max() > y[top] + 10  # goes up, comes back down
    spin = make_clip(2, spec=one(motion="spin")).frames
    assert not np.array_equal(pixels_of(spin[0:1], "red"), pixels_of(spin[4:5], "red"))
    still = make_clip(2, spec=one(motion="static")).frames
    assert np.array_equal(still[0], still[-1])


def test_occluded_object_disappears_behind_the_occluder_and_reappears():
    spec = SceneSpec(
        objects=(ObjectSpec("circle", "red", "small", "right"), ObjectSpec("square", "blue", "large")),
        occlusion=True,
        camera="static",
    )
    clip = make_clip(4, spec=spec)
    area = centroids(clip.frames, "red")[2]
    assert area[0] > 100 and area[-1] > 100
    assert area.min() < 0.2 * area[0]
    assert label(clip.scene) == "red circle moving right behind blue square"
    assert "behind" in clip.caption or "hides it" in clip.caption


def test_camera_pan_and_zoom_move_the_background():
    still = make_clip(1, spec=one(motion="static")).frames
    assert np.array_equal(still[0], still[-1])
    for camera in ("pan left", "zoom in"):
        spec = SceneSpec(objects=(ObjectSpec("square", "red", "medium", "static"),), camera=camera)
        frames = make_clip(1, spec=spec).frames
        assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0, camera


def test_label_and_caption():
    clip = make_clip(0, spec=one(color="red", shape="circle", motion="left"))
    assert clip.label == "red circle moving left"
    assert "red circle" in clip.caption and any(p in clip.caption for p in MOTION_PHRASES["left"])
    assert clip.caption.endswith(".") and len(clip.caption.split()) >= 15
    wordings = {make_clip(s, spec=one(color="red", shape="circle", motion="left")).caption for s in range(12)}
    assert len(wordings) >= 8  # varied wording


def test_held_out_triples_are_never_drawn_at_random_but_are_honoured_on_request():
    for seed in range(400):
        for o in make_clip(seed, width=32, height=32, frames=2).scene.objects:
            assert (o.color, o.shape, o.motion) not in HELD_OUT
    color, shape, motion = sorted(HELD_OUT)[0]
    scene = realize(
        one(color, shape, motion), random.Random(0), width=64, height=64, frames=17, fps=8, exclude=HELD_OUT
    )
    assert (scene.objects[0].color, scene.objects[0].shape, scene.objects[0].motion) == (color, shape, motion)


def test_world_covers_every_attribute():
    seen = {"color": set(), "shape": set(), "motion": set(), "background": set(), "camera": set(), "count": set()}
    for seed in range(300):
        s = make_clip(seed, width=32, height=32, frames=2).scene
        seen["background"].add(s.background)
        seen["camera"].add(s.camera.kind)
        seen["count"].add(len(s.objects))
        for o in s.objects:
            seen["color"].add(o.color), seen["shape"].add(o.shape), seen["motion"].add(o.motion)
    assert seen["color"] == set(OBJECT_COLORS) and seen["background"] == set(BACKGROUND_COLORS)
    assert len(seen["motion"]) == 10 and len(seen["shape"]) == 3 and seen["count"] == {1, 2, 3}
    assert len(seen["camera"]) == 7


def test_bad_specs_say_what_is_wrong():
    with pytest.raises(SoraError, match="unknown color 'pink'"):
        ObjectSpec(color="pink")
    with pytest.raises(SoraError, match="1-3 objects"):
        SceneSpec(objects=(ObjectSpec(),) * 4)
    with pytest.raises(SoraError, match="share the colour"):
        realize(
            SceneSpec(objects=(ObjectSpec(color="red"), ObjectSpec(color="red"))),
            random.Random(0),
            width=64,
            height=64,
            frames=9,
            fps=8,
        )
    with pytest.raises(SoraError, match="width, height >= 16"):
        make_clip(0, width=8)


def test_a_random_colour_never_takes_one_a_later_object_asks_for():
    for seed in range(40):
        spec = SceneSpec(objects=(ObjectSpec(shape="square"), ObjectSpec(color="white"), ObjectSpec(color="red")))
        scene = realize(spec, random.Random(seed), width=64, height=64, frames=9, fps=8)
        assert [o.color for o in scene.objects][1:] == ["white", "red"]
