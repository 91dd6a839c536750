"""Write the template browser's thumbnails: workflows/NAME.jpg, frames of NAME's own render.

ComfyUI's template browser shows a pack's `workflows/NAME.json` with the picture at
`/api/workflow_templates/<pack>/NAME.jpg`; without one it shows a 404 and a placeholder.
Each workflow's API twin is rendered headless with `sora run` (the shipped default model, the
sample inputs in workflows/inputs/), and four frames of the video it saves, first to last, become
a 2 x 2 thumbnail (the cards are square), scaled up so the card is not a smudge.

The `core_` workflows run on Wan files this repository cannot ship, so their thumbnails show the task
instead of a render: the same four frames of the output's timeline, laid out by the workflow's own task
node on the sample inputs, with the kept pixels as they are and the pixels the model draws hatched.

The JPEG's comment records what it was made from (the API workflow's SHA-256, and the model's for a
render), so tests can tell a thumbnail that no longer shows its workflow:

    .venv/bin/python scripts/make_thumbnails.py            # every shipped workflow
    .venv/bin/python scripts/make_thumbnails.py loop_video # only some
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"
MODEL = REPO / "models" / "sora" / "sora-default.safetensors"
LONG_SIDE = 256  # pixels of the whole thumbnail; the browser's cards are about this wide


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


CORE_PREFIX = "core_"  # scripts/make_core_workflows.py's workflows, on ComfyUI core's Wan loaders
HATCH = ((150, 150, 150), (95, 95, 95), 8)  # the two greys of the stripes over new pixels, stripe width in pixels


def provenance(name: str) -> dict[str, str]:
    """What a thumbnail of workflow `name` is made from; a test compares it with the files of today."""
    made_from = {"workflow": f"api/{name}.json", "workflow_sha256": sha256(WORKFLOWS / "api" / f"{name}.json")}
    if name.startswith(CORE_PREFIX):
        return made_from | {"shows": "the task's layout: kept pixels, new ones hatched"}
    return made_from | {"model_sha256": sha256(MODEL)}


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The JPEG with a COM segment right after its SOI marker (OpenCV writes none)."""
    body = text.encode()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def read_comment(jpeg: bytes) -> str | None:
    """The COM segment `with_comment` wrote, or None."""
    if jpeg[2:4] != b"\xff\xfe":
        return None
    (length,) = struct.unpack(">H", jpeg[4:6])
    return jpeg[6 : 4 + length].decode()


def render(name: str, out: Path) -> Path:
    """Renders workflows/api/NAME.json as a user would headless; returns the video its save node wrote."""
    command = [
        sys.executable,
        "-m",
        "sora_nodes.cli",
        "run",
        str(WORKFLOWS / "api" / f"{name}.json"),
        "--input-dir",
        str(WORKFLOWS / "inputs"),
        "-o",
        str(out),
        "-q",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name}: sora run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    videos = [Path(line) for line in done.stdout.split() if line.endswith(".mp4")]
    if not videos:
        raise SystemExit(f"{name}: sora run saved no video; it printed:\n{done.stdout}")
    return videos[-1]


