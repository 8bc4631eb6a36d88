"""``backdrop edit FILE``: the external-editor round trip of Lightroom Classic and Capture One.

Each round trip is made as Lightroom makes it: a fresh ``python -m backdrop edit /abs/NAME-Edit.tif``
started from another folder, on copies made from a synthetic scene (its true subject mask beside as
``NAME-Edit_mask.png``) by bench/editor_copy.py and Pillow, independently of the code under test. What a
photographer would notice is checked: every tag back as it was, the same compression and depth,
the subject bit for bit, the shadow lifted, nothing else in the folder, and originals refused.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, JpegImagePlugin

from backdrop.cli import main
from bench import editor_copy
from bench.editor_copy import ICC, XMP

SIZE = (240, 160)  # (width, height)


# --------------------------------------------------------------------------- files as the editors make them

@functools.cache
def _scene():
    from bench.scenes import make_scene

    return make_scene("white_seamless", size=SIZE, seed=0)


def scene_pixels(bits: int) -> np.ndarray:
    top = 255 if bits == 8 else 65535
    return (np.clip(_scene().image, 0, 1) * top + 0.5).astype(np.uint8 if bits == 8 else np.uint16)


def subject() -> np.ndarray:
    """Every pixel with any subject coverage: the engine must return these bit for bit."""
    return _scene().alpha > 0


def shadow() -> np.ndarray:
    """Wall pixels darkened by the scene's defects (the cast shadow and the marks)."""
    sc = _scene()
    return sc.wall & (sc.defects > 0.05) & (sc.alpha == 0)


def save_mask(photo: Path) -> Path:
    path = photo.with_name(f"{photo.stem}_mask.png")
    Image.fromarray(np.where(subject(), 255, 0).astype(np.uint8)).save(path)
    return path


def save_tiff(path: Path, bits: int, *, compression: str | None, predictor: bool, byteorder: str = "<") -> Path:
    """A Lightroom-like editor's copy of the scene (bench/editor_copy.py): ICC, XMP (700), 300 dpi, the
    descriptive tags, an Exif IFD."""
    return editor_copy.save_tiff(path, scene_pixels(bits), compression=compression, predictor=predictor,
                                 byteorder=byteorder)


def _exif_bytes(make: str, software: str) -> bytes:
    exif = Image.Exif()
    exif[271] = make
    exif[272] = f"{make} camera"
    exif[305] = software
    exif[306] = "2024:05:02 09:00:00"
    sub = exif.get_ifd(0x8769)
    sub[0x829A] = 1 / 125  # ExposureTime
    sub[0x8827] = 100  # ISO
    sub[0x9003] = "2024:05:01 10:11:12"  # DateTimeOriginal
    return exif.tobytes()


def save_jpeg(path: Path, *, software: str = "Capture One 23 Windows", xmp: bytes | None = XMP,
              quality: int = 88, subsampling: int = 2) -> Path:
    kwargs = {"xmp": xmp} if xmp else {}
    Image.fromarray(scene_pixels(8)).save(path, "JPEG", quality=quality, subsampling=subsampling,
                                          icc_profile=ICC, exif=_exif_bytes("Canon", software),
                                          dpi=(300, 300), **kwargs)
    return path


# --------------------------------------------------------------------------- running it

