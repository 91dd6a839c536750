"""Write the template browser's thumbnails: workflows/NAME.jpg, frames of NAME's own render.

ComfyUI's template browser shows a pack's `workflows/NAME.json` with the picture at
`/api/workflow_templates/<pack>/NAME.jpg`; without one it shows a 404 and a placeholder.
Each workflow's API twin is rendered headless with `sora run` (the shipped default model, the
sample inputs in workflows/inputs/), and four frames of the video it saves, first to last, become
a 2 x 2 thumbnail (the cards are square), scaled up so the card is not a smudge.

The JPEG's comment records what it was rendered from (the API workflow's and the model's
SHA-256), so tests/test_thumbnails.py can tell a thumbnail that no longer shows its workflow:

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


def provenance(name: str) -> dict[str, str]:
    """What a thumbnail of workflow `name` is rendered from; a test compares it with the files of today."""
    return {
        "workflow": f"api/{name}.json",
        "workflow_sha256": sha256(WORKFLOWS / "api" / f"{name}.json"),
        "model_sha256": sha256(MODEL),
    }


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


def thumbnail(video: Path) -> bytes:
    from sora_nodes.io.video import read_video

    frames, _ = read_video(video)  # [T, H, W, 3] float 0..1
    last = frames.shape[0] - 1
    picked = (frames[[0, last // 3, 2 * last // 3, last]].numpy() * 255).round().astype("uint8")  # [4, H, W, 3]
    grid = np.concatenate([np.concatenate(picked[:2], 1), np.concatenate(picked[2:], 1)], 0)  # [2H, 2W, 3]
    h, w = grid.shape[:2]
    scale = LONG_SIDE / max(h, w)
    grid = cv2.resize(grid, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpeg.tobytes()


def main() -> None:
    names = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"workflows to redo (default: all of {', '.join(names)})")
    args = parser.parse_args()
    if unknown := set(args.names) - set(names):
        parser.error(f"no workflows/NAME.json for {sorted(unknown)}; choose from {names}")
    for name in args.names or names:
        with tempfile.TemporaryDirectory() as out:
            jpeg = thumbnail(render(name, Path(out)))
        path = WORKFLOWS / f"{name}.jpg"
        path.write_bytes(with_comment(jpeg, json.dumps(provenance(name), sort_keys=True)))
        print(f"{path.relative_to(REPO)}: {len(jpeg) // 1024} KiB")


if __name__ == "__main__":
    main()