def picked(length: int, runs: list[range] = ()) -> list[int]:
    """The four frames a thumbnail shows, first to last: the first, the last, the middle of each run of `runs`
    (the spans of kept and new frames) that they miss, then the frames at a third and two thirds."""
    last = length - 1
    chosen = {0, last}
    chosen |= {run[len(run) // 2] for run in runs if not any(frame in run for frame in chosen)}
    for frame in (last // 3, 2 * last // 3):
        if len(chosen) < 4:
            chosen.add(frame)
    return sorted(chosen)[:4]


def runs_of(flags: np.ndarray) -> list[range]:
    """The spans of equal values in `flags` [T]."""
    starts = [0] + [t for t in range(1, len(flags)) if flags[t] != flags[t - 1]]
    return [range(a, b) for a, b in zip(starts, starts[1:] + [len(flags)], strict=True)]


def tile(frame: np.ndarray, new: np.ndarray | None = None) -> np.ndarray:
    """One frame [H, W, 3] uint8 at a quarter of the thumbnail, `new` [H, W] bool hatched."""
    h, w = frame.shape[:2]
    size = (round(w * LONG_SIDE / 2 / max(h, w)), round(h * LONG_SIDE / 2 / max(h, w)))
    frame = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
    if new is not None:  # the stripes are drawn at the tile's size, so they stay sharp
        new = cv2.resize(new.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        light, dark, width = HATCH
        y, x = np.indices(new.shape)
        stripes = np.where(((x + y) // width % 2 == 0)[..., None], light, dark).astype(np.uint8)
        frame = np.where(new[..., None], stripes, frame)
    return frame


def jpeg_of(tiles: list[np.ndarray]) -> bytes:
    """Four tiles as a 2 x 2 JPEG."""
    grid = np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0)  # [2H, 2W, 3]
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpeg.tobytes()


def thumbnail(video: Path) -> bytes:
    from sora_nodes.io.video import read_video

    frames, _ = read_video(video)  # [T, H, W, 3] float 0..1
    chosen = (frames[picked(len(frames))].numpy() * 255).round().astype("uint8")  # [4, H, W, 3]
    return jpeg_of([tile(frame) for frame in chosen])


class LayoutVAE:
    """Stands in for core's VAE where only the task's layout is drawn: the ratios of the file the workflow
    loads (what the task nodes read off a core VAE) and no encoder, as the latent is not shown."""

    latent_dim, latent_channels = 3, 16  # the canvas depends on the ratios only

    def __init__(self, vae_name: str):
        spatial = 16 if vae_name.startswith("wan2.2_vae") else 8  # Wan 2.2 TI2V-5B's VAE, else Wan 2.1's
        self.downscale_index_formula = (4, spatial, spatial)

    def encode(self, frames):
        import torch

        t, h, w = frames.shape[:3]
        time, space = self.downscale_index_formula[:2]
        return torch.zeros(1, self.latent_channels, 1 + (t - 1) // time, h // space, w // space)


def node_output(graph: dict, link: list):
    """The value a link of a core_ workflow carries into its task node, from the sample inputs."""
    import torch

    from sora_nodes.io.video import read_video

    item = graph[link[0]]
    kind, inputs = item["class_type"], item["inputs"]
    if kind == "SoraLoadVideo":
        return read_video(WORKFLOWS / "inputs" / inputs["video"])[0]
    if kind == "LoadImage":
        image = cv2.cvtColor(cv2.imread(str(WORKFLOWS / "inputs" / inputs["image"])), cv2.COLOR_BGR2RGB)
        return torch.from_numpy(image).float()[None] / 255  # [1, H, W, 3]
    if kind == "VAELoader":
        return LayoutVAE(inputs["vae_name"])
    if kind == "SolidMask":  # as core draws it: [1, H, W]
        return torch.full((1, inputs["height"], inputs["width"]), float(inputs["value"]))
    if kind == "MaskComposite" and inputs["operation"] == "add":
        out = node_output(graph, inputs["destination"]).clone()
        source = node_output(graph, inputs["source"])
        x, y = inputs["x"], inputs["y"]
        h, w = out.shape[1] - y, out.shape[2] - x
        out[:, y : y + source.shape[1], x : x + source.shape[2]] += source[:, :h, :w]
        return out.clamp(0, 1)
    raise SystemExit(f"make_thumbnails.py cannot draw a {kind} input of a core_ workflow; teach node_output")


def layout_thumbnail(name: str) -> bytes:
    """A core_ workflow's task on the sample inputs: four frames of its output, kept pixels as they are,
    new ones hatched (see the module). The long video has no source: every pixel is new."""
    import dataclasses

    import torch

    from sora_nodes.comfy import NODE_CLASS_MAPPINGS
    from sora_nodes.tasks.core_latent import task_canvas

    graph = json.loads((WORKFLOWS / "api" / f"{name}.json").read_text())
    (task,) = [item for item in graph.values() if item["class_type"].endswith("Latent")]
    inputs = task["inputs"]
    if task["class_type"] == "SoraLongVideoLatent":
        frames = round(inputs["seconds"] * inputs["fps"]) + 1
        blank = np.zeros((inputs["height"], inputs["width"], 3), np.uint8)
        return jpeg_of([tile(blank, np.ones(blank.shape[:2], bool)) for _ in picked(frames)])
    node = NODE_CLASS_MAPPINGS[task["class_type"]]()
    values = {k: node_output(graph, v) if isinstance(v, list) else v for k, v in inputs.items()}
    (latent,) = node.build(**values)
    canvas = dataclasses.replace(task_canvas(latent), blend=0)  # no seam blend: the new pixels stay the model's
    # what SoraTaskPasteBack makes of an all-black and an all-white decode: the kept pixels are the same in both
    dark, light = (canvas.finish(torch.full_like(canvas.frames, fill)) for fill in (0.0, 1.0))  # [T, H, W, 3]
    new = (dark != light).any(-1).numpy()  # [T, H, W]: pixels the model draws; the kept ones were pasted back
    frames = (dark.numpy() * 255).round().astype(np.uint8)
    return jpeg_of([tile(frames[i], new[i]) for i in picked(len(frames), runs_of(new.any((1, 2))))])


def main() -> None:
    names = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"workflows to redo (default: all of {', '.join(names)})")
    args = parser.parse_args()
    if unknown := set(args.names) - set(names):
        parser.error(f"no workflows/NAME.json for {sorted(unknown)}; choose from {names}")
    for name in args.names or names:
        if name.startswith(CORE_PREFIX):
            jpeg = layout_thumbnail(name)
        else:
            with tempfile.TemporaryDirectory() as out:
                jpeg = thumbnail(render(name, Path(out)))
        path = WORKFLOWS / f"{name}.jpg"
        path.write_bytes(with_comment(jpeg, json.dumps(provenance(name), sort_keys=True)))
        print(f"{path.relative_to(REPO)}: {len(jpeg) // 1024} KiB")


if __name__ == "__main__":
    main()
