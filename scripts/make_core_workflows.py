"""Write workflows/api/core_*.json: one workflow per task on ComfyUI core's loaders and KSampler (API format).

    python scripts/make_core_workflows.py [--check]

Each graph loads Wan with core's UNETLoader, CLIPLoader and VAELoader (ComfyUI's repackaged file names),
sets the shift with core's ModelSamplingSD3, samples with core's KSampler (KSamplerAdvanced for Wan 2.2
A14B's two experts), decodes with core's VAEDecode, and runs the pack's task node before the sampler and
SoraTaskPasteBack, SoraFrameSafety and SoraSaveVideo after the decoder; SoraPromptSafety feeds the text of
core's CLIPTextEncode. The inputs are the shipped samples in workflows/inputs/. The UI twins
(workflows/core_NAME.json, at the top of workflows/ because ComfyUI's template browser lists only the files
there) are exported through the real frontend: `python tests/comfyui_host.py export workflows/api/core_NAME.json`.
`--check` exits 1 when the files on disk differ from what this script writes (a test runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "workflows" / "api"
PREFIX = "core_"  # the workflows on core's loaders, beside the pack's own in the template browser
TEXT_ENCODER = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
WAN21 = {"unet": "wan2.1_t2v_1.3B_fp16.safetensors", "vae": "wan_2.1_vae.safetensors", "shift": 8.0, "cfg": 6.0}
WAN22_5B = {"unet": "wan2.2_ti2v_5B_fp16.safetensors", "vae": "wan2.2_vae.safetensors", "shift": 8.0, "cfg": 5.0}
A14B = {
    "high": "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors",
    "low": "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
    "vae": "wan_2.1_vae.safetensors",
    "shift": 12.0,
    "cfg": 3.5,
}
STEPS = 30
NEGATIVE = "static, blurry, low quality, jpeg artefacts, subtitles, distorted, extra limbs"
PROMPT = "a medium red circle moving right on a plain mint background, static camera"
CLIP = "sora_red_circle.mp4"
SCHEDULE = "20: the lantern rises above the rooftops\n40: dawn breaks over the city, the lantern fades into the sky"


def node(class_type: str, title: str, **inputs) -> dict:
    return {"inputs": inputs, "class_type": class_type, "_meta": {"title": title}}


def common(files: dict, prompt: str, prefix: str) -> dict:
    """Loaders, prompts (the positive one through SoraPromptSafety) and everything after the sampler ("20")."""
    return {
        "1": node("UNETLoader", "Load Diffusion Model", unet_name=files.get("unet", files.get("high")),
                  weight_dtype="default"),
        "2": node("ModelSamplingSD3", "Shift", shift=files["shift"], model=["1", 0]),
        "3": node("CLIPLoader", "Load CLIP (umT5)", clip_name=TEXT_ENCODER, type="wan", device="default"),
        "4": node("VAELoader", "Load VAE", vae_name=files["vae"]),
        "5": node("SoraPromptSafety", "Prompt for the new frames", prompt=prompt),
        "6": node("CLIPTextEncode", "Positive prompt", text=["5", 0], clip=["3", 0]),
        "7": node("CLIPTextEncode", "Negative prompt", text=NEGATIVE, clip=["3", 0]),
        "21": node("VAEDecode", "VAE Decode", samples=["20", 0], vae=["4", 0]),
        "22": node("SoraTaskPasteBack", "Paste back the kept pixels", images=["21", 0], latent=["20", 0]),
        "23": node("SoraFrameSafety", "Frame safety", every=4, min_unsafe=1, frames=["22", 0]),
        "24": node("SoraSaveVideo", "Save video", fps=["10", 1], filename_prefix=f"sora/core_{prefix}",
                   format="video/h264-mp4", c2pa_sign=True, c2pa_include_prompt=False, watermark=True,
                   frames=["23", 0]),
    }  # fmt: skip


def ksampler(files: dict, steps: int = STEPS) -> dict:
    return {
        "20": node("KSampler", "KSampler", seed=0, control_after_generate="fixed", steps=steps, cfg=files["cfg"],
                   sampler_name="uni_pc", scheduler="simple", denoise=1.0, model=["2", 0], positive=["6", 0],
                   negative=["7", 0], latent_image=["11", 0]),
    }  # fmt: skip


def clip_task(files: dict, name: str, task: str, prompt: str = PROMPT, **inputs) -> dict:
    graph = common(files, prompt, name) | ksampler(files)
    graph["10"] = node("SoraLoadVideo", "Source clip", video=CLIP)
    graph["11"] = node(task, "Task canvas", vae=["4", 0], **inputs, context_frames=81, batch_size=1)
    return graph


def workflows() -> dict[str, dict]:
    out = {
        "extend_video": clip_task(WAN21, "extend_video", "SoraExtendVideoLatent", frames=["10", 0],
                                  direction="forward", new_frames=16),
        "extend_video_backward": clip_task(WAN21, "extend_video_backward", "SoraExtendVideoLatent",
                                           frames=["10", 0], direction="backward", new_frames=16),
        "loop_video": clip_task(WAN21, "loop_video", "SoraLoopVideoLatent", frames=["10", 0], transition_frames=8),
        "connect_videos": clip_task(WAN21, "connect_videos", "SoraConnectVideosLatent",
                                    clip_a=["10", 0], clip_b=["12", 0], transition_frames=7),
        "inpaint_scene": clip_task(WAN21, "inpaint_scene", "SoraInpaintSceneLatent",
                                   "a blue square sliding down on a plain mint background", frames=["10", 0],
                                   mask=["14", 0]),
    }  # fmt: skip
    out["connect_videos"]["12"] = node("SoraLoadVideo", "Clip B", video="sora_red_circle_later.mp4")
    # the region to regenerate: a 32x32 box in the middle of the 64x64 sample clip, in every frame
    out["inpaint_scene"]["13"] = node("SolidMask", "Keep everything", value=0.0, width=64, height=64)
    out["inpaint_scene"]["15"] = node("SolidMask", "Box to regenerate", value=1.0, width=32, height=32)
    out["inpaint_scene"]["14"] = node("MaskComposite", "Box in the frame", x=16, y=16, operation="add",
                                      destination=["13", 0], source=["15", 0])  # fmt: skip

    i2v = common(WAN22_5B, PROMPT, "image_to_video") | ksampler(WAN22_5B)
    i2v["10"] = node("LoadImage", "Start image", image="sora_red_circle.png")
    i2v["11"] = node("SoraImageToVideoLatent", "Task canvas", vae=["4", 0], image=["10", 0], length=121,
                     context_frames=121, batch_size=1)  # fmt: skip
    i2v["24"]["inputs"]["fps"] = 24.0  # Wan 2.2 TI2V-5B renders at 24 fps
    out["image_to_video"] = i2v

    # Wan 2.2 A14B: two experts, the hand-over step from SoraWanExpertSwitch, the pair wired so that the known
    # cells stay exact (the first returns no leftover noise, the second adds noise with the same seed)
    a14b = clip_task(A14B, "extend_video_a14b", "SoraExtendVideoLatent", frames=["10", 0], direction="forward",
                     new_frames=16)  # fmt: skip
    a14b["1"]["_meta"]["title"] = "High-noise expert"
    a14b["8"] = node("UNETLoader", "Low-noise expert", unet_name=A14B["low"], weight_dtype="default")
    a14b["9"] = node("ModelSamplingSD3", "Shift (low)", shift=A14B["shift"], model=["8", 0])
    a14b["16"] = node("SoraWanExpertSwitch", "Expert switch", task="t2v", steps=20, shift=A14B["shift"],
                      scheduler="simple", sampler_name="euler")  # fmt: skip
    shared = {"noise_seed": 0, "control_after_generate": "fixed", "cfg": A14B["cfg"], "sampler_name": "euler",
              "scheduler": "simple", "positive": ["6", 0], "negative": ["7", 0], "steps": ["16", 1]}  # fmt: skip
    a14b["19"] = node("KSamplerAdvanced", "High-noise steps", add_noise="enable", start_at_step=0,
                      end_at_step=["16", 0], return_with_leftover_noise="disable", model=["2", 0],
                      latent_image=["11", 0], **shared)  # fmt: skip
    a14b["20"] = node("KSamplerAdvanced", "Low-noise steps", add_noise="enable", start_at_step=["16", 0],
                      end_at_step=10000, return_with_leftover_noise="disable", model=["9", 0],
                      latent_image=["19", 0], **shared)  # fmt: skip
    out["extend_video_a14b"] = a14b
    # a prompt-scheduled long video on core's model, CLIP and sampler, decoded once by core's tiled decoder
    long = {k: v for k, v in common(WAN21, PROMPT, "long_video").items() if k not in ("6", "22")}
    long["5"]["_meta"]["title"] = "Prompt before the schedule"
    long["8"] = node("SoraPromptSafety", "Prompt schedule", prompt=SCHEDULE)
    long["11"] = node("SoraLongVideoLatent", "Long video", model=["2", 0], clip=["3", 0], vae=["4", 0],
                      negative=["7", 0], prompt=["5", 0], schedule=["8", 0], seconds=60.0, fps=16.0, width=832,
                      height=480, context_frames=81, overlap_frames=16, seed=0, control_after_generate="fixed",
                      steps=STEPS, cfg=WAN21["cfg"], sampler_name="uni_pc", scheduler="simple")  # fmt: skip
    long["21"] = node("VAEDecodeTiled", "VAE Decode (tiled)", samples=["11", 0], vae=["4", 0], tile_size=512,
                      overlap=64, temporal_size=64, temporal_overlap=8)  # fmt: skip
    long["23"]["inputs"]["frames"] = ["21", 0]
    long["24"]["inputs"]["fps"] = 16.0
    out["long_video"] = long
    for graph in out.values():  # the frontend's Export (API) does not write the seed's control widget
        for item in graph.values():
            item["inputs"].pop("control_after_generate", None)
    return {name: dict(sorted(graph.items(), key=lambda kv: int(kv[0]))) for name, graph in out.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files on disk are not up to date")
    args = parser.parse_args(argv)
    stale = []
    for name, graph in workflows().items():
        path = OUT / f"{PREFIX}{name}.json"
        text = json.dumps(graph, indent=2, ensure_ascii=False) + "\n"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run scripts/make_core_workflows.py): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
