"""ComfyUI entry point when this repository (or a link to it) sits in ComfyUI/custom_nodes/.

ComfyUI imports this file by path under a mangled module name, so the library is imported as
the installed `sora_nodes` package, falling back to this checkout."""

import sys
from pathlib import Path

try:
    import sora_nodes.comfy as _pack
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sora_nodes.comfy as _pack

NODE_CLASS_MAPPINGS = _pack.NODE_CLASS_MAPPINGS
NODE_DISPLAY_NAME_MAPPINGS = _pack.NODE_DISPLAY_NAME_MAPPINGS
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
