"""Workflow files: format detection, UI -> API conversion, validation against node schemas, --set parsing.

Toy node classes (tests/toy_nodes.py) stand in for a node pack; the shipped workflows are checked
against the real Sora nodes at the end.
"""

import copy
import json
import re
from pathlib import Path

import pytest
from shipped_workflows import api_workflows, ui_workflows
from toy_nodes import MAPPING, Even

from sora_nodes.errors import WorkflowError
from sora_nodes.graph.convert import ConversionError, ui_to_api
from sora_nodes.graph.load import load_workflow, workflow_format
from sora_nodes.graph.overrides import apply_overrides, parse_override, parse_value
from sora_nodes.graph.schema import input_specs
from sora_nodes.graph.validate import validate

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"


# ---------------------------------------------------------------- UI graphs as the frontend saves them


def inp(name, kind, link=None, widget=False):
    entry = {"name": name, "type": kind, "link": link}
    if widget:
        entry["widget"] = {"name": name}
    return entry


def out(name, kind, links=()):
    return {"name": name, "type": kind, "links": list(links)}


def node(node_id, kind, widgets=(), inputs=(), outputs=(), mode=0):
    return {
        "id": node_id,
        "type": kind,
        "pos": [100 * node_id, 0],
        "size": [220, 120],
        "flags": {},
        "order": node_id,
        "mode": mode,
        "inputs": list(inputs),
        "outputs": list(outputs),
        "properties": {"Node name for S&R": kind},
        "widgets_values": list(widgets),
    }


def graph(nodes, links):
    return {
        "last_node_id": max(n["id"] for n in nodes),
        "last_link_id": max((link[0] for link in links), default=0),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"frontendVersion": "1.27.10"},
        "version": 0.4,
    }


def simple_ui():
    """Number(1), Number(2) -> Add(3) -> Save(4)."""
    return graph(
        [
            node(1, "Number", [3, 42, "randomize", 2.0, False, "add"], outputs=[out("NUMBER", "NUMBER", [1])]),
            node(2, "Number", [1, 0, "fixed", 1.0, True, "mul"], outputs=[out("NUMBER", "NUMBER", [2])]),
            node(
                3,
                "Add",
                inputs=[inp("a", "NUMBER", 1), inp("b", "NUMBER", 2)],
                outputs=[out("NUMBER", "NUMBER", [3])],
            ),
            node(4, "Save", ["clip"], inputs=[inp("number", "NUMBER", 3)]),
        ],
        [[1, 1, 0, 3, 0, "NUMBER"], [2, 2, 0, 3, 1, "NUMBER"], [3, 3, 0, 4, 0, "NUMBER"]],
    )


def simple_api():
    return {
        "1": {"class_type": "Number", "inputs": {"value": 3, "seed": 42, "scale": 2.0, "negate": False, "mode": "add"}},
        "2": {"class_type": "Number", "inputs": {"value": 1, "seed": 0, "scale": 1.0, "negate": True, "mode": "mul"}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Save", "inputs": {"number": ["3", 0], "prefix": "clip"}},
    }


def strip_meta(api):
    """The fields the server reads: class_type and inputs (`_meta` is a title for people)."""
    return {i: {"class_type": n["class_type"], "inputs": n["inputs"]} for i, n in api.items()}


# ---------------------------------------------------------------- loading and format detection


def test_formats_are_told_apart(tmp_path):
    ui_file, api_file = tmp_path / "ui.json", tmp_path / "api.json"
    ui_file.write_text(json.dumps(simple_ui()))
    api_file.write_text(json.dumps(simple_api()))
    assert workflow_format(load_workflow(ui_file)) == "ui"
    assert workflow_format(load_workflow(api_file)) == "api"


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "workflow file not found"),
        ("{not json", "is not valid JSON (line 1"),
        ('{"hello": "world"}', "is not a ComfyUI workflow"),
        ("[]", "is not a ComfyUI workflow"),
        ("{}", "is not a ComfyUI workflow"),
    ],
)
def test_unreadable_files_are_rejected_clearly(tmp_path, content, message):
    path = tmp_path / "w.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(WorkflowError, match=re.escape(message)):
        load_workflow(path)


