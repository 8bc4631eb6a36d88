"""Reliability: every odd file of a shoot folder, through the CLI batch, the papermill report and
the app's API; atomic outputs under SIGINT / SIGTERM / SIGKILL and the resume after; read-only,
full and missing output folders; ``--jobs N``; a GPU that runs out of memory.

Every test that runs a batch hashes the whole input folder before and after: an original is
never modified, and nothing but outputs ever appears beside it.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from backdrop.batch import run as batch_run
from backdrop import pipeline as pipeline_mod
from backdrop import service as service_mod
from backdrop.batch import run_batch
from backdrop.cli import main
from backdrop.io import read_image
from backdrop.params import Params
from tests.oddfolder import BASE_SIZE, cmyk_profile, make_odd_folder, rgb8

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^done (\d+), skipped (\d+), failed (\d+), \d+\.\d\d s per image$")
TEMP = re.compile(r"\.tmp-\d+-[0-9a-f]{8}$")
KILL_SIZE = (480, 320)  # kill-and-resume frames: ~0.3 s each on one thread, time to kill in between
KILL_COUNT = 8
WORKER_THREADS = max(1, (os.cpu_count() or 1) // 2)  # what each of --jobs 2 workers uses


# --------------------------------------------------------------------------- helpers

def tree_hash(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: relative path -> sha256 of a file, or "<dir>"."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@contextlib.contextmanager
def untouched(folder: Path):
    """Assert that nothing under ``folder`` changes inside the block."""
    before = tree_hash(folder)
    yield
    assert tree_hash(folder) == before, "the input folder changed"


def out_name(name: str) -> str:
    p = Path(name)
    return f"{p.stem}_clean{p.suffix}"


def summary(stdout: str) -> tuple[int, int, int]:
    line = stdout.strip().splitlines()[-1]
    m = SUMMARY.match(line)
    assert m, f"no summary line in {stdout!r}"
    return int(m[1]), int(m[2]), int(m[3])


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if TEMP.search(p.name))


def decodes_whole(path: Path) -> None:
    """The file decodes to the end (a partial file raises)."""
    with Image.open(path) as im:
        im.load()
    read_image(path)


def make_shoot(folder: Path, n: int = KILL_COUNT, size=KILL_SIZE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = rgb8(size)
    for i in range(n):
        Image.fromarray(np.roll(base, 7 * i, axis=1)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture(autouse=True)
def _worker_threads():
    """In-process runs use the torch thread count of a --jobs 2 worker (and of the subprocess
    runs below), so that outputs can be compared byte for byte: torch's float sums, and so a
    few dithered 8-bit pixels, depend on the thread count."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(WORKER_THREADS)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    """The odd folder, made once (in a folder whose name has a space and an umlaut)."""
    folder = tmp_path_factory.mktemp("odd") / "Shoot ü 01"
    cases = make_odd_folder(folder)
    return folder, cases


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The kill-and-resume shoot, and its outputs from one uninterrupted run (in this process,
    with the torch thread count a --jobs 2 worker uses, so that bytes can be compared)."""
    import torch

    root = tmp_path_factory.mktemp("kill")
    shoot = make_shoot(root / "shoot")
    out = root / "reference"
    out.mkdir()
    saved = torch.get_num_threads()
    torch.set_num_threads(WORKER_THREADS)
    try:
        report = run_batch(shoot, params=Params(), out_dir=out, progress=False)
    finally:
        torch.set_num_threads(saved)
    assert report.count("done") == KILL_COUNT
    return shoot, {p.name: p.read_bytes() for p in out.iterdir()}


# --------------------------------------------------------------------------- the odd folder

def test_oddfolder_generator_makes_every_case(odd, tmp_path):
    folder, cases = odd
    names = {c.name for c in cases}
    assert len(names) == len(cases)
    assert {p.name for p in folder.iterdir()} == names
    assert {f"orient{o}.jpg" for o in range(1, 9)} <= names
    kinds = {c.kind for c in cases}
    assert kinds == {"good", "bad", "ignored"}
    # the command-line entry point writes the same folder, and refuses a non-empty one
    from tests import oddfolder

    assert oddfolder.main([str(tmp_path / "again")]) == 0
    assert {p.name for p in (tmp_path / "again").iterdir()} == names
    assert oddfolder.main([str(tmp_path / "again")]) == 2


