"""Clean Backdrop in the browser: a Gradio page over the engine in ``backdrop/``.

Upload a studio portrait, dial the shadow lift and texture smoothing by eye on a
preview-size copy (segmentation runs once per upload), then download the cleaned
photo at full resolution with its format, bit depth, ICC profile and EXIF.

    python app_gradio.py                      # http://127.0.0.1:7860
    python app_gradio.py --share              # also ask Gradio for a public link
    python app_gradio.py --host 0.0.0.0 --port 8080

``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` work as in any Gradio app,
``BACKDROP_SHARE=1`` is the same as ``--share``. Analytics are off unless
``GRADIO_ANALYTICS_ENABLED`` says otherwise. Uploads are limited to
``BACKDROP_APP_MAX_MB`` megabytes (default 200) and ``BACKDROP_APP_MAX_MP``
megapixels (default 100).

Everything a user uploads or sets lives in their session (``gr.State``), never in
module globals: two people on one shared link never see each other's photos or
settings. A session's files sit in a folder of its own inside Gradio's cache,
removed when the page is closed or the session expires.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import functools  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass, field, fields  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from backdrop import Analysis, BackdropError, Params, analyze, read_image, render  # noqa: E402
from backdrop.ops.compose import hwc_tensor, reduce_source  # noqa: E402
from backdrop.errors import TooLarge  # noqa: E402
from backdrop.io import SUPPORTED_EXTENSIONS, bits_for, output_path_for, printable, write_image  # noqa: E402
from backdrop.params import KNOB  # noqa: E402
from backdrop.segment.cache import quantize as quantize_mask  # noqa: E402
from backdrop.service import clean_file, clean_photo, subject_mask  # noqa: E402

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "samples"
PREVIEW_LONG_EDGE = 1500  # the sliders work on a copy this size (long edge, pixels)
MAX_MB = float(os.environ.get("BACKDROP_APP_MAX_MB", "200"))  # upload size limit, megabytes
MAX_MP = float(os.environ.get("BACKDROP_APP_MAX_MP", "100"))  # image size limit, megapixels
SESSION_TTL = 2 * 3600  # a session idle this long (seconds) is dropped with its files
PREVIEW_QUALITY = 92  # JPEG quality of the preview images shown in the page
FILE_TYPES = sorted(SUPPORTED_EXTENSIONS)
VIEW_NAMES = ("original", "shadows", "texture", "preview")
OVERLAY_SUBJECT = np.array([1.0, 0.15, 0.65], np.float32)  # magenta: the protected subject
OVERLAY_FLOOR = np.array([0.0, 0.75, 1.0], np.float32)  # cyan: the floor, kept as shot


# ============================================================================ session state


@dataclass(eq=False)
class Session:
    """One visitor's photo and settings (kept in ``gr.State``)."""

    params: Params = field(default_factory=Params)
    folder: Path | None = None  # this session's files (inside Gradio's cache)
    name: str = ""  # the uploaded file's name
    source: Path | None = None  # our copy of the upload (re-read for the full-resolution file)
    size: tuple[int, int] = (0, 0)  # (width, height) of the photo
    describe: str = ""  # one line about the photo for the status
    icc: bytes | None = None  # for colour-managed previews
    mask_full: np.ndarray | None = None  # uint8 / uint16 (H, W) subject coverage, full scale = subject
    mask_from: str = ""  # a mask file's name, or the segmenter that made the mask
    mask_note: str = ""  # what the segmenter said of it (a slow model on the CPU, a fallback)
    asked_segmenter: str = ""  # the segmenter parameter that mask answered ("" for a mask file)
    preview: np.ndarray | None = None  # float32 (h, w, C) preview-size copy of the photo
    preview_mask: np.ndarray | None = None  # float32 (h, w)
    analysis: Analysis | None = None  # of the preview copy: a slider move only renders it again
    views: dict[str, np.ndarray] = field(default_factory=dict)  # uint8 (h, w, 3) last views
    overlays: dict[str, np.ndarray] = field(default_factory=dict)  # float32 (h, w) subject, floor
    floor_found: bool = False
    shown: dict[str, Path] = field(default_factory=dict)  # view -> its preview file now shown in the page
    counter: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # one event at a time

    def __deepcopy__(self, memo):  # gr.State copies its initial value; a lock is made anew
        values = {f.name: copy.deepcopy(getattr(self, f.name), memo) for f in fields(self) if f.name != "lock"}
        return Session(**values)

    @property
    def loaded(self) -> bool:
        return self.preview is not None

    def dir(self, request: gr.Request | None = None) -> Path:
        """This session's folder, made on first use, and marked as in use: the idle sweep goes by
        its modification time, which a slider move would otherwise never touch."""
        if self.folder is None or not self.folder.is_dir():
            root = session_root()
            root.mkdir(parents=True, exist_ok=True)
            tag = _safe_tag(getattr(request, "session_hash", None) or "anon")
            self.folder = Path(tempfile.mkdtemp(prefix=f"session-{tag}-", dir=root))
        else:
            with contextlib.suppress(OSError):
                os.utime(self.folder)
        return self.folder

    def close(self) -> None:
        """Forget the photo and remove the session's files."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
        self.preview = self.preview_mask = self.mask_full = self.analysis = None
        self.views, self.overlays, self.shown = {}, {}, {}


_ENCODERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="preview-jpeg")
# All engine work runs on one thread. Gradio runs each handler on whichever worker thread is free,
# and every thread that calls torch gets an OpenMP team of its own: several teams spin against each
# other, and a slider move took twice as long as on one thread (0.16 s against 0.07 s).
_ENGINE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")


def on_engine(fn):
    """Run ``fn`` on the engine thread (directly when already there)."""

    @functools.wraps(fn)
    def inner(*args, **kwargs):
        if threading.current_thread().name.startswith("engine"):
            return fn(*args, **kwargs)
        return _ENGINE.submit(fn, *args, **kwargs).result()

    return inner


def new_session() -> Session:
    return Session()


def drop_session(session: Session | None) -> None:
    """``gr.State`` delete callback: the session expired or its page was closed."""
    if isinstance(session, Session):
        session.close()


def session_root() -> Path:
    """Where sessions keep their files: a folder inside Gradio's cache, so the previews and
    downloads are served as they are, without another copy."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()) / "clean-backdrop"


