"""A batch over object storage: a real S3 API server (moto's server mode) started by the tests on
127.0.0.1, driven through s3fs as a studio's bucket would be; no mocks of boto calls.

Photos and a mask are read from one bucket, outputs written to another, byte for byte what a batch
on a disk writes; a re-run skips the keys that exist; a bucket that is not there and credentials the
server refuses are one line each, with nothing written.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backdrop.batch import run_batch
from backdrop.cli import main
from backdrop.params import Params

pytest.importorskip("s3fs")
MOTO = Path(sys.executable).with_name("moto_server")
pytestmark = [pytest.mark.skipif(not MOTO.is_file(), reason="moto[server] is not installed"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")]


def _moto(env_extra: dict[str, str]):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, **env_extra})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto_server did not start")


@pytest.fixture(scope="module")
def s3_server():
    proc, url = _moto({})
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The usual environment of an S3 client pointed at the test server, and its filesystem."""
    import s3fs

    for k, v in dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                     AWS_ENDPOINT_URL=s3_server).items():
        monkeypatch.setenv(k, v)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    for bucket in ("shoot", "done"):
        if not fs.exists(bucket):
            fs.mkdir(bucket)
    for key in fs.find("shoot/") + fs.find("done/"):
        fs.rm(key)
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three small portraits, the first with its subject mask, and a local batch's outputs of them."""
    from bench.scenes import make_scene

    folder = tmp_path_factory.mktemp("photos")
    for i in range(3):
        s = make_scene(("white_seamless", "grey_wall_wood_floor")[i % 2], size=(480, 320), seed=i)
        Image.fromarray((np.clip(s.image, 0, 1) * 255 + 0.5).astype(np.uint8)).save(folder / f"p{i}.jpg", quality=92)
        if i == 0:
            Image.fromarray(((s.alpha > 0) * 255).astype(np.uint8)).save(folder / "p0_mask.png")
    out = tmp_path_factory.mktemp("local-out")
    run_batch(folder, params=Params(), out_dir=out, progress=False)
    return folder, {p.name: p.read_bytes() for p in out.iterdir()}


def _upload(fs, folder: Path) -> None:
    for p in sorted(folder.iterdir()):
        fs.put_file(str(p), f"shoot/in/{p.name}")


def test_a_batch_reads_a_bucket_and_writes_another_and_resumes_by_key(s3, photos, capsys):
    folder, local = photos
    _upload(s3, folder)
    assert main(["batch", "s3://shoot/in/", "-o", "s3://done/out/", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().startswith("done 3, skipped 0, failed 0")
    got = {k.rsplit("/", 1)[-1]: s3.cat_file(k) for k in s3.find("done/out/")}
    assert got == local  # what a batch on a disk writes, the mask beside p0 used the same way
    assert main(["batch", "s3://shoot/in/", "-o", "s3://done/out/", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().startswith("done 0, skipped 3, failed 0")


def test_a_cluster_batch_over_the_bucket(s3, photos, capsys):
    folder, local = photos
    _upload(s3, folder)
    s3.pipe("shoot/in/broken.jpg", b"\xff\xd8\xff\xe0 not a photo")
    assert main(["batch", "s3://shoot/in/", "-o", "s3://done/out/", "--cluster", "local:2", "--no-progress"]) == 1
    printed = capsys.readouterr()
    assert printed.out.strip().startswith("done 3, skipped 0, failed 1")
    assert "failed: s3://shoot/in/broken.jpg: " in printed.err
    assert {k.rsplit("/", 1)[-1] for k in s3.find("done/out/")} == set(local)  # nothing for the broken one


def test_a_missing_bucket_is_one_line_and_nothing_is_written(s3, photos, capsys):
    assert main(["batch", "s3://no-such-bucket/in/", "-o", "s3://done/out/"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "backdrop: error: s3://no-such-bucket/in/: not found (The specified bucket does not exist)"
    assert s3.find("done/") == []


def test_credentials_the_server_refuses_are_one_line(photos, monkeypatch, capsys):
    """A server that checks its keys (moto with authentication on), and keys it does not know."""
    import s3fs

    proc, url = _moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        for k, v in dict(AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY000000", AWS_SECRET_ACCESS_KEY="wrong",
                         AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=url).items():
            monkeypatch.setenv(k, v)
        s3fs.S3FileSystem.clear_instance_cache()
        assert main(["batch", "s3://shoot/in/", "-o", "s3://done/out/"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("backdrop: error: s3://shoot/in/: access refused")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        proc.terminate()
        proc.wait(timeout=10)


def test_match_over_a_bucket_stores_the_sets_level_beside_the_outputs_and_a_resume_reads_it(s3, photos, capsys):
    import yaml

    folder, _ = photos
    _upload(s3, folder)
    assert main(["batch", "s3://shoot/in/", "-o", "s3://done/out/", "--tone", "match", "--no-progress"]) == 0
    said = capsys.readouterr()
    stored = yaml.safe_load(s3.cat_file("done/out/backdrop-tone.yaml"))
    assert stored["photos"] == 3 and set(stored["levels"]) == {"p0.jpg", "p1.jpg", "p2.jpg"}
    assert f"walls matched to {stored['target']:.1f}" in said.out and "s3://done/out/backdrop-tone.yaml" in said.err
    # a resumed run (one output gone) cleans that photo to the stored level, not a new measure
    s3.pipe("done/out/backdrop-tone.yaml", yaml.safe_dump({**stored, "target": 150.0}).encode())
    s3.rm("done/out/p1_clean.jpg")
    assert main(["batch", "s3://shoot/in/", "-o", "s3://done/out/", "--tone", "match", "--no-progress"]) == 0
    said = capsys.readouterr()
    assert said.out.strip().startswith("done 1, skipped 2, failed 0") and "walls matched to 150.0" in said.out
