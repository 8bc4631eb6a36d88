"""A TIFF or JPEG written back over itself, keeping everything about the file (``backdrop edit``).

:func:`read_layout` reads what a file is made of besides its pixels; :func:`write_in_place`
encodes new pixels (the same size, channels and depth) in that layout and replaces the file
atomically. This is the one writer that may overwrite its input; ``write_image`` still refuses to.

**TIFF** (classic, one image, strips or tiles, chunky RGB or grey, 8 or 16 bits, optionally with an
unassociated alpha): every entry of the first IFD is copied as it is (type, count, bytes): resolution,
ICC profile (34675), XMP packet (700), Software, DateTime, Artist, Copyright, ImageDescription, Make,
Model, Photoshop's image resources (34377), private tags; the Exif, GPS and Interoperability IFDs
likewise, entry by entry. The pixels are written with the file's byte order, compression (none,
LZW, Adobe or old-style deflate, PackBits) and predictor (none, horizontal). What changes is the
layout only: strips of about 512 KB (StripOffsets, StripByteCounts, RowsPerStrip; tiles become
strips). Dropped, because they would show the picture from before: Photoshop's layers (37724) and
SubIFDs (330, reduced-resolution copies).

**JPEG** (baseline or progressive, YCbCr or grey): the pixels are encoded with the file's own
quantization tables (so its quality), chroma subsampling (4:4:4, 4:2:2, 4:2:0; others are written
4:4:4) and progressive mode; then every APPn and COM segment of the original (JFIF with its density,
Exif, XMP and extended XMP, the ICC profile, Photoshop's IRB, Adobe's) is put back in its order in
place of the encoder's own.

The pixels given to :func:`write_in_place` are upright, as ``read_image`` returns them; they are
turned back to the file's stored orientation so that its Orientation tag still holds.
"""
from __future__ import annotations

import io
import mmap
import os
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import BackdropError
from .files import atomic_write
from .meta import _orient, _valid_orientation
from .photo import _DECODE_ERRORS

__all__ = ["Entry", "JpegLayout", "TiffLayout", "read_layout", "write_in_place"]

# --------------------------------------------------------------------------- TIFF structure

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_SUB_IFDS = (34665, 34853, 40965)  # Exif, GPS, Interoperability (in the Exif IFD): copied entry by entry
_LAYOUT_TAGS = (273, 278, 279, 322, 323, 324, 325)  # strips and tiles: the writer's own
_DROPPED = (330, 37724)  # SubIFDs (reduced-resolution copies), Photoshop's layers: the picture from before
_COMPRESSIONS = {1: "none", 5: "LZW", 8: "Adobe deflate (ZIP)", 32946: "deflate (ZIP)", 32773: "PackBits"}
_TIFF_LEVEL = 3  # zlib level, as backdrop's own TIFFs (write.py)
_STRIP_BYTES = 1 << 19


@dataclass
class Entry:
    """One IFD entry as the file holds it: tag, TIFF type, count and the value's raw bytes in the
    file's byte order (``ifd``: the entries of the IFD it points to, for Exif, GPS, Interop)."""

    tag: int
    type: int
    count: int
    raw: bytes
    ifd: list[Entry] | None = None


@dataclass
class TiffLayout:
    """A classic TIFF's first image as it is stored: what write_in_place needs to write it again."""

    path: Path
    endian: str  # "<" (II) or ">" (MM)
    entries: list[Entry]
    width: int
    height: int
    bits: int
    samples: int
    compression: int
    predictor: int
    orientation: int
    format: str = field(default="TIFF", init=False)

    def value(self, tag: int) -> Entry | None:
        """The IFD0 entry of ``tag``, or None."""
        return next((e for e in self.entries if e.tag == tag), None)

    @property
    def software(self) -> str:
        """IFD0 Software (305)."""
        return _ascii(self.value(305))

    @property
    def make(self) -> str:
        """IFD0 Make (271)."""
        return _ascii(self.value(271))

    @property
    def xmp(self) -> bytes:
        """The XMP packet (tag 700), or b""."""
        e = self.value(700)
        return e.raw if e is not None else b""

    @property
    def description(self) -> str:
        """How it is stored, in words: "16-bit RGB TIFF, LZW, predictor 2"."""
        kind = {1: "grey", 2: "grey + alpha", 3: "RGB", 4: "RGBA"}[self.samples]
        pred = ", horizontal predictor" if self.predictor == 2 else ""
        return f"{self.bits}-bit {kind} TIFF, {_COMPRESSIONS[self.compression]}{pred}"