def _safe_tag(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "", str(text))[:40] or "anon"


def _sweep(prefix: str, older_than: float) -> None:
    """Remove folders of ``session_root()`` named ``prefix*`` not touched for ``older_than`` s."""
    root = session_root()
    if not root.is_dir():
        return
    now = time.time()
    for p in root.glob(f"{prefix}*"):
        try:
            if now - p.stat().st_mtime > older_than:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


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


def params_from(base: Params, lift, texture, grain, feather, floor, contact, segmenter) -> Params:
    """The session's parameters with the knobs on the page applied (validated)."""
    try:
        return base.replace(
            lift=float(lift), texture=float(texture), grain=float(grain), feather=float(feather),
            floor=floor, protect_contact_shadows=bool(contact), segmenter=segmenter,
        )
    except (TypeError, ValueError) as err:
        raise BackdropError(f"parameters: {err}") from None


def describe_photo(name: str, photo) -> str:
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
    # cache: any coverage stays coverage (those pixels never change)
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
    h, w = session.preview.shape[:2]
    floor = "floor: found, kept as shot" if session.floor_found else "floor: none"
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    note = f"  \n⚠ {md(session.mask_note)}" if session.mask_note else ""
    return (f"{session.describe}  \nsubject: {session.mask_from} · {floor} · "
            f"preview {w}×{h} updated{took}{note}")


# ============================================================================ event handlers


def _per_session(fn):
    """Run a handler with its session locked: a slider release and an overlay click of the
    same page never change one session's files at the same time (other sessions go on)."""

    @functools.wraps(fn)
    def inner(session, *args, **kwargs):
        with session.lock if isinstance(session, Session) else contextlib.nullcontext():
            return fn(session, *args, **kwargs)

    return inner


_EMPTY = [None] * 4
_KEEP = [gr.skip()] * 4  # the four views as the page shows them
WELCOME = "Upload a photo (JPEG, PNG, TIFF or WebP)."

# A handler never raises for a user's mistake (a bad photo, mask or preset): Gradio would mark every
# output with a red "Error" pill to dismiss one by one and, for an upload, wipe the previews. It
# answers with the message on the status line, keeps the page's photo, previews and controls, and
# empties the drop box that held the bad file so the next one can be dropped at once.


@_per_session
def on_upload(session: Session, photo_file, lift, texture, grain, feather, floor, contact,
              segmenter, show_overlay, request: gr.Request):
    """A photo was uploaded: the subject comes from the segmenter. Four views, the status, the
    mask box (emptied: the new photo's subject is the segmenter's) and the photo box."""
    out = _load(session, photo_file, None, (lift, texture, grain, feather, floor, contact, segmenter),
                show_overlay, request)
    ok = out[4] is not None and not out[4].startswith("⚠")
    return out + ([None, gr.skip()] if ok else [gr.skip(), None])


