"""Small ComfyUI-style (V1) node classes for the workflow and runner tests.

Every node that executes appends its class name to RAN, so a test can prove that a rejected
workflow ran nothing. They are injected as the node mapping instead of the real Sora nodes.
"""

import json

from sora_nodes.errors import SoraError
from sora_nodes.graph.host import current_host

RAN: list[str] = []


class Number:
    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("INT", {"default": 1, "min": 0, "max": 100}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**32 - 1, "control_after_generate": True}),
                "scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0}),
                "negate": ("BOOLEAN", {"default": False}),
                "mode": (["add", "mul"], {}),
            }
        }

    def make(self, value, seed, scale, negate, mode):
        RAN.append("Number")
        x = value * scale + seed if mode == "add" else value * scale * seed
        return (-x if negate else x,)


class Text:
    RETURN_TYPES = ("STRING",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True})}, "optional": {"suffix": ("STRING", {})}}

    def make(self, text, suffix=""):
        RAN.append("Text")
        return (text + suffix,)


class Add:
    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "add"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"a": ("NUMBER",), "b": ("NUMBER",)},
            "optional": {"label": ("STRING", {"forceInput": True})},
        }

    def add(self, a, b, label=""):
        RAN.append("Add")
        return {"result": (a + b,)}  # the dict form of a return value


class Choose:
    """A combo input, which may also be fed by a linked STRING."""

    RETURN_TYPES = ("STRING",)
    FUNCTION = "choose"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mode": (["add", "mul"], {})}}

    def choose(self, mode):
        RAN.append("Choose")
        return (mode,)


class Even:
    """VALIDATE_INPUTS names `width`, so the server skips width's min/max and leaves the check to it."""

    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "make"
    SEEN: list[dict] = []

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"width": ("INT", {"default": 8, "min": 0, "max": 64}), "height": ("NUMBER",)},
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, width, height, unique_id):
        cls.SEEN.append({"width": width, "height": height, "unique_id": unique_id})
        return True if width % 2 == 0 else f"width must be even, got {width}"

    def make(self, width, height, unique_id):
        RAN.append("Even")
        return (width,)


class Anything:
    RETURN_TYPES = ("*",)
    FUNCTION = "passthrough"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("*",)}}

    def passthrough(self, x):
        RAN.append("Anything")
        return (x,)


class Loader:
    """A media combo with an upload button, and an optional widget after it."""

    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"video": (["a.mp4", "b.mp4"], {"video_upload": True})},
            "optional": {"start": ("INT", {"default": 0, "min": 0})},
        }

    def load(self, video, start=0):
        RAN.append("Loader")
        return (len(video) + start,)


class Save:
    """An output node: writes what it got (and its hidden inputs) as JSON in the host's output folder."""

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "save"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"number": ("NUMBER",), "prefix": ("STRING", {"default": "out"})},
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"},
        }

    def save(self, number, prefix, prompt, extra_pnginfo, unique_id):
        RAN.append("Save")
        folder = current_host().output_dir() / "saved"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{prefix}_{unique_id}.json"
        record = {"number": number, "prompt": prompt, "extra_pnginfo": extra_pnginfo, "unique_id": unique_id}
        (folder / name).write_text(json.dumps(record))
        return {"ui": {"images": [{"filename": name, "subfolder": "saved", "type": "output"}], "animated": [True]}}


class Boom:
    """Fails in one of three ways: a crash, a SoraError with a hint, or a cancel through the host."""

    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "explode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"number": ("NUMBER",), "how": (["crash", "refuse", "cancel"], {})}}

    def explode(self, number, how):
        RAN.append("Boom")
        if how == "refuse":
            raise SoraError("the number is too large; pick a smaller one")
        if how == "cancel":
            current_host().interrupt()
            current_host().check_interrupted()
        raise RuntimeError("boom")


MAPPING = {cls.__name__: cls for cls in (Number, Text, Add, Choose, Even, Anything, Loader, Save, Boom)}
