"""``backdrop edit`` against ``backdrop clean`` on a 24 MP 16-bit ZIP TIFF: the round trip's cost.

Makes Lightroom's usual editor's copy, a 6000x4000 16-bit RGB TIFF with Adobe deflate (ZIP) and the
horizontal predictor, an ICC profile, the XMP packet, 300 dpi, the descriptive tags and an Exif IFD
(bench/editor_copy.py), from a studio scene (bench/scenes.py, made at 1500x1000, upscaled, with a fine
16-bit grain so it compresses like a photo), with its subject mask beside it (``NAME-Edit_mask.png``,
which both commands find), in a temporary folder. Then it times the whole command in a fresh process,
decode to encode, alternating:

    python -m backdrop edit  IMG_0412-Edit.tif
    python -m backdrop clean IMG_0412-Edit.tif -o IMG_0412-Edit_clean.tif

each on a fresh copy of the same file (copied before the clock starts), and prints a markdown table
with the runs, the medians (wall and CPU: user + system, steadier on a shared machine) and edit's
ratio to clean. After each edit it checks that every tag came back identical (type, count, value,
Exif IFD included; the strip layout aside) and that the compression, predictor and depth are the
same, and says so. Target: edit within 10% of clean.

The two commands differ only in how they write: edit reads the file's layout and writes it back in
it, clean writes its own TIFF. So it also times that step alone, in this process, on the same decoded
pixels (the best of 3 each): a figure a busy machine disturbs less than whole processes.

Run: python bench/edit_speed.py [--repeat 3] [--size 6000x4000]
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.editor_copy import save_tiff, tiff_tags


def make_copy(folder: Path, size: tuple[int, int]) -> Path:
    """``IMG_0412-Edit.tif`` (16-bit ZIP, every tag) and its ``IMG_0412-Edit_mask.png`` in ``folder``."""
    import cv2
    from PIL import Image

    from bench.scenes import make_scene

    w, h = size
    scene = make_scene("white_seamless", size=(w // 4, h // 4), seed=0)
    big = cv2.resize(scene.image, (w, h), interpolation=cv2.INTER_CUBIC)
    px = np.empty((h, w, 3), np.uint16)
    rng = np.random.default_rng(0)
    for y0 in range(0, h, 256):  # a grain of about +-1/4 of an 8-bit level, band by band
        band = np.clip(big[y0:y0 + 256], 0.0, 1.0) * 65535.0 + rng.normal(0.0, 40.0, big[y0:y0 + 256].shape)
        px[y0:y0 + 256] = np.clip(band + 0.5, 0, 65535).astype(np.uint16)
    del big
    path = save_tiff(folder / "IMG_0412-Edit.tif", px, compression="adobe_deflate", predictor=True)
    mask = cv2.resize((scene.alpha > 0).astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_NEAREST)
    Image.fromarray(mask).save(folder / "IMG_0412-Edit_mask.png")
    return path


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Run a fresh process; (wall seconds, CPU seconds of user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_steps(photo: Path, folder: Path, repeat: int = 3) -> dict[str, float]:
    """Best-of-``repeat`` seconds of each command's own writing step on the same 16-bit pixels: edit's
    read_layout + write_in_place, clean's write_image."""
    from backdrop.io import read_image, write_image
    from backdrop.io.keep import read_layout, write_in_place

    like = read_image(photo)
    best = {"edit": float("inf"), "clean": float("inf")}
    for _ in range(repeat):
        t = time.perf_counter()
        write_in_place(photo, like.data, read_layout(photo))
        best["edit"] = min(best["edit"], time.perf_counter() - t)
        t = time.perf_counter()
        write_image(folder / "IMG_0412-Edit_clean.tif", like.data, like=like)
        best["clean"] = min(best["clean"], time.perf_counter() - t)
    return best


def check_tags(pristine: dict, path: Path) -> list[str]:
    """What differs between the pristine copy's tags and the edited file's: [] when all came back."""
    got = tiff_tags(path)
    problems = [f"tag {code} missing" for code in pristine if code not in got]
    problems += [f"tag {code} added" for code in got if code not in pristine]
    problems += [f"tag {code}: {pristine[code][:2]} {str(pristine[code][2])[:40]} -> {got[code][:2]} "
                 f"{str(got[code][2])[:40]}" for code in pristine if code in got and got[code] != pristine[code]]
    return problems


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3)")
    ap.add_argument("--size", default="6000x4000", help="WxH (default 6000x4000, 24 MP)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory(prefix="edit-speed-") as tmp:
        folder = Path(tmp) / "shoot"
        folder.mkdir()
        photo = make_copy(folder, (w, h))
        pristine = Path(tmp) / "pristine.tif"
        shutil.copyfile(photo, pristine)
        pristine_tags = tiff_tags(pristine)
        config = Path(tmp) / "config"  # no default preset: the built-in parameters, as clean
        env_cmd = [sys.executable, "-m", "backdrop"]
        os.environ["BACKDROP_CONFIG_DIR"] = str(config)
        commands = {
            "edit": [*env_cmd, "edit", str(photo)],
            "clean": [*env_cmd, "clean", str(photo), "-o", str(folder / "IMG_0412-Edit_clean.tif")],
        }
        runs: dict[str, list[tuple[float, float]]] = {"edit": [], "clean": []}
        problems: list[str] = []
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                shutil.copyfile(pristine, photo)
                (folder / "IMG_0412-Edit_clean.tif").unlink(missing_ok=True)
                runs[name].append(timed(cmd, Path(tmp)))
                if name == "edit":
                    problems += check_tags(pristine_tags, photo)
        sizes = {"original": pristine.stat().st_size, "edit": photo.stat().st_size,
                 "clean": (folder / "IMG_0412-Edit_clean.tif").stat().st_size}
        shutil.copyfile(pristine, photo)
        steps = write_steps(photo, folder)

    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
    print(machine())
    print(f"file: {w}x{h} 16-bit RGB TIFF, Adobe deflate + predictor, ICC, XMP, 300 dpi, Exif IFD, "
          f"{len(pristine_tags)} tags besides the strips; {sizes['original'] / 1e6:.1f} MB "
          f"(after edit {sizes['edit'] / 1e6:.1f} MB, clean's output {sizes['clean'] / 1e6:.1f} MB)")
    print()
    print("| command | runs, wall (s) | median wall (s) | median CPU (s) |")
    print("|---|---|---|---|")
    for name in ("edit", "clean"):
        walls = ", ".join(f"{r[0]:.2f}" for r in runs[name])
        print(f"| `backdrop {name}` | {walls} | {med[name][0]:.2f} | {med[name][1]:.2f} |")
    ratio = med["edit"][0] / med["clean"][0]
    print(f"| edit / clean | | {ratio:.3f} | {med['edit'][1] / med['clean'][1]:.3f} |")
    print(f"| writing alone, best of 3 (edit: read_layout + write_in_place; clean: write_image) | | "
          f"edit {steps['edit']:.2f}, clean {steps['clean']:.2f} | |")
    print()
    print(f"tags: {'every tag kept' if not problems else 'DIFFERENT: ' + '; '.join(sorted(set(problems)))} "
          f"({args.repeat} edits checked, compression, predictor and depth among them)")
    print(f"target (edit within 10% of clean): {'met' if ratio <= 1.10 else 'NOT met'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