@_per_session
def on_example(session: Session, photo_file, mask_file, lift, texture, grain, feather, floor,
               contact, segmenter, show_overlay, request: gr.Request):
    """A bundled sample was picked: it comes with its subject mask."""
    return _load(session, photo_file, mask_file, (lift, texture, grain, feather, floor, contact, segmenter),
                 show_overlay, request)


def _load(session, photo_file, mask_file, knobs, show_overlay, request):
    if session is None:
        session = new_session()
    if not photo_file:
        session.close()
        return _EMPTY + [WELCOME, session]
    _sweep("session-", older_than=SESSION_TTL)  # folders a stopped server left behind
    try:
        params = params_from(session.params, *knobs)
        load_photo(session, photo_file, mask_file, params, request)
        seconds, _ = render_preview(session, params)
    except BackdropError as err:
        return _KEEP + [failed(session, err, (photo_file, Path(photo_file).name)), session]
    return show(session, show_overlay, request) + [status_line(session, seconds), session]


@_per_session
def on_mask(session: Session, mask_file, lift, texture, grain, feather, floor, contact, segmenter,
            show_overlay, request: gr.Request):
    """A subject mask file was given (or removed: back to the segmenter)."""
    session = session or new_session()
    mp = Path(mask_file) if mask_file else None
    try:
        if not session.loaded:
            raise BackdropError("Upload a photo first, then its subject mask.")
        params = params_from(session.params, lift, texture, grain, feather, floor, contact, segmenter)
        photo = read_image(session.source, max_pixels=None)
        said: list[str] = []
        mask, used = on_engine(subject_mask)(photo, params, mask=mp, warnings=said)
        set_mask(session, mask, mp.name if mp else used, "" if mp else params.segmenter, said)
        seconds, _ = render_preview(session, params)
    except BackdropError as err:
        return _KEEP + [failed(session, err, (mask_file, mp.name if mp else "")), session, None]
    return show(session, show_overlay, request) + [status_line(session, seconds), session, gr.skip()]


@_per_session
def on_change(session: Session, lift, texture, grain, feather, floor, contact, segmenter,
              show_overlay, request: gr.Request):
    """A slider was released or a setting changed: clean the preview-size copy again."""
    session = session or new_session()
    try:
        params = params_from(session.params, lift, texture, grain, feather, floor, contact, segmenter)
        if not session.loaded:
            session.params = params
            return _EMPTY + [WELCOME, session]
        seconds, analysed = render_preview(session, params)
    except BackdropError as err:
        return _KEEP + [failed(session, err, (session.source, session.name)), session]
    # the Original tab changes only with the overlay of a new analysis (the floor it found)
    fresh_original = analysed and bool(show_overlay)
    return show(session, show_overlay, request, original=fresh_original) + [status_line(session, seconds), session]


@_per_session
def on_overlay(session: Session, show_overlay, request: gr.Request):
    """The overlay was switched on or off: no new cleanup, only new pictures."""
    if session is None or not session.views:
        return _EMPTY + [gr.skip(), session]
    return show(session, show_overlay, request) + [gr.skip(), session]


@_per_session
def on_download(session: Session, lift, texture, grain, feather, floor, contact, segmenter,
                request: gr.Request):
    """The cleaned photo at full resolution, in its own format, bit depth and metadata. The page
    then hands it to the browser's download at once (one click)."""
    session = session or new_session()
    t = time.perf_counter()
    try:
        if not session.loaded:
            raise BackdropError("Upload a photo first.")
        params = params_from(session.params, lift, texture, grain, feather, floor, contact, segmenter)
        if session.asked_segmenter and session.asked_segmenter != params.segmenter:
            render_preview(session, params)
        photo = read_image(session.source, max_pixels=None)
        out_dir = session.dir(request) / "full"
        out_dir.mkdir(exist_ok=True)
        dest = output_path_for(session.source, out_dir=out_dir)
        result = on_engine(clean_photo)(photo, session.mask_full, params, bits=bits_for(dest, photo), name=session.source)
        out = write_image(dest, result.preview, like=photo, quality=params.jpeg_quality)
    except BackdropError as err:  # no file: the page's download step finds nothing to hand over
        return gr.File(value=None, visible=False), failed(session, err, (session.source, session.name)), session
    w, h = session.size
    note = (f"{status_line(session)}  \nfull resolution {w}×{h} written in {time.perf_counter() - t:.1f} s "
            f"and downloaded: **{md(out.name)}**")
    return gr.File(value=str(out), visible=True), note, session


