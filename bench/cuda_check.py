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

from backdrop import Params, clean  # noqa: E402
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
    # speed on a big frame
    w, h = (int(v) for v in args.size.split("x"))
    big = make_scene("white_seamless", size=(w, h))
    img = (np.clip(big.image, 0, 1) * 255 + 0.5).astype(np.uint8)
    params = Params(device="cuda")
    clean(img, params, big.alpha, views=("preview",))
    for views in (("preview",), ("shadows", "texture", "preview")):
        ts = []
        for _ in range(args.repeat):
            torch.cuda.synchronize()
            t = time.perf_counter()
            r = clean(img, params, big.alpha, views=views)
            torch.cuda.synchronize()
            ts.append(time.perf_counter() - t)
        print(f"{w}x{h} on CUDA, views={','.join(views)}: median {statistics.median(ts):.3f} s  stages "
              + ", ".join(f"{k} {v:.3f}" for k, v in r.timings.items()))
    print("peak GPU memory", round(torch.cuda.max_memory_allocated() / 2**20), "MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