# ---------------------------------------------------------------- UI -> API


def test_ui_converts_to_the_api_graph_the_frontend_queues():
    api = ui_to_api(simple_ui(), MAPPING)
    assert strip_meta(api) == simple_api()  # the seed's "randomize" slot is skipped, ids become strings
    assert api["3"]["_meta"] == {"title": "Add"}


def test_a_widget_turned_into_a_linked_input_keeps_its_slot():
    ui = graph(
        [
            node(1, "Text", ["hello", ""], outputs=[out("STRING", "STRING", [1])]),
            # the text widget is linked, yet its old value still holds slot 0 of widgets_values
            node(2, "Text", ["stale", " world"], inputs=[inp("text", "STRING", 1, widget=True)]),
        ],
        [[1, 1, 0, 2, 0, "STRING"]],
    )
    api = ui_to_api(ui, MAPPING)
    assert api["2"]["inputs"] == {"text": ["1", 0], "suffix": " world"}


@pytest.mark.parametrize("widgets", [["b.mp4", "image", 5], ["b.mp4", 5]], ids=["with upload value", "without"])
def test_an_upload_combo_may_store_the_upload_buttons_value(widgets):
    ui = graph([node(1, "Loader", widgets)], [])
    assert ui_to_api(ui, MAPPING)["1"]["inputs"] == {"video": "b.mp4", "start": 5}


def test_a_file_saved_before_an_optional_widget_existed_takes_its_default():
    ui = graph([node(1, "Loader", ["b.mp4"])], [])
    assert ui_to_api(ui, MAPPING)["1"]["inputs"] == {"video": "b.mp4"}


def test_widgets_values_from_before_frontend_1_16_keep_a_slot_for_force_input():
    ui = simple_ui()
    ui["nodes"][2]["widgets_values"] = [""]  # Add's forceInput `label` once had a hidden widget
    assert strip_meta(ui_to_api(ui, MAPPING)) == simple_api()


def test_a_bypassed_node_passes_its_matching_input_through():
    ui = simple_ui()
    ui["nodes"][2]["mode"] = 4  # Add bypassed: Save gets Number 1's output (same slot index, same type)
    api = ui_to_api(ui, MAPPING)
    assert "3" not in api
    assert api["4"]["inputs"]["number"] == ["1", 0]


def test_a_muted_node_is_left_out_with_its_links():
    ui = simple_ui()
    ui["nodes"][2]["mode"] = 2
    api = ui_to_api(ui, MAPPING)
    assert "3" not in api and "number" not in api["4"]["inputs"]
    with pytest.raises(WorkflowError, match="node 4 \\(Save\\) input 'number': required input is missing"):
        validate(api, MAPPING)


def test_reroutes_primitives_and_notes_are_resolved_away():
    ui = graph(
        [
            node(1, "Number", [3, 42, "fixed", 2.0, False, "add"], outputs=[out("NUMBER", "NUMBER", [1])]),
            node(2, "Reroute", inputs=[inp("", "*", 1)], outputs=[out("", "NUMBER", [2])]),
            node(3, "Save", ["stale"], inputs=[inp("number", "NUMBER", 2), inp("prefix", "STRING", 3, widget=True)]),
            node(4, "PrimitiveNode", ["from the primitive"], outputs=[out("STRING", "STRING", [3])]),
            node(5, "Note", ["a comment for people"]),
        ],
        [[1, 1, 0, 2, 0, "NUMBER"], [2, 2, 0, 3, 0, "NUMBER"], [3, 4, 0, 3, 1, "STRING"]],
    )
    api = ui_to_api(ui, MAPPING)
    assert sorted(api) == ["1", "3"]
    assert api["3"]["inputs"] == {"number": ["1", 0], "prefix": "from the primitive"}


def test_misaligned_widget_values_name_the_node_and_its_widgets():
    ui = simple_ui()
    ui["nodes"][0]["widgets_values"] = [3, 42, 2.0, False, "add"]  # saved by a node version without the seed control
    with pytest.raises(ConversionError) as e:
        ui_to_api(ui, MAPPING)
    assert "node 1 (Number) stores 5 widget values" in str(e.value)
    assert "value, seed, control_after_generate, scale, negate, mode" in str(e.value)


