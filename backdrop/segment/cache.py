"""Masks cached per image content and backend, so a slider move or a re-run never segments twice.

The cache lives in ``$BACKDROP_CACHE_DIR`` or the user's cache folder
(``~/.cache/clean-backdrop/masks``, ``%LOCALAPPDATA%\\clean-backdrop\\masks`` on Windows).
``BACKDROP_NO_CACHE=1`` turns it off; :func:`clear` (``backdrop cache clear``) empties it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes

__all__ = ["cache_dir", "enabled", "key", "load", "store", "clear"]


def cache_dir() -> Path:
    """The mask cache's folder (``BACKDROP_CACHE_DIR``, else the user's cache folder)."""
    env = os.environ.get("BACKDROP_CACHE_DIR")
    if env:
        return Path(env)
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "clean-backdrop" / "masks"


def enabled() -> bool:
    """Whether the mask cache is on (``BACKDROP_NO_CACHE=1`` turns it off)."""
    return os.environ.get("BACKDROP_NO_CACHE", "").strip().lower() not in ("1", "true", "yes", "on")


def key(image: np.ndarray, backend: str, version: str) -> str:
    """Hash of the decoded pixels (every other row and column: 4x less to read, still exact
    enough to tell photos apart), their shape, the backend and its model version."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{backend}|{version}|{image.shape}|{image.dtype}".encode())
    h.update(np.ascontiguousarray(image[::2, ::2]).tobytes())
    return h.hexdigest()


def _path(k: str) -> Path:
    return cache_dir() / f"{k}.png"


def load(k: str) -> np.ndarray | None:
    """The cached mask for ``key``, or None (a missing or unreadable entry is a miss)."""
    if not enabled():
        return None
    p = _path(k)
    if not p.is_file():
        return None
    import cv2

    m = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if m is None or m.dtype != np.uint16:
        return None
    return _as_float(m)


def quantize(mask: np.ndarray) -> np.ndarray:
    """A float mask as uint16 at full scale, rounded up: any coverage stays coverage (the engine
    keeps those pixels' subject share), and whole stays whole. What the cache holds."""
    if mask.dtype == np.uint16:
        return mask
    return np.ceil(np.clip(mask, 0.0, 1.0) * np.float32(65535.0)).astype(np.uint16)


def as_stored(mask: np.ndarray) -> np.ndarray:
    """A float mask on the cache's 16-bit steps (float32), exactly as :func:`load` gives it back: a
    segmenter's mask is the same picture whether it was made now or read from the cache (a pixel part
    subject takes the cleanup on its backdrop's share, so its coverage's last bits show)."""
    return _as_float(quantize(mask))


def _as_float(q: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) / np.float32(65535.0)


def store(k: str, mask: np.ndarray) -> None:
    """Keep a mask under ``key`` (atomically; a failure to write only loses the cache entry)."""
    if not enabled():
        return
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        q = quantize(mask)
        import cv2

        ok, buf = cv2.imencode(".png", q, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if ok:
            atomic_write_bytes(_path(k), buf.tobytes())
    except Exception:  # a cache that cannot be written is no error for the user
        pass


def clear() -> int:
    """Remove every cached mask; returns how many."""
    folder = cache_dir()
    n = 0
    if folder.is_dir():
        for p in folder.glob("*.png"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n
