"""The ComfyUI nodes, called in-process as the headless host calls them, with the shipped default model.

The real-server and browser tests (test_comfyui_*.py) run the same classes inside ComfyUI."""

import os
import sys

import numpy as np
import pytest
import torch

from sora_nodes.comfy import NODE_CLASS_MAPPINGS as NODES
from sora_nodes.errors import ShapeError, SoraError
from sora_nodes.graph.host import HeadlessHost, Interrupted, use_host
from sora_nodes.io.video import read_video, read_video_tags, write_video

CONTRACT = {  # class -> (input socket types by name, output types); the frontend colours links by these
    "SoraCheckpointLoader": ({"ckpt_name": "COMBO"}, ("SORA_MODEL", "SORA_VAE", "SORA_TEXT_ENCODER")),
    "SoraWanLoader": (
        {"diffusion_model": "COMBO", "vae_name": "COMBO", "text_encoder_name": "COMBO", "weight_dtype": "COMBO"},
        ("SORA_MODEL", "SORA_VAE", "SORA_TEXT_ENCODER"),
    ),
    "SoraRecaptioner": ({"prompt": "STRING", "seed": "INT", "enabled": "BOOLEAN"}, ("STRING",)),
    "SoraTextConditioner": ({"text_encoder": "SORA_TEXT_ENCODER", "text": "STRING"}, ("SORA_CONDITIONING",)),
    "SoraEmptyVideoLatent": (
        {"width": "INT", "height": "INT", "frames": "INT", "fps": "FLOAT", "batch_size": "INT"},
        ("LATENT",),
    ),
    "SoraVideoEncode": ({"vae": "SORA_VAE", "frames": "IMAGE"}, ("LATENT",)),
    "SoraImageToVideo": ({"model": "SORA_MODEL", "image": "IMAGE", "frames": "INT"}, ("LATENT",)),
    "SoraExtendVideo": (
        {"model": "SORA_MODEL", "frames": "IMAGE", "direction": "COMBO", "new_frames": "INT"},
        ("LATENT",),
    ),
    "SoraConnectVideos": (
        {"model": "SORA_MODEL", "clip_a": "IMAGE", "clip_b": "IMAGE", "transition_frames": "INT"},
        ("LATENT",),
    ),
    "SoraLoopVideo": ({"model": "SORA_MODEL", "frames": "IMAGE", "transition_frames": "INT"}, ("LATENT",)),
    "SoraInpaintScene": (
        {
            "model": "SORA_MODEL",
            "frames": "IMAGE",
            **dict.fromkeys(("x", "y", "width", "height", "start_frame", "end_frame"), "INT"),
        },
        ("LATENT",),
    ),
    "SoraLongVideo": (
        {
            "text_encoder": "SORA_TEXT_ENCODER",
            "schedule": "STRING",
            "seconds": "FLOAT",
            "fps": "FLOAT",
            "width": "INT",
            "height": "INT",
            "recaption": "BOOLEAN",
            "overlap_frames": "INT",
        },
        ("LATENT", "FLOAT"),
    ),
    "SoraVideoDecode": ({"vae": "SORA_VAE", "latent": "LATENT"}, ("IMAGE",)),
    "SoraSampler": (
        {
            "model": "SORA_MODEL",
            "positive": "SORA_CONDITIONING",
            "negative": "SORA_CONDITIONING",
            "latent": "LATENT",
            "seed": "INT",
            "steps": "INT",
            "cfg": "FLOAT",
            "sampler_name": "COMBO",
            "shift": "FLOAT",
            "denoise": "FLOAT",
            "attention": "COMBO",
        },
        ("LATENT",),
    ),
    "SoraLoadVideo": ({"video": "COMBO"}, ("IMAGE", "FLOAT")),
    "SoraSaveVideo": ({"frames": "IMAGE", "fps": "FLOAT", "filename_prefix": "STRING", "format": "COMBO"}, ()),
    "SoraPromptSafety": ({"prompt": "STRING"}, ("STRING",)),
    "SoraFrameSafety": ({"frames": "IMAGE", "every": "INT", "min_unsafe": "INT"}, ("IMAGE",)),
    # the tasks on ComfyUI core's types (issue 23)
    "SoraImageToVideoLatent": (
        {"vae": "VAE", "image": "IMAGE", "length": "INT", "context_frames": "INT", "batch_size": "INT"},
        ("LATENT",),
    ),
    "SoraExtendVideoLatent": (
        {
            "vae": "VAE",
            "frames": "IMAGE",
            "direction": "COMBO",
            "new_frames": "INT",
            "context_frames": "INT",
            "batch_size": "INT",
        },
        ("LATENT",),
    ),
    "SoraConnectVideosLatent": (
        {
            "vae": "VAE",
            "clip_a": "IMAGE",
            "clip_b": "IMAGE",
            "transition_frames": "INT",
            "context_frames": "INT",
            "batch_size": "INT",
        },
        ("LATENT",),
    ),
    "SoraLoopVideoLatent": (
        {"vae": "VAE", "frames": "IMAGE", "transition_frames": "INT", "context_frames": "INT", "batch_size": "INT"},
        ("LATENT",),
    ),
    "SoraInpaintSceneLatent": (
        {"vae": "VAE", "frames": "IMAGE", "mask": "MASK", "context_frames": "INT", "batch_size": "INT"},
        ("LATENT",),
    ),
    "SoraTaskPasteBack": ({"images": "IMAGE", "latent": "LATENT"}, ("IMAGE", "STRING")),
    "SoraLongVideoLatent": (
        {
            "model": "MODEL",
            "clip": "CLIP",
            "vae": "VAE",
            "negative": "CONDITIONING",
            "prompt": "STRING",
            "schedule": "STRING",
            "seconds": "FLOAT",
            "fps": "FLOAT",
            "width": "INT",
            "height": "INT",
            "context_frames": "INT",
            "overlap_frames": "INT",
            "seed": "INT",
            "steps": "INT",
            "cfg": "FLOAT",
            "sampler_name": "COMBO",
            "scheduler": "COMBO",
        },
        ("LATENT",),
    ),
    "SoraWanExpertSwitch": (
        {"task": "COMBO", "steps": "INT", "shift": "FLOAT", "scheduler": "COMBO", "sampler_name": "COMBO"},
        ("INT", "INT"),
    ),
}