def lightroom(path: Path, *args: str, config: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m backdrop edit /abs/path`` as Lightroom starts it: one argument, another folder."""
    env = dict(os.environ, BACKDROP_CONFIG_DIR=str(config))
    return subprocess.run([sys.executable, "-m", "backdrop", "edit", *args, str(path.resolve())],
                          check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """An empty settings folder: no default preset unless a test saves one."""
    folder = tmp_path / "config"
    monkeypatch.setenv("BACKDROP_CONFIG_DIR", str(folder))
    return folder


def tags(path: Path) -> dict[int, tuple]:
    """Every tag of the first image: (type, count, value), the layout's own left out."""
    return editor_copy.tiff_tags(path)


def run_ok(capsys, argv: list) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def refused(capsys, argv: list, folder: Path, *words: str) -> str:
    """A user error: exit 2, one line naming the reason, and not a byte written in ``folder``."""
    before = {p: sha(folder / p) for p in listing(folder) if (folder / p).is_file()}
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert {p: sha(folder / p) for p in listing(folder) if (folder / p).is_file()} == before, "something was written"
    return lines[0]


# --------------------------------------------------------------------------- the round trip, as Lightroom makes it

TIFFS = {
    # (a) Lightroom's usual copy: 16-bit, ZIP (Adobe deflate) with the predictor, Intel byte order
    "16-bit ZIP": {"bits": 16, "compression": "adobe_deflate", "predictor": True, "byteorder": "<"},
    # (b) LZW, Motorola byte order (16-bit samples big-endian, the predictor on them)
    "16-bit LZW": {"bits": 16, "compression": "lzw", "predictor": True, "byteorder": ">"},
    # (c) 8 bits, uncompressed
    "8-bit": {"bits": 8, "compression": None, "predictor": False, "byteorder": "<"},
}


@pytest.mark.parametrize("kind", list(TIFFS))
def test_lightroom_tiff_round_trip_keeps_every_tag_and_the_subject(tmp_path, kind):
    spec = TIFFS[kind]
    shoot = tmp_path / "2024 Studio shoot"
    shoot.mkdir()
    (shoot / "IMG_0412.CR2").write_bytes(b"raw")  # Lightroom puts its copy beside the original raw
    photo = save_tiff(shoot / "IMG_0412-Edit.tif", spec["bits"], compression=spec["compression"],
                      predictor=spec["predictor"], byteorder=spec["byteorder"])
    save_mask(photo)
    photo.chmod(0o640)
    before_tags, before = tags(photo), tifffile.imread(photo)
    with tifffile.TiffFile(photo) as tif:
        before_order = tif.byteorder
    before_listing, inode = listing(shoot), photo.stat().st_ino
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    done = lightroom(photo, config=tmp_path / "config", cwd=elsewhere)

    assert done.returncode == 0, done.stderr
    assert "cleaned in place" in done.stdout and done.stderr == ""
    assert listing(shoot) == before_listing, "a temporary or another file was left"
    assert photo.stat().st_ino != inode, "not replaced by a new file (rename)"
    assert photo.stat().st_mode & 0o777 == 0o640, "the file's permissions changed"
    assert listing(elsewhere) == set()
    after_tags, after = tags(photo), tifffile.imread(photo)
    assert set(after_tags) == set(before_tags)
    for code, value in before_tags.items():  # type, count and value, Exif IFD included
        assert after_tags[code] == value, (code, value, after_tags[code])
    assert before_tags[259][2] == {"adobe_deflate": 8, "lzw": 5, None: 1}[spec["compression"]]
    with tifffile.TiffFile(photo) as tif:
        assert tif.byteorder == before_order
        assert tif.pages[0].tags["ExifTag"].value["LensModel"] == "RF24-70mm F2.8 L IS USM"
    assert after.dtype == before.dtype == (np.uint16 if spec["bits"] == 16 else np.uint8)
    assert after.shape == before.shape
    assert np.array_equal(after[subject()], before[subject()]), "subject pixels changed"
    top = 65535 if spec["bits"] == 16 else 255
    lifted = (after[shadow()].astype(float).mean() - before[shadow()].astype(float).mean()) / top
    assert lifted > 0.03, f"the shadow was not lifted ({lifted:.3f})"


def test_capture_one_jpeg_round_trip_keeps_its_segments_and_quality(tmp_path):
    out = tmp_path / "Output"
    out.mkdir()
    photo = save_jpeg(out / "IMG_0412.jpg")  # Capture One: the recipe's name, Software says Capture One
    save_mask(photo)
    with Image.open(photo) as im:
        info0, q0, s0 = dict(im.info), im.quantization, JpegImagePlugin.get_sampling(im)
        before = np.asarray(im.convert("RGB")).astype(int)
    before_listing = listing(out)

    done = lightroom(photo, config=tmp_path / "config", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Capture One" in done.stdout
    assert listing(out) == before_listing
    with Image.open(photo) as im:
        for key in ("icc_profile", "exif", "xmp", "dpi", "jfif_density", "jfif_unit"):
            assert im.info.get(key) == info0.get(key), key
        assert im.quantization == q0, "another quality"
        assert JpegImagePlugin.get_sampling(im) == s0 == 2
        after = np.asarray(im.convert("RGB")).astype(int)
    assert im.getexif().get_ifd(0x8769)[0x9003] == "2024:05:01 10:11:12"
    # a JPEG is encoded again: the subject comes back within the re-encoding's rounding
    diff = np.abs(after - before)[subject()]
    assert diff.mean() < 1.0
    assert after[shadow()].mean() - before[shadow()].mean() > 8, "the shadow was not lifted"


@pytest.mark.parametrize("subsampling", [0, 1])
def test_jpeg_keeps_its_chroma_subsampling_and_progressive_mode(tmp_path, config, capsys, subsampling):
    photo = tmp_path / "IMG_7-Edit.jpg"
    Image.fromarray(scene_pixels(8)).save(photo, "JPEG", quality=97, subsampling=subsampling, progressive=True)
    save_mask(photo)
    run_ok(capsys, ["edit", photo])
    with Image.open(photo) as im:
        assert JpegImagePlugin.get_sampling(im) == subsampling
        assert "progressive" in im.info


def test_orientation_stays_and_the_pixels_stay_in_the_stored_layout(tmp_path, config, capsys):
    """A copy whose Orientation says 'turn 90 degrees': the stored pixels stay stored that way."""
    upright = scene_pixels(16)
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # Orientation 6: rotate 90 CW to show
    photo = tmp_path / "IMG_9-Edit.tif"
    tifffile.imwrite(photo, stored, photometric="rgb", compression="adobe_deflate", predictor=True,
                     metadata=None, extratags=[(274, "H", 1, 6, True)])
    save_mask(photo)
    run_ok(capsys, ["edit", photo])
    with tifffile.TiffFile(photo) as tif:
        assert tif.pages[0].tags[274].value == 6
        after = tif.pages[0].asarray()
    sub = np.rot90(subject(), 1)
    assert after.shape == stored.shape
    assert np.array_equal(after[sub], stored[sub])


def test_a_tiled_tiff_comes_back_in_strips_with_every_other_tag(tmp_path, config, capsys):
    photo = tmp_path / "IMG_5-Edit.tif"
    tifffile.imwrite(photo, scene_pixels(16), photometric="rgb", compression="adobe_deflate", predictor=True,
                     tile=(64, 64), metadata=None, software="Adobe Photoshop Lightroom Classic 13.2 (Windows)",
                     resolution=(240, 240), extratags=[(700, 1, len(XMP), XMP, True)])
    save_mask(photo)
    tiles = {322, 323, 324, 325}
    before = {k: v for k, v in tags(photo).items() if k not in tiles}
    pixels = tifffile.imread(photo)
    run_ok(capsys, ["edit", photo])
    assert tags(photo) == before
    assert np.array_equal(tifffile.imread(photo)[subject()], pixels[subject()])


# --------------------------------------------------------------------------- atomic: the original or the whole result

def test_an_encoder_error_leaves_the_original_whole(tmp_path, config, capsys, monkeypatch):
    photo = save_tiff(tmp_path / "IMG_1-Edit.tif", 16, compression="lzw", predictor=True)
    save_mask(photo)
    from backdrop.io import keep

    def broken(block, layout):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keep, "_encode_strip", broken)
    line = refused(capsys, ["edit", photo], tmp_path, "IMG_1-Edit.tif", "No space left on device")
    assert "could not write" in line


def test_a_failed_rename_leaves_the_original_whole(tmp_path, config, capsys, monkeypatch):
    photo = save_jpeg(tmp_path / "IMG_1-Edit.jpg")
    save_mask(photo)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    refused(capsys, ["edit", photo], tmp_path, "IMG_1-Edit.jpg", "Permission denied")


@contextlib.contextmanager
def unwritable(folder: Path):
    """A folder no file can be made in (chmod; as root, the immutable attribute)."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(folder)], check=False, capture_output=True).returncode == 0
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        made, undo = True, None
    try:
        probe = folder / ".probe"
        try:
            probe.write_bytes(b"")
            probe.unlink()
            made = False
        except OSError:
            pass
        if not made:
            pytest.skip("cannot make a folder unwritable here")
        yield
    finally:
        if undo:
            subprocess.run(undo, check=False)
        else:
            folder.chmod(0o755)


def test_an_unwritable_folder_leaves_the_original_whole(tmp_path, config, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    photo = save_tiff(folder / "IMG_1-Edit.tif", 16, compression="adobe_deflate", predictor=True)
    save_mask(photo)
    with unwritable(folder):
        refused(capsys, ["edit", photo], folder, "IMG_1-Edit.tif", "could not write")


def test_a_link_is_followed_and_stays_a_link(tmp_path, config, capsys):
    photo = save_tiff(tmp_path / "IMG_1-Edit.tif", 8, compression="adobe_deflate", predictor=True)
    save_mask(photo)
    link = tmp_path / "link-Edit.tif"
    link.symlink_to(photo)
    before = sha(photo)
    run_ok(capsys, ["edit", link])
    assert link.is_symlink() and sha(photo) != before


# --------------------------------------------------------------------------- what edit refuses

def test_a_jpeg_in_a_dcim_folder_is_refused_unless_forced(tmp_path, config, capsys):
    card = tmp_path / "EOS_DIGITAL" / "DCIM" / "100CANON"
    card.mkdir(parents=True)
    photo = save_jpeg(card / "IMG_0001.JPG", software="Firmware Version 1.8.1", xmp=None)
    save_mask(photo)
    refused(capsys, ["edit", photo], tmp_path, "IMG_0001.JPG", "DCIM", "--force")
    before = sha(photo)
    out = run_ok(capsys, ["edit", "--force", photo])
    assert "forced" in out and sha(photo) != before


def test_a_camera_jpeg_is_refused(tmp_path, config, capsys):
    photo = save_jpeg(tmp_path / "IMG_0001.jpg", software="Firmware Version 1.8.1", xmp=None)
    refused(capsys, ["edit", photo], tmp_path, "IMG_0001.jpg", "camera's own JPEG", "Canon", "--force")


def test_a_camera_jpeg_beside_its_raw_is_refused(tmp_path, config, capsys):
    (tmp_path / "DSC_0042.nef").write_bytes(b"raw")
    photo = save_jpeg(tmp_path / "DSC_0042.JPG", software="Ver.1.10", xmp=None)  # RAW + JPEG from the camera
    line = refused(capsys, ["edit", photo], tmp_path, "DSC_0042.JPG", "DSC_0042.nef", "--force")
    assert "camera" in line


def test_lightroom_metadata_saved_into_a_camera_jpeg_does_not_make_it_a_copy(tmp_path, config, capsys):
    """Lightroom's "Save Metadata to File" writes an XMP into the original: CreatorTool stays the camera's,
    Lightroom is only in the history."""
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Ver.1.10"><xmpMM:History>'
           b'<rdf:Seq><rdf:li stEvt:action="saved" stEvt:softwareAgent="Adobe Photoshop Lightroom Classic 13.2 '
           b'(Windows)"/></rdf:Seq></xmpMM:History></rdf:Description></rdf:RDF></x:xmpmeta>')
    photo = save_jpeg(tmp_path / "DSC_0043.jpg", software="Ver.1.10", xmp=xmp)
    refused(capsys, ["edit", photo], tmp_path, "DSC_0043.jpg", "camera's own JPEG", "--force")


def test_capture_ones_copy_beside_the_raw_is_accepted(tmp_path, config, capsys):
    """Capture One's Edit With may write NAME.tif beside NAME.IIQ: its Software names Capture One."""
    (tmp_path / "IMG_0412.IIQ").write_bytes(b"raw")
    photo = tmp_path / "IMG_0412.tif"
    tifffile.imwrite(photo, scene_pixels(16), photometric="rgb", metadata=None, compression="adobe_deflate",
                     software="Capture One 23 Macintosh")
    save_mask(photo)
    assert "made by Capture One 23 Macintosh" in run_ok(capsys, ["edit", photo])


def test_a_file_with_no_sign_of_an_editor_is_refused(tmp_path, config, capsys):
    photo = tmp_path / "holiday.tif"
    tifffile.imwrite(photo, scene_pixels(8), photometric="rgb", metadata=None, software="GIMP 2.10")
    refused(capsys, ["edit", photo], tmp_path, "holiday.tif", "does not look like an editor's copy", "--force")


@pytest.mark.parametrize("name", ["IMG_1-Edit.tif", "IMG_1-Edit-2.tif", "IMG_1.tif"])
def test_an_editors_name_or_software_is_accepted(tmp_path, config, capsys, name):
    photo = tmp_path / name
    software = "Adobe Photoshop 25.0 (Macintosh)" if name == "IMG_1.tif" else "tifffile"
    tifffile.imwrite(photo, scene_pixels(8), photometric="rgb", metadata=None, software=software)
    save_mask(photo)
    assert "cleaned in place" in run_ok(capsys, ["edit", photo])


def test_what_edit_cannot_write_back_is_refused_even_forced(tmp_path, config, capsys):
    png = tmp_path / "IMG_1-Edit.png"
    Image.fromarray(scene_pixels(8)).save(png)
    refused(capsys, ["edit", "--force", png], tmp_path, "IMG_1-Edit.png", "TIFF or JPEG")
    cmyk = tmp_path / "IMG_2-Edit.tif"
    tifffile.imwrite(cmyk, np.zeros((16, 16, 4), np.uint8), photometric="separated", metadata=None)
    refused(capsys, ["edit", "--force", cmyk], tmp_path, "IMG_2-Edit.tif", "cannot write this TIFF back")
    pages = tmp_path / "IMG_3-Edit.tif"
    tifffile.imwrite(pages, np.zeros((2, 16, 16, 3), np.uint8), photometric="rgb", metadata=None)
    refused(capsys, ["edit", "--force", pages], tmp_path, "IMG_3-Edit.tif", "several images")
    named = tmp_path / "IMG_4-Edit.tif"
    Image.fromarray(scene_pixels(8)).save(named, "JPEG")
    refused(capsys, ["edit", named], tmp_path, "IMG_4-Edit.tif", "holds a JPEG")
    refused(capsys, ["edit", tmp_path / "missing-Edit.tif"], tmp_path, "missing-Edit.tif", "not found")


# --------------------------------------------------------------------------- the default preset

def test_save_default_then_a_plain_edit_uses_it(tmp_path, config, capsys):
    preset = tmp_path / "my.yaml"
    preset.write_text("# leave the backdrop as it is\nlift: 0\ntexture: 0\n")
    out = run_ok(capsys, ["edit", "--save-default", preset])
    saved = config / "edit.yaml"
    assert str(saved) in out
    assert saved.read_bytes() == preset.read_bytes()
    photo = save_tiff(tmp_path / "IMG_1-Edit.tif", 16, compression="adobe_deflate", predictor=True)
    save_mask(photo)
    before = tifffile.imread(photo)

    out = run_ok(capsys, ["edit", photo])

    assert f"default preset {saved}" in out
    assert np.array_equal(tifffile.imread(photo), before), "the saved preset (lift 0, texture 0) was not used"
    # --params wins over the saved preset, and --set over both
    out = run_ok(capsys, ["edit", photo, "--params", tmp_path / "my.yaml", "--set", "lift=90", "--set", "texture=60"])
    assert f"parameters {tmp_path / 'my.yaml'}" in out
    assert tifffile.imread(photo)[shadow()].mean() > before[shadow()].mean()


def test_a_bad_preset_is_one_line_and_nothing_is_written(tmp_path, config, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lift: 500\n")
    refused(capsys, ["edit", "--save-default", bad], tmp_path, "bad.yaml", "lift")
    assert not (config / "edit.yaml").exists()
    # a default preset spoiled by hand: the edit stops before touching the photo
    config.mkdir()
    (config / "edit.yaml").write_text("lift: [\n")
    photo = save_jpeg(tmp_path / "IMG_1-Edit.jpg")
    save_mask(photo)
    refused(capsys, ["edit", photo], tmp_path, "edit.yaml")


def test_edit_needs_a_file_or_save_default(tmp_path, config, capsys):
    refused(capsys, ["edit"], tmp_path, "FILE")
    preset = tmp_path / "p.yaml"
    preset.write_text("lift: 10\n")
    refused(capsys, ["edit", "--save-default", preset, tmp_path / "x-Edit.tif"], tmp_path, "--save-default")


def test_the_config_folder_is_the_platforms(monkeypatch, tmp_path):
    from backdrop import edit

    monkeypatch.delenv("BACKDROP_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert edit.default_preset_path() == tmp_path / "xdg" / "clean-backdrop" / "edit.yaml"
    monkeypatch.setattr(edit.sys, "platform", "darwin")
    if os.name != "nt":
        assert edit.default_preset_path() == Path.home() / "Library/Application Support/clean-backdrop/edit.yaml"
    monkeypatch.setenv("BACKDROP_CONFIG_DIR", str(tmp_path / "here"))
    assert edit.default_preset_path() == tmp_path / "here" / "edit.yaml"


# --------------------------------------------------------------------------- launchers

def test_windows_launcher_passes_the_one_argument_quoted(tmp_path, capsys):
    from backdrop.edit import backdrop_command, windows_launcher

    text = windows_launcher([r"C:\Users\Ann Lee\100% studio\.venv\Scripts\backdrop.exe"])
    lines = text.split("\r\n")
    assert lines[0] == "@echo off"
    assert r'"C:\Users\Ann Lee\100%% studio\.venv\Scripts\backdrop.exe" edit "%~1"' in lines
    assert "if errorlevel 1 pause" in lines  # the window stays open on an error, to be read
    out = run_ok(capsys, ["editor-app", "--windows", tmp_path / "backdrop-edit.cmd"])
    written = (tmp_path / "backdrop-edit.cmd").read_text(encoding="utf-8")
    assert "backdrop-edit.cmd" in out
    assert " ".join(f'"{p}"' for p in backdrop_command()) + ' edit "%~1"' in written
    assert Path(backdrop_command()[0]).is_absolute()


def test_applescript_quotes_paths_with_spaces_and_quotes():
    from backdrop.edit import applescript_source

    src = applescript_source(['/Users/Ann Lee/my "studio"/.venv/bin/backdrop'])
    assert "on open theFiles" in src
    assert ('do shell script (quoted form of "/Users/Ann Lee/my \\"studio\\"/.venv/bin/backdrop") & " edit " '
            '& (quoted form of thePath)') in src
    assert "set thePath to POSIX path of theFile" in src


def test_editor_app_without_osacompile_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    refused(capsys, ["editor-app", tmp_path / "Clean Backdrop Edit.app"], tmp_path, "osacompile", "--windows")


def test_editor_app_compiles_the_applet_with_osacompile(tmp_path, capsys, monkeypatch):
    """A stand-in osacompile (the real one is macOS's) records what it was asked to compile."""
    from backdrop.edit import applescript_source

    bin_ = tmp_path / "bin"
    bin_.mkdir()
    fake = bin_ / "osacompile"
    fake.write_text('#!/bin/sh\n[ "$1" = "-o" ] || exit 3\nmkdir -p "$2/Contents" && cp "$3" "$2/Contents/source"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    app = tmp_path / "My Apps" / "Clean Backdrop Edit.app"
    app.parent.mkdir()
    out = run_ok(capsys, ["editor-app", app])
    assert str(app) in out
    assert (app / "Contents" / "source").read_text(encoding="utf-8") == applescript_source()
    refused(capsys, ["editor-app", app], tmp_path, "already exists")
