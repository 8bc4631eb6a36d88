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
from dataclasses import dataclass, field, fields  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from backdrop import BackdropError, Params, clean, read_image, write_image  # noqa: E402
from backdrop.batch import subject_mask  # noqa: E402
from backdrop.io import SUPPORTED_EXTENSIONS, output_path_for  # noqa: E402
from backdrop.params import FLOOR_MODES, SEGMENTERS  # noqa: E402

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
    mask_full: np.ndarray | None = None  # uint16 (H, W) subject coverage, rounded up
    mask_from: str = ""  # a mask file's name, or the segmenter that made the mask
    asked_segmenter: str = ""  # the segmenter parameter that mask answered ("" for a mask file)
    preview: np.ndarray | None = None  # float32 (h, w, C) preview-size copy of the photo
    preview_mask: np.ndarray | None = None  # float32 (h, w)
    views: dict[str, np.ndarray] = field(default_factory=dict)  # uint8 (h, w, 3) last views
    overlays: dict[str, np.ndarray] = field(default_factory=dict)  # float32 (h, w) subject, floor
    floor_found: bool = False
    shown: list[Path] = field(default_factory=list)  # preview files now shown in the page
    counter: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # one event at a time

    def __deepcopy__(self, memo):  # gr.State copies its initial value; a lock is made anew
        values = {f.name: copy.deepcopy(getattr(self, f.name), memo) for f in fields(self) if f.name != "lock"}
        return Session(**values)

    @property
    def loaded(self) -> bool:
        return self.preview is not None

    def dir(self, request: gr.Request | None = None) -> Path:
        """This session's folder, made on first use."""
        if self.folder is None or not self.folder.is_dir():
            root = session_root()
            root.mkdir(parents=True, exist_ok=True)
            tag = _safe_tag(getattr(request, "session_hash", None) or "anon")
            self.folder = Path(tempfile.mkdtemp(prefix=f"session-{tag}-", dir=root))
        return self.folder

    def close(self) -> None:
        """Forget the photo and remove the session's files."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
        self.preview = self.preview_mask = self.mask_full = None
        self.views, self.overlays = {}, {}


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


def user_error(err: BaseException, *files: tuple[str | Path | None, str]) -> gr.Error:
    """A one-line message for the page, naming files by the names the user knows them by."""
    text = str(err)
    for path, name in files:
        if path:
            text = text.replace(str(path), name)
    return gr.Error(text, print_exception=False)


def shrink(a: np.ndarray, long_edge: int = PREVIEW_LONG_EDGE) -> np.ndarray:
    """Area-downscale an (H, W) or (H, W, C) float image so its long edge is at most ``long_edge``."""
    h, w = a.shape[:2]
    scale = long_edge / max(h, w)
    if scale >= 1.0:
        return np.ascontiguousarray(a, dtype=np.float32)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    out = F.interpolate(t, size=size, mode="area")[0]
    return (out[0] if a.ndim == 2 else out.permute(1, 2, 0)).contiguous().numpy()


def to_rgb8(image) -> np.ndarray:
    """(C, H, W) tensor or (H, W, C) array in [0, 1], C = 1 or 3 -> uint8 (H, W, 3)."""
    if isinstance(image, torch.Tensor):
        image = image.permute(1, 2, 0).numpy()
    a = np.asarray(image, dtype=np.float32)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


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
    return f"**{name}**: {w}×{h}, {photo.bit_depth}-bit {photo.format}{tail}"


def load_photo(session: Session, path: str | Path, mask_path: str | Path | None,
               params: Params, request: gr.Request | None = None) -> Session:
    """Read an upload, find the subject once (cached by content), make the preview-size copy."""
    path = Path(path)
    name = path.name
    mask_name = Path(mask_path).name if mask_path else ""
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise BackdropError(f"{name}: not a supported image type (use JPEG, PNG, TIFF or WebP)")
    try:
        if path.stat().st_size > MAX_MB * 1e6:
            raise BackdropError(f"{name}: file is over the {MAX_MB:g} MB limit")
        photo = read_image(path, max_pixels=int(MAX_MP * 1e6))
        mask, used = subject_mask(photo.pixels, params, mask=Path(mask_path) if mask_path else None)
    except BackdropError as err:
        raise user_error(err, (mask_path, mask_name), (path, name)) from None
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
    session.icc = photo.icc_profile if photo.pixels.shape[2] == 3 else None
    session.params = params
    set_mask(session, mask, mask_name or used, "" if mask_path else params.segmenter)
    session.preview = shrink(photo.pixels)
    return session


def set_mask(session: Session, mask: np.ndarray, made_by: str, asked: str) -> None:
    # rounded up, like the mask cache: any coverage stays coverage (those pixels never change)
    session.mask_full = np.ceil(np.clip(mask, 0.0, 1.0) * 65535.0).astype(np.uint16)
    session.preview_mask = shrink(mask)
    session.mask_from, session.asked_segmenter = made_by, asked


def full_mask(session: Session) -> np.ndarray:
    return session.mask_full.astype(np.float32) / np.float32(65535.0)


def render(session: Session, params: Params) -> float:
    """Clean the preview-size copy with ``params``; keep the four views. Returns seconds."""
    t = time.perf_counter()
    if session.asked_segmenter and session.asked_segmenter != params.segmenter:
        photo = read_image(session.source, max_pixels=None)  # the user asked for another segmenter
        mask, used = subject_mask(photo.pixels, params)
        set_mask(session, mask, used, params.segmenter)
    result = clean(session.preview, params, session.preview_mask)
    session.params = params
    session.views = {v: to_rgb8(result.view(v)) for v in VIEW_NAMES}
    session.overlays = {"subject": session.preview_mask, "floor": result.mask("floor").numpy()}
    session.floor_found = result.floor_info.found
    return time.perf_counter() - t


def show(session: Session, show_overlay: bool, request: gr.Request | None = None) -> list[str]:
    """Write the four views as JPEGs into the session's folder; paths for the image tabs."""
    folder = session.dir(request) / "views"
    folder.mkdir(exist_ok=True)
    old, session.shown = session.shown, []
    session.counter += 1
    for v in VIEW_NAMES:
        rgb = session.views[v]
        if show_overlay:
            rgb = overlay(rgb, session.overlays["subject"], session.overlays["floor"])
        p = folder / f"{v}-{session.counter}.jpg"
        extra = {"icc_profile": session.icc} if session.icc else {}
        Image.fromarray(rgb).save(p, "JPEG", quality=PREVIEW_QUALITY, **extra)
        session.shown.append(p)
    for p in old:
        p.unlink(missing_ok=True)
    return [str(p) for p in session.shown]


