"""The real-photo misses of issue 15, measured: each photo is segmented by the embedded segmenter
(or the one --segmenter names) and cleaned at lift 100 / texture 100, as the app does with no mask file.

  balloons  pibooth_portrait_capture3_greywall.jpg (13 MP, grey wall, balloons held up):
            floor   whether a floor was found (there is none: wall and arms)
            step    the hardest step the cleanup leaves along the mask's edge where the photo has
                    none: the 99th percentile, over neighbouring pixel pairs across the edge whose
                    input differs by under 2 levels, of how much more one was changed than the
                    other (levels; a jagged cut-out is tens of levels, a feathered edge one or two)
            mask    the mask's share of the frame
            seams   the pixels where the cleanup made an edge of its own on smooth wall: neighbours
                    whose input (3x3 mean) differs by under 2 levels and whose change (3x3 mean)
                    differs by more than 2 (a 6-level jump over 3 px: a light glow beside the lower
                    sleeve was removed up to the subject's protection and kept inside it, a pale patch)
  grey      flickr_ccby_picture25_grey_studio.jpg (head and shoulders, vignetted grey): floor
  hood      flickr_ccby_picture27_white_highkey.jpg (white hood on a white wall):
            changed the share of the hood's rim and left fold (fixed boxes of the frame) changed by
                    more than 4 levels (the fold's box also holds a strip of wall beside the hood,
                    with the hood's soft shade on it: kept whole, as it runs on under the mask's
                    unsure edge; it was lifted, 5.4% of that box)
  shoes     samples/studio_grey_wall_wood_floor.jpg (brown shoes on a wooden floor, with its
            true mask): shoes   the share of the feet (the true mask's lowest 3% of rows) in the mask
  room      p3m_p_22fc0130.jpg (a portrait in a room, not on a backdrop: shelves out of focus behind):
            changed the share of the frame changed by more than 4 levels (its dust specks are a
                    few tenths of a percent); band: the largest change (levels) in the box at the
                    left where a dark shelf's soft edge was lifted into a blue band
  sleeve    dresscode_049713_0.jpg (full length on grey, a cast shadow beside the figure; the
            shaded side of a purple sleeve is as bright as the wall):
            lift    in the gap between the sleeve and the arm, the lift 1-4 px from the sleeve as a
                    share of the lift 13-16 px from it (median over the gap's rows): near 100% where
                    the shade is lifted evenly up to the sleeve, well under where a soft dark strip
                    is left along it
            specks  the pixels within 4 px of the mask, and not wholly subject, that the cleanup leaves
                    more than 12 levels further below their 5x5 median than the photo had them: dark
                    specks along the hand and the soles, where the shade around them is lifted
  white     dresscode_049205_0.jpg (a white T-shirt on a beige wall), at tone 255 (pure white):
            halo    the share of the wall 3-12 px outside the mask, above the floor and the feet,
                    left more than 5 levels below white (a beige halo around the shirt where the
                    white faded in over the feather)
  dress     pibooth_portrait_capture2_greywall.png (a black dress printed in beige on a dark grey wall,
            the figure's shade on the wall beside it), at tone 255:
            halo    as for white (the segmenter's edge lay out over that shade, where the dress's print
                    averages near it, and at 255 the strip of wall it held stayed dark: a smudge)
  dark      flickr_ccby_picture8_darkgrey_studio.jpg (dark hair, out of focus at its edge, on a dark grey
            studio wall), at tone 255:
            halo    as for white (the cleanup holds the soft edge the mask cuts across; held whole,
                    the old wall's grey stayed round the hair: a cloud)
  blonde    p3m_p_d684dae3.jpg (blonde fly-away hair on black cloth), at tone 255:
            wires   the share of the wall 3-12 px outside the mask left darker than 128 (the strands
                    the cleanup holds kept their share of the black cloth: dark wires on white)
  green     skimage_tutorials_greenscreen.jpg (two people on a green screen), at tone 255:
            wall    the share of the wall 12 px and more from the mask left below 250 in some
                    channel (the screen's red is 0-2 levels: the tone's gain cannot take it to white,
                    and the wall came out speckled cyan and white)
  lint      p3m_p_d684dae3.jpg (black cloth backdrop) with light lint fibres and dust laid on its
            cloth: left   the share of the added marks' energy left, with the P3M matte as the mask
                          and with the embedded segmenter (the photo as shot is the clean plate)

The photos of ../shared/realphotos are for evaluation only: they are read from there, never copied
into the project. A photo that is not there is skipped.

Run: python bench/real_photos.py [--save DIR]   (DIR gets input | mask | output | change x8 sheets)
     [--segmenter birefnet]   (with BiRefNet's weights where they are: BACKDROP_BIREFNET=ZhengPeng7/BiRefNet,
                              the general model, for the balloons; a person model takes their wall in)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backdrop import Params, clean, read_image  # noqa: E402
from backdrop.errors import BackdropError  # noqa: E402
from backdrop.segment import segment  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "realphotos"
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
FULL = Params(lift=100, texture=100)
# the hood's rim over the head and its left fold, as shares of the frame (x0, x1, y0, y1)
HOOD_BOXES = ((0.12, 0.55, 0.0, 0.2), (0.05, 0.2, 0.2, 0.75))
# the shelf's soft edge at the left of the room photo (x0, x1, y0, y1)
ROOM_BOX = (0.0, 0.3, 0.05, 0.3)
# the gap between the sleeve and the arm on the sleeve photo: its rows, and the columns from the
# sleeve's side of it to past the arm (x0, x1, y0, y1)
SLEEVE_BOX = (0.61, 0.73, 0.35, 0.45)


def rgb(pixels: np.ndarray) -> np.ndarray:
    """A Photo's float pixels (H, W, C) as RGB (a grey photo's one channel three times)."""
    return np.repeat(pixels, 3, -1) if pixels.shape[-1] == 1 else pixels[..., :3]


def run_photo(path: Path, mask: np.ndarray | None = None, params: Params = FULL, *,
              segmenter: str = "embedded") -> dict:
    """Segment (unless ``mask``) and clean one photo: input, mask, output (float HxWx3), floor, seconds."""
    x = rgb(read_image(path).pixels)
    t = time.perf_counter()
    if mask is None:
        mask, _ = segment(x, segmenter, use_cache=False)
    t_seg = time.perf_counter() - t
    r = clean(x, params, mask, views=("preview",))
    out = r.preview.permute(1, 2, 0).numpy()
    return {"x": x, "mask": np.asarray(mask, np.float32), "out": out, "floor": r.floor_info.found,
            "floor_at": r.floor_info.boundary if r.floor_info.found else None, "seg_s": t_seg}


def edge_step(x: np.ndarray, out: np.ndarray, mask: np.ndarray) -> float:
    """99th percentile (levels) of the change's jump across the mask's edge where the photo has none."""
    change = (out - x) @ LUMA * 255.0
    lum = x @ LUMA * 255.0
    subj = mask > 0
    jumps = []
    for axis in (0, 1):
        a = [slice(None)] * 2
        b = [slice(None)] * 2
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        across = subj[tuple(a)] != subj[tuple(b)]
        flat = np.abs(lum[tuple(a)] - lum[tuple(b)]) < 2.0
        sel = across & flat
        jumps.append(np.abs(change[tuple(a)] - change[tuple(b)])[sel])
    j = np.concatenate(jumps)
    return float(np.percentile(j, 99)) if j.size else 0.0


def seams(x: np.ndarray, out: np.ndarray) -> int:
    """The pixels where the cleanup made an edge of its own on smooth input: neighbours whose input
    (3x3 mean luminance) differs by under 2 levels and whose change (3x3 mean) by more than 2."""
    lum = ndimage.uniform_filter(x @ LUMA * 255.0, 3)
    change = ndimage.uniform_filter((out - x) @ LUMA * 255.0, 3)
    made = np.zeros(lum.shape, bool)
    for axis in (0, 1):
        jump = (np.abs(np.diff(lum, axis=axis)) < 2.0) & (np.abs(np.diff(change, axis=axis)) > 2.0)
        if axis == 0:
            made[1:] |= jump
        else:
            made[:, 1:] |= jump
    return int(made.sum())


def halo(out: np.ndarray, mask: np.ndarray, floor_at: float | None = None) -> float:
    """The share of the wall 3-12 px outside the mask left more than 5 levels below white: above the
    floor, at ``floor_at`` of the height, less 3% of it (a real floor keeps its own tone), and above
    the feet, the mask's lowest 5% of the height (their contact shadow is kept)."""
    d = ndimage.distance_transform_edt(mask < 0.5)
    near = (d > 3) & (d <= 12)
    h = near.shape[0]
    rows = np.nonzero((mask >= 0.5).any(1))[0]
    if rows.size:
        near[max(0, int(rows[-1] - 0.05 * h)):] = False
    if floor_at is not None:
        near[int((floor_at - 0.03) * h):] = False
    return float((out.min(-1)[near] * 255.0 < 250.0).mean())


