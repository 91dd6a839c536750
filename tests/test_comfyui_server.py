"""The pack inside a real ComfyUI server: node list, every shipped workflow, bad input, Cancel, model cache.

Skips without a ComfyUI checkout (see tests/comfyui_host.py); fails if ComfyUI cannot import the pack.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from comfyui_host import (
    PACK_DIR_NAME,
    ComfyServer,
    Run,
    api_workflows,
    load_json,
    provide_sample_inputs,
    shared_server,
    ui_twin,
)
from shipped_workflows import FPS, OUTPUT_FRAMES, SIZE, WORKFLOWS

from sora_nodes.comfy import NODE_CLASS_MAPPINGS
from sora_nodes.io.video import read_video, read_video_tags

DEFAULT_MODEL = "sora-default.safetensors"
COMBO = list  # object_info gives a combo's options where other inputs give a type name
LOADED_CHECKPOINT = re.compile(r"loaded checkpoint (\S+)")

# The node contract: required inputs in order with their socket types, then the outputs.
CONTRACT: dict[str, tuple[list[tuple[str, object]], list[str]]] = {
    "SoraCheckpointLoader": ([("ckpt_name", COMBO)], ["SORA_MODEL", "SORA_VAE", "SORA_TEXT_ENCODER"]),
    "SoraRecaptioner": ([("prompt", "STRING"), ("seed", "INT"), ("enabled", "BOOLEAN")], ["STRING"]),
    "SoraTextConditioner": ([("text_encoder", "SORA_TEXT_ENCODER"), ("text", "STRING")], ["SORA_CONDITIONING"]),
    "SoraEmptyVideoLatent": (
        [("width", "INT"), ("height", "INT"), ("frames", "INT"), ("fps", "FLOAT"), ("batch_size", "INT")],
        ["LATENT"],
    ),
    "SoraVideoEncode": ([("vae", "SORA_VAE"), ("frames", "IMAGE")], ["LATENT"]),
    "SoraVideoDecode": ([("vae", "SORA_VAE"), ("latent", "LATENT")], ["IMAGE"]),
    "SoraSampler": (
        [
            ("model", "SORA_MODEL"),
            ("positive", "SORA_CONDITIONING"),
            ("negative", "SORA_CONDITIONING"),
            ("latent", "LATENT"),
            ("seed", "INT"),
            ("steps", "INT"),
            ("cfg", "FLOAT"),
            ("sampler_name", COMBO),
            ("shift", "FLOAT"),
            ("denoise", "FLOAT"),
            ("attention", COMBO),
        ],
        ["LATENT"],
    ),
    "SoraLoadVideo": ([("video", COMBO)], ["IMAGE", "FLOAT"]),
    "SoraSaveVideo": (
        [("frames", "IMAGE"), ("fps", "FLOAT"), ("filename_prefix", "STRING"), ("format", COMBO)],
        [],
    ),
    "SoraPromptSafety": ([("prompt", "STRING")], ["STRING"]),
    "SoraFrameSafety": ([("frames", "IMAGE"), ("every", "INT"), ("min_unsafe", "INT")], ["IMAGE"]),
}


@pytest.fixture(scope="session")
def server(request) -> ComfyServer:
    return shared_server(request, "link")


@pytest.fixture(scope="session")
def base_server(request) -> ComfyServer:
    return shared_server(request, "base")


def nodes_of(prompt: dict, class_type: str) -> list[str]:
    return [node_id for node_id, node in prompt.items() if node["class_type"] == class_type]


def only_node(prompt: dict, class_type: str) -> str:
    ids = nodes_of(prompt, class_type)
    assert len(ids) == 1, f"expected one {class_type} in the graph, found {ids}"
    return ids[0]


def text_to_video() -> dict:
    path = Path(__file__).resolve().parent.parent / "workflows" / "api" / "text_to_video.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the pack ships a text-to-video workflow")
    return load_json(path)


def output_files(server: ComfyServer) -> set[Path]:
    return {p for p in server.output.rglob("*") if p.is_file()}


def loads_in_log(server: ComfyServer) -> list[str]:
    return LOADED_CHECKPOINT.findall(server.log())


def provide_inputs(server: ComfyServer, prompt: dict) -> None:
    """The shipped sample inputs go into the server's input folder, as a user would upload them."""
    provide_sample_inputs(server)
    for node_id in nodes_of(prompt, "SoraLoadVideo"):
        name = prompt[node_id]["inputs"]["video"]
        assert (server.input / name).is_file(), f"node {node_id} loads {name!r}, which is not in {WORKFLOWS / 'inputs'}"