def _ascii(e: Entry | None) -> str:
    if e is None or e.type != 2:
        return ""
    return e.raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _ints(e: Entry | None, endian: str) -> tuple[int, ...]:
    """An entry's values as integers (BYTE, SHORT, LONG, IFD); () for other types."""
    if e is None:
        return ()
    code = {1: "B", 3: "H", 4: "I", 13: "I"}.get(e.type)
    if code is None:
        return ()
    return struct.unpack(f"{endian}{e.count}{code}", e.raw[: e.count * struct.calcsize(code)])


def _read_ifd(buf, offset: int, endian: str, *, depth: int = 0) -> tuple[list[Entry], int]:
    """The entries of the IFD at ``offset`` in ``buf`` (the file) and the next IFD's offset. Entries of
    unknown types are left out (their size is unknown: readers skip them)."""
    if depth > 2:
        raise ValueError("IFDs nested too deep")
    (n,) = struct.unpack_from(endian + "H", buf, offset)
    entries = []
    for i in range(n):
        pos = offset + 2 + 12 * i
        tag, typ, count = struct.unpack_from(endian + "HHI", buf, pos)
        size = _TYPE_SIZE.get(typ)
        if size is None:
            continue
        nbytes = size * count
        if nbytes <= 4:
            raw = bytes(buf[pos + 8: pos + 8 + nbytes])
        else:
            (at,) = struct.unpack_from(endian + "I", buf, pos + 8)
            if at + nbytes > len(buf):
                raise ValueError(f"tag {tag} points past the end of the file")
            raw = bytes(buf[at: at + nbytes])
        entry = Entry(tag, typ, count, raw)
        if tag in _SUB_IFDS and typ in (4, 13) and count == 1:
            (sub,) = struct.unpack(endian + "I", raw)
            entry.ifd = _read_ifd(buf, sub, endian, depth=depth + 1)[0]
        entries.append(entry)
    (nxt,) = struct.unpack_from(endian + "I", buf, offset + 2 + 12 * n)
    return entries, nxt


def _read_tiff_layout(path: Path, buf) -> TiffLayout:
    endian = {b"II": "<", b"MM": ">"}[bytes(buf[:2])]
    (magic,) = struct.unpack_from(endian + "H", buf, 2)
    if magic == 43:
        raise BackdropError(f"{path}: a BigTIFF; edit writes classic TIFFs (under 4 GB) back")
    (first,) = struct.unpack_from(endian + "I", buf, 4)
    try:
        entries, nxt = _read_ifd(buf, first, endian)
    except (struct.error, ValueError) as err:
        raise BackdropError(f"{path}: corrupt TIFF structure ({err})") from None
    if nxt:
        raise BackdropError(f"{path}: a TIFF with several images (pages); edit writes back one-image TIFFs")

    def one(tag: int, default: int | None = None) -> int:
        got = _ints(next((e for e in entries if e.tag == tag), None), endian)
        if not got:
            if default is None:
                raise BackdropError(f"{path}: TIFF without tag {tag}")
            return default
        return got[0]

    def every(tag: int) -> tuple[int, ...]:
        return _ints(next((e for e in entries if e.tag == tag), None), endian)

    samples = one(277, 1)
    bits = set(every(258) or (1,))
    depth = min(bits)
    photometric, planar = one(262), one(284, 1)
    extras = every(338)
    compression, predictor = one(259, 1), one(317, 1)
    formats = set(every(339) or (1,))
    what = None
    if len(bits) != 1 or depth not in (8, 16) or formats != {1}:
        what = f"samples of {'/'.join(map(str, every(258)))} bits" + ("" if formats == {1} else " (not integers)")
    elif photometric not in (1, 2) or samples != (1 if photometric == 1 else 3) + len(extras) or len(extras) > 1:
        what = f"colour model {photometric} with {samples} samples"
    elif extras and extras[0] != 2:
        what = "premultiplied or unspecified extra samples"
    elif planar != 1:
        what = "planar (separate) channels"
    elif compression not in _COMPRESSIONS:
        what = f"compression {compression}"
    elif predictor not in (1, 2):
        what = f"predictor {predictor}"
    if what is not None:
        raise BackdropError(f"{path}: edit cannot write this TIFF back as it is ({what}); "
                            f"it takes 8- or 16-bit RGB or grey")
    orientation = one(274, 1)
    return TiffLayout(path, endian, entries, one(256), one(257), depth, samples, compression, predictor,
                      orientation if 1 <= orientation <= 8 else 1)


