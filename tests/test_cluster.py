"""``backdrop batch --cluster``: a real Dask scheduler and real workers, started and stopped here on
127.0.0.1 (``dask scheduler``, ``dask worker``), and a ``local:N`` cluster.

A batch through the cluster writes the same bytes as a batch in this process (with the torch
threads a worker gets); a worker killed mid-batch loses nothing; a re-run resumes; an address where
no scheduler answers is one line, with nothing written.
"""
from __future__ import annotations

import os
import re
import signal
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

pytest.importorskip("distributed")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")

DASK = Path(sys.executable).with_name("dask")
N_PHOTOS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shoot(tmp_path_factory):
    """Eight small portraits with their masks, and what a batch in this process makes of them with
    the torch threads each of two workers on this machine gets."""
    import torch

    from bench.scenes import make_scene

    folder = tmp_path_factory.mktemp("shoot")
    for i in range(N_PHOTOS):
        s = make_scene(("white_seamless", "grey_wall_wood_floor")[i % 2], size=(480, 320), seed=i)
        Image.fromarray((np.clip(s.image, 0, 1) * 255 + 0.5).astype(np.uint8)).save(folder / f"p{i}.png")
        Image.fromarray(((s.alpha > 0) * 255).astype(np.uint8)).save(folder / f"p{i}_mask.png")
    ref = tmp_path_factory.mktemp("reference")
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        run_batch(folder, params=Params(), out_dir=ref, progress=False)
    finally:
        torch.set_num_threads(threads)
    return folder, {p.name: p.read_bytes() for p in ref.iterdir()}


@pytest.fixture
def scheduler(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes (one task at a time each) on 127.0.0.1.
    Yields (address, worker processes)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False", "PYTHONPATH": str(Path.cwd())}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)]
    workers = [subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard", "--no-nanny",
                                 "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env, cwd=tmp_path) for _ in range(2)]
    procs += workers
    try:
        from dask.distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in procs[::-1]:  # the workers first, then the scheduler they would wait for
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def test_a_batch_on_a_real_scheduler_and_workers_matches_a_batch_here_and_resumes(shoot, scheduler, tmp_path, capsys):
    folder, ref = shoot
    address, _ = scheduler
    out = tmp_path / "out"
    out.mkdir()
    assert main(["batch", str(folder), "-o", str(out), "--cluster", address, "--no-progress"]) == 0
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said.startswith(f"done {N_PHOTOS}, skipped 0, failed 0") and said.endswith("on a Dask cluster of 2 workers")
    assert _outputs(out) == ref  # the same bytes, photo for photo
    assert main(["batch", str(folder), "-o", str(out), "--cluster", address, "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(f"done 0, skipped {N_PHOTOS}, failed 0")


def test_a_worker_killed_mid_batch_loses_nothing(shoot, scheduler, tmp_path):
    """SIGKILL one of the two workers once the first output appears: the scheduler runs its photo
    again on the other, every photo gets a whole output, and a re-run has nothing left to do."""
    folder, ref = shoot
    address, workers = scheduler
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.Popen([sys.executable, "-m", "backdrop", "batch", str(folder), "-o", str(out), "--cluster",
                            address, "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.suffix == ".png" for p in out.iterdir()) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    os.kill(workers[0].pid, signal.SIGKILL)
    workers[0].wait(timeout=30)  # reaped, as its parent (a nanny, systemd) would: its pid is free again
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    # the killed worker's photo is run again elsewhere; had it just written its output, the re-run
    # finds it and counts it as skipped: either way every photo is done once, and none failed
    done, skipped, failed = map(int, re.match(r"done (\d+), skipped (\d+), failed (\d+)", stdout.splitlines()[-1]).groups())
    assert done + skipped == N_PHOTOS and done >= N_PHOTOS - 2 and failed == 0, stdout
    assert _outputs(out) == ref  # whole, and the same as here
    again = subprocess.run([sys.executable, "-m", "backdrop", "batch", str(folder), "-o", str(out), "--cluster",
                            address, "--no-progress"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"done 0, skipped {N_PHOTOS}, failed 0" in again.stdout
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary or claim left


def test_a_local_cluster_cleans_like_a_batch_here(shoot, tmp_path, capsys):
    folder, ref = shoot
    out = tmp_path / "out"
    out.mkdir()
    assert main(["batch", str(folder), "-o", str(out), "--cluster", "local:2", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().endswith("on a Dask cluster of 2 workers")
    assert _outputs(out) == ref


def test_match_on_a_cluster_measures_on_the_workers_and_cleans_every_photo_to_the_sets_level(shoot, tmp_path, capsys):
    import torch
    import yaml

    folder, _ = shoot
    out = tmp_path / "out"
    out.mkdir()
    assert main(["batch", str(folder), "-o", str(out), "--cluster", "local:2", "--tone", "match", "--no-progress"]) == 0
    stored = yaml.safe_load((out / "backdrop-tone.yaml").read_text())
    assert stored["photos"] == N_PHOTOS and f"walls matched to {stored['target']:.1f}" in capsys.readouterr().out
    # the same bytes as a batch here cleaning every photo to that level
    here = tmp_path / "here"
    here.mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        run_batch(folder, params=Params(tone=stored["target"]), out_dir=here, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert {k: v for k, v in _outputs(out).items() if k.endswith(".png")} == _outputs(here)


@pytest.mark.parametrize("address, said", [
    ("tcp://127.0.0.1:{port}", "--cluster tcp://127.0.0.1:{port}: no Dask scheduler answers there"),
    ("local:0", "--cluster local:0: expected local:N with N >= 1 workers"),
    ("scheduler.example", "--cluster scheduler.example: expected local:N or tcp://HOST:PORT"),
])
def test_an_address_without_a_scheduler_is_one_line_and_nothing_is_written(shoot, tmp_path, capsys, address, said):
    folder, _ = shoot
    port = _free_port()  # nothing listens there
    out = tmp_path / "out"
    out.mkdir()
    assert main(["batch", str(folder), "-o", str(out), "--cluster", address.format(port=port)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("backdrop: error: " + said.format(port=port))
    assert list(out.iterdir()) == []


def test_ctrl_c_cancels_the_rest_and_leaves_only_whole_outputs(shoot, tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) during a local:2 batch: exit 130 with one
    line, every output there is whole, and the same command again finishes the rest."""
    folder, ref = shoot
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "backdrop", "batch", str(folder), "-o", str(out), "--cluster", "local:2",
           "--no-progress"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not any(p.suffix == ".png" for p in out.iterdir()) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    said = [ln for ln in stderr.splitlines() if ln.startswith("backdrop: ")]
    assert len(said) == 1 and said[0].startswith("backdrop: interrupted")
    written = _outputs(out)
    assert 1 <= len(written) <= N_PHOTOS and all(written[name] == ref[name] for name in written)  # whole
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and _outputs(out) == ref