@_per_session
def on_save_preset(session: Session, lift, texture, grain, feather, floor, contact, segmenter,
                   request: gr.Request):
    """The current settings as a YAML parameter file (the format of params/*.yaml)."""
    session = session or new_session()
    try:
        params = params_from(session.params, lift, texture, grain, feather, floor, contact, segmenter)
    except BackdropError as err:
        return gr.skip(), failed(session, err), session
    session.params = params
    folder = session.dir(request) / "preset"
    folder.mkdir(exist_ok=True)
    return gr.File(value=str(params.save(folder / "backdrop_params.yaml")), visible=True), gr.skip(), session


@_per_session
def on_load_preset(session: Session, preset_file, show_overlay, request: gr.Request):
    """A YAML parameter file: its values go to the knobs (and the hidden ones to the session), and
    the preview is cleaned with them. A bad preset changes nothing and names every bad key."""
    session = session or new_session()
    if not preset_file:
        return [gr.skip()] * 7 + _KEEP + [gr.skip(), session]
    try:
        params = Params.load(preset_file)
    except BackdropError as err:
        return [gr.skip()] * 7 + _KEEP + [failed(session, err, (preset_file, Path(preset_file).name)), session]
    session.params = params
    p = params
    knobs = [p.lift, p.texture, p.grain, p.feather, p.floor, p.protect_contact_shadows, p.segmenter]
    return knobs + on_change(session, *knobs, show_overlay, request)


def on_unload(request: gr.Request) -> None:
    """The page was closed: its session's files go at once (the state itself follows later)."""
    tag = _safe_tag(getattr(request, "session_hash", "") or "")
    if tag != "anon":
        for p in session_root().glob(f"session-{tag}-*"):
            shutil.rmtree(p, ignore_errors=True)


def api_clean(image_file, lift, texture, params_file) -> str:
    """Clean one photo at full resolution (stateless; for gradio_client and scripts).

    Args: the image file, shadow lift 0-100, texture 0-100, an optional YAML parameter file
    (its other settings are used; lift and texture given here win). Returns the cleaned file,
    named NAME_clean.EXT, in the photo's format, bit depth, ICC profile and EXIF.
    """
    if not image_file:
        raise gr.Error("image: no file given", print_exception=False)
    src = Path(image_file)
    _sweep("api-", older_than=600)
    try:
        base = Params.load(params_file) if params_file else Params()
        params = base.replace(lift=float(lift), texture=float(texture))
        check_upload(src)
        root = session_root()
        root.mkdir(parents=True, exist_ok=True)
        out_dir = Path(tempfile.mkdtemp(prefix="api-", dir=root))
        out = on_engine(clean_file)(src, output_path_for(src, out_dir=out_dir), params, max_pixels=int(MAX_MP * 1e6)).output
    except TooLarge as err:
        raise user_error(over_limit(src, err), (src, src.name)) from None
    except BackdropError as err:
        raise user_error(err, (params_file, Path(params_file).name if params_file else ""),
                         (src, src.name)) from None
    return str(out)


# ============================================================================ layout

INTRO = """# Clean Backdrop
Lift cast shadows and smooth scuffs on studio backdrops; the subject stays exactly as shot.
Drop a photo (JPEG, PNG, TIFF 8/16-bit or WebP, up to {mb:g} MB and {mp:g} MP), dial the sliders
by eye on the preview, then download the full-resolution file.""".format(mb=MAX_MB, mp=MAX_MP)


# After the full-resolution file is made, the browser saves it: one click on the button is enough.
# (No file under the button, after a failure, means nothing to save.)
SAVE_IN_BROWSER = """() => {
    const link = document.querySelector('#full-file a[download]');
    if (link) link.click();
}"""


def control(name: str, *, elem_id: str | None = None):
    """The page's control for a knob, made from its row in KNOBS (range, step, label, help)."""
    k, value, eid = KNOB[name], getattr(Params(), name), elem_id or name
    if k.choices:
        return gr.Radio(list(k.choices), value=value, label=k.label, info=None, elem_id=eid)
    if k.type is bool:
        return gr.Checkbox(value, label=k.label, elem_id=eid)
    return gr.Slider(k.low, k.high, value=value, step=k.step, label=k.label, elem_id=eid)


