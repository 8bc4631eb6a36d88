"""A whole shoot folder: ``backdrop batch FOLDER`` and :func:`backdrop.batch.run_batch`.

One bad file is reported and the rest are done; finished outputs are skipped on a
re-run; originals, masks and earlier outputs are never treated as inputs or touched.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from backdrop.batch import find_images, run_batch
from backdrop.service import FileResult
from backdrop.cli import main
from backdrop.errors import BackdropError
from backdrop.io import read_image
from backdrop.params import Params

ROOT = Path(__file__).resolve().parents[1]

SIZE = (240, 160)  # (width, height)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GOOD = ("a", "b", "c")
SUMMARY = re.compile(r"^done (\d+), skipped (\d+), failed (\d+), \d+\.\d\d s per image$")


# --------------------------------------------------------------------------- helpers

@functools.lru_cache(maxsize=None)
def _scene(name: str = "white_seamless"):
    from bench.scenes import make_scene

    return make_scene(name, size=SIZE, seed=0)


def save_photo(path: Path) -> Path:
    rgb8 = (np.clip(_scene().image, 0, 1) * 255 + 0.5).astype(np.uint8)
    exif = Image.Exif()
    exif[271] = "BatchTestMake"
    Image.fromarray(rgb8).save(path, "JPEG", quality=95, icc_profile=SRGB_ICC, exif=exif.tobytes())
    return path


def save_mask(path: Path) -> Path:
    Image.fromarray(np.where(_scene().alpha > 0, 255, 0).astype(np.uint8)).save(path, "PNG")
    return path


def make_shoot(folder: Path, *, broken: bool = True) -> Path:
    """3 good JPEGs with masks beside them, and one truncated JPEG (with a mask)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in GOOD:
        save_photo(folder / f"{name}.jpg")
        save_mask(folder / f"{name}_mask.png")
    if broken:
        whole = save_photo(folder / "tmp_whole.jpg").read_bytes()
        (folder / "tmp_whole.jpg").unlink()
        (folder / "broken.jpg").write_bytes(whole[: len(whole) // 2])
        save_mask(folder / "broken_mask.png")
    return folder


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*")}


def batch(capsys, *argv) -> tuple[int, str, str]:
    code = main(["batch", *[str(a) for a in argv]])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def summary_counts(stdout: str) -> tuple[int, int, int]:
    last = stdout.strip().splitlines()[-1]
    m = SUMMARY.match(last)
    assert m, f"no summary line in {stdout!r}"
    return int(m[1]), int(m[2]), int(m[3])


def failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("failed:")]


# --------------------------------------------------------------------------- the CLI

def test_batch_cleans_good_files_and_names_the_broken_one(tmp_path, capsys):
    shoot = make_shoot(tmp_path / "shoot")
    before = hashes(shoot)

    code, out, err = batch(capsys, shoot, "--no-progress")

    assert code == 1
    assert out.strip().splitlines() == [out.strip().splitlines()[-1]]  # stdout: the summary only
    assert summary_counts(out) == (3, 0, 1)
    assert out.startswith("done 3, skipped 0, failed 1, ")
    fails = failure_lines(err)
    assert len(fails) == 1 and "broken.jpg" in fails[0]
    assert err.strip() == fails[0]

    # originals and masks untouched, one output beside each good original, nothing else
    after = hashes(shoot)
    assert {k: after[k] for k in before} == before
    assert listing(shoot) == set(before) | {f"{n}_clean.jpg" for n in GOOD}
    for name in GOOD:
        out_img = shoot / f"{name}_clean.jpg"
        with Image.open(out_img) as im:
            assert im.size == SIZE
            assert im.info.get("icc_profile") == SRGB_ICC
            assert im.getexif().get(271) == "BatchTestMake"


def test_rerun_skips_finished_and_overwrite_redoes(tmp_path, capsys):
    shoot = make_shoot(tmp_path / "shoot")
    batch(capsys, shoot, "--no-progress")
    originals = hashes(shoot)
    done_files = sorted(listing(shoot))

    # outputs and masks are not inputs: a second run finds the same 4 images and skips 3
    code, out, err = batch(capsys, shoot, "--no-progress")
    assert code == 1
    assert summary_counts(out) == (0, 3, 1)
    assert "skipped 3" in out
    assert len(failure_lines(err)) == 1 and "broken.jpg" in err
    assert sorted(listing(shoot)) == done_files  # no a_clean_clean.jpg, no a_mask_clean.png
    assert hashes(shoot) == originals  # the skipped outputs are left as they were

    # --overwrite redoes them (same settings -> same bytes), the originals stay as they are
    (shoot / "a_clean.jpg").write_bytes(b"stale")
    code, out, _ = batch(capsys, shoot, "--no-progress", "--overwrite")
    assert code == 1
    assert summary_counts(out) == (3, 0, 1)
    assert read_image(shoot / "a_clean.jpg").size == SIZE
    now = hashes(shoot)
    assert {k: v for k, v in now.items() if k != "a_clean.jpg"} == {
        k: v for k, v in originals.items() if k != "a_clean.jpg"
    }
    assert now["a_clean.jpg"] == originals["a_clean.jpg"]
    assert sorted(listing(shoot)) == done_files


def test_output_folder(tmp_path, capsys):
    shoot = make_shoot(tmp_path / "shoot")
    dest = tmp_path / "delivered"
    dest.mkdir()
    before = hashes(shoot)

    code, out, _ = batch(capsys, shoot, "-o", dest, "--no-progress")

    assert code == 1
    assert summary_counts(out) == (3, 0, 1)
    assert hashes(shoot) == before  # nothing new beside the originals
    assert listing(dest) == {f"{n}_clean.jpg" for n in GOOD}

    code, out, _ = batch(capsys, shoot, "-o", dest, "--no-progress")
    assert summary_counts(out) == (0, 3, 1)


def test_all_good_is_exit_0(tmp_path, capsys):
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    code, out, err = batch(capsys, shoot, "--no-progress", "--lift", "0", "--texture", "0")
    assert code == 0
    assert summary_counts(out) == (3, 0, 0)
    assert err == ""


def test_progress_bar_goes_to_stderr_and_failures_once(tmp_path, capsys):
    shoot = make_shoot(tmp_path / "shoot")
    code, out, err = batch(capsys, shoot)  # progress bar on
    assert code == 1
    assert out.strip().splitlines() == [out.strip().splitlines()[-1]]  # stdout: the summary only
    assert summary_counts(out) == (3, 0, 1)
    fails = failure_lines(err)
    assert len(fails) == 1 and "broken.jpg" in fails[0]


def test_image_without_a_mask_is_segmented_by_the_embedded_model(tmp_path, capsys):
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    save_photo(shoot / "nomask.jpg")

    code, out, err = batch(capsys, shoot, "--no-progress")

    assert code == 0, err
    assert summary_counts(out) == (4, 0, 0)
    assert (shoot / "nomask_clean.jpg").exists()


def test_masks_folder(tmp_path, capsys):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in GOOD:
        save_photo(shoot / f"{name}.jpg")
        save_mask(masks / f"{name}_mask.png")
    code, out, _ = batch(capsys, shoot, "--masks", masks, "--no-progress")
    assert code == 0
    assert summary_counts(out) == (3, 0, 0)


@pytest.mark.parametrize("which", ["folder", "out_dir", "params"])
def test_batch_user_errors_are_one_line(tmp_path, capsys, which):
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    before = listing(tmp_path)
    if which == "folder":
        argv, word = [tmp_path / "no_such_shoot"], "no_such_shoot"
    elif which == "out_dir":
        argv, word = [shoot, "-o", tmp_path / "no_such_dest"], "no_such_dest"
    else:
        argv, word = [shoot, "--lift", "150"], "lift"
    code, out, err = batch(capsys, *argv, "--no-progress")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and word in lines[0]
    assert out == ""
    assert listing(tmp_path) == before


def test_a_file_instead_of_a_folder(tmp_path, capsys):
    f = save_photo(tmp_path / "single.jpg")
    code, _, err = batch(capsys, f, "--no-progress")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "single.jpg" in err


# --------------------------------------------------------------------------- the API

def test_find_images_skips_masks_outputs_and_others(tmp_path):
    shoot = make_shoot(tmp_path / "shoot")
    (shoot / "a_clean.jpg").write_bytes(b"x")
    (shoot / ".hidden.jpg").write_bytes(b"x")
    (shoot / "notes.txt").write_text("x")
    (shoot / "sub.jpg").mkdir()
    (shoot / "d.TIF").write_bytes(b"x")
    assert [p.name for p in find_images(shoot)] == ["a.jpg", "b.jpg", "broken.jpg", "c.jpg", "d.TIF"]


def test_run_batch_report_rows(tmp_path):
    shoot = make_shoot(tmp_path / "shoot")
    save_photo(shoot / "nomask.jpg")
    seen: list[FileResult] = []

    report = run_batch(shoot, params=Params(), progress=False, on_result=seen.append)

    assert seen == report.rows
    rows = {r.source.name: r for r in report.rows}
    assert sorted(rows) == ["a.jpg", "b.jpg", "broken.jpg", "c.jpg", "nomask.jpg"]
    for name in GOOD:
        r = rows[f"{name}.jpg"]
        assert r.status == "done"
        assert r.output == shoot / f"{name}_clean.jpg" and r.output.is_file()
        assert r.error == ""
        assert r.size == SIZE
        assert r.seconds > 0
        assert r.segmenter == "mask"
    broken = rows["broken.jpg"]
    assert broken.status == "failed"
    assert broken.output == shoot / "broken_clean.jpg" and not broken.output.exists()
    assert "broken.jpg" in broken.error and "\n" not in broken.error
    nomask = rows["nomask.jpg"]  # no mask file: the embedded segmenter finds the subject
    assert nomask.status == "done" and nomask.segmenter == "embedded" and nomask.output.is_file()
    assert report.failed == 1 and report.count("done") == 4
    assert report.summary().startswith("done 4, skipped 0, failed 1, ")
    assert report.seconds > 0

    again = run_batch(shoot, params=Params(), progress=False)
    assert [r.status for r in again.rows] == ["skipped", "skipped", "failed", "skipped", "skipped"]
    assert all(r.output.is_file() for r in again.rows if r.status == "skipped")
    assert again.summary().startswith("done 0, skipped 4, failed 1, ")


def test_run_batch_out_dir_and_missing_folders(tmp_path):
    shoot = make_shoot(tmp_path / "shoot", broken=False)
    dest = tmp_path / "out"
    dest.mkdir()
    report = run_batch(shoot, params=Params(lift=0, texture=0), out_dir=dest, progress=False)
    assert [r.output for r in report.rows] == [dest / f"{n}_clean.jpg" for n in GOOD]
    assert all(r.status == "done" for r in report.rows)
    with pytest.raises(BackdropError, match="nowhere"):
        run_batch(tmp_path / "nowhere", params=Params(), progress=False)
    with pytest.raises(BackdropError, match="no_dest"):
        run_batch(shoot, params=Params(), out_dir=tmp_path / "no_dest", progress=False)