def socket_type(spec) -> str:
    return "COMBO" if isinstance(spec[0], list) else spec[0]


@pytest.fixture
def host(tmp_path):
    with use_host(HeadlessHost(output=tmp_path / "output", input=tmp_path / "input", quiet=True)) as h:
        h.input.mkdir()
        yield h


@pytest.fixture(scope="module")
def prompts(loaded):
    encode = NODES["SoraTextConditioner"]().encode
    return encode(loaded[2], "a red circle moving left")[0], encode(loaded[2], "")[0]


def sample(loaded, prompts, latent, **overrides):
    args = dict(seed=0, steps=4, cfg=5.0, sampler_name="euler", shift=0.0, denoise=1.0, attention="auto")
    return NODES["SoraSampler"]().sample(loaded[0], *prompts, latent, **{**args, **overrides})[0]


def empty(width=64, height=64, frames=17, batch=1):
    return NODES["SoraEmptyVideoLatent"]().empty(width, height, frames, 8.0, batch)[0]


# ---- schemas -------------------------------------------------------------------------------------


def test_every_node_of_the_contract_has_its_sockets():
    assert set(NODES) == set(CONTRACT)
    for name, (inputs, outputs) in CONTRACT.items():
        schema = NODES[name].INPUT_TYPES()
        assert {k: socket_type(v) for k, v in schema["required"].items()} == inputs, name
        assert tuple(NODES[name].RETURN_TYPES) == outputs, name


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_every_input_has_a_tooltip(name):
    schema = NODES[name].INPUT_TYPES()
    for group in ("required", "optional"):
        for input_name, spec in schema.get(group, {}).items():
            assert len(spec) == 2 and spec[1].get("tooltip", "").strip(), f"{name}.{input_name} has no tooltip"
    assert NODES[name].DESCRIPTION and NODES[name].CATEGORY == "sora"


def test_checkpoint_list_shows_the_shipped_model(host):
    assert "sora-default.safetensors" in NODES["SoraCheckpointLoader"].INPUT_TYPES()["required"]["ckpt_name"][0]


