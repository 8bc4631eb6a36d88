"""Metadata: EXIF orientation and bytes, PNG chunks."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .photo import _DECODE_ERRORS

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