def status_line(session: Session, seconds: float | None = None) -> str:
    h, w = session.preview.shape[:2]
    floor = "floor: found, kept as shot" if session.floor_found else "floor: none"
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    return (f"{session.describe}  \nsubject: {session.mask_from} · {floor} · "
            f"preview {w}×{h} updated{took}")


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


@_per_session
def on_upload(session: Session, photo_file, lift, texture, grain, feather, floor, contact,
              segmenter, show_overlay, request: gr.Request):
    """A photo was uploaded: the subject comes from the segmenter. Four views and the status."""
    return _load(session, photo_file, None, (lift, texture, grain, feather, floor, contact, segmenter),
                 show_overlay, request) + [None]


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
        return _EMPTY + ["Upload a photo (JPEG, PNG, TIFF or WebP).", session]
    _sweep("session-", older_than=SESSION_TTL)  # folders a stopped server left behind
    try:
        params = params_from(session.params, *knobs)
    except BackdropError as err:
        raise user_error(err) from None
    load_photo(session, photo_file, mask_file, params, request)
    seconds = render(session, params)
    return show(session, show_overlay, request) + [status_line(session, seconds), session]


@_per_session
def on_mask(session: Session, mask_file, lift, texture, grain, feather, floor, contact, segmenter,
            show_overlay, request: gr.Request):
    """A subject mask file was given (or removed: back to the segmenter)."""
    if session is None or not session.loaded:
        raise gr.Error("Upload a photo first, then its subject mask.", print_exception=False)
    try:
        params = params_from(session.params, lift, texture, grain, feather, floor, contact, segmenter)
        photo = read_image(session.source, max_pixels=None)
        mp = Path(mask_file) if mask_file else None
        mask, used = subject_mask(photo.pixels, params, mask=mp)
    except BackdropError as err:
        raise user_error(err, (mask_file, Path(mask_file).name if mask_file else "")) from None
    set_mask(session, mask, mp.name if mp else used, "" if mp else params.segmenter)
    seconds = render(session, params)
    return show(session, show_overlay, request) + [status_line(session, seconds), session]


def _settings(session: Session | None, *knobs) -> tuple[Session, Params]:
    """The visitor's session (a new one if there is none) and the page's settings as Params."""
    if session is None:
        session = new_session()
    try:
        return session, params_from(session.params, *knobs)
    except BackdropError as err:
        raise user_error(err) from None


