"""Masks: subject protection (grow + distance feather), contact-shadow zone, real-floor detection.

All widths are fractions of the image's short edge, so the transition looks the
same at any resolution or crop. The maps are computed at the working (reduced)
resolution and upsampled by the pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .filters import (
    check_image,
    distance_within,
    gaussian_blur,
    luminance,
    max_filter,
    pushpull_fill,
    smoothstep,
)
from .texture import detail_norm

__all__ = ["subject_protection", "contact_zone", "detect_floor", "foreign_objects", "unsure_edges", "UnsureEdges",
           "rim_colour", "soft_fading", "FloorInfo"]



def subject_protection(alpha: torch.Tensor, *, grow: float, feather: float) -> torch.Tensor:
    """Protection weight around the subject: 1 on and near it, feathering to 0 by distance.

    Args:
        alpha: (1, 1, h, w) subject coverage at working resolution (area-averaged from full size).
        grow: fully protected margin, fraction of the short edge.
        feather: width of the soft transition, fraction of the short edge.
    Returns:
        (1, 1, h, w) in [0, 1].
    """
    check_image(alpha, "alpha")
    short = min(alpha.shape[-2:])
    # the grow margin is at least ~1.5 working pixels so upsampling never exposes a subject edge
    g = max(grow, 1.5 / short)
    width = max(feather, 1e-6)
    dist = distance_within(alpha[0, 0] > 1e-3, (g + width) * short) / short  # fraction of the short edge
    prot = 1.0 - smoothstep(dist, g, g + width)
    return torch.maximum(prot, alpha[0, 0].clamp(0, 1) > 1e-3).to(alpha.dtype)[None, None]


def contact_zone(alpha: torch.Tensor, *, size: float) -> torch.Tensor:
    """Zone around the feet of a full-length subject whose shadows must stay.

    The feet are the lowest part of a subject that stands inside the frame; a
    subject cut by the bottom edge (head and shoulders, half body) has none.
    The zone is wider than tall, like a contact shadow on the floor.

    Returns:
        (1, 1, h, w) in [0, 1], zeros when there are no feet.
    """
    check_image(alpha, "alpha")
    a = alpha[0, 0] > 0.5
    h, w = a.shape
    zero = torch.zeros_like(alpha)
    rows = np.flatnonzero(a.any(1).cpu().numpy())  # one row flag each: the only trip to the host
    if rows.size == 0 or size <= 0:
        return zero
    bottom = int(rows[-1])
    # cut by the bottom edge over a broad span: no feet in the frame
    if bottom >= h - 2 and float(a[-2:].any(0).float().mean()) > 0.08:
        return zero
    band = max(2, int(round(0.03 * h)))
    feet = torch.zeros_like(a)
    feet[max(0, bottom - band): bottom + 1] = a[max(0, bottom - band): bottom + 1]
    short = min(h, w)
    dist = distance_within(feet, size * short, sampling=(1.6, 1.0)) / short
    return (1.0 - smoothstep(dist, 0.6 * size, size)).to(alpha.dtype)[None, None]


LIKE = 0.04  # an edge of the mask where the photo steps less than this share of the backdrop's level is unsure
RUN = 9  # ... over a run of the edge across a window this many working pixels wide
TAKEN_DEEP = 0.03  # the mask took in wall where wall-like pixels fill most of a square 2x this share of the short edge across
HUE = 1.0  # ... and its hue within this many of those tolerances of the backdrop's (a grey gain keeps the hue)
ACROSS = 3  # the mask's edge is one of the photo's where its colour (at like brightness) steps from this many
# working pixels out along the edge's normal to its last pixel by more than HUE_NOISE times the wall's own ...
HUE_NOISE = 3.0
HUE_MIN = 1.5 / 255.0  # ... and more than this (a white shirt's edge on a beige wall: 4-7 levels, little brighter)
SOFT_STEP = 4  # a soft edge across the mask's edge: the photo sampled this many working pixels apart ...
SOFT_DEPTH = 4.0  # ... darkens into the mask by more than this many tolerances ...
SOFT_SHARE = 0.05  # ... and each step of it takes more than this share of that (no sharp edge among them)
SOFT_NEAR = 5  # ... found at an edge pixel, the edge's pixels in this window whose photo darkens on inside are too


@dataclass
class UnsureEdges:
    """What :func:`unsure_edges` finds: ``firm`` holds whatever a pixel looks like; ``seeds`` are
    the mask's edge pixels it spreads from, ``ramp`` those of them on a soft edge alone (None where
    there are none: :func:`soft_fading` makes a tone's matte there); ``taken`` marks the mask's edge
    where a shadow may run on under the mask."""

    firm: torch.Tensor
    seeds: torch.Tensor
    ramp: torch.Tensor | None
    taken: torch.Tensor


def unsure_edges(image: torch.Tensor, alpha: torch.Tensor, expected: torch.Tensor, protect: torch.Tensor, *,
                 reach: int) -> UnsureEdges:
    """The protection that holds whatever a pixel looks like: beside the mask's edge where the photo
    shows no edge, or only a soft one darkening into the mask (the mask is unsure there).

    Elsewhere the cleanup reaches the subject's edge wherever a pixel matches the backdrop (a
    shadow up to a sleeve). But where the mask's edge runs across what looks like plain wall, in
    brightness and hue (a segmenter's mask that took in a stretch of shadowed wall, beside a
    balloon; not a sleeve's shaded side as bright as the wall, in a colour of its own), that would
    change every wall pixel up to the edge and leave the wall inside as shot: a hard, jagged step. There
    the cleanup fades in over the feather from the edge instead. So it does where the mask's edge
    cuts across a soft edge that darkens into it (a hood or strands out of focus): the outer half of
    such an edge looks like a shadow, and lifted up to the mask's edge it would be cut off there.
    Under a tone a pixel there is held only as much as it has of the subject's colour
    (:func:`soft_fading`).

    Args:
        image: (1, 3, h, w) working image; expected: (1, 3, h, w) the backdrop, the subject filled in.
        alpha: (1, 1, h, w) subject coverage; protect: (1, 1, h, w) its protection.
        reach: how far the protection reaches from the edge (grow + feather), working pixels.
    Returns:
        :class:`UnsureEdges`: ``firm`` (1, 1, h, w) in [0, 1], at most ``protect``; ``seeds`` and
        ``ramp`` (1, 1, h, w); ``taken`` (1, 1, h, w) 1 on the mask's edge where the
        mask took in a stretch of wall (the wall-like pixels inside run on deep into it, not a loose
        mask's margin) or cuts across a soft edge: where a shadow may run on under the mask.
    """
    solid = (alpha >= 0.5).to(image.dtype)
    rim = solid + max_filter(-solid, 3)  # the mask's last pixels inside its edge
    # the mask's edge where the photo shows none: no step within two pixels either side of it ...
    y_img, y_exp = luminance(image), luminance(expected)
    tol = LIKE * y_exp + 2.0 / 255.0
    smooth = gaussian_blur(image, 1.0)
    step = max_filter(detail_norm(image - smooth), 5)
    # ... and the mask's side of it looks like the backdrop there, roughly (not a hand against its shadow)
    like = detail_norm(image - expected) < 3.0 * tol
    # ... in its hue: a grey gain of the backdrop keeps it, a sleeve's shaded side as bright as the
    # wall has a colour of its own (the sleeve's edge, which the lift runs up to like any other)
    gain = y_img / y_exp.clamp_min(1e-3)
    hue = detail_norm(image - gain * expected) < HUE * tol
    like &= hue
    # ... along a run of the edge, not at a pixel here and there where a figure's edge is faint
    flat = step < tol
    seeds = rim * (flat & like).to(image.dtype)
    # ... and no step in colour across it either: a white shirt on a beige wall is as bright as the
    # wall, its edge is in its hue (where the mask cuts across the shirt, both sides are the shirt's)
    seeds = seeds * (_hue_across(smooth, solid, seeds, protect) <= 0).to(image.dtype)
    # ... or where the mask's edge cuts across a soft edge of the photo that darkens into it (a hood
    # or strands out of focus, the model's edge halfway across): the outer half looks like a shadow
    soft = _soft_edge(y_img, alpha, solid, rim, tol)
    across = seeds
    seeds = torch.maximum(across, soft)
    seeds = seeds * (F.avg_pool2d(seeds, RUN, stride=1, padding=RUN // 2) > 0.5 / RUN)
    if not bool(seeds.any()):
        return UnsureEdges(torch.zeros_like(protect), seeds, None, seeds)
    # where the mask took in a stretch of wall, not a margin of it (a loose mask, a few pixels
    # over the wall around the figure): the wall-like pixels inside run on deep into the mask
    # (judged on squares 2r across, r apart, that are mostly wall-like; a seed within 2r of one)
    h, w = image.shape[-2:]
    r = max(1, round(TAKEN_DEEP * min(h, w)))
    wall_in = solid * (flat & hue).to(image.dtype)  # (in shade too: any grey gain)
    deep = max_filter((F.avg_pool2d(wall_in, 2 * r, stride=r, ceil_mode=True) > 0.5).to(image.dtype), 5)
    rows = (torch.arange(h, device=deep.device) // r).clamp_(max=deep.shape[-2] - 1)
    cols = (torch.arange(w, device=deep.device) // r).clamp_(max=deep.shape[-1] - 1)
    deep = deep[..., rows, :][..., cols]
    taken = seeds * torch.maximum(deep, soft)
    ramp = seeds * (across <= 0).to(seeds.dtype)  # a soft edge's seeds alone (the rest holds firm)
    return UnsureEdges(_spread(seeds, protect, reach), seeds, ramp if bool(ramp.any()) else None, taken)


def _spread(seeds: torch.Tensor, protect: torch.Tensor, reach: int) -> torch.Tensor:
    """The hold spread from ``seeds`` over ``reach`` working pixels, fading out, at most ``protect``."""
    reach = max(1, reach)
    return gaussian_blur(max_filter(seeds, 2 * reach + 1), reach / 3.0).clamp_(0.0, 1.0) * protect


def rim_colour(image: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """(1, 3, h, w) the subject's colour on the mask's last pixels inside its edge, carried out from
    there (where the mask cuts a soft edge or a strand, a pixel just outside has about as much
    subject as they have)."""
    solid = (alpha >= 0.5).to(image.dtype)
    return gaussian_blur(pushpull_fill(image, solid + max_filter(-solid, 3)), 1.0)


def soft_fading(alpha: torch.Tensor, expected: torch.Tensor, protect: torch.Tensor, edges: UnsureEdges, *,
                reach: int) -> tuple[torch.Tensor, ...] | None:
    """Under a tone, the matte beside a soft edge darkening into the mask (dark hair out of focus),
    which :func:`unsure_edges` holds: held whole, a pixel there kept the old wall's share too, a
    cloud of the old grey round the hair at tone 255. There a pixel is held only as much as it has of
    the subject's colour: its place between the colour on the mask's last pixels inside its edge (a
    pixel just outside the cut has about as much subject; :func:`rim_colour`) and the wall's beyond
    the fade. Without a tone the hold stays whole (the wall held there is at its own level, and faint
    strands out of focus stay as shot), so this is made only when a tone asks for it.

    Returns:
        (fading, plain, behind): the hold spread from the soft edges and from the others alone
        (1, 1, h, w), and the wall's colour (1, 3, h, w); or None where the mask's edge cuts no soft edge.
    """
    if edges.ramp is None:
        return None
    fading = _spread(edges.ramp, protect, reach)
    others = edges.seeds - edges.ramp
    plain = _spread(others, protect, reach) if bool(others.any()) else torch.zeros_like(fading)
    solid = (alpha >= 0.5).to(expected.dtype)
    beyond = (fading < 0.01).to(expected.dtype) * (1.0 - solid)
    behind = gaussian_blur(pushpull_fill(expected, beyond if bool(beyond.any()) else 1.0 - solid), 1.0)
    return fading, plain, behind


class _Normals:
    """The pixels of the mask's ``rim`` (> 0) and its outward normal at each (from ``solid`` blurred):
    ``along(v, k)`` samples (1, C, h, w) ``v`` k pixels out along it (in, for k < 0), -> (C, n)."""

    def __init__(self, solid: torch.Tensor, rim: torch.Tensor):
        at = torch.nonzero(rim[0, 0] > 0)
        self.y, self.x = at[:, 0], at[:, 1]
        gy, gx = torch.gradient(gaussian_blur(solid, 2.0)[0, 0])
        ny, nx = gy[self.y, self.x], gx[self.y, self.x]
        norm = torch.sqrt(ny * ny + nx * nx).clamp_min_(1e-6)
        self.ny, self.nx = -ny / norm, -nx / norm  # outward
        self.hw = rim.shape[-2:]

    def along(self, v: torch.Tensor, k: float) -> torch.Tensor:
        h, w = self.hw
        gx = (self.x.to(v.dtype) + k * self.nx) * (2.0 / max(w - 1, 1)) - 1.0
        gy = (self.y.to(v.dtype) + k * self.ny) * (2.0 / max(h - 1, 1)) - 1.0
        grid = torch.stack([gx, gy], -1)[None, None]
        return F.grid_sample(v, grid, mode="bilinear", padding_mode="border", align_corners=True)[0, :, 0]


def _hue_across(smooth: torch.Tensor, solid: torch.Tensor, rim: torch.Tensor, protect: torch.Tensor) -> torch.Tensor:
    """(1, 1, h, w): on the pixels of ``rim`` (> 0), by how much the photo's colour at like brightness
    steps from ACROSS pixels out to the mask's last pixel beyond the wall's own: HUE_NOISE times the
    90th percentile of the same step on the backdrop away from the subject (``protect`` 0), and at
    least HUE_MIN. > 0 where the mask's edge is an edge of the photo's in hue. Where the mask took in
    a margin of wall, its last pixel is wall (the photo's edge lies further in): no step there.
    ``smooth``: the working image blurred by a sigma of one pixel."""
    out = torch.zeros_like(rim)
    if not bool((rim > 0).any()) or min(rim.shape[-2:]) < 3:  # (a normal needs 3 pixels across)
        return out
    normal = _Normals(solid, rim)

    def chroma_step(outside: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:  # (C, n) each -> (n,)
        outside, inside = outside[None, :, None], inside[None, :, None]  # as images, (1, C, 1, n)
        gain = luminance(outside) / luminance(inside).clamp_min(1e-3)
        return detail_norm(outside - gain * inside)[0, 0, 0]

    step = chroma_step(normal.along(smooth, ACROSS), normal.along(smooth, 0.0))
    # the wall's own step, ACROSS pixels apart along the rows, where both ends are backdrop
    d = ACROSS
    wall = ((protect[..., :, d:] <= 0) & (protect[..., :, :-d] <= 0))[0, 0]
    if bool(wall.any()):
        a = smooth[..., :, d:][0].permute(1, 2, 0)[wall].T
        b = smooth[..., :, :-d][0].permute(1, 2, 0)[wall].T
        keep = slice(None, None, a.shape[1] // 100_000 + 1)
        noise = float(torch.quantile(chroma_step(a[:, keep], b[:, keep]), 0.9))
    else:
        noise = 0.0
    out[0, 0, normal.y, normal.x] = step - max(HUE_NOISE * noise, HUE_MIN)
    return out


def _soft_edge(y_img: torch.Tensor, alpha: torch.Tensor, solid: torch.Tensor, rim: torch.Tensor,
               tol: torch.Tensor) -> torch.Tensor:
    """1 on the mask's ``rim`` (the edge of ``solid``: ``alpha`` >= 0.5) where the photo (its
    luminance ``y_img``) darkens across it in a soft ramp, into the mask.

    The photo is sampled along the edge's normal, SOFT_STEP pixels apart: two samples outside, one
    on the edge, two inside. Outside, the photo is taken without what the mask holds (strands over a
    shadow beside a head are no ramp, the shadow between them is flat). The ramp must fall by more
    than SOFT_DEPTH tolerances, each step taking more than SOFT_SHARE of it: a sharp edge, a shadow
    ending at the figure, or a figure lighter than the wall is none. Beside such a pixel (within
    SOFT_NEAR), the two outer steps need only not rise.
    """
    out = torch.zeros_like(rim)
    h, w = rim.shape[-2:]
    if not bool((rim > 0).any()) or min(h, w) < 3:
        return out
    lum = gaussian_blur(y_img, 2.0)
    behind = gaussian_blur(pushpull_fill(y_img, (alpha <= 0).to(y_img.dtype)), 2.0)
    normal = _Normals(solid, rim)
    y, x = normal.y, normal.x
    along = lambda v, k: normal.along(v, k * SOFT_STEP)[0]  # noqa: E731

    profile = [along(behind, 2), along(behind, 1), lum[0, 0, y, x], along(lum, -1), along(lum, -2)]
    fall = profile[0] - profile[-1]
    steps = [a - b for a, b in zip(profile, profile[1:])]
    inside = (fall > SOFT_DEPTH * tol[0, 0, y, x]) & (steps[2] > SOFT_SHARE * fall) & (steps[3] > SOFT_SHARE * fall)
    ramp = inside & (steps[0] > SOFT_SHARE * fall) & (steps[1] > SOFT_SHARE * fall)
    # a ragged edge finds the whole ramp at every other pixel only: beside one that does, a pixel
    # whose photo still darkens on into the mask (and does not brighten toward it) is taken too
    near = inside & (steps[0] > -SOFT_SHARE * fall) & (steps[1] > -SOFT_SHARE * fall)
    out[0, 0, y, x] = ramp.to(out.dtype)
    found = max_filter(out, SOFT_NEAR)[0, 0, y, x] > 0
    out[0, 0, y, x] = (ramp | (near & found)).to(out.dtype)
    return out


def _dilate(x: torch.Tensor, k: int) -> torch.Tensor:
    """Grey dilation by a k x k square (k odd)."""
    return max_filter(x, k)


def foreign_objects(image: torch.Tensor, surface: torch.Tensor, backdrop: torch.Tensor, *, bright: float = 3.0,
                    dark: float = 0.3, min_size: float = 0.012) -> torch.Tensor:
    """Where the frame shows something that is not backdrop at all: a large region far brighter
    than the clean backdrop (a set edge, a window, a lamp) or far darker than any shadow (a
    stand, a flag).

    Marks and shadows stay well inside these ratios, and specks, lint and creases are thinner
    than ``min_size`` (a fraction of the short edge), so they are still cleaned. Such regions
    are kept as shot, with a soft edge a few working pixels wide, and the backdrop is modelled
    without them.

    Args:
        image: (1, 3, h, w) working image; surface: (1, 3, h, w) clean backdrop.
        backdrop: (1, 1, h, w) > 0 where the frame may be backdrop (not subject, not floor).
    Returns:
        (1, 1, h, w) in [0, 1].
    """
    check_image(image)
    ratio = gaussian_blur(luminance(image), 1.0) / luminance(surface).clamp_min(1e-3)
    hit = (((ratio > bright) | (ratio < dark)) & (backdrop > 0)).to(image.dtype)
    if not bool(hit.any()):
        return torch.zeros_like(hit)
    k = max(3, int(round(min_size * min(image.shape[-2:]))) | 1)
    # opening: what a k x k square does not fit in (specks, lint, creases) is not an object
    hit = -_dilate(-hit, k)
    hit = _dilate(hit, k)
    if not bool(hit.any()):
        return torch.zeros_like(hit)
    hit = _dilate(hit, 5)  # reach over the blurred edge
    return gaussian_blur(hit, 1.5).clamp_(0.0, 1.0)


def _median1d(v: np.ndarray, size: int) -> np.ndarray:
    """Running median of a 1-D profile over ``size`` (odd) samples, edges repeated."""
    r = size // 2
    padded = np.pad(v, r, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, size), axis=1)


STEP_ROWS = 0.03  # a floor's edge: the rows this share of the height below it ...
STEP = 2.0  # ... differ from the wall at least this many times as much as the rows above it ...
STEP_MIN = 1.5  # ... and (floor: auto) at least this many times the threshold
SEEN = 0.1  # a row shows the floor where at least this share of it is backdrop
TEX_SEEN = 0.002  # a texture finer than this (half a level at 255) is none: a flat composited backdrop's
# rows hold 0.00001-0.0001 of JPEG ringing, which a ratio to the wall's zero would call a floor


@dataclass
class FloorInfo:
    """What floor detection found: whether there is a floor, and where the wall meets it."""
    found: bool
    boundary: float | None  # row of the wall/floor boundary as a fraction of the height
    score: float  # how strongly the floor differs from the wall (>1 = different)


def _row_profile(values: torch.Tensor, weight: torch.Tensor) -> np.ndarray:
    """Weighted mean over each row; (1, C, h, w), (1, 1, h, w) -> (h, C) numpy, NaN for empty rows."""
    num = (values * weight).sum(-1)[0]  # C, h
    den = weight.sum(-1)[0]  # 1, h
    out = (num / den.clamp_min(1e-6)).T.cpu().numpy()
    out[den[0].cpu().numpy() < 0.02 * values.shape[-1]] = np.nan
    return out


def detect_floor(
    image: torch.Tensor,
    backdrop: torch.Tensor,
    *,
    mode: str = "auto",
    ramp: float = 0.03,
) -> tuple[torch.Tensor, FloorInfo]:
    """Find a real floor: a region at the bottom whose colour or texture differs from the wall.

    Brightness alone never makes a floor (the wall's shadow, the seam band and the
    vignette change brightness, not chromaticity or texture).

    Args:
        image: (1, 3, h, w) working-resolution image.
        backdrop: (1, 1, h, w) weight of backdrop pixels (subject excluded).
        mode: "auto", "on" (looser threshold), or "off".
        ramp: height of the vertical ramp above the boundary, fraction of the height.
    Returns:
        floor: (1, 1, h, w) in [0, 1]: 1 on the floor, a vertical ramp to 0 above it.
        info: FloorInfo.
    """
    check_image(image)
    h, w = image.shape[-2:]
    zero = torch.zeros_like(backdrop)
    if mode == "off" or h < 16:
        return zero, FloorInfo(False, None, 0.0)
    rgb = image.clamp_min(1e-4)
    chroma = rgb / rgb.sum(1, keepdim=True)  # intensity-invariant: shadows do not change it
    y = luminance(image)
    # texture relative to the local level, so a darker floor is not "more textured" by exposure
    tex = (y - gaussian_blur(y, 1.0)).abs() / gaussian_blur(y, 4.0).clamp_min(0.02)
    tex = gaussian_blur(tex, 2.0)
    wgt = (backdrop > 0.5).to(image.dtype)
    prof = _row_profile(torch.cat([chroma[:, :2], tex], 1), wgt)  # h, 3
    share = wgt.mean(-1)[0, 0].cpu().numpy()  # each row's share of backdrop pixels
    rows = np.arange(h)
    good = ~np.isnan(prof).any(1)
    if good.sum() < h * 0.3:
        return zero, FloorInfo(False, None, 0.0)
    for c in range(prof.shape[1]):
        prof[:, c] = np.interp(rows, rows[good], prof[good, c])
    ref_rows = slice(int(0.12 * h), int(0.5 * h))
    ref = np.median(prof[ref_rows], axis=0)
    ref_tex_spread = np.median(np.abs(prof[ref_rows, 2] - ref[2])) + 1e-6
    d_chroma = np.hypot(prof[:, 0] - ref[0], prof[:, 1] - ref[1]) / 0.018
    d_tex = np.log2(np.maximum(prof[:, 2], 1e-6) / max(ref[2] + 3 * ref_tex_spread, TEX_SEEN)) / 0.8
    score = np.maximum(d_chroma, d_tex)
    score = _median1d(score, max(3, h // 100) | 1)
    thr = 1.0 if mode == "auto" else 0.6
    above = score > thr
    # walk up from the bottom while the rows differ from the wall (tolerating short gaps)
    gap = max(2, h // 60)
    y0 = h
    misses = 0
    for r in range(h - 1, int(0.35 * h) - 1, -1):
        if above[r]:
            y0 = r
            misses = 0
        else:
            misses += 1
            if misses > gap:
                break
    height = (h - y0) / h
    strength = float(np.median(score[y0:])) if y0 < h else 0.0
    if y0 >= h or height < 0.03:
        return zero, FloorInfo(False, None, strength)
    # a floor meets the wall along a line: the rows step from wall to floor within a few percent of
    # the height (a wall's light falloff, its shadowed lower part, a vignette drift over a fifth of it)
    w_step = max(2, round(STEP_ROWS * h))
    above = float(np.median(score[max(0, y0 - 2 * w_step): max(1, y0 - w_step)]))
    below = float(np.median(score[y0: y0 + w_step]))
    # ... and it is seen: most of its rows show it beside the subject (a head-and-shoulders frame's
    # bottom rows are the subject, with a dark corner either side)
    seen = float(np.mean(share[y0:] >= SEEN))
    strong = STEP_MIN * thr if mode == "auto" else thr  # "on": the photographer says there is one
    if below < strong or below < STEP * above or seen < 0.5:
        return zero, FloorInfo(False, None, strength)
    # keep a small safety margin: the floor ends a little above the detected edge
    edge = y0 - 0.004 * h
    ramp_px = max(1.0, ramp * h)
    ys = torch.arange(h, device=image.device, dtype=image.dtype) + 0.5
    prof_t = smoothstep(ys, edge - ramp_px, edge)
    floor = prof_t.view(1, 1, h, 1).expand(1, 1, h, w).contiguous()
    return floor, FloorInfo(True, float(edge / h), strength)
