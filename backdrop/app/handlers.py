"""The page's event handlers: a user's mistake is one line on the status, never an error pill."""
from __future__ import annotations

import contextlib
import functools
import inspect
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from ..errors import BackdropError, TooLarge
from ..io import (
    bits_for,
    output_path_for,
    read_image,
    write_image,
)
from ..params import KNOB, Params
from ..service import clean_file, clean_photo, subject_mask
from .photo import (
    check_upload,
    failed,
    load_photo,
    md,
    over_limit,
    params_from,
    render_preview,
    set_mask,
    show,
    status_line,
    user_error,
)
from .session import (
    MAX_MP,
    SESSION_TTL,
    Session,
    _safe_tag,
    _sweep,
    new_session,
    on_engine,
    session_root,
)

# ============================================================================ event handlers


def _per_session(fn):
    """Run a handler with its session locked: a slider release and an overlay click of the
    same page never change one session's files at the same time (other sessions go on)."""

    @functools.wraps(fn)
    def inner(session, *args, **kwargs):
        with session.lock if isinstance(session, Session) else contextlib.nullcontext():
            return fn(session, *args, **kwargs)

    return inner


# the page's controls, in the order its events pass them: a handler declares one parameter ``knobs``
# and gets them as a mapping (name -> value); its public signature (the API's parameter names) has
# each of them by its Params name
PAGE_KNOBS = ("lift", "texture", "tone", "grain", "feather", "floor", "folds", "protect_contact_shadows",
              "segmenter")


def takes_knobs(fn):
    """``fn`` with its parameter ``knobs`` spread into the page's knobs, one parameter each."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    i = [p.name for p in params].index("knobs")
    public = sig.replace(parameters=[*params[:i], *(inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                                    for n in PAGE_KNOBS), *params[i + 1:]])

    @functools.wraps(fn)
    def inner(*args, **kwargs):
        given = dict(public.bind(*args, **kwargs).arguments)
        knobs = {n: given.pop(n) for n in PAGE_KNOBS}
        return fn(**given, knobs=knobs)

    inner.__signature__ = public
    return inner


_EMPTY = [None] * 4
_KEEP = [gr.skip()] * 4  # the four views as the page shows them
WELCOME = "Upload a photo (JPEG, PNG, TIFF or WebP)."

# A handler never raises for a user's mistake (a bad photo, mask or preset): Gradio would mark every
# output with a red "Error" pill to dismiss one by one and, for an upload, wipe the previews. It
# answers with the message on the status line, keeps the page's photo, previews and controls, and
# empties the drop box that held the bad file so the next one can be dropped at once.


@_per_session
@takes_knobs
def on_upload(session: Session, photo_file, knobs, show_overlay, request: gr.Request):
    """A photo was uploaded: the subject comes from the segmenter. Four views, the status, the
    mask box (emptied: the new photo's subject is the segmenter's) and the photo box."""
    out = _load(session, photo_file, None, knobs,
                show_overlay, request)
    ok = out[4] is not None and not out[4].startswith("⚠")
    return out + ([None, gr.skip()] if ok else [gr.skip(), None])


@_per_session
@takes_knobs
def on_example(session: Session, photo_file, mask_file, knobs, show_overlay, request: gr.Request):
    """A bundled sample was picked: it comes with its subject mask."""
    return _load(session, photo_file, mask_file, knobs,
                 show_overlay, request)


def _load(session, photo_file, mask_file, knobs, show_overlay, request):
    if session is None:
        session = new_session()
    if not photo_file:
        session.close()
        return _EMPTY + [WELCOME, session]
    _sweep("session-", older_than=SESSION_TTL)  # folders a stopped server left behind
    try:
        params = params_from(session.params, knobs)
        load_photo(session, photo_file, mask_file, params, request)
        seconds, _ = render_preview(session, params)
    except BackdropError as err:
        return _KEEP + [failed(session, err, (photo_file, Path(photo_file).name)), session]
    return show(session, show_overlay, request) + [status_line(session, seconds), session]


@_per_session
@takes_knobs
def on_mask(session: Session, mask_file, knobs,
            show_overlay, request: gr.Request):
    """A subject mask file was given (or removed: back to the segmenter)."""
    session = session or new_session()
    mp = Path(mask_file) if mask_file else None
    try:
        if not session.loaded:
            raise BackdropError("Upload a photo first, then its subject mask.")
        params = params_from(session.params, knobs)
        photo = read_image(session.source, max_pixels=None)
        said: list[str] = []
        mask, used = on_engine(subject_mask)(photo, params, mask=mp, warnings=said)
        set_mask(session, mask, mp.name if mp else used, "" if mp else params.segmenter, said)
        seconds, _ = render_preview(session, params)
    except BackdropError as err:
        return _KEEP + [failed(session, err, (mask_file, mp.name if mp else "")), session, None]
    return show(session, show_overlay, request) + [status_line(session, seconds), session, gr.skip()]


@_per_session
@takes_knobs
def on_change(session: Session, knobs,
              show_overlay, request: gr.Request):
    """A slider was released or a setting changed: clean the preview-size copy again."""
    session = session or new_session()
    try:
        params = params_from(session.params, knobs)
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
@takes_knobs
def on_download(session: Session, knobs,
                request: gr.Request):
    """The cleaned photo at full resolution, in its own format, bit depth and metadata. The page
    then hands it to the browser's download at once (one click)."""
    session = session or new_session()
    t = time.perf_counter()
    try:
        if not session.loaded:
            raise BackdropError("Upload a photo first.")
        params = params_from(session.params, knobs)
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
@takes_knobs
def on_save_preset(session: Session, knobs,
                   request: gr.Request):
    """The current settings as a YAML parameter file (the format of params/*.yaml)."""
    session = session or new_session()
    try:
        params = params_from(session.params, knobs)
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
        return [gr.skip()] * len(PAGE_KNOBS) + _KEEP + [gr.skip(), session]
    try:
        params = Params.load(preset_file)
    except BackdropError as err:
        return [gr.skip()] * len(PAGE_KNOBS) + _KEEP + [failed(session, err, (preset_file, Path(preset_file).name)), session]
    session.params = params
    knobs = {name: getattr(params, name) for name in PAGE_KNOBS}
    shown = [str(v) if KNOB[n].word_or_number else v for n, v in knobs.items()]  # a word-or-number box holds text
    return shown + on_change(session, show_overlay=show_overlay, request=request, **knobs)


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



def _clear(session: Session | None):
    if isinstance(session, Session):
        session.close()
    return _EMPTY + [WELCOME, session or new_session(), None]