def _encode_strip(block: np.ndarray, layout: TiffLayout) -> bytes:
    dtype = np.dtype(layout.endian + ("u2" if layout.bits == 16 else "u1"))
    if layout.predictor == 2:
        pred = np.empty(block.shape, dtype=block.dtype)
        pred[:, 0] = block[:, 0]
        np.subtract(block[:, 1:], block[:, :-1], out=pred[:, 1:], casting="unsafe")  # wraps, as TIFF's does
        block = pred
    raw = np.ascontiguousarray(block, dtype=dtype).tobytes()
    if layout.compression in (8, 32946):
        return zlib.compress(raw, _TIFF_LEVEL)
    if layout.compression == 5:
        import imagecodecs

        return imagecodecs.lzw_encode(raw)
    if layout.compression == 32773:
        import imagecodecs

        return imagecodecs.packbits_encode(raw)
    return raw


def _entry(tag: int, typ: int, values: tuple[int, ...], endian: str) -> Entry:
    code = {3: "H", 4: "I"}[typ]
    return Entry(tag, typ, len(values), struct.pack(f"{endian}{len(values)}{code}", *values))


def _ifd_bytes(entries: list[Entry], endian: str, at: int) -> bytes:
    """An IFD placed at file offset ``at``, followed by its values and the IFDs it points to."""
    entries = sorted(entries, key=lambda e: e.tag)
    head = bytearray(2 + 12 * len(entries) + 4)
    struct.pack_into(endian + "H", head, 0, len(entries))
    tail = bytearray()

    def place(data: bytes) -> int:
        if (at + len(head) + len(tail)) % 2:
            tail.append(0)  # values start on a word boundary
        pos = at + len(head) + len(tail)
        tail.extend(data)
        return pos

    for i, e in enumerate(entries):
        raw = e.raw
        if e.ifd is not None:
            if (at + len(head) + len(tail)) % 2:
                tail.append(0)
            sub_at = at + len(head) + len(tail)
            tail.extend(_ifd_bytes(e.ifd, endian, sub_at))
            raw = struct.pack(endian + "I", sub_at)
        field_ = raw.ljust(4, b"\0") if len(raw) <= 4 else struct.pack(endian + "I", place(raw))
        struct.pack_into(endian + "HHI4s", head, 2 + 12 * i, e.tag, e.type, e.count, field_)
    return bytes(head + tail)  # next-IFD offset: 0


