"""ComfyUI node adapters: the only package that may import ComfyUI.

The nodes themselves arrive with the node-pack issue; the mappings are exported from the
start so the entry module and the import-direction test have one stable place to point at.
"""

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
