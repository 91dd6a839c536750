"""Stand-in for spandrel (ComfyUI's upscale-model loader), on PYTHONPATH only for the test server.

The real wheel requires torchvision, which replaces the CPU torch with a CUDA build. Without any
spandrel, ComfyUI drops its UpscaleModelLoader node, and frontend 1.27.10 then fails to build
every combo named ckpt_name / lora_name / vae_name: its model-to-node table looks that node up
unconditionally. With this stub the node registers; loading an upscale model raises.
"""


class ImageModelDescriptor:
    pass


class ModelLoader:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("spandrel is not installed: this is the test stub (tests/comfyui_stub)")