def test_a_value_in_the_seed_control_slot_is_caught_even_when_the_count_fits():
    ui = simple_ui()
    ui["nodes"][0]["widgets_values"] = [3, 42, 2.0, False, "add", "extra"]
    with pytest.raises(ConversionError, match="node 1 \\(Number\\) stores 6 widget values"):
        ui_to_api(ui, MAPPING)


def test_unknown_node_types_in_a_ui_file_are_all_reported():
    ui = simple_ui()
    ui["nodes"][2]["type"] = "Ad"
    ui["nodes"][3]["type"] = "SaveMP3"
    with pytest.raises(ConversionError) as e:
        ui_to_api(ui, MAPPING)
    assert "node 3 (Ad): unknown node type 'Ad'; did you mean Add?" in str(e.value)
    assert "node 4 (SaveMP3): unknown node type 'SaveMP3'" in str(e.value)
    assert len(e.value.errors) == 2


# ---------------------------------------------------------------- validation


def test_a_valid_graph_comes_back_with_values_converted_and_the_input_untouched():
    api = simple_api()
    api["1"]["inputs"]["value"] = "7"  # the server converts INT/FLOAT constants too
    api["1"]["inputs"]["scale"] = 2
    before = copy.deepcopy(api)
    checked = validate(api, MAPPING)
    assert checked["1"]["inputs"]["value"] == 7 and isinstance(checked["1"]["inputs"]["scale"], float)
    assert api == before


def bad(change):
    api = simple_api()
    change(api)
    return api


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda g: g["3"].update(class_type="Ad"), "node 3 (Ad): unknown node type 'Ad'; did you mean Add?"),
        (lambda g: g["3"].pop("class_type"), "node 3: has no class_type"),
        (lambda g: g["3"]["inputs"].pop("b"), "node 3 (Add) input 'b': required input is missing"),
        (lambda g: g["3"]["inputs"].update(b=["42", 0]), "input 'b': is linked to node 42, which is not in the"),
        (lambda g: g["3"]["inputs"].update(b=["2", 1]), "input 'b': is linked to output 1 of node 2 (Number), which"),
        (lambda g: g["3"]["inputs"].update(b=["2", 0, 1]), "input 'b': bad link ['2', 0, 1]"),
        (
            lambda g: (
                g.update({"5": {"class_type": "Text", "inputs": {"text": "x"}}})
                or g["4"]["inputs"].update(number=["5", 0])
            ),
            "node 4 (Save) input 'number': expects NUMBER but node 5 (Text) output 0 gives STRING",
        ),
        (lambda g: g["4"]["inputs"].update(number=5), "input 'number': is a NUMBER socket and must be linked"),
        (lambda g: g["1"]["inputs"].update(value="lots"), "node 1 (Number) input 'value': expects an integer"),
        (lambda g: g["1"]["inputs"].update(value=2.5), "input 'value': expects an integer, got 2.5"),
        (lambda g: g["1"]["inputs"].update(value=101), "input 'value': 101 is above the maximum 100"),
        (lambda g: g["1"]["inputs"].update(scale=-0.5), "input 'scale': -0.5 is below the minimum 0.0"),
        (lambda g: g["1"]["inputs"].update(scale="nan"), "input 'scale': expects a finite number"),
        (lambda g: g["1"]["inputs"].update(negate="false"), "input 'negate': expects true or false, got 'false'"),
        (lambda g: g["1"]["inputs"].update(mode="ad"), "input 'mode': 'ad' is not one of the choices ('add', 'mul')"),
        (lambda g: g["4"]["inputs"].update(prefix=None), "node 4 (Save) input 'prefix': expects text, got None"),
        (lambda g: g.pop("4"), "has no output node, so nothing would be saved; add one such as Save"),
        (
            lambda g: g["1"].update(class_type="Add", inputs={"a": ["3", 0], "b": ["2", 0]}),
            "node 3 (Add): is part of a cycle: node 3, which takes input from node 1, which takes input from node 3;",
        ),
    ],
)
def test_each_kind_of_bad_graph_is_rejected_with_a_reason(change, message):
    with pytest.raises(WorkflowError) as e:
        validate(bad(change), MAPPING)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_every_error_is_reported_at_once():
    api = simple_api()
    api["1"]["inputs"]["value"] = 500
    api["2"]["inputs"]["mode"] = "pow"
    api["4"]["inputs"]["prefix"] = None
    with pytest.raises(WorkflowError) as e:
        validate(api, MAPPING)
    assert len(e.value.errors) == 3
    assert str(e.value).startswith("the workflow is invalid (3 errors): node 1 (Number) input 'value'")


