"""ComfyUI node adapters: the only package that may import ComfyUI (and only lazily, through the host).

The keys of NODE_CLASS_MAPPINGS are the `class_type` stored in every saved workflow: never rename them.
"""

from ..graph.host import serve_inside_comfyui
from .comfyui_host import comfyui_host
from .core_long_video import SoraLongVideoLatent
from .core_tasks import (
    SoraConnectVideosLatent,
    SoraExtendVideoLatent,
    SoraImageToVideoLatent,
    SoraInpaintSceneLatent,
    SoraLoopVideoLatent,
    SoraTaskPasteBack,
)
from .expert_switch import SoraWanExpertSwitch
from .latent import SoraEmptyVideoLatent, SoraVideoDecode, SoraVideoEncode
from .loader import SoraCheckpointLoader
from .long_video import SoraLongVideo
from .safety import SoraFrameSafety, SoraPromptSafety
from .sampler import SoraSampler
from .tasks import SoraConnectVideos, SoraExtendVideo, SoraImageToVideo, SoraInpaintScene, SoraLoopVideo
from .text import SoraRecaptioner, SoraTextConditioner
from .video import SoraLoadVideo, SoraSaveVideo
from .wan_loader import SoraWanLoader

NODE_CLASS_MAPPINGS: dict[str, type] = {
    "SoraCheckpointLoader": SoraCheckpointLoader,
    "SoraPromptSafety": SoraPromptSafety,
    "SoraRecaptioner": SoraRecaptioner,
    "SoraTextConditioner": SoraTextConditioner,
    "SoraEmptyVideoLatent": SoraEmptyVideoLatent,
    "SoraVideoEncode": SoraVideoEncode,
    "SoraVideoDecode": SoraVideoDecode,
    "SoraSampler": SoraSampler,
    "SoraLoadVideo": SoraLoadVideo,
    "SoraFrameSafety": SoraFrameSafety,
    "SoraSaveVideo": SoraSaveVideo,
    "SoraImageToVideo": SoraImageToVideo,
    "SoraExtendVideo": SoraExtendVideo,
    "SoraConnectVideos": SoraConnectVideos,
    "SoraLoopVideo": SoraLoopVideo,
    "SoraInpaintScene": SoraInpaintScene,
    "SoraLongVideo": SoraLongVideo,
    "SoraWanLoader": SoraWanLoader,
    "SoraImageToVideoLatent": SoraImageToVideoLatent,
    "SoraExtendVideoLatent": SoraExtendVideoLatent,
    "SoraConnectVideosLatent": SoraConnectVideosLatent,
    "SoraLoopVideoLatent": SoraLoopVideoLatent,
    "SoraInpaintSceneLatent": SoraInpaintSceneLatent,
    "SoraTaskPasteBack": SoraTaskPasteBack,
    "SoraWanExpertSwitch": SoraWanExpertSwitch,
    "SoraLongVideoLatent": SoraLongVideoLatent,
}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "SoraCheckpointLoader": "Sora Checkpoint Loader",
    "SoraPromptSafety": "Sora Prompt Safety",
    "SoraRecaptioner": "Sora Recaptioner",
    "SoraTextConditioner": "Sora Text Conditioner",
    "SoraEmptyVideoLatent": "Sora Empty Video Latent",
    "SoraVideoEncode": "Sora Video Encode",
    "SoraVideoDecode": "Sora Video Decode",
    "SoraSampler": "Sora Sampler",
    "SoraLoadVideo": "Sora Load Video",
    "SoraFrameSafety": "Sora Frame Safety",
    "SoraSaveVideo": "Sora Save Video",
    "SoraImageToVideo": "Sora Image To Video",
    "SoraExtendVideo": "Sora Extend Video",
    "SoraConnectVideos": "Sora Connect Videos",
    "SoraLoopVideo": "Sora Loop Video",
    "SoraInpaintScene": "Sora Inpaint Scene",
    "SoraLongVideo": "Sora Long Video",
    "SoraWanLoader": "Sora Wan 2.1 Loader",
    "SoraImageToVideoLatent": "Sora Image To Video (core latent)",
    "SoraExtendVideoLatent": "Sora Extend Video (core latent)",
    "SoraConnectVideosLatent": "Sora Connect Videos (core latent)",
    "SoraLoopVideoLatent": "Sora Loop Video (core latent)",
    "SoraInpaintSceneLatent": "Sora Inpaint Scene (core latent)",
    "SoraTaskPasteBack": "Sora Task Paste Back",
    "SoraWanExpertSwitch": "Sora Wan 2.2 Expert Switch",
    "SoraLongVideoLatent": "Sora Long Video (core model)",
}

serve_inside_comfyui(comfyui_host)  # nodes reach ComfyUI's folders and progress bar through the host
