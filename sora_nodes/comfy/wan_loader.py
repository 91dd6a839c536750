"""SoraWanLoader: Wan 2.1 text-to-video files from ComfyUI's own model folders -> the pack's model sockets."""

from __future__ import annotations

from ..families.cache import cached_umt5, cached_wan_model, file_fingerprint
from ..families.wan import FOLDERS, WEIGHT_DTYPES
from ..graph.host import current_host
from .sockets import SoraNode, model_outputs, socket


class SoraWanLoader(SoraNode):
    DESCRIPTION = (
        "Loads Wan 2.1 text-to-video (1.3B or 14B) from models/diffusion_models/, its VAE from models/vae/ and "
        "umT5-XXL from models/text_encoders/, for every Sora node and task."
    )
    FUNCTION = "load"
    OUTPUTS = model_outputs(
        "The Wan diffusion transformer, for SoraSampler and the task nodes.",
        "The Wan causal video VAE, for SoraVideoEncode and SoraVideoDecode.",
        "umT5-XXL, for SoraTextConditioner.",
    )

    @classmethod
    def INPUT_TYPES(cls):  # the files in ComfyUI's model folders, listed afresh each time ComfyUI asks
        host = current_host()
        return {
            "required": {
                "diffusion_model": socket(
                    host.weight_names("diffusion_models"),
                    "wan2.1_t2v_1.3B_fp16.safetensors (ComfyUI's repackaged file) or the release's "
                    "diffusion_pytorch_model.safetensors, in models/diffusion_models/.",
                ),
                "vae_name": socket(
                    host.weight_names("vae"), "wan_2.1_vae.safetensors or Wan2.1_VAE.pth, in models/vae/."
                ),
                "text_encoder_name": socket(
                    host.weight_names("text_encoders"),
                    "umt5_xxl_fp16.safetensors (or fp8_e4m3fn_scaled) or the release's "
                    "models_t5_umt5-xxl-enc-bf16.pth, in models/text_encoders/.",
                ),
                "weight_dtype": socket(
                    list(WEIGHT_DTYPES), "auto = bf16 on a CUDA GPU, fp32 on the CPU; fp8 files are upcast."
                ),
            }
        }

    @classmethod
    def IS_CHANGED(cls, diffusion_model, vae_name, text_encoder_name, weight_dtype):
        host = current_host()
        names = (diffusion_model, vae_name, text_encoder_name)
        return "/".join(file_fingerprint(host.weight_path(f, n)) for f, n in zip(FOLDERS.values(), names, strict=True))

    def load(self, diffusion_model, vae_name, text_encoder_name, weight_dtype):
        host = current_host()
        device = host.device()
        names = (diffusion_model, vae_name, text_encoder_name)
        dit, vae, text = (host.weight_path(folder, name) for folder, name in zip(FOLDERS.values(), names, strict=True))
        model = cached_wan_model(dit, vae, device, weight_dtype)
        return (model, model.vae, cached_umt5(text, device, weight_dtype))
