"""The task nodes on ComfyUI core's types, in the real ComfyUI (tier 4): tiny random Wan 2.1 and Wan 2.2
TI2V-5B files written here in core's own file layout, loaded by core's UNETLoader and VAELoader, sampled by
core's KSampler, decoded by core's VAEDecode, then SoraTaskPasteBack and core's SaveImage (lossless PNG).

The DiTs are tiny (dim 128, one block; core reads the size off the weights). The VAEs cannot be: core's
VAELoader builds Wan's VAEs at their one real size whatever the file holds, so they are full-size with
random weights (127 M parameters for Wan 2.1, 705 M for Wan 2.2). Core's CLIPLoader likewise builds umT5-XXL
at full size (5.7 B parameters), too large for these machines, so the prompt reaches the model through a
test node written into the server's custom_nodes (TinyWanTextEncode): a random [1, 8, 4096] embedding (umT5-
XXL's width, which the Wan DiT's text projection takes) seeded by the prompt's text. A different prompt is
therefore a different condition, as with the real encoder, but carries no meaning.

Skips without a ComfyUI checkout (tests/comfyui_host.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from comfyui_host import REPO, STUB, _needs_stub, require_comfyui, start_server
from PIL import Image
from shipped_workflows import api_workflows

from sora_nodes.io.video import read_video, write_video

sys.path.insert(0, str(REPO / "scripts"))
import make_core_workflows as core_graphs  # noqa: E402

WAN21 = {"unet": "tiny_wan2.1_t2v.safetensors", "vae": "wan_2.1_vae.safetensors"}
WAN22 = {"unet": "tiny_wan2.2_ti2v_5B.safetensors", "vae": "wan2.2_vae.safetensors"}
STEPS = 3

WRITE_FILES = """
import os, sys, torch
sys.path.insert(0, os.getcwd())
models = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]  # ComfyUI's device choice comes from its command line
import comfy.options
comfy.options.enable_args_parsing()
import comfy.ops
import comfy.ldm.wan.vae as vae21
import comfy.ldm.wan.vae2_2 as vae22
from comfy.ldm.wan.model import WanModel
from safetensors.torch import save_file

def randomised(module, seed):
    # unit gains, zero biases, weights scaled by 1/sqrt(fan-in): activations stay O(1) through the random nets
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, p in module.state_dict().items():
        if name.endswith("gamma") or ("norm" in name and name.endswith("weight")):
            v = torch.ones(p.shape)
        elif name.endswith("bias"):
            v = torch.zeros(p.shape)
        elif p.ndim == 1 or "modulation" in name:
            v = torch.randn(p.shape, generator=g) * 0.1
        else:
            v = torch.randn(p.shape, generator=g) / max(1, p[0].numel()) ** 0.5
        out[name] = v.to(torch.float16 if p.numel() > 1e6 else torch.float32).contiguous()
    return out

ops = comfy.ops.disable_weight_init
with torch.device("meta"):  # core's own classes at core's configs; only the DiT's size is ours
    size = dict(dim=128, ffn_dim=256, num_heads=1, num_layers=1, operations=ops)
    dit21 = WanModel(model_type="t2v", in_dim=16, out_dim=16, **size)
    dit22 = WanModel(model_type="t2v", in_dim=48, out_dim=48, **size)
    v21 = vae21.WanVAE(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                       temperal_downsample=[False, True, True])
    v22 = vae22.WanVAE(dim=160, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                       temperal_downsample=[False, True, True])
for (folder, name), module, seed in [
    (("diffusion_models", sys.argv_names[0]), dit21, 1), (("diffusion_models", sys.argv_names[1]), dit22, 2),
    (("vae", sys.argv_names[2]), v21, 3), (("vae", sys.argv_names[3]), v22, 4),
]:
    os.makedirs(os.path.join(models, folder), exist_ok=True)
    save_file(randomised(module, seed), os.path.join(models, folder, name))
""".replace("sys.argv_names", repr([WAN21["unet"], WAN22["unet"], WAN21["vae"], WAN22["vae"]]))

TEXT_NODE = '''
"""Test-only text path for tiny Wan DiTs: core's CLIPLoader only builds full-size umT5-XXL."""
import hashlib
import torch


