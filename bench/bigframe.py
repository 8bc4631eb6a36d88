"""Huge frames: peak memory and time of `backdrop clean` on a ~100 MP photo (12000x8400).

Makes a studio frame with bench/scenes.py's scene maker at a smaller size (3000x2100 by default),
upscales it to the target size with a little fine grain so the JPEG is not unnaturally smooth,
writes it as a JPEG (quality 95) with its mask as a PNG into a temporary folder (never into the
repository), then runs the real command line on it in a fresh process:

    python -m backdrop clean frame.jpg --mask frame_mask.png -o frame_clean.jpg

and prints its wall time (and CPU time: user + system, a steadier figure on a shared machine) and
peak memory: the kernel's high-water mark of the process's resident set (``VmHWM`` in
/proc/PID/status, read every 20 ms: exact, as it only grows) and the highest RSS seen by polling.
(``ru_maxrss`` of a child is not used: Linux carries the parent's resident set at the fork into it,
so a benchmark that holds a big frame itself when it starts the CLI reports its own size.)

``--profile`` then runs the same steps in this process with RSS sampled every 5 ms and prints, per
stage (decode, mask, each engine stage, encode, report), its time, the RSS at its start, the peak
while it ran and the RSS at its end: where the memory goes. The engine stages are found by wrapping
the functions ``backdrop.pipeline`` calls; torch's own allocations are included (RSS, not tracemalloc).

Run: python bench/bigframe.py [--size 12000x8400] [--size 6000x4000 ...] [--repeat 1] [--profile]
     [--segmenter] [--keep DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024.0 * 1024.0  # "MB" below is MiB, as ru_maxrss / 1024 (and bench/speed.py)


def _machine() -> str:
    import platform

    import psutil
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory()
    return (f"machine: {cpu}, {os.cpu_count()} cores, {ram.total / 2**30:.1f} GiB RAM "
            f"({ram.available / 2**30:.1f} GiB available), torch {torch.__version__}")


def make_frame(folder: Path, size: tuple[int, int], base: tuple[int, int], scene: str, seed: int = 0):
    """Write ``frame.jpg`` (quality 95) and ``frame_mask.png`` of ``size`` = (W, H) into ``folder``."""
    import cv2
    from PIL import Image

    from bench.scenes import make_scene

    W, H = size
    s = make_scene(scene, size=base, seed=seed)
    img8 = (s.image * 255 + 0.5).astype(np.uint8)
    alpha8 = (s.alpha * 255 + 0.5).astype(np.uint8)
    del s
    big = cv2.resize(img8, (W, H), interpolation=cv2.INTER_CUBIC)
    del img8
    # a fine grain of +-2 levels, band by band (no full-size float copy)
    rng = np.random.default_rng(seed)
    for y0 in range(0, H, 256):
        band = big[y0 : y0 + 256].astype(np.int16)
        band += rng.integers(-2, 3, band.shape, dtype=np.int16)
        big[y0 : y0 + 256] = np.clip(band, 0, 255).astype(np.uint8)
    Image.fromarray(big).save(folder / "frame.jpg", quality=95)
    del big
    mask = cv2.resize(alpha8, (W, H), interpolation=cv2.INTER_LINEAR)
    Image.fromarray(mask).save(folder / "frame_mask.png")
    return folder / "frame.jpg", folder / "frame_mask.png"


def run_cli(src: Path, mask: Path | None, out: Path, extra: list[str]) -> dict:
    """One `python -m backdrop clean` in a fresh process: wall time, exact and sampled peak RSS."""
    import psutil

    cmd = [sys.executable, "-m", "backdrop", "clean", str(src), "-o", str(out), *extra]
    if mask is not None:
        cmd += ["--mask", str(mask)]
    # a private, empty mask cache: the segmenter runs every time, and the user's cache is not touched
    cache = tempfile.TemporaryDirectory(prefix="bigframe-cache-")
    env = {**os.environ, "BACKDROP_CACHE_DIR": cache.name}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    ps = psutil.Process(proc.pid)
    sampled = hwm = 0
    proc_status = Path(f"/proc/{proc.pid}/status")
    while True:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            sampled = max(sampled, rss)
            for line in proc_status.read_text().splitlines():
                if line.startswith("VmHWM:") and "backdrop" in ps.cmdline():  # after the exec
                    hwm = max(hwm, int(line.split()[1]) * 1024)
        except (psutil.Error, OSError, ValueError):
            pass
        try:  # reap it ourselves: wait4 gives this child's own high-water mark
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - t
    cache.cleanup()
    output = proc.stdout.read().decode(errors="replace").strip()
    proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"backdrop clean failed ({proc.returncode}): {output}")
    # VmHWM: the high-water mark of the process's own memory after exec, exact and untouched by this
    # (parent) process. wait4's ru_maxrss also counts the parent's resident set at the fork, so it is
    # only a fallback where /proc is missing.
    peak = hwm if hwm else max(sampled, usage.ru_maxrss * 1024)
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": peak / MB,
            "sampled_mb": sampled / MB, "maxrss_mb": usage.ru_maxrss / 1024.0, "output": output}


# ----------------------------------------------------------------------------- in-process profile

class _Sampler:
    """RSS of this process every ``every`` seconds, in a thread."""

    def __init__(self, every: float = 0.005):
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.proc.memory_info().rss))
            time.sleep(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def now(self) -> int:
        return self.proc.memory_info().rss


def profile(src: Path, mask_path: Path) -> list[tuple[str, float, float, float, float]]:
    """(stage, seconds, RSS at start, peak during, RSS at end) in MB, in the order they ran."""
    from backdrop import Params, analyze, pipeline, read_image, read_mask, render, write_image
    from backdrop.io import bits_for
    from backdrop.metrics import backdrop_stats

    stages: list[tuple[str, float, float, int]] = []  # name, t0, t1, rss at start
    depth = [0]

    @contextlib.contextmanager
    def stage(name: str, sampler: _Sampler):
        top = depth[0] == 0
        depth[0] += 1
        rss0 = sampler.now()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            t1 = time.perf_counter()
            depth[0] -= 1
            stages.append(((name if top else "  " + name), t0, t1, rss0))

    engine_parts = ["reduce_source", "subject_protection", "contact_zone", "detect_floor", "pushpull_fill",
                    "unsure_edges", "fitted_surface", "foreign_objects", "shadow_gain", "texture_layers", "tile_noise",
                    "compose"]
    params = Params(device="cpu")
    out = src.parent / "profile_clean.jpg"
    with _Sampler() as sampler:

        def wrap(name, fn):
            @functools.wraps(fn)
            def inner(*a, **k):
                with stage(name, sampler):
                    return fn(*a, **k)
            return inner

        patches = [mock.patch.object(pipeline, n, wrap(n, getattr(pipeline, n))) for n in engine_parts]
        with contextlib.ExitStack() as stack:
            for p in patches:
                stack.enter_context(p)
            with stage("decode (read_image)", sampler):
                photo = read_image(src)
            with stage("mask (read_mask)", sampler):
                m = read_mask(mask_path, size=photo.size)
            with stage("engine: analyze", sampler):
                analysis = analyze(photo.data, m, params)
            with stage("engine: render (preview, 8-bit)", sampler):
                result = render(analysis, views=("preview",), bits=bits_for(out, photo))
            del analysis
            with stage("report (backdrop_stats)", sampler):
                backdrop_stats(result)
            pixels = result.preview
            del result
            with stage("encode (write_image)", sampler):
                write_image(out, pixels, like=photo)
            del pixels, photo, m
    samples = sampler.samples
    # sub-stages of one name are merged (time summed, peak over all calls)
    rows: dict[str, list] = {}
    order: list[str] = []
    for name, t0, t1, rss0 in sorted(stages, key=lambda s: s[1]):
        peak = max([r for t, r in samples if t0 <= t <= t1] + [rss0])
        end = min(((t, r) for t, r in samples if t >= t1), default=(t1, rss0))[1]
        if name in rows:
            row = rows[name]
            row[1] += t1 - t0
            row[3] = max(row[3], peak / MB)
            row[4] = end / MB
        else:
            rows[name] = [name, t1 - t0, rss0 / MB, peak / MB, end / MB]
            order.append(name)
    return [tuple(rows[n]) for n in order]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", action="append", help="frame size WxH (repeatable; default 12000x8400)")
    ap.add_argument("--base", default="3000x2100", help="size the scene is made at before upscaling")
    ap.add_argument("--scene", default="white_seamless")
    ap.add_argument("--repeat", type=int, default=1, help="CLI runs per size (median time, highest peak)")
    ap.add_argument("--profile", action="store_true", help="also the per-stage memory profile, in process")
    ap.add_argument("--segmenter", action="store_true",
                    help="also a run without the mask file (the embedded segmenter finds the subject)")
    ap.add_argument("--keep", metavar="DIR", help="write the frames into DIR and keep them (reused by the next run)")
    args = ap.parse_args(argv)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in (args.size or ["12000x8400"])]
    base = tuple(int(v) for v in args.base.lower().split("x"))

    print(_machine())
    with contextlib.ExitStack() as stack:
        if args.keep:
            root = Path(args.keep)
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bigframe-")))
        for W, H in sizes:
            folder = root / f"{W}x{H}"
            folder.mkdir(exist_ok=True)
            t = time.perf_counter()
            src, mask = folder / "frame.jpg", folder / "frame_mask.png"
            if not (args.keep and src.is_file() and mask.is_file()):  # --keep: made once, reused
                src, mask = make_frame(folder, (W, H), base, args.scene)
            raw = W * H * 3 * 4 / 1e6
            print(f"frame {W}x{H} ({W * H / 1e6:.1f} MP), JPEG {src.stat().st_size / 1e6:.0f} MB, made in "
                  f"{time.perf_counter() - t:.0f} s; its float32 RGB pixels alone are {raw:.0f} MB")
            runs = [("mask file", src, mask)]
            if args.segmenter:  # the photo alone in a folder: no frame_mask.png beside it to be found
                alone = folder / "no-mask" / src.name
                alone.parent.mkdir(exist_ok=True)
                if not alone.exists():
                    os.link(src, alone)
                runs.append(("segmenter", alone, None))
            for label, photo, m in runs:
                res = [run_cli(photo, m, folder / "frame_clean.jpg", ["--set", "device=cpu"]) for _ in range(args.repeat)]
                if not all(("subject by mask" in r["output"]) == (m is not None) for r in res):
                    raise SystemExit(f"the subject did not come from where it should ({label}): {res[0]['output']}")
                secs = statistics.median(r["seconds"] for r in res)
                cpu = statistics.median(r["cpu"] for r in res)
                peak = max(r["peak_mb"] for r in res)
                peaks = "/".join(f"{r['peak_mb']:.0f}" for r in res)
                print(f"  CLI clean ({label:9s})  {secs:6.1f} s (CPU {cpu:.1f} s)  peak RSS {peak:6.0f} MB "
                      f"({peak * MB / (W * H):.1f} bytes per pixel); {len(res)} run(s): {peaks} MB")
                if args.keep:  # the last output stays for a look
                    (folder / "frame_clean.jpg").replace(folder / f"frame_clean_{label.split()[0]}.jpg")
                else:
                    (folder / "frame_clean.jpg").unlink(missing_ok=True)
            if args.profile:
                print("  per-stage memory, in process (MB of RSS; engine sub-stages indented, merged over calls):")
                print(f"    {'stage':34s} {'s':>7s} {'start':>7s} {'peak':>7s} {'end':>7s}")
                for name, secs, start, peak, end in profile(src, mask):
                    print(f"    {name:34s} {secs:7.2f} {start:7.0f} {peak:7.0f} {end:7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
