"""The command line, as a photographer meets it: ``backdrop clean IN [-o OUT] [--mask M] ...``.

Run in-process through :func:`backdrop.cli.main` (fast), and once as a real
``python -m backdrop`` subprocess to prove the entry point works.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from backdrop.cli import main
from backdrop.io import read_image

ROOT = Path(__file__).resolve().parents[1]

SIZE = (240, 160)  # (width, height)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --------------------------------------------------------------------------- helpers

@functools.lru_cache(maxsize=None)
def _scene(name: str = "white_seamless"):
    from bench.scenes import make_scene

    return make_scene(name, size=SIZE, seed=0)


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[271] = "CliTestMake"
    exif[272] = "CliTestModel"
    return exif


def scene_rgb8(name: str = "white_seamless") -> np.ndarray:
    return (np.clip(_scene(name).image, 0, 1) * 255 + 0.5).astype(np.uint8)


def scene_mask8(name: str = "white_seamless") -> np.ndarray:
    """Binary mask, 255 wherever the subject has any coverage."""
    return np.where(_scene(name).alpha > 0, 255, 0).astype(np.uint8)


def save_jpeg(path: Path, rgb8: np.ndarray | None = None, *, icc: bool = True, exif: bool = True) -> Path:
    rgb8 = scene_rgb8() if rgb8 is None else rgb8
    kwargs = {}
    if icc:
        kwargs["icc_profile"] = SRGB_ICC
    if exif:
        kwargs["exif"] = _exif().tobytes()
    Image.fromarray(rgb8).save(path, "JPEG", quality=95, **kwargs)
    return path


def save_png(path: Path, rgb8: np.ndarray | None = None) -> Path:
    Image.fromarray(scene_rgb8() if rgb8 is None else rgb8).save(path, "PNG")
    return path


def save_mask(path: Path, mask8: np.ndarray | None = None) -> Path:
    Image.fromarray(scene_mask8() if mask8 is None else mask8).save(path, "PNG")
    return path


def shoot(folder: Path, name: str = "portrait", ext: str = ".jpg") -> tuple[Path, Path]:
    """One image with a subject mask beside it (NAME_mask.png)."""
    img = folder / f"{name}{ext}"
    if ext in (".jpg", ".jpeg"):
        save_jpeg(img)
    else:
        save_png(img)
    mask = save_mask(folder / f"{name}_mask.png")
    return img, mask


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def listing(folder: Path) -> set[str]:
    """Every entry below ``folder``, hidden and temporary files included."""
    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*")}


def decoded8(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def run_ok(capsys, argv: list[str]) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    return out


def run_user_error(capsys, argv: list[str], folder: Path, *names: str) -> str:
    """A user error: exit 2, one line on stderr naming the file or parameter, no traceback,
    and nothing new in ``folder``."""
    before = listing(folder)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert listing(folder) == before, "a file was left behind"
    return lines[0]


# --------------------------------------------------------------------------- clean: the happy path

def test_clean_keeps_original_metadata_and_subject(tmp_path, capsys):
    img, mask = shoot(tmp_path)
    # same photo under a name without a NAME_mask.png beside it: --mask is what finds the mask
    src = save_jpeg(tmp_path / "frame 012.jpg")
    h0 = sha(src)
    out = tmp_path / "result.jpg"

    stdout = run_ok(capsys, ["clean", src, "-o", out, "--mask", mask])

    assert str(out) in stdout
    assert sha(src) == h0, "the original was touched"
    assert out.is_file()
    with Image.open(out) as im:
        assert im.format == "JPEG"
        assert im.size == SIZE
        assert im.info.get("icc_profile") == SRGB_ICC
        exif = im.getexif()
        assert exif.get(271) == "CliTestMake"
        assert exif.get(272) == "CliTestModel"
    assert sorted(listing(tmp_path)) == sorted(
        ["portrait.jpg", "portrait_mask.png", "frame 012.jpg", "result.jpg"]
    )

    # lossy output: the subject is close, the backdrop has been worked on
    a, b = decoded8(src).astype(int), decoded8(out).astype(int)
    subject = scene_mask8() == 255
    assert np.abs(a - b)[subject].mean() < 1.5
    assert np.abs(a - b)[~subject].max() > 10


def test_clean_png_output_subject_bit_exact_backdrop_improved(tmp_path, capsys):
    src, mask = shoot(tmp_path, "look", ".jpg")
    out = tmp_path / "look_out.png"
    run_ok(capsys, ["clean", src, "-o", out, "--mask", mask])

    photo_in, photo_out = read_image(src), read_image(out)
    assert photo_out.size == photo_in.size
    assert photo_out.icc_profile == SRGB_ICC  # the JPEG's profile travels into the PNG
    assert photo_out.exif is not None and b"CliTestMake" in photo_out.exif

    inp = np.rint(photo_in.pixels * 255).astype(np.uint8)
    res = np.rint(photo_out.pixels * 255).astype(np.uint8)
    subject = scene_mask8() == 255
    np.testing.assert_array_equal(res[subject], inp[subject])
    backdrop = ~subject
    assert (res[backdrop] != inp[backdrop]).any()

    # the backdrop marks are reduced: closer to the scene's clean backdrop than before
    sc = _scene()
    marks = (sc.defects > 0.1) & backdrop
    assert marks.sum() > 50
    clean8 = np.clip(sc.clean, 0, 1) * 255
    err_in = np.abs(inp.astype(np.float32) - clean8)[marks].mean()
    err_out = np.abs(res.astype(np.float32) - clean8)[marks].mean()
    assert err_out < err_in


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_the_cli_renders_into_the_decoded_photo_and_writes_the_same_picture(tmp_path, capsys, ext):
    """The CLI lets go of the decoded photo once it is cleaned, so its preview is rendered into that
    buffer where it is writable (a JPEG's; Pillow's PNG buffer is read-only): no second frame in
    memory. The file holds the very pixels of a render into a buffer of its own."""
    from backdrop import Params
    from backdrop.service import clean_photo, open_photo

    src, mask = shoot(tmp_path, "look", ext)
    out = tmp_path / "look_out.png"
    run_ok(capsys, ["clean", src, "-o", out, "--mask", mask])
    kept = open_photo(src, Params(), mask=mask)
    want = clean_photo(kept.photo, kept.mask, Params(), bits=8).preview
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), want)
    spent = open_photo(src, Params(), mask=mask)
    got = clean_photo(spent.photo, spent.mask, Params(), bits=8, spend=True).preview
    assert np.array_equal(got, want)
    assert (got is spent.photo.data) == spent.photo.data.flags.writeable == (ext == ".jpg")


def test_default_output_name_beside_input(tmp_path, capsys):
    src, _ = shoot(tmp_path, "bride")
    h0 = sha(src)
    stdout = run_ok(capsys, ["clean", src])  # mask found as bride_mask.png beside it
    out = tmp_path / "bride_clean.jpg"
    assert out.is_file()
    assert str(out) in stdout
    assert sha(src) == h0
    assert listing(tmp_path) == {"bride.jpg", "bride_mask.png", "bride_clean.jpg"}


def test_default_output_name_keeps_extension(tmp_path, capsys):
    src, _ = shoot(tmp_path, "groom", ".png")
    run_ok(capsys, ["clean", src])
    out = tmp_path / "groom_clean.png"
    assert out.is_file()
    assert read_image(out).format == "PNG"


def test_lift_and_texture_zero_give_back_the_input(tmp_path, capsys):
    src, mask = shoot(tmp_path, "still", ".png")
    out = tmp_path / "still_out.png"
    run_ok(capsys, ["clean", src, "-o", out, "--mask", mask, "--lift", "0", "--texture", "0"])
    np.testing.assert_array_equal(decoded8(out), decoded8(src))


@pytest.mark.parametrize(
    "yaml_text, extra",
    [
        ("lift: 0\ntexture: 0\n", []),  # the file alone
        ("lift: 90\ntexture: 90\n", ["--lift", "0", "--texture", "0"]),  # flags win over the file
        ("lift: 90\ntexture: 90\n", ["--set", "lift=0", "--set", "texture=0"]),  # --set wins too
        ("", ["--set", "lift=0", "--set", "texture=0.0"]),
    ],
    ids=["params-file", "flags-override-file", "set-overrides-file", "set-only"],
)
def test_parameter_sources(tmp_path, capsys, yaml_text, extra):
    src, mask = shoot(tmp_path, "p", ".png")
    pfile = tmp_path / "look.yaml"
    pfile.write_text(yaml_text, encoding="utf-8")
    out = tmp_path / "p_out.png"
    run_ok(capsys, ["clean", src, "-o", out, "--mask", mask, "--params", pfile, *extra])
    np.testing.assert_array_equal(decoded8(out), decoded8(src))


def test_the_readmes_set_examples_work(tmp_path, capsys):
    """`--set floor=off --set feather=0.03` (the README's own example), and 3e-2 for 0.03."""
    src, mask = shoot(tmp_path, "r", ".png")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    run_ok(capsys, ["clean", src, "-o", a, "--mask", mask, "--set", "floor=off", "--set", "feather=0.03"])
    run_ok(capsys, ["clean", src, "-o", b, "--mask", mask, "--set", "floor=off", "--set", "feather=3e-2"])
    assert a.read_bytes() == b.read_bytes()


def test_a_fifo_as_params_is_one_line_not_a_hang(tmp_path, capsys):
    import os

    src, mask = shoot(tmp_path, "f", ".png")
    fifo = tmp_path / "look.yaml"
    os.mkfifo(fifo)
    line = run_user_error(capsys, ["clean", src, "--mask", mask, "--params", fifo], tmp_path, "look.yaml")
    assert "not a regular file" in line


def test_parameters_change_the_result(tmp_path, capsys):
    src, mask = shoot(tmp_path, "q", ".png")
    off, strong, strong_file = tmp_path / "off.png", tmp_path / "strong.png", tmp_path / "strong2.png"
    run_ok(capsys, ["clean", src, "-o", off, "--mask", mask, "--lift", "0", "--texture", "0"])
    run_ok(capsys, ["clean", src, "-o", strong, "--mask", mask, "--lift", "100", "--texture", "100"])
    pfile = tmp_path / "strong.yaml"
    pfile.write_text("lift: 100\ntexture: 100\n", encoding="utf-8")
    run_ok(capsys, ["clean", src, "-o", strong_file, "--mask", mask, "--params", pfile])
    assert not np.array_equal(decoded8(off), decoded8(strong))
    # the same settings from flags or from a file give the same file
    np.testing.assert_array_equal(decoded8(strong), decoded8(strong_file))


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_input_gives_16bit_output(tmp_path, capsys, ext):
    rgb16 = (np.clip(_scene().image, 0, 1) * 65535 + 0.5).astype(np.uint16)
    src = tmp_path / f"deep{ext}"
    if ext == ".png":
        assert cv2.imwrite(str(src), np.ascontiguousarray(rgb16[:, :, ::-1]))
    else:
        tifffile.imwrite(src, rgb16, photometric="rgb")
    assert read_image(src).bit_depth == 16
    mask = save_mask(tmp_path / "deep_mask.png")
    out = tmp_path / f"deep_out{ext}"
    run_ok(capsys, ["clean", src, "-o", out, "--mask", mask])

    photo = read_image(out)
    assert photo.bit_depth == 16
    assert photo.size == SIZE
    got = np.rint(photo.pixels * 65535).astype(np.uint16)
    subject = scene_mask8() == 255
    np.testing.assert_array_equal(got[subject], rgb16[subject])  # full precision, untouched
    assert (got[~subject] != rgb16[~subject]).any()


def test_python_m_backdrop_entry_point(tmp_path):
    src, mask = shoot(tmp_path, "sub")
    out = tmp_path / "sub_done.jpg"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "backdrop", "clean", str(src), "-o", str(out), "--mask", str(mask)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and Image.open(out).size == SIZE
    assert str(out) in proc.stdout

    bad = subprocess.run(
        [sys.executable, "-m", "backdrop", "clean", str(tmp_path / "nope.jpg")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "nope.jpg" in bad.stderr
    assert "Traceback" not in bad.stderr


# --------------------------------------------------------------------------- clean: user errors

def test_missing_input(tmp_path, capsys):
    run_user_error(capsys, ["clean", tmp_path / "ghost.jpg", "-o", tmp_path / "x.jpg"], tmp_path, "ghost.jpg")


def test_text_file_named_jpg(tmp_path, capsys):
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a photograph\n", encoding="utf-8")
    mask = save_mask(tmp_path / "notes_mask.png")
    h0 = sha(fake)
    run_user_error(capsys, ["clean", fake, "--mask", mask], tmp_path, "notes.jpg")
    assert sha(fake) == h0


def test_truncated_jpeg(tmp_path, capsys):
    good = save_jpeg(tmp_path / "whole.jpg")
    data = good.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    good.unlink()
    mask = save_mask(tmp_path / "cut_mask.png")
    run_user_error(capsys, ["clean", cut, "--mask", mask], tmp_path, "cut.jpg")


def test_mask_of_the_wrong_size(tmp_path, capsys):
    src = save_jpeg(tmp_path / "a.jpg")
    small = save_mask(tmp_path / "small_mask.png", np.zeros((100, 100), np.uint8))
    line = run_user_error(capsys, ["clean", src, "--mask", small], tmp_path, "small_mask.png")
    assert "240x160" in line and "100x100" in line


def test_missing_mask_file(tmp_path, capsys):
    src = save_jpeg(tmp_path / "a.jpg")
    run_user_error(capsys, ["clean", src, "--mask", tmp_path / "absent_mask.png"], tmp_path, "absent_mask.png")


def test_no_mask_uses_the_embedded_segmenter_offline(tmp_path, capsys):
    src = save_jpeg(tmp_path / "lonely.jpg")
    assert main(["clean", str(src)]) == 0
    assert (tmp_path / "lonely_clean.jpg").exists()


def test_unknown_segmenter_is_a_one_line_error(tmp_path, capsys):
    src = save_jpeg(tmp_path / "a.jpg")
    line = run_user_error(capsys, ["clean", src, "--set", "segmenter=magic"], tmp_path, "segmenter")
    assert "magic" in line


@pytest.mark.parametrize(
    "args, word",
    [
        (["--lift", "150"], "lift"),
        (["--texture", "-1"], "texture"),
        (["--set", "colour=red"], "colour"),
        (["--set", "floor=sideways"], "floor"),
        (["--set", "feather"], "feather"),  # no '=': not KEY=VALUE
    ],
)
def test_bad_parameter(tmp_path, capsys, args, word):
    src, mask = shoot(tmp_path)
    run_user_error(capsys, ["clean", src, "--mask", mask, *args], tmp_path, word)


def test_params_file_with_unknown_key(tmp_path, capsys):
    src, mask = shoot(tmp_path)
    pfile = tmp_path / "look.yaml"
    pfile.write_text("lift: 50\ncolour: red\n", encoding="utf-8")
    run_user_error(capsys, ["clean", src, "--mask", mask, "--params", pfile], tmp_path, "look.yaml", "colour")


def test_missing_params_file(tmp_path, capsys):
    src, mask = shoot(tmp_path)
    run_user_error(capsys, ["clean", src, "--mask", mask, "--params", tmp_path / "gone.yaml"], tmp_path, "gone.yaml")


def test_output_into_missing_folder(tmp_path, capsys):
    src, mask = shoot(tmp_path)
    out = tmp_path / "not_there" / "out.jpg"
    run_user_error(capsys, ["clean", src, "--mask", mask, "-o", out], tmp_path, "not_there")
    assert not out.parent.exists()


def test_output_equal_to_input(tmp_path, capsys):
    src, mask = shoot(tmp_path)
    h0 = sha(src)
    run_user_error(capsys, ["clean", src, "--mask", mask, "-o", src], tmp_path, src.name)
    assert sha(src) == h0
    # the same file reached by another spelling of the path
    other = tmp_path / "." / src.name
    run_user_error(capsys, ["clean", src, "--mask", mask, "-o", other], tmp_path, src.name)
    assert sha(src) == h0


def test_unsupported_output_type(tmp_path, capsys):
    src, mask = shoot(tmp_path)
    run_user_error(capsys, ["clean", src, "--mask", mask, "-o", tmp_path / "out.gif"], tmp_path, "out.gif")


def test_existing_output_is_replaced_whole(tmp_path, capsys):
    src, mask = shoot(tmp_path)
    out = tmp_path / "again.png"
    out.write_bytes(b"old contents")
    run_ok(capsys, ["clean", src, "--mask", mask, "-o", out])
    assert read_image(out).size == SIZE
    assert not [n for n in listing(tmp_path) if n.startswith(".")]
