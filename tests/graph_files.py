"""API graphs the tests write to disk and run with `sora run`."""

from __future__ import annotations

import json
from pathlib import Path


def copy_graph(folder: Path, video: str) -> Path:
    """folder/copy.json: load `video` from the input folder and save it again (prefix "copy")."""
    graph = {
        "1": {"class_type": "SoraLoadVideo", "inputs": {"video": video}},
        "2": {
            "class_type": "SoraSaveVideo",
            "inputs": {"frames": ["1", 0], "fps": ["1", 1], "filename_prefix": "copy", "format": "video/h264-mp4"},
        },
    }
    path = folder / "copy.json"
    path.write_text(json.dumps(graph))
    return path