def test_like_the_server_only_nodes_that_outputs_need_are_checked():
    api = simple_api()
    api["9"] = {"class_type": "Add", "inputs": {}}  # broken, but nothing depends on it
    validate(api, MAPPING)


def test_validate_inputs_decides_instead_of_min_max_and_sees_what_the_server_passes():
    api = simple_api()
    api["5"] = {"class_type": "Even", "inputs": {"width": 200, "height": ["1", 0]}}
    api["4"]["inputs"]["number"] = ["5", 0]
    Even.SEEN.clear()
    validate(api, MAPPING)  # 200 > max 64, but VALIDATE_INPUTS names width, so it alone judges it
    assert Even.SEEN == [{"width": 200, "height": None, "unique_id": "5"}]  # a linked input is None
    api["5"]["inputs"]["width"] = 7
    with pytest.raises(WorkflowError, match="node 5 \\(Even\\) inputs width, height, unique_id: width must be even"):
        validate(api, MAPPING)


def test_any_type_matches_and_a_combo_accepts_a_linked_string():
    api = simple_api()
    api["5"] = {"class_type": "Anything", "inputs": {"x": ["3", 0]}}
    api["6"] = {"class_type": "Text", "inputs": {"text": "mul"}}
    api["7"] = {"class_type": "Choose", "inputs": {"mode": ["6", 0]}}
    api["8"] = {"class_type": "Save", "inputs": {"number": ["5", 0], "prefix": ["7", 0]}}
    validate(api, MAPPING)
    api["7"]["inputs"]["mode"] = ["3", 0]
    with pytest.raises(WorkflowError, match="input 'mode': expects a COMBO or STRING but node 3 \\(Add\\)"):
        validate(api, MAPPING)


def test_list_widget_values_wrapped_by_the_frontend_are_unwrapped():
    api = simple_api()
    api["4"]["inputs"]["prefix"] = {"__value__": "clip"}
    assert validate(api, MAPPING)["4"]["inputs"]["prefix"] == "clip"


# ---------------------------------------------------------------- --set NODE_ID.INPUT=VALUE


def test_override_syntax():
    assert parse_override("3.seed=42") == ("3", "seed", "42")
    assert parse_override("12:4.text=a=b") == ("12:4", "text", "a=b")  # subgraph ids, '=' in the value
    for text in ("3.seed", "seed=4", ".seed=4", "3.=4"):
        with pytest.raises(WorkflowError, match="--set expects NODE_ID.INPUT=VALUE"):
            parse_override(text)


@pytest.mark.parametrize(
    "name,raw,value",
    [
        ("value", "42", 42),
        ("value", " -3 ", -3),
        ("scale", "0.5", 0.5),
        ("scale", "2", 2.0),
        ("negate", "true", True),
        ("negate", "False", False),
        ("mode", "mul", "mul"),
    ],
)
def test_values_are_parsed_by_the_inputs_type(name, raw, value):
    parsed = parse_value(raw, input_specs(MAPPING["Number"])[name])
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    "name,raw,message",
    [
        ("value", "4.5", "expects an integer, got '4.5'"),
        ("scale", "fast", "expects a number"),
        ("scale", "inf", "expects a finite number"),
        ("negate", "yes", "expects true or false"),
        ("mode", "Mul", "'Mul' is not one of the choices ('add', 'mul')"),
    ],
)
def test_bad_values_say_what_the_input_takes(name, raw, message):
    with pytest.raises(WorkflowError, match=re.escape(message)):
        parse_value(raw, input_specs(MAPPING["Number"])[name])


