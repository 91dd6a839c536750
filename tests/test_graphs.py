"""`sora render` stores the graph that reproduces its video, as a ComfyUI render would."""

import json
import subprocess
import sys
from pathlib import Path

import torch

from sora_nodes.graph.templates import text_to_video_graph
from sora_nodes.io.video import read_video, read_video_tags

ROOT = Path(__file__).resolve().parent.parent
SORA = Path(sys.executable).parent / "sora"


def sora(*args):
    result = subprocess.run([str(SORA), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_shipped_api_workflow_is_the_render_graph_with_its_defaults():
    shipped = json.loads((ROOT / "workflows" / "api" / "text_to_video.json").read_text())
    assert text_to_video_graph("a red circle moving left") == shipped


def test_the_graph_stored_in_a_render_reproduces_it(tmp_path):
    rendered = tmp_path / "render.mp4"
    sora("render", "a blue square falling", "-o", rendered, "--size", "112x64", "--steps", 3, "--seed", 5,
         "--cfg", 4, "--negative", "blurry", "-q")  # fmt: skip
    graph = json.loads(read_video_tags(rendered)["prompt"])
    assert graph["2"]["inputs"]["prompt"] == "a blue square falling"
    assert (graph["5"]["inputs"]["width"], graph["6"]["inputs"]["seed"], graph["4"]["inputs"]["text"]) == (
        112, 5, "blurry")  # fmt: skip
    (tmp_path / "graph.json").write_text(json.dumps(graph))
    (replayed,) = sora("run", tmp_path / "graph.json", "-o", tmp_path / "out", "-q").split()
    original, fps = read_video(rendered)
    again, fps_again = read_video(replayed)
    assert fps == fps_again and original.shape == again.shape == (17, 64, 112, 3)
    assert torch.equal(original, again)
