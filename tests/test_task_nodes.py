"""The task nodes wired as a user wires them: task node -> SoraSampler -> SoraVideoDecode, in-process
with the shipped default model. The shipped workflows run end to end in test_task_workflows.py."""

import pytest
import torch

from sora_nodes.comfy import NODE_CLASS_MAPPINGS as NODES
from sora_nodes.errors import ShapeError, SoraError
from sora_nodes.graph.host import HeadlessHost, use_host
from sora_nodes.world.clip import make_clip
from tests.test_nodes import Recorder, sample


@pytest.fixture(scope="module")
def prompts(loaded):
    encode = NODES["SoraTextConditioner"]().encode
    return encode(loaded[2], "a red circle moving right on a plain mint background")[0], encode(loaded[2], "")[0]


def world(seed=3, frames=17, width=64, height=64):
    return torch.from_numpy(make_clip(seed, frames=frames, width=width, height=height).frames).float() / 255


def render(loaded, prompts, latent, **kw):
    with use_host(HeadlessHost(quiet=True)):
        out = sample(loaded, prompts, latent, **kw)
        return NODES["SoraVideoDecode"]().decode(loaded[1], out)[0]


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_extend_node_keeps_the_source_frames_bit_for_bit(loaded, prompts, direction):
    source = world()
    latent = NODES["SoraExtendVideo"]().build(loaded[0], source, direction, 12)[0]
    frames = render(loaded, prompts, latent)
    assert frames.shape == (29, 64, 64, 3)
    kept, new = (frames[:17], frames[17:]) if direction == "forward" else (frames[12:], frames[:12])
    assert torch.equal(kept, source)
    assert (new - source[-1 if direction == "forward" else 0]).abs().mean() > 0  # new frames are rendered


def test_image_connect_loop_and_inpaint_nodes_render_their_layouts(loaded, prompts):
    clip = world()
    image = clip[:1]
    frames = render(loaded, prompts, NODES["SoraImageToVideo"]().build(loaded[0], image, 17)[0])
    assert frames.shape[0] == 17 and torch.equal(frames[0], image[0])

    later = world(frames=41)[24:]
    frames = render(loaded, prompts, NODES["SoraConnectVideos"]().build(loaded[0], clip, later, 7)[0])
    assert frames.shape[0] == 17 + 7 + 17 and torch.equal(frames[:17], clip) and torch.equal(frames[24:], later)

    frames = render(loaded, prompts, NODES["SoraLoopVideo"]().build(loaded[0], clip, 8)[0])
    assert frames.shape[0] == 25 and torch.equal(frames[:17], clip)

    latent = NODES["SoraInpaintScene"]().build(loaded[0], clip, 16, 8, 24, 24, 4, 0)[0]
    frames = render(loaded, prompts, latent)
    box = torch.zeros(17, 64, 64, dtype=torch.bool)
    box[4:, 8:32, 16:40] = True
    assert torch.equal(frames[~box], clip[~box]) and not torch.equal(frames[box], clip[box])


def test_inpaint_node_takes_a_comfyui_mask_over_the_box(loaded):
    clip = world()
    mask = torch.zeros(1, 64, 64)
    mask[0, :16, :16] = 1
    canvas = NODES["SoraInpaintScene"]().build(loaded[0], clip, 16, 16, 32, 32, 0, 0, mask=mask)[0]["sora_canvas"]
    assert torch.equal(~canvas.known, mask.bool().expand(17, 64, 64))


def test_task_nodes_refuse_bad_inputs_with_the_fix(loaded):
    clip = world()
    with pytest.raises(ShapeError, match="same size"):
        NODES["SoraConnectVideos"]().build(loaded[0], clip, world(width=112), 8)
    with pytest.raises(ShapeError, match="mask is"):
        NODES["SoraInpaintScene"]().build(loaded[0], clip, 0, 0, 8, 8, 0, 0, mask=torch.ones(1, 32, 32))
    with pytest.raises(SoraError, match="SoraLongVideo"):
        NODES["SoraExtendVideo"]().build(loaded[0], clip, "forward", 40)
    with pytest.raises(SoraError, match="one image"):
        NODES["SoraImageToVideo"]().build(loaded[0], clip[:2], 17)


def test_denoise_outside_0_1_is_refused_before_sampling(loaded, prompts):
    latent = NODES["SoraExtendVideo"]().build(loaded[0], world(), "forward", 8)[0]
    for denoise in (0.0, 1.5):
        with pytest.raises(SoraError, match=r"denoise must be in \(0, 1\]"), use_host(Recorder()) as host:
            sample(loaded, prompts, latent, denoise=denoise)
        assert host.updates == []  # nothing was sampled


def test_long_video_node_chains_windows_with_one_progress_bar(loaded, prompts):
    node = NODES["SoraLongVideo"]
    assert "SECONDS: prompt" in node.VALIDATE_INPUTS(schedule="soon: a red circle", width=64, height=64)
    assert node.VALIDATE_INPUTS(schedule="", width=64, height=64) is True
    latent = node().plan(
        loaded[2], "3: a blue square moving up on a plain mint background", 6.0, 8.0, 64, 64, True, 16
    )[0]
    assert latent["samples"].shape == (1, 16, 13, 8, 8)  # 49 frames
    with use_host(Recorder()) as host:
        out = sample(loaded, prompts, latent, steps=3)
        frames = NODES["SoraVideoDecode"]().decode(loaded[1], out)[0]
    assert frames.shape == (49, 64, 64, 3)
    assert [s for s, _, _ in host.updates] == list(range(1, 7)) and host.updates[0][1] == 6  # 2 windows x 3 steps