def expected_clip(prompt: dict, name: str | None = None) -> tuple[int, int, int]:
    """(frames, height, width) the graph renders: a shipped workflow's by `name`, else from its empty latent."""
    if name is not None:
        return OUTPUT_FRAMES[name], *SIZE
    (latent,) = nodes_of(prompt, "SoraEmptyVideoLatent")
    inputs = prompt[latent]["inputs"]
    return inputs["frames"] * inputs["batch_size"], inputs["height"], inputs["width"]


def check_saved_video(
    server: ComfyServer, run: Run, prompt: dict, workflow: dict, tmp_path: Path, name: str | None = None
) -> Path:
    """The run succeeded and every SoraSaveVideo wrote an MP4 of the graph's size that carries the graph."""
    assert run.ended_with == "execution_success", f"{run.of_type('execution_error')}\n{server.log_tail()}"
    assert run.history["status"]["status_str"] == "success", run.history["status"]
    saves = nodes_of(prompt, "SoraSaveVideo")
    assert saves, "the workflow has no SoraSaveVideo"
    frames, height, width = expected_clip(prompt, name)
    for save in saves:
        ui = run.outputs(save)
        assert ui.get("animated") == [True], ui
        (entry,) = ui["images"]
        assert entry["type"] == "output" and entry["filename"].endswith(".mp4"), entry
        path = tmp_path / f"{save}-{entry['filename']}"
        path.write_bytes(server.view(entry))
        video, fps = read_video(path)
        assert tuple(video.shape) == (frames, height, width, 3)
        fps_input = prompt[save]["inputs"]["fps"]
        assert fps == pytest.approx(FPS if isinstance(fps_input, list) else fps_input)  # linked: the sample clip's
        tags = read_video_tags(path)
        # ComfyUI adds each node's IS_CHANGED result to the prompt it hands to the nodes
        saved = {
            k: {f: v for f, v in node.items() if f != "is_changed"} for k, node in json.loads(tags["prompt"]).items()
        }
        assert saved == prompt
        assert json.loads(tags["workflow"]) == workflow
    return path


def check_sampler_reported(run: Run, prompt: dict) -> None:
    """One bar per sampler that ends full: `steps` long, or steps x windows for a long video."""
    long_video = bool(nodes_of(prompt, "SoraLongVideo"))
    for sampler in nodes_of(prompt, "SoraSampler"):
        steps = prompt[sampler]["inputs"]["steps"]
        progress = [p for p in run.of_type("progress") if p["node"] == sampler]
        assert progress, f"the sampler reported no progress: {run.of_type('progress')[:3]}"
        total = progress[-1]["max"]
        assert progress[-1]["value"] == total and all(p["max"] == total for p in progress), progress
        if long_video:
            assert total > steps and total % steps == 0, (total, steps)
        else:
            assert total == steps, (total, steps)
        assert run.previews.get(sampler, 0) >= 1, f"no preview image arrived while the sampler ran: {run.previews}"


