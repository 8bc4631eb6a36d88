"""Contact sheet of the embedded segmenter on real photos: photo | mask overlay | cleaned.

Run: python bench/contact_sheet.py [FOLDER] [-o OUT.png]   (default ../shared/realphotos)
Prints the segmentation time per photo at 1024 px (long edge) and at full size, and where a
reference matte lies beside a photo (``NAME__*.png``: another model's alpha, a hand-made mask),
the mask's IoU against it (both thresholded at 0.5) and the mean absolute difference.
The photos are read only; nothing is written next to them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from backdrop import Params, clean, read_image  # noqa: E402
from backdrop.io import SUPPORTED_EXTENSIONS, read_mask  # noqa: E402
from backdrop.segment import get_segmenter  # noqa: E402

ROW_H = 360


def _fit(a: np.ndarray, h: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
    w = max(1, round(a.shape[1] * h / a.shape[0]))
    return F.interpolate(t, size=(h, w), mode="area").numpy()[0].transpose(1, 2, 0)


def _downscale(img: np.ndarray, long_edge: int) -> np.ndarray:
    s = long_edge / max(img.shape[:2])
    if s >= 1:
        return img
    return _fit(img, max(1, round(img.shape[0] * s)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=ROOT.parent / "shared" / "realphotos")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "out" / "contact_sheet.png")
    args = ap.parse_args(argv)
    seg = get_segmenter("embedded")
    rows = []
    for p in sorted(args.folder.iterdir()):
        if p.suffix.lower() not in SUPPORTED_EXTENSIONS or "__" in p.stem:
            continue
        photo = read_image(p)
        rgb = photo.pixels if photo.pixels.shape[2] == 3 else np.repeat(photo.pixels, 3, 2)
        small = _downscale(rgb, 1024)
        t = time.perf_counter()
        seg(small)
        t_small = time.perf_counter() - t
        t = time.perf_counter()
        mask = seg(rgb)
        t_full = time.perf_counter() - t
        res = clean(photo.pixels, Params(lift=100, texture=100), mask, views=("preview",))
        out = res.preview.permute(1, 2, 0).numpy()
        if out.shape[2] == 1:
            out = np.repeat(out, 3, 2)
        overlay = rgb * 0.55 + np.stack([mask, np.zeros_like(mask), np.zeros_like(mask)], -1) * 0.45
        row = np.concatenate([_fit(rgb, ROW_H), _fit(overlay.astype(np.float32), ROW_H), _fit(out, ROW_H)], 1)
        rows.append(row)
        line = f"{p.name:45s} {photo.size[0]}x{photo.size[1]}  segment: {t_small:.2f} s at 1024 px, {t_full:.2f} s full size"
        for ref in sorted(p.parent.glob(f"{p.stem}__*.png")):
            a = read_mask(ref, size=photo.size)
            gt, pr = a > 0.5, mask > 0.5
            iou = (gt & pr).sum() / max((gt | pr).sum(), 1)
            line += f"  iou {iou:.3f}, mean |diff| {np.abs(mask - a).mean():.4f} vs {ref.name}"
        print(line)
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows], 0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)).save(args.output)
    print(f"contact sheet: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
