"""One backdrop tone across a set: ``tone: keep | match | 250 | 255`` on a set of shots whose
exposure drifts by up to 1/3 stop (issue 14's targets).

For each scene a set of 8 shots is made (the scene's exposure scaled by -1/3..+1/3 stop, each
with its own sensor noise), written as 8-bit PNGs with their true masks, and cleaned by the
command a user runs (``backdrop batch --set tone=...``). Each output's wall level is measured on
the scene's own wall (the median Rec. 709 luma of the backdrop pixels away from the subject,
without the floor and the contact zone), independently of the engine's own measure.

    python -m bench.tone               # the table
    python -m bench.tone --shots 6 --size 960x640

Targets: match spreads the set over <= 2 levels; 250 puts every wall within 250 +- 2; 255 makes
every wall pixel away from the subject 255, the subject bit-for-bit, and keeps the contact shadow.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from bench.scenes import make_scene

LUMA = np.array([0.2126, 0.7152, 0.0722])
TONES = ("keep", "match", "250", "255")


def _shots(n: int) -> list[float]:
    """Exposure offsets in stops, -1/3..+1/3, in a shuffled order (a shoot drifts both ways)."""
    evs = np.linspace(-1 / 3, 1 / 3, n)
    return [float(evs[i]) for i in np.random.default_rng(7).permutation(n)]


def _make_set(name: str, folder: Path, n: int, size: tuple[int, int]):
    sc = make_scene(name, size=size)
    base = sc.image * 0.82  # the wall well below white at +1/3 stop: a drifting set, not a clipped one
    for i, ev in enumerate(_shots(n)):
        noise = np.random.default_rng(100 + i).normal(0.0, 0.8 / 255, base.shape)
        img = np.clip(base * 2.0 ** ev + noise, 0, 1)
        Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(folder / f"shot{i}.png")
        Image.fromarray((sc.alpha * 255 + 0.5).astype(np.uint8)).save(folder / f"shot{i}_mask.png")
    return sc


def _wall(sc, margin: float = 0.04) -> np.ndarray:
    """The scene's wall away from the subject (by ``margin`` of the short edge), no floor or contact."""
    short = min(sc.alpha.shape)
    near = ndi.distance_transform_edt(sc.alpha <= 0) < margin * short
    return sc.wall & ~near & (sc.contact <= 0) & (sc.floor <= 0)


def _level(img: np.ndarray, sel: np.ndarray) -> float:
    return float(np.median(img[sel].astype(np.float64) @ LUMA))


def _picture(folder: Path, dest: Path, height: int = 150) -> None:
    """The set as shot, with tone: match and with tone: 255: one labelled row each, the outputs as written."""
    from PIL import ImageDraw

    shots = sorted((folder / "shots").glob("shot?.png"))
    rows = [("as shot", [p for p in shots]),
            ("tone: match", [folder / "tone-match" / f"{p.stem}_clean.png" for p in shots]),
            ("tone: 255", [folder / "tone-255" / f"{p.stem}_clean.png" for p in shots])]
    label_h, gap = 22, 4
    thumbs = [[Image.open(p).convert("RGB") for p in paths] for _, paths in rows]
    w = round(thumbs[0][0].width * height / thumbs[0][0].height)
    sheet = Image.new("RGB", (len(shots) * (w + gap) - gap, len(rows) * (height + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, ((label, _), ims) in enumerate(zip(rows, thumbs)):
        y = r * (height + label_h)
        draw.text((4, y + 4), label, fill=(0, 0, 0))
        for c, im in enumerate(ims):
            sheet.paste(im.resize((w, height), Image.LANCZOS), (c * (w + gap), y + label_h))
    sheet.save(dest, quality=88)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--size", default="1200x800", help="WxH of each shot")
    ap.add_argument("--scenes", default="white_seamless,grey_wall_wood_floor")
    ap.add_argument("--keep", type=Path, help="keep the sets and outputs in this folder")
    ap.add_argument("--picture", type=Path, help="also write the README's picture of the first scene's set here "
                    "(rows: as shot, tone: match, tone: 255)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-tone-"))
    print(f"{args.shots} shots per scene, {w}x{h}, exposure -1/3..+1/3 stop; lift 100, texture 100\n")
    print("| scene | tone | wall levels before (min..max, spread) | after (min..max, spread) | "
          "wall pixels at 255 | subject bit-exact | contact depth before → after |")
    print("|---|---|---|---|---|---|---|")
    for name in args.scenes.split(","):
        src = root / name / "shots"
        src.mkdir(parents=True, exist_ok=True)
        sc = _make_set(name, src, args.shots, (w, h))
        wall = _wall(sc)
        contact = (sc.contact > 0) & (sc.alpha <= 0) & (sc.floor <= 0)
        # what the engine is given, wholly subject (a pixel part subject takes the tone on its backdrop's share)
        subject = np.asarray(Image.open(src / "shot0_mask.png")) == 255
        shots = sorted(src.glob("shot?.png")) + sorted(src.glob("shot??.png"))
        before = [np.asarray(Image.open(p))[:, :, :3] for p in shots]
        lv_b = [_level(b, wall) for b in before]
        for tone in TONES:
            out = root / name / f"tone-{tone}"
            out.mkdir(exist_ok=True)
            cmd = [sys.executable, "-m", "backdrop", "batch", str(src), "-o", str(out), "--no-progress",
                   "--overwrite", "--lift", "100", "--texture", "100", "--set", f"tone={tone}"]
            subprocess.run(cmd, check=True, capture_output=True)
            after = [np.asarray(Image.open(out / f"{p.stem}_clean.png"))[:, :, :3] for p in shots]
            lv_a = [_level(a, wall) for a in after]
            white = np.mean([float((a[wall] == 255).all(axis=1).mean()) for a in after])
            exact = all(np.array_equal(a[subject], b[subject]) for a, b in zip(after, before))
            if contact.any():
                depth = [(1 - _level(x, contact) / _level(x, wall)) * 100 for x in (before[0], after[0])]
                cdepth = f"{depth[0]:.0f}% → {depth[1]:.0f}%"
            else:
                cdepth = "(no contact zone)"
            print(f"| {name} | {tone} | {min(lv_b):.1f}..{max(lv_b):.1f} ({max(lv_b) - min(lv_b):.1f}) | "
                  f"{min(lv_a):.1f}..{max(lv_a):.1f} ({max(lv_a) - min(lv_a):.1f}) | {white * 100:.1f}% | "
                  f"{'yes' if exact else 'NO'} | {cdepth} |")
    if args.picture:
        _picture(root / args.scenes.split(",")[0], args.picture)
        print(f"picture: {args.picture}")
    print(f"\nsets and outputs in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
