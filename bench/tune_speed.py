"""How long a slider move takes in the tune notebook: the engine on the preview plus the redraw.

Builds the tune panel (backdrop.notebooks.Tuner) on a bundled sample, moves the lift slider
--repeat times (each move cleans the preview with all four views and redraws both figures,
exactly what a move in JupyterLab does in the kernel; the browser then only swaps two PNGs),
and prints the median and range.

Run: python bench/tune_speed.py [--edge 768] [--repeat 9] [--threads 1] [--image samples/x.jpg]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge", type=int, nargs="+", default=[768], help="preview long edge(s), pixels")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for a redraw, as Tuner(threads=N) (default 1; 0: torch's own choice)")
    ap.add_argument("--image", default="", help="photo (default: the bundled white-seamless sample)")
    args = ap.parse_args(argv)

    import torch

    from backdrop.notebooks import Tuner

    threads = args.threads or None
    print(f"torch {torch.__version__}, redraws on {threads or torch.get_num_threads()} threads")
    for edge in args.edge:
        t = time.perf_counter()
        tuner = Tuner(args.image or None, long_edge=edge, threads=threads)
        first = time.perf_counter() - t
        total, engine, draw = [], [], []
        for i in range(args.repeat):
            t = time.perf_counter()
            tuner.lift.value = 60 + (i * 7) % 40  # a different value each time: a real redraw
            total.append(time.perf_counter() - t)
            engine.append(tuner.seconds["engine"])
            draw.append(tuner.seconds["draw"])
        h, w = tuner.image.shape[-2:]
        print(f"preview {w}x{h}: slider move {statistics.median(total):.2f} s median "
              f"({min(total):.2f}-{max(total):.2f}; engine {statistics.median(engine):.2f}, "
              f"figures {statistics.median(draw):.2f}); first draw with loading {first:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
