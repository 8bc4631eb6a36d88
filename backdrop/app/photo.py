"""The photo workflow behind the page: upload, subject mask, preview analysis and render, views, status."""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import gradio as gr
import numpy as np
import torch.nn.functional as F
from PIL import Image

from ..errors import BackdropError, TooLarge
from ..io import (
    SUPPORTED_EXTENSIONS,
    printable,
    read_image,
)
from ..ops.compose import hwc_tensor, reduce_source
from ..params import Params
from ..pipeline import analyze, render
from ..segment.cache import quantize as quantize_mask
from ..service import subject_mask
from .session import (
    _ENCODERS,
    MAX_MB,
    MAX_MP,
    OVERLAY_FLOOR,
    OVERLAY_SUBJECT,
    PREVIEW_LONG_EDGE,
    PREVIEW_QUALITY,
    VIEW_NAMES,
    Session,
    on_engine,
)

# ============================================================================ plain functions


def user_message(err: BaseException, *files: tuple[str | Path | None, str]) -> str:
    """One line about a failure, naming files by the names the user knows them by (not the
    server's upload paths)."""
    text = str(err)
    for path, name in files:
        if path:
            text = text.replace(str(path), name)
    return printable(" ".join(text.split()))


def user_error(err: BaseException, *files: tuple[str | Path | None, str]) -> gr.Error:
    """The stateless API's error: the client's call fails with the one-line message."""
    return gr.Error(user_message(err, *files), print_exception=False)


_MARKDOWN = re.compile(r"[\\`*\[\]<>|~_]")


def md(text: str) -> str:
    """Text shown as it is in a Markdown line: a file name with ``*`` or ``[`` stays a name. An
    underscore inside a word is never emphasis and is left alone (the name reads as it is)."""
    def escape(m: re.Match) -> str:
        i, c = m.start(), m.group()
        if c == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
            return c
        return "\\" + c
    return _MARKDOWN.sub(escape, text)


def failed(session: Session, err: BaseException, *files: tuple[str | Path | None, str]) -> str:
    """The status line after a failure: the one-line message, and what the page still shows.
    The page keeps its photo, previews and controls as they were: no red pills to dismiss."""
    still = f" · still showing {md(session.name)}" if session.loaded else ""
    return f"⚠ **{md(user_message(err, *files))}**{still}"


