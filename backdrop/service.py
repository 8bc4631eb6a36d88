"""One photo, end to end: read -> subject mask -> analyse -> render -> write, and its figures.

Every front end calls this for a full-resolution file: ``backdrop clean``, each photo of
``backdrop batch`` (and its notebook), the app's download and its ``/clean`` API. It keeps
the memory low (the decoded 8/16-bit buffer is never copied to float; the output is written
from integers rounded and dithered a region at a time) and moves a photo to the CPU when the
GPU runs out of memory, with a one-line warning.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import BackdropError, is_out_of_memory
from .io import Photo, bits_for, read_image, write_image
from .params import Params
from .segment import MaskFile, segment

if TYPE_CHECKING:
    from .pipeline import Result

# The engine (torch) is imported where it is used: a batch's parent process with --jobs N shows
# its progress at once and leaves torch to the workers.

__all__ = ["FileResult", "Opened", "Developed", "clean_file", "open_photo", "develop", "save", "clean_photo",
           "measure_photo", "measure_file",
           "subject_mask", "mask_for", "MAX_PIXELS", "MASK_SUFFIX", "MASK_EXTENSIONS", "release_memory"]

MAX_PIXELS = 200_000_000  # images with more pixels are refused (decompression bombs)
MASK_SUFFIX = "_mask"
MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")


@dataclass
class FileResult:
    """What became of one photo: a row of the batch's table."""

    source: Path
    output: Path
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    error: str = ""
    size: tuple[int, int] | None = None  # (width, height)
    segmenter: str = ""
    # backdrop luminance spread (2nd-98th percentile) and defect score (mean departure from the
    # clean-backdrop model), before and after, in levels of 255 (see backdrop.metrics.backdrop_stats)
    spread_before: float | None = None
    spread_after: float | None = None
    defects_before: float | None = None
    defects_after: float | None = None
    level_before: float | None = None  # the wall's level (median luminance, of 255), before and after
    level_after: float | None = None
    warning: str = ""  # one line, e.g. the GPU ran out of memory and the CPU did the image


def mask_for(image_path: Path, masks_dir: Path | None = None) -> Path | None:
    """The user's subject mask for a photo: ``NAME_mask.png`` (or .tif, .jpg, .webp) in
    ``masks_dir``, else beside the photo; None when there is none."""
    for folder in ([masks_dir] if masks_dir else []) + [image_path.parent]:
        for ext in MASK_EXTENSIONS:
            cand = folder / f"{image_path.stem}{MASK_SUFFIX}{ext}"
            if cand.is_file():
                return cand
    return None


def _free_gpu_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        mps.empty_cache()


def _rgb(photo_or_pixels) -> np.ndarray:
    """float32 HxWx3 for a segmenter (a grey photo repeated)."""
    px = photo_or_pixels.pixels if isinstance(photo_or_pixels, Photo) else np.asarray(photo_or_pixels)
    if px.dtype != np.float32:
        px = px.astype(np.float32) / np.float32(255.0 if px.dtype == np.uint8 else 65535.0) \
            if px.dtype in (np.uint8, np.uint16) else px.astype(np.float32)
    return px if px.shape[2] == 3 else np.repeat(px[:, :, :1], 3, axis=2)


def subject_mask(photo: Photo | np.ndarray, params: Params, *, mask: Path | None = None,
                 source: Path | None = None, warnings: list[str] | None = None):
    """The subject mask for a photo: the user's mask file when there is one (``mask``, else
    ``NAME_mask.png`` beside ``source``), else the segmenter of ``params`` (cached), on the
    device of ``params``. When a model runs out of GPU memory, it segments on the CPU instead
    and a line goes into ``warnings``.

    ``photo``: a :class:`Photo` or its pixels (HxWxC). Returns (mask, name of what made it); a
    mask file's mask keeps the file's own uint8 / uint16 values.
    """
    if mask is None and source is not None:
        mask = mask_for(source)
    if mask is not None:
        seg = MaskFile(mask)
        data = photo.data if isinstance(photo, Photo) else np.asarray(photo)
        return seg(data), seg.name
    rgb = _rgb(photo)
    name = source or "the photo"
    try:
        return segment(rgb, params.segmenter, device=params.device, warnings=warnings, size=params.birefnet_size)
    except RuntimeError as err:
        if not is_out_of_memory(err):
            raise
        if params.device == "cpu":
            raise BackdropError(f"{name}: out of memory") from None
    _free_gpu_memory()  # outside the except block: its traceback holds GPU tensors
    if warnings is not None:
        warnings.append(f"{name}: the GPU ran out of memory segmenting it; segmented on the CPU instead")
    try:
        return segment(rgb, params.segmenter, device="cpu", warnings=warnings, size=params.birefnet_size)
    except RuntimeError as err:
        if not is_out_of_memory(err):
            raise
        raise BackdropError(f"{name}: out of memory on the GPU and on the CPU") from None