def test_cmyk_is_converted_through_its_profile(odd):
    folder, _ = odd
    with Image.open(folder / "cmyk_icc.tif") as im:
        raw = im.copy()
    via_profile = ImageCms.profileToProfile(raw, ImageCms.ImageCmsProfile(__import__("io").BytesIO(cmyk_profile())),
                                            ImageCms.createProfile("sRGB"), outputMode="RGB")
    photo = read_image(folder / "cmyk_icc.tif")
    assert photo.icc_profile is None and photo.pixels.shape == (BASE_SIZE[1], BASE_SIZE[0], 3)
    got = (photo.pixels * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(got, np.asarray(via_profile))
    plain = (read_image(folder / "cmyk.tif").pixels * 255 + 0.5).astype(np.uint8)
    assert np.abs(got.astype(int) - plain).mean() > 5  # the profile mattered (weak cyan ink)


def test_cli_batch_over_the_odd_folder(odd, tmp_path, capsys):
    folder, cases = odd
    out = tmp_path / "out"
    out.mkdir()
    good = [c for c in cases if c.kind == "good"]
    bad = [c for c in cases if c.kind == "bad"]

    with untouched(folder):
        code, stdout, stderr = cli(capsys, "batch", folder, "-o", out, "--no-progress")

    assert code == 1  # some files failed
    assert stdout.strip().splitlines() == [stdout.strip()]  # stdout: the summary line only
    assert summary(stdout) == (len(good), 0, len(bad))
    # every bad file: one line naming it and why; nothing else on stderr (sidecars are silent)
    lines = stderr.strip().splitlines()
    assert len(lines) == len(bad) and all(line.startswith("failed: ") for line in lines)
    for c in bad:
        mine = [line for line in lines if f"/{c.name}:" in line]
        assert len(mine) == 1 and c.reason in mine[0], (c.name, lines)
    # one whole output per good file, nothing for bad or ignored ones, no temporary files
    assert {p.name for p in out.iterdir()} == {out_name(c.name) for c in good}
    for c in good:
        dst = out / out_name(c.name)
        decodes_whole(dst)
        photo, src = read_image(dst), read_image(folder / c.name)
        assert photo.size == c.size, c.name
        assert photo.pixels.shape[2] == c.channels, c.name  # greyscale stays greyscale
        assert photo.bit_depth == c.bits, c.name  # 16-bit stays 16-bit
        assert (photo.alpha is not None) == c.alpha, c.name
        if c.alpha:  # alpha kept as it was, bit for bit
            assert np.array_equal(photo.alpha, src.alpha), c.name
        if dst.suffix.lower() in (".jpg", ".jpeg"):
            assert photo.format == "JPEG", c.name  # png_named.jpg is written as what its name says
    assert read_image(out / "rgb8_clean.png").icc_profile == read_image(folder / "rgb8.png").icc_profile

    # every orientation comes out upright: the same frame as orientation 1, within JPEG noise
    upright = read_image(out / "orient1_clean.jpg").pixels
    for o in range(2, 9):
        px = read_image(out / f"orient{o}_clean.jpg").pixels
        assert px.shape == upright.shape and np.abs(px - upright).mean() * 255 < 3, o
    for name in ("orient6_16bit_clean.png", "orient8_16bit_clean.tif"):
        assert np.abs(read_image(out / name).pixels - upright).mean() * 255 < 3, name
    # several frames: the first one (frame 2 is black, page 2 is 48x80)
    first = read_image(out / "rgb8_clean.png").pixels
    for name in ("animated_clean.png", "animated_clean.webp", "multipage_clean.tif"):
        assert np.abs(read_image(out / name).pixels - first).mean() * 255 < 3, name
    # CMYK came out as RGB, through the profile where there was one
    cmyk, cmyk_icc = read_image(out / "cmyk_clean.jpg"), read_image(out / "cmyk_icc_clean.jpg")
    assert cmyk.pixels.shape[2] == 3 and cmyk.icc_profile is None and cmyk_icc.icc_profile is None
    assert np.abs(cmyk.pixels - cmyk_icc.pixels).mean() * 255 > 5

    # a re-run does nothing new: every output is there, and outputs are no inputs
    with untouched(folder), untouched(out):
        code, stdout, stderr = cli(capsys, "batch", folder, "-o", out, "--no-progress")
    assert code == 1 and summary(stdout) == (0, len(good), len(bad))


def test_report_route_over_the_odd_folder(odd, tmp_path, capsys, monkeypatch):
    """``backdrop batch --report``: the papermill notebook cleans the same files and lists the
    same failures."""
    pytest.importorskip("papermill")
    import json

    monkeypatch.setenv("OMP_NUM_THREADS", str(WORKER_THREADS))  # the kernel's torch threads

    folder, cases = odd
    out = tmp_path / "out"
    out.mkdir()
    report = tmp_path / "report.ipynb"
    with untouched(folder):
        code = main(["batch", str(folder), "-o", str(out), "--report", str(report), "--no-progress"])
    _, err = capsys.readouterr()
    bad = [c for c in cases if c.kind == "bad"]
    assert code == 1
    line = [x for x in err.strip().splitlines() if x.startswith("FilesFailed:")]
    assert len(line) == 1 and f"{len(bad)} of " in line[0]
    assert {p.name for p in out.iterdir()} == {out_name(c.name) for c in cases if c.kind == "good"}
    text = json.dumps(json.loads(report.read_text(encoding="utf-8")), ensure_ascii=False)
    for c in bad:
        assert c.name in text and c.reason in text, c.name
    for c in cases:
        if c.kind == "ignored":
            assert f"| {c.name} |" not in text, c.name


@pytest.fixture(scope="module")
def app_module(tmp_path_factory):
    pytest.importorskip("gradio")
    tmp = tmp_path_factory.mktemp("gradio")
    env = dict(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               GRADIO_TEMP_DIR=str(tmp / "cache"))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from backdrop.app import handlers

    yield handlers
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.parametrize("name", ["rgba16.png", "la8.png", "cmyk_icc.jpg", "orient6.jpg", "Straße ü 写真 01.jpg",
                                  "palette_transparent.png", "animated.webp"])
def test_app_api_cleans_odd_files(odd, app_module, name):
    folder, cases = odd
    case = next(c for c in cases if c.name == name)
    with untouched(folder):
        result = Path(app_module.api_clean(str(folder / name), 50, 50, None))
    assert result.name == out_name(name)
    photo, src = read_image(result), read_image(folder / name)
    assert photo.size == case.size and photo.pixels.shape[2] == case.channels and photo.bit_depth == case.bits
    if case.alpha:
        assert np.array_equal(photo.alpha, src.alpha)


@pytest.mark.parametrize("name", ["empty.jpg", "truncated.jpg", "notes.jpg", "huge.png", "cmyk16.tif"])
def test_app_api_refuses_bad_files_in_one_line(odd, app_module, name):
    import gradio as gr

    folder, cases = odd
    case = next(c for c in cases if c.name == name)
    with untouched(folder), pytest.raises(gr.Error) as info:
        app_module.api_clean(str(folder / name), 50, 50, None)
    message = str(info.value.message if hasattr(info.value, "message") else info.value)
    reason = "over the app's 100 MP limit" if case.reason == "over the limit" else case.reason  # the app's words
    assert "\n" not in message and name in message and reason in message
    assert str(folder) not in message  # the user's name for the file, not our path


# --------------------------------------------------------------------------- interrupted batches

def _kill_run(shoot: Path, out: Path, sig: int, *, jobs: int = 1, when: str = "first") -> tuple[subprocess.Popen, str, list[int]]:
    """Start ``backdrop batch shoot -o out`` and send ``sig`` when ``when`` happens:
    "first": the first output appears; "third": the third one; "temp": a temporary file is
    seen after the first output (else the second output). For --jobs, SIGINT goes to the whole process group, as
    Ctrl-C in a terminal does. Returns the process, its stderr and the worker pids."""
    env = dict(os.environ, OMP_NUM_THREADS=str(WORKER_THREADS), PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "backdrop", "batch", str(shoot), "-o", str(out),
                          "--no-progress", "--jobs", str(jobs)], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    need = {"first": 1, "third": 3, "temp": 2}[when]
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and p.poll() is None:
        names = [q.name for q in out.iterdir()]
        done = sum(n.endswith("_clean.png") for n in names)
        if done >= need or (when == "temp" and done >= 1 and any(TEMP.search(n) for n in names)):
            break
        time.sleep(0.002 if when == "temp" else 0.02)
    assert p.poll() is None, "the batch ended before it could be interrupted"
    if jobs > 1:
        import psutil

        workers = [c.pid for c in psutil.Process(p.pid).children(recursive=True)]
    if sig == signal.SIGINT and jobs > 1:
        os.killpg(p.pid, sig)
    else:
        p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    return p, err.decode(), workers


def _check_after_kill(out: Path, reference: dict[str, bytes]) -> int:
    """Every output present is whole and what an uninterrupted run writes; returns how many."""
    present = [p for p in out.iterdir() if not p.name.startswith(".")]
    for p in present:
        decodes_whole(p)
        assert p.read_bytes() == reference[p.name], p.name
    return len(present)


def _resume(capsys, shoot: Path, out: Path, present: int, reference: dict[str, bytes], *jobs: str) -> None:
    with untouched(shoot):
        code, stdout, _ = cli(capsys, "batch", shoot, "-o", out, "--no-progress", *jobs)
    assert code == 0
    assert summary(stdout) == (KILL_COUNT - present, present, 0)  # only the missing ones are done
    assert temps(out) == []  # a temporary left by a SIGKILL is gone too
    assert {p.name: p.read_bytes() for p in out.iterdir()} == reference


@pytest.mark.parametrize("sig, when, code", [
    (signal.SIGINT, "first", 130),
    (signal.SIGTERM, "third", 143),
    (signal.SIGKILL, "temp", -signal.SIGKILL),
], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_kill_and_resume(reference, tmp_path, capsys, sig, when, code):
    shoot, ref = reference
    out = tmp_path / "out"
    out.mkdir()
    with untouched(shoot):
        p, err, _ = _kill_run(shoot, out, sig, when=when)
    assert p.returncode == code, err
    if sig != signal.SIGKILL:
        assert "Traceback" not in err
        last = err.strip().splitlines()[-1]
        name = "interrupted" if sig == signal.SIGINT else "stopped by SIGTERM"
        assert last.startswith(f"backdrop: {name}; ") and "run the same command again" in last
        assert temps(out) == []  # the image in progress left nothing behind
    present = _check_after_kill(out, ref)
    assert 1 <= present < KILL_COUNT
    _resume(capsys, shoot, out, present, ref)


@pytest.mark.slow  # two spawned workers each import torch: ~15 s per run on a busy 2-core machine
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_kill_and_resume_with_jobs(reference, tmp_path, capsys, sig):
    import psutil

    shoot, ref = reference
    out = tmp_path / "out"
    out.mkdir()
    with untouched(shoot):
        p, err, workers = _kill_run(shoot, out, sig, jobs=2)
    assert workers, "no worker processes seen"
    if sig == signal.SIGINT:
        assert p.returncode == 130, err
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("backdrop: interrupted; ")
        assert temps(out) == []
    else:
        assert p.returncode == -signal.SIGKILL
    # the workers do not outlive the batch, even a killed one (they would go on writing)
    alive = [psutil.Process(pid) for pid in workers if psutil.pid_exists(pid)]
    _, still = psutil.wait_procs(alive, timeout=20)
    assert not [q for q in still if q.status() != psutil.STATUS_ZOMBIE]
    present = _check_after_kill(out, ref)
    assert 1 <= present < KILL_COUNT
    _resume(capsys, shoot, out, present, ref, "--jobs", "2")


def _signal_mid_write(monkeypatch, sig: int, at: int) -> list[int]:
    """Send ``sig`` to this process in the middle of writing the ``at``-th PNG."""
    import backdrop.io.write as bio

    calls = []
    real = bio._write_png

    def write_png(f, *args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            os.kill(os.getpid(), sig)  # the handler runs in the main thread, the write goes on here
            time.sleep(0.5)
        return real(f, *args, **kwargs)

    monkeypatch.setattr(bio, "_write_png", write_png)
    return calls


@pytest.mark.parametrize("where", ["before the lock", "after the lock"])
def test_ctrl_c_while_a_photo_is_claimed_leaves_no_claim_file(tmp_path, monkeypatch, where):
    """A batch takes each photo with a ``.NAME.claim`` lock beside its output just before it starts
    on it. Ctrl-C or SIGTERM raises wherever the main thread is; when that was inside the taking,
    the claim file stayed in the output folder (seen as a flaky stop test in CI)."""
    import fcntl

    from backdrop.batch.plan import _Claim

    dst = tmp_path / "img0_clean.png"
    if where == "before the lock":
        real_flock, locks = fcntl.flock, []

        def flock(fd, op):
            locks.append(fd)
            if len(locks) == 1:  # the signal comes as the lock is asked for
                raise KeyboardInterrupt
            return real_flock(fd, op)

        monkeypatch.setattr(fcntl, "flock", flock)
    else:
        real = Path.is_file
        looks = []

        def is_file(self):
            looks.append(self)
            if len(looks) == 2:  # the second look, once the lock is held
                raise KeyboardInterrupt
            return real(self)

        monkeypatch.setattr(Path, "is_file", is_file)
    with pytest.raises(KeyboardInterrupt):
        _Claim.take(dst, overwrite=False)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    claim = _Claim.take(dst, overwrite=False)  # and the photo can be taken again
    assert claim is not None
    claim.release()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_just_after_a_photo_is_claimed_leaves_no_claim_file(reference, tmp_path, capsys, monkeypatch, sig, code):
    """The signal comes the moment a claim is taken, before the batch has noted it (the race CI
    hit twice): the batch stops with whole outputs only and no ``.NAME.claim`` file."""
    import backdrop.batch.run as run

    shoot, _ = reference
    out = tmp_path / "out"
    out.mkdir()
    real, taken = run._Claim.take, []

    def take(dst, overwrite):
        claim = real(dst, overwrite)
        taken.append(dst)
        if len(taken) == 3:
            os.kill(os.getpid(), sig)  # its handler runs at the next line of Python in this thread
        return claim

    monkeypatch.setattr(run._Claim, "take", take)
    with untouched(shoot):
        got = main(["batch", str(shoot), "-o", str(out), "--no-progress"])
    capsys.readouterr()
    assert got == code and len(taken) == 3
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".")], names
    assert 1 <= len(names) <= 2  # the photos before the third, each whole


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_in_the_middle_of_a_write_leaves_no_temporary(reference, tmp_path, capsys, monkeypatch, sig, code):
    shoot, ref = reference
    out = tmp_path / "out"
    out.mkdir()
    _signal_mid_write(monkeypatch, sig, at=3)
    with untouched(shoot):
        got = main(["batch", str(shoot), "-o", str(out), "--no-progress"])
    _, err = capsys.readouterr()
    assert got == code
    # the photo being written when the signal came is finished (the writer runs beside the engine):
    # whole outputs only, no temporary file
    assert len(err.strip().splitlines()) == 1 and "3 of 8 images have their output" in err
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is put back
    assert temps(out) == [] and sorted(p.name for p in out.iterdir()) == [f"img{i}_clean.png" for i in range(3)]
    assert all((out / f"img{i}_clean.png").read_bytes() == ref[f"img{i}_clean.png"] for i in range(3))
    monkeypatch.undo()
    _resume(capsys, shoot, out, 3, ref)


def test_stale_temporaries_are_removed_and_never_inputs(reference, tmp_path, capsys):
    shoot, ref = reference
    work = tmp_path / "shoot"
    shutil.copytree(shoot, work)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = work / f".img3_clean.png.tmp-{dead.pid}-0123abcd"  # what a SIGKILL mid-write leaves
    stale.write_bytes(ref["img3_clean.png"][:1000])
    live = work / f".img4_clean.png.tmp-{os.getppid()}-0123abcd"  # a live process's: not ours to remove
    live.write_bytes(b"x")
    foreign = work / f".notes.txt.tmp-{dead.pid}-0123abcd"  # not an output of this batch
    foreign.write_bytes(b"x")
    (work / f".backdrop-probe-{dead.pid}-0123abcd").write_bytes(b"")  # a write probe of a killed run
    originals = {k: v for k, v in tree_hash(work).items() if not k.startswith(".")}

    code, stdout, _ = cli(capsys, "batch", work, "--no-progress")  # outputs beside the originals

    assert code == 0 and summary(stdout) == (KILL_COUNT, 0, 0)  # the temporaries were no inputs
    assert not stale.exists() and live.exists() and foreign.exists()
    now = tree_hash(work)
    assert {k: now[k] for k in originals} == originals
    assert {k for k in now if k not in originals} == {live.name, foreign.name} | {f"img{i}_clean.png" for i in range(KILL_COUNT)}
    for i in range(KILL_COUNT):
        assert (work / f"img{i}_clean.png").read_bytes() == ref[f"img{i}_clean.png"]


def test_a_folder_where_an_output_goes_is_a_failed_image_not_a_finished_one(reference, tmp_path):
    shoot, _ = reference
    (tmp_path / "img0_clean.png").mkdir()
    report = run_batch(shoot, params=Params(), out_dir=tmp_path, progress=False, limit=1)
    (row,) = report.rows
    assert row.status == "failed" and "img0_clean.png: is a folder" in row.error


# --------------------------------------------------------------------------- output folder problems

def _fail_in(folder: Path, monkeypatch, *, err: int, after: int = 0, call: str = "fsync") -> list[str]:
    """Make writes into ``folder`` fail with ``err``: ``os.fsync`` of a file there (a full disk
    shows up at the latest when the data is flushed) after ``after`` good files, or ``os.open``
    of any file there (a read-only folder)."""
    folder = str(folder.resolve())
    seen: list[str] = []
    if call == "fsync":
        real = os.fsync

        def fsync(fd):
            try:
                where = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                where = ""
            if os.path.dirname(where) == folder and os.path.isfile(where):
                seen.append(where)
                if len(seen) > after:
                    raise OSError(err, os.strerror(err))
            return real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    else:
        real_open = os.open

        def fake_open(path, *args, **kwargs):
            if os.path.dirname(os.path.abspath(path)) == folder:
                seen.append(str(path))
                raise OSError(err, os.strerror(err), str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr("builtins.open", _open_failing_in(folder, err))
    return seen


def _open_failing_in(folder: str, err: int):
    import builtins

    real = builtins.open

    def fake(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wxa") \
                and os.path.dirname(os.path.abspath(file)) == folder:
            raise OSError(err, os.strerror(err), str(file))
        return real(file, mode, *args, **kwargs)

    return fake


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the file of an fd in /proc")
def test_full_disk_stops_with_one_line_and_resumes(reference, tmp_path, capsys, monkeypatch):
    shoot, ref = reference
    out = tmp_path / "out"
    out.mkdir()
    seen = _fail_in(out, monkeypatch, err=errno.ENOSPC, after=2)
    with untouched(shoot):
        code, stdout, stderr = cli(capsys, "batch", shoot, "-o", out, "--no-progress")
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"backdrop: error: {out / 'img2_clean.png'}: could not write the image")
    assert "No space left on device" in lines[0] and "2 of 8 images have their output" in lines[0]
    assert len(seen) == 3  # it stopped at the first failure: no attempt on the other images
    assert temps(out) == [] and sorted(p.name for p in out.iterdir()) == ["img0_clean.png", "img1_clean.png"]
    monkeypatch.undo()  # space freed
    _resume(capsys, shoot, out, 2, ref)


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES], ids=["read-only", "no-permission"])
def test_unwritable_output_folder_is_one_line_before_any_work(reference, tmp_path, capsys, monkeypatch, err):
    shoot, _ = reference
    out = tmp_path / "out"
    out.mkdir()
    _fail_in(out, monkeypatch, err=err, call="open")
    monkeypatch.setattr(batch_run, "open_photo", lambda *a, **k: pytest.fail("an image was read"))
    with untouched(shoot):
        code, stdout, stderr = cli(capsys, "batch", shoot, "-o", out, "--no-progress")
    assert code == 2 and stdout == ""
    assert stderr.strip() == f"backdrop: error: {out}: cannot write to the output folder ({os.strerror(err)})"
    assert list(out.iterdir()) == []


