"""Subject segmentation: small backends behind a registry keyed by name.

A :class:`Segmenter` takes an image (float32 HxWx3 in [0, 1]) and returns the
subject coverage (float32 HxW in [0, 1], 1 = subject). ``get_segmenter(name)``
gives a backend by name; an unknown name is a clear error.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import BackdropError
from ..io import read_mask

__all__ = ["Segmenter", "MaskFile", "register", "get_segmenter", "available", "segment"]

_REGISTRY: dict[str, Callable[..., "Segmenter"]] = {}

# what every backend's mask is tidied to, as shares of the frame
MIN_ISLAND = 0.002  # subject parts smaller than this are dropped (a dark scuff the model took for subject)
MIN_HOLE = 0.0001  # holes in the subject smaller than this are filled (a highlight on a dark jacket)


class Segmenter(ABC):
    """Image in, float mask out."""

    name: str = "segmenter"
    version: str = "1"

    def __init__(self, *, device: str = "auto", size: int | None = None):
        """device: where a backend that runs a torch model runs it ("auto": CUDA, else MPS,
        else CPU); the embedded model always runs on the CPU. size: the model's input size where
        it has one to choose (BiRefNet's ``birefnet_size``); None: its own."""
        self.device_name = device
        self.size = size

    @abstractmethod
    def __call__(self, image: np.ndarray) -> np.ndarray:
        """image: float32 HxWx3 in [0, 1] -> float32 HxW in [0, 1] (1 = subject)."""

    def check(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Validate a backend's output against its image: float32 in [0, 1], or a uint8 /
        uint16 mask at full scale (a mask file's own values), kept as it is."""
        if mask.shape != image.shape[:2]:
            raise BackdropError(
                f"segmenter '{self.name}': mask size {mask.shape[1]}x{mask.shape[0]} "
                f"does not match the image {image.shape[1]}x{image.shape[0]}"
            )
        if mask.dtype in (np.uint8, np.uint16):
            return mask
        return np.clip(mask.astype(np.float32, copy=False), 0.0, 1.0)


def register(name: str):
    """Class decorator: make a backend available as ``get_segmenter(name)``."""

    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


# the backends that ship with the package, by the module that registers each: imported on first
# use, so a run with a mask file never loads a model's code (nor scipy and OpenCV with it)
_BUILTIN = {"embedded": "embedded", "birefnet": "birefnet"}


def _load(name: str) -> None:
    if name in _BUILTIN and name not in _REGISTRY:
        importlib.import_module(f"{__name__}.{_BUILTIN[name]}")


def available() -> list[str]:
    """The names of the segmenters (the shipped backends loaded to register them)."""
    for name in _BUILTIN:
        _load(name)
    return sorted(_REGISTRY)


def get_segmenter(name: str, **options) -> Segmenter:
    """The backend ``name`` made with ``options``; an unknown name is one line listing the known ones."""
    _load(name)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise BackdropError(f"segmenter '{name}' is unknown (available: {', '.join(available())})") from None
    return factory(**options)


@register("mask")
class MaskFile(Segmenter):
    """A subject mask the user made (white = subject), read from an image file of the same size."""

    def __init__(self, path: str | Path, *, device: str = "auto"):
        super().__init__(device=device)
        self.path = Path(path)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        return self.check(image, read_mask(self.path, size=(w, h)))


def segment(image: np.ndarray, name: str = "auto", *, use_cache: bool = True,
            device: str = "auto", warnings: list[str] | None = None, size: int | None = None) -> tuple[np.ndarray, str]:
    """Subject mask of ``image`` (float32 HxWx3) by the backend ``name``, through the mask cache.

    ``auto`` picks the best backend available here; ``device`` is where a torch model runs
    (the ``device`` parameter), ``size`` BiRefNet's input size (``birefnet_size``; None: its own).
    When the model ``auto`` picked fails to load or run, the embedded
    model makes the mask and one line goes into ``warnings``. Returns the mask (float32 HxW) and
    the name of the backend that made it.
    """
    seg = get_segmenter(name, device=device, size=size)
    if not isinstance(seg, Auto):
        return _through_cache(seg, image, use_cache, warnings)
    picked = seg.pick()
    try:
        return _through_cache(picked, image, use_cache, warnings)
    except BackdropError as err:
        if picked.name == "embedded":
            raise
        if warnings is not None:
            warnings.append(f"{err}; the embedded segmenter made this mask instead")
        return _through_cache(get_segmenter("embedded"), image, use_cache)


_SLOW_SAID: set[str] = set()  # the slow backends this process has already timed for the user


def _through_cache(seg: "Segmenter", image: np.ndarray, use_cache: bool,
                   warnings: list[str] | None = None) -> tuple[np.ndarray, str]:
    import time

    from . import cache

    k = cache.key(image, seg.name, seg.version) if use_cache else None
    mask = cache.load(k) if k else None
    if mask is None or mask.shape != image.shape[:2]:
        t = time.perf_counter()
        mask = cache.as_stored(seg(image))
        seconds = time.perf_counter() - t
        slow = getattr(seg, "fast_here", None)
        if slow is not None and not slow() and seg.name not in _SLOW_SAID and warnings is not None:
            _SLOW_SAID.add(seg.name)  # asked for by name on a CPU: say once what each photo will cost
            warnings.append(f"segmenter '{seg.name}' runs on the CPU here: {seconds:.0f} s for this photo's "
                            "mask, about as long for every photo (the embedded segmenter takes under a "
                            "second: segmenter auto; or run on a GPU)")
        if k:
            cache.store(k, mask)
    return mask, seg.name


@register("auto")
class Auto(Segmenter):
    """The best backend available here: BiRefNet where its weights are on this machine, it can
    run and it is fast (a GPU), else the embedded model. ``size`` goes to BiRefNet."""

    def pick(self) -> Segmenter:
        """BiRefNet when its weights are local (``$BACKDROP_BIREFNET`` or the Hugging Face
        cache), its packages import, it has not failed in this process and there is a GPU to run
        it on (on a CPU it takes tens of seconds a photo, the embedded model under one); else the
        embedded model. Never downloads, never loads a model to decide."""
        birefnet = get_segmenter("birefnet", device=self.device_name, size=self.size)
        if birefnet.can_run() and birefnet.fast_here():
            return birefnet
        return get_segmenter("embedded")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.pick()(image)
