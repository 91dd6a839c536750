"""The safety gates as users meet them: the nodes in every shipped workflow, `sora render` and `sora run`."""

from __future__ import annotations

import json

import pytest
from shipped_workflows import WORKFLOWS, api_file, is_core

from sora_nodes.cli import main
from sora_nodes.comfy import NODE_CLASS_MAPPINGS
from sora_nodes.errors import SafetyRejection
from sora_nodes.graph.guard import guard_graph, with_frame_safety
from sora_nodes.graph.load import load_workflow
from sora_nodes.graph.prompts import prompt_texts
from sora_nodes.safety.gate import require_safe_prompt

HARMFUL = "a red circle next to a n.u.d.e woman"


def files_under(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.parametrize("path", sorted((WORKFLOWS / "api").glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_workflow_gates_its_prompts_and_its_saves(path):
    graph = load_workflow(path)
    for node_id, node in graph.items():
        for name, value in node["inputs"].items():
            if name in ("prompt", "schedule") and node["class_type"] != "SoraPromptSafety":
                assert isinstance(value, list) and graph[value[0]]["class_type"] == "SoraPromptSafety", (
                    f"{path.name}: node {node_id}'s {name} does not come through SoraPromptSafety"
                )
        if node["class_type"] == "SoraSaveVideo":
            source = node["inputs"]["frames"][0]
            assert graph[source]["class_type"] == "SoraFrameSafety", f"{path.name}: save {node_id} is unchecked"
    if not is_core(path):
        assert graph["2"]["class_type"] == "SoraPromptSafety"  # `--set 2.prompt=...` still sets the prompt
        return
    samplers = [node for node in graph.values() if "positive" in node["inputs"]]
    for sampler in samplers:  # on core's models the prompt goes into CLIPTextEncode: the positive one is checked
        text = graph[sampler["inputs"]["positive"][0]]["inputs"]["text"]
        assert isinstance(text, list) and graph[text[0]]["class_type"] == "SoraPromptSafety", path.name
    assert samplers or path.stem == "core_long_video"  # whose prompt and schedule are checked above


def test_the_prompt_node_passes_an_allowed_prompt_through_unchanged():
    node = NODE_CLASS_MAPPINGS["SoraPromptSafety"]()
    assert node.check("a killer whale leaping past a red circle") == ("a killer whale leaping past a red circle",)


@pytest.mark.parametrize(
    "prompt,category",
    [(HARMFUL, "sexual"), ("0: a red circle\n20: Mickey Mouse waving", "ip"), ("一个裸体女人", "sexual")],
)
def test_the_prompt_node_stops_the_run_naming_the_category(prompt, category):
    with pytest.raises(SafetyRejection, match=f"category {category}") as caught:
        NODE_CLASS_MAPPINGS["SoraPromptSafety"]().check(prompt)
    assert caught.value.category == category
    assert "rewrite the prompt" in str(caught.value)


def test_a_schedule_line_is_named_when_it_is_the_one_rejected():
    with pytest.raises(SafetyRejection, match="in the line '20: Mickey Mouse waving'"):
        require_safe_prompt("0: a red circle\n20: Mickey Mouse waving")


def test_negative_prompts_are_not_requests():
    graph = load_workflow(api_file("text_to_video"))
    graph["4"]["inputs"]["text"] = "nudity, gore"  # what to keep out of the video
    assert "nudity, gore" not in prompt_texts(graph, positive_only=True)
    assert "nudity, gore" in prompt_texts(graph)  # the C2PA manifest's "prompt" still lists it
    guard_graph(graph)  # no rejection


def test_a_graph_saved_without_the_safety_nodes_gets_a_frame_check_before_each_save():
    graph = load_workflow(api_file("text_to_video"))
    graph["8"]["inputs"]["frames"] = ["7", 0]  # as saved before the frame filter existed
    del graph["10"]
    guarded = with_frame_safety(graph)
    (gate,) = [i for i, n in guarded.items() if n["class_type"] == "SoraFrameSafety"]
    assert guarded[gate]["inputs"]["frames"] == ["7", 0] and guarded["8"]["inputs"]["frames"] == [gate, 0]
    assert graph["8"]["inputs"]["frames"] == ["7", 0], "the caller's graph was changed"
    assert with_frame_safety(guarded) == guarded  # already checked: nothing added


def test_sora_render_refuses_before_loading_anything(tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code = main(["render", HARMFUL, "-o", str(out), "--model", str(tmp_path / "absent.safetensors")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "refused" in err and "category sexual" in err, err
    assert files_under(tmp_path) == []


def test_sora_run_refuses_a_shipped_workflow_with_a_harmful_prompt(tmp_path, capsys):
    code = main(["run", str(api_file("text_to_video")), "--set", f"2.prompt={HARMFUL}", "-o", str(tmp_path / "o")])
    assert code == 3 and "category sexual" in capsys.readouterr().err
    assert files_under(tmp_path) == []


def test_sora_run_refuses_even_when_the_graph_has_no_prompt_node(tmp_path, capsys):
    graph = load_workflow(api_file("text_to_video"))
    graph["9"]["inputs"]["prompt"] = "Mickey Mouse dancing"  # typed straight into the recaptioner
    del graph["2"]
    (tmp_path / "old.json").write_text(json.dumps(graph))
    code = main(["run", str(tmp_path / "old.json"), "-o", str(tmp_path / "o")])
    assert code == 3 and "category ip" in capsys.readouterr().err
    assert files_under(tmp_path / "o") == []
