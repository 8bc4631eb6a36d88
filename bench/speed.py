"""Speed benchmark: a 24 MP (6000x4000) studio frame with its mask.

Prints, as medians over repeats in one run on this machine:
  engine      clean(..., views=("preview",)) on the decoded pixels (no decode/encode)
  engine-all  the same with all three views (what the app and notebooks ask for)
  reference   the plain full-resolution reference (bench/reference.py), once
  decode      read_image of the JPEG (decode + float conversion)
  encode      write_image of the result (dither + quantize + JPEG encode)
and the peak memory of `python -m backdrop clean` on that file in a fresh process.

Run: python bench/speed.py [--size 6000x4000] [--repeat 3] [--no-reference]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from backdrop import Params, clean, read_image, write_image  # noqa: E402
from bench.bigframe import run_cli  # noqa: E402
from bench.reference import reference_clean  # noqa: E402
from bench.scenes import make_scene  # noqa: E402


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="6000x4000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-reference", action="store_true", help="skip the (slow) reference")
    ap.add_argument("--device", default="auto", help="engine device: auto, cpu, cuda, mps")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    print(f"machine: {_cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    t = time.perf_counter()
    scene = make_scene("white_seamless", size=(w, h))
    print(f"scene {w}x{h} ({w * h / 1e6:.0f} MP) made in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src, msk, dst = tmp / "frame.jpg", tmp / "frame_mask.png", tmp / "frame_clean.jpg"
        Image.fromarray((scene.image * 255 + 0.5).astype(np.uint8)).save(src, quality=95)
        Image.fromarray((scene.alpha * 255 + 0.5).astype(np.uint8)).save(msk)
        alpha = scene.alpha
        del scene

        photo = read_image(src)
        t_dec = _median_time(lambda: read_image(src), args.repeat)
        params = Params(device=args.device)
        clean(photo.pixels[:512, :768], params, alpha[:512, :768])  # warm-up
        res = {}

        def run_engine():
            res["r"] = clean(photo.pixels, params, alpha, views=("preview",))

        t_eng = _median_time(run_engine, args.repeat)
        timings = res["r"].timings
        device = res["r"].device
        t_all = _median_time(lambda: clean(photo.pixels, params, alpha), args.repeat)
        out = res.pop("r").preview
        t_enc = _median_time(lambda: write_image(dst, out, like=photo, reference=photo.pixels), args.repeat)
        del out

        t_ref = None
        if not args.no_reference:
            t = time.perf_counter()
            reference_clean(photo.pixels, alpha)
            t_ref = time.perf_counter() - t

        # peak memory of a user's run on this file, in a fresh process
        # (the process's own high-water mark, VmHWM: ru_maxrss of a child also counts this parent)
        cli = run_cli(src, msk, tmp / "cli.jpg", ["--set", f"device={args.device}"])
        t_cli, peak_mb = cli["seconds"], cli["peak_mb"]

    io_time = t_dec + t_enc
    print(f"engine (preview)      {t_eng:7.2f} s   on {device}  stages: "
          + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    print(f"engine (all 3 views)  {t_all:7.2f} s")
    print(f"decode                {t_dec:7.2f} s")
    print(f"encode                {t_enc:7.2f} s")
    print(f"decode + encode       {io_time:7.2f} s   engine / (decode + encode) = {t_eng / io_time:.2f}  (target <= 1.5)")
    if t_ref is not None:
        print(f"reference             {t_ref:7.2f} s   reference / engine = {t_ref / t_eng:.1f}x  (target >= 25)")
    print(f"CLI clean, one file   {t_cli:7.2f} s   peak memory {peak_mb:.0f} MB  (target <= 2560)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