def build_demo() -> gr.Blocks:
    """The page. Every handler is a plain function above; state is per session."""
    d = Params()
    with gr.Blocks(title="Clean Backdrop", delete_cache=(1800, SESSION_TTL)) as demo:
        session = gr.State(new_session, time_to_live=SESSION_TTL, delete_callback=drop_session)
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                photo = gr.File(label="Photo", file_types=FILE_TYPES, elem_id="photo")
                lift, texture = control("lift"), control("texture")
                show_overlay = gr.Checkbox(False, label="Show the subject (magenta) and floor (cyan)",
                                           elem_id="overlay")
                with gr.Accordion("Advanced", open=False):
                    feather, grain, floor = control("feather"), control("grain"), control("floor")
                    contact = control("protect_contact_shadows", elem_id="contact")
                    segmenter = control("segmenter")
                    mask = gr.File(label="Subject mask (optional)", file_types=FILE_TYPES, elem_id="mask")
                    gr.Markdown("A mask image of the same size, white = subject, wins over the segmenter.")
                download_btn = gr.Button("Download full resolution", variant="primary", elem_id="download")
                full_file = gr.File(label="Cleaned photo", interactive=False, visible=False, elem_id="full-file")
                with gr.Row():
                    save_btn = gr.Button("Save preset", size="md", min_width=100, elem_id="save-preset")
                    load_btn = gr.UploadButton("Load preset", file_types=[".yaml", ".yml"], size="md",
                                               min_width=100, elem_id="load-preset")
                preset_file = gr.File(label="Preset (YAML)", interactive=False, visible=False,
                                      elem_id="preset-file")
            with gr.Column(scale=3):
                status = gr.Markdown(WELCOME, label="status",
                                     show_label=False, elem_id="status")
                images = []
                with gr.Tabs(selected="preview"):
                    for name in VIEW_NAMES:
                        with gr.Tab(name.capitalize(), id=name):
                            images.append(gr.Image(label=name.capitalize(), type="filepath",
                                                   format="jpeg", interactive=False, height=640,
                                                   buttons=["fullscreen"], elem_id=f"view-{name}"))
                samples = sorted(p for p in SAMPLES.glob("*.jpg"))
                examples = gr.Examples(
                    [[str(p), str(p.parent / "masks" / (p.stem + "_mask.png"))] for p in samples],
                    inputs=[photo, mask], label="Samples (with their subject masks)",
                    cache_examples=False,
                )
        with gr.Column(visible=False):  # the stateless API: file + lift + texture (+ YAML) -> file
            api_image = gr.File(label="image")
            api_lift = gr.Number(d.lift, label="lift")
            api_texture = gr.Number(d.texture, label="texture")
            api_params = gr.File(label="params_yaml")
            api_out = gr.File(label="cleaned")
            api_btn = gr.Button("clean")

        knobs = [lift, texture, grain, feather, floor, contact, segmenter]
        shown = images + [status, session]
        photo.upload(on_upload, [session, photo, *knobs, show_overlay], shown + [mask, photo],
                     api_name="upload", show_progress="full")
        photo.clear(_clear, [session], shown + [mask], api_visibility="private")
        examples.load_input_event.then(on_example, [session, photo, mask, *knobs, show_overlay], shown,
                                       api_visibility="private")
        mask.upload(on_mask, [session, mask, *knobs, show_overlay], shown + [mask], api_name="set_mask")
        mask.clear(on_mask, [session, mask, *knobs, show_overlay], shown + [mask], api_visibility="private")
        gr.on([lift.release, texture.release, feather.release, grain.release, floor.input,
               contact.input, segmenter.input],
              on_change, [session, *knobs, show_overlay], shown, api_name="update",
              trigger_mode="always_last", show_progress="minimal")
        show_overlay.input(on_overlay, [session, show_overlay], shown, api_name="overlay",
                           show_progress="hidden")
        download_btn.click(on_download, [session, *knobs], [full_file, status, session], api_name="download").then(
            None, None, None, js=SAVE_IN_BROWSER)
        save_btn.click(on_save_preset, [session, *knobs], [preset_file, status, session], api_name="save_preset")
        load_btn.upload(on_load_preset, [session, load_btn, show_overlay], [*knobs, *shown], api_name="load_preset")
        api_btn.click(api_clean, [api_image, api_lift, api_texture, api_params], api_out, api_name="clean",
                      concurrency_limit=1)
        demo.unload(on_unload)
    return demo


