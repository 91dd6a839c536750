"""Bad input, tried systematically: random and malformed `sora render` arguments, `sora run` workflow files
(UI and API format) and checkpoint files. Each case ends in a one-line error or a correct video: never a
traceback, never a hang, never a partial file. The case counts are in the README (issue 14)."""

from __future__ import annotations

import copy
import json
import signal
import struct
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sora_nodes.cli import main
from sora_nodes.errors import SoraError
from sora_nodes.families.bundle import load_sora_model
from sora_nodes.io.video import read_video

ROOT = Path(__file__).resolve().parent.parent
CASE_SECONDS = 120  # a case still running after this is a hang
FUZZ = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], derandomize=True
)

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
junk_number = st.one_of(
    st.integers(-(10**12), 10**12).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str), text
)


@contextmanager
def no_hang(seconds: int = CASE_SECONDS):
    def expire(*_):
        raise TimeoutError(f"the command was still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr) of `sora ...` run in this process; any exception escaping main is a traceback."""
    with no_hang():
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code
    return code, capsys.readouterr().err


def assert_one_line_error_or_video(code: int, err: str, out_dir: Path, frames: int | None = None) -> str:
    files = sorted(p for p in out_dir.rglob("*") if p.is_file())
    if code == 0:
        assert len(files) == 1 and files[0].suffix == ".mp4", files
        video, _ = read_video(files[0])
        assert frames is None or video.shape[0] == frames
        return "video"
    assert code in (2, 3), (code, err)
    lines = [line for line in err.strip().splitlines() if not line.startswith("sora: ")]  # info logs
    assert len(lines) == 1 and lines[0].startswith("sora "), err
    assert files == [], files  # nothing half-written
    return "error"


def fresh(tmp_path: Path) -> Path:
    out = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    return out


# ------------------------------------------------------------------ sora render

VALID = {
    "prompt": st.sampled_from(["a red circle moving left", "a blue square falling", "ein grünes Dreieck 🎥"]),
    "--size": st.sampled_from(["64x64", "112x64", "64x112", "8x8", "16x24"]),
    "--frames": st.sampled_from(["1", "5", "17"]),
    "--steps": st.sampled_from(["1", "2"]),
    "--cfg": st.sampled_from(["0", "1", "5", "29.5"]),
    "--fps": st.sampled_from(["8", "23.976", "120"]),
    "--seed": st.sampled_from(["0", "7", "-1", str(2**63)]),
    "--sampler": st.sampled_from(["euler", "heun", "dpmpp_2m", "unipc"]),
    "--vae-tile": st.sampled_from([None, "2", "4"]),
    "--negative": st.one_of(st.none(), text),
}
BAD = {
    "prompt": st.one_of(st.sampled_from(["", "   ", "a\x00b", "🎥" * 5000]), text),
    "--size": st.one_of(junk_number, st.sampled_from(["64x64x64", "0x64", "-64x64", "64X64", "1e3x64", "99999999x64"])),
    "--frames": st.one_of(junk_number, st.sampled_from(["0", "8", "100001", "-3"])),
    "--steps": st.one_of(junk_number, st.sampled_from(["0", "1001", "-1"])),
    "--cfg": st.one_of(junk_number, st.sampled_from(["-1", "nan", "inf"])),
    "--fps": junk_number,
    "--seed": junk_number,
    "--sampler": text,
    "--vae-tile": junk_number,
    "--negative": text,
}
OUTCOMES: dict[str, dict[str, int]] = {}


@st.composite
def render_args(draw):
    """Valid arguments with 0-2 of them replaced by random or malformed values."""
    args = {name: draw(strategy) for name, strategy in VALID.items()}
    for name in draw(st.lists(st.sampled_from(sorted(BAD)), max_size=2, unique=True)):
        args[name] = draw(BAD[name])
    return args


def tally(test: str, outcome: str) -> None:
    OUTCOMES.setdefault(test, {"video": 0, "error": 0})[outcome] += 1


@settings(FUZZ, max_examples=40)
@given(args=render_args())
def test_fuzzed_render_arguments(args, tiny_checkpoint, tmp_path, capsys):
    out = fresh(tmp_path)
    argv = ["render", args.pop("prompt"), "--model", str(tiny_checkpoint), "-o", str(out / "x.mp4"), "-q"]
    argv += [f"{flag}={value}" for flag, value in args.items() if value is not None]  # "=": "-5" is not a flag
    code, err = run_cli(argv, capsys)
    frames = int(args["--frames"]) if code == 0 else None
    tally("render", assert_one_line_error_or_video(code, err, out, frames))


# ------------------------------------------------------------------ sora run

API = json.loads((ROOT / "workflows" / "api" / "text_to_video.json").read_text())
UI = json.loads((ROOT / "workflows" / "text_to_video.json").read_text())
API["6"]["inputs"]["steps"] = 1  # valid cases stay quick
for node in UI["nodes"]:
    if node["type"] == "SoraSampler":
        node["widgets_values"][2] = 1

weird_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.lists(st.integers(-3, 12), max_size=3),
    st.lists(text, max_size=2),
    st.dictionaries(text, st.integers(), max_size=2),
    st.just(["999", 0]),  # a link to a node that is not there
)


