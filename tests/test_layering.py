"""DESIGN section 2: model code never imports ComfyUI; only sora_nodes/comfy/ may."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMFY_MODULES = {
    "comfy",
    "comfy_api",
    "comfy_execution",
    "comfy_extras",
    "folder_paths",
    "nodes",
    "server",
    "execution",
    "latent_preview",
    "node_helpers",
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


CORE_FILES = [p for p in (ROOT / "sora_nodes").rglob("*.py") if "comfy" not in p.relative_to(ROOT / "sora_nodes").parts]


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_comfyui(path):
    leaked = imported_roots(path) & COMFY_MODULES
    assert not leaked, f"{path.relative_to(ROOT)} imports {sorted(leaked)}; only sora_nodes/comfy/ may import ComfyUI"


def test_the_check_sees_core_files():
    assert len(CORE_FILES) >= 10
    assert any(p.name == "dit.py" for p in CORE_FILES)


def test_core_imports_without_comfyui_present():
    import importlib
    import sys

    assert not any(name in sys.modules for name in ("folder_paths", "comfy.model_management"))
    for module in ("sora_nodes.pipeline", "sora_nodes.cli", "sora_nodes.bundle"):
        importlib.import_module(module)
    assert "folder_paths" not in sys.modules