def _can_mount() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def _tmpfs(where: Path, options: str):
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount (a real small or read-only tmpfs)")
def test_real_full_and_read_only_filesystems(reference, tmp_path, capsys):
    """The same on real file systems: a 256 KB tmpfs (one 185 KB output fits) and a read-only one."""
    shoot, ref = reference
    with _tmpfs(tmp_path / "small", "size=256k") as out, untouched(shoot):
        code, stdout, stderr = cli(capsys, "batch", shoot, "-o", out, "--no-progress")
        assert code == 2 and stdout == ""
        assert len(stderr.strip().splitlines()) == 1 and "No space left on device" in stderr
        assert temps(out) == []
        for p in out.iterdir():
            assert p.read_bytes() == ref[p.name]
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as out, untouched(shoot):
        code, stdout, stderr = cli(capsys, "batch", shoot, "-o", out, "--no-progress")
        assert code == 2
        assert stderr.strip() == f"backdrop: error: {out}: cannot write to the output folder (Read-only file system)"


def test_missing_output_folder_is_one_line_and_not_created(reference, tmp_path, capsys):
    """Decided: a missing output folder is an error, not created (a typo would scatter a shoot)."""
    shoot, _ = reference
    with untouched(shoot):
        code, stdout, stderr = cli(capsys, "batch", shoot, "-o", tmp_path / "no such", "--no-progress", "--jobs", "2")
    assert code == 2 and stdout == ""
    assert stderr.strip() == f"backdrop: error: {tmp_path / 'no such'}: output folder not found"
    assert not (tmp_path / "no such").exists()


