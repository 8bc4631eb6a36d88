"""Regenerate the bundled sample photos in samples/ (synthetic studio scenes with their masks).

Run: python bench/make_samples.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scenes import make_scene  # noqa: E402

SAMPLES = [
    ("white_seamless", (1800, 1200), "studio_white_seamless"),
    ("grey_wall_wood_floor", (1800, 1200), "studio_grey_wall_wood_floor"),
    ("dark_backdrop", (1200, 1800), "studio_dark_backdrop"),
]


def main() -> int:
    out = ROOT / "samples"
    out.mkdir(exist_ok=True)
    for scene_name, size, name in SAMPLES:
        s = make_scene(scene_name, size=size, seed=1)
        rgb = (np.clip(s.image, 0, 1) * 255 + 0.5).astype(np.uint8)
        Image.fromarray(rgb).save(out / f"{name}.jpg", quality=92, subsampling=0)
        # the true matte (white = subject, any coverage), kept apart so the demo segments the
        # photos itself; `backdrop batch samples --masks samples/masks` uses them
        mask = np.where(s.alpha > 0, np.maximum(s.alpha * 255 + 0.5, 1), 0).astype(np.uint8)
        (out / "masks").mkdir(exist_ok=True)
        Image.fromarray(mask).save(out / "masks" / f"{name}_mask.png", optimize=True)
        print(out / f"{name}.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