def deep(levels: int) -> str:
    """A placeholder that `dump` writes as a list nested `levels` deep (drawn as an object, it would be too
    deep for hypothesis to print)."""
    return f"__nested_{levels}__"


@st.composite
def api_graphs(draw):
    graph = copy.deepcopy(API)
    for _ in range(draw(st.integers(0, 3))):
        nodes = sorted(n for n, v in graph.items() if isinstance(v, dict) and isinstance(v.get("inputs"), dict))
        if not nodes:
            break
        node = draw(st.sampled_from(nodes))
        kind = draw(st.sampled_from(["input", "drop_input", "drop_node", "class", "cycle", "deep", "meta"]))
        inputs = graph[node]["inputs"]
        if kind == "input" and inputs:
            inputs[draw(st.sampled_from(sorted(inputs)))] = draw(weird_value)
        elif kind == "drop_input" and inputs:
            del inputs[draw(st.sampled_from(sorted(inputs)))]
        elif kind == "drop_node" and len(graph) > 1:
            del graph[node]
        elif kind == "class":
            graph[node]["class_type"] = draw(st.one_of(text, st.sampled_from(["SoraSampler", "KSampler"])))
        elif kind == "cycle" and "3" in nodes:
            graph["3"]["inputs"]["text"] = ["6", 0]  # sampler -> conditioner -> sampler
        elif kind == "deep" and inputs:
            inputs[draw(st.sampled_from(sorted(inputs)))] = deep(draw(st.sampled_from([50, 5000, 200000])))
        elif kind == "meta":
            graph[node] = draw(weird_value)
    return graph


@st.composite
def ui_graphs(draw):
    ui = copy.deepcopy(UI)
    for _ in range(draw(st.integers(0, 3))):
        nodes = [n for n in ui["nodes"] if isinstance(n, dict)]
        if not nodes:
            break
        node = draw(st.sampled_from(nodes))
        kind = draw(st.sampled_from(["widget", "widgets", "link", "drop_link", "type", "drop_node", "field"]))
        values = node.get("widgets_values")
        if kind == "widget" and isinstance(values, list) and values:
            values[draw(st.integers(0, len(values) - 1))] = draw(weird_value)
        elif kind == "widgets":
            node["widgets_values"] = draw(weird_value)
        elif kind == "link" and ui["links"] and isinstance(ui["links"][0], list):
            link = ui["links"][0]
            link[draw(st.integers(0, len(link) - 1))] = draw(weird_value)
        elif kind == "drop_link" and ui["links"]:
            ui["links"].pop(draw(st.integers(0, len(ui["links"]) - 1)))
        elif kind == "type":
            node["type"] = draw(st.one_of(text, st.just("Reroute")))
        elif kind == "drop_node":
            ui["nodes"].remove(node)
        elif kind == "field":
            node[draw(st.sampled_from(["inputs", "outputs", "mode", "id"]))] = draw(weird_value)
    return ui


def run_workflow_file(content: str, tmp_path: Path, capsys) -> str:
    case = fresh(tmp_path)
    path = case / "graph.json"
    path.write_text(content)
    out = case / "out"
    code, err = run_cli(["run", str(path), "-o", str(out), "-q"], capsys)
    out.mkdir(exist_ok=True)
    return assert_one_line_error_or_video(code, err, out)


def dump(graph) -> str:
    text = json.dumps(graph, allow_nan=True)
    for levels in (50, 5000, 200000):
        text = text.replace(f'"{deep(levels)}"', "[" * levels + "1" + "]" * levels)
    return text


@settings(FUZZ, max_examples=40)
@given(graph=api_graphs())
def test_fuzzed_api_workflows(graph, tmp_path, capsys):
    tally("run (API)", run_workflow_file(dump(graph), tmp_path, capsys))


@settings(FUZZ, max_examples=40)
@given(graph=ui_graphs())
def test_fuzzed_ui_workflows(graph, tmp_path, capsys):
    tally("run (UI)", run_workflow_file(dump(graph), tmp_path, capsys))