def clean_photo(photo: Photo, subject, params: Params, *, bits: int | None = 8, name: str | os.PathLike | None = None,
                warnings: list[str] | None = None, spend: bool = False) -> Result:
    """Analyse and render the preview of a decoded photo at full resolution, with the GPU's
    out-of-memory fallback: the photo is done on the CPU instead, with a line in ``warnings``.

    ``bits``: the integer depth of the preview (what the file needs), or None for float.
    ``spend``: the caller lets go of ``photo`` after: on the CPU the preview is rendered into its
    decoded buffer (where that is writable and of the preview's depth), which then holds the
    preview: no second frame in memory (72 MB at 24 MP) and no copy of it.
    """
    from .pipeline import analyze, render

    def run(p: Params) -> Result:
        analysis = analyze(photo.data, subject, p)
        release_memory()  # the analysis' scratch, before the output buffer is made
        into = None
        if spend and analysis.device.type == "cpu" and _renders_into(photo.data, bits):
            into = photo.data  # (on a GPU the first try may run out of memory, and the CPU's reads it again)
        return render(analysis, views=("preview",), bits=bits, into=into)

    return _on_device(run, params, name or photo.path or "the photo", warnings, "cleaned")


def _renders_into(data: np.ndarray, bits: int | None) -> bool:
    """Whether a preview of ``bits`` can be rendered into the decoded buffer ``data``."""
    depth = {8: np.uint8, 16: np.uint16}.get(bits)
    return (depth is not None and data.dtype == depth and data.ndim == 3 and data.flags.writeable
            and data.flags.c_contiguous)


def measure_photo(photo: Photo, subject, params: Params, *, name: str | os.PathLike | None = None,
                  warnings: list[str] | None = None) -> float | None:
    """The level of a photo's wall once cleaned with ``params`` (before any tone; see
    :func:`backdrop.pipeline.wall_level`): what ``tone: match`` measures of each photo of a set.
    None when the photo has no wall to measure."""
    from .pipeline import analyze, wall_level

    return _on_device(lambda p: wall_level(analyze(photo.data, subject, p)), params,
                      name or photo.path or "the photo", warnings, "measured")


def _on_device(run, params: Params, name, warnings: list[str] | None, done: str):
    """``run(params)``, and when the GPU runs out of memory, ``run`` on the CPU, with a line in
    ``warnings``."""
    try:
        return run(params)
    except RuntimeError as err:
        if not is_out_of_memory(err):
            raise
        if params.device == "cpu":
            raise BackdropError(f"{name}: out of memory") from None
    _free_gpu_memory()  # retried outside the except block (its traceback holds GPU tensors)
    if warnings is not None:
        warnings.append(f"{name}: the GPU ran out of memory; {done} on the CPU instead")
    try:
        return run(params.replace(device="cpu"))
    except RuntimeError as err:
        if not is_out_of_memory(err):
            raise
        raise BackdropError(f"{name}: out of memory on the GPU and on the CPU") from None


@dataclass
class Opened:
    """A photo read from its file, with the user's mask file when there is one (no model has run)."""

    source: Path
    photo: Photo
    mask: np.ndarray | None  # from a mask file; None: the segmenter makes it
    mask_name: str
    seconds: float


@dataclass
class Developed:
    """A cleaned photo ready to encode: its pixels at the file's depth and the file's metadata."""

    source: Path
    like: Photo  # the original's metadata, with the cleaned pixels as its data
    used: str
    warnings: list[str]
    stats: dict
    seconds: float