@_per_session
def on_change(session: Session, lift, texture, grain, feather, floor, contact, segmenter,
              show_overlay, request: gr.Request):
    """A slider was released or a setting changed: clean the preview-size copy again."""
    session, params = _settings(session, lift, texture, grain, feather, floor, contact, segmenter)
    if not session.loaded:
        session.params = params
        return _EMPTY + ["Upload a photo (JPEG, PNG, TIFF or WebP).", session]
    try:
        seconds = render(session, params)
    except BackdropError as err:
        raise user_error(err, (session.source, session.name)) from None
    return show(session, show_overlay, request) + [status_line(session, seconds), session]


@_per_session
def on_overlay(session: Session, show_overlay, request: gr.Request):
    """The overlay was switched on or off: no new cleanup, only new pictures."""
    if session is None or not session.views:
        return _EMPTY + [gr.skip(), session]
    return show(session, show_overlay, request) + [gr.skip(), session]


@_per_session
def on_download(session: Session, lift, texture, grain, feather, floor, contact, segmenter,
                request: gr.Request):
    """The cleaned photo at full resolution, in its own format, bit depth and metadata."""
    if session is None or not session.loaded:
        raise gr.Error("Upload a photo first.", print_exception=False)
    t = time.perf_counter()
    try:
        params = params_from(session.params, lift, texture, grain, feather, floor, contact, segmenter)
        if session.asked_segmenter and session.asked_segmenter != params.segmenter:
            render(session, params)
        photo = read_image(session.source, max_pixels=None)
        result = clean(photo.pixels, params, full_mask(session), views=("preview",))
        out_dir = session.dir(request) / "full"
        out_dir.mkdir(exist_ok=True)
        out = write_image(output_path_for(session.source, out_dir=out_dir), result.preview, like=photo,
                          reference=photo.pixels, quality=params.jpeg_quality)
    except BackdropError as err:
        raise user_error(err, (session.source, session.name)) from None
    w, h = session.size
    note = f"{status_line(session)}  \nfull resolution {w}×{h} written in {time.perf_counter() - t:.1f} s: **{out.name}**"
    return str(out), note, session


@_per_session
def on_save_preset(session: Session, lift, texture, grain, feather, floor, contact, segmenter,
                   request: gr.Request):
    """The current settings as a YAML parameter file (the format of params/*.yaml)."""
    session, params = _settings(session, lift, texture, grain, feather, floor, contact, segmenter)
    session.params = params
    folder = session.dir(request) / "preset"
    folder.mkdir(exist_ok=True)
    return str(params.save(folder / "backdrop_params.yaml")), session


@_per_session
def on_load_preset(session: Session, preset_file):
    """A YAML parameter file: its values go to the knobs (and the hidden ones to the session)."""
    if session is None:
        session = new_session()
    if not preset_file:
        return [gr.skip()] * 7 + [session]
    try:
        params = Params.load(preset_file)
    except BackdropError as err:
        raise user_error(err, (preset_file, Path(preset_file).name)) from None
    session.params = params
    p = params
    return [p.lift, p.texture, p.grain, p.feather, p.floor, p.protect_contact_shadows, p.segmenter, session]


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
        if src.suffix.lower() not in SUPPORTED_EXTENSIONS:
            raise BackdropError(f"{src}: not a supported image type (use JPEG, PNG, TIFF or WebP)")
        if src.stat().st_size > MAX_MB * 1e6:
            raise BackdropError(f"{src}: file is over the {MAX_MB:g} MB limit")
        photo = read_image(src, max_pixels=int(MAX_MP * 1e6))
        mask, _ = subject_mask(photo.pixels, params)
        result = clean(photo.pixels, params, mask, views=("preview",))
        root = session_root()
        root.mkdir(parents=True, exist_ok=True)
        out_dir = Path(tempfile.mkdtemp(prefix="api-", dir=root))
        out = write_image(output_path_for(src, out_dir=out_dir), result.preview, like=photo,
                          reference=photo.pixels, quality=params.jpeg_quality)
    except BackdropError as err:
        raise user_error(err, (params_file, Path(params_file).name if params_file else ""),
                         (src, src.name)) from None
    return str(out)


# ============================================================================ layout

INTRO = """# Clean Backdrop
Lift cast shadows and smooth scuffs on studio backdrops; the subject stays exactly as shot.
Drop a photo (JPEG, PNG, TIFF 8/16-bit or WebP, up to {mb:g} MB and {mp:g} MP), dial the sliders
by eye on the preview, then download the full-resolution file.""".format(mb=MAX_MB, mp=MAX_MP)