def wires(out: np.ndarray, mask: np.ndarray) -> float:
    """The share of the wall 3-12 px outside the mask left darker than 128 (the old black cloth held
    round light strands: dark wires on white)."""
    d = ndimage.distance_transform_edt(mask < 0.5)
    near = (d > 3) & (d <= 12)
    return float((out.mean(-1)[near] * 255.0 < 128.0).mean())


def off_white(out: np.ndarray, mask: np.ndarray) -> float:
    """The share of the wall 12 px and more from the mask left below 250 in some channel."""
    far = ndimage.distance_transform_edt(mask < 0.5) > 12
    return float((out.min(-1)[far] * 255.0 < 250.0).mean())


def hood_changed(x: np.ndarray, out: np.ndarray) -> float:
    H, W = x.shape[:2]
    moved = np.abs(out - x).max(-1) * 255.0 > 4.0
    cells = [moved[int(y0 * H):int(y1 * H), int(x0 * W):int(x1 * W)] for x0, x1, y0, y1 in HOOD_BOXES]
    return float(np.concatenate([c.ravel() for c in cells]).mean())


def feet(truth: np.ndarray) -> np.ndarray:
    """The feet: the true mask's lowest 3% of rows (2 at least)."""
    rows = np.flatnonzero(truth.any(1))
    out = truth.copy()
    out[: rows[-1] - max(2, int(0.03 * truth.shape[0]))] = False
    return out