def _write_tiff_kept(f: BinaryIO, data: np.ndarray, layout: TiffLayout) -> None:
    h, w, s = data.shape
    row_bytes = w * s * data.dtype.itemsize
    rps = max(1, min(h, _STRIP_BYTES // max(1, row_bytes)))
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        strips = list(pool.map(lambda y0: _encode_strip(data[y0:y0 + rps], layout), range(0, h, rps)))
    e = layout.endian
    offsets, pos = [], 8
    for strip in strips:
        offsets.append(pos)
        pos += len(strip)
    pad = pos % 2
    ifd_at = pos + pad
    entries = [x for x in layout.entries if x.tag not in _LAYOUT_TAGS + _DROPPED]
    entries += [_entry(273, 4, tuple(offsets), e), _entry(278, 4, (rps,), e),
                _entry(279, 4, tuple(len(s_) for s_ in strips), e)]
    ifd = _ifd_bytes(entries, e, ifd_at)
    if ifd_at + len(ifd) >= 2 ** 32:
        raise OSError("the TIFF would be over 4 GB")
    f.write((b"II*\0" if e == "<" else b"MM\0*") + struct.pack(e + "I", ifd_at))
    for strip in strips:
        f.write(strip)
    f.write(b"\0" * pad)
    f.write(ifd)


# --------------------------------------------------------------------------- JPEG structure

_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\0"


@dataclass
class JpegLayout:
    """A JPEG's segments besides the picture and how its picture was encoded."""

    path: Path
    segments: list[bytes]  # every APPn and COM segment, marker and length included, in order
    qtables: list[list[int]]
    subsampling: int  # Pillow's: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    progressive: bool
    grey: bool
    width: int  # as stored
    height: int
    orientation: int
    make: str  # EXIF Make (271)
    software: str  # EXIF Software (305)
    format: str = field(default="JPEG", init=False)

    @property
    def xmp(self) -> bytes:
        """The XMP packet of the APP1 segment, or b""."""
        for seg in self.segments:
            if seg[1] == 0xE1 and seg[4:4 + len(_XMP_APP1)] == _XMP_APP1:
                return seg[4 + len(_XMP_APP1):]
        return b""

    @property
    def description(self) -> str:
        """How it is stored, in words."""
        sub = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(self.subsampling, "4:4:4")
        return f"{'grey' if self.grey else sub} {'progressive ' if self.progressive else ''}JPEG"


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """The marker segments before the scan: (marker, start, end) each, and where the scan's SOS is."""
    out, pos = [], 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("no marker where one should be")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:
            return out, pos
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        out.append((marker, pos, pos + 2 + length))
        pos += 2 + length
    raise ValueError("no scan")


def _is_meta(marker: int) -> bool:
    return 0xE0 <= marker <= 0xEF or marker == 0xFE


def _read_jpeg_layout(path: Path, data: bytes) -> JpegLayout:
    from PIL import Image, JpegImagePlugin

    try:
        segs, _ = _jpeg_segments(data)
        im = Image.open(io.BytesIO(data), formats=["JPEG"])
    except (ValueError, struct.error, OSError) as err:
        raise BackdropError(f"{path}: corrupt JPEG structure ({err})") from None
    if im.mode not in ("RGB", "L") or im.info.get("adobe_transform") == 0 and im.mode == "RGB":
        raise BackdropError(f"{path}: edit cannot write this JPEG back as it is ({im.mode} without YCbCr); "
                            f"it takes YCbCr or grey JPEGs")
    sampling = JpegImagePlugin.get_sampling(im) if im.mode == "RGB" else 0
    try:  # as read_image reads them (Pillow), so the orientation undone on writing is the one it applied
        exif = im.getexif()
        orientation, make, software = exif.get(274, 1), exif.get(271, ""), exif.get(305, "")
    except _DECODE_ERRORS:
        orientation, make, software = 1, "", ""
    return JpegLayout(path, [data[a:b] for m, a, b in segs if _is_meta(m)],
                      [list(t) for _, t in sorted(im.quantization.items())],
                      sampling if sampling in (0, 1, 2) else 0, "progressive" in im.info, im.mode == "L",
                      im.size[0], im.size[1], _valid_orientation(orientation), _text(make), _text(software))


def _text(value: object) -> str:
    return value.strip("\0 ") if isinstance(value, str) else ""


def _write_jpeg_kept(f: BinaryIO, data: np.ndarray, layout: JpegLayout) -> None:
    from PIL import Image

    arr = data[:, :, 0] if data.shape[2] == 1 else data
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(
        buf, "JPEG", qtables=layout.qtables, subsampling=layout.subsampling, progressive=layout.progressive)
    ours = buf.getvalue()
    segs, _ = _jpeg_segments(ours)
    first_other = next((a for m, a, _ in segs if not _is_meta(m)), None)
    if first_other is None:
        raise ValueError("the JPEG encoder wrote no tables")
    f.write(b"\xff\xd8")
    f.writelines(layout.segments)
    f.write(memoryview(ours)[first_other:])


# --------------------------------------------------------------------------- in and out

def read_layout(path: str | os.PathLike[str]) -> TiffLayout | JpegLayout:
    """What a TIFF or JPEG is made of besides its pixels, to write it back as it is.

    Raises:
        BackdropError: not a TIFF or JPEG, or one whose layout edit cannot write back (a BigTIFF, several
            pages, CMYK, float or planar samples, an unsupported compression).
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
            if head[:3] == b"\xff\xd8\xff":
                return _read_jpeg_layout(p, head + fh.read())
            if head not in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
                raise BackdropError(f"{p}: edit takes a TIFF or JPEG editor's copy; this file is neither")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _read_tiff_layout(p, buf)
    except FileNotFoundError:
        raise BackdropError(f"{p}: file not found") from None
    except (OSError, struct.error) as err:
        raise BackdropError(f"{p}: cannot read ({getattr(err, 'strerror', None) or err})") from None


def _stored(data: np.ndarray, orientation: int) -> np.ndarray:
    """Upright pixels back in the layout of a file with this EXIF orientation (_orient's inverse)."""
    return _orient(data, {6: 8, 8: 6}.get(orientation, orientation))


def write_in_place(path: str | os.PathLike[str], data: np.ndarray, layout: TiffLayout | JpegLayout, *,
                   alpha: np.ndarray | None = None) -> Path:
    """Write ``data`` (upright uint8/uint16 ``(H, W, C)``, at the file's depth) over ``path`` in ``layout``:
    a temporary file in the same folder, synced, renamed over the original (which keeps its permissions).
    ``alpha``: float ``(H, W)`` in [0, 1] for a TIFF with an alpha channel. On any error the original is
    untouched and no temporary is left (BackdropError)."""
    out = Path(path)
    stored = _stored(data, layout.orientation)
    mode = os.stat(out).st_mode & 0o7777
    if isinstance(layout, TiffLayout):
        want = np.uint16 if layout.bits == 16 else np.uint8
        if stored.dtype != want or stored.shape[:2] != (layout.height, layout.width):
            raise ValueError(f"pixels {stored.shape} {stored.dtype} do not fit {layout.description} "
                             f"{layout.width}x{layout.height}")
        if alpha is not None:
            top = 65535.0 if layout.bits == 16 else 255.0
            a = np.rint(np.clip(_stored(alpha, layout.orientation), 0.0, 1.0) * np.float32(top)).astype(want)
            stored = np.concatenate([stored, a[:, :, None]], axis=2)
        if stored.shape[2] != layout.samples:
            raise ValueError(f"{stored.shape[2]} channels for a TIFF of {layout.samples} samples")

        def encode(f: BinaryIO) -> None:
            _keep_mode(f, mode)
            _write_tiff_kept(f, stored, layout)
    else:
        if stored.shape[:2] != (layout.height, layout.width) or stored.shape[2] != (1 if layout.grey else 3):
            raise ValueError(f"pixels {stored.shape} do not fit {layout.description} {layout.width}x{layout.height}")

        def encode(f: BinaryIO) -> None:
            _keep_mode(f, mode)
            _write_jpeg_kept(f, stored, layout)
    return atomic_write(out, encode, what="the image")


def _keep_mode(f: BinaryIO, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(f.fileno(), mode)


_EDITORS = re.compile(rb"lightroom|photoshop|capture\s*one", re.IGNORECASE)
_CREATOR = re.compile(rb"CreatorTool(?:=\"([^\"]*)\"|>([^<]*)<)")


def editor_named(layout: TiffLayout | JpegLayout) -> str:
    """The editor (Lightroom, Photoshop, Capture One) named by the file's Software tag or its XMP
    CreatorTool, in the file's own words; "" when neither does. (Not the XMP history: Lightroom's
    "Save Metadata to File" adds itself there in a camera's own JPEG.)"""
    candidates = [layout.software.encode("latin-1", "replace")]
    candidates += [a or b for a, b in _CREATOR.findall(layout.xmp)]
    for text in candidates:
        if _EDITORS.search(text):
            return text.decode("utf-8", "replace").strip()
    return ""