def open_photo(source: Path, params: Params, *, mask: Path | None = None, max_pixels: int = MAX_PIXELS) -> Opened:
    """Read a photo and its mask file (``mask``, else ``NAME_mask.png`` beside it): decoding only,
    no torch (a batch does this for the next photo while the engine cleans the current one)."""
    t = time.perf_counter()
    source = Path(source)
    photo = read_image(source, max_pixels=max_pixels)
    mask = mask or mask_for(source)
    m = MaskFile(mask)(photo.data) if mask is not None else None
    return Opened(source, photo, m, mask.name if mask is not None else "", time.perf_counter() - t)


def develop(opened: Opened, output: Path, params: Params) -> Developed:
    """Segment (when there was no mask file), analyse, render and measure an opened photo. The
    decoded buffer is let go: the result holds only what encoding needs."""
    t = time.perf_counter()
    photo, warnings = opened.photo, []
    subject, used = _subject(opened, params, warnings)
    if params.tone == "match":  # a batch resolves it to its set's level; a photo alone is its own set
        params = params.replace(tone="keep")
        warnings.append(f"{opened.source}: tone: match sets every photo of a batch to the set's level; "
                        f"on its own a photo keeps its level (give a number, or run backdrop batch)")
    result = clean_photo(photo, subject, params, bits=bits_for(output, photo), name=opened.source, warnings=warnings,
                         spend=True)
    like = dataclasses.replace(photo, data=result.preview)
    # the decoded buffer and the mask go before the figures are measured (they read the working maps
    # and the output only), and the analysis before encoding
    result = dataclasses.replace(result, analysis=dataclasses.replace(result.analysis, source=None, alpha=None))
    opened.photo = opened.mask = None
    del photo, subject
    from .metrics import backdrop_stats

    stats = backdrop_stats(result)
    del result
    release_memory()
    return Developed(opened.source, like, used, warnings, stats, opened.seconds + time.perf_counter() - t)


def _subject(opened: Opened, params: Params, warnings: list[str]):
    """The opened photo's subject mask (its mask file's, else the segmenter's) and what made it."""
    if opened.mask is not None:
        return opened.mask, "mask"
    return subject_mask(opened.photo, params, source=opened.source, warnings=warnings)


def measure_file(source: Path, params: Params, *, mask: Path | None = None,
                 max_pixels: int = MAX_PIXELS) -> float | None:
    """The level of a file's wall once cleaned with ``params`` (:func:`measure_photo`); nothing
    is written. Raises BackdropError for a file that cannot be read."""
    opened = open_photo(source, params, mask=mask, max_pixels=max_pixels)
    subject, _ = _subject(opened, params, [])
    return measure_photo(opened.photo, subject, params, name=source)


def save(developed: Developed, output: Path, params: Params) -> FileResult:
    """Encode and write a developed photo atomically; its row."""
    t = time.perf_counter()
    d = developed
    write_image(output, d.like.data, like=d.like, quality=params.jpeg_quality)
    return FileResult(d.source, Path(output), "done", d.seconds + time.perf_counter() - t, size=d.like.size,
                      segmenter=d.used, warning="; ".join(d.warnings), **d.stats)


def clean_file(source: Path, output: Path, params: Params, *, mask: Path | None = None,
               max_pixels: int = MAX_PIXELS) -> FileResult:
    """Clean one file and write the result atomically. Raises BackdropError for user errors.

    The subject comes from ``mask`` (a file), else ``NAME_mask.png`` beside the photo, else
    the segmenter named in ``params``. When the GPU runs out of memory, the image is segmented
    or cleaned on the CPU and the returned row carries a one-line ``warning``."""
    output = Path(output)
    opened = open_photo(source, params, mask=mask, max_pixels=max_pixels)
    return save(develop(opened, output, params), output, params)


def release_memory() -> None:
    """Give the C heap's free memory back to the system (glibc's ``malloc_trim``): the engine's
    scratch at working resolution would otherwise stay in the process's resident set while the
    full-resolution buffers are made. A no-op where there is no glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