def test_video_list_shows_uploaded_files(host):
    write_video(host.input / "clip.mp4", np.zeros((5, 16, 16, 3), np.uint8), 8)
    (host.input / "notes.txt").write_text("not a video")
    options = NODES["SoraLoadVideo"].INPUT_TYPES()["required"]["video"]
    assert options[0] == ["clip.mp4"] and options[1]["video_upload"] is True


# ---- queue-time validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "width, height, frames, fragment",
    [
        (64, 64, 18, "try 17 or 21"),
        (64, 60, 17, "got 60, try 48 or 64"),
        (100, 64, 17, "got 100, try 96 or 112"),
        (64, 64, 0, "try 1 or 5"),
    ],
)
def test_impossible_sizes_are_refused_at_queue_time_with_the_nearest_valid_values(width, height, frames, fragment):
    message = NODES["SoraEmptyVideoLatent"].VALIDATE_INPUTS(width, height, frames)
    assert isinstance(message, str) and fragment in message


def test_valid_sizes_pass_queue_time_validation():
    assert NODES["SoraEmptyVideoLatent"].VALIDATE_INPUTS(112, 64, 33) is True


def test_empty_latent_has_the_model_latent_shape_and_carries_fps():
    latent = empty(112, 64, 33, batch=2)
    assert latent["samples"].shape == (2, 16, 9, 8, 14) and latent["fps"] == 8.0


# ---- loader --------------------------------------------------------------------------------------


def test_loader_reuses_the_model_until_the_file_changes(host, tmp_path, loaded, caplog):
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(loaded[0].path, folder / "mine.safetensors")
    host.models = [folder]
    caplog.set_level("INFO", logger="sora_nodes")
    first = NODES["SoraCheckpointLoader"]().load("mine.safetensors")
    again = NODES["SoraCheckpointLoader"]().load("mine.safetensors")
    assert again[0] is first[0] and again[2] is first[2]
    before = NODES["SoraCheckpointLoader"].IS_CHANGED("mine.safetensors")
    os.utime(folder / "mine.safetensors", ns=(1, 1))  # the file is replaced: same name, new content
    assert NODES["SoraCheckpointLoader"].IS_CHANGED("mine.safetensors") != before
    assert NODES["SoraCheckpointLoader"]().load("mine.safetensors")[0] is not first[0]
    assert sum("loaded checkpoint" in r.message for r in caplog.records) == 2


def test_loader_refuses_a_name_outside_the_models_folder(host):
    with pytest.raises(SoraError, match="outside"):
        NODES["SoraCheckpointLoader"]().load("../../pyproject.toml")


# ---- sampler -------------------------------------------------------------------------------------


class Recorder(HeadlessHost):
    """A headless host that records progress updates and can cancel at a given step."""

    def __init__(self, cancel_at=None, **kw):
        super().__init__(quiet=True, **kw)
        self.updates, self.cancel_at = [], cancel_at

    def progress(self, total):
        bar = super().progress(total)
        host = self

        class Bar:
            def update(self, step, preview=None):
                host.updates.append((step, total, preview))
                if step == host.cancel_at:
                    host.interrupt()
                bar.update(step, preview)

        return Bar()


def test_sampler_reports_each_step_with_a_preview_of_the_middle_frame(loaded, prompts):
    with use_host(Recorder()) as host:
        sample(loaded, prompts, empty(), steps=5)
    assert [(s, t) for s, t, _ in host.updates] == [(i, 5) for i in range(1, 6)]
    previews = [p for _, _, p in host.updates]
    assert all(p.dtype == np.uint8 and p.shape == (64, 64, 3) for p in previews)
    assert not np.array_equal(previews[0], previews[-1])  # the preview follows the denoising


