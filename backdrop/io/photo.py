"""A decoded photograph and the formats it comes in."""
from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
)

_EXT_FORMAT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}

# Errors that Pillow, tifffile and zlib raise for files they cannot parse.

@dataclass(eq=False, repr=False)
class Photo:
    """A decoded photograph and what is needed to write it back faithfully.

    Attributes:
        path: The file it came from (``None`` for an image made in memory).
        data: The decoded buffer, ``(H, W, 3)`` RGB or ``(H, W, 1)`` greyscale, upright (EXIF
            orientation applied), C-contiguous: uint8 or uint16 as in the file (no float copy is
            made on reading), or float32 in [0, 1] for an image made in memory.
        alpha: float32 ``(H, W)`` in [0, 1] if the file had an alpha channel, else ``None``.
        bit_depth: 8 or 16, bits per channel of the source.
        format: ``"JPEG"``, ``"PNG"``, ``"TIFF"`` or ``"WEBP"`` (the content, not the extension).
        icc_profile: The embedded ICC profile, or ``None`` (sRGB).
        exif: Raw EXIF (``b"Exif\\0\\0"`` + TIFF structure) with Orientation set to 1, or ``None``.
    """

    path: Path | None
    data: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    format: str
    icc_profile: bytes | None
    exif: bytes | None

    @property
    def pixels(self) -> np.ndarray:
        """float32 ``(H, W, C)`` in [0, 1]: the buffer divided by its full scale (made on first
        use and kept; the engine reads ``data`` itself and needs no such copy)."""
        cached = self.__dict__.get("_pixels")
        if cached is None or cached.shape != self.data.shape:
            d = self.data
            if d.dtype.kind == "f":
                cached = np.ascontiguousarray(d, dtype=np.float32)
            else:
                cached = _to_float(d, 65535.0 if d.dtype == np.uint16 else 255.0)
            self.__dict__["_pixels"] = cached
        return cached

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels, upright."""
        return int(self.data.shape[1]), int(self.data.shape[0])

    def __repr__(self) -> str:
        w, h = self.size
        return (
            f"Photo(path={str(self.path)!r}, size={w}x{h}, channels={self.data.shape[2]}, "
            f"alpha={self.alpha is not None}, bit_depth={self.bit_depth}, format={self.format!r}, "
            f"icc_profile={_nbytes(self.icc_profile)}, exif={_nbytes(self.exif)})"
        )


def _nbytes(b: bytes | None) -> str:
    return "None" if b is None else f"<{len(b)} bytes>"


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
                  IndexError, KeyError, TypeError, tifffile.TiffFileError)


def _to_float(a: np.ndarray, maxval: float) -> np.ndarray:
    """uint ``(H, W[, C])`` (any strides) -> new C-contiguous float32 ``(H, W, C)`` = a / maxval."""
    if a.ndim == 2:
        a = a[:, :, None]
    out = np.empty(a.shape, dtype=np.float32)
    np.divide(a, maxval, out=out, dtype=np.float32)
    return out


@functools.lru_cache(maxsize=1)
def _cv2():
    """OpenCV, imported on first use (16-bit PNG and TIFF): 16 MB a process that never needs it saves."""
    import cv2

    return cv2
