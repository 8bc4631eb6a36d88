"""Writing: rounding (with dither), the encoders, write_image."""
from __future__ import annotations

import os
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, TiffImagePlugin, TiffTags

from ..errors import BackdropError
from .files import _same_file, atomic_write
from .meta import (
    _carry_exif_tags,
    _exif_reset_orientation,
    _normalize_exif,
    _png_chunk,
    _png_with_chunks,
)
from .photo import _DECODE_ERRORS, _EXT_FORMAT, Photo, _cv2

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