def test_text_is_taken_as_written():
    assert parse_value("  a red circle = 1 ", input_specs(MAPPING["Text"])["text"]) == "  a red circle = 1 "


def test_overrides_change_copies_of_the_api_and_ui_graphs():
    ui = simple_ui()
    api = ui_to_api(ui, MAPPING)
    new_api, new_ui = apply_overrides(api, MAPPING, ["1.seed=7", "1.mode=mul", "4.prefix=take 2"], ui)
    assert new_api["1"]["inputs"]["seed"] == 7 and new_api["1"]["inputs"]["mode"] == "mul"
    assert new_api["4"]["inputs"]["prefix"] == "take 2"
    assert new_ui["nodes"][0]["widgets_values"] == [3, 7, "randomize", 2.0, False, "mul"]  # the control slot stays
    assert strip_meta(ui_to_api(new_ui, MAPPING)) == strip_meta(new_api)  # the saved workflow reproduces the run
    assert api["1"]["inputs"]["seed"] == 42 and ui["nodes"][0]["widgets_values"][1] == 42


@pytest.mark.parametrize(
    "override,message",
    [
        ("9.seed=1", "there is no node '9' in the workflow (nodes: 1 Number, 2 Number, 3 Add, 4 Save)"),
        ("1.sed=1", "node 1 (Number) has no input 'sed'; its settable inputs are value, seed, scale, negate, mode"),
        ("3.a=1", "input 'a' of node 3 (Add) is a NUMBER socket; --set only sets INT, FLOAT"),
        ("1.value=x", "input 'value' of node 1 (Number) expects an integer, got 'x'"),
    ],
)
def test_bad_overrides_are_clear(override, message):
    with pytest.raises(WorkflowError) as e:
        apply_overrides(simple_api(), MAPPING, [override])
    assert message in str(e.value)
    assert str(e.value).startswith(f"--set {override}: ")


def test_a_linked_input_cannot_be_overridden():
    ui = graph(
        [node(1, "Text", ["hi", ""], outputs=[out("STRING", "STRING", [1])]), node(2, "Choose", ["add"])],
        [],
    )
    ui["nodes"][1]["inputs"] = [inp("mode", "COMBO", 1, widget=True)]
    ui["links"] = [[1, 1, 0, 2, 0, "STRING"]]
    with pytest.raises(WorkflowError, match="input 'mode' of node 2 \\(Choose\\) is linked from another node"):
        apply_overrides(ui_to_api(ui, MAPPING), MAPPING, ["2.mode=mul"], ui)


# ---------------------------------------------------------------- the shipped workflows, against the real nodes


def real_mapping():
    from sora_nodes.comfy import NODE_CLASS_MAPPINGS

    return NODE_CLASS_MAPPINGS


UI_FILES = ui_workflows(core=False)  # the core_ ones hold core's nodes: tests/test_core_tasks.py checks them
API_FILES = api_workflows(core=False)


def test_the_text_to_video_workflow_ships_in_both_formats():
    assert WORKFLOWS / "text_to_video.json" in UI_FILES
    assert WORKFLOWS / "api" / "text_to_video.json" in API_FILES


def test_every_ui_workflow_has_an_api_twin():
    missing = [p.name for p in UI_FILES if not (WORKFLOWS / "api" / p.name).is_file()]
    assert not missing, f"ship the API format of {missing} in workflows/api/ (ComfyUI: Workflow > Export (API))"


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_each_ui_workflow_describes_the_same_graph_as_its_api_twin(path):
    twin = WORKFLOWS / "api" / path.name
    ui = load_workflow(path)
    assert workflow_format(ui) == "ui" and ui.get("version") == 0.4
    assert strip_meta(ui_to_api(ui, real_mapping(), str(path))) == strip_meta(load_workflow(twin))