def _clear(session: Session | None):
    if isinstance(session, Session):
        session.close()
    return _EMPTY + [WELCOME, session or new_session(), None]


demo = build_demo()


# ============================================================================ command line


def launch_options(argv: list[str] | None = None, env: dict[str, str] | None = None) -> dict:
    """``demo.launch`` keyword arguments from the command line and the environment."""
    env = os.environ if env is None else env
    ap = argparse.ArgumentParser(prog="app_gradio.py", description="Clean Backdrop in the browser (Gradio).")
    ap.add_argument("--host", help="address to serve on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    ap.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    ap.add_argument("--share", action="store_true", help="ask Gradio for a public link (also BACKDROP_SHARE=1)")
    ap.add_argument("--measure", metavar="PHOTO",
                    help="no server: time slider release -> four previews on PHOTO, and print the medians")
    ap.add_argument("--repeat", type=int, default=10, help="runs for --measure (default 10)")
    args = ap.parse_args(argv)
    if args.measure:
        return dict(measure=args.measure, repeat=max(1, args.repeat))
    port = args.port or env.get("GRADIO_SERVER_PORT") or 7860
    try:
        port = int(port)
    except ValueError:
        ap.error(f"GRADIO_SERVER_PORT: {port!r} is not a port number")
    share_env = env.get("BACKDROP_SHARE", "").strip().lower() in ("1", "true", "yes", "on")
    return dict(
        server_name=args.host or env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
        server_port=port,
        share=bool(args.share or share_env),
        max_file_size=f"{MAX_MB:g}mb",
    )


def measure(photo: str, repeat: int = 10, *, quiet: bool = False) -> dict[str, float]:
    """Slider-release-to-preview latency on this machine: render alone, the handler (render the
    preview-size copy, write the three new previews), then end to end through gradio_client
    against a local server. Prints (unless ``quiet``) and returns the medians over ``repeat``
    releases, in seconds."""
    import socket
    import statistics

    from gradio_client import Client, handle_file

    say = (lambda *a: None) if quiet else print
    lifts = [40.0 + 5 * (i % 8) for i in range(repeat)]
    s = new_session()
    t = time.perf_counter()
    load_photo(s, photo, None, Params())
    render_preview(s, Params())
    show(s, False)
    upload = time.perf_counter() - t
    h, w = s.preview.shape[:2]

    @on_engine
    def render_only(lift: float) -> float:
        t = time.perf_counter()
        render(s.analysis, lift=lift, bits=8, dither=False)
        return time.perf_counter() - t

    def release(lift: float) -> float:  # what on_change does, in a handler thread
        t = time.perf_counter()
        render_preview(s, Params(lift=lift))
        show(s, False, original=False)
        return time.perf_counter() - t

    with ThreadPoolExecutor(1) as pool:  # a worker thread, as Gradio runs its handlers
        renders = list(pool.map(render_only, lifts))
        times = list(pool.map(release, lifts))
    s.close()
    out = {"upload": upload, "render": statistics.median(renders), "handler": statistics.median(times)}
    say(f"photo {Path(photo).name} {s.size[0]}x{s.size[1]}, preview {w}x{h}, torch threads {torch.get_num_threads()}")
    say(f"upload (read + subject mask + preview copy + analysis + four previews): {upload:.2f} s")
    say(f"render alone (three views of the preview): median {out['render']:.3f} s "
        f"(min {min(renders):.3f}, max {max(renders):.3f})")
    say(f"handler, slider release -> 3 new previews: median {out['handler']:.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}, {repeat} runs)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="measure-"))
        client.predict(handle_file(photo), api_name="/upload")
        times = []
        for lift in lifts:
            t = time.perf_counter()
            client.predict(lift=lift, api_name="/update")
            times.append(time.perf_counter() - t)
        out["end_to_end"] = statistics.median(times)
        say(f"end to end (gradio_client /update, 3 previews downloaded): median {out['end_to_end']:.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f})")
    finally:
        demo.close()
    return out


def main(argv: list[str] | None = None) -> None:
    opts = launch_options(argv)
    if "measure" in opts:
        measure(opts["measure"], opts["repeat"])
        return
    demo.queue(default_concurrency_limit=1)
    # offline, Gradio prints why it could not make a share link and keeps the local server
    demo.launch(**opts)


if __name__ == "__main__":
    main()
