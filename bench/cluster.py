"""A batch on a Dask cluster against the same batch in one process, on this machine.

    python bench/cluster.py [--photos 16] [--workers 2] [--size 4242x2828]

Each run is a whole ``backdrop batch`` in a fresh process (decode to encode, the cluster's start
included), 12 MP JPEGs with their masks by default. Prints the seconds, the speed-up, the scaling
efficiency (speed-up / workers), and the per-task overhead, measured on tiny photos where the
cleaning itself costs almost nothing: (cluster time - its start - one process's time) / photos.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bigframe import make_frame  # noqa: E402


def shoot(folder: Path, n: int, size: tuple[int, int]) -> Path:
    """``n`` copies of one frame with its mask (the same work per photo)."""
    folder.mkdir(parents=True)
    base = (max(64, size[0] // 2), max(64, size[1] // 2))
    src, mask = make_frame(folder, size, base, "white_seamless")
    for i in range(n):
        shutil.copyfile(src, folder / f"p{i:02d}.jpg")
        shutil.copyfile(mask, folder / f"p{i:02d}_mask.png")
    src.unlink()
    mask.unlink()
    return folder


def batch(src: Path, out: Path, extra: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    env = {**os.environ, "BACKDROP_NO_CACHE": "1"}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "backdrop", "batch", str(src), "-o", str(out), "--no-progress", *extra],
                   check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - t


def cluster_start(workers: int) -> float:
    """Seconds to start a local cluster of ``workers`` and set their threads, in a fresh process."""
    code = ("import time; t = time.perf_counter(); from backdrop.batch.cluster import connect, share_cores; "
            f"c, l = connect('local:{workers}'); share_cores(c); print(time.perf_counter() - t); c.close(); l.close()")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", default="4242x2828", help="W x H of each photo (default 12 MP)")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    print(f"machine: {os.cpu_count()} cores; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        big = shoot(tmp / "big", a.photos, (w, h))
        tiny = shoot(tmp / "tiny", a.photos, (64, 48))
        cl = ["--cluster", f"local:{a.workers}"]
        one = statistics.median(batch(big, tmp / "o1", []) for _ in range(a.repeat))
        many = statistics.median(batch(big, tmp / "o2", cl) for _ in range(a.repeat))
        start = statistics.median(cluster_start(a.workers) for _ in range(max(1, a.repeat)))
        tiny_one = batch(tiny, tmp / "t1", [])
        tiny_many = batch(tiny, tmp / "t2", cl)
    mp = w * h / 1e6
    speedup = one / many
    print(f"{a.photos} photos of {mp:.0f} MP, one process:        {one:7.1f} s  ({one / a.photos:.2f} s a photo)")
    print(f"{a.photos} photos of {mp:.0f} MP, local:{a.workers} cluster:      {many:7.1f} s  "
          f"({many / a.photos:.2f} s a photo; the cluster's start {start:.1f} s of it)")
    print(f"speed-up x{speedup:.2f}, scaling efficiency {speedup / a.workers:.0%} "
          f"({(one / (many - start)) / a.workers:.0%} without the start)")
    print(f"tiny photos: one process {tiny_one:.1f} s, cluster {tiny_many:.1f} s with its start {start:.1f} s: "
          f"per-task overhead {1000 * (tiny_many - start - tiny_one) / a.photos:+.0f} ms a photo "
          "(a process's start and torch's import are in both)")


if __name__ == "__main__":
    main()
