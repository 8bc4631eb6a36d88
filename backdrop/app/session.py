"""One visitor's state (gr.State), its folder, the engine thread, and the page's limits."""
from __future__ import annotations

import contextlib
import copy
import functools
import os
import re
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

import gradio as gr
import numpy as np

from ..io import (
    SUPPORTED_EXTENSIONS,
)
from ..params import Params
from ..pipeline import Analysis

ROOT = Path(__file__).resolve().parents[2]  # the clone (or the Space)
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
    """A visitor's empty session (Gradio's State makes one per page)."""
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
