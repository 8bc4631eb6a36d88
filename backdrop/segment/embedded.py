"""The embedded default segmenter: MediaPipe's selfie segmentation model, offline.

The model (``models/selfie_segmentation.tflite``, about 250 KB, Apache-2.0, from the
``mediapipe==0.10.21`` wheel; see ``models/LICENSE-mediapipe.txt``) ships inside this
package, so segmentation works with no network and no download. It runs on LiteRT
(``ai-edge-litert``), which installs beside numpy 2 on Linux, macOS and Windows; the
mediapipe package itself pins numpy < 2 and pulls in jax and OpenCV-contrib. Its 256x256
output is coarse: :func:`refine_mask` makes the edges.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..io import BackdropError
from . import Segmenter, register
from .refine import refine_mask

__all__ = ["Embedded", "MODEL_PATH"]

MODEL_PATH = Path(__file__).with_name("models") / "selfie_segmentation.tflite"
_LOCK = threading.Lock()  # a LiteRT interpreter is not thread-safe


@lru_cache(maxsize=1)
def _interpreter(path: str):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - a broken install
        raise BackdropError("segmenter 'embedded': the package ai-edge-litert is missing (pip install ai-edge-litert)") from None
    with _native_stderr_silenced():  # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate"
        it = Interpreter(model_path=path, num_threads=2)
        it.allocate_tensors()
    return it


@contextmanager
def _native_stderr_silenced():
    """Point file descriptor 2 at /dev/null for a moment (native libraries print there)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (a notebook kernel, a service)
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@register("embedded")
class Embedded(Segmenter):
    """MediaPipe selfie segmentation (256x256), refined at full resolution against the backdrop."""

    version = "mediapipe-selfie-0.10.21+refine1"

    def coarse(self, image: np.ndarray) -> np.ndarray:
        """The model's own 256x256 subject probability."""
        it = _interpreter(str(MODEL_PATH))
        x = torch.from_numpy(np.ascontiguousarray(image[..., :3], dtype=np.float32)).permute(2, 0, 1)[None]
        small = F.interpolate(x, size=(256, 256), mode="area" if min(x.shape[-2:]) >= 256 else "bilinear")
        inp = small[0].permute(1, 2, 0).contiguous().numpy()[None]
        with _LOCK:
            it.set_tensor(it.get_input_details()[0]["index"], inp)
            it.invoke()
            out = it.get_tensor(it.get_output_details()[0]["index"])[0, :, :, 0].copy()
        return np.clip(out, 0.0, 1.0)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.check(image, refine_mask(image, self.coarse(image)))
