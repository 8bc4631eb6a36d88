"""Try the parameter sets of params/ on matching scenes: each set against params/default.yaml.

Each set is run on the synthetic scene it is meant for (bench/scenes.py, the true mask, two
seeds) and the quality figures of bench/quality.py are printed for the default set and for it
(lower is better except fcorr). With --photos, each set is also applied to the matching real
photos of ../shared/realphotos (the embedded segmenter finds the subject) and a before/after
sheet per photo is written to bench/out/params_sets/ for looking at (never committed).

Run: python bench/params_sets.py [--size 960x640] [--photos]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backdrop import Params, clean  # noqa: E402
from bench.quality import metrics  # noqa: E402
from bench.scenes import make_scene  # noqa: E402

# parameter set -> (synthetic scene, real photos of that kind in ../shared/realphotos)
SETS = {
    "white_seamless": ("white_seamless", ["flickr_ccby_picture27_white_highkey.jpg", "dresscode_051918_0.jpg"]),
    "grey_wall_wood_floor": ("grey_wall_wood_floor", ["pibooth_portrait_capture3_greywall.jpg",
                                                      "dresscode_049713_0.jpg"]),
    "coloured_paper": ("coloured_paper", ["dresscode_052767_0.jpg", "dresscode_049205_0.jpg"]),
    "dark_backdrop": ("dark_backdrop", ["flickr_ccby_picture8_darkgrey_studio.jpg", "p3m_p_d684dae3.jpg"]),
}
COLUMNS = ("bg", "left", "band", "grad", "contact", "floor", "fcorr")
PHOTOS = ROOT.parent / "shared" / "realphotos"


def _fmt(v: float) -> str:
    return "    -" if v != v else f"{v:6.2f}"


def scenes_table(size: tuple[int, int], seeds=(0, 1)) -> list[str]:
    default = Params.load(ROOT / "params" / "default.yaml")
    lines = [f"{'set':22s} {'scene':22s} {'params':8s} " + " ".join(f"{c:>6s}" for c in COLUMNS)]
    for name, (scene_name, _) in SETS.items():
        own = Params.load(ROOT / "params" / f"{name}.yaml")
        for label, params in (("default", default), (name[:8], own)):
            rows = []
            for seed in seeds:
                s = make_scene(scene_name, size=size, seed=seed)
                out = clean(s.image, params, s.alpha, views=("preview",)).preview.permute(1, 2, 0).numpy()
                rows.append(metrics(s, out))
            avg = {c: float(np.mean([r[c] for r in rows])) for c in COLUMNS}
            lines.append(f"{name:22s} {scene_name:22s} {label:8s} " + " ".join(_fmt(avg[c]) for c in COLUMNS))
    return lines


def photo_sheets(folder: Path) -> list[str]:
    from PIL import Image

    from backdrop.service import subject_mask
    from backdrop.io import read_image
    from backdrop.metrics import backdrop_stats

    folder.mkdir(parents=True, exist_ok=True)
    default = Params.load(ROOT / "params" / "default.yaml")
    lines = [f"{'set':22s} {'photo':42s} {'params':8s} spread before/after  defects before/after"]
    for name, (_, photos) in SETS.items():
        own = Params.load(ROOT / "params" / f"{name}.yaml")
        for photo_name in photos:
            path = PHOTOS / photo_name
            if not path.is_file():
                continue
            photo = read_image(path)
            mask, _ = subject_mask(photo.pixels, own)
            row = [photo.pixels[..., :3]]
            for label, params in (("default", default), (name[:8], own)):
                r = clean(photo.pixels, params, mask, views=("preview",))
                st = backdrop_stats(r)
                lines.append(f"{name:22s} {photo_name:42s} {label:8s} {st['spread_before']:7.1f} {st['spread_after']:7.1f}"
                             f"      {st['defects_before']:7.2f} {st['defects_after']:7.2f}")
                row.append(r.preview.permute(1, 2, 0).numpy())
            sheet = np.concatenate(row, axis=1)
            im = Image.fromarray((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8))
            im.thumbnail((2400, 1200))
            im.save(folder / f"{name}__{Path(photo_name).stem}.png")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="960x640", help="WIDTHxHEIGHT of the scenes")
    ap.add_argument("--photos", action="store_true", help="also the real photos (sheets in bench/out/params_sets/)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"scenes {w}x{h}, true mask, mean of seeds 0 and 1; errors in levels of 255, left in %")
    print("\n".join(scenes_table((w, h))))
    if args.photos and PHOTOS.is_dir():
        print()
        print("\n".join(photo_sheets(ROOT / "bench" / "out" / "params_sets")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