def shrink(a: np.ndarray, long_edge: int = PREVIEW_LONG_EDGE) -> np.ndarray:
    """Area-downscale an (H, W) or (H, W, C) image (uint8, uint16 or float) so its long edge is at
    most ``long_edge``: float32 of the same layout. A big photo is first box-averaged by an integer
    factor a strip at a time, so no full-size float copy is made."""
    a = np.asarray(a)
    h, w = a.shape[:2]
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype, 1.0)
    t = hwc_tensor(a if scale != 1.0 else a.astype(np.float32, copy=False))
    f = max(1, max(h, w) // long_edge)  # down to between one and two times the size asked for
    t = reduce_source(t, f, scale) if f > 1 or scale != 1.0 else t.float()
    s = long_edge / max(t.shape[-2:])
    if s < 1.0:
        t = F.interpolate(t, size=(max(1, round(t.shape[-2] * s)), max(1, round(t.shape[-1] * s))), mode="area")
    out = t[0].permute(1, 2, 0).contiguous().numpy()
    return out[:, :, 0] if a.ndim == 2 else out


def to_rgb8(a: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 1 | 3) -> uint8 (H, W, 3); float in [0, 1] is rounded first."""
    a = np.asarray(a)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a


def overlay(rgb8: np.ndarray, subject: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Tint the subject magenta and the detected floor cyan."""
    a = rgb8.astype(np.float32) / 255.0
    for mask, colour in ((subject, OVERLAY_SUBJECT), (floor, OVERLAY_FLOOR)):
        w = (0.45 * np.clip(mask, 0.0, 1.0))[:, :, None]
        a = a * (1.0 - w) + colour * w
    return (a * 255.0 + 0.5).astype(np.uint8)


def params_from(base: Params, knobs: dict) -> Params:
    """The session's parameters with the page's knobs (name -> the control's value) applied, validated."""
    return base.replace(**knobs)


def describe_photo(name: str, photo) -> str:
    """One line about a photo for the status: name, size, depth, format and what it carries."""
    w, h = photo.size
    extra = [s for s, on in (("ICC profile", photo.icc_profile), ("EXIF", photo.exif),
                             ("alpha", photo.alpha is not None)) if on]
    tail = (", " + ", ".join(extra)) if extra else ""
    return f"**{md(name)}**: {w}×{h}, {photo.bit_depth}-bit {photo.format}{tail}"


def check_upload(path: Path) -> None:
    """A supported type within the app's file-size limit (checked before anything is decoded)."""
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise BackdropError(f"{path}: not a supported image type (use JPEG, PNG, TIFF or WebP)")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise BackdropError(f"{path}: cannot read ({err.strerror})") from None
    if size > MAX_MB * 1e6:
        raise BackdropError(f"{path}: file is {size / 1e6:.0f} MB, over the app's {MAX_MB:g} MB limit")


def over_limit(path: Path, err: TooLarge) -> BackdropError:
    """The pixel limit in the app's words (the header's size, before anything is decoded)."""
    return BackdropError(f"{path}: image is {err.width}×{err.height} ({err.width * err.height / 1e6:.1f} MP), "
                         f"over the app's {MAX_MP:g} MP limit")


def read_upload(path: Path):
    """A photo as the app takes it: a supported type, within the app's limits."""
    check_upload(path)
    try:
        return read_image(path, max_pixels=int(MAX_MP * 1e6))
    except TooLarge as err:
        raise over_limit(path, err) from None


@on_engine
def load_photo(session: Session, path: str | Path, mask_path: str | Path | None,
               params: Params, request: gr.Request | None = None) -> Session:
    """Read an upload, find the subject once (cached by content), make the preview-size copy."""
    path = Path(path)
    name = path.name
    mask_name = Path(mask_path).name if mask_path else ""
    try:
        photo = read_upload(path)
        said: list[str] = []
        mask, used = subject_mask(photo, params, mask=Path(mask_path) if mask_path else None, warnings=said)
    except BackdropError as err:
        raise BackdropError(user_message(err, (mask_path, mask_name), (path, name))) from None
    session.close()
    folder = session.dir(request)
    source = folder / "source" / name
    source.parent.mkdir()
    try:
        os.link(path, source)
    except OSError:
        shutil.copyfile(path, source)
    session.name, session.source, session.size = name, source, photo.size
    session.describe = describe_photo(name, photo)
    session.icc = photo.icc_profile if photo.data.shape[2] == 3 else None
    session.params = params
    set_mask(session, mask, mask_name or used, "" if mask_path else params.segmenter, said)
    session.preview = shrink(photo.data)
    return session


def set_mask(session: Session, mask: np.ndarray, made_by: str, asked: str, said: list[str] | None = None) -> None:
    # a mask file keeps its own 8/16-bit values; a model's float mask is rounded up, like the mask
    # cache: any coverage stays coverage (a pixel part subject keeps its subject's share)
    """Keep a new subject mask in the session (and what made it); the next render analyses again."""
    session.mask_full = mask if mask.dtype == np.uint8 else quantize_mask(mask)
    session.preview_mask = shrink(session.mask_full)
    session.mask_from, session.asked_segmenter = made_by, asked
    session.mask_note = "; ".join(said or [])
    session.analysis = None  # a new subject: the next render analyses again


@on_engine
def render_preview(session: Session, params: Params) -> tuple[float, bool]:
    """The four views of the preview-size copy with ``params``. The photo is analysed again only
    when a setting the analysis depends on changed (feather, floor, contact, segmenter ...); a
    slider move only renders. Returns the seconds it took and whether it analysed."""
    t = time.perf_counter()
    analysed = False
    if session.asked_segmenter and session.asked_segmenter != params.segmenter:
        photo = read_image(session.source, max_pixels=None)  # the user asked for another segmenter
        said: list[str] = []
        mask, used = subject_mask(photo, params, warnings=said)
        set_mask(session, mask, used, params.segmenter, said)
    if session.analysis is None or not session.analysis.fits(params):
        session.analysis = analyze(session.preview, session.preview_mask, params)
        session.views["original"] = to_rgb8(session.preview)
        session.overlays = {"subject": session.preview_mask, "floor": session.analysis.mask("floor").numpy()}
        session.floor_found = session.analysis.floor_info.found
        analysed = True
    result = render(session.analysis, params, bits=8, dither=False)  # a screen preview: rounded, no dither
    session.params = params
    session.views.update({v: to_rgb8(result.view(v)) for v in VIEW_NAMES if v != "original"})
    return time.perf_counter() - t, analysed


def show(session: Session, show_overlay: bool, request: gr.Request | None = None, *,
         original: bool = True) -> list:
    """Write the views as JPEGs into the session's folder; paths for the four image tabs.

    ``original=False`` (a slider move: the Original tab has not changed) leaves the Original's
    picture in the page as it is (``gr.skip()``) and does not send it again."""
    folder = session.dir(request) / "views"
    folder.mkdir(exist_ok=True)
    session.counter += 1
    names = [v for v in VIEW_NAMES if original or v != "original" or v not in session.shown]
    extra = {"icc_profile": session.icc} if session.icc else {}

    def write(v: str) -> Path:
        rgb = session.views[v]
        if show_overlay:
            rgb = overlay(rgb, session.overlays["subject"], session.overlays["floor"])
        p = folder / f"{v}-{session.counter}.jpg"
        Image.fromarray(rgb).save(p, "JPEG", quality=PREVIEW_QUALITY, **extra)
        return p

    # the encoder lets go of the GIL: the views are encoded side by side
    paths = list(_ENCODERS.map(write, names))
    for v, p in zip(names, paths):
        old = session.shown.get(v)
        session.shown[v] = p
        if old is not None:
            old.unlink(missing_ok=True)
    return [str(session.shown[v]) if v in names else gr.skip() for v in VIEW_NAMES]


def status_line(session: Session, seconds: float | None = None) -> str:
    """The status under the views: the photo, what found the subject, the floor, the preview's size and time."""
    h, w = session.preview.shape[:2]
    floor = "floor: found, kept as shot" if session.floor_found else "floor: none"
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    note = f"  \n⚠ {md(session.mask_note)}" if session.mask_note else ""
    return (f"{session.describe}  \nsubject: {session.mask_from} · {floor} · "
            f"preview {w}×{h} updated{took}{note}")