class TinyWanTextEncode:
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "testing"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True})}}

    def encode(self, text):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        embedding = torch.randn(1, 8, 4096, generator=torch.Generator().manual_seed(seed))  # umT5-XXL width
        return ([[embedding, {}]],)


class TinyWanCLIP:
    """Stands in for core's CLIP object where a node takes one (tokenize, encode_from_tokens_scheduled)."""

    def tokenize(self, text):
        return text

    def encode_from_tokens_scheduled(self, tokens):
        return TinyWanTextEncode().encode(tokens)[0]


class TinyWanCLIPLoader:
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load"
    CATEGORY = "testing"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def load(self):
        return (TinyWanCLIP(),)


NODE_CLASS_MAPPINGS = {"TinyWanTextEncode": TinyWanTextEncode, "TinyWanCLIPLoader": TinyWanCLIPLoader}
'''


def _comfy_python(script: str, *args: str, timeout: float = 900) -> str:
    comfy = require_comfyui()
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    if _needs_stub(python):
        env["PYTHONPATH"] = os.pathsep.join([str(STUB), env["PYTHONPATH"]])
    result = subprocess.run(
        [python, "-c", script, *args], cwd=comfy, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    require_comfyui()
    root = tmp_path_factory.mktemp("core-wan-models")
    _comfy_python(WRITE_FILES, str(root))
    return root


def moving_clip(frames: int, size: int, start: int = 0) -> np.ndarray:
    """[T, H, W, 3] uint8: a bright square gliding right over a gradient, so consecutive frames differ a little."""
    y, x = np.mgrid[0:size, 0:size]
    out = []
    for t in range(start, start + frames):
        frame = np.stack([x * 255 // size, y * 255 // size, np.full_like(x, 60)], -1).astype(np.uint8)
        left = (t * size // 24) % (size - size // 4)
        frame[size // 3 : size // 3 + size // 4, left : left + size // 4] = (250, 240, 40)
        out.append(frame)
    return np.stack(out)


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    comfy = require_comfyui()
    root = tmp_path_factory.mktemp("comfyui-core-tasks")
    (root / "custom_nodes").mkdir()
    (root / "custom_nodes" / "tiny_wan_text.py").write_text(TEXT_NODE)
    for folder in ("diffusion_models", "vae"):
        (root / "models" / folder).mkdir(parents=True)
        for file in (models / folder).iterdir():
            (root / "models" / folder / file.name).symlink_to(file)
    # the shipped core_ workflows' file names, on the tiny files of the same layout
    for name, tiny in ((core_graphs.WAN21["unet"], WAN21), (core_graphs.A14B["high"], WAN21),
                       (core_graphs.A14B["low"], WAN21), (core_graphs.WAN22_5B["unet"], WAN22)):  # fmt: skip
        (root / "models" / "diffusion_models" / name).symlink_to(models / "diffusion_models" / tiny["unet"])
    (root / "models" / "text_encoders").mkdir(parents=True)
    (root / "models" / "text_encoders" / core_graphs.TEXT_ENCODER).touch()  # listed for the frontend, never read
    server = start_server(comfy, "link", root)
    # the inputs: clips written as H.264 and read back the way SoraLoadVideo reads them, a still and a mask
    for name, size, start in (("clip_a", 32, 0), ("clip_b", 32, 20), ("clip_22", 32, 0)):
        write_video(server.input / f"{name}.mp4", moving_clip(9, size, start), 8.0, crf=18)
    Image.fromarray(moving_clip(1, 32)[0]).save(server.input / "still.png")
    alpha = np.full((32, 32), 255, np.uint8)
    alpha[8:24, 16:32] = 0  # LoadImage's MASK is 1 - alpha: regenerate this box
    Image.fromarray(np.dstack([moving_clip(1, 32)[0], alpha])).save(server.input / "mask.png")
    yield server
    server.stop()


def source(server, name: str) -> torch.Tensor:
    frames, _ = read_video(server.input / f"{name}.mp4")
    return frames


def graph(files: dict, task: str, task_inputs: dict, prompt: str, loaders: dict) -> dict:
    """Core loaders and KSampler around one Sora task node, then VAEDecode, paste-back and SaveImage."""
    nodes = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": files["unet"], "weight_dtype": "default"}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": files["vae"]}},
        "3": {"class_type": "TinyWanTextEncode", "inputs": {"text": prompt}},
        "4": {"class_type": "TinyWanTextEncode", "inputs": {"text": "static, blurry"}},
        "7": {"class_type": task, "inputs": {"vae": ["2", 0], **task_inputs}},
        "8": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "seed": 5,
                "steps": STEPS,
                "cfg": 1.0,
                "sampler_name": "euler",
                "scheduler": "simple",
                "positive": ["3", 0],
                "negative": ["4", 0],
                "latent_image": ["7", 0],
                "denoise": 1.0,
            },
        },  # fmt: skip
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["2", 0]}},
        "10": {"class_type": "SoraTaskPasteBack", "inputs": {"images": ["9", 0], "latent": ["8", 0]}},
        "11": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": f"core_{task}"}},
    }
    return nodes | loaders


def render(server, prompt_graph: dict) -> tuple[np.ndarray, str]:
    run = server.run(prompt_graph)
    assert run.ended_with == "execution_success", json.dumps(run.of_type("execution_error"))[:3000]
    images = run.outputs("11")["images"]
    frames = np.stack([np.array(Image.open(server.output / i["subfolder"] / i["filename"])) for i in images])
    (report,) = run.outputs("10")["text"]
    return frames, report  # [T, H, W, 3] uint8 as SaveImage wrote them


def as_saved(frames: torch.Tensor) -> np.ndarray:
    """What SaveImage writes for frames in 0..1 (it truncates 255 * x)."""
    return np.clip(255.0 * frames.numpy(), 0, 255).astype(np.uint8)


VIDEO = {"5": {"class_type": "SoraLoadVideo", "inputs": {"video": "clip_a.mp4"}}}
TASKS = {  # name: (files, task node, its inputs, loaders, kept frames of the output given the source)
    "extend_forward": (WAN21, "SoraExtendVideoLatent",
                       {"frames": ["5", 0], "direction": "forward", "new_frames": 8, "context_frames": 17,
                        "batch_size": 1}, VIDEO),
    "extend_backward": (WAN21, "SoraExtendVideoLatent",
                        {"frames": ["5", 0], "direction": "backward", "new_frames": 8, "context_frames": 17,
                         "batch_size": 1}, VIDEO),
    "connect": (WAN21, "SoraConnectVideosLatent",
                {"clip_a": ["5", 0], "clip_b": ["6", 0], "transition_frames": 6, "context_frames": 25,
                 "batch_size": 1},
                VIDEO | {"6": {"class_type": "SoraLoadVideo", "inputs": {"video": "clip_b.mp4"}}}),
    "loop": (WAN21, "SoraLoopVideoLatent",
             {"frames": ["5", 0], "transition_frames": 6, "context_frames": 25, "batch_size": 1}, VIDEO),
    "inpaint": (WAN21, "SoraInpaintSceneLatent",
                {"frames": ["5", 0], "mask": ["6", 1], "context_frames": 17, "batch_size": 1},
                VIDEO | {"6": {"class_type": "LoadImage", "inputs": {"image": "mask.png"}}}),
    "image_to_video_wan22": (WAN22, "SoraImageToVideoLatent",
                             {"image": ["5", 0], "length": 9, "context_frames": 121, "batch_size": 1},
                             {"5": {"class_type": "LoadImage", "inputs": {"image": "still.png"}}}),
    "extend_forward_wan22": (WAN22, "SoraExtendVideoLatent",
                             {"frames": ["5", 0], "direction": "forward", "new_frames": 8, "context_frames": 17,
                              "batch_size": 1},
                             {"5": {"class_type": "SoraLoadVideo", "inputs": {"video": "clip_22.mp4"}}}),
}  # fmt: skip


def kept(task: str, server) -> tuple[np.ndarray, np.ndarray]:
    """(the output's kept pixels as a bool mask [T, H, W], their expected values [T, H, W, 3]) for `task`."""
    a = source(server, "clip_a")
    if task == "extend_forward":
        frames, known = torch.cat([a, torch.zeros(8, *a.shape[1:])]), [True] * 9 + [False] * 8
    elif task == "extend_backward":
        frames, known = torch.cat([torch.zeros(8, *a.shape[1:]), a]), [False] * 8 + [True] * 9
    elif task == "connect":
        b = source(server, "clip_b")
        frames, known = torch.cat([a, torch.zeros(6, *a.shape[1:]), b]), [True] * 9 + [False] * 6 + [True] * 9
    elif task == "loop":
        frames, known = torch.cat([a, torch.zeros(6, *a.shape[1:])]), [True] * 9 + [False] * 6
    elif task == "inpaint":
        mask = torch.ones(9, 32, 32, dtype=torch.bool)
        mask[:, 8:24, 16:32] = False
        return mask.numpy(), as_saved(a)
    elif task == "image_to_video_wan22":
        still = torch.from_numpy(np.array(Image.open(server.input / "still.png"))).float()[None] / 255
        frames, known = torch.cat([still, torch.zeros(8, 32, 32, 3)]), [True] + [False] * 8
    else:
        c = source(server, "clip_22")
        frames, known = torch.cat([c, torch.zeros(8, *c.shape[1:])]), [True] * 9 + [False] * 8
    mask = torch.tensor(known)[:, None, None].expand(-1, *frames.shape[1:3])
    return mask.numpy(), as_saved(frames)


@pytest.mark.parametrize("task", list(TASKS))
def test_task_keeps_its_frames_and_a_new_prompt_changes_only_the_new_region(server, task):
    files, node, inputs, loaders = TASKS[task]
    first, report = render(server, graph(files, node, inputs, "a yellow square gliding right", loaders))
    second, _ = render(server, graph(files, node, inputs, "a red ball bouncing in the rain", loaders))
    known, expected = kept(task, server)
    assert first.shape == expected.shape, (first.shape, expected.shape)
    assert np.array_equal(first[known], expected[known])  # kept pixels identical after paste-back
    assert np.array_equal(second[known], expected[known])  # ... whatever the prompt
    changed = np.abs(first.astype(int) - second.astype(int)).max(-1) > 0  # [T, H, W]
    assert changed[~known].mean() > 0.5, f"the prompt changed only {changed[~known].mean():.0%} of the new pixels"
    print(f"\n{task}: {report}; new pixels changed by the prompt {changed[~known].mean():.0%}")
    if task == "inpaint":
        assert "no join in time" in report
    else:
        assert "seam after frame" in report
    if task == "loop":
        assert "loop seam" in report


I2V_EQUALS_CORE = """
import os, sys, torch
sys.path.insert(0, os.getcwd())
models = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import comfy.sd, comfy.utils, nodes
from comfy_extras.nodes_wan import Wan22ImageToVideoLatent
from sora_nodes.comfy.core_tasks import SoraImageToVideoLatent

vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(os.path.join(models, "vae", NAMES[1])))
model = comfy.sd.load_diffusion_model(os.path.join(models, "diffusion_models", NAMES[0]))
image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
core = Wan22ImageToVideoLatent.execute(vae, 64, 64, 17, 1, image).result[0]
ours = SoraImageToVideoLatent().build(vae, image, 17, 121, 1)[0]
cond = [[torch.randn(1, 8, 4096, generator=torch.Generator().manual_seed(1)), {}]]
a = nodes.common_ksampler(model, 7, 4, 1.0, "euler", "simple", cond, cond, core)[0]["samples"]
b = nodes.common_ksampler(model, 7, 4, 1.0, "euler", "simple", cond, cond, ours)[0]["samples"]
print(type(model.model).__name__, vae.latent_channels, list(vae.downscale_index_formula))
diff = lambda x, y: (x - y).abs().max().item()
print(diff(core["noise_mask"], ours["noise_mask"]), diff(core["samples"], ours["samples"]), diff(a, b),
      diff(b[:, :, :1], ours["samples"][:, :, :1]))
""".replace("NAMES", repr([WAN22["unet"], WAN22["vae"]]))


def test_wan22_image_to_video_is_cores_wan22_image_to_video_latent(models):
    """TI2V-5B's model gives the known frames a per-frame timestep of 0 from the noise_mask (model_base.WAN22);
    our node must drive it exactly as core's own Wan22ImageToVideoLatent does."""
    header, figures = _comfy_python(I2V_EQUALS_CORE, str(models)).strip().splitlines()[-2:]
    assert header.split() == ["WAN22", "48", "[4,", "16,", "16]"]
    mask_diff, latent_diff, sampled_diff, kept_diff = map(float, figures.split())
    print(f"\nWan 2.2 i2v against core: mask {mask_diff}, latent {latent_diff}, after KSampler {sampled_diff}, "
          f"kept latent frame moved by {kept_diff:.2e}")  # fmt: skip
    assert mask_diff == 0.0 and latent_diff == 0.0 and sampled_diff == 0.0
    assert kept_diff < 1e-5


EXPERT_SWITCH = """
import os, sys, itertools, torch
sys.path.insert(0, os.getcwd())
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import comfy.samplers
from sora_nodes.comfy.expert_switch import SoraWanExpertSwitch, core_sigmas
from sora_nodes.diffusion.expert_switch import BOUNDARIES

schedulers = ["simple", "normal", "sgm_uniform", "beta", "linear_quadratic"]
cases = agree = 0
for task, scheduler, sampler, steps, shift in itertools.product(
    BOUNDARIES, schedulers, ["euler", "uni_pc"], [1, 2, 4, 8, 10, 20, 30, 40, 50], [1.0, 3.0, 5.0, 8.0, 12.0, 17.0]
):
    (switch, _) = SoraWanExpertSwitch().switch(task, steps, shift, scheduler, sampler)
    sigmas = core_sigmas(steps, shift, scheduler, sampler)
    assert len(sigmas) == steps + 1
    for i in range(steps):  # Wan: the high-noise expert runs step i while t_i = sigma_i * 1000 >= boundary * 1000
        cases += 1
        agree += (i < switch) == bool(sigmas[i] * 1000 >= BOUNDARIES[task].boundary * 1000)
print(cases, agree, SoraWanExpertSwitch().switch("t2v", 40, 12.0, "simple", "euler")[0],
      SoraWanExpertSwitch().switch("i2v", 40, 5.0, "simple", "euler")[0])
"""


def test_the_expert_switch_agrees_with_wans_rule_on_cores_schedules():
    cases, agree, t2v, i2v = map(int, _comfy_python(EXPERT_SWITCH).split()[-4:])
    print(f"\nexpert switch: agrees with Wan's rule in {agree} of {cases} steps; 40 steps: t2v {t2v}, i2v {i2v}")
    assert agree == cases > 5000


EXPERT_PAIR = """
import os, sys, torch
sys.path.insert(0, os.getcwd())
models = sys.argv[1]
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import comfy.sd, comfy.utils, nodes
from sora_nodes.comfy.core_tasks import SoraExtendVideoLatent
from sora_nodes.comfy.expert_switch import SoraWanExpertSwitch

vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(os.path.join(models, "vae", NAMES[1])))
high = comfy.sd.load_diffusion_model(os.path.join(models, "diffusion_models", NAMES[0]))
low = high.clone()  # the two experts; one tiny net stands in for both, what matters is the hand-over
frames = torch.rand(9, 32, 32, 3, generator=torch.Generator().manual_seed(0))
task = SoraExtendVideoLatent().build(vae, frames, "forward", 8, 17, 1)[0]
kept = task["noise_mask"].expand_as(task["samples"]) == 0
cond = [[torch.randn(1, 8, 4096, generator=torch.Generator().manual_seed(1)), {}]]
switch, steps = SoraWanExpertSwitch().switch("t2v", 10, 12.0, "simple", "euler")
sampler = nodes.KSamplerAdvanced()

def pair(leftover, second_adds_noise):
    first = sampler.sample(high, "enable", 3, steps, 1.0, "euler", "simple", cond, cond, task, 0, switch,
                           leftover)[0]
    second = sampler.sample(low, second_adds_noise, 3, steps, 1.0, "euler", "simple", cond, cond, first, switch,
                            10000, "disable")[0]
    return (second["samples"] - task["samples"])[kept].abs().max().item()

sigma = nodes.comfy.samplers.calculate_sigmas(high.get_model_object("model_sampling"), "simple", steps)[switch].item()
print(switch, sigma, pair("enable", "disable"), pair("disable", "enable"))
""".replace("NAMES", repr([WAN21["unet"], WAN21["vae"]]))


def test_the_documented_ksampleradvanced_pair_keeps_the_known_cells(models):
    """A14B's experts are two KSamplerAdvanced. Wired the usual way (the first returns its leftover noise, the
    second adds none), the second re-imposes the first's output, z + sigma/(1-sigma)*noise, as the known latent;
    the README's pair (no leftover noise, then add_noise with the same seed) keeps the known cells."""
    switch, sigma, usual, documented = _comfy_python(EXPERT_PAIR, str(models)).split()[-4:]
    print(f"\nexpert pair at step {switch} (sigma {float(sigma):.3f}): kept-cell error {float(usual):.3g} wired the "
          f"usual way, {float(documented):.2e} wired as documented")  # fmt: skip
    assert float(usual) > 1.0
    assert float(documented) < 1e-5


def test_the_server_lists_the_core_task_nodes_with_cores_socket_types(server):
    info = server.object_info()
    for name in ("SoraImageToVideoLatent", "SoraExtendVideoLatent", "SoraConnectVideosLatent", "SoraLoopVideoLatent",
                 "SoraInpaintSceneLatent"):  # fmt: skip
        assert info[name]["input"]["required"]["vae"][0] == "VAE" and info[name]["output"] == ["LATENT"], name
    assert info["SoraInpaintSceneLatent"]["input"]["required"]["mask"][0] == "MASK"
    assert info["SoraTaskPasteBack"]["output"] == ["IMAGE", "STRING"]
    switch = info["SoraWanExpertSwitch"]["input"]["required"]
    assert switch["scheduler"][0] == info["KSampler"]["input"]["required"]["scheduler"][0]  # core's own list


CORE_WORKFLOWS = api_workflows(core=True)
SAVED_FRAMES = {  # frames in the saved MP4 of each shipped core workflow, on the 17-frame sample clip
    "core_extend_video": 17 + 16,
    "core_extend_video_backward": 16 + 17,
    "core_extend_video_a14b": 17 + 16,
    "core_loop_video": 17 + 8,
    "core_connect_videos": 17 + 7 + 17,
    "core_inpaint_scene": 17,
    "core_image_to_video": 9,  # length 121 in the file, 9 here (Wan 2.2's full-size VAE decodes slowly on a CPU)
    "core_long_video": 25,  # 60 s at 16 fps in the file, 3 s at 8 fps here
}


def runnable_here(api: dict) -> dict:
    """A shipped core workflow as this test can afford it: the tiny text path for CLIPLoader + CLIPTextEncode
    (see the module), 3 sampling steps (4 for A14B's pair) and a 9-frame image-to-video."""
    graph = json.loads(json.dumps(api))
    for node_id, item in list(graph.items()):
        kind, inputs = item["class_type"], item["inputs"]
        if kind == "CLIPLoader":
            graph[node_id] = {"class_type": "TinyWanCLIPLoader", "inputs": {}}
        elif kind == "CLIPTextEncode":
            graph[node_id] = {"class_type": "TinyWanTextEncode", "inputs": {"text": inputs["text"]}}
        elif kind == "KSampler":
            inputs["steps"] = STEPS
        elif kind == "SoraWanExpertSwitch":
            inputs["steps"] = 4
        elif kind == "SoraImageToVideoLatent":
            inputs["length"] = 9
        elif kind == "SoraLongVideoLatent":  # 3 windows of 9 frames at 32x32, 2 steps each
            inputs |= {"seconds": 3.0, "fps": 8.0, "width": 32, "height": 32, "context_frames": 9,
                       "overlap_frames": 4, "steps": 2}  # fmt: skip
    return graph


@pytest.mark.parametrize("path", CORE_WORKFLOWS, ids=lambda p: p.stem)
def test_each_shipped_core_workflow_runs_in_the_real_server(server, path):
    from comfyui_host import load_json, provide_sample_inputs

    provide_sample_inputs(server)
    run = server.run(runnable_here(load_json(path)))
    assert run.ended_with == "execution_success", json.dumps(run.of_type("execution_error"))[:3000]
    (report,) = run.outputs("22")["text"] if "22" in run.history["prompt"][2] else ["no seam: one render"]
    (video,) = run.outputs("24")["images"]
    frames, _ = read_video(server.output / video["subfolder"] / video["filename"])
    print(f"\n{path.stem}: {len(frames)} frames in {run.seconds:.0f} s; {report}")
    assert len(frames) == SAVED_FRAMES[path.stem]
    assert "seam" in report or "no join in time" in report


def test_the_real_frontend_loads_each_core_workflow_and_queues_its_api_twin(server):
    from comfyui_host import frontend, load_json, provide_sample_inputs, require_browser, ui_twin

    require_browser()
    provide_sample_inputs(server)
    info = server.object_info()
    queue = "async () => { const r = await app.graphToPrompt(); return r.output; }"
    with frontend(server) as (page, console):
        for path in CORE_WORKFLOWS:
            ui = load_json(ui_twin(path))
            page.evaluate("async (g) => { await app.loadGraphData(g); }", ui)
            queued = page.evaluate(queue)
            twin = load_json(path)
            assert queued.keys() == twin.keys(), path.name
            for node_id, item in queued.items():
                assert item["class_type"] == twin[node_id]["class_type"], (path.name, node_id)
                declared = {**info[item["class_type"]]["input"].get("required", {}),
                            **info[item["class_type"]]["input"].get("optional", {})}  # fmt: skip
                ours = {k: v for k, v in item["inputs"].items() if k in declared}  # less UI-only inputs (upload)
                assert ours == twin[node_id]["inputs"], (path.name, node_id, ours, twin[node_id]["inputs"])
    assert not [line for line in console if "[pageerror]" in line and "reading 'id'" not in line], console


def test_sora_run_runs_a_core_workflow_in_the_comfyui_it_is_given(models, tmp_path):
    """`sora run --comfyui DIR` on a graph of core loaders and KSampler: a server on loopback, progress shown,
    the MP4 collected with its C2PA manifest, the server stopped. The tiny text node comes in through the
    server arguments (--comfyui-args), as a user's extra model paths would."""
    from comfyui_host import load_json

    from sora_nodes.provenance.manifest_bytes import has_manifest_bytes

    comfy = require_comfyui()
    folders = {"diffusion_models": [(core_graphs.WAN21["unet"], models / "diffusion_models" / WAN21["unet"])],
               "vae": [(core_graphs.WAN21["vae"], models / "vae" / WAN21["vae"])]}  # fmt: skip
    for folder, files in folders.items():
        (tmp_path / "models" / folder).mkdir(parents=True)
        for name, target in files:
            (tmp_path / "models" / folder / name).symlink_to(target)
    (tmp_path / "nodes").mkdir()
    (tmp_path / "nodes" / "tiny_wan_text.py").write_text(TEXT_NODE)
    (tmp_path / "nodes.yaml").write_text(f"tests:\n  custom_nodes: {json.dumps(str(tmp_path / 'nodes'))}\n")
    workflow = tmp_path / "extend_video.json"
    workflow.write_text(json.dumps(runnable_here(load_json(REPO / "workflows" / "api" / "core_extend_video.json"))))
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    env = dict(os.environ, SORA_COMFYUI_PYTHON=python, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    if _needs_stub(python):
        env["PYTHONPATH"] = os.pathsep.join([str(STUB), str(REPO)])
    command = [sys.executable, "-m", "sora_nodes.cli", "run", str(workflow), "--comfyui", str(comfy),
               "--models-dir", str(tmp_path / "models"), "--input-dir", str(REPO / "workflows" / "inputs"),
               "--comfyui-args", f"--extra-model-paths-config {tmp_path / 'nodes.yaml'}",
               "-o", str(tmp_path / "out")]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    (saved,) = [Path(line) for line in result.stdout.splitlines() if line.endswith(".mp4")]
    assert saved.parent.parent == tmp_path / "out" and saved.is_file()
    assert len(read_video(saved)[0]) == SAVED_FRAMES["core_extend_video"]
    assert has_manifest_bytes(saved)  # signed inside the server by SoraSaveVideo, copied out unchanged
    assert f"step {STEPS}/{STEPS}" in result.stderr and "KSampler (node 20)" in result.stderr
    print(f"\nsora run --comfyui: {saved.name}; progress lines {result.stderr.count('step ')}")


def long_video(schedule: str, seconds: float = 3.0, steps: int = 2) -> dict:
    """Core loaders around SoraLongVideoLatent, one decode, SaveImage (the tiny CLIP stand-in, see the module)."""
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": WAN21["unet"], "weight_dtype": "default"}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": WAN21["vae"]}},
        "3": {"class_type": "TinyWanCLIPLoader", "inputs": {}},
        "4": {"class_type": "TinyWanTextEncode", "inputs": {"text": "static, blurry"}},
        "5": {"class_type": "SoraLongVideoLatent", "inputs": {
            "model": ["1", 0], "clip": ["3", 0], "vae": ["2", 0], "negative": ["4", 0],
            "prompt": "a yellow square gliding right", "schedule": schedule, "seconds": seconds, "fps": 8.0,
            "width": 32, "height": 32, "context_frames": 9, "overlap_frames": 4, "seed": 0, "steps": steps,
            "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple"}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["2", 0]}},
        "11": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "core_long"}},
    }  # fmt: skip


def saved_frames(server, run) -> np.ndarray:
    images = run.outputs("11")["images"]
    return np.stack([np.array(Image.open(server.output / i["subfolder"] / i["filename"])) for i in images])


def test_a_long_video_follows_its_schedule_window_by_window_on_cores_sampler(server):
    first = server.run(long_video("1: a red ball bouncing in the rain"))
    second = server.run(long_video("1: a green fish swimming upstream"))
    for run in (first, second):
        assert run.ended_with == "execution_success", json.dumps(run.of_type("execution_error"))[:3000]
    a, b = saved_frames(server, first), saved_frames(server, second)
    assert len(a) == 25  # 3 s at 8 fps, rounded up to 1 + 4k frames; decoded once
    steps = [m for m in first.of_type("progress") if m.get("node") == "5"]
    assert [m["value"] for m in steps] == list(range(1, 7)) and steps[-1]["max"] == 6  # 3 windows x 2 steps
    # window 0 (video frames 0-8) renders before the schedule's first entry at 1 s: the same under both schedules;
    # the later windows follow the entry, so a different line changes them
    assert np.array_equal(a[:9], b[:9])
    changed = np.abs(a[9:].astype(int) - b[9:].astype(int)).max(-1) > 0
    assert changed.mean() > 0.5
    print(f"\nlong video: {len(a)} frames, 3 windows; a new schedule line changed {changed.mean():.0%} of the pixels "
          f"after 1 s and none before")  # fmt: skip


def test_cancel_stops_a_long_video_at_the_next_step(server):
    import threading

    stopped = threading.Event()

    def cancel(srv, data):
        if data.get("node") == "5" and not stopped.is_set():
            stopped.set()
            srv.post("/interrupt")

    run = server.run(long_video("5: a red ball", seconds=30.0, steps=200), on_progress=cancel)
    assert run.ended_with == "execution_interrupted", run.messages[-3:]
    steps = [m["value"] for m in run.of_type("progress") if m.get("node") == "5"]
    assert max(steps) <= 3, steps  # of 15 windows x 200 steps
