"""Check the CUDA path: same result as the CPU (within float tolerance), subject exact, and time it.

Run on a machine with a CUDA GPU: python bench/cuda_check.py [--size 6000x4000]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backdrop import Params, analyze, clean, render  # noqa: E402
from bench.scenes import make_scene  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="6000x4000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU here")
        return 1
    print("GPU:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    # equivalence on a small scene
    s = make_scene("white_seamless", size=(1920, 1280))
    p = Params(lift=100, texture=100)
    cpu = clean(s.image, p.replace(device="cpu"), s.alpha)
    gpu = clean(s.image, p.replace(device="cuda"), s.alpha)
    assert gpu.device.startswith("cuda"), gpu.device
    subject = s.alpha > 0
    for v in ("shadows", "texture", "preview"):
        a, b = cpu.view(v).permute(1, 2, 0).numpy(), gpu.view(v).permute(1, 2, 0).numpy()
        assert np.array_equal(b[subject], s.image[subject]), f"{v}: subject changed on CUDA"
        diff = np.abs(a - b) * 255
        print(f"{v:8s} CPU vs CUDA: mean {diff.mean():.4f} levels, 99.9% {np.percentile(diff, 99.9):.3f}, max {diff.max():.3f}")
    # the files' pixels: 8-bit, CPU tiles against CUDA strips (within one level, the dither included)
    img8 = (np.clip(s.image, 0, 1) * 255 + 0.5).astype(np.uint8)
    a8 = clean(img8, p.replace(device="cpu"), s.alpha, views=("preview",), bits=8).preview
    b8 = clean(img8, p.replace(device="cuda"), s.alpha, views=("preview",), bits=8).preview
    d8 = np.abs(a8.astype(int) - b8.astype(int))
    print(f"8-bit preview CPU vs CUDA: max {d8.max()} levels, {100 * (d8 > 0).mean():.3f}% of values differ")
    assert d8.max() <= 1, "CUDA and CPU differ by more than one level"
    # speed on a big frame
    w, h = (int(v) for v in args.size.split("x"))
    big = make_scene("white_seamless", size=(w, h))
    img = (np.clip(big.image, 0, 1) * 255 + 0.5).astype(np.uint8)
    alpha = (big.alpha * 255 + 0.5).astype(np.uint8)
    params = Params(device="cuda")
    clean(img, params, alpha, views=("preview",), bits=8)

    def timed(fn):
        ts = []
        for _ in range(args.repeat):
            torch.cuda.synchronize()
            t = time.perf_counter()
            out = fn()
            torch.cuda.synchronize()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts), out

    t_an, a = timed(lambda: analyze(img, alpha, params))
    t_re, _ = timed(lambda: render(a, views=("preview",), bits=8))
    t_all, _ = timed(lambda: render(a, bits=8))
    print(f"{w}x{h} on CUDA from the 8-bit buffer: analyze {t_an:.3f} s, render preview {t_re:.3f} s "
          f"(three views {t_all:.3f} s), preview in all {t_an + t_re:.3f} s (target <= 0.040 s); "
          + "stages " + ", ".join(f"{k} {v:.3f}" for k, v in a.timings.items()))
    print("peak GPU memory", round(torch.cuda.max_memory_allocated() / 2**20), "MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
