"""Our Wan 2.1 DiT and VAE against ComfyUI core's own (comfy/ldm/wan), on the same tiny weight files.

The files are written in the layout ComfyUI's repackaged Wan files use and loaded, unrenamed, into
ComfyUI's WanModel and WanVAE in the ComfyUI Python; both sides run the same inputs. This checks our key
layout against the host's loader, and our numbers against a second reference besides diffusers.
Skips without a ComfyUI checkout (tests/comfyui_host.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
from comfyui_host import STUB, _needs_stub, require_comfyui
from safetensors.torch import load_file, save_file

from sora_nodes.models.wan_dit import WanDiT, wan_dit_preset
from sora_nodes.models.wan_vae import WAN_VAE_PRESETS, WanVAE

COMFY_SIDE = """
import sys, torch
from safetensors.torch import load_file, save_file
folder = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]  # ComfyUI's device choice comes from its command line
import comfy.options
comfy.options.enable_args_parsing()
import comfy.ops
from comfy.ldm.wan.model import WanModel
from comfy.ldm.wan.vae import WanVAE

dit = WanModel(model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=16, dim=48, ffn_dim=96, freq_dim=32,
               text_dim=32, out_dim=16, num_heads=4, num_layers=2, cross_attn_norm=True, eps=1e-6,
               operations=comfy.ops.disable_weight_init, dtype=torch.float32)
dit.load_state_dict(load_file(folder + "/dit.safetensors"), strict=True)
vae = WanVAE(dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, attn_scales=[],
             temperal_downsample=[False, True, True])
vae.load_state_dict(load_file(folder + "/vae.safetensors"), strict=True)
x = load_file(folder + "/inputs.safetensors")
with torch.no_grad():
    out = {
        "velocity": dit(x["latent"], x["timestep"], x["context"]),
        "mu": vae.encode(x["video"]),
        "decoded": vae.decode(x["raw_latent"]),
    }
save_file({k: v.contiguous() for k, v in out.items()}, folder + "/comfy.safetensors")
"""


SHAPES_SIDE = """
import json, sys, torch
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import comfy.ops
from comfy.ldm.wan.model import WanModel
from comfy.ldm.wan.vae import WanVAE

sizes = {"1.3B": dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30),  # ComfyUI's detection of the releases
         "14B": dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)}
out = {}
with torch.device("meta"):
    for name, size in sizes.items():
        model = WanModel(model_type="t2v", text_len=512, in_dim=16, out_dim=16, freq_dim=256, text_dim=4096,
                         cross_attn_norm=True, eps=1e-6, operations=comfy.ops.disable_weight_init, **size)
        out[name] = {k: list(v.shape) for k, v in model.state_dict().items()}
    vae = WanVAE(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                 temperal_downsample=[False, True, True])
    out["vae"] = {k: list(v.shape) for k, v in vae.state_dict().items()}
print(json.dumps(out))
"""


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def _randomised(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return module.eval()


def _comfy_python(script: str, *args: str) -> str:
    comfy = require_comfyui()
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    env = dict(os.environ)
    if _needs_stub(python):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STUB), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [python, "-c", script, *args], cwd=comfy, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_real_size_presets_have_exactly_the_tensors_of_comfyuis_wan_models():
    """1.3B, 14B and the VAE at full size, built on the meta device on both sides: same keys, same shapes."""
    theirs = json.loads(_comfy_python(SHAPES_SIDE))
    with torch.device("meta"):
        ours = {name: WanDiT(wan_dit_preset(name)) for name in ("1.3B", "14B")}
        ours["vae"] = WanVAE(WAN_VAE_PRESETS["wan2.1"])
    for name, network in ours.items():
        assert {k: list(v.shape) for k, v in network.state_dict().items()} == theirs[name], name


def test_our_wan_networks_match_comfyui_core_on_its_own_file_layout(tmp_path):
    torch.manual_seed(0)
    dit, vae = _randomised(WanDiT(wan_dit_preset("tiny"))), _randomised(WanVAE(WAN_VAE_PRESETS["tiny"]))
    save_file({k: v.contiguous() for k, v in dit.state_dict().items()}, str(tmp_path / "dit.safetensors"))
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(tmp_path / "vae.safetensors"))
    g = torch.Generator().manual_seed(1)
    text = torch.randn(1, 7, 32, generator=g)
    inputs = {
        "latent": torch.randn(1, 16, 3, 6, 10, generator=g),
        "timestep": torch.tensor([600.0]),
        "context": torch.cat([text, torch.zeros(1, 512 - 7, 32)], 1),  # 512 zero-padded tokens, as Wan feeds them
        "video": torch.rand(1, 3, 9, 32, 48, generator=g) * 2 - 1,
        "raw_latent": torch.randn(1, 16, 3, 4, 6, generator=g),
    }
    save_file(inputs, str(tmp_path / "inputs.safetensors"))
    _comfy_python(COMFY_SIDE, str(tmp_path))
    theirs = load_file(str(tmp_path / "comfy.safetensors"))
    with torch.no_grad():
        velocity = dit(inputs["latent"], inputs["timestep"] / 1000, text)
        mu, _ = vae.encode_moments(inputs["video"])
        decoded = vae.decode(vae.normalize(inputs["raw_latent"]))
    errors = {
        "velocity": rel_err(velocity, theirs["velocity"]),
        "encode": rel_err(mu, theirs["mu"]),
        "decode": rel_err(decoded, theirs["decoded"].clamp(-1, 1)),  # ComfyUI clamps after the VAE call
    }
    print(f"\nagainst ComfyUI core: {errors}")
    assert max(errors.values()) < 1e-4, errors
