"""Every shipped Wan workflow runs through the pack's own nodes on (tiny, random) Wan 2.1 files in ComfyUI's
folders, and `sora render` takes a Wan model. What is checked is what the task promises: the saved
video's length, the known latents kept exactly, the new frames following the clip they continue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("sentencepiece")
from shipped_workflows import CLIP, INPUTS, LATER, OUTPUT_FRAMES, WORKFLOWS  # noqa: E402
from wan_files import FILES, write_tiny_wan  # noqa: E402

from sora_nodes.comfy import NODE_CLASS_MAPPINGS  # noqa: E402
from sora_nodes.errors import SoraError  # noqa: E402
from sora_nodes.families.defaults import WAN_NEGATIVE_PROMPT  # noqa: E402
from sora_nodes.graph.convert import ui_to_api  # noqa: E402
from sora_nodes.graph.host import HeadlessHost, use_host  # noqa: E402
from sora_nodes.graph.load import load_workflow  # noqa: E402
from sora_nodes.graph.runner import run_workflow  # noqa: E402
from sora_nodes.io.video import read_video, read_video_tags  # noqa: E402
from sora_nodes.provenance import verify  # noqa: E402

WAN = WORKFLOWS / "wan"
FROM_A_CLIP = {"extend_video", "connect_videos", "loop_video", "inpaint_scene", "style_transfer"}  # 8 fps inputs
SORA = Path(sys.executable).with_name("sora")
LONG_SECONDS = 8  # 129 frames at 16 fps: two windows of Wan's 81
FRAMES = {**OUTPUT_FRAMES, "text_to_video": 9, "long_video": 1 + 4 * (LONG_SECONDS * 16 // 4)}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_wan(root)
    return root


def strip_meta(api: dict) -> dict:
    return {k: {kk: vv for kk, vv in v.items() if kk != "_meta"} for k, v in api.items()}


def small(graph: dict) -> dict:
    """The same graph at a size a tiny model renders in seconds."""
    for node in graph.values():
        inputs = node["inputs"]
        if node["class_type"] == "SoraSampler":
            inputs["steps"] = 2
        elif node["class_type"] == "SoraEmptyVideoLatent":
            inputs.update(width=64, height=64, frames=9)  # 64 px: the smallest frame that carries the watermark
        elif node["class_type"] == "SoraLongVideo":
            inputs.update(seconds=LONG_SECONDS, width=64, height=64)
    return graph


def host(models: Path, out: Path) -> HeadlessHost:
    return HeadlessHost(output=out, input=INPUTS, weights=models, quiet=True, compute=torch.device("cpu"))


def test_there_is_a_wan_workflow_for_every_task_in_both_formats_and_they_are_current():
    assert {p.stem for p in WAN.glob("*.json")} == set(OUTPUT_FRAMES)
    assert {p.stem for p in (WAN / "api").glob("*.json")} == set(OUTPUT_FRAMES)
    check = subprocess.run([sys.executable, "scripts/make_wan_workflows.py", "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("name", sorted(OUTPUT_FRAMES))
def test_each_wan_ui_workflow_is_its_api_twin(name, models, tmp_path):
    with use_host(host(models, tmp_path)):
        converted = ui_to_api(load_workflow(WAN / f"{name}.json"), NODE_CLASS_MAPPINGS)
    assert strip_meta(converted) == strip_meta(load_workflow(WAN / "api" / f"{name}.json"))


@pytest.mark.parametrize("name", sorted(OUTPUT_FRAMES))
def test_each_wan_workflow_renders_its_task(name, models, tmp_path):
    graph = small(load_workflow(WAN / "api" / f"{name}.json"))
    (saved,) = run_workflow(graph, mapping=NODE_CLASS_MAPPINGS, host=host(models, tmp_path))
    frames, fps = read_video(saved)
    assert frames.shape[0] == FRAMES[name]
    assert fps == (8 if name in FROM_A_CLIP else 16)  # Wan's 16 fps, or the rate of the clip the task edits
    stored = json.loads(read_video_tags(saved)["prompt"])  # the graph that made it, as ComfyUI stores it
    assert stored["1"]["class_type"] == "SoraWanLoader"
    assert stored["1"]["inputs"]["diffusion_model"] == FILES["diffusion_models"]
    report = verify(saved)  # provenance applies to a Wan render as to any other
    assert report["valid"] and report["watermark"]["found"], report


def _extend(models: Path, clip: Path, seed: int = 0):
    """SoraLoadVideo -> SoraExtendVideo -> SoraSampler on the Wan model: (condition, sampled latent)."""
    nodes = NODE_CLASS_MAPPINGS
    with use_host(host(models, models / "out")):
        model, _, text = nodes["SoraWanLoader"]().load(*FILES.values(), "auto")
        frames = nodes["SoraLoadVideo"]().load(clip.name)[0]
        (latent,) = nodes["SoraExtendVideo"]().build(model, frames, "forward", 16)
        positive = nodes["SoraTextConditioner"]().encode(text, "a red circle moving right")[0]
        negative = nodes["SoraTextConditioner"]().encode(text, "")[0]
        (out,) = nodes["SoraSampler"]().sample(
            model, positive, negative, latent, seed, 3, 5.0, "euler", 0.0, 1.0, "auto"
        )
    return latent["sora_cond"], out["samples"]


def test_a_wan_extension_keeps_the_clip_exactly_and_continues_it(models):
    cond, out = _extend(models, CLIP)
    known = cond.mask.expand_as(out) > 0.5
    assert known.any() and not known.all()
    assert torch.equal(out[known], cond.latent.expand_as(out)[known])  # the given clip, bit for bit
    other_cond, other = _extend(models, LATER)
    assert not torch.equal(other[known], out[known])
    new = ~known
    # Wan reads no condition channels; what it sees of the clip each step is the re-imposed noisy latent,
    # so a different clip must lead to different new frames from the same seed: by far more than a rerun of
    # the same clip differs (the tiny random model reacts weakly, 1e-3 or so, but float noise is far below)
    _, again = _extend(models, CLIP)
    rerun = (again[new] - out[new]).abs().max()
    assert (other[new] - out[new]).abs().max() > 100 * max(rerun, 1e-7)


def test_a_missing_wan_file_names_the_folder_it_belongs_in(models, tmp_path):
    with use_host(host(models, tmp_path)), pytest.raises(SoraError, match="models/vae/"):
        NODE_CLASS_MAPPINGS["SoraWanLoader"]().load(FILES["diffusion_models"], "absent.safetensors", "x", "auto")


def test_sora_render_takes_a_wan_model_and_stores_a_graph_that_reproduces_it(models, tmp_path):
    dit = models / "diffusion_models" / FILES["diffusion_models"]
    out = tmp_path / "wan.mp4"
    args = ["a red paper lantern", "--model", str(dit), "--size", "64x48", "--frames", "9", "--steps", "2"]
    result = subprocess.run([str(SORA), "render", *args, "-o", str(out), "-q"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    frames, fps = read_video(out)
    assert frames.shape[:3] == (9, 48, 64)
    graph = read_video_tags(out)["prompt"]
    assert str(models) not in graph  # ComfyUI's file names, no private paths
    nodes = json.loads(graph)
    assert nodes["6"]["inputs"]["sampler_name"] == "unipc" and fps == 16  # Wan's defaults where none were given
    assert nodes["4"]["inputs"]["text"] == WAN_NEGATIVE_PROMPT
    assert nodes["9"]["inputs"]["enabled"] is False  # Wan reads the prompt as written
    stored = tmp_path / "graph.json"
    stored.write_text(graph)
    again = subprocess.run(
        [str(SORA), "run", str(stored), "--models-dir", str(models), "-o", str(tmp_path / "again"), "-q"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert torch.equal(read_video(Path(again.stdout.strip()))[0], frames)


def test_sora_render_asks_for_the_vae_and_text_encoder_when_they_are_not_beside_the_model(models, tmp_path):
    lone = tmp_path / "wan.safetensors"
    lone.write_bytes((models / "diffusion_models" / FILES["diffusion_models"]).read_bytes())
    result = subprocess.run(
        [str(SORA), "render", "a lantern", "--model", str(lone), "-o", str(tmp_path / "x.mp4"), "-q"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "--vae" in result.stderr and "--text-encoder" in result.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_a_wan_file_given_to_the_sora_checkpoint_loader_says_which_loader_to_use(models):
    from sora_nodes.errors import CheckpointError
    from sora_nodes.families.sora import load_sora

    with pytest.raises(CheckpointError, match="SoraWanLoader"):
        load_sora(models / "diffusion_models" / FILES["diffusion_models"])


def test_sora_run_of_a_wan_graph_without_its_files_says_where_they_were_looked_for(tmp_path):
    result = subprocess.run(
        [str(SORA), "run", str(WAN / "api" / "text_to_video.json"), "-o", str(tmp_path), "-q"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert "there are none" in result.stderr and "models/diffusion_models/" in result.stderr
    assert "--models-dir" in result.stderr and len(result.stderr.strip().splitlines()) == 1