def test_preview_projection_tracks_the_decoded_colours(loaded):
    from sora_nodes.pipeline.generate import encode_frames
    from sora_nodes.pipeline.preview import latent_rgb, preview_image
    from sora_nodes.world.clip import make_clip

    frames = torch.from_numpy(make_clip(99, width=64, height=64, frames=17).frames).float() / 255
    latent = encode_frames(loaded[1], frames)
    vae = loaded[1]
    preview = preview_image(latent, latent_rgb(vae), scale=vae.config.spatial_factor).astype(float)  # [64, 64, 3]
    truth = frames[latent.shape[2] // 2 * vae.config.temporal_factor].numpy() * 255
    # Linear in the latent, so only roughly right (about 20/255 on average), but far better than grey.
    assert np.abs(preview - truth).mean() < 0.6 * np.abs(128 - truth).mean()


def test_cancel_stops_the_sampler_at_the_next_step(loaded, prompts):
    with use_host(Recorder(cancel_at=2)) as host, pytest.raises(Interrupted):
        sample(loaded, prompts, empty(), steps=50)
    assert len(host.updates) == 2


def test_batch_item_i_is_the_render_of_seed_plus_i(loaded, prompts, host):
    both = sample(loaded, prompts, empty(batch=2), seed=7)["samples"]
    second = sample(loaded, prompts, empty(), seed=8)["samples"]
    # a batch of 2 sums in another order than a batch of 1 (~1e-4 after 20 steps); other seeds differ by ~1
    torch.testing.assert_close(both[1:], second, rtol=1e-3, atol=1e-3)
    assert not torch.allclose(both[0], both[1])


def test_denoise_below_one_keeps_the_input_layout(loaded, prompts, host):
    source = sample(loaded, prompts, empty(), seed=1, steps=8)
    light = sample(loaded, prompts, source, seed=2, steps=8, denoise=0.3)["samples"]
    fresh = sample(loaded, prompts, source, seed=2, steps=8, denoise=1.0)["samples"]
    distance = lambda a: (a - source["samples"]).pow(2).mean().item()  # noqa: E731
    assert distance(light) < 0.25 * distance(fresh)


def test_sampler_refuses_an_empty_positive_prompt(loaded, prompts, host):
    with pytest.raises(SoraError, match="positive prompt is empty"):
        NODES["SoraSampler"]().sample(loaded[0], prompts[1], prompts[1], empty(), 0, 2, 5.0, "euler", 0.0, 1.0, "auto")


def test_sampler_refuses_a_latent_of_another_model(loaded, prompts, host):
    channels = loaded[0].vae.config.latent_channels
    wrong = {"samples": torch.zeros(1, channels + 4, 5, 8, 8)}
    with pytest.raises(ShapeError, match=f"{channels + 4} channels but this model uses {channels}"):
        sample(loaded, prompts, wrong)


# ---- recaptioner, encode/decode ------------------------------------------------------------------


def test_recaptioner_expands_a_short_prompt_deterministically():
    node = NODES["SoraRecaptioner"]()
    text = node.rewrite("blue square goes up", 3, True)[0]
    assert "blue square" in text and len(text) > 3 * len("blue square goes up")
    assert node.rewrite("blue square goes up", 3, True)[0] == text
    assert node.rewrite("blue square goes up", 3, False)[0] == "blue square goes up"


def test_encode_then_decode_gives_back_the_video(loaded):
    from sora_nodes.world.clip import make_clip

    frames = torch.from_numpy(make_clip(5, width=64, height=64, frames=17).frames).float() / 255
    latent = NODES["SoraVideoEncode"]().encode(loaded[1], frames)[0]
    back = NODES["SoraVideoDecode"]().decode(loaded[1], latent)[0]
    assert back.shape == frames.shape
    psnr = 10 * torch.log10(1 / (back - frames).pow(2).mean())
    assert psnr > 20


def test_encode_refuses_an_impossible_frame_count(loaded):
    with pytest.raises(ShapeError, match="try 17 or 21"):
        NODES["SoraVideoEncode"]().encode(loaded[1], torch.zeros(18, 64, 64, 3))


# ---- load and save -------------------------------------------------------------------------------


def save(frames, prefix="sora/clip", **hidden):
    return NODES["SoraSaveVideo"]().save(frames, 8.0, prefix, "video/h264-mp4", **hidden)


def test_save_shows_a_video_preview_and_stores_the_graph(host):
    graph, workflow = {"1": {"class_type": "X", "inputs": {}}}, {"nodes": [], "links": []}
    result = save(torch.rand(9, 32, 48, 3), prompt=graph, extra_pnginfo={"workflow": workflow})
    assert result["ui"] == {
        "images": [{"filename": "clip_00001_.mp4", "subfolder": "sora", "type": "output"}],
        "animated": [True],
    }
    path = host.output / "sora" / "clip_00001_.mp4"
    frames, fps = read_video(path)
    assert frames.shape == (9, 32, 48, 3) and fps == 8
    tags = read_video_tags(path)
    assert tags["prompt"] and tags["workflow"]
    import json

    assert json.loads(tags["prompt"]) == graph and json.loads(tags["workflow"]) == workflow


def test_saved_videos_carry_a_valid_c2pa_manifest_unless_switched_off(host):
    from sora_nodes.provenance import TRAINED_ALGORITHMIC_MEDIA, verify

    graph = {"2": {"class_type": "SoraRecaptioner", "inputs": {"prompt": "a red circle", "seed": 0}}}
    signed = host.output / "sora" / save(torch.rand(5, 16, 16, 3), prompt=graph)["ui"]["images"][0]["filename"]
    report = verify(signed)
    assert report["valid"] and report["trusted"], report["errors"]
    assert report["claims"]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA and "prompt" not in report["claims"]
    frames = torch.rand(5, 16, 16, 3)
    with_prompt = save(frames, prompt=graph, c2pa_include_prompt=True)["ui"]["images"][0]["filename"]
    assert verify(host.output / "sora" / with_prompt)["claims"]["prompt"] == "a red circle"
    unsigned = save(frames, prompt=graph, c2pa_sign=False)["ui"]["images"][0]["filename"]
    assert not verify(host.output / "sora" / unsigned)["signed"]


def test_save_never_overwrites(host):
    names = [save(torch.rand(1, 16, 16, 3))["ui"]["images"][0]["filename"] for _ in range(3)]
    assert names == ["clip_00001_.mp4", "clip_00002_.mp4", "clip_00003_.mp4"]
    (host.output / "sora" / "clip_00007_.mp4").write_bytes(b"someone else's file")
    assert save(torch.rand(1, 16, 16, 3))["ui"]["images"][0]["filename"] == "clip_00008_.mp4"
    assert (host.output / "sora" / "clip_00007_.mp4").read_bytes() == b"someone else's file"


@pytest.mark.parametrize("prefix", ["../../x", "/tmp/x", "sora/../../x", "", "sora/"])
def test_save_refuses_a_prefix_outside_the_output_folder(host, prefix):
    message = NODES["SoraSaveVideo"].VALIDATE_INPUTS(prefix)
    assert isinstance(message, str) and message
    with pytest.raises(SoraError):
        save(torch.rand(1, 16, 16, 3), prefix)
    assert not any(host.output.parent.rglob("x*"))


def test_a_failed_save_leaves_no_file(host):
    with pytest.raises(ShapeError, match="even width and height"):
        save(torch.rand(3, 15, 16, 3))
    assert not [p for p in host.output.rglob("*") if p.is_file()]


def test_load_video_round_trips_a_saved_clip(host):
    ramp = torch.linspace(0, 1, 32)
    frames = torch.stack([ramp[None, :].expand(32, 32), ramp[:, None].expand(32, 32), torch.full((32, 32), 0.5)], -1)
    frames = frames[None].repeat(5, 1, 1, 1)  # smooth colours survive H.264 nearly unchanged
    write_video(host.input / "in.mp4", frames, 12)
    loaded_frames, fps = NODES["SoraLoadVideo"]().load("in.mp4")
    assert loaded_frames.shape == (5, 32, 32, 3) and fps == 12
    assert (loaded_frames - frames).abs().mean() < 0.02


@pytest.mark.parametrize("name, fragment", [("missing.mp4", "not found"), ("../secret.mp4", "outside")])
def test_load_video_refuses_missing_or_escaping_names(host, name, fragment):
    (host.input.parent / "secret.mp4").write_bytes(b"x")
    assert fragment in NODES["SoraLoadVideo"].VALIDATE_INPUTS(name)


def test_importing_the_nodes_does_not_import_comfyui():
    assert "folder_paths" not in sys.modules and "comfy" not in sys.modules
