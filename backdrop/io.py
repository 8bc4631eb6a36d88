"""Reading and writing photographs for the engine.

The engine works on float32 pixels in [0, 1]; this module is the edge where files
become arrays and arrays become files again, without losing what a photographer
cares about:

* **Bit depth.** 8-bit files are decoded with Pillow. 16-bit PNG and TIFF keep
  their precision (Pillow cannot hold 16-bit RGB): PNG is decoded with OpenCV,
  TIFF with tifffile (OpenCV when tifffile lacks the codec, e.g. LZW). Pillow still
  opens every file lazily for the ICC profile, EXIF and orientation.
* **Orientation.** The EXIF orientation (all eight values) is applied on read, and
  the EXIF written back says 1, since the pixels are already upright.
* **Colour.** The ICC profile is kept and written back. CMYK files are converted
  to RGB through their embedded profile (plain conversion when there is none) and
  are then sRGB: ``icc_profile`` is ``None``.
* **Metadata.** EXIF is kept as raw bytes (``b"Exif\\0\\0"`` + TIFF structure). For
  JPEG, PNG and WebP sources these are the file's own bytes with only the
  Orientation value patched, so maker notes survive; a TIFF source's EXIF is
  rebuilt from its descriptive tags (Make, Model, dates, the Exif and GPS blocks).
* **Files with several frames** (multi-page TIFF, animated PNG/WebP, MPO): the
  first frame is used.
* **Writing** rounds once, with a deterministic ±1 LSB triangular dither for 8-bit
  output on the pixels the engine changed only, so untouched pixels come back
  bit-for-bit. Writes are atomic (temporary file, fsync, rename), never create a
  partial file and never overwrite the original.

A user error (missing file, corrupt file, wrong mask size, missing output folder)
raises :class:`BackdropError` with a one-line message naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import secrets
import stat
import struct
import threading
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np
import tifffile
from PIL import Image, ImageCms, PngImagePlugin, TiffImagePlugin, TiffTags, UnidentifiedImageError

from .errors import BackdropError, TooLarge

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Photo",
    "as_coverage",
    "bits_for",
    "output_path_for",
    "printable",
    "read_image",
    "read_mask",
    "write_image",
]

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
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
                  IndexError, KeyError, TypeError, tifffile.TiffFileError)


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """One line that is safe to print: control characters (a newline or an ANSI escape in a file
    name) shown as escapes (``\\n``, ``\\x1b``), never sent to the terminal as they are."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def _one_line(err: object) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


# --------------------------------------------------------------------------- orientation

