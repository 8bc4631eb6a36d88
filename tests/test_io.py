"""Reading and writing photographs: bit depth, metadata, orientation, dither, atomic writes."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageFile, ImageOps, PngImagePlugin

import backdrop.io as bio
import backdrop.io.meta as bio_meta
import backdrop.io.read as bio_read
from backdrop.errors import BackdropError
from backdrop.io import (
    SUPPORTED_EXTENSIONS,
    as_coverage,
    bits_for,
    output_path_for,
    read_image,
    read_mask,
    write_image,
)

RNG = np.random.default_rng(1234)
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --------------------------------------------------------------------------- helpers

def smooth_rgb8(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth, JPEG-friendly colour image."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 60 + 120 * x / w
    g = 80 + 100 * y / h
    b = 140 + 40 * np.sin(x / 9.0) * np.cos(y / 7.0)
    return np.stack([r, g, b], axis=2).round().astype(np.uint8)


def pattern8(h: int = 6, w: int = 10) -> np.ndarray:
    """An asymmetric RGB pattern: every pixel distinct, so any flip or rotation shows."""
    v = np.arange(h * w * 3, dtype=np.int64).reshape(h, w, 3)
    return (v * 7 % 251).astype(np.uint8)


def make_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[271] = "TestMake"
    exif[272] = "TestModel 5"
    if orientation is not None:
        exif[274] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"
    return exif


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def write_png16(path: Path, a: np.ndarray, exif: Image.Exif | None = None) -> None:
    """16-bit PNG via OpenCV, with an optional eXIf chunk (independent of backdrop.io)."""
    bgr = a[:, :, ::-1] if a.ndim == 3 and a.shape[2] == 3 else a
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(bgr))
    assert ok
    data = enc.tobytes()
    if exif is not None:
        data = data[:33] + png_chunk(b"eXIf", exif.tobytes()[6:]) + data[33:]
    path.write_bytes(data)


def u8(photo_pixels: np.ndarray) -> np.ndarray:
    return np.rint(photo_pixels * 255).astype(np.uint8)


def u16(photo_pixels: np.ndarray) -> np.ndarray:
    return np.rint(photo_pixels * 65535).astype(np.uint16)


def assert_one_line_naming(err: pytest.ExceptionInfo, name: str) -> None:
    msg = str(err.value)
    assert name in msg
    assert "\n" not in msg


EXPECTED_ORIENT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: np.rot90(a, 2),
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),  # stored rotated: display turns it 90 degrees clockwise
    7: lambda a: np.rot90(a, 1)[:, ::-1],  # transverse
    8: lambda a: np.rot90(a, 1),
}


# --------------------------------------------------------------------------- reading / round-trips

def test_supported_extensions():
    assert SUPPORTED_EXTENSIONS == {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_lossless_8bit_round_trip_is_exact(tmp_path, ext):
    a = RNG.integers(0, 256, (33, 47, 3), dtype=np.uint8)
    src = tmp_path / f"a{ext}"
    Image.fromarray(a).save(src)
    photo = read_image(src)
    assert photo.pixels.dtype == np.float32 and photo.pixels.flags.c_contiguous
    assert photo.pixels.shape == (33, 47, 3)
    assert photo.size == (47, 33)
    assert photo.bit_depth == 8 and photo.alpha is None
    assert photo.format == ("PNG" if ext == ".png" else "TIFF")
    np.testing.assert_array_equal(photo.pixels, a.astype(np.float32) / 255)
    out = write_image(tmp_path / f"out{ext}", photo.pixels, like=photo, reference=photo.pixels)
    with Image.open(out) as im:
        assert im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), a)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".webp"])
def test_lossy_8bit_round_trip(tmp_path, ext):
    a = smooth_rgb8()
    src = tmp_path / f"a{ext}"
    Image.fromarray(a).save(src, quality=95)
    photo = read_image(src)
    with Image.open(src) as im:  # the same decoder: exact
        np.testing.assert_array_equal(u8(photo.pixels), np.asarray(im.convert("RGB")))
    out = write_image(tmp_path / f"out{ext}", photo.pixels, like=photo, reference=photo.pixels)
    back = read_image(out)
    assert back.format == ("WEBP" if ext == ".webp" else "JPEG")
    assert np.abs(back.pixels - photo.pixels).mean() * 255 < 1.5


def test_jpeg_written_444_with_quality(tmp_path):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8()))
    out = write_image(tmp_path / "o.jpg", photo.pixels, like=photo, quality=90)
    with Image.open(out) as im:
        assert im.format == "JPEG"
        assert {c[1:3] for c in im.layer} == {(1, 1)}  # no chroma subsampling (4:4:4)


def _save(path: Path, a: np.ndarray, **kw) -> Path:
    Image.fromarray(a).save(path, **kw)
    return path


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_keeps_precision(tmp_path, ext, channels):
    shape = (21, 30) if channels == 1 else (21, 30, channels)
    a = RNG.integers(0, 65536, shape, dtype=np.uint16)
    a.flat[:5] = [1, 2, 257 + 1, 65534, 12345]  # not multiples of 257
    src = tmp_path / f"a{ext}"
    if ext == ".png":
        write_png16(src, a if channels != 4 else a[:, :, [2, 1, 0, 3]])
    else:
        tifffile.imwrite(src, a, photometric="minisblack" if channels == 1 else "rgb",
                         extrasamples=[2] if channels == 4 else None)
    photo = read_image(src)
    assert photo.bit_depth == 16
    colour = a[:, :, None] if channels == 1 else a[:, :, :3]
    assert photo.pixels.shape == colour.shape
    np.testing.assert_array_equal(u16(photo.pixels), colour)
    if channels == 4:
        np.testing.assert_array_equal(u16(photo.alpha), a[:, :, 3])
    else:
        assert photo.alpha is None

    for out_ext in (".png", ".tif"):
        out = write_image(tmp_path / f"out{out_ext}", photo.pixels, like=photo, reference=photo.pixels)
        back = read_image(out)
        assert back.bit_depth == 16
        np.testing.assert_array_equal(back.pixels, photo.pixels)
        if channels == 4:
            np.testing.assert_array_equal(back.alpha, photo.alpha)
        # Other readers agree on what was written.
        other = tifffile.imread(out) if out_ext == ".tif" else cv2.imdecode(
            np.fromfile(out, np.uint8), cv2.IMREAD_UNCHANGED)
        assert other.dtype == np.uint16
        if out_ext == ".png" and other.ndim == 3:
            other = other[:, :, [2, 1, 0, 3]] if channels == 4 else other[:, :, ::-1]
        np.testing.assert_array_equal(other, a)


def test_16bit_grey_alpha_png_round_trip(tmp_path):
    la = RNG.integers(0, 65536, (9, 13, 2), dtype=np.uint16)
    src = tmp_path / "la.tif"
    tifffile.imwrite(src, la, photometric="minisblack", extrasamples=[2])
    photo = read_image(src)
    assert photo.pixels.shape == (9, 13, 1) and photo.bit_depth == 16
    np.testing.assert_array_equal(u16(photo.alpha), la[:, :, 1])
    for ext in (".png", ".tif"):
        back = read_image(write_image(tmp_path / f"o{ext}", photo.pixels, like=photo))
        assert back.pixels.shape == (9, 13, 1)
        np.testing.assert_array_equal(back.pixels, photo.pixels)
        np.testing.assert_array_equal(back.alpha, photo.alpha)


def test_16bit_source_to_jpeg_and_webp_is_8bit(tmp_path):
    a = RNG.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    write_png16(tmp_path / "a.png", a)
    photo = read_image(tmp_path / "a.png")
    for ext in (".jpg", ".webp"):
        back = read_image(write_image(tmp_path / f"o{ext}", photo.pixels, like=photo))
        assert back.bit_depth == 8


def test_greyscale_stays_greyscale(tmp_path):
    a = RNG.integers(0, 256, (20, 30), dtype=np.uint8)
    photo = read_image(_save(tmp_path / "g.png", a))
    assert photo.pixels.shape == (20, 30, 1)
    np.testing.assert_array_equal(u8(photo.pixels[:, :, 0]), a)
    for ext in (".png", ".tif", ".jpg"):
        out = write_image(tmp_path / f"o{ext}", photo.pixels, like=photo, reference=photo.pixels)
        with Image.open(out) as im:
            assert im.mode == "L"
            if ext != ".jpg":
                np.testing.assert_array_equal(np.asarray(im), a)
        assert read_image(out).pixels.shape == (20, 30, 1)
    g16 = RNG.integers(0, 65536, (8, 9), dtype=np.uint16)
    write_png16(tmp_path / "g16.png", g16)
    photo16 = read_image(tmp_path / "g16.png")
    assert photo16.pixels.shape == (8, 9, 1) and photo16.bit_depth == 16
    out = write_image(tmp_path / "g16o.png", photo16.pixels, like=photo16)
    with Image.open(out) as im:
        assert im.mode.startswith("I")  # 16-bit greyscale
    np.testing.assert_array_equal(u16(read_image(out).pixels[:, :, 0]), g16)


@pytest.mark.parametrize("ext", [".png", ".tif", ".webp"])
def test_alpha_kept(tmp_path, ext):
    rgba = np.concatenate([smooth_rgb8(), RNG.integers(0, 256, (48, 64, 1), dtype=np.uint8)], axis=2)
    photo = read_image(_save(tmp_path / "a.png", rgba))
    assert photo.alpha is not None and photo.alpha.shape == (48, 64)
    np.testing.assert_array_equal(u8(photo.alpha), rgba[:, :, 3])
    back = read_image(write_image(tmp_path / f"o{ext}", photo.pixels, like=photo, reference=photo.pixels))
    np.testing.assert_array_equal(back.alpha, photo.alpha)  # WebP stores alpha losslessly
    jpg = read_image(write_image(tmp_path / "o.jpg", photo.pixels, like=photo))
    assert jpg.alpha is None  # JPEG cannot hold alpha


def test_grey_alpha_8bit(tmp_path):
    la = np.stack([RNG.integers(0, 256, (7, 9)), RNG.integers(0, 256, (7, 9))], axis=2).astype(np.uint8)
    photo = read_image(_save(tmp_path / "la.png", la))
    assert photo.pixels.shape == (7, 9, 1)
    for ext in (".png", ".tif"):
        back = read_image(write_image(tmp_path / f"o{ext}", photo.pixels, like=photo, reference=photo.pixels))
        np.testing.assert_array_equal(back.pixels, photo.pixels)
        np.testing.assert_array_equal(back.alpha, photo.alpha)


def test_palette_becomes_rgb_and_transparency_alpha(tmp_path):
    im = Image.fromarray(smooth_rgb8()).quantize(16)
    im.save(tmp_path / "p.png")
    photo = read_image(tmp_path / "p.png")
    assert photo.pixels.shape[2] == 3 and photo.alpha is None
    np.testing.assert_array_equal(u8(photo.pixels), np.asarray(im.convert("RGB")))
    im.save(tmp_path / "pt.png", transparency=0)
    photo = read_image(tmp_path / "pt.png")
    assert photo.alpha is not None and photo.alpha.min() == 0.0


def test_cmyk_jpeg_becomes_rgb_srgb(tmp_path):
    Image.fromarray(smooth_rgb8()).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    photo = read_image(tmp_path / "c.jpg")
    assert photo.pixels.shape == (48, 64, 3) and photo.icc_profile is None
    assert np.abs(u8(photo.pixels).astype(int) - smooth_rgb8()).mean() < 4


def test_multipage_tiff_uses_first_page(tmp_path):
    first, second = smooth_rgb8(), 255 - smooth_rgb8()
    Image.fromarray(first).save(tmp_path / "m.tif", save_all=True, append_images=[Image.fromarray(second)])
    np.testing.assert_array_equal(u8(read_image(tmp_path / "m.tif").pixels), first)


def test_format_comes_from_content(tmp_path):
    src = tmp_path / "actually_png.jpg"
    Image.fromarray(smooth_rgb8()).save(src, format="PNG")
    assert read_image(src).format == "PNG"


# --------------------------------------------------------------------------- metadata

@pytest.mark.parametrize("src_ext", [".jpg", ".png", ".tif", ".webp"])
@pytest.mark.parametrize("out_ext", [".jpg", ".png", ".tif", ".webp"])
def test_icc_and_exif_survive(tmp_path, src_ext, out_ext):
    src = _save(tmp_path / f"a{src_ext}", smooth_rgb8(), icc_profile=SRGB_ICC, exif=make_exif().tobytes())
    photo = read_image(src)
    assert photo.icc_profile == SRGB_ICC
    assert photo.exif is not None and photo.exif.startswith(b"Exif\x00\x00")
    out = write_image(tmp_path / f"out{out_ext}", photo.pixels, like=photo)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == SRGB_ICC
        exif = im.getexif()
        assert exif.get(271) == "TestMake" and exif.get(272) == "TestModel 5"
        assert exif.get_ifd(0x8769).get(0x9003) == "2024:05:06 07:08:09"
    again = read_image(out)
    assert again.icc_profile == SRGB_ICC


@pytest.mark.parametrize("out_ext", [".png", ".tif"])
def test_icc_and_exif_survive_16bit(tmp_path, out_ext):
    a = RNG.integers(0, 65536, (12, 16, 3), dtype=np.uint16)
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, a, photometric="rgb", iccprofile=SRGB_ICC,
                     extratags=[(271, "s", 0, "TestMake", True), (272, "s", 0, "TestModel 5", True)])
    photo = read_image(src)
    assert photo.icc_profile == SRGB_ICC and photo.bit_depth == 16
    out = write_image(tmp_path / f"o{out_ext}", photo.pixels, like=photo)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == SRGB_ICC
        assert im.getexif().get(271) == "TestMake" and im.getexif().get(272) == "TestModel 5"
    back = read_image(out)
    assert back.bit_depth == 16 and back.icc_profile == SRGB_ICC
    np.testing.assert_array_equal(u16(back.pixels), a)

    # and a full EXIF block (with its Exif sub-IFD) from a JPEG makes it into a 16-bit file
    jpg = read_image(_save(tmp_path / "e.jpg", smooth_rgb8(), exif=make_exif().tobytes()))
    photo.exif = jpg.exif
    with Image.open(write_image(tmp_path / f"e{out_ext}", photo.pixels, like=photo)) as im:
        assert im.getexif().get_ifd(0x8769).get(0x9003) == "2024:05:06 07:08:09"


# --------------------------------------------------------------------------- orientation

@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_applied_on_read_and_reset_on_write(tmp_path, orientation):
    stored = pattern8()
    src = _save(tmp_path / "o.png", stored, exif=make_exif(orientation).tobytes())
    photo = read_image(src)
    np.testing.assert_array_equal(u8(photo.pixels), EXPECTED_ORIENT[orientation](stored))
    parsed = Image.Exif()
    parsed.load(photo.exif)
    assert parsed.get(274) == 1 and parsed.get(271) == "TestMake"
    for ext in (".jpg", ".png", ".tif", ".webp"):
        out = write_image(tmp_path / f"w{ext}", photo.pixels, like=photo, reference=photo.pixels)
        with Image.open(out) as im:
            assert im.getexif().get(274, 1) == 1
            assert im.getexif().get(271) == "TestMake"
        again = read_image(out)
        assert again.size == photo.size  # not rotated a second time
        if ext in (".png", ".tif"):
            np.testing.assert_array_equal(again.pixels, photo.pixels)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_orientations_agree_with_pillow(tmp_path, orientation):
    stored = pattern8()
    exif = make_exif(orientation)
    # 8-bit PNG and JPEG (Pillow path): same as ImageOps.exif_transpose
    for ext in (".png", ".jpg"):
        src = _save(tmp_path / f"o{ext}", stored, exif=exif.tobytes(), **({"quality": 100} if ext == ".jpg" else {}))
        with Image.open(src) as im:
            expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        np.testing.assert_array_equal(u8(read_image(src).pixels), expected)
    np.testing.assert_array_equal(u8(read_image(tmp_path / "o.png").pixels), EXPECTED_ORIENT[orientation](stored))
    # 16-bit PNG (OpenCV path) and 16-bit TIFF (tifffile path)
    s16 = stored.astype(np.uint16) * 257 + 3
    write_png16(tmp_path / "o16.png", s16, exif)
    tifffile.imwrite(tmp_path / "o16.tif", s16, photometric="rgb", extratags=[(274, 3, 1, orientation, True)])
    for name in ("o16.png", "o16.tif"):
        photo = read_image(tmp_path / name)
        assert photo.bit_depth == 16
        np.testing.assert_array_equal(u16(photo.pixels), EXPECTED_ORIENT[orientation](s16), err_msg=name)


def test_opencv_fallback_for_tiff_codecs_tifffile_lacks(tmp_path, monkeypatch):
    s16 = pattern8().astype(np.uint16) * 257 + 5
    tifffile.imwrite(tmp_path / "o.tif", s16, photometric="rgb", extratags=[(274, 3, 1, 6, True)])

    def no_codec(*args, **kwargs):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", no_codec)
    photo = read_image(tmp_path / "o.tif")
    np.testing.assert_array_equal(u16(photo.pixels), EXPECTED_ORIENT[6](s16))


# --------------------------------------------------------------------------- quantisation and dither

def test_unchanged_pixels_are_bit_exact_and_changed_ones_dithered(tmp_path):
    a = RNG.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    photo = read_image(_save(tmp_path / "a.png", a))
    edited = photo.pixels.copy()
    edited[:, :48] = edited[:, :48] * np.float32(0.9) + np.float32(0.0537)  # left half changed
    out = write_image(tmp_path / "o.png", edited, like=photo, reference=photo.pixels)
    back = np.asarray(Image.open(out))
    np.testing.assert_array_equal(back[:, 48:], a[:, 48:])  # untouched: bit-for-bit
    exact = edited[:, :48] * 255
    diff = back[:, :48].astype(np.float32) - exact
    assert np.abs(diff).max() < 1.5  # within +-1 LSB of the float value
    assert (back[:, :48] != np.rint(exact)).mean() > 0.1  # dithered, not plain rounding


def test_unchanged_16bit_pixels_are_exact(tmp_path):
    a = RNG.integers(0, 65536, (16, 16, 3), dtype=np.uint16)
    write_png16(tmp_path / "a.png", a)
    photo = read_image(tmp_path / "a.png")
    back = read_image(write_image(tmp_path / "o.png", photo.pixels.copy(), like=photo, reference=None))
    np.testing.assert_array_equal(u16(back.pixels), a)


def test_pure_black_and_white_get_no_dither_noise(tmp_path):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8()))
    flat = np.zeros_like(photo.pixels)
    flat[:, 32:] = 1.0
    back = np.asarray(Image.open(write_image(tmp_path / "o.png", flat, like=photo)))
    assert (back[:, :32] == 0).all() and (back[:, 32:] == 255).all()


def test_smooth_gradient_shows_no_banding(tmp_path):
    h, w = 256, 512
    photo = read_image(_save(tmp_path / "a.png", np.zeros((h, w, 3), np.uint8)))
    x = np.arange(w, dtype=np.float32)
    ramp = (np.float32(0.4) + x * np.float32(4.0 / 255 / w))[None, :, None]  # 4 levels over 512 px
    grad = np.broadcast_to(ramp, (h, w, 3)).astype(np.float32)
    back = np.asarray(Image.open(write_image(tmp_path / "o.png", grad, like=photo))).astype(np.float64)
    blocks = lambda a: a.reshape(h // 32, 32, w // 32, 32, 3).mean(axis=(1, 3))  # noqa: E731
    err = np.abs(blocks(back) - blocks(grad.astype(np.float64) * 255))
    assert err.max() < 0.1  # the dithered mean tracks the float value
    plain = np.rint(grad * 255)
    assert np.abs(blocks(plain) - blocks(grad.astype(np.float64) * 255)).max() > 0.2  # rounding alone bands


def test_dither_is_deterministic(tmp_path):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8()))
    px = photo.pixels * np.float32(0.97)
    one = write_image(tmp_path / "1.png", px, like=photo, seed=3).read_bytes()
    two = write_image(tmp_path / "2.png", px, like=photo, seed=3).read_bytes()
    three = write_image(tmp_path / "3.png", px, like=photo, seed=4).read_bytes()
    assert one == two and one != three


def test_out_of_range_and_nan_are_clipped(tmp_path):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8(4, 4)))
    px = np.full((4, 4, 3), 2.0, np.float32)
    px[0] = -1.0
    px[1, 0] = np.nan
    back = np.asarray(Image.open(write_image(tmp_path / "o.png", px, like=photo)))
    assert (back[0] == 0).all() and (back[1, 0] == 0).all() and (back[2:] == 255).all()


def test_torch_tensor_accepted(tmp_path):
    torch = pytest.importorskip("torch")
    a = smooth_rgb8()
    photo = read_image(_save(tmp_path / "a.png", a))
    t = torch.from_numpy(photo.pixels).permute(2, 0, 1).contiguous()
    ref = torch.from_numpy(photo.pixels).permute(2, 0, 1)
    out = write_image(tmp_path / "o.png", t, like=photo, reference=ref)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), a)


def test_bad_pixel_arrays_are_caller_bugs(tmp_path):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8()))
    with pytest.raises(ValueError):
        write_image(tmp_path / "o.png", photo.pixels[:, :, :2], like=photo)
    with pytest.raises(ValueError):
        write_image(tmp_path / "o.png", photo.pixels, like=photo, reference=photo.pixels[:10])
    with pytest.raises(ValueError):
        write_image(tmp_path / "o.png", smooth_rgb8().astype(np.int32), like=photo)  # neither float nor the depth
    assert not (tmp_path / "o.png").exists()


def test_integers_at_the_files_depth_are_written_as_they_are(tmp_path):
    """What render(..., bits=bits_for(path, like)) makes goes into the file unchanged."""
    px = smooth_rgb8()
    photo = read_image(_save(tmp_path / "a.png", px))
    assert bits_for(tmp_path / "o.jpg", photo) == bits_for(tmp_path / "o.png", photo) == 8
    out = read_image(write_image(tmp_path / "o.png", px, like=photo))
    assert np.array_equal(out.data, px)
    deep = read_image(write_image(tmp_path / "d.png", (px.astype(np.uint16) * 257), like=photo))
    # 16-bit values into an 8-bit file: rounded with the dither
    assert deep.bit_depth == 8 and np.abs(deep.data.astype(int) - px).max() <= 1


# --------------------------------------------------------------------------- masks

def test_read_mask_variants(tmp_path):
    size = (64, 48)
    m = RNG.integers(0, 256, (48, 64), dtype=np.uint8)
    expected = m.astype(np.float32) / 255
    # L
    np.testing.assert_array_equal(as_coverage(read_mask(_save(tmp_path / "l.png", m), size=size)), expected)
    # RGB with equal channels
    rgb = np.repeat(m[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(as_coverage(read_mask(_save(tmp_path / "rgb.png", rgb), size=size)), expected)
    # RGBA cut-out: the alpha is the mask
    rgba = np.concatenate([smooth_rgb8(), m[:, :, None]], axis=2)
    np.testing.assert_array_equal(as_coverage(read_mask(_save(tmp_path / "rgba.png", rgba), size=size)), expected)
    # LA with an all-opaque alpha: luminance
    la = np.stack([m, np.full_like(m, 255)], axis=2)
    np.testing.assert_array_equal(as_coverage(read_mask(_save(tmp_path / "la.png", la), size=size)), expected)
    # colour RGB: luminance, in [0, 1]
    col = as_coverage(read_mask(_save(tmp_path / "col.png", smooth_rgb8()), size=size))
    assert col.shape == (48, 64) and col.dtype == np.float32 and 0 <= col.min() <= col.max() <= 1
    # 16-bit
    m16 = RNG.integers(0, 65536, (48, 64), dtype=np.uint16)
    write_png16(tmp_path / "m16.png", m16)
    np.testing.assert_array_equal(u16(as_coverage(read_mask(tmp_path / "m16.png", size=size))), m16)


def test_read_mask_applies_orientation(tmp_path):
    m = np.zeros((48, 64), np.uint8)
    m[:10, :20] = 255  # top-left block
    src = _save(tmp_path / "m.jpg", m, exif=make_exif(6).tobytes(), quality=100)
    mask = as_coverage(read_mask(src, size=(48, 64)))  # upright: 48 wide, 64 high
    assert mask.shape == (64, 48)
    assert mask[:20, -10:].mean() > 0.9 and mask[:, :30].mean() < 0.05


def test_read_mask_wrong_size(tmp_path):
    src = _save(tmp_path / "subject_mask.png", np.zeros((30, 40), np.uint8))
    with pytest.raises(BackdropError) as err:
        read_mask(src, size=(64, 48))
    assert_one_line_naming(err, "subject_mask.png")
    assert "40x30" in str(err.value) and "64x48" in str(err.value)


# --------------------------------------------------------------------------- errors

def test_missing_file(tmp_path):
    with pytest.raises(BackdropError) as err:
        read_image(tmp_path / "nope.jpg")
    assert_one_line_naming(err, "nope.jpg")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(BackdropError) as err:
        read_image(tmp_path / "empty.jpg")
    assert_one_line_naming(err, "empty.jpg")


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a photo\nreally\n")
    with pytest.raises(BackdropError) as err:
        read_image(tmp_path / "notes.jpg")
    assert_one_line_naming(err, "notes.jpg")


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(BackdropError) as err:
        read_image(tmp_path / "dir.jpg")
    assert_one_line_naming(err, "dir.jpg")


def test_truncated_jpeg(tmp_path):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(data, "JPEG", quality=95)
    (tmp_path / "cut.jpg").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(BackdropError) as err:
        read_image(tmp_path / "cut.jpg")
    assert_one_line_naming(err, "cut.jpg")


@pytest.mark.parametrize("kind", ["png8", "png16", "tif16", "webp"])
def test_truncated_other_formats(tmp_path, kind):
    a8 = RNG.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    src = tmp_path / f"cut_{kind}"
    if kind == "png16":
        write_png16(src, a8.astype(np.uint16) * 200)
    elif kind == "tif16":
        tifffile.imwrite(src, a8.astype(np.uint16) * 200, photometric="rgb")
    else:
        _save(src, a8, format="PNG" if kind == "png8" else "WEBP")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    with pytest.raises(BackdropError) as err:
        read_image(src)
    assert_one_line_naming(err, src.name)


def test_decompression_bomb_limit(tmp_path):
    src = _save(tmp_path / "big.png", np.zeros((100, 100), np.uint8))
    with pytest.raises(BackdropError) as err:
        read_image(src, max_pixels=5000)
    assert_one_line_naming(err, "big.png")
    assert read_image(src, max_pixels=10_000).size == (100, 100)


def test_write_refuses_to_overwrite_original(tmp_path):
    src = _save(tmp_path / "orig.png", smooth_rgb8())
    before = src.read_bytes()
    photo = read_image(src)
    for target in (src, tmp_path / "sub" / ".." / "orig.png"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(BackdropError) as err:
            write_image(target, photo.pixels * np.float32(0.5), like=photo)
        assert_one_line_naming(err, "orig.png")
    assert src.read_bytes() == before
    if hasattr(os, "link"):
        os.link(src, tmp_path / "hardlink.png")
        with pytest.raises(BackdropError):
            write_image(tmp_path / "hardlink.png", photo.pixels, like=photo)
        assert src.read_bytes() == before


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8()))
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(BackdropError) as err:
        write_image(out_dir / "x.jpg", photo.pixels, like=photo)
    assert_one_line_naming(err, "x.jpg")
    assert list(out_dir.iterdir()) == []

    def broken_encode(*args, **kwargs):
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(cv2, "imencode", broken_encode)
    with pytest.raises(BackdropError):
        write_image(out_dir / "x.png", photo.pixels, like=photo)
    assert list(out_dir.iterdir()) == []


def test_failed_write_keeps_previous_output(tmp_path, monkeypatch):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8()))
    out = write_image(tmp_path / "x.tif", photo.pixels, like=photo)
    before = out.read_bytes()
    monkeypatch.setattr(zlib, "compress", lambda *a, **k: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(BackdropError):
        write_image(out, photo.pixels * np.float32(0.5), like=photo)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "x.tif"]


def test_write_errors_name_the_output(tmp_path):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8()))
    with pytest.raises(BackdropError) as err:
        write_image(tmp_path / "missing_folder" / "o.png", photo.pixels, like=photo)
    assert_one_line_naming(err, "missing_folder")
    with pytest.raises(BackdropError) as err:
        write_image(tmp_path / "o.bmp", photo.pixels, like=photo)
    assert_one_line_naming(err, "o.bmp")
    with pytest.raises(BackdropError) as err:
        write_image(tmp_path / "o.jpg", photo.pixels, like=photo, quality=0)
    assert_one_line_naming(err, "quality")


# --------------------------------------------------------------------------- output paths

def test_output_path_for():
    assert output_path_for("shoot/a.jpg") == Path("shoot/a_clean.jpg")
    assert output_path_for("shoot/a.jpg", out_dir="done") == Path("done/a_clean.jpg")
    assert output_path_for(Path("shoot/IMG_0001.JPG"), suffix="-fixed") == Path("shoot/IMG_0001-fixed.JPG")
    assert output_path_for("shoot/a.b.tiff") == Path("shoot/a.b_clean.tiff")
    assert output_path_for("shoot/a.jpg", suffix="", out_dir="done") == Path("done/a.jpg")
    with pytest.raises(BackdropError) as err:
        output_path_for("shoot/a.jpg", suffix="")
    assert_one_line_naming(err, "a.jpg")
    with pytest.raises(BackdropError):
        output_path_for("shoot/a.jpg", suffix="", out_dir="shoot/../shoot")


def test_photo_repr_is_short(tmp_path):
    photo = read_image(_save(tmp_path / "a.png", smooth_rgb8(), icc_profile=SRGB_ICC))
    text = repr(photo)
    assert "64x48" in text and len(text) < 300


def test_a_mask_bigger_than_its_photo_is_refused_on_its_header(tmp_path, monkeypatch):
    """A small file claiming 15000x10000 is not decoded (gigabytes) before its size is compared."""
    big = tmp_path / "huge_mask.png"
    Image.new("1", (15000, 10000)).save(big)  # 150 MP of black: a few kilobytes
    monkeypatch.setattr(bio_read, "_decode_pillow", lambda *a, **k: pytest.fail("the mask was decoded"))
    monkeypatch.setattr(bio_read, "_decode_cv2", lambda *a, **k: pytest.fail("the mask was decoded"))
    with pytest.raises(BackdropError) as err:
        read_mask(big, size=(64, 48))
    assert_one_line_naming(err, "huge_mask.png")
    assert "15000x10000" in str(err.value) and "64x48" in str(err.value) and "max_pixels" not in str(err.value)


@pytest.mark.parametrize("claim", [2000, 14000])
def test_a_jpeg_promising_more_pixels_than_it_holds_is_refused(tmp_path, monkeypatch, claim):
    """A 700-byte JPEG whose header says 14000x14000 was 'cleaned' into a grey 196 MP frame."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 100, 50)).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = claim.to_bytes(2, "big") * 2
    liar = tmp_path / "liar.jpg"
    liar.write_bytes(bytes(data))
    monkeypatch.setattr(bio_read, "_decode_pillow", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(BackdropError) as err:
        read_image(liar)
    assert_one_line_naming(err, "liar.jpg")
    assert f"{claim}x{claim}" in str(err.value)


def test_a_flat_real_jpeg_is_not_taken_for_a_liar(tmp_path):
    """The bound is one bit per 8x8 block: a white frame, the smallest real JPEG there is, passes."""
    flat = tmp_path / "white.jpg"
    Image.new("RGB", (3000, 2000), (255, 255, 255)).save(flat, "JPEG", quality=50, optimize=True)
    assert read_image(flat).size == (3000, 2000)


def _studio_jpeg(progressive: bool = False) -> bytes:
    buf = io.BytesIO()
    Image.open(SAMPLES / "studio_white_seamless.jpg").save(buf, "JPEG", quality=90, progressive=progressive)
    return buf.getvalue()


def _lie(data: bytes, how: str) -> bytes:
    d = bytearray(data)
    sof = max(d.find(b"\xff\xc0"), d.find(b"\xff\xc2"))
    sos = d.find(b"\xff\xda")
    if how == "taller":  # a plausible header: twice the rows, the bytes for them nowhere
        d[sof + 5:sof + 7] = (2 * int.from_bytes(d[sof + 5:sof + 7], "big")).to_bytes(2, "big")
    elif how == "wider":
        d[sof + 7:sof + 9] = (2 * int.from_bytes(d[sof + 7:sof + 9], "big")).to_bytes(2, "big")
    elif how == "cut":  # ends at 90 %
        d = d[: int(len(d) * 0.9)]
    elif how == "garbage":  # a stretch of the scan overwritten
        mid = sos + (len(d) - sos) // 2
        d[mid:mid + 64] = bytes(range(64))
    return bytes(d)


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("how", ["taller", "wider", "cut", "garbage"])
def test_a_jpeg_whose_data_does_not_hold_its_picture_is_refused(tmp_path, how, progressive):
    """A plausible header over too little picture data was decoded into a frame whose rest is flat
    grey or noise, and cleaned with exit 0; libjpeg's warning is now heard."""
    liar = tmp_path / f"{how}.jpg"
    liar.write_bytes(_lie(_studio_jpeg(progressive), how))
    with pytest.raises(BackdropError) as err:
        read_image(liar)
    assert_one_line_naming(err, f"{how}.jpg")
    assert "truncated or corrupt" in str(err.value)


def test_jpeg_decoding_is_pixel_for_pixel_pillows_and_takes_harmless_warnings(tmp_path):
    """The same pixels as Pillow, grey and colour, baseline and progressive; bytes some cameras
    leave before a marker (a libjpeg warning that loses no picture) are read as every viewer does."""
    for progressive in (False, True):
        for mode in ("RGB", "L"):
            path = tmp_path / f"{mode}-{progressive}.jpg"
            Image.open(SAMPLES / "studio_grey_wall_wood_floor.jpg").convert(mode).save(
                path, "JPEG", quality=85, progressive=progressive)
            want = np.asarray(Image.open(path))
            got = read_image(path).data
            assert np.array_equal(got[..., 0] if mode == "L" else got, want), (mode, progressive)
    data = _studio_jpeg()
    extra = tmp_path / "extra.jpg"
    extra.write_bytes(data[:-2] + b"\x00\x01\x02" + data[-2:])  # junk before the EOI marker
    assert np.array_equal(read_image(extra).data, np.asarray(Image.open(io.BytesIO(data))))


def test_a_png_with_a_big_icc_profile_or_xmp_packet_reads_back(tmp_path):
    """What the project writes it reads: a 2 MB ICC profile (Pillow stops at 1 MB of a chunk)."""
    icc = bytearray(RNG.integers(0, 256, 2_000_000, dtype=np.uint8).tobytes())
    icc[16:20] = b"RGB "  # the colour space field: an RGB profile, so it is written
    px = smooth_rgb8()
    out = write_image(tmp_path / "big_icc.png", px, like=bio.Photo(None, px, None, 8, "PNG", bytes(icc), None))
    back = read_image(out)
    assert back.icc_profile == bytes(icc) and np.array_equal(back.data, px)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", "<x>" + "a" * 1_500_000 + "</x>", zip=True)
    Image.fromarray(px).save(tmp_path / "big_xmp.png", pnginfo=info)
    assert np.array_equal(read_image(tmp_path / "big_xmp.png").data, px)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_float_tiffs_keep_their_picture(tmp_path, dtype):
    """float16 used to decode to black (float16 * 65535 overflows)."""
    px = smooth_rgb8().astype(np.float32) / 255.0
    path = tmp_path / f"float_{np.dtype(dtype).name}.tif"
    tifffile.imwrite(path, px.astype(dtype), photometric="rgb")
    back = read_image(path)
    assert back.bit_depth == 16
    assert np.abs(back.pixels - px).max() < (2e-3 if dtype == np.float16 else 1e-4)


def test_an_hdr_float_tiff_is_refused_not_clipped_to_white(tmp_path):
    px = smooth_rgb8().astype(np.float32) / 255.0 * 4.0  # scene-referred, up to 4
    path = tmp_path / "hdr.tif"
    tifffile.imwrite(path, px, photometric="rgb")
    with pytest.raises(BackdropError) as err:
        read_image(path)
    assert_one_line_naming(err, "hdr.tif")
    assert "above 1.0" in str(err.value)


@pytest.mark.parametrize("compression", [None, "tiff_lzw", "tiff_adobe_deflate"])
@pytest.mark.parametrize("orientation", [1, 3, 5, 6, 7, 8])
def test_tiff_orientation_is_right_for_every_mode_and_compression(tmp_path, orientation, compression):
    """Uncompressed grey, RGBA, palette and CMYK TIFFs with orientations 5-8 came out scrambled at the
    unrotated size (and were written back that way, with orientation 1)."""
    rng = np.random.default_rng(orientation)
    grey = rng.integers(0, 256, (30, 50), dtype=np.uint8)
    rgba = rng.integers(0, 256, (30, 50, 4), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    kw = {"exif": exif, **({"compression": compression} if compression else {})}
    pal = Image.fromarray(grey).convert("P")
    cmyk = Image.fromarray(rgba[:, :, :3]).convert("CMYK")
    for name, im, want in (("grey", Image.fromarray(grey), grey[:, :, None]),
                           ("rgba", Image.fromarray(rgba, "RGBA"), rgba),
                           ("palette", pal, np.asarray(pal.convert("RGB"))),
                           ("cmyk", cmyk, np.asarray(cmyk.convert("RGB")))):
        path = tmp_path / f"{name}.tif"
        im.save(path, **kw)
        got = read_image(path)
        data = got.data if got.alpha is None else np.concatenate(
            [got.data, np.rint(got.alpha * 255).astype(np.uint8)[:, :, None]], axis=2)
        want = bio_meta._orient(want, orientation)
        assert data.shape == want.shape, name
        assert np.abs(data.astype(int) - want).max() <= (2 if name == "cmyk" else 0), name