@settings(FUZZ, max_examples=30)
@given(content=st.one_of(st.binary(max_size=200).map(lambda b: b.decode("latin-1")), text))
def test_fuzzed_workflow_bytes(content, tmp_path, capsys):
    tally("run (random bytes)", run_workflow_file(content, tmp_path, capsys))


# ------------------------------------------------------------------ checkpoints


@st.composite
def damaged(draw, original: bytes):
    kind = draw(st.sampled_from(["random", "truncate", "header_length", "header_bytes", "flip"]))
    if kind == "random":
        return draw(st.binary(max_size=4096))
    if kind == "truncate":
        return original[: draw(st.integers(0, len(original) - 1))]
    (length,) = struct.unpack("<Q", original[:8])
    if kind == "header_length":
        new = draw(st.one_of(st.integers(0, 2**64 - 1), st.integers(max(0, length - 64), length + 64)))
        return struct.pack("<Q", new) + original[8:]
    if kind == "header_bytes":
        at = draw(st.integers(8, 8 + length - 1))
        return original[:at] + bytes([draw(st.integers(0, 255))]) + original[at + 1 :]
    at = draw(st.integers(0, len(original) - 1))
    return original[:at] + bytes([original[at] ^ 0xFF]) + original[at + 1 :]


@pytest.fixture(scope="module")
def checkpoint_bytes(tiny_checkpoint):
    return Path(tiny_checkpoint).read_bytes()


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_fuzzed_checkpoint_files(data, checkpoint_bytes, tmp_path):
    path = fresh(tmp_path) / "model.safetensors"
    path.write_bytes(data.draw(damaged(checkpoint_bytes)))
    with no_hang():
        try:
            model = load_sora_model(path)
        except SoraError as e:
            assert str(e) and "\n" not in str(e)
            tally("checkpoint", "error")
            return
    # a byte flip inside a weight still loads: the model must then be usable
    latent = torch.zeros(1, model.vae.config.latent_channels, 2, 2, 2)
    assert model.vae.decode(latent).shape[2] == 5
    tally("checkpoint", "video")


def test_the_fuzzing_reached_both_outcomes():
    """Each target got cases that must fail and cases that must work (prints the counts the README quotes)."""
    if len(OUTCOMES) < 5:
        pytest.skip("run with the fuzz tests above")
    for target, counts in OUTCOMES.items():
        print(f"fuzz {target}: {counts['video']} correct results, {counts['error']} one-line errors")
    assert all(counts["error"] > 0 for counts in OUTCOMES.values()), OUTCOMES
    assert all(OUTCOMES[t]["video"] > 0 for t in ("render", "run (API)", "run (UI)", "checkpoint")), OUTCOMES


# ------------------------------------------------------------------ Wan 2.1 files (issue 15)

WAN_KINDS = ("diffusion_models", "vae", "text_encoders")


@pytest.fixture(scope="module")
def wan_bytes(tmp_path_factory):
    pytest.importorskip("sentencepiece")
    from wan_files import write_tiny_wan

    paths = write_tiny_wan(tmp_path_factory.mktemp("wan"))
    return {kind: paths[kind].read_bytes() for kind in WAN_KINDS}


def _load_wan(kind: str, path: Path):
    from sora_nodes.families.cache import cached_umt5
    from sora_nodes.families.wan import load_wan_dit
    from sora_nodes.models.wan_vae import load_wan_vae

    if kind == "diffusion_models":
        return load_wan_dit(path)
    if kind == "vae":
        return load_wan_vae(path)
    return cached_umt5(path, torch.device("cpu"))


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_fuzzed_wan_files(data, wan_bytes, tmp_path):
    """Damaged DiT, VAE and umT5 files, as ComfyUI's folders hold them: a one-line error, or a network that runs."""
    from sora_nodes.families.cache import clear_model_cache

    kind = data.draw(st.sampled_from(WAN_KINDS))
    path = fresh(tmp_path) / f"{kind}.safetensors"
    path.write_bytes(data.draw(damaged(wan_bytes[kind])))
    clear_model_cache()
    with no_hang():
        try:
            network = _load_wan(kind, path)
        except SoraError as e:
            assert str(e) and "\n" not in str(e)
            tally(f"Wan {kind}", "error")
            return
        if kind == "diffusion_models":
            assert network(torch.zeros(1, 16, 1, 2, 2), torch.tensor([0.5]), torch.zeros(1, 3, 32)).shape[1] == 16
        elif kind == "vae":
            assert network.decode(torch.zeros(1, 16, 2, 2, 2)).shape[2] == 5
        else:
            assert network.encode(["a lantern"]).states.shape[-1] == 32
    tally(f"Wan {kind}", "video")