def build_demo() -> gr.Blocks:
    """The page. Every handler is a plain function above; state is per session."""
    d = Params()
    with gr.Blocks(title="Clean Backdrop", delete_cache=(1800, SESSION_TTL)) as demo:
        session = gr.State(new_session, time_to_live=SESSION_TTL, delete_callback=drop_session)
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                photo = gr.File(label="Photo", file_types=FILE_TYPES, elem_id="photo")
                lift = gr.Slider(0, 100, value=d.lift, step=1, label="Shadow lift", elem_id="lift")
                texture = gr.Slider(0, 100, value=d.texture, step=1, label="Texture smoothing",
                                    elem_id="texture")
                show_overlay = gr.Checkbox(False, label="Show the subject (magenta) and floor (cyan)",
                                           elem_id="overlay")
                with gr.Accordion("Advanced", open=False):
                    feather = gr.Slider(0, 0.2, value=d.feather, step=0.005,
                                        label="Feather (share of the short edge)", elem_id="feather")
                    grain = gr.Slider(0, 100, value=d.grain, step=1, label="Paper grain kept",
                                      elem_id="grain")
                    floor = gr.Radio(list(FLOOR_MODES), value=d.floor, label="Floor", elem_id="floor")
                    contact = gr.Checkbox(d.protect_contact_shadows, label="Protect contact shadows",
                                          elem_id="contact")
                    segmenter = gr.Dropdown(list(SEGMENTERS), value=d.segmenter, label="Segmenter",
                                            elem_id="segmenter")
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
                status = gr.Markdown("Upload a photo (JPEG, PNG, TIFF or WebP).", label="status",
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
        photo.upload(on_upload, [session, photo, *knobs, show_overlay], shown + [mask],
                     api_name="upload", show_progress="full")
        photo.clear(_clear, [session], shown + [mask], api_visibility="private")
        examples.load_input_event.then(on_example, [session, photo, mask, *knobs, show_overlay], shown,
                                       api_visibility="private")
        mask.upload(on_mask, [session, mask, *knobs, show_overlay], shown, api_name="set_mask")
        mask.clear(on_mask, [session, mask, *knobs, show_overlay], shown, api_visibility="private")
        gr.on([lift.release, texture.release, feather.release, grain.release, floor.input,
               contact.input, segmenter.input],
              on_change, [session, *knobs, show_overlay], shown, api_name="update",
              trigger_mode="always_last", show_progress="minimal")
        show_overlay.input(on_overlay, [session, show_overlay], shown, api_name="overlay",
                           show_progress="hidden")
        download_btn.click(on_download, [session, *knobs], [full_file, status, session], api_name="download").then(
            _reveal, None, full_file, api_visibility="private")
        save_btn.click(on_save_preset, [session, *knobs], [preset_file, session], api_name="save_preset").then(
            _reveal, None, preset_file, api_visibility="private")
        load_btn.upload(on_load_preset, [session, load_btn], [*knobs, session], api_name="load_preset").then(
            on_change, [session, *knobs, show_overlay], shown, api_visibility="private")
        api_btn.click(api_clean, [api_image, api_lift, api_texture, api_params], api_out, api_name="clean",
                      concurrency_limit=1)
        demo.unload(on_unload)
    return demo


def _reveal():
    return gr.File(visible=True)


def _clear(session: Session | None):
    if isinstance(session, Session):
        session.close()
    return _EMPTY + ["Upload a photo (JPEG, PNG, TIFF or WebP).", session or new_session(), None]


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


def measure(photo: str, repeat: int = 10) -> None:
    """Slider-release-to-preview latency on this machine: the handler alone (clean the
    preview-size copy, write the four previews), then end to end through gradio_client
    against a local server. Prints medians over ``repeat`` releases."""
    import socket
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    lifts = [40.0 + 5 * (i % 8) for i in range(repeat)]
    s = new_session()
    t = time.perf_counter()
    load_photo(s, photo, None, Params())
    seg = time.perf_counter() - t
    h, w = s.preview.shape[:2]

    def release(lift: float) -> float:
        t = time.perf_counter()
        render(s, Params(lift=lift))
        show(s, False)
        return time.perf_counter() - t

    with ThreadPoolExecutor(1) as pool:  # in a worker thread, as Gradio runs its handlers
        times = list(pool.map(release, lifts))
    s.close()
    print(f"photo {Path(photo).name} {s.size[0]}x{s.size[1]}, preview {w}x{h}, torch threads {torch.get_num_threads()}")
    print(f"upload (read + subject mask + preview copy): {seg:.2f} s")
    print(f"handler (worker thread), slider release -> 4 previews: median {statistics.median(times):.3f} s "
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
        print(f"end to end (gradio_client /update, 4 previews downloaded): median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f})")
    finally:
        demo.close()


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
