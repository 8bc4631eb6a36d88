"""Reading: sniffing, header checks, the decoders, masks."""
from __future__ import annotations

import functools
import io
import os
import stat
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image, ImageCms, PngImagePlugin, UnidentifiedImageError

from ..errors import BackdropError, TooLarge
from .files import _one_line
from .meta import (
    _exif_from_tiff,
    _exif_orientation_entry,
    _exif_reset_orientation,
    _normalize_exif,
    _orient,
    _png_exif_chunk,
    _png_with_chunks,
    _valid_orientation,
)
from .photo import _DECODE_ERRORS, Photo, _cv2, _to_float

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