def test_pack_imports_and_lists_every_node(server):
    info = server.object_info()
    missing = sorted((set(CONTRACT) | set(NODE_CLASS_MAPPINGS)) - set(info))
    assert not missing, f"/object_info lacks {missing}\n{server.log_tail()}"
    for name, (inputs, outputs) in CONTRACT.items():
        node = info[name]
        required = node["input"]["required"]
        assert node["input_order"]["required"] == [n for n, _ in inputs], name
        for input_name, kind in inputs:
            spec = required[input_name]
            if kind is COMBO:
                # the video list is empty while the input folder is
                assert isinstance(spec[0], list), f"{name}.{input_name} is not a combo: {spec}"
            else:
                assert spec[0] == kind, f"{name}.{input_name}: {spec[0]} != {kind}"
            assert spec[1].get("tooltip"), f"{name}.{input_name} has no tooltip"
        assert node["output"] == outputs, name
        assert node["python_module"].startswith("custom_nodes."), node["python_module"]
    for name, seed in [("SoraRecaptioner", "seed"), ("SoraSampler", "seed")]:
        assert info[name]["input"]["required"][seed][1].get("control_after_generate") is True
    for name, text in [("SoraRecaptioner", "prompt"), ("SoraTextConditioner", "text"), ("SoraPromptSafety", "prompt")]:
        assert info[name]["input"]["required"][text][1].get("multiline") is True
    assert info["SoraLoadVideo"]["input"]["required"]["video"][1].get("video_upload") is True
    save = info["SoraSaveVideo"]
    assert save["output_node"] is True
    assert save["input"]["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}


@pytest.mark.parametrize("mode", ["link", "base"])
def test_default_model_is_listed(request, mode):
    info = shared_server(request, mode).get("/object_info/SoraCheckpointLoader").json()
    assert DEFAULT_MODEL in info["SoraCheckpointLoader"]["input"]["required"]["ckpt_name"][0]


@pytest.mark.parametrize("api_file", api_workflows(), ids=lambda p: p.stem)
def test_shipped_workflow_renders(server, api_file, tmp_path):
    prompt = load_json(api_file)
    twin = ui_twin(api_file)
    workflow = load_json(twin) if twin.is_file() else {"note": f"{api_file.name} has no UI twin"}
    provide_inputs(server, prompt)
    run = server.run(prompt, workflow)
    check_saved_video(server, run, prompt, workflow, tmp_path, api_file.stem)
    check_sampler_reported(run, prompt)
    print(f"\n{api_file.stem} rendered in {run.seconds:.1f} s")


def test_base_directory_mode_renders(base_server, tmp_path):
    prompt = text_to_video()
    workflow = {"note": "base-directory mode"}
    run = base_server.run(prompt, workflow)
    check_saved_video(base_server, run, prompt, workflow, tmp_path)
    assert output_files(base_server), "the video was not written to --output-directory"


def rejected(server: ComfyServer, prompt: dict, node_id: str, input_name: str) -> str:
    """POST the bad prompt; it must be refused with HTTP 400 naming the node and the input. Returns the details."""
    response = server.queue(prompt, "validation-test")
    assert response.status_code == 400, response.text[:2000]
    body = response.json()
    assert set(body["node_errors"]) == {node_id}, body["node_errors"]
    errors = body["node_errors"][node_id]["errors"]
    named = [e for e in errors if e["extra_info"].get("input_name") == input_name]
    assert named, errors
    return named[0]["details"]


def test_invalid_frame_count_is_refused_at_queue_time(server):
    prompt = text_to_video()
    latent = only_node(prompt, "SoraEmptyVideoLatent")
    prompt[latent]["inputs"]["frames"] = 18
    details = rejected(server, prompt, latent, "frames")
    assert "18" in details and "17" in details and "21" in details, details


def test_unknown_checkpoint_is_refused_with_the_valid_names(server):
    prompt = text_to_video()
    loader = only_node(prompt, "SoraCheckpointLoader")
    prompt[loader]["inputs"]["ckpt_name"] = "sora-missing.safetensors"
    details = rejected(server, prompt, loader, "ckpt_name")
    assert "sora-missing.safetensors" in details and DEFAULT_MODEL in details, details


def test_cancel_stops_the_sampler_and_leaves_no_file(server):
    prompt = text_to_video()
    sampler = only_node(prompt, "SoraSampler")
    prompt[sampler]["inputs"]["steps"] = 500
    prompt[sampler]["inputs"]["seed"] = 12345  # not a cached result of another test
    before = output_files(server)
    interrupted_at: list[float] = []

    def cancel_on_first_step(srv: ComfyServer, progress: dict):
        if not interrupted_at:
            assert progress["node"] == sampler, progress
            interrupted_at.append(time.monotonic())
            srv.post("/interrupt", {"prompt_id": progress["prompt_id"]})

    run = server.run(prompt, on_progress=cancel_on_first_step)
    assert interrupted_at, "the sampler never reported progress"
    assert run.ended_with == "execution_interrupted", run.messages[-3:]
    (event,) = run.of_type("execution_interrupted")
    assert event["node_id"] == sampler, event
    steps_done = max(p["value"] for p in run.of_type("progress"))
    assert steps_done < 500, f"the sampler ran all {steps_done} steps before stopping"
    assert run.history["status"]["status_str"] == "error", run.history["status"]
    assert output_files(server) == before, f"new files after Cancel: {sorted(output_files(server) - before)}"
    cancel_seconds = run.message_times["execution_interrupted"] - interrupted_at[0]
    print(f"\ncancel took {cancel_seconds:.2f} s after POST /interrupt ({steps_done} of 500 steps ran)")


def renumbered(prompt: dict, offset: int) -> dict:
    """The same graph under other node ids, so ComfyUI's own per-node output cache cannot serve it."""
    new_id = lambda node_id: str(int(node_id) + offset)  # noqa: E731
    return {
        new_id(k): {
            **node,
            "inputs": {name: [new_id(v[0]), v[1]] if isinstance(v, list) else v for name, v in node["inputs"].items()},
        }
        for k, node in prompt.items()
    }


def run_ok(server: ComfyServer, prompt: dict) -> None:
    run = server.run(prompt)
    assert run.ended_with == "execution_success", f"{run.of_type('execution_error')}\n{server.log_tail()}"


def test_checkpoints_stay_loaded_across_graphs_until_unload_models(server):
    """ComfyUI replays an unchanged loader from its own cache; another graph (other node ids) must
    still find the checkpoint loaded, and the UI's "Unload models" (POST /free) must drop it."""
    prompt = text_to_video()
    run_ok(server, renumbered(prompt, 100))
    loads = len(loads_in_log(server))
    assert loads >= 1, "the server log never says 'loaded checkpoint': is the loader's INFO log lost?"
    run_ok(server, renumbered(prompt, 200))
    assert len(loads_in_log(server)) == loads, f"the checkpoint was loaded again for a new graph:\n{server.log_tail()}"
    assert server.post("/free", {"unload_models": True, "free_memory": True}).status_code == 200
    run_ok(server, renumbered(prompt, 300))
    assert len(loads_in_log(server)) == loads + 1, "after Unload models the checkpoint should load afresh"
    assert all(path.endswith(DEFAULT_MODEL) for path in loads_in_log(server))


def test_saved_graph_carries_no_local_paths(server, tmp_path):
    prompt = renumbered(text_to_video(), 400)
    run = server.run(prompt)
    (save,) = nodes_of(prompt, "SoraSaveVideo")
    path = tmp_path / "v.mp4"
    path.write_bytes(server.view(run.outputs(save)["images"][0]))
    assert str(Path.home()) not in read_video_tags(path)["prompt"] and "/work/" not in read_video_tags(path)["prompt"]


@pytest.mark.parametrize("mode", ["link", "base"])
def test_every_example_workflow_is_a_template(request, mode):
    server = shared_server(request, mode)
    templates = server.get("/workflow_templates").json()
    shipped = sorted(path.stem for path in WORKFLOWS.glob("*.json"))
    assert set(OUTPUT_FRAMES) <= set(shipped)
    assert sorted(templates.get(PACK_DIR_NAME, [])) == shipped, templates  # not the API twins, not the inputs
    for name in shipped:
        served = server.get(f"/api/workflow_templates/{PACK_DIR_NAME}/{name}.json")
        assert served.status_code == 200, name
        assert served.json() == load_json(WORKFLOWS / f"{name}.json")
        thumbnail = server.get(f"/api/workflow_templates/{PACK_DIR_NAME}/{name}.jpg")  # where the browser looks
        assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"] == "image/jpeg", name
        assert thumbnail.content == (WORKFLOWS / f"{name}.jpg").read_bytes(), name


def test_a_rejected_prompt_stops_the_run_at_the_safety_node_and_writes_nothing(server):
    prompt = text_to_video()
    gate = only_node(prompt, "SoraPromptSafety")
    prompt[gate]["inputs"]["prompt"] = "a red circle next to a n.u.d.e woman"
    before = output_files(server)
    run = server.run(prompt)
    assert run.ended_with == "execution_error", run.messages[-3:]
    (error,) = run.of_type("execution_error")
    assert error["node_id"] == gate and error["node_type"] == "SoraPromptSafety", error
    assert "category sexual" in error["exception_message"], error["exception_message"]
    assert not [p for p in run.of_type("progress") if p["node"] == only_node(prompt, "SoraSampler")], "it sampled"
    assert output_files(server) == before, f"files written for a rejected prompt: {output_files(server) - before}"


def test_a_rejected_schedule_line_stops_a_long_video(server):
    prompt = load_json(WORKFLOWS / "api" / "long_video.json")
    (schedule,) = [i for i in nodes_of(prompt, "SoraPromptSafety") if "\n" in prompt[i]["inputs"]["prompt"]]
    prompt[schedule]["inputs"]["prompt"] += "\n50: a blue square beside Mickey Mouse"
    run = server.run(prompt)
    (error,) = run.of_type("execution_error")
    assert error["node_id"] == schedule and "category ip" in error["exception_message"], error


def test_frames_the_classifier_flags_stop_before_the_save_node(server):
    from test_frame_safety import over_scored_frame

    from sora_nodes.io.video import write_video

    write_video(server.input / "sora_flagged.mp4", over_scored_frame().expand(9, -1, -1, -1).contiguous(), FPS)
    prompt = {
        "1": {"class_type": "SoraLoadVideo", "inputs": {"video": "sora_flagged.mp4"}},
        "2": {"class_type": "SoraFrameSafety", "inputs": {"frames": ["1", 0], "every": 4, "min_unsafe": 1}},
        "3": {
            "class_type": "SoraSaveVideo",
            "inputs": {
                "frames": ["2", 0],
                "fps": ["1", 1],
                "filename_prefix": "sora/flagged",
                "format": "video/h264-mp4",
            },
        },
    }
    before = output_files(server)
    run = server.run(prompt)
    (error,) = run.of_type("execution_error")
    assert error["node_id"] == "2" and "category sexual" in error["exception_message"], error
    assert "3 of 3 sampled frames scored unsafe" in error["exception_message"], error["exception_message"]
    assert output_files(server) == before, f"flagged frames reached disk: {output_files(server) - before}"


def test_a_wan_workflow_renders_from_comfyuis_own_model_folders(request, tmp_path):
    """Tiny random Wan 2.1 files in the server's diffusion_models/, vae/ and text_encoders/ folders: the loader
    lists them, and the shipped Wan text-to-video graph (at a tiny size) renders through the real executor."""
    pytest.importorskip("sentencepiece")
    from test_wan_tasks import small
    from wan_files import FILES, write_tiny_wan

    server = shared_server(request, "link", name="wan")
    write_tiny_wan(server.output.parent / "models")
    info = server.get("/object_info/SoraWanLoader").json()["SoraWanLoader"]["input"]["required"]
    inputs = {"diffusion_model": "diffusion_models", "vae_name": "vae", "text_encoder_name": "text_encoders"}
    for name, folder in inputs.items():
        assert FILES[folder] in info[name][0], (name, info[name][0])
    wan = Path(__file__).resolve().parent.parent / "workflows" / "wan"
    prompt = small(load_json(wan / "api" / "text_to_video.json"))
    workflow = load_json(wan / "text_to_video.json")
    run = server.run(prompt, workflow)
    check_saved_video(server, run, prompt, workflow, tmp_path)
    check_sampler_reported(run, prompt)
