"""SoraCheckpointLoader: one safetensors bundle -> the DiT, the VAE and the text encoder it was trained with."""

from __future__ import annotations

from ..families.cache import cached_sora_model, file_fingerprint
from ..graph.host import current_host
from ..models.text import load_text_encoder
from .sockets import SoraNode, model_outputs, socket


class SoraCheckpointLoader(SoraNode):
    DESCRIPTION = "Loads a Sora checkpoint (DiT + video VAE) from models/sora/ and the text encoder it names."
    FUNCTION = "load"
    OUTPUTS = model_outputs(
        "The diffusion transformer, for SoraSampler.",
        "The video VAE, for SoraVideoEncode and SoraVideoDecode.",
        "The text encoder the model was trained with, for SoraTextConditioner.",
    )

    @classmethod
    def INPUT_TYPES(cls):  # the checkpoints in models/sora/, listed afresh each time ComfyUI asks
        names = current_host().model_names()
        return {
            "required": {
                "ckpt_name": socket(
                    names, "A .safetensors checkpoint in models/sora/; sora-default is the shipped model."
                )
            }
        }

    @classmethod
    def IS_CHANGED(cls, ckpt_name):
        # A checkpoint replaced on disk under the same name must reload.
        return file_fingerprint(current_host().model_path(ckpt_name))

    def load(self, ckpt_name):
        host = current_host()
        model = cached_sora_model(host.model_path(ckpt_name), host.device())
        return (model, model.vae, load_text_encoder(model.text_encoder, device=model.device))