@pytest.mark.parametrize("argv, word", [(["--jobs", "0"], "--jobs 0"), (["--jobs", "2", "--report", "r.ipynb"], "--jobs")])
def test_jobs_user_errors(reference, tmp_path, capsys, argv, word):
    shoot, _ = reference
    with untouched(shoot):
        code, stdout, stderr = cli(capsys, "batch", shoot, "-o", tmp_path, *argv)
    assert code == 2 and word in stderr and len(stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- --jobs

def test_jobs_2_same_bytes_as_jobs_1_and_every_failure_named(reference, odd, tmp_path, capsys):
    shoot, ref = reference
    folder, _ = odd
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("empty.jpg", "truncated.png"):  # sort before and after the good ones
        shutil.copy2(folder / name, mixed / name)
    for i in range(4):
        shutil.copy2(shoot / f"img{i}.png", mixed)
    out = tmp_path / "out"
    out.mkdir()
    with untouched(mixed):
        code, stdout, stderr = cli(capsys, "batch", mixed, "-o", out, "--jobs", "2")  # progress bar on
    assert code == 1 and summary(stdout) == (4, 0, 2)
    failed = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("failed:")]
    assert sorted(Path(line.split(": ")[1]).name for line in failed) == ["empty.jpg", "truncated.png"]
    assert "cleaning (starting 2 workers):   0%" in stderr  # the bar from the start, saying why it waits
    assert "cleaning: 100%" in stderr and "6/6" in stderr  # the progress bar got to the end
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {f"img{i}_clean.png": ref[f"img{i}_clean.png"] for i in range(4)}


