"""An odd shoot folder: every kind of file a real shoot folder holds, small and fast.

Good files in every layout the reader handles (8/16-bit RGB PNG and TIFF, greyscale,
RGBA and LA, palette with and without transparency, bilevel, CMYK JPEG and TIFF with and
without an ICC profile, all eight EXIF orientations, progressive JPEG, WebP, tiny and odd
sizes, unicode and spaces in names, a PNG named .jpg, animated and multi-page files whose
first frame is used); bad files the batch must refuse with a one-line reason (zero bytes,
truncated JPEG/PNG/TIFF, a text file named .jpg, a PNG whose header claims 300 MP, a
16-bit CMYK TIFF); and files that are no input at all and are skipped silently (XMP and
JSON sidecars, an animated GIF, a text file, hidden files, a folder named like an image,
an earlier output ``x_clean.jpg`` and a mask ``x_mask.png``).

    python -m tests.oddfolder DIR      # write the folder (DIR must not exist or be empty)

From a test: ``cases = make_odd_folder(tmp_path / "odd")``; each :class:`Case` says
what the batch must do with its file.
"""
from __future__ import annotations

import argparse
import functools
import io
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageCms

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Case", "BASE_SIZE", "cmyk_profile", "make_odd_folder", "main"]

BASE_SIZE = (96, 64)  # (width, height) of most frames: landscape, so a rotation shows
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@dataclass(frozen=True)
class Case:
    """One file of the odd folder and what the batch must make of it.

    Attributes:
        name: the file name in the folder.
        kind: ``"good"`` (cleaned: one output), ``"bad"`` (refused: a one-line reason
            naming the file, no output) or ``"ignored"`` (not an input: silently skipped).
        what: a few words for a report table.
        size: ``(width, height)`` of the output, upright (good files).
        channels: 1 (greyscale) or 3 (colour) in the output.
        alpha: whether the output keeps an alpha channel (equal to the input's, bit for bit).
        bits: 8 or 16, bits per channel of the output.
        reason: for a bad file, a phrase its one-line reason contains.
    """

    name: str
    kind: str
    what: str
    size: tuple[int, int] | None = None
    channels: int = 3
    alpha: bool = False
    bits: int = 8
    reason: str = ""


# --------------------------------------------------------------------------- pixels

@functools.lru_cache(maxsize=None)
def _scene(size: tuple[int, int]) -> np.ndarray:
    """float32 (H, W, 3): a studio frame (subject, backdrop light, shadow, scuffs)."""
    from bench.scenes import make_scene

    w, h = size
    if min(w, h) >= 64 and max(w, h) <= 4 * min(w, h):
        return make_scene("white_seamless", size=size, seed=0).image
    big = make_scene("white_seamless", size=(max(64, w * 2), max(64, h * 2)), seed=0).image
    rgb8 = (np.clip(big, 0, 1) * 255 + 0.5).astype(np.uint8)
    small = Image.fromarray(rgb8).resize((w, h), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def rgb8(size: tuple[int, int] = BASE_SIZE) -> np.ndarray:
    return (np.clip(_scene(size), 0, 1) * 255 + 0.5).astype(np.uint8)


def rgb16(size: tuple[int, int] = BASE_SIZE) -> np.ndarray:
    return (np.clip(_scene(size), 0, 1) * 65535 + 0.5).astype(np.uint16)


def grey(a: np.ndarray) -> np.ndarray:
    lum = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return (lum + 0.5).astype(a.dtype)


def alpha_ramp(size: tuple[int, int], maxval: int) -> np.ndarray:
    """An alpha channel with every level: a diagonal ramp, with a fully clear and a fully
    opaque corner."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    t = (x / max(1, w - 1) + y / max(1, h - 1)) / 2.0
    a = np.round(t * maxval).astype(np.uint16 if maxval > 255 else np.uint8)
    a[:4, :4] = 0
    a[-4:, -4:] = maxval
    return a


# the pixels a camera stores for each EXIF orientation, written with numpy's own rotations and flips
# (not the reader's slicing: the test's expectation is made independently of the code it tests)
_STORED = {
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.rot90(np.fliplr(a)),  # transpose
    6: lambda a: np.rot90(a, 1),
    7: lambda a: np.rot90(np.flipud(a)),  # transverse
    8: lambda a: np.rot90(a, -1),
}


def stored_for(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels to store so that applying EXIF ``orientation`` gives ``upright``."""
    return _STORED.get(orientation, lambda a: a)(upright)


def _exif(orientation: int | None = None) -> bytes:
    e = Image.Exif()
    e[271] = "OddFolderCam"
    if orientation is not None:
        e[0x0112] = orientation
    return e.tobytes()


# --------------------------------------------------------------------------- ICC

def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _srgb_to_lab(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    c = np.asarray(rgb, dtype=np.float64)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4360747, 0.3850649, 0.1430804],   # sRGB -> XYZ (D50, Bradford)
                  [0.2225045, 0.7168786, 0.0606169],
                  [0.0139322, 0.0971045, 0.7141733]])
    t = (m @ lin) / np.array([0.9642, 1.0, 0.8249])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