def sample_truth(path: Path) -> np.ndarray:
    """A bundled sample's true mask (samples/masks/<stem>_mask.png) as a boolean map."""
    truth = np.asarray(read_image(path.parent / "masks" / (path.stem + "_mask.png")).pixels)
    return (truth[..., 0] if truth.ndim == 3 else truth) > 0


def shoes_covered(mask: np.ndarray, truth: np.ndarray) -> float:
    return float((mask[feet(truth)] > 0.5).mean())


def sleeve_lift(x: np.ndarray, out: np.ndarray, mask: np.ndarray) -> float:
    """The lift 1-4 px from the sleeve's edge as a share of the lift 13-16 px from it, in the gap
    beside it (SLEEVE_BOX; the median over the box's rows)."""
    change = (out - x).mean(-1)
    H, W = mask.shape
    x0, x1, y0, y1 = SLEEVE_BOX
    c0, c1 = int(x0 * W), int(x1 * W)
    near, far = [], []
    for r in range(int(y0 * H), int(y1 * H)):
        gap = np.flatnonzero(mask[r, c0:c1] <= 0)
        if gap.size < 16:
            continue
        a = c0 + gap[0]  # the first backdrop pixel beside the sleeve
        near.append(change[r, a:a + 4].mean())
        far.append(change[r, a + 12:a + 16].mean())
    return float(np.median(near) / max(np.median(far), 1e-6)) if near else float("nan")


