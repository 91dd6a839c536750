"""ComfyUI entry point when this repository is used as `--base-directory` (or listed in
extra_model_paths as a custom_nodes folder). ComfyUI imports this file by path under a
mangled module name, so the library is imported as the installed `sora_nodes` package,
falling back to the repository checkout two levels up."""

import sys
from pathlib import Path

try:
    import sora_nodes.comfy as _pack
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import sora_nodes.comfy as _pack

NODE_CLASS_MAPPINGS = _pack.NODE_CLASS_MAPPINGS
NODE_DISPLAY_NAME_MAPPINGS = _pack.NODE_DISPLAY_NAME_MAPPINGS
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