@functools.lru_cache(maxsize=None)
def cmyk_profile() -> bytes:
    """A small but valid ICC v2 CMYK output profile (CMYK -> Lab, a 2-point lut16).

    Pillow can only make sRGB, LAB and XYZ profiles, and no CMYK profile ships with the
    system, so the tests make their own: a naive press whose cyan ink is 20 % weaker than
    ``Image.convert("RGB")`` assumes, so a conversion through the profile is told apart from
    a plain one (pure cyan becomes about (51, 255, 255) instead of (0, 255, 255)).
    """
    grid: list[int] = []
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    L, a, b = _srgb_to_lab(((1 - 0.8 * c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)))
                    grid += [int(round(np.clip(L, 0, 100) * 0xFF00 / 100)),
                             int(round(np.clip(a + 128, 0, 255.996) * 256)),
                             int(round(np.clip(b + 128, 0, 255.996) * 256))]
    lut = b"mft2" + b"\0" * 4 + bytes([4, 3, 2, 0])
    lut += b"".join(_s15(1.0 if i == j else 0.0) for i in range(3) for j in range(3))
    lut += struct.pack(">HH", 2, 2)
    lut += struct.pack(">8H", *([0, 65535] * 4))
    lut += struct.pack(f">{len(grid)}H", *grid)
    lut += struct.pack(">6H", *([0, 65535] * 3))
    text = b"CMYK test press (Clean Backdrop tests)"
    desc = (b"desc" + b"\0" * 4 + struct.pack(">I", len(text) + 1) + text + b"\0"
            + b"\0" * 8 + b"\0" * 3 + b"\0" * 67)
    wtpt = b"XYZ " + b"\0" * 4 + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    cprt = b"text" + b"\0" * 4 + b"No copyright, test data\0"
    tags = [(b"desc", desc), (b"wtpt", wtpt), (b"cprt", cprt), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    header = (struct.pack(">I", offset + len(body)) + b"lcms" + struct.pack(">I", 0x02100000)
              + b"prtr" + b"CMYK" + b"Lab " + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp"
              + b"APPL" + b"\0" * 4 + b"\0" * 16 + b"\0" * 4
              + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


# --------------------------------------------------------------------------- writers

def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _cv2_png(path: Path, a: np.ndarray, exif: bytes | None = None) -> None:
    """A PNG through OpenCV (16-bit colour, grey, RGBA), with an eXIf chunk after IHDR."""
    if a.ndim == 3 and a.shape[2] == 3:
        a = a[:, :, ::-1]
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, [2, 1, 0, 3]]
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(a))
    assert ok
    png = enc.tobytes()
    if exif:
        png = png[:33] + _png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif) + png[33:]
    path.write_bytes(png)


def _huge_png(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width x height`` pixels; its data is a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b""))