def add_lint(x: np.ndarray, keep_out: np.ndarray, n: int = 60, seed: int = 0) -> np.ndarray:
    """The photo with light lint fibres and dust specks laid on the backdrop (not within ``keep_out``):
    thin curved strokes and small discs, blended toward an off-white at 30-70%."""
    rng = np.random.default_rng(seed)
    H, W = x.shape[:2]
    s = min(H, W) / 640.0
    cover = np.zeros((H, W), np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        cy, cx = rng.uniform(0.03, 0.97) * H, rng.uniform(0.03, 0.97) * W
        if keep_out[int(cy), int(cx)]:
            continue
        r = int(40 * s) + 4
        y0, y1, x0, x1 = max(0, int(cy) - r), min(H, int(cy) + r), max(0, int(cx) - r), min(W, int(cx) + r)
        py, px = yy[y0:y1, x0:x1], xx[y0:y1, x0:x1]
        if i % 3:  # a fibre: a short arc
            t = np.linspace(-1, 1, 60)
            length, bend, ang = rng.uniform(8, 30) * s, rng.uniform(-0.6, 0.6), rng.uniform(0, np.pi)
            u = t * length
            v = bend * (t * t - 0.3) * length
            fy = cy + u * np.sin(ang) + v * np.cos(ang)
            fx = cx + u * np.cos(ang) - v * np.sin(ang)
            d = np.min(np.hypot(py[..., None] - fy, px[..., None] - fx), axis=-1)
            c = np.clip(rng.uniform(0.6, 1.0) * s + 0.5 - d, 0, 1)
        else:  # a speck of dust
            d = np.hypot(py - cy, px - cx)
            c = np.clip(rng.uniform(0.7, 2.0) * s + 0.5 - d, 0, 1)
        np.maximum(cover[y0:y1, x0:x1], c * rng.uniform(0.3, 0.7), out=cover[y0:y1, x0:x1])
    cover[keep_out] = 0
    lint = np.array([0.85, 0.84, 0.8], np.float32)
    return x + cover[..., None] * (lint - x), cover


def specks(x: np.ndarray, out: np.ndarray, mask: np.ndarray) -> int:
    """The pixels within 4 px of the mask, and not wholly subject, that the cleanup leaves more than
    12 levels further below their 5x5 median than the photo had them (a dark speck it made along the
    subject)."""
    y_in, y_out = x @ LUMA * 255.0, out @ LUMA * 255.0
    made = (ndimage.median_filter(y_out, 5) - y_out) - (ndimage.median_filter(y_in, 5) - y_in)
    near = ndimage.binary_dilation(mask > 0, iterations=4) & (mask < 1)
    return int(((made > 12.0) & near).sum())


def marks_left(x: np.ndarray, marked: np.ndarray, out: np.ndarray, cover: np.ndarray) -> float:
    d = cover > 0
    e_in = ((marked - x) ** 2).sum(-1)[d].sum()
    return float(100.0 * ((out - x) ** 2).sum(-1)[d].sum() / e_in)


def sheet(path: Path, res: dict) -> None:
    from PIL import Image

    x, out, m = res["x"], res["out"], res["mask"]
    ov = x.copy()
    ov[..., 0] = np.clip(ov[..., 0] + 0.5 * m, 0, 1)
    ov[..., 1] *= 1 - 0.5 * m
    diff = np.repeat(np.clip(np.abs(out - x).max(-1, keepdims=True) * 8, 0, 1), 3, -1)
    row = np.concatenate([x, ov, out, diff], 1)
    img = Image.fromarray((np.clip(row, 0, 1) * 255 + 0.5).astype(np.uint8))
    img.thumbnail((2400, 2400))
    img.save(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--save", type=Path, help="write a sheet per photo (input | mask | output | change x8)")
    ap.add_argument("--segmenter", default="embedded",
                    help="the segmenter that finds the subjects (embedded; birefnet with its weights: "
                         "BACKDROP_BIREFNET names them, e.g. ZhengPeng7/BiRefNet, the general model)")
    args = ap.parse_args(argv)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    rows = []
    cases = [("balloons", PHOTOS / "pibooth_portrait_capture3_greywall.jpg"),
             ("grey", PHOTOS / "flickr_ccby_picture25_grey_studio.jpg"),
             ("hood", PHOTOS / "flickr_ccby_picture27_white_highkey.jpg"),
             ("shoes", ROOT / "samples" / "studio_grey_wall_wood_floor.jpg"),
             ("room", PHOTOS / "p3m_p_22fc0130.jpg"),
             ("sleeve", PHOTOS / "dresscode_049713_0.jpg"),
             ("white", PHOTOS / "dresscode_049205_0.jpg"),
             ("dress", PHOTOS / "pibooth_portrait_capture2_greywall.png"),
             ("dark", PHOTOS / "flickr_ccby_picture8_darkgrey_studio.jpg"),
             ("blonde", PHOTOS / "p3m_p_d684dae3.jpg"),
             ("green", PHOTOS / "skimage_tutorials_greenscreen.jpg")]
    lint_photo = PHOTOS / "p3m_p_d684dae3.jpg"
    matte = PHOTOS / "p3m_p_d684dae3__PRED_alpha_p3mnet.png"
    if lint_photo.is_file() and matte.is_file():
        # a real black-cloth portrait with light lint and dust laid on its cloth (the photo itself is
        # the clean plate): marks left with the P3M matte as the mask, and with the embedded segmenter
        x = rgb(read_image(lint_photo).pixels)
        alpha = rgb(read_image(matte).pixels)[..., 0]
        marked, cover = add_lint(x, alpha > 0.02)
        t = time.perf_counter()
        seg, _ = segment(marked, args.segmenter, use_cache=False)
        t_seg = time.perf_counter() - t
        left = {}
        for how, mask in (("matte", alpha), ("segmenter", seg)):
            out = clean(marked, FULL, mask, views=("preview",)).preview.permute(1, 2, 0).numpy()
            left[how] = marks_left(x, marked, out, cover)
            if args.save and how == "segmenter":
                sheet(args.save / "lint.png", {"x": marked, "out": out, "mask": np.asarray(seg, np.float32)})
        h, w = x.shape[:2]
        rows.append(("lint", f"{w}x{h}", {"left": f"{left['matte']:.1f}% (matte), {left['segmenter']:.1f}% (segmenter)"},
                     t_seg))
    for name, path in cases:
        if not path.is_file():
            print(f"{name}: {path} is not there, skipped")
            continue
        res = run_photo(path, params=FULL.replace(tone=255) if name in ("white", "dress", "dark", "blonde", "green") else FULL,
                        segmenter=args.segmenter)
        figs = {"floor": "found" if res["floor"] else "none"}
        if name == "balloons":
            figs["step"] = f"{edge_step(res['x'], res['out'], res['mask']):.1f} levels"
            figs["mask"] = f"{(res['mask'] > 0.5).mean():.0%} of the frame"
            figs["seams"] = f"{seams(res['x'], res['out'])} px"
        elif name == "hood":
            figs["changed"] = f"{hood_changed(res['x'], res['out']):.1%}"
        elif name == "room":
            moved = np.abs(res["out"] - res["x"]).max(-1) * 255.0
            H, W = moved.shape
            x0, x1, y0, y1 = ROOM_BOX
            figs["changed"] = f"{(moved > 4.0).mean():.1%}"
            figs["band"] = f"{moved[int(y0 * H):int(y1 * H), int(x0 * W):int(x1 * W)].max():.0f} levels"
        elif name == "sleeve":
            figs["lift"] = f"{sleeve_lift(res['x'], res['out'], res['mask']):.0%} up to the sleeve"
            figs["specks"] = f"{specks(res['x'], res['out'], res['mask'])} px"
        elif name in ("white", "dress", "dark"):
            what = {"white": "shirt", "dress": "dress", "dark": "hair"}[name]
            below = halo(res["out"], res["mask"], res["floor_at"])
            figs["halo"] = f"{below:.1%} of the wall beside the {what} below white"
        elif name == "blonde":
            figs["wires"] = f"{wires(res['out'], res['mask']):.1%} of the wall beside the hair darker than 128"
        elif name == "green":
            figs["wall"] = f"{off_white(res['out'], res['mask']):.1%} below white"
        elif name == "shoes":
            figs["shoes"] = f"{shoes_covered(res['mask'], sample_truth(path)):.0%} in the mask"
        h, w = res["x"].shape[:2]
        rows.append((name, f"{w}x{h}", figs, res["seg_s"]))
        if args.save:
            sheet(args.save / f"{name}.png", res)
    for name, size, figs, seg_s in rows:
        print(f"{name:9s} {size:>10s}  " + "  ".join(f"{k} {v}" for k, v in figs.items()) + f"  (segmenter {seg_s:.1f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BackdropError as err:  # a segmenter that cannot run here: one line, as the CLI says it
        print(f"real_photos: error: {err}", file=sys.stderr)
        sys.exit(2)