@pytest.mark.parametrize("path", UI_FILES + API_FILES, ids=lambda p: str(p.relative_to(WORKFLOWS)))
def test_each_shipped_workflow_validates_against_the_real_nodes(path):
    from sora_nodes.graph.host import HeadlessHost, use_host

    mapping = real_mapping()
    graph_ = load_workflow(path)
    with use_host(HeadlessHost(input=WORKFLOWS / "inputs")):  # the task workflows' sample inputs
        if workflow_format(graph_) == "ui":
            graph_ = ui_to_api(graph_, mapping, str(path))
        validate(graph_, mapping, str(path))


# ---------------------------------------------------------------- against the real ComfyUI frontend (1.27)

# The edits find nodes by type (window.byType), since node ids differ between the shipped workflows.
BY_TYPE = "() => { window.byType = (type) => app.graph._nodes.find(n => n.type === type) }"
FRONTEND_EDITS = {
    "as saved": None,
    "sampler bypassed": "() => { byType('SoraSampler').mode = 4 }",
    "sampler muted": "() => { byType('SoraSampler').mode = 2 }",
    "primitive on a widget, reroute on a socket": """() => {
        const sampler = byType("SoraSampler"), decode = byType("SoraVideoDecode");
        const primitive = LiteGraph.createNode("PrimitiveNode");
        app.graph.add(primitive);
        primitive.connect(0, sampler, sampler.inputs.findIndex(i => i.name === "steps"));
        primitive.widgets[0].value = 7;
        const reroute = LiteGraph.createNode("Reroute");
        app.graph.add(reroute);
        byType("SoraCheckpointLoader").connect(1, reroute, 0);
        reroute.connect(0, decode, 0);
    }""",
}


# The frontend gives a node with a video upload widget (SoraLoadVideo) a <video> preview once its file has
# loaded in the page, as a DOM widget named "video-preview". The widget is left out of the saved workflow
# (serialize = false) but not out of the queued prompt, where it is the input 'video-preview': ''. It is
# not an input of the node, ComfyUI ignores inputs a node does not declare, and whether it is there depends
# on whether the page has loaded the file yet, so ui_to_api does not make it up; the comparison drops it.
UI_ONLY_INPUTS = {"video-preview": ""}
QUEUE = "async () => { const r = await app.graphToPrompt(); return {workflow: r.workflow, output: r.output}; }"
# Every SoraLoadVideo of an .mp4 shows its preview (a still image, which it also reads, gets none).
PREVIEWS_LOADED = """() => app.graph._nodes
    .filter(n => n.type === 'SoraLoadVideo' && /\\.mp4$/.test(n.widgets[0].value))
    .every(n => n.widgets.some(w => w.name === 'video-preview'))"""


def without_ui_only_inputs(api: dict, mapping: dict) -> tuple[dict, set[tuple[str, str]]]:
    """The prompt without inputs its node classes do not declare, and the (class, input, value) dropped."""
    kept, dropped = copy.deepcopy(api), set()
    for node in kept.values():
        declared = set(input_specs(mapping[node["class_type"]]))
        for name in set(node["inputs"]) - declared:
            dropped.add((node["class_type"], name, json.dumps(node["inputs"].pop(name))))
    return kept, dropped


def assert_converts_as_queued(queued: dict, mapping: dict, name: str = "") -> set:
    """ui_to_api of the frontend's saved workflow is the prompt it queued, less the UI-only inputs it added."""
    output, dropped = without_ui_only_inputs(queued["output"], mapping)
    unexpected = {d for d in dropped if d[1] not in UI_ONLY_INPUTS or json.loads(d[2]) != UI_ONLY_INPUTS[d[1]]}
    assert not unexpected, f"{name}: the frontend queued inputs the nodes do not declare: {unexpected}"
    assert strip_meta(ui_to_api(queued["workflow"], mapping, name)) == strip_meta(output), name
    return dropped


