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


ALLOWED = ("sora_nodes/comfy/", "tests/comfyui_stub/")  # the adapters, and the stub ComfyUI itself imports
ENTRY_MODULES = {"__init__.py", "custom_nodes/sora_nodes/__init__.py"}  # they import only sora_nodes.comfy


def project_files() -> list[Path]:
    files = []
    for folder in ("sora_nodes", "tests", "scripts", "custom_nodes"):
        files += (ROOT / folder).rglob("*.py")
    return sorted(p for p in [*files, ROOT / "__init__.py"] if not p.relative_to(ROOT).as_posix().startswith(ALLOWED))


CORE_FILES = project_files()


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_outside_the_adapters_imports_comfyui(path):
    leaked = imported_roots(path) & COMFY_MODULES
    assert not leaked, f"{path.relative_to(ROOT)} imports {sorted(leaked)}; only sora_nodes/comfy/ may import ComfyUI"


def test_the_check_sees_every_layer():
    names = {p.relative_to(ROOT).as_posix() for p in CORE_FILES}
    assert {"sora_nodes/models/dit.py", "sora_nodes/cli.py", "tests/test_nodes.py", *ENTRY_MODULES} <= names
    assert not any(n.startswith("sora_nodes/comfy/") for n in names)


def test_the_check_catches_an_import(tmp_path):
    leaky = tmp_path / "leaky.py"
    leaky.write_text("def f():\n    import comfy.model_management\n    from folder_paths import get_input_directory\n")
    assert imported_roots(leaky) & COMFY_MODULES == {"comfy", "folder_paths"}


def test_core_imports_without_comfyui_present():
    import importlib
    import sys

    assert not any(name in sys.modules for name in ("folder_paths", "comfy.model_management"))
    for module in ("sora_nodes.pipeline.generate", "sora_nodes.cli", "sora_nodes.families.bundle", "sora_nodes.comfy"):
        importlib.import_module(module)
    assert "folder_paths" not in sys.modules
