"""The embedded default segmenter: MediaPipe's selfie segmentation model, offline.

The model (``models/selfie_segmentation.tflite``, about 250 KB, Apache-2.0, from the
``mediapipe==0.10.21`` wheel; see ``models/LICENSE-mediapipe.txt``) ships inside this
package, so segmentation works with no network and no download. It runs on LiteRT
(``ai-edge-litert``), which installs beside numpy 2 on Linux, macOS and Windows; the
mediapipe package itself pins numpy < 2 and pulls in jax and OpenCV-contrib. Its 256x256
output is coarse: :func:`refine_mask` makes the edges.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BackdropError
from ..ops.filters import WORK_LONG_EDGE, reduce_by, work_factor
from . import Segmenter, register
from .refine import __file__ as refine_file
from .refine import refine_mask

__all__ = ["Embedded", "MODEL_PATH"]

MODEL_PATH = Path(__file__).with_name("models") / "selfie_segmentation.tflite"
_LOCK = threading.Lock()  # a LiteRT interpreter is not thread-safe
CROP_ASPECTS = (0.75, 0.5)  # second-pass crops around the subject: width at least this share of the height
CROP_GROW = (0.15, 0.3)  # a crop is the subject's box grown by these shares of its height and width
CROP_MIN = 0.25  # a crop's height at least this share of the frame's short edge


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


def _crop(x: torch.Tensor, y0: int, x0: int, ch: int, cw: int) -> torch.Tensor:
    """x[..., y0:y0+ch, x0:x0+cw], the frame's edge rows and columns repeated where it runs off."""
    h, w = x.shape[-2:]
    rows = torch.arange(y0, y0 + ch).clamp(0, h - 1)
    cols = torch.arange(x0, x0 + cw).clamp(0, w - 1)
    return x[:, :, rows][:, :, :, cols]


@register("embedded")
class Embedded(Segmenter):
    """MediaPipe selfie segmentation (256x256), refined at full resolution against the backdrop."""

    # the mask cache is keyed by this: any change to the model or to the code that makes the
    # mask (this file, the refinement) is a new version, so a stale mask is never served
    version = "mediapipe-selfie-0.10.21+" + hashlib.blake2b(
        b"".join(p.read_bytes() for p in (MODEL_PATH, Path(__file__), Path(refine_file))), digest_size=6
    ).hexdigest()

    def coarse(self, image: np.ndarray) -> np.ndarray:
        """The model's subject probability, at the image's size up to WORK_LONG_EDGE.

        The model sees a 256x256 squash of whatever it is given, so a full-length figure in
        a wide frame gets a few model pixels per arm. It runs once on the whole frame to find
        the subject, then again on crops around the subject: a tall crop and a narrower one,
        each also mirrored, averaged. The zoom opens the gaps between the arms and the body
        and between the legs, which the whole-frame pass fills in.
        """
        x = torch.from_numpy(np.ascontiguousarray(image[..., :3], dtype=np.float32)).permute(2, 0, 1)[None]
        x = reduce_by(x, work_factor(*x.shape[-2:], WORK_LONG_EDGE))
        h, w = x.shape[-2:]
        p = self._model(x)
        ys, xs = np.nonzero(p > 0.5)
        if ys.size == 0:
            return p
        bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
        acc = np.zeros((h, w), np.float32)
        n = np.zeros((h, w), np.float32)
        for aspect in CROP_ASPECTS:
            ch = max(int(bh * (1 + CROP_GROW[0])), int(CROP_MIN * min(h, w)))
            cw = max(int(bw * (1 + CROP_GROW[1])), int(ch * aspect))
            ch = max(ch, cw)  # never wider than tall: a wide subject gets a square
            y0, x0 = int(round(cy - ch / 2)), int(round(cx - cw / 2))
            crop = _crop(x, y0, x0, ch, cw)
            q = (self._model(crop) + self._model(crop.flip(-1))[:, ::-1]) / 2
            # paste the part of the crop that lies in the frame
            r0, r1, c0, c1 = max(y0, 0), min(y0 + ch, h), max(x0, 0), min(x0 + cw, w)
            acc[r0:r1, c0:c1] += q[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
            n[r0:r1, c0:c1] += 1
        return np.where(n > 0, acc / np.maximum(n, 1), p)

    def _model(self, x: torch.Tensor) -> np.ndarray:
        """One pass of the model over x (1, 3, h, w): its probability at h x w."""
        it = _interpreter(str(MODEL_PATH))
        small = F.interpolate(x, size=(256, 256), mode="area" if min(x.shape[-2:]) >= 256 else "bilinear")
        inp = small[0].permute(1, 2, 0).contiguous().numpy()[None]
        with _LOCK:
            it.set_tensor(it.get_input_details()[0]["index"], inp)
            it.invoke()
            out = it.get_tensor(it.get_output_details()[0]["index"])[0, :, :, 0].copy()
        out = F.interpolate(torch.from_numpy(out)[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)
        return np.clip(out[0, 0].numpy(), 0.0, 1.0)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.check(image, refine_mask(image, self.coarse(image)))
