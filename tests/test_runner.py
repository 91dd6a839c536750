"""The headless runner and `sora run`: what runs, in which order, with which inputs, and what a user sees.

Execution rules are checked with toy nodes (tests/toy_nodes.py), whose RAN list proves that a
rejected workflow ran nothing. The command line is checked with the real nodes and the shipped
text-to-video workflows.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import toy_nodes
from graph_files import copy_graph
from toy_nodes import MAPPING

from sora_nodes.cli import main
from sora_nodes.errors import SoraError, WorkflowError
from sora_nodes.graph.host import HeadlessHost, Interrupted
from sora_nodes.graph.load import load_workflow
from sora_nodes.graph.runner import run_workflow
from sora_nodes.io.video import read_video, read_video_tags, write_video

ROOT = Path(__file__).resolve().parent.parent
API_WORKFLOW = ROOT / "workflows" / "api" / "text_to_video.json"
UI_WORKFLOW = ROOT / "workflows" / "text_to_video.json"
SORA = Path(sys.executable).with_name("sora")


@pytest.fixture(autouse=True)
def fresh_record():
    toy_nodes.RAN.clear()
    yield


def toy_graph():
    """Number 1 feeds both inputs of Add 3; two Saves read Add; Text 5 is needed by nothing."""
    return {
        "1": {"class_type": "Number", "inputs": {"value": "3", "seed": 4, "scale": 2, "negate": False, "mode": "add"}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["1", 0]}},
        "4": {"class_type": "Save", "inputs": {"number": ["3", 0], "prefix": "first"}},
        "5": {"class_type": "Text", "inputs": {"text": "unused"}},
        "6": {"class_type": "Save", "inputs": {"number": ["3", 0], "prefix": "second"}},
    }


def run(graph, tmp_path, **kwargs):
    return run_workflow(graph, mapping=MAPPING, host=HeadlessHost(output=tmp_path / "out", quiet=True), **kwargs)


def test_only_the_needed_nodes_run_dependencies_first_each_once(tmp_path):
    files = run(toy_graph(), tmp_path)
    assert toy_nodes.RAN == ["Number", "Add", "Save", "Save"]
    assert files == [tmp_path / "out" / "saved" / "first_4.json", tmp_path / "out" / "saved" / "second_6.json"]
    record = json.loads(files[0].read_text())
    assert record["number"] == 2 * (3 * 2.0 + 4)  # tuple and {"result": ...} returns both flow downstream


def test_nodes_get_the_hidden_inputs_comfyui_gives_them(tmp_path):
    api_only = json.loads(run(toy_graph(), tmp_path)[0].read_text())
    assert api_only["unique_id"] == "4"
    assert api_only["extra_pnginfo"] == {}
    assert api_only["prompt"]["1"]["inputs"]["value"] == 3  # the graph as validated: "3" became 3
    assert set(api_only["prompt"]) == {"1", "3", "4", "5", "6"}
    ui = {"nodes": [], "links": [], "version": 0.4, "note": "the UI graph this API graph came from"}
    with_ui = json.loads(run(toy_graph(), tmp_path, ui=ui)[0].read_text())
    assert with_ui["extra_pnginfo"] == {"workflow": ui}


def test_a_failing_node_is_named_and_later_nodes_do_not_run(tmp_path):
    graph = toy_graph()
    graph["7"] = {"class_type": "Boom", "inputs": {"number": ["3", 0], "how": "crash"}}
    graph["4"]["inputs"]["number"] = ["7", 0]
    with pytest.raises(SoraError, match=re.escape("node 7 (Boom) failed: RuntimeError: boom")) as e:
        run(graph, tmp_path)
    assert isinstance(e.value.__cause__, RuntimeError)  # the traceback is kept for debugging
    assert "Save" not in toy_nodes.RAN[: toy_nodes.RAN.index("Boom")]
    graph["7"]["inputs"]["how"] = "refuse"
    with pytest.raises(SoraError, match=re.escape("node 7 (Boom): the number is too large; pick a smaller one")):
        run(graph, tmp_path)


def test_a_cancelled_run_is_not_reported_as_a_node_error(tmp_path):
    graph = toy_graph()
    graph["7"] = {"class_type": "Boom", "inputs": {"number": ["3", 0], "how": "cancel"}}
    graph["4"]["inputs"]["number"] = ["7", 0]
    with pytest.raises(Interrupted):
        run(graph, tmp_path)


def change(graph, node, **inputs):
    graph[node]["inputs"].update(inputs)
    return graph


BAD_GRAPHS = {
    "unknown class_type": lambda g: g["3"].update(class_type="Ad"),
    "missing required input": lambda g: g["3"]["inputs"].pop("b"),
    "link to a missing node": lambda g: change(g, "3", b=["99", 0]),
    "bad output slot": lambda g: change(g, "3", b=["1", 2]),
    "type mismatch": lambda g: change(g, "3", b=["5", 0]),
    "INT that is not a number": lambda g: change(g, "1", value="three"),
    "INT above max": lambda g: change(g, "1", value=1000),
    "FLOAT below min": lambda g: change(g, "1", scale=-1.0),
    "combo value not in the list": lambda g: change(g, "1", mode="pow"),
    "BOOLEAN given as text": lambda g: change(g, "1", negate="no"),
    "VALIDATE_INPUTS says no": lambda g: (
        g.update({"8": {"class_type": "Even", "inputs": {"width": 3, "height": ["1", 0]}}})
        or change(g, "4", number=["8", 0])
    ),
    "no output node": lambda g: [g.pop("4"), g.pop("6")],
    "cycle": lambda g: g.update({"1": {"class_type": "Add", "inputs": {"a": ["3", 0], "b": ["3", 0]}}}),
}


@pytest.mark.parametrize("kind", BAD_GRAPHS)
def test_every_kind_of_bad_workflow_is_rejected_before_anything_runs(kind, tmp_path):
    graph = toy_graph()
    BAD_GRAPHS[kind](graph)
    with pytest.raises(WorkflowError):
        run(graph, tmp_path)
    assert toy_nodes.RAN == []
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the command line, with the real nodes


def sora(*args, cwd=None, timeout=300):
    assert SORA.exists(), f"the `sora` console script is not installed next to {sys.executable}; run scripts/setup.sh"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    return subprocess.run(
        [str(SORA), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def strip_meta(api):
    return {i: {"class_type": n["class_type"], "inputs": n["inputs"]} for i, n in api.items()}


def test_sora_run_api_workflow_writes_one_playable_mp4_carrying_its_graph(tmp_path):
    r = sora("run", API_WORKFLOW, "-o", tmp_path / "tmp", "-q")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    path = Path(lines[0])
    assert path.suffix == ".mp4" and path.is_relative_to(tmp_path / "tmp")
    assert files_under(tmp_path / "tmp") == [path]
    graph = load_workflow(API_WORKFLOW)
    size = next(n["inputs"] for n in graph.values() if n["class_type"] == "SoraEmptyVideoLatent")
    frames, fps = read_video(path)
    assert frames.shape == (size["frames"], size["height"], size["width"], 3)
    assert frames.std() > 0.01  # a picture, not a blank frame
    save = next(n["inputs"] for n in graph.values() if n["class_type"] == "SoraSaveVideo")
    assert fps == pytest.approx(save["fps"])
    tags = read_video_tags(path)
    assert strip_meta(json.loads(tags["prompt"])) == strip_meta(graph)
    assert "workflow" not in tags  # no UI graph was given


def test_sora_run_ui_workflow_with_overrides_defaults_to_output_and_embeds_the_workflow(tmp_path):
    r = sora("run", UI_WORKFLOW, "--set", "5.width=96", "--set", "6.steps=4", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    path = tmp_path / r.stdout.strip()
    assert path.is_relative_to(tmp_path / "output") and path.is_file()
    assert read_video(path)[0].shape[1:3] == (64, 96)
    tags = read_video_tags(path)
    prompt = json.loads(tags["prompt"])
    assert prompt["5"]["inputs"]["width"] == 96 and prompt["6"]["inputs"]["steps"] == 4
    workflow = json.loads(tags["workflow"])  # ComfyUI restores this graph when the file is dropped in
    original = load_workflow(UI_WORKFLOW)
    assert [n["id"] for n in workflow["nodes"]] == [n["id"] for n in original["nodes"]]
    latent = next(n for n in workflow["nodes"] if n["id"] == 5)
    assert 96 in latent["widgets_values"]  # the override is in the saved UI graph too


def test_input_videos_are_found_in_the_workflows_input_folder(tmp_path):
    folder = tmp_path / "project"
    write_video(folder / "input" / "clip.mp4", torch.rand(5, 32, 48, 3), 6.0)
    copy_graph(folder, "clip.mp4")
    r = sora("run", folder / "copy.json", "-o", tmp_path / "out", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    frames, fps = read_video(r.stdout.strip())
    assert frames.shape == (5, 32, 48, 3) and fps == 6.0
    copy_graph(folder, "missing.mp4")
    r = sora("run", folder / "copy.json", "-o", tmp_path / "out2", "-q", cwd=tmp_path)
    assert r.returncode == 2
    assert "node 1 (SoraLoadVideo) inputs video: video 'missing.mp4' was not found" in r.stderr
    assert not (tmp_path / "out2").exists()


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def broken_api():
    graph = load_workflow(API_WORKFLOW)
    graph["6"]["inputs"].update(steps=0, sampler_name="ddim")
    graph["5"]["class_type"] = "SoraEmptyVideoLatnet"
    return graph


@pytest.mark.parametrize(
    "setup,args,messages",
    [
        (None, [], ["sora run: error: workflow file not found:"]),
        ("{oops", [], ["is not valid JSON (line 1, column 2"]),
        ({"a": 1}, [], ["is not a ComfyUI workflow", "Export (API)"]),
        (
            "broken",
            [],
            [
                "is invalid (3 errors):",
                "node 5 (SoraEmptyVideoLatnet): unknown node type 'SoraEmptyVideoLatnet'; did you mean "
                "SoraEmptyVideoLatent?",
                "node 6 (SoraSampler) input 'steps': 0 is below the minimum 1",
                "node 6 (SoraSampler) input 'sampler_name': 'ddim' is not one of the choices",
            ],
        ),
        ("api", ["--set", "99.seed=1"], ["--set 99.seed=1: there is no node '99' in the workflow (nodes: 1 Sora"]),
        ("api", ["--set", "6.sead=1"], ["node 6 (SoraSampler) has no input 'sead'; its settable inputs are seed,"]),
        ("api", ["--set", "6.steps=many"], ["input 'steps' of node 6 (SoraSampler) expects an integer, got 'many'"]),
        ("api", ["--set", "6.latent=1"], ["input 'latent' of node 6 (SoraSampler) is a LATENT socket"]),
        ("api", ["--set", "3.text=hi"], ["input 'text' of node 3 (SoraTextConditioner) is linked from another node"]),
        ("api", ["--set", "9.enabled=maybe"], ["expects true or false, got 'maybe'"]),
        ("api", ["--set", "6.attention=fast"], ["'fast' is not one of the choices"]),
        ("api", ["--set", "6.steps"], ["--set expects NODE_ID.INPUT=VALUE, e.g. --set 3.seed=42"]),
        ("api", ["--set", "6.steps=0"], ["node 6 (SoraSampler) input 'steps': 0 is below the minimum 1"]),
        ("api", ["--input-dir", "nowhere"], ["--input-dir nowhere is not a directory"]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_workflows_and_arguments_exit_2_with_one_line(tmp_path, monkeypatch, capsys, setup, args, messages):
    path = tmp_path / "w.json"
    if setup == "api":
        path = API_WORKFLOW
    elif setup == "broken":
        write_json(path, broken_api())
    elif setup is not None:
        write_json(path, setup)
    monkeypatch.chdir(tmp_path)
    try:  # in-process: the same main() as the console script, without a second torch import per case
        code = main(["run", str(path), *args, "-o", str(tmp_path / "out")])
    except SystemExit as e:
        code = e.code
    stdout, stderr = capsys.readouterr()
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    for message in messages:
        assert message in stderr
    assert stdout == ""
    assert not (tmp_path / "out").exists()


def test_a_ui_file_that_cannot_be_converted_points_to_its_api_twin(tmp_path):
    ui = load_workflow(UI_WORKFLOW)
    sampler = next(n for n in ui["nodes"] if n["type"] == "SoraSampler")
    sampler["widgets_values"] = sampler["widgets_values"][:-1]  # saved by another version of the node
    write_json(tmp_path / "t2v.json", ui)
    write_json(tmp_path / "api" / "t2v.json", load_workflow(API_WORKFLOW))
    r = sora("run", tmp_path / "t2v.json", "-o", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2
    assert f"node {sampler['id']} (SoraSampler) stores" in r.stderr
    assert f"its API version runs as is: sora run {tmp_path / 'api' / 't2v.json'}" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "api" / "t2v.json").unlink()
    r = sora("run", tmp_path / "t2v.json", "-o", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2 and "API version" not in r.stderr


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [str(SORA), "run", str(API_WORKFLOW), "--set", "6.steps=1000", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a job started in the background by a non-interactive shell inherits SIGINT ignored; a user's Ctrl-C is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = ""
    deadline = time.monotonic() + 180
    while "/1000" not in seen:  # interrupt in the middle of sampling
        assert time.monotonic() < deadline, seen
        char = proc.stderr.read(1)
        assert char, f"sora run ended before sampling: {seen}"
        seen += char
    proc.send_signal(signal.SIGINT)
    stdout, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + rest
    assert "sora run: interrupted; nothing was written" in rest
    assert stdout == "" and files_under(out) == []