def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an ``(H, W[, C])`` array (a view, like Pillow's exif_transpose)."""
    if orientation == 2:
        return a[:, ::-1]
    if orientation == 3:
        return a[::-1, ::-1]
    if orientation == 4:
        return a[::-1]
    if orientation == 5:
        return a.swapaxes(0, 1)
    if orientation == 6:
        return a[::-1].swapaxes(0, 1)
    if orientation == 7:
        return a[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return a[:, ::-1].swapaxes(0, 1)
    return a


def _valid_orientation(value: Any) -> int:
    try:
        value = int(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, IndexError):
        return 1
    return value if 1 <= value <= 8 else 1


# --------------------------------------------------------------------------- EXIF bytes

_EXIF_HEADER = b"Exif\x00\x00"

# IFD0 tags worth carrying from one file to another; the rest of a TIFF's IFD0 describes
# its own pixel layout (strips, bits, compression ...) and must not travel.
_EXIF_IFD0_TAGS = (269, 270, 271, 272, 274, 282, 283, 296, 305, 306, 315, 316, 33432)
_EXIF_SUB_IFDS = (0x8769, 0x8825)  # Exif, GPS
_INTEROP_IFD = 0xA005


def _normalize_exif(raw: bytes | None) -> bytes | None:
    """Return ``b"Exif\\0\\0" + TIFF`` or ``None`` for missing or unusable EXIF."""
    if not raw:
        return None
    body = bytes(raw)
    while body.startswith(_EXIF_HEADER):
        body = body[6:]
    if body[:4] not in (b"II*\x00", b"MM\x00*") or len(body) < 14:
        return None
    return _EXIF_HEADER + body


def _exif_orientation_entry(exif: bytes) -> tuple[int, int | None]:
    """Find the Orientation tag in IFD0 of raw EXIF: ``(value, byte offset of the value)``."""
    base = len(_EXIF_HEADER)
    endian = "<" if exif[base:base + 2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(endian + "I", exif, base + 4)
        (count,) = struct.unpack_from(endian + "H", exif, base + ifd)
        for i in range(count):
            pos = base + ifd + 2 + 12 * i
            tag, typ, n = struct.unpack_from(endian + "HHI", exif, pos)
            if tag == 0x0112:
                if typ != 3 or n != 1:
                    return 1, None
                (value,) = struct.unpack_from(endian + "H", exif, pos + 8)
                return _valid_orientation(value), pos + 8
    except struct.error:
        pass
    return 1, None


def _exif_reset_orientation(exif: bytes | None) -> bytes | None:
    """Set Orientation to 1 in raw EXIF, in place when possible (keeps maker notes intact)."""
    if exif is None:
        return None
    value, pos = _exif_orientation_entry(exif)
    if pos is not None:
        if value == 1:
            return exif
        endian = "<" if exif[6:8] == b"II" else ">"
        patched = bytearray(exif)
        struct.pack_into(endian + "H", patched, pos, 1)
        return bytes(patched)
    # No plain SHORT entry found: let Pillow re-serialise (rare, odd files).
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        if 0x0112 not in parsed or parsed[0x0112] == 1:
            return exif
        parsed[0x0112] = 1
        return _normalize_exif(parsed.tobytes())
    except _DECODE_ERRORS:
        return None


def _carry_exif_tags(src: Image.Exif, dst: Any) -> None:
    """Copy the descriptive IFD0 tags and the Exif/GPS blocks of ``src`` into ``dst``.

    ``dst`` is an ``Image.Exif`` or a TIFF ``ImageFileDirectory_v2``; sub-IFDs are copied
    as dicts (Pillow serialises those), Orientation becomes 1.
    """
    for tag in _EXIF_IFD0_TAGS:
        if tag in src:
            value = src[tag]
            if tag == 270 and isinstance(value, str) and value.startswith('{"shape"'):
                continue  # tifffile's own shape metadata, not a description
            dst[tag] = 1 if tag == 0x0112 else value
    for tag in _EXIF_SUB_IFDS:
        if tag in src:
            block = dict(src.get_ifd(tag))
            if tag == 0x8769 and _INTEROP_IFD in block:
                interop = src.get_ifd(_INTEROP_IFD)
                if interop:
                    block[_INTEROP_IFD] = dict(interop)
                else:
                    del block[_INTEROP_IFD]
            if block:
                dst[tag] = block


def _exif_from_tiff(im: Image.Image) -> bytes | None:
    """Rebuild carry-able EXIF from a TIFF's own tags (Orientation set to 1)."""
    try:
        out = Image.Exif()
        _carry_exif_tags(im.getexif(), out)
        return _normalize_exif(out.tobytes()) if len(out) else None
    except _DECODE_ERRORS:
        return None


def _png_exif_chunk(path: Path) -> bytes | None:
    """The eXIf chunk of a PNG, scanning chunk headers only (no pixel decode)."""
    try:
        with open(path, "rb") as f:
            f.seek(8)
            while True:
                head = f.read(8)
                if len(head) < 8:
                    return None
                length, ctype = struct.unpack(">I4s", head)
                if ctype == b"eXIf":
                    return f.read(length)
                if ctype == b"IEND":
                    return None
                f.seek(length + 4, os.SEEK_CUR)
    except OSError:
        return None


# --------------------------------------------------------------------------- reading

_PIL_LOCK = threading.Lock()


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


_MAX_METADATA = 64 * 1024 * 1024  # an ICC profile or XMP packet a PNG may carry (Pillow's own limit is 1 MB)


def _pil_open(path: Path, fmt: str, max_pixels: int | None) -> Image.Image:
    """Open lazily (header only); the pixel limit is ours, not Pillow's global one.

    Pillow refuses images above 2 x ``Image.MAX_IMAGE_PIXELS`` on its own, with a message of
    its own; its check is off for the duration of the (header-only) open, and the caller checks
    ``max_pixels`` on the header (:func:`_check_pixels`) before any pixel is decoded, so an
    oversized file always gets the same one-line reason whatever its size.
    """
    formats = ["JPEG", "MPO"] if fmt == "JPEG" else [fmt]
    with _PIL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS, PngImagePlugin.MAX_TEXT_CHUNK
        Image.MAX_IMAGE_PIXELS = None
        # an ICC profile or an XMP packet over 1 MB (Pillow's text-chunk limit) is metadata we write
        # ourselves: read it back (the pixel limit and the decoding checks stay ours)
        PngImagePlugin.MAX_TEXT_CHUNK = max(saved[1], _MAX_METADATA)
        try:
            return Image.open(path, formats=formats)  # reads a PNG's chunks up to its pixels
        finally:
            Image.MAX_IMAGE_PIXELS, PngImagePlugin.MAX_TEXT_CHUNK = saved


def _check_pixels(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise TooLarge(
            f"{path}: image is {width}x{height} ({width * height / 1e6:.1f} MP), over the "
            f"limit of {max_pixels / 1e6:.1f} MP", width, height)


def _check_jpeg_promise(path: Path, width: int, height: int, nbytes: int) -> None:
    """Refuse a JPEG whose header promises more pixels than its bytes can hold.

    Every 8x8 block of the luminance costs at least one bit of scan data, even a flat one with the
    shortest Huffman codes; a file with fewer bits than that has a forged or damaged header, and the
    decoder would fill the missing picture with grey (and, for a 14000x14000 promise in 600 bytes,
    spend half a minute and gigabytes doing so).
    """
    blocks = -(-width // 8) * -(-height // 8)
    if nbytes * 8 < blocks:
        raise BackdropError(
            f"{path}: the header says {width}x{height} pixels, but the file ({nbytes} bytes) holds too "
            f"little data for that: a damaged or forged JPEG")


def _to_float(a: np.ndarray, maxval: float) -> np.ndarray:
    """uint ``(H, W[, C])`` (any strides) -> new C-contiguous float32 ``(H, W, C)`` = a / maxval."""
    if a.ndim == 2:
        a = a[:, :, None]
    out = np.empty(a.shape, dtype=np.float32)
    np.divide(a, maxval, out=out, dtype=np.float32)
    return out


def _buffer(a: np.ndarray) -> np.ndarray:
    """A decoded uint ``(H, W[, C])`` array (any strides) as a C-contiguous ``(H, W, C)`` buffer
    (no copy when it already is one; Pillow's is read-only, which the engine does not mind)."""
    if a.ndim == 2:
        a = a[:, :, None]
    return np.ascontiguousarray(a)


def _alpha_to_float(a: np.ndarray, maxval: float) -> np.ndarray:
    out = np.empty(a.shape, dtype=np.float32)
    np.divide(a, maxval, out=out, dtype=np.float32)
    return out


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"),
                                             outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return im.convert("RGB")


def _split_channels(arr: np.ndarray, grey: bool, has_alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W[, S]) -> colour (H, W, 1|3) view and alpha (H, W) view or None."""
    if arr.ndim == 2:
        return arr[:, :, None], None
    s = arr.shape[2]
    if grey:
        alpha = arr[:, :, s - 1] if has_alpha and s >= 2 else None
        return arr[:, :, :1], alpha
    alpha = arr[:, :, 3] if has_alpha and s >= 4 else None
    return arr[:, :, :3], alpha


def _decode_pillow(path: Path, im: Image.Image) -> tuple[np.ndarray, np.ndarray | None, int, bytes | None]:
    """Full decode of an (up to 8-bit) image via Pillow, orientation applied.

    Returns pixels, alpha, bit depth and the ICC profile (``None`` after a CMYK conversion).
    """
    icc = im.info.get("icc_profile") or None
    if im.format in ("JPEG", "MPO") and im.mode in ("RGB", "L"):
        return _buffer(_orient(_decode_jpeg(path, im), _orientation(im))), None, 8, icc
    stored = getattr(im, "_tile_size", None)
    if im.format == "TIFF" and stored is not None and tuple(stored) != im.size:
        # Pillow's TIFF reader swaps the size of orientations 5-8 at open but decodes the stored
        # layout into it (a scrambled picture): decode as stored; _orient turns it below
        im._size = tuple(stored)
    try:
        im.load()
    except _DECODE_ERRORS as err:
        raise BackdropError(f"{path}: truncated or corrupt image ({_one_line(err)})") from err
    orientation = _orientation(im)
    mode = im.mode
    if mode == "CMYK":
        im, icc = _cmyk_to_rgb(im, icc), None
    elif mode in ("P", "PA"):
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("L", "RGB") and im.info.get("transparency") is not None:
        im = im.convert("LA" if mode == "L" else "RGBA")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode in ("RGBX", "YCbCr"):
        im = im.convert("RGB")
    elif mode not in ("L", "LA", "RGB", "RGBA") and not mode.startswith("I;16") and mode != "I":
        raise BackdropError(f"{path}: unsupported pixel format {mode!r}")
    mode = im.mode
    arr = np.asarray(im)
    if mode.startswith("I;16") or mode == "I":
        arr = np.clip(arr, 0, 65535).astype(np.uint16, copy=False) if mode == "I" else arr
        return _buffer(_orient(arr.astype(np.uint16, copy=False), orientation)), None, 16, icc
    colour, alpha = _split_channels(arr, grey=mode in ("L", "LA"), has_alpha=mode in ("LA", "RGBA"))
    alpha = None if alpha is None else _alpha_to_float(_orient(alpha, orientation), 255.0)
    return _buffer(_orient(colour, orientation)), alpha, 8, icc


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation of an opened image (1 when its EXIF block is broken: that should not
    make a good image unreadable). It is applied to the decoded array (``_orient``), the one place
    that is right for every mode and compression: Pillow's exif_transpose scrambled uncompressed
    grey, RGBA, CMYK and palette TIFFs with orientations 5-8."""
    try:
        return _valid_orientation(im.getexif().get(0x0112, 1))
    except _DECODE_ERRORS:
        return 1


# libjpeg's warnings that mean picture was lost: the data ends (or a marker cuts it) before the
# picture its header promises, or the entropy-coded data is garbage from some block on. libjpeg
# fills the rest with flat grey or noise and goes on; Pillow does not hear it.
_JPEG_LOSS = ("premature end", "bad huffman code", "instead of rst")


def _decode_jpeg(path: Path, im: Image.Image) -> np.ndarray:
    """An RGB or greyscale JPEG decoded by libjpeg-turbo through simplejpeg: (H, W, 3 | 1) uint8,
    as stored (not oriented). Pixel for pixel what Pillow decodes, 2-3x faster (no push loop),
    and it hears libjpeg's warnings: a file whose data ends before its picture does is refused
    rather than cleaned into a grey frame. Harmless warnings (extraneous bytes before a marker,
    which some cameras write) decode as every viewer does."""
    import simplejpeg

    data = path.read_bytes()
    space = "GRAY" if im.mode == "L" else "RGB"
    try:
        return simplejpeg.decode_jpeg(data, colorspace=space, strict=True)
    except ValueError as err:
        said = _one_line(err)
        if any(w in said.lower() for w in _JPEG_LOSS):
            w, h = im.size
            raise BackdropError(f"{path}: truncated or corrupt JPEG: its data does not hold the {w}x{h} "
                                f"picture its header promises (libjpeg: {said})") from None
    try:
        return simplejpeg.decode_jpeg(data, colorspace=space, strict=False)
    except ValueError as err:
        raise BackdropError(f"{path}: truncated or corrupt image ({_one_line(err)})") from None


@functools.lru_cache(maxsize=1)
def _cv2():
    """OpenCV, imported on first use (16-bit PNG and TIFF): 16 MB a process that never needs it saves."""
    import cv2

    return cv2


@functools.lru_cache(maxsize=None)
def _cv2_applies_orientation(fmt: str) -> bool:
    """Whether this OpenCV build applies the orientation tag itself with IMREAD_UNCHANGED.

    OpenCV does so for TIFF but not for PNG, and that has changed between releases:
    decode a tiny tagged file once and look.
    """
    a = (np.arange(6, dtype=np.uint16).reshape(2, 3) + 1) * 1000
    if fmt == "TIFF":
        buf = io.BytesIO()
        tifffile.imwrite(buf, a, photometric="minisblack", extratags=[(274, 3, 1, 7, True)])
        data = buf.getvalue()
    else:
        exif = Image.Exif()
        exif[0x0112] = 7
        ok, enc = _cv2().imencode(".png", a)
        data = b"".join(_png_with_chunks(enc.tobytes(), None, exif.tobytes()))
    d = _cv2().imdecode(np.frombuffer(data, np.uint8), _cv2().IMREAD_UNCHANGED)
    if d is not None and d.ndim == 3:
        d = d[:, :, 0]
    if d is not None and d.shape == a.shape and np.array_equal(d, a):
        return False
    if d is not None and np.array_equal(d, _orient(a, 7)):
        return True
    raise RuntimeError(f"OpenCV decodes {fmt} orientation in an unexpected way")


def _decode_cv2(path: Path, fmt: str, grey: bool, orientation: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Decode a 16-bit PNG/TIFF with OpenCV; colour and alpha views (upright) and bit depth."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
        arr = _cv2().imdecode(data, _cv2().IMREAD_UNCHANGED)
    except (OSError, _cv2().error) as err:
        raise BackdropError(f"{path}: truncated or corrupt image ({_one_line(err)})") from err
    if arr is None:
        raise BackdropError(f"{path}: truncated or corrupt {fmt} image")
    if arr.ndim == 3:
        if arr.shape[2] == 3:
            arr = arr[:, :, ::-1]
        elif arr.shape[2] == 4:
            arr = arr[:, :, [2, 1, 0, 3]]
    has_alpha = arr.ndim == 3 and arr.shape[2] in (2, 4)
    colour, alpha = _split_channels(arr, grey=grey or (arr.ndim == 3 and arr.shape[2] == 2),
                                    has_alpha=has_alpha)
    if not _cv2_applies_orientation(fmt):
        colour, alpha = _orient(colour, orientation), (None if alpha is None else _orient(alpha, orientation))
    return colour, alpha, (16 if arr.dtype != np.uint8 else 8)


def _decode_tifffile(path: Path, page: Any) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Decode page 0 of a TIFF with tifffile (stored orientation, not applied here)."""
    photometric = int(page.photometric)
    if photometric not in (0, 1, 2):
        raise BackdropError(f"{path}: unsupported TIFF colour model "
                            f"({getattr(page.photometric, 'name', photometric)}) at {page.bitspersample} bits")
    arr = page.asarray()
    if page.axes.startswith("S") and arr.ndim == 3:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim not in (2, 3):
        raise BackdropError(f"{path}: unsupported TIFF layout {page.axes!r}")
    if arr.dtype.kind == "f":  # float TIFF: [0, 1], kept at 16 bits
        arr = np.nan_to_num(arr.astype(np.float32))  # float16 * 65535 would overflow to inf (black)
        top = float(arr.max()) if arr.size else 0.0
        if top > 1.0 + 1e-3:  # scene-referred (HDR) values: clipping them would be a silent wrong picture
            raise BackdropError(f"{path}: floating-point TIFF with values up to {top:.3g} (above 1.0, an HDR "
                                f"image): export it as a 16-bit TIFF first")
        arr = (np.clip(arr, 0.0, 1.0) * np.float32(65535.0) + np.float32(0.5)).astype(np.uint16)
    elif arr.dtype not in (np.uint8, np.uint16):
        raise BackdropError(f"{path}: unsupported TIFF sample type "
                            f"({page.bitspersample}-bit {arr.dtype.name})")
    bits = 8 if arr.dtype == np.uint8 else 16
    if bits == 16 and 8 < int(page.bitspersample) < 16:
        # 10/12/14-bit samples are stored in the low bits: scale to the full 16-bit range.
        arr = (arr.astype(np.float32) * (65535.0 / (2 ** int(page.bitspersample) - 1)) + 0.5).astype(np.uint16)
    maxval = 255 if bits == 8 else 65535
    if photometric == 0:  # MINISWHITE
        arr = maxval - arr
    grey = photometric in (0, 1)
    extras = tuple(int(e) for e in (page.extrasamples or ()))
    has_alpha = bool(extras) and extras[0] in (1, 2) and arr.ndim == 3
    colour, alpha = _split_channels(arr, grey=grey, has_alpha=has_alpha)
    if has_alpha and extras[0] == 1 and alpha is not None:  # associated: un-premultiply
        c = colour.astype(np.float32)
        a = alpha.astype(np.float32)[:, :, None]
        np.divide(c * maxval, a, out=c, where=a > 0)
        colour = (np.clip(c, 0, maxval) + 0.5).astype(arr.dtype)
    return colour, alpha, bits


def read_image(path: str | os.PathLike[str], *, max_pixels: int = 200_000_000) -> Photo:
    """Read a JPEG, PNG, TIFF or WebP photograph into float32 pixels.

    8-bit files are decoded with Pillow. 16-bit PNG (OpenCV) and 16-bit TIFF (tifffile,
    OpenCV for codecs tifffile lacks) keep all 16 bits. The EXIF orientation is applied.
    Palette images become RGB(A); greyscale stays one channel; CMYK is converted to sRGB
    through its embedded ICC profile (``icc_profile`` is then ``None``). Files with several
    frames or pages: the first one is used.

    Args:
        path: The image file.
        max_pixels: Refuse images with more pixels than this (decompression bombs).

    Returns:
        A :class:`Photo`; ``pixels`` is float32 ``(H, W, 3)`` or ``(H, W, 1)`` in [0, 1].

    Raises:
        BackdropError: missing, empty, unreadable, truncated or oversized file.

    Example:
        >>> photo = read_image("shoot/a.jpg")  # doctest: +SKIP
        >>> photo.size, photo.pixels.dtype  # doctest: +SKIP
        ((6000, 4000), dtype('float32'))
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        if p.is_symlink():
            raise BackdropError(f"{p}: broken link (what it points to is not there)") from None
        raise BackdropError(f"{p}: file not found") from None
    except OSError as err:
        raise BackdropError(f"{p}: cannot read ({_one_line(err.strerror or err)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise BackdropError(f"{p}: is a folder, not an image")
    if not stat.S_ISREG(st.st_mode):  # reading a FIFO would wait for a writer forever
        raise BackdropError(f"{p}: not a regular file (a FIFO, a socket or a device), not an image")
    if st.st_size == 0:
        raise BackdropError(f"{p}: empty file (0 bytes)")
    try:
        with open(p, "rb") as f:
            head = f.read(32)
    except OSError as err:
        raise BackdropError(f"{p}: cannot read ({_one_line(err.strerror or err)})") from None
    fmt = _sniff(head)
    if fmt is None:
        raise BackdropError(f"{p}: not a JPEG, PNG, TIFF or WebP image")

    try:
        im = _pil_open(p, fmt, max_pixels)
    except Image.DecompressionBombError as err:
        raise BackdropError(f"{p}: image is too large ({_one_line(err)})") from err
    except _DECODE_ERRORS + (UnidentifiedImageError,) as err:
        if fmt != "TIFF":
            raise BackdropError(f"{p}: corrupt or unsupported {fmt} file ({_one_line(err)})") from err
        im = None  # some TIFF layouts (e.g. 16-bit grey + alpha) only tifffile understands

    try:
        if fmt == "TIFF":
            return _read_tiff(p, im, max_pixels)
        w, h = im.size
        _check_pixels(p, w, h, max_pixels)
        if fmt == "JPEG":
            _check_jpeg_promise(p, w, h, st.st_size)
        if fmt == "PNG" and head[12:16] == b"IHDR" and head[24] == 16:
            grey = head[25] in (0, 4)
            icc = im.info.get("icc_profile") or None
            exif = _normalize_exif(im.info.get("exif") or _png_exif_chunk(p))
            orientation = _exif_orientation_entry(exif)[0] if exif else 1
            colour, alpha, bits = _decode_cv2(p, fmt, grey, orientation)
            alpha_f = None if alpha is None else _alpha_to_float(alpha, 65535.0 if bits == 16 else 255.0)
            return Photo(p, _buffer(colour), alpha_f, bits, "PNG", icc, _exif_reset_orientation(exif))
        exif = _normalize_exif(im.info.get("exif"))
        pixels, alpha, bits, icc = _decode_pillow(p, im)
        if exif is None:
            # A PNG eXIf chunk after the pixel data: Pillow reads it while decoding (and
            # _decode_pillow has applied its orientation).
            exif = _normalize_exif(im.info.get("exif"))
        return Photo(p, pixels, alpha, bits, fmt, icc, _exif_reset_orientation(exif))
    finally:
        if im is not None:
            im.close()


def _read_tiff(p: Path, im: Image.Image | None, max_pixels: int | None) -> Photo:
    try:
        tif = tifffile.TiffFile(p)
    except _DECODE_ERRORS as err:
        if im is None:
            raise BackdropError(f"{p}: corrupt or unsupported TIFF file ({_one_line(err)})") from err
        tif = None
    try:
        page = tif.pages[0] if tif is not None and len(tif.pages) else None
        if page is None and im is None:
            raise BackdropError(f"{p}: TIFF file has no image")
        if page is not None:
            bits_tag = int(page.bitspersample)
            orientation = _valid_orientation(page.tags[274].value) if 274 in page.tags else 1
            h, w = int(page.imagelength), int(page.imagewidth)
            if orientation >= 5:
                w, h = h, w
        else:
            bits = im.tag_v2.get(258, 8)
            bits_tag = max(bits) if isinstance(bits, tuple) else int(bits)
            orientation = _valid_orientation(im.tag_v2.get(274, 1))
            w, h = im.size
        _check_pixels(p, w, h, max_pixels)
        icc = (im.info.get("icc_profile") if im is not None else None) or (
            page.iccprofile if page is not None else None) or None
        exif = _exif_from_tiff(im) if im is not None else None

        if im is not None and bits_tag <= 8:
            pixels, alpha, bits, icc = _decode_pillow(p, im)  # icc None after a CMYK conversion
            return Photo(p, pixels, alpha, bits, "TIFF", icc, exif)

        colour = None
        if page is not None:
            try:
                colour, alpha, bits = _decode_tifffile(p, page)
                colour = _orient(colour, orientation)
                alpha = None if alpha is None else _orient(alpha, orientation)
            except BackdropError:
                raise
            except _DECODE_ERRORS as err:
                if "imagecodecs" not in str(err):  # anything but a codec tifffile lacks (LZW ...)
                    raise BackdropError(f"{p}: truncated or corrupt image ({_one_line(err)})") from err
        if colour is None:
            grey = int(page.photometric) in (0, 1) if page is not None else im.mode.startswith(("I", "L"))
            colour, alpha, bits = _decode_cv2(p, "TIFF", grey, orientation)
        maxval = 65535.0 if bits == 16 else 255.0
        alpha_f = None if alpha is None else _alpha_to_float(alpha, maxval)
        return Photo(p, _buffer(colour), alpha_f, bits, "TIFF", bytes(icc) if icc else None, exif)
    finally:
        if tif is not None:
            tif.close()


def as_coverage(mask: Any) -> np.ndarray:
    """A subject mask as float32 ``(H, W)`` in [0, 1]: a uint8 / uint16 mask divided by its full
    scale, a float one clipped (NaN as 0)."""
    a = np.asarray(mask)
    if a.dtype in (np.uint8, np.uint16):
        return _to_float(a, 255.0 if a.dtype == np.uint8 else 65535.0)[:, :, 0]
    return np.clip(np.nan_to_num(a.astype(np.float32, copy=False)), 0.0, 1.0)


def read_mask(path: str | os.PathLike[str], *, size: tuple[int, int]) -> np.ndarray:
    """Read a subject mask (white = subject) for an image of ``size = (width, height)``.

    Accepts greyscale, RGB, greyscale/RGB with alpha and 16-bit files. When the file has
    a meaningful alpha channel (not constant), the alpha is the mask (a cut-out); otherwise
    its luminance is. The EXIF orientation is applied, as for photos.

    Returns:
        ``(H, W)``: the file's own uint8 / uint16 values (full scale = subject) for a grey mask
        or one whose channels are equal, else float32 in [0, 1]. The engine takes either;
        :func:`as_coverage` gives float32.

    Raises:
        BackdropError: unreadable file, or a size other than ``size`` (both sizes named).
    """
    want = (int(size[0]), int(size[1]))
    try:  # a mask can hold no more pixels than its photo: a bigger one is refused on its header
        photo = read_image(path, max_pixels=want[0] * want[1])
    except TooLarge as err:
        raise BackdropError(f"{path}: mask is {err.width}x{err.height} pixels but the image is "
                            f"{want[0]}x{want[1]}") from None
    if photo.size != want:
        raise BackdropError(
            f"{path}: mask is {photo.size[0]}x{photo.size[1]} pixels but the image is "
            f"{want[0]}x{want[1]}"
        )
    a = photo.alpha
    if a is not None and float(a.min()) < float(a.max()):
        return a
    px = photo.data
    if px.shape[2] == 1:
        return np.ascontiguousarray(px[:, :, 0])
    r, g, b = px[:, :, 0], px[:, :, 1], px[:, :, 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        return np.ascontiguousarray(r)
    px = photo.pixels
    r, g, b = px[:, :, 0], px[:, :, 1], px[:, :, 2]
    lum = r * np.float32(0.2126)
    lum += g * np.float32(0.7152)
    lum += b * np.float32(0.0722)
    return np.clip(lum, 0.0, 1.0, out=lum)


# --------------------------------------------------------------------------- quantising

_CHUNK_ROWS = 64
_NOISE_TILE = 256


def _noise_band(seed: int, width: int, channels: int) -> np.ndarray:
    """TPDF noise in (-1, 1) LSB: a fixed 256x256 tile, repeated across ``width``."""
    rng = np.random.default_rng(seed)
    u = rng.random((2, _NOISE_TILE, _NOISE_TILE, channels), dtype=np.float32)
    tile = u[0] - u[1]
    reps = -(-width // _NOISE_TILE)
    return np.ascontiguousarray(np.tile(tile, (1, reps, 1))[:, :width])


def _quantize(pixels: np.ndarray, bits: int, *, reference: np.ndarray | None,
              dither: bool, seed: int) -> np.ndarray:
    """float ``(H, W, C)`` -> uint8/uint16, clipped to [0, 1] and rounded once.

    With ``dither`` (8-bit), TPDF noise of +-1 LSB is added before rounding, but only where
    the value differs from ``reference`` and is strictly inside (0, 1): untouched pixels and
    pure black / pure white come back exactly.
    """
    h, w, c = pixels.shape
    maxval = 255.0 if bits == 8 else 65535.0
    out = np.empty((h, w, c), dtype=np.uint8 if bits == 8 else np.uint16)
    if h == 0 or w == 0:
        return out
    rows = min(_CHUNK_ROWS, h)
    buf = np.empty((rows, w, c), dtype=np.float32)
    noise = _noise_band(seed, w, c) if dither else None
    scale = np.float32(maxval)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        n = y1 - y0
        src = pixels[y0:y1]
        t = buf[:n]
        np.fmax(src, 0.0, out=t)  # NaN -> 0
        np.fmin(t, 1.0, out=t)
        if dither:
            mask = t > 0.0
            mask &= t < 1.0
            if reference is not None:
                mask &= src != reference[y0:y1]
            t *= scale
            r0 = y0 % _NOISE_TILE
            np.add(t, noise[r0:r0 + n], out=t, where=mask)
            np.rint(t, out=t)
            np.clip(t, 0.0, scale, out=t)
        else:
            t *= scale
            np.rint(t, out=t)
        out[y0:y1] = t
    return out


def _as_hwc(array: Any, name: str) -> np.ndarray:
    """numpy ``(H, W[, C])`` or torch ``([1,] C, H, W)`` -> float32 ``(H, W, C)``."""
    if hasattr(array, "detach") and hasattr(array, "cpu"):  # torch.Tensor, without importing torch
        t = array.detach().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.is_floating_point() and str(t.dtype) != "torch.float32":
            t = t.float()
        a = t.numpy()
        if a.ndim == 3:
            a = a.transpose(1, 2, 0)
    else:
        a = np.asarray(array)
    if a.dtype.kind != "f":
        raise ValueError(f"{name}: expected float pixels in [0, 1], got dtype {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"{name}: expected (H, W, 1|3) pixels or a (1|3, H, W) tensor, got shape {a.shape}")
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    return a


# --------------------------------------------------------------------------- encoders

# zlib levels: photographic data gains ~5-10 % in size from higher levels at 3-5x the time
# (24 MP: 16-bit PNG 3 s at level 1, 12 s at level 6). PNG encodes on one core; TIFF strips
# are compressed in parallel, so it can afford a little more.
_PNG_LEVEL = 1
_TIFF_LEVEL = 3

def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)


def _png_with_chunks(png: bytes | memoryview, icc: bytes | None, exif: bytes | None) -> list[Any]:
    """Insert iCCP and eXIf chunks right after IHDR of an encoded PNG (returns the parts)."""
    png = memoryview(png)
    if bytes(png[:8]) != b"\x89PNG\r\n\x1a\n" or bytes(png[12:16]) != b"IHDR":
        raise ValueError("encoder did not produce a PNG")
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        extra += _png_chunk(b"eXIf", exif[6:] if exif.startswith(_EXIF_HEADER) else exif)
    return [png[:33], extra, png[33:]]


def _encode_png_raw(data: np.ndarray, color_type: int) -> bytes:
    """Minimal PNG encoder (filter 0, zlib) for layouts OpenCV cannot write (grey + alpha)."""
    h, w, s = data.shape
    depth = data.dtype.itemsize * 8
    rows = data.astype(">u2" if depth == 16 else np.uint8, copy=False).reshape(h, -1).view(np.uint8)
    raw = np.empty((h, rows.shape[1] + 1), dtype=np.uint8)
    raw[:, 0] = 0
    raw[:, 1:] = rows
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), _PNG_LEVEL)) + _png_chunk(b"IEND", b""))


def _write_png(f: BinaryIO, data: np.ndarray, icc: bytes | None, exif: bytes | None) -> None:
    s = data.shape[2]
    if s == 2:  # grey + alpha
        png = _encode_png_raw(data, 4)
    else:
        if s == 1:
            bgr = data[:, :, 0]
        elif s == 3:
            bgr = data[:, :, ::-1]
        else:
            bgr = data[:, :, [2, 1, 0, 3]]
        ok, enc = _cv2().imencode(".png", np.ascontiguousarray(bgr),
                               [_cv2().IMWRITE_PNG_COMPRESSION, _PNG_LEVEL])
        if not ok:
            raise OSError("PNG encoder failed")
        png = enc.data
    for part in _png_with_chunks(png, icc, exif):
        f.write(part)


def _tiff_ifd_from_exif(exif: bytes | None) -> TiffImagePlugin.ImageFileDirectory_v2:
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    if not exif:
        return ifd
    try:
        src = Image.Exif()
        src.load(exif)
        _carry_exif_tags(src, ifd)
    except _DECODE_ERRORS:
        return TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    return ifd


def _write_tiff(f: BinaryIO, data: np.ndarray, grey: bool, alpha: bool,
                icc: bytes | None, exif: bytes | None) -> None:
    """Baseline TIFF, deflate + horizontal predictor, 8 or 16 bits, full EXIF.

    Written with Pillow's IFD serialiser (so the Exif and GPS sub-IFDs survive), which
    neither Pillow's libtiff writer nor tifffile can do for compressed or 16-bit files.
    """
    h, w, s = data.shape
    dtype = np.dtype("<u2") if data.dtype.itemsize == 2 else np.dtype(np.uint8)
    row_bytes = max(1, w * s * dtype.itemsize)
    rps = max(1, min(h, (1 << 19) // row_bytes))

    def encode(y0: int) -> bytes:
        block = data[y0:y0 + rps]
        pred = np.empty(block.shape, dtype=dtype)
        pred[:, 0] = block[:, 0]
        np.subtract(block[:, 1:], block[:, :-1], out=pred[:, 1:], casting="unsafe")
        return zlib.compress(pred.tobytes(), _TIFF_LEVEL)

    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        strips = list(pool.map(encode, range(0, h, rps)))

    ifd = _tiff_ifd_from_exif(exif)
    ifd[256] = w
    ifd[257] = h
    ifd[258] = (dtype.itemsize * 8,) * s
    ifd[259] = 8  # Adobe deflate
    ifd[262] = 1 if grey else 2
    ifd[274] = 1
    if 282 not in ifd or 283 not in ifd:
        ifd[282] = ifd[283] = TiffImagePlugin.IFDRational(72, 1)
        ifd[296] = 2
    ifd[277] = s
    ifd[278] = rps
    ifd[284] = 1
    ifd[317] = 2  # horizontal differencing
    ifd[339] = (1,) * s
    if alpha:
        ifd[338] = (2,)  # unassociated alpha
    if icc:
        ifd[34675] = icc
        ifd.tagtype[34675] = TiffTags.UNDEFINED
    offsets, pos = [], 0
    for strip in strips:
        offsets.append(pos)
        pos += len(strip)
    if pos >= 2 ** 32 - (1 << 24):
        raise OSError("TIFF larger than 4 GB is not supported")
    ifd.tagtype[273] = TiffTags.LONG
    ifd.tagtype[279] = TiffTags.LONG
    ifd[273] = tuple(offsets)  # relative; Pillow adds the offset past the IFD
    ifd[279] = tuple(len(strip) for strip in strips)
    ifd.save(f)
    for strip in strips:
        f.write(strip)


def _write_pillow(f: BinaryIO, data: np.ndarray, fmt: str, quality: int,
                  icc: bytes | None, exif: bytes | None) -> None:
    s = data.shape[2]
    arr = data[:, :, 0] if s == 1 else data
    im = Image.fromarray(np.ascontiguousarray(arr))
    kwargs: dict[str, Any] = {}
    if icc:
        kwargs["icc_profile"] = icc
    if exif:
        if fmt == "JPEG" and len(exif) > 65533:
            warnings.warn("EXIF block too large for a JPEG APP1 segment; not written", stacklevel=3)
        else:
            kwargs["exif"] = exif
    if fmt == "JPEG":
        im.save(f, "JPEG", quality=quality, subsampling=0, **kwargs)
    elif fmt == "WEBP":
        if im.mode in ("L", "LA"):
            im = im.convert("RGBA" if im.mode == "LA" else "RGB")
        im.save(f, "WEBP", quality=quality, **kwargs)
    else:  # pragma: no cover - PNG and TIFF have their own encoders
        im.save(f, fmt, **kwargs)


def _icc_fits(icc: bytes | None, grey: bool) -> bytes | None:
    """Keep the profile only if its colour space matches the pixels written."""
    if not icc or len(icc) < 20:
        return None
    space = bytes(icc[16:20])
    if space == (b"GRAY" if grey else b"RGB "):
        return icc
    return None


# --------------------------------------------------------------------------- writing

def bits_for(path: str | os.PathLike[str], like: Photo) -> int:
    """Bits per channel of the file ``write_image(path, ..., like=like)`` writes: 16 for a 16-bit
    source written as PNG or TIFF, else 8."""
    fmt = _EXT_FORMAT.get(Path(path).suffix.lower())
    return 16 if like.bit_depth == 16 and fmt in ("PNG", "TIFF") else 8


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a link loop (Python before 3.13)
        return False


def write_image(
    path: str | os.PathLike[str],
    pixels: Any,
    *,
    like: Photo,
    reference: Any | None = None,
    quality: int = 95,
    seed: int = 0,
) -> Path:
    """Write float pixels as an image file, atomically, in the metadata of ``like``.

    The format follows the extension (``.jpg``/``.jpeg``, ``.png``, ``.tif``/``.tiff``,
    ``.webp``). Bit depth is ``like.bit_depth`` where the format allows it (16-bit PNG and
    TIFF), else 8. ICC profile, EXIF (orientation 1) and ``like.alpha`` are written where
    the format can hold them (JPEG has no alpha). 8-bit output gets a deterministic +-1 LSB
    triangular dither, but only on pixels that differ from ``reference`` (all pixels when
    it is ``None``), so pixels the engine left alone come back exactly as they were read.

    Args:
        path: Output file. Its folder must exist; it must not be ``like.path``.
        pixels: float ``(H, W, 3|1)`` numpy array or ``(3|1, H, W)`` torch tensor, in [0, 1]
            (values outside are clipped); or an integer ``(H, W, 3|1)`` array already at the
            file's depth (uint8, or uint16 where :func:`bits_for` says 16), written as it is.
        like: The photo the pixels came from (metadata, alpha, bit depth).
        reference: The original float pixels, same shape as ``pixels`` (e.g. ``like.pixels``);
            values equal to it count as unchanged and are rounded without dither.
        quality: JPEG / WebP quality, 1-100 (JPEG is written 4:4:4).
        seed: Dither seed; the same seed gives the same file.

    Returns:
        The path written.

    Raises:
        BackdropError: unsupported extension, missing folder, overwriting the original,
            or a failed write (no file is left behind).
        ValueError: pixels, reference or alpha of mismatching shapes (a bug in the caller).
    """
    out = Path(path)
    fmt = _EXT_FORMAT.get(out.suffix.lower())
    if fmt is None:
        raise BackdropError(f"{out}: unsupported output type {out.suffix or '(none)'!r} "
                            f"(use .jpg, .png, .tif or .webp)")
    if not isinstance(quality, (int, np.integer)) or not 1 <= int(quality) <= 100:
        raise BackdropError(f"quality: must be an integer from 1 to 100, got {quality!r}")
    folder = out.parent
    if not folder.is_dir():
        raise BackdropError(f"{out}: output folder {folder} does not exist")
    if out.is_dir():
        raise BackdropError(f"{out}: is a folder")
    if like.path is not None and _same_file(out, Path(like.path)):
        raise BackdropError(f"{out}: refusing to overwrite the original image")

    bits = bits_for(out, like)
    want = np.uint8 if bits == 8 else np.uint16
    if isinstance(pixels, np.ndarray) and pixels.dtype == want:
        # already rounded to the file's depth (render(..., bits=bits_for(path, like))): written as is
        data = pixels[:, :, None] if pixels.ndim == 2 else pixels
        if data.ndim != 3 or data.shape[2] not in (1, 3):
            raise ValueError(f"pixels: expected (H, W, 1|3), got shape {pixels.shape}")
        arr = None
    else:
        if isinstance(pixels, np.ndarray) and pixels.dtype in (np.uint8, np.uint16):
            pixels = pixels.astype(np.float32) / np.float32(255.0 if pixels.dtype == np.uint8 else 65535.0)
        arr = _as_hwc(pixels, "pixels")
        data = None
    ref = None
    if reference is not None and arr is not None:
        ref = _as_hwc(reference, "reference")
        if ref.shape != arr.shape:
            raise ValueError(f"reference: shape {ref.shape} does not match pixels {arr.shape}")
    h, w, c = (arr if arr is not None else data).shape
    grey = c == 1
    alpha = like.alpha if fmt != "JPEG" else None
    if alpha is not None and alpha.shape != (h, w):
        raise ValueError(f"like.alpha: shape {alpha.shape} does not match pixels {(h, w)}")

    if data is None:
        data = _quantize(arr, bits, reference=ref, dither=bits == 8, seed=seed)
    if alpha is not None:
        a = _quantize(np.asarray(alpha, dtype=np.float32)[:, :, None], bits,
                      reference=None, dither=False, seed=seed)
        data = np.concatenate([data, a], axis=2)
    written_grey = grey and fmt != "WEBP"
    icc = _icc_fits(like.icc_profile, written_grey)
    exif = _exif_reset_orientation(_normalize_exif(like.exif))

    def encode(f: BinaryIO) -> None:
        if fmt == "PNG":
            _write_png(f, data, icc, exif)
        elif fmt == "TIFF":
            _write_tiff(f, data, grey, alpha is not None, icc, exif)
        else:
            _write_pillow(f, data, fmt, int(quality), icc, exif)

    return atomic_write(out, encode, what="the image")


# a file name is at most 255 bytes; the temporary's adds ".", ".tmp-", a pid (up to 10 digits), "-" and 8 hex
_TEMP_NAME_ROOM = 255 - 25


def temp_stem(name: str) -> str:
    """An output's name as its temporary file carries it: the name itself, or, where the whole
    would pass the 255-byte limit of a file name, its first bytes and a hash of all of it."""
    raw = os.fsencode(name)
    if len(raw) <= _TEMP_NAME_ROOM:
        return name
    digest = hashlib.blake2b(raw, digest_size=4).hexdigest()
    head = raw[: _TEMP_NAME_ROOM - 9].decode("utf-8", errors="ignore") if isinstance(name, str) else ""
    while len(os.fsencode(head)) > _TEMP_NAME_ROOM - 9:  # a surrogate-escaped name may grow
        head = head[:-1]
    return f"{head}~{digest}"


def atomic_write(path: Path, write: Callable[[BinaryIO], None], *, what: str = "the file") -> Path:
    """Write a file atomically: ``write(f)`` fills a temporary file in the same folder, which is
    synced and renamed over ``path`` only when complete. On any error nothing is left behind and
    a BackdropError names ``path``."""
    out = Path(path)
    folder = out.parent
    if not folder.is_dir():
        raise BackdropError(f"{out}: output folder {folder} does not exist")
    tmp = folder / f".{temp_stem(out.name)}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(err, Exception):
            detail = err.strerror if isinstance(err, OSError) and err.strerror else err
            raise BackdropError(f"{out}: could not write {what} ({_one_line(detail)})") from err
        raise
    _fsync_dir(folder)
    return out


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data))


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def output_path_for(
    path: str | os.PathLike[str],
    *,
    suffix: str = "_clean",
    out_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where the cleaned version of ``path`` goes.

    ``"shoot/a.jpg"`` -> ``"shoot/a_clean.jpg"``; with ``out_dir="done"`` -> ``"done/a_clean.jpg"``.
    The extension (and so the format) is kept.

    Raises:
        BackdropError: the result would be the original file itself (empty suffix, same folder).
    """
    p = Path(path)
    folder = Path(out_dir) if out_dir is not None else p.parent
    out = folder / f"{p.stem}{suffix}{p.suffix}"
    if out == p or _same_file(out, p):
        raise BackdropError(f"suffix: {suffix!r} with output folder {folder} would overwrite "
                            f"the original {p}")
    return out