def test_conversion_matches_what_the_real_frontend_queues(request):
    """The frontend's own graphToPrompt is the reference for ui_to_api, with the task workflows' input files
    absent and then present (when the page previews them); skips without ComfyUI and Chromium."""
    import shutil

    import torch
    from comfyui_host import frontend, provide_sample_inputs, require_browser, shared_server

    from sora_nodes.graph.host import HeadlessHost, use_host
    from sora_nodes.io.video import write_video

    server = shared_server(request, "link", "frontend-conversion")  # its own input folder, whatever ran before
    require_browser()
    mapping = real_mapping()
    shutil.rmtree(server.input)
    server.input.mkdir()
    cases = [(f"{path.name}, {edit}", path, js) for path in UI_FILES for edit, js in FRONTEND_EDITS.items()]
    with frontend(server) as (page, _), use_host(HeadlessHost(input=server.input, output=server.output)):
        page.evaluate(BY_TYPE)

        def check_all(inputs_present: bool) -> set:
            dropped = set()
            for name, path, js in cases:
                page.evaluate("async (g) => { await app.loadGraphData(g); }", load_workflow(path))
                if inputs_present:
                    page.wait_for_function(PREVIEWS_LOADED, timeout=30_000)
                if js:
                    page.evaluate(js)
                dropped |= assert_converts_as_queued(page.evaluate(QUEUE), mapping, name)
            return dropped

        assert check_all(inputs_present=False) == set()
        provide_sample_inputs(server)
        assert check_all(inputs_present=True) == {("SoraLoadVideo", "video-preview", '""')}

        write_video(server.input / "xcheck_clip.mp4", torch.rand(5, 32, 48, 3), 6.0)
        loader = {
            "1": {"class_type": "SoraLoadVideo", "inputs": {"video": "xcheck_clip.mp4"}},
            "2": {
                "class_type": "SoraSaveVideo",
                "inputs": {"frames": ["1", 0], "fps": ["1", 1], "filename_prefix": "copy", "format": "video/h264-mp4"},
            },
        }
        page.evaluate("async ([api, name]) => await app.loadApiJson(api, name)", [loader, "loader"])
        page.wait_for_function(PREVIEWS_LOADED, timeout=30_000)
        queued = page.evaluate(QUEUE)
    saved = {n["type"]: n for n in queued["workflow"]["nodes"]}
    assert saved["SoraLoadVideo"]["widgets_values"] == ["xcheck_clip.mp4", "image"]  # the upload button's slot
    assert assert_converts_as_queued(queued, mapping) == {("SoraLoadVideo", "video-preview", '""')}
    run = server.run(queued["output"], queued["workflow"])  # the server runs the prompt, UI-only input and all
    assert run.ended_with == "execution_success", run.messages[-3:]


def test_the_wan_workflows_are_what_the_real_frontend_queues(request):
    """workflows/wan/ is written by a script, not exported: the real frontend must load each UI file and
    queue exactly its API twin. Skips without ComfyUI and Chromium."""
    pytest.importorskip("sentencepiece")
    from comfyui_host import frontend, require_browser, shared_server
    from wan_files import write_tiny_wan

    server = shared_server(request, "link")
    require_browser()
    write_tiny_wan(server.output.parent / "models")  # so the loader's lists hold the names the graphs use
    from sora_nodes.graph.host import HeadlessHost, use_host
    from sora_nodes.graph.schema import input_specs

    def default(spec):
        return spec.options.get("default", spec.choices[0] if spec.choices else None)

    mapping = real_mapping()
    with frontend(server) as (page, _), use_host(HeadlessHost(weights=server.output.parent / "models")):
        for path in sorted((WORKFLOWS / "wan").glob("*.json")):
            page.evaluate("async (g) => { await app.loadGraphData(g); }", load_workflow(path))
            queued = page.evaluate(QUEUE)
            assert_converts_as_queued(queued, mapping, path.name)
            twin = strip_meta(load_workflow(WORKFLOWS / "wan" / "api" / path.name))
            got = strip_meta(without_ui_only_inputs(queued["output"], mapping)[0])
            assert got.keys() == twin.keys(), path.name
            for node_id, node in got.items():
                specs = input_specs(mapping[node["class_type"]])
                extra = {k: v for k, v in node["inputs"].items() if k not in twin[node_id]["inputs"]}
                # the frontend fills in optional widgets newer than the graph, at their defaults
                assert all(specs[k].category == "optional" and v == default(specs[k]) for k, v in extra.items()), extra
                assert {k: v for k, v in node["inputs"].items() if k not in extra} == twin[node_id]["inputs"], node_id
