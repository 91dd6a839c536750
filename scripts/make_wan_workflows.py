"""Write workflows/wan/: every shipped task workflow with the Wan 2.1 loader instead of our checkpoint.

    python scripts/make_wan_workflows.py [--check]

The Wan graphs are the shipped graphs with five changes, so they stay in step with them: the loader
(SoraWanLoader with ComfyUI's repackaged file names), Wan's sizes and rate (832x480, 81 frames, 16 fps),
its sampling (30 steps of UniPC, Wan's own sampler; the shift comes from the model), Wan's own default negative prompt,
and the recaptioner switched off (it writes the shapes-world captions our own model was trained on;
Wan reads prompts as written).
`--check` exits 1 when the files on disk differ from what this script writes (a test runs it).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sora_nodes.families.defaults import WAN  # noqa: E402
from sora_nodes.families.wan import FOLDERS  # noqa: E402

WORKFLOWS = ROOT / "workflows"
OUT = WORKFLOWS / "wan"
CORE_PREFIX = "core_"  # scripts/make_core_workflows.py's workflows
# The names ComfyUI's own Wan 2.1 examples use (Comfy-Org/Wan_2.1_ComfyUI_repackaged)
FILES = ["wan2.1_t2v_1.3B_fp16.safetensors", "wan_2.1_vae.safetensors", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"]
(WIDTH, HEIGHT), FRAMES, STEPS, SAMPLER = WAN.size, WAN.frames, WAN.steps, WAN.sampler
FPS = int(WAN.fps)  # the UI files store it as a whole number
PROMPTS = {  # the task workflows keep the prompts that describe their sample input clips
    "text_to_video": "a red paper lantern drifting over a night market, warm light, slow camera pan",
    "long_video": "a red paper lantern drifting over a night market, warm light",
}
SCHEDULE = "20: the lantern rises above the rooftops\n40: dawn breaks over the city, the lantern fades into the sky"


def wan_graph(name: str, ui: dict) -> dict:
    ui = copy.deepcopy(ui)
    for node in ui["nodes"]:
        kind, values = node["type"], node.get("widgets_values")
        if kind == "SoraCheckpointLoader":
            node["type"], node["widgets_values"], node["size"] = "SoraWanLoader", [*FILES, "auto"], [340, 130]
        elif kind == "SoraRecaptioner":
            values[3] = False
        elif kind == "SoraEmptyVideoLatent":
            values[:4] = [WIDTH, HEIGHT, FRAMES, FPS]
        elif kind == "SoraSampler":
            values[2], values[4] = STEPS, SAMPLER
        elif kind == "SoraSaveVideo":
            values[0], values[1] = FPS, f"sora/wan_{name}"
        elif kind == "SoraLongVideo":
            values[2:5] = [FPS, WIDTH, HEIGHT]
            values[5] = False  # recaption
        elif kind == "SoraTextConditioner" and node.get("title") == "Negative prompt":
            values[0] = WAN.negative
        elif kind == "SoraPromptSafety" and name in PROMPTS:
            values[0] = SCHEDULE if values[0].startswith("20:") else PROMPTS[name]
    return ui


def api_graph(ui: dict, where: str) -> dict:
    """The API form, converted by the same code `sora run` uses, against the real node classes."""
    import tempfile

    from sora_nodes.comfy import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    from sora_nodes.graph.convert import ui_to_api
    from sora_nodes.graph.host import HeadlessHost, use_host

    with tempfile.TemporaryDirectory() as models, use_host(HeadlessHost(weights=Path(models))):
        for folder, name in zip(FOLDERS.values(), FILES, strict=True):
            (Path(models) / folder).mkdir()
            (Path(models) / folder / name).touch()  # listed by the loader's combos, never read
        graph = ui_to_api(ui, NODE_CLASS_MAPPINGS, where)
    titles = {str(n["id"]): n.get("title", NODE_DISPLAY_NAME_MAPPINGS[n["type"]]) for n in ui["nodes"]}
    for node_id, node in graph.items():  # what the frontend's Export (API) writes
        node["_meta"] = {"title": titles[node_id]}
    return graph


def rendered() -> dict[Path, str]:
    files = {}
    for path in sorted(WORKFLOWS.glob("*.json")):
        if path.stem.startswith(CORE_PREFIX):  # already on core's Wan loaders
            continue
        ui = wan_graph(path.stem, json.loads(path.read_text(encoding="utf-8")))
        files[OUT / path.name] = json.dumps(ui, indent=2, ensure_ascii=False) + "\n"
        files[OUT / "api" / path.name] = json.dumps(api_graph(ui, str(path)), indent=2, ensure_ascii=False) + "\n"
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = parser.parse_args(argv)
    files = rendered()
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is out of date; run python scripts/make_wan_workflows.py")
        return 1 if stale else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files in {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