def test_jobs_2_names_a_failure_as_it_happens_and_reports_in_input_order(tmp_path):
    """A broken photo behind a big one is named as soon as its worker gives up, not after the big
    one is done; the report still lists the photos in input order."""
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    big = np.random.default_rng(0).integers(150, 200, (2400, 3600, 3), dtype=np.uint8)
    Image.fromarray(big).save(shoot / "a_big.png")
    subject = np.zeros((2400, 3600), np.uint8)
    subject[600:, 1400:2200] = 255
    Image.fromarray(subject).save(shoot / "a_big_mask.png")
    (shoot / "b_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    seen = []
    report = run_batch(shoot, params=Params(),
                       out_dir=tmp_path, progress=False, jobs=2, on_result=lambda r: seen.append(r.source.name))
    assert seen == ["b_broken.jpg", "a_big.png"]  # the failure first, as it happened
    assert [r.source.name for r in report.rows] == ["a_big.png", "b_broken.jpg"]
    assert [r.status for r in report.rows] == ["done", "failed"]


def test_a_batch_parent_process_does_not_load_torch():
    """``backdrop batch --jobs N`` shows its bar at once: the command, the batch and the service
    modules load no torch (the workers do)."""
    code = ("import sys, backdrop, backdrop.cli, backdrop.batch, backdrop.service; "
            "from backdrop import Params, read_image; sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --------------------------------------------------------------------------- GPU out of memory

def _copy_shoot(shoot: Path, work: Path, n: int) -> Path:
    """The first ``n`` images of ``shoot`` in a folder of their own."""
    work.mkdir()
    for i in range(n):
        shutil.copy2(shoot / f"img{i}.png", work)
    return work


@pytest.mark.parametrize("error", ["OutOfMemoryError", "RuntimeError"])
def test_gpu_out_of_memory_falls_back_to_the_cpu(reference, tmp_path, capsys, monkeypatch, error):
    import torch

    shoot, ref = reference
    work = _copy_shoot(shoot, tmp_path / "shoot", 2)
    devices = []
    real = pipeline_mod.analyze  # what the service calls (imported on use)

    def analyze(image, mask, params, *args, **kwargs):
        devices.append(params.device)
        if len(devices) == 1:
            if error == "OutOfMemoryError":
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            raise RuntimeError("CUDA error: out of memory")
        return real(image, mask, params, *args, **kwargs)

    monkeypatch.setattr(pipeline_mod, "analyze", analyze)
    with untouched(work):
        code, stdout, stderr = cli(capsys, "batch", work, "-o", tmp_path, "--no-progress")
    assert code == 0 and summary(stdout) == (2, 0, 0)
    assert devices == ["auto", "cpu", "auto"]  # only the image that ran out was retried, on the CPU
    assert stderr.strip() == f"warning: {work / 'img0.png'}: the GPU ran out of memory; cleaned on the CPU instead"
    assert (tmp_path / "img0_clean.png").read_bytes() == ref["img0_clean.png"]


def test_gpu_out_of_memory_while_segmenting_falls_back_to_the_cpu(reference, tmp_path, capsys, monkeypatch):
    """A segmentation model (BiRefNet on a small GPU) that runs out of GPU memory segments that
    photo on the CPU: the batch goes on, with one warning line, and the output is the same."""
    import torch

    shoot, ref = reference
    work = _copy_shoot(shoot, tmp_path / "shoot", 2)
    devices = []
    real = service_mod.segment

    def segment(rgb, name, *, device="auto", **kwargs):
        devices.append(device)
        if len(devices) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.50 GiB")
        return real(rgb, name, device=device, **kwargs)

    monkeypatch.setattr(service_mod, "segment", segment)
    with untouched(work):
        code, stdout, stderr = cli(capsys, "batch", work, "-o", tmp_path, "--no-progress")
    assert code == 0 and summary(stdout) == (2, 0, 0)
    assert devices == ["auto", "cpu", "auto"]  # only the photo that ran out was retried, on the CPU
    assert stderr.strip() == (f"warning: {work / 'img0.png'}: the GPU ran out of memory segmenting it; "
                              "segmented on the CPU instead")
    assert (tmp_path / "img0_clean.png").read_bytes() == ref["img0_clean.png"]


@pytest.mark.parametrize(
    "stage, argv, why",
    [("analyze", ["--set", "device=cpu"], "out of memory"), ("segment", [], "out of memory on the GPU and on the CPU")],
    ids=["cleaning_on_the_cpu", "segmenting_on_the_gpu_and_the_cpu"],
)
def test_out_of_memory_with_nowhere_left_is_a_failed_image(reference, tmp_path, capsys, monkeypatch, stage,
                                                           argv, why):
    shoot, _ = reference
    work = _copy_shoot(shoot, tmp_path / "shoot", 1)

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(pipeline_mod if stage == "analyze" else service_mod, stage, out_of_memory)
    code, stdout, stderr = cli(capsys, "batch", work, "--no-progress", *argv)
    assert code == 1 and stderr.strip() == f"failed: {work / 'img0.png'}: {why}"
    assert sorted(p.name for p in work.iterdir()) == ["img0.png"]


def test_a_bug_is_still_a_traceback(reference, tmp_path, monkeypatch):
    shoot, _ = reference
    monkeypatch.setattr(pipeline_mod, "analyze", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_batch(shoot, params=Params(), out_dir=tmp_path, progress=False, limit=1)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- hostile names

def test_a_file_name_with_a_newline_or_an_escape_stays_one_printable_line(reference, tmp_path, capsys):
    shoot, _ = reference
    folder = tmp_path / "names"
    folder.mkdir()
    shutil.copy2(shoot / "img0.png", folder / "good.png")
    evil = folder / "bad\nname\x1b[31mred|x.jpg"
    evil.write_bytes(b"\xff\xd8\xff not a jpeg at all")
    (tmp_path / "out").mkdir()
    code, stdout, stderr = cli(capsys, "batch", folder, "-o", tmp_path / "out", "--no-progress")
    assert code == 1 and summary(stdout) == (1, 0, 1)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("failed:")
    assert "\x1b" not in stderr and "bad\\nname\\x1b[31mred|x.jpg" in lines[0]
    from backdrop.notebooks.report import failures_table
    from backdrop.service import FileResult

    table = failures_table([FileResult(evil, tmp_path / "o.jpg", "failed", error=f"{evil}: corrupt")])
    row = table.splitlines()[-1]
    assert "\n" not in row and "\x1b" not in row and row.count(" | ") == 1  # two cells, one line


@pytest.mark.parametrize("stem_bytes", [226, 245])
def test_a_long_file_name_is_cleaned_and_its_temporary_fits(reference, tmp_path, capsys, stem_bytes):
    shoot, ref = reference
    folder = tmp_path / "long"
    folder.mkdir()
    src = folder / ("é" * 100 + "x" * (stem_bytes - 200) + ".png")  # two bytes an é
    assert len(os.fsencode(src.stem)) == stem_bytes
    shutil.copy2(shoot / "img0.png", src)
    code, stdout, stderr = cli(capsys, "clean", src)
    assert code == 0, stderr
    out = src.with_name(src.stem + "_clean.png")
    assert out.read_bytes() == ref["img0_clean.png"] and temps(folder) == []


def test_broken_links_link_loops_and_fifos_named_like_photos_are_reported(reference, tmp_path, capsys):
    shoot, ref = reference
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy2(shoot / "img0.png", folder / "a_good.png")
    (folder / "b_broken.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "c_loop.jpg").symlink_to(folder / "c_loop.jpg")
    os.mkfifo(folder / "d_fifo.jpg")
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, stderr = cli(capsys, "batch", folder, "-o", out, "--no-progress")
    assert code == 1 and summary(stdout) == (1, 0, 3)  # and it did not wait on the FIFO
    failed = sorted(line for line in stderr.splitlines() if line.startswith("failed:"))
    assert len(failed) == 3
    assert "b_broken.jpg: broken link" in failed[0]
    assert "c_loop.jpg" in failed[1] and "d_fifo.jpg: not a regular file" in failed[2]
    assert sorted(p.name for p in out.iterdir()) == ["a_good_clean.png"]


# --------------------------------------------------------------------------- two batches on one folder

def test_two_batches_on_one_folder_share_the_work(reference, tmp_path):
    """Each photo is taken at the moment a run starts on it: two runs at once never redo (or
    overwrite) each other's outputs, and between them every photo is done once."""
    shoot, ref = reference
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "backdrop", "batch", str(shoot), "-o", str(out), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], results
    done = [int(re.search(r"done (\d+), skipped (\d+)", o).group(1)) for o, _ in results]
    assert sum(done) == 8  # shared: each photo done once, by one of them
    assert {p.name: p.read_bytes() for p in out.iterdir()} == ref  # whole, correct, no claim left behind


def test_a_photo_another_live_run_holds_is_passed_over_then_done_by_the_next_run(reference, tmp_path, capsys):
    shoot, ref = reference
    out = tmp_path / "out"
    out.mkdir()
    claim = out / ".img3_clean.png.claim"  # what a run cleaning img3.png holds
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)", str(claim)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, stdout, _ = cli(capsys, "batch", shoot, "-o", out, "--no-progress")
        assert code == 0 and summary(stdout) == (7, 1, 0)
        assert "img3_clean.png" not in {p.name for p in out.iterdir()}
    finally:
        holder.kill()
        holder.wait()
    code, stdout, _ = cli(capsys, "batch", shoot, "-o", out, "--no-progress")  # the holder is gone
    assert code == 0 and summary(stdout) == (1, 7, 0)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == ref


def test_a_claim_a_killed_run_left_beside_a_finished_output_is_removed(reference, tmp_path, capsys):
    shoot, ref = reference
    out = tmp_path / "out"
    out.mkdir()
    (out / "img0_clean.png").write_bytes(ref["img0_clean.png"])
    (out / ".img0_clean.png.claim").write_bytes(b"")  # killed after writing, before letting go
    code, stdout, _ = cli(capsys, "batch", shoot, "-o", out, "--no-progress")
    assert code == 0 and summary(stdout) == (7, 1, 0)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == ref