def _half(path: Path, data: bytes) -> None:
    path.write_bytes(data[: len(data) // 2])


def _encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


# --------------------------------------------------------------------------- the folder

def make_odd_folder(folder: str | Path) -> list[Case]:
    """Write the odd shoot folder into ``folder`` (made if missing; must hold nothing else).

    Returns one :class:`Case` per entry written, in no particular order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ValueError(f"folder: {folder} is not empty")
    W, H = BASE_SIZE
    cases: list[Case] = []
    rgb, rgb_16 = rgb8(), rgb16()
    g8, g16 = grey(rgb), grey(rgb_16)
    exif = _exif()

    def good(name: str, what: str, *, size=BASE_SIZE, channels=3, alpha=False, bits=8) -> Path:
        cases.append(Case(name, "good", what, size, channels, alpha, bits))
        return folder / name

    def bad(name: str, what: str, reason: str) -> Path:
        cases.append(Case(name, "bad", what, reason=reason))
        return folder / name

    def ignored(name: str, what: str) -> Path:
        cases.append(Case(name, "ignored", what))
        return folder / name

    # ---- colour and bit depth
    Image.fromarray(rgb).save(good("rgb8.png", "8-bit RGB PNG"), icc_profile=SRGB_ICC, exif=exif)
    _cv2_png(good("rgb16.png", "16-bit RGB PNG", bits=16), rgb_16, exif)
    Image.fromarray(rgb).save(good("rgb8.tif", "8-bit RGB TIFF"), compression="tiff_lzw")
    tifffile.imwrite(good("rgb16.tif", "16-bit RGB TIFF", bits=16), rgb_16, photometric="rgb",
                     compression="zlib", iccprofile=SRGB_ICC)
    Image.fromarray(rgb).save(good("rgb.webp", "WebP RGB"), quality=90)
    # ---- greyscale stays greyscale
    Image.fromarray(g8).save(good("grey8.png", "8-bit greyscale PNG (L)", channels=1))
    _cv2_png(good("grey16.png", "16-bit greyscale PNG", channels=1, bits=16), g16)
    tifffile.imwrite(good("grey16.tif", "16-bit greyscale TIFF", channels=1, bits=16), g16,
                     photometric="minisblack")
    Image.fromarray(g8).save(good("grey8.jpg", "greyscale JPEG", channels=1), quality=92)
    Image.fromarray(g8 > 128).save(good("bilevel.png", "1-bit PNG (becomes 8-bit grey)", channels=1))
    # ---- alpha kept as it was
    a8, a16 = alpha_ramp(BASE_SIZE, 255), alpha_ramp(BASE_SIZE, 65535)
    Image.fromarray(np.dstack([rgb, a8])).save(good("rgba8.png", "8-bit RGBA PNG", alpha=True))
    _cv2_png(good("rgba16.png", "16-bit RGBA PNG", alpha=True, bits=16), np.dstack([rgb_16, a16]))
    Image.fromarray(np.dstack([g8, a8])).save(good("la8.png", "greyscale + alpha PNG (LA)", channels=1,
                                                   alpha=True))
    Image.fromarray(np.dstack([rgb, a8])).save(good("rgba8.tif", "8-bit RGBA TIFF", alpha=True),
                                               compression="tiff_deflate")
    Image.fromarray(np.dstack([rgb, a8])).save(good("rgba.webp", "WebP with alpha", alpha=True), quality=90)
    # ---- palette
    pal = Image.fromarray(rgb).quantize(64)
    pal.save(good("palette.png", "palette PNG (P)"))
    pal.save(good("palette_transparent.png", "palette PNG with a transparent index", alpha=True),
             transparency=int(np.asarray(pal)[0, 0]))
    # ---- CMYK, with and without a profile (converted to sRGB RGB)
    cmyk = Image.fromarray(rgb).convert("CMYK")
    cmyk.save(good("cmyk.jpg", "CMYK JPEG, no profile"), quality=92)
    cmyk.save(good("cmyk.tif", "CMYK TIFF, no profile"))
    cmyk.save(good("cmyk_icc.jpg", "CMYK JPEG with a CMYK ICC profile"), quality=92, icc_profile=cmyk_profile())
    cmyk.save(good("cmyk_icc.tif", "CMYK TIFF with a CMYK ICC profile"), icc_profile=cmyk_profile())
    # ---- every EXIF orientation (the stored pixels are turned so that upright is the same frame)
    for o in range(1, 9):
        Image.fromarray(np.ascontiguousarray(stored_for(rgb, o))).save(
            good(f"orient{o}.jpg", f"JPEG, EXIF orientation {o}"), quality=92, exif=_exif(o))
    _cv2_png(good("orient6_16bit.png", "16-bit PNG, EXIF orientation 6", bits=16),
             np.ascontiguousarray(stored_for(rgb_16, 6)), _exif(6))
    tifffile.imwrite(good("orient8_16bit.tif", "16-bit TIFF, orientation tag 8", bits=16),
                     np.ascontiguousarray(stored_for(rgb_16, 8)), photometric="rgb",
                     extratags=[(274, "H", 1, 8, True)])
    # ---- JPEG flavours, sizes and names
    Image.fromarray(rgb).save(good("progressive.jpg", "progressive JPEG"), quality=92, progressive=True,
                              optimize=True)
    Image.fromarray(rgb8((32, 32))).save(good("tiny 32x32.png", "32x32 pixels", size=(32, 32)))
    Image.fromarray(rgb8((33, 47))).save(good("odd 33x47.jpg", "odd sides, 33x47", size=(33, 47)), quality=92)
    Image.fromarray(rgb8((65, 39))).save(good("odd 65x39.tif", "odd sides, 65x39 TIFF", size=(65, 39)))
    Image.fromarray(rgb).save(good("Straße ü 写真 01.jpg", "unicode and spaces in the name"), quality=92)
    Image.fromarray(rgb).save(good("UPPER CASE.JPG", "upper-case extension"), quality=92)
    Image.fromarray(rgb).save(good("png_named.jpg", "PNG content named .jpg (written as JPEG)"), "PNG")
    # ---- several frames: the first one is used
    frames = [Image.fromarray(rgb), Image.fromarray(np.zeros_like(rgb))]
    frames[0].save(good("animated.png", "animated PNG (first frame used)"), save_all=True,
                   append_images=frames[1:], duration=100, loop=0)
    frames[0].save(good("animated.webp", "animated WebP (first frame used)"), save_all=True,
                   append_images=frames[1:], duration=100, loop=0, quality=90)
    frames[0].save(good("multipage.tif", "2-page TIFF, pages of different sizes (first page used)"),
                   save_all=True, append_images=[Image.fromarray(rgb8((48, 80)))])
    frames[0].save(ignored("animated.gif", "animated GIF (not a supported type)"), save_all=True,
                   append_images=frames[1:], duration=100, loop=0)

    # ---- refused, with a one-line reason
    bad("empty.jpg", "zero bytes", "empty file").write_bytes(b"")
    _half(bad("truncated.jpg", "JPEG cut in half", "truncated or corrupt"),
          _encoded(Image.fromarray(rgb), "JPEG", quality=92))
    _half(bad("truncated.png", "PNG cut in half", "truncated or corrupt"), _encoded(Image.fromarray(rgb), "PNG"))
    _half(bad("truncated16.tif", "16-bit TIFF cut in half", "corrupt"),
          (lambda b: (tifffile.imwrite(b, rgb_16, photometric="rgb"), b.getvalue())[1])(io.BytesIO()))
    bad("notes.jpg", "a text file named .jpg", "not a JPEG, PNG, TIFF or WebP image").write_text(
        "call the client back about the retouch\n")
    _huge_png(bad("huge.png", "PNG header claiming 20000x15000 (300 MP)", "over the limit"), 20000, 15000)
    tifffile.imwrite(bad("cmyk16.tif", "16-bit CMYK TIFF", "unsupported TIFF colour model"),
                     np.dstack([rgb_16, g16]), photometric="separated")

    # ---- not inputs: skipped silently
    ignored("rgb8.xmp", "XMP sidecar").write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>\n')
    ignored("rgb8.json", "JSON sidecar").write_text('{"rating": 5}\n')
    ignored("notes.txt", "text file").write_text("shoot notes\n")
    ignored(".DS_Store", "hidden file").write_bytes(b"\0\0\0\1Bud1")
    ignored("._rgb8.png", "macOS resource fork (hidden)").write_bytes(b"\0\5\26\7")
    ignored("folder.jpg", "a folder named like an image").mkdir()
    Image.fromarray(rgb).save(ignored("x_clean.jpg", "an earlier output, x_clean.jpg"), quality=92)
    Image.fromarray(np.zeros((H, W), np.uint8)).save(ignored("x_mask.png", "a subject mask, x_mask.png"))
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.oddfolder", description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="where to write it (must not exist, or be empty)")
    args = ap.parse_args(argv)
    try:
        cases = make_odd_folder(args.folder)
    except ValueError as err:
        print(f"oddfolder: error: {err}", file=sys.stderr)
        return 2
    for kind in ("good", "bad", "ignored"):
        these = [c for c in cases if c.kind == kind]
        print(f"{kind} ({len(these)}): " + ", ".join(c.name for c in these))
    print(f"wrote {len(cases)} entries to {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
