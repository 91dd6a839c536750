"""Model families: files on disk -> a model bundle (`SoraModel`), one module per family.

`sora` (ours: one safetensors file holding the DiT and the video VAE, in the format of `checkpoint`, loaded
as the `bundle` every family makes) and `wan` (Wan 2.1's own files, in ComfyUI's folders or the release
layout, with its key maps and folder names). `defaults` holds every family's render defaults, `pick` what
`sora render --model` names, and `cache` keeps loaded models across renders. `family_of` says which family a
path is.
"""

from __future__ import annotations

from pathlib import Path

FAMILIES = ("sora", "wan")


def family_of(path: Path) -> str:
    """ "wan" when `path` (a file, or a release folder of one file or shards) looks like a Wan DiT from its
    tensor names alone (only headers are read), else "sora", whose loader judges the file."""
    return "wan" if _has_wan_dit_keys(Path(path)) else "sora"


def _has_wan_dit_keys(path: Path) -> bool:
    import json

    from safetensors import safe_open

    keys: list[str] = []
    try:
        if path.is_dir():
            index = sorted(path.glob("diffusion_pytorch_model*.safetensors.index.json"))
            files = sorted(path.glob("diffusion_pytorch_model*.safetensors"))
            if index:
                keys = list(json.loads(index[0].read_text())["weight_map"])
            elif files:
                path = files[0]
        if not keys and path.suffix == ".safetensors" and path.is_file():
            with safe_open(str(path), framework="pt") as f:
                keys = list(f.keys())
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the loader that reads it
        return False
    names = ("self_attn.norm_q", "attn1.norm_q")  # the Wan and diffusers names of a distinctive tensor
    return any(k.endswith("patch_embedding.weight") for k in keys) and any(n in k for k in keys for n in names)
