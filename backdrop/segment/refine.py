"""Refine a coarse subject mask against the image: edges better than the model.

A person-segmentation model gives a coarse, blobby mask (MediaPipe's is 256x256).
Around its edge, each pixel is judged against the expected clean backdrop (filled
in from the sure backdrop around it, over any strand or mark lying there; a floor and
the wall each from its own pixels):

- a pixel the backdrop explains is backdrop: the backdrop itself, or the backdrop
  darkened by a smooth grey gain (a cast shadow, a seam, light fall-off);
- a pixel it does not explain is subject: detail far above the local paper grain
  (a hair strand, an edge), a colour no grey gain gives (skin, cloth, brown hair),
  brighter than the backdrop, or darker than any cast shadow.

A band along the figure brighter than the clean wall (its fitted surface, which no shadow
pulls down) and set off from it by an outline is subject with that outline: the rim of a
white hood on a white wall, which the model does not see; a glow of light has no outline.

Subject evidence reaches out past the model's edge only through pixels connected to
the subject (hair strands; on a floor, not a line that runs on across it); marks
elsewhere on the backdrop stay backdrop. Holes inside the subject are filled unless
they are clearly backdrop (the gap under an arm on the hip); small islands are dropped
unless they are clearly not backdrop.

At full resolution each pixel at the edge decides for itself, and its value is a matte:
its share between the backdrop's colour just outside the edge and the subject's just
inside (for a halo of fine hair, the hair's where the model is sure of it). A pixel
with any subject in it keeps at least MIN_COVER, so the cleanup keeps its subject's share
(a strand's pixel away from the body as shot); one with the backdrop's colour is backdrop
(the pixel beside a strand, in a shadow).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..ops.compose import Upsampler, colour_position
from ..ops.filters import (
    WORK_LONG_EDGE,
    gaussian_blur,
    pushpull_fill,
    reduce_by,
    smoothstep,
    work_factor,
)
from ..ops.illumination import fitted_surface
from ..ops.masks import FloorInfo, detect_floor
from ..ops.texture import detail_norm
from . import (  # islands smaller than MIN_ISLAND dropped, holes under MIN_HOLE filled ...
    MIN_HOLE,
    MIN_ISLAND,
)

__all__ = ["refine_mask", "subject_evidence"]

BAND = 0.04  # band judged around the model's edge, fraction of the short edge (outside)
P_LOW = 0.25  # where the model leans to subject (above this) the pixel must plainly be backdrop to be one
VALLEY = 0.1  # a dip in the model's belief, across at most this share of the short edge ...
VALLEY_DEPTH = 0.15  # ... and at least this deep, is a gap between two parts of the figure
SURE = 0.95  # inside the model's edge, pixels it is less sure of than this are judged too
REACH = 0.2  # strands connected to the subject are followed this far out ...
GAP = 0.003  # ... across gaps this wide
WEAK = 0.4  # evidence at the working resolution that a strand finer than it may leave ...
OWN_TAIL = 0.98  # ... and above this quantile of the sure backdrop's (its own texture)
K = 4.0  # evidence threshold, in local noise levels
REL = 0.03  # ... plus this share of the backdrop's brightness (a hue shift in a shadow)
MATCH = 0.04  # inside the model's edge, a pixel this close to the backdrop's brightness is backdrop
DEEPEST_SHADOW = 0.3  # a grey gain below this is not a cast shadow ...
DEEP_STEP = 0.06  # ... when the backdrop is at least this much brighter than the pixel
FLOOR_DEEPEST = 0.6  # on a real floor, a grey gain below this is not a shadow
QUANT = 0.004  # tolerance floor: one level of an 8-bit file, and then some
CLEAR = 1.5  # ... unless their mean evidence says otherwise
SEAM = 0.02  # rows this far (share of the height) about the detected floor line are judged against both
FLOOR_RAMP = 0.03  # ... beside the floor's ramp above it, this share of the height
MATTE_CONTRAST = 0.1  # the subject's colour and the backdrop's must differ this much to matte a pixel ...
HALO = 0.15  # past the model's edge, a subject pixel with this share of fine detail around it is matted ...
OFF_LINE = 0.25  # a pixel this close (share of the contrast) to the backdrop's colour just outside ...
MIN_COVER = 0.1  # ... and a subject pixel at the edge keeps at least this much coverage
BY_LINE = 0.2  # a pocket is closed off by a line when this share of its rim is thin ...
THIN = 5  # ... narrower than this many working pixels
# on a floor, a step this steep (share of the backdrop's level per working pixel) is an outline; what
# it closes off is subject only if it borders the subject along TOUCH of its rim and holds no more
# than SURE_SHARE of the sure backdrop
OUTLINE_STEP = 0.03
TOUCH = 0.1
SURE_SHARE = 0.1
NEAR = 0.01  # a pixel is among strands where, within this share of the short edge (4 px at least),
STRANDS = 0.05  # ... this share of the pixels are strands (a figure's corner is not enough)
CELL = 8  # working pixels per cell of the local noise maps
# a band along the figure brighter than the clean wall (a white hood's rim), judged on the image
# blurred by BRIGHT_SIGMA working pixels: brighter by BRIGHT_K times the sure backdrop's spread and
# at least BRIGHT_MIN of the wall's level; at least 2 * BRIGHT_WIDE working pixels across and
# BRIGHT_LONG times as long as it is wide; BRIGHT_OPEN of its outline on the backdrop, and a step
# there (STEP_K times the sure backdrop's typical one, at least STEP_MIN of the level per working
# pixel) along BRIGHT_EDGED of that; its outline is taken in up to OUTLINE working pixels out
BRIGHT_SIGMA = 2.0
BRIGHT_K = 6.0
BRIGHT_MIN = 0.01
BRIGHT_WIDE = 3
BRIGHT_LONG = 5
BRIGHT_OPEN = 0.25
STEP_K = 3.0
STEP_MIN = 0.01
BRIGHT_EDGED = 0.5
OUTLINE = 5
_EIGHT = np.ones((3, 3), bool)  # a diagonal hair strand is one piece


def refine_mask(image: np.ndarray, coarse: np.ndarray, *, tile: int = 256) -> np.ndarray:
    """Refine a coarse subject probability against the image.

    Args:
        image: float32 HxWx3 in [0, 1].
        coarse: float32 hxw subject probability at any resolution (resized here).
    Returns:
        float32 HxW in [0, 1]: 1 = subject; soft only where a pixel is partly subject.
    Example:
        >>> img = np.full((64, 64, 3), 0.8, np.float32); img[16:48, 24:40] = 0.1
        >>> coarse = np.zeros((16, 16), np.float32); coarse[4:12, 6:10] = 1
        >>> bool(refine_mask(img, coarse)[32, 32] == 1.0)
        True
    """
    H, W = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image[..., :3], dtype=np.float32)).permute(2, 0, 1)[None]
    f = work_factor(H, W, WORK_LONG_EDGE)
    xm = reduce_by(x, f)
    hm, wm = xm.shape[-2:]
    short = min(hm, wm)
    p = F.interpolate(torch.from_numpy(np.asarray(coarse, np.float32))[None, None], size=(hm, wm),
                      mode="bilinear", align_corners=False)[0, 0].numpy()
    core = p > 0.5
    if not core.any():
        return np.zeros((H, W), np.float32)
    d_out = ndimage.distance_transform_edt(~core)
    band = np.where(core, p < SURE, d_out <= BAND * short)
    sure_bd = ~core & (d_out > BAND * short)
    if sure_bd.sum() < 0.02 * hm * wm:  # the subject fills the frame: trust the model
        return _upsample(core.astype(np.float32), f, (H, W))
    floor = detect_floor(xm, _tensor(sure_bd), ramp=FLOOR_RAMP)
    expected = _expected_backdrop(xm, sure_bd, floor)
    noise = _noise_maps(xm, expected, sure_bd, floor[0])
    detail = _strand_detail(xm)  # the working image's, once: every test below reads it
    ev_t = subject_evidence(xm, expected, noise, detail=detail)
    # strands and marks out on the sure backdrop are not the backdrop either: filled over, so a
    # strand past the model's band is judged against the paper behind it, not against itself
    outlier = ndimage.binary_dilation(ev_t[0, 0].numpy() > WEAK) & sure_bd
    if outlier.any():
        expected = _expected_backdrop(xm, sure_bd & ~outlier, floor)
        noise = _noise_maps(xm, expected, sure_bd & ~outlier, floor[0])
        ev_t = subject_evidence(xm, expected, noise, detail=detail)
    ev = ev_t[0, 0].numpy()
    cand = ev > 1.0
    # ... and beside the figure (off a floor), a band brighter than the wall with an outline (no
    # shadow brightens the wall): a white hood's rim on a white wall, its outline a faint shade line
    on_floor = floor[0][0, 0].numpy() > 0.5
    bright = _brighter(xm, sure_bd & ~on_floor, (d_out <= REACH * short) & ~on_floor, core | cand)
    cand |= bright

    # inside the model's edge, where it is unsure: off only where the pixel is the clean backdrop
    # itself (a gap under an arm). A shadow-explained pixel stays subject there: white clothes on
    # white paper look like the backdrop in shade, and cleaning them is the harm to avoid
    plain = _plain(xm, expected, noise)[0, 0].numpy()
    unsure = (p > P_LOW) & (p < SURE)
    # Where it leans to subject (p > 0.5), only in a dip of its belief between two parts of the
    # figure (between the legs, under an arm): at the figure's outer edge such a pixel is more
    # likely a white sleeve or hood in shade that the model half sees than the paper
    size = max(3, round(VALLEY * short)) | 1
    dip = ndimage.grey_closing(p, size=(size, size)) - p > VALLEY_DEPTH
    subject = (core | unsure) & ~(unsure & (~core | dip) & ~cand & (plain <= 1.0))
    # ... and among strands, a pixel with the colour of the backdrop just outside, its shadow's
    # too: the model's belief is a blur over the strands and the backdrop between them
    strand = _fine_detail(xm, noise, detail)
    fine = strand > 1.0
    among = 2 * max(4, round(NEAR * short)) + 1
    near = ndimage.uniform_filter(fine.astype(np.float32), size=among) > STRANDS
    # ("among": at least STRANDS of the pixels around are strands). It is judged on the line to the
    # strands' own colour (their clear evidence), not the subject's just inside its edge, which may
    # run through that very shadow
    fg_core, bg = _edge_colours(xm, subject, core, edge=False)
    strands = cand & subject
    strands = gaussian_blur(pushpull_fill(xm, _tensor(strands if strands.any() else subject)), 1.0)
    ground = _matte(xm, [strands, fg_core, bg])[2][0, 0].numpy()
    # ... joined to where the model sees backdrop: a strip beside a balloon's ribbon, deep in a
    # stretch of wall the mask took in, stays with that wall (lifted alone, it would be a patch)
    between = _connected(unsure & ~cand & ground & near, p <= P_LOW, 1)
    subject &= ~between
    # outside: on where it does not, and only through pixels connected to the subject (a strand
    # whose evidence fades for a pixel or two is still one strand)
    gap = max(1, round(GAP * short))
    subject = _connected(subject | (cand & band), subject, gap)
    # strands past the band are followed out to REACH; on a floor, a line that runs on past it
    # is the floor's own (a floorboard's seam, the line where the wall meets the floor)
    reach = ~core & (d_out <= REACH * short)
    outer = cand & ~band & ~core
    lab, n = ndimage.label(ndimage.binary_dilation(outer, iterations=gap), structure=_EIGHT)
    if n:
        lab = lab * outer
        ok = np.zeros(n + 1, bool)
        ok[np.unique(lab[ndimage.binary_dilation(subject, iterations=gap + 1) & outer])] = True
        ok[np.intersect1d(lab[d_out > REACH * short], lab[on_floor])] = False
        ok[0] = False
        subject = subject | (ok[lab] & reach)
    subject = _fill_holes(subject, (sure_bd | between) & ~cand, MIN_HOLE * hm * wm)
    subject = _drop_islands(subject, ev, MIN_ISLAND * hm * wm, core, gap=gap)
    lines = cand & reach
    subject |= _pockets(subject, lines, sure_bd | between, p, plain, gap)
    # on a floor, what a step in the floor's brightness closes off with the figure: a shoe in the
    # floor's own brown, only darker (its evidence under 1, its outline broken where its contact
    # shadow meets it, so no line of evidence closes it)
    rows = np.flatnonzero((on_floor & reach).any(1))
    if rows.size:  # (judged on the floor's rows only, with a margin above them)
        b = slice(max(0, int(rows[0]) - 2 * (gap + THIN)), None)
        steps = _steps(xm[..., b, :], expected[..., b, :]) & on_floor[b] & reach[b]
        found = _outlined(subject[b], lines[b] | steps, (sure_bd | between)[b], p[b], plain[b], gap)
        subject[b] |= found & on_floor[b]

    # full resolution: the work decision inside, each pixel decides at its edge
    work_t = _tensor(subject)
    # eroded by two working pixels; and a bright piece with its outline, which is not decided again
    # pixel by pixel (its brightness is within the tolerance of the plain backdrop's)
    inside = ndimage.minimum_filter(subject, size=5) | (subject & bright)
    interior = _tensor(inside)
    edge = ndimage.maximum_filter(subject, size=5) & ~inside  # ... to grown by two
    if f > 1:
        # strands too fine for the working image: weak evidence connected to the subject is
        # judged again at full resolution, where a strand stands out
        # ... the evidence of a strand, a faint line (not a glow: the light bright hair spills on
        # black cloth around it is a colour off the cloth's, and carried the pass out to lint)
        # ... above the backdrop's own texture (a weave's evidence, if weak, runs everywhere)
        faint = np.minimum(ev, strand)
        weak_level = max(WEAK, float(np.quantile(faint[sure_bd], OWN_TAIL)))
        weak = subject | ((faint > weak_level) & reach)
        edge |= _connected(weak, subject, gap) & ~subject
    edge_t = _tensor(edge)
    # a matte past the model's edge too, where fine detail is dense (a halo of fine hair), not
    # only at the subject's edge
    matte_t = _tensor(subject & ~core & (ndimage.uniform_filter(fine.astype(np.float32), size=7) > HALO))
    colours = _edge_colours(xm, subject, core)
    if f == 1:
        return _decide(xm, expected, colours, noise, interior > 0.5, edge_t > 0, work_t > 0.5,
                       matte_t > 0.5, detail=detail)[0, 0].numpy()
    hf_scale = _full_res_grain(x, f, sure_bd, noise["hf"], tile)
    up = Upsampler(f, (H, W))
    out = np.empty((H, W), np.float32)
    out_t = torch.from_numpy(out)
    for r0 in range(0, H, tile):
        r1 = min(H, r0 + tile)
        for c0 in range(0, W, tile):
            c1 = min(W, c0 + tile)
            inner = up.tile(interior, r0, r1, c0, c1) > 0.5
            e = up.tile(edge_t, r0, r1, c0, c1) > 0
            mt = up.tile(matte_t, r0, r1, c0, c1) > 0
            if not bool(e.any() or (inner & mt).any()):
                out_t[r0:r1, c0:c1] = inner[0, 0].float()
                continue
            n = {k: up.tile(v, r0, r1, c0, c1) for k, v in noise.items()}
            n["hf"] = n["hf"] * hf_scale
            out_t[r0:r1, c0:c1] = _decide(x[:, :, r0:r1, c0:c1], up.tile(expected, r0, r1, c0, c1),
                                          [up.tile(c, r0, r1, c0, c1) for c in colours], n, inner, e,
                                          up.tile(work_t, r0, r1, c0, c1) > 0.5, mt, lowpass=f / 2.0)[0, 0]
    return out


def _decide(x, expected, colours, noise, inner, edge, work, matte, *, lowpass: float = 0.0,
            detail: torch.Tensor | None = None) -> torch.Tensor:
    """Full-resolution decision: 1 inside, 0 outside, and at the edge each pixel's share of subject
    (inside too, where ``matte``: the subject was judged there, not taken from the model, and a
    pixel there is decided as at the edge).

    At the edge a pixel is subject where its evidence says so, and where the working decision
    calls it subject unless it plainly is the backdrop or has the brightness of the backdrop just
    outside, its shade included (the outer ring of a shaded white sleeve, darker than the wall
    beside it, is not given away pixel by pixel), or it has the colour of the backdrop just outside. How
    much of such a pixel is subject is its position between the backdrop's and the subject's
    colours on either side of the edge (a matte), where the two differ enough to tell; it never
    drops below MIN_COVER, so the cleanup still leaves the pixel alone, unless the pixel has the
    backdrop's colour (then it is 0).
    """
    xs = gaussian_blur(x, lowpass) if lowpass > 0.5 else x
    soft = smoothstep(subject_evidence(x, expected, noise, smooth=xs, detail=detail), 1.0, 2.0)
    # kept: neither the plain backdrop nor as bright as the backdrop just outside, in its shade (a
    # loose working edge over the shadow beside a dark printed dress, whose colours average near
    # that shade, so no matte tells them apart: kept, that strip of wall stayed dark beside the
    # lifted wall, a smudge at tone 255)
    keep = work & (_plain(xs, expected, noise) > 1.0) & (_plain(xs, colours[2], noise) > 1.0)
    soft = torch.where(keep, torch.ones_like(soft), soft)
    raw, tells, ground = _matte(x, colours, matte)
    # a pixel with the colour of the backdrop just outside (its shadow's, where there is one) is
    # backdrop, whatever the working decision (the model's blur) or its blurred evidence says (the
    # pixel beside a strand: left at MIN_COVER, the shadow under it stays as a dark outline)
    share = torch.where(tells, torch.where(ground, torch.zeros_like(raw), raw.clamp(MIN_COVER, 1.0)),
                        torch.ones_like(raw))
    soft = torch.where(soft > 0, torch.minimum(soft, share), soft)
    judged = edge | (inner & matte)
    return torch.where(inner & ~matte, torch.ones_like(soft), torch.where(judged, soft, torch.zeros_like(soft)))


def _matte(x: torch.Tensor, colours: list[torch.Tensor],
           matte: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each pixel's position between the backdrop's colour just outside the edge and the subject's
    (``raw``: 0 backdrop, 1 subject; the subject's colour where the model is sure of it, where
    ``matte``), whether the two differ enough to tell (``tells``), and whether the pixel has the
    backdrop's colour (``ground``: on the line between the two and below MIN_COVER of the way)."""
    fg_edge, fg_core, bg = colours
    raw, contrast, d = colour_position(x, fg_edge if matte is None else torch.where(matte, fg_core, fg_edge), bg)
    tells = contrast > MATTE_CONTRAST**2
    off = (x - bg - raw * d).square().sum(1, keepdim=True) < (OFF_LINE**2) * contrast
    return raw, tells, tells & (raw < MIN_COVER) & off


def _edge_colours(x: torch.Tensor, subject: np.ndarray, core: np.ndarray, *,
                  edge: bool = True) -> list[torch.Tensor]:
    """Colours carried across the subject's edge, each from two pixels off its mixed pixels:
    the subject's just inside its edge (unless not ``edge``), the subject's where the model is sure
    of it (for a halo of fine hair outside the model's edge) and the backdrop's just outside (in a
    shadow, the shadow's)."""
    out = []
    for side in ((subject,) if edge else ()) + (subject & core, ~subject):
        inner = ndimage.minimum_filter(side, size=5)
        out.append(gaussian_blur(pushpull_fill(x, _tensor(inner if inner.any() else subject)), 1.0))
    return out


def _brighter(x: torch.Tensor, sure: np.ndarray, near: np.ndarray, figure: np.ndarray) -> np.ndarray:
    """Beside the figure (``near``), brighter than the clean backdrop (its fitted surface, which a
    shadow does not pull down), a few pixels across, far beyond the sure backdrop's own spread, and
    set off from the backdrop by a step along most of its outline where it meets the backdrop
    (not the ``figure``): a white hood's rim on a white wall. A glow of light on the wall around the
    figure fades out: it has no outline."""
    found = np.zeros_like(sure)
    if not sure.any():
        return found
    known = _tensor(sure)
    lum = x.mean(1, keepdim=True)
    level = fitted_surface(pushpull_fill(lum, known), known)[0].clamp_min(1e-3)
    r = (gaussian_blur(lum, BRIGHT_SIGMA) / level)[0, 0].numpy() - 1.0
    r_sure = r[sure]
    spread = 1.4826 * float(np.median(np.abs(r_sure - np.median(r_sure))))
    bright = (r > max(BRIGHT_MIN, BRIGHT_K * spread)) & near & ~figure
    lab, n = ndimage.label(bright, structure=_EIGHT)
    # a band along the figure: wider than a strand (the sheen beside a balloon's ribbon: a strand's
    # own evidence finds it), and several times as long as it is wide (not a gap between the legs or
    # under an arm, lit a little brighter than the wall's fit there)
    area = np.bincount(lab.ravel(), minlength=n + 1)
    pieces = [i for i in range(1, n + 1) if area[i] >= BRIGHT_LONG * (2 * BRIGHT_WIDE) ** 2]
    if not pieces:
        return found
    # the step the photo makes at each pixel, in shares of the backdrop's level, well above the sure
    # backdrop's typical one (its grain)
    step = ndimage.maximum_filter(_relative_step(lum, level), size=3)
    edge = step > max(STEP_MIN, STEP_K * float(np.median(step[sure])))
    boxes = ndimage.find_objects(lab)
    pad = OUTLINE + 3
    for i in pieces:
        rows, cols = boxes[i - 1]
        box = (slice(max(rows.start - pad, 0), rows.stop + pad), slice(max(cols.start - pad, 0), cols.stop + pad))
        piece = lab[box] == i
        half = ndimage.distance_transform_edt(piece).max()
        if half < BRIGHT_WIDE or area[i] < BRIGHT_LONG * (2.0 * half) ** 2:
            continue
        # lying along the figure, not between two parts of it (a long gap between the legs): a good
        # share of its outline meets the backdrop, and is set off from it by a step along most of it
        ring = ndimage.binary_dilation(piece, structure=_EIGHT) & ~piece
        outline = ring & ~ndimage.binary_dilation(figure[box], iterations=2)
        n_out = outline.sum()
        if n_out < BRIGHT_OPEN * ring.sum() or edge[box][outline].sum() <= BRIGHT_EDGED * n_out:
            continue
        # ... with its outline: the steps beside it and the line between them (the shade line along a
        # hood's rim) are the object's
        steps = ndimage.binary_closing(edge[box], iterations=2)
        found[box] |= piece | (ndimage.binary_dilation(piece, iterations=OUTLINE) & steps & near[box])
    return found


def _plain(x: torch.Tensor, expected: torch.Tensor, noise: dict[str, torch.Tensor]) -> torch.Tensor:
    """Brightness departure from the clean backdrop in tolerances (<= 1: plainly the backdrop)."""
    lum_e = expected.mean(1, keepdim=True)
    return (x.mean(1, keepdim=True) - lum_e).abs() / (K * noise["lum"] + MATCH * lum_e + QUANT)


def _expected_backdrop(x: torch.Tensor, sure: np.ndarray, floor: tuple[torch.Tensor, FloorInfo]) -> torch.Tensor:
    """The clean backdrop across the band, filled from the sure backdrop; a real floor (from
    detect_floor) and the wall are filled each from its own pixels, so the floor's colour does
    not bleed up the wall."""
    known = _tensor(sure)
    floor, info = floor
    if not info.found:
        return gaussian_blur(pushpull_fill(x, known), 1.0)
    # the detected line is only roughly where the wall meets the floor: each is filled from its
    # own pixels away from the line, and a pixel near it is judged against the nearer of the two
    h = x.shape[-2]
    ys = torch.arange(h, dtype=x.dtype).view(1, 1, h, 1)
    edge = info.boundary * h
    seam = ((ys > edge - (SEAM + FLOOR_RAMP) * h) & (ys < edge + SEAM * h)).to(x.dtype)
    on_floor = (floor > 0.5).to(x.dtype)
    wall = pushpull_fill(x, known * (1.0 - on_floor) * (1.0 - seam))
    ground = pushpull_fill(x, known * on_floor * (1.0 - seam))
    nearer = ((x - ground).abs().sum(1, keepdim=True) < (x - wall).abs().sum(1, keepdim=True)).to(x.dtype)
    on_floor = seam * nearer + (1.0 - seam) * on_floor
    return gaussian_blur(on_floor * ground + (1.0 - on_floor) * wall, 1.0)


def subject_evidence(x: torch.Tensor, expected: torch.Tensor, noise: dict[str, torch.Tensor], *,
                     smooth: torch.Tensor | None = None, detail: torch.Tensor | None = None) -> torch.Tensor:
    """How far each pixel is from anything the backdrop explains, in tolerances (> 1: subject).

    Args:
        x: (1, 3, H, W) image; expected: (1, 3, H, W) clean backdrop there.
        noise: local noise levels, (1, 1, H, W) each: ``hf`` (fine detail), ``col``
            (colour off a grey gain), ``lum`` (brightness above the backdrop).
        smooth: ``x`` blurred for the colour and brightness tests, so a full-resolution
            tile is judged at the noise level of the working image (default: ``x``).
        detail: ``x``'s strand detail (:func:`_strand_detail`), where already made.
    Returns:
        (1, 1, H, W) evidence.
    """
    # fine detail counts only where the pixel also departs from the backdrop and from its
    # neighbours on both sides: the backdrop just outside a sharp edge stands out from its blur
    # too, and in a cast shadow from the expected backdrop as well
    hf = torch.minimum(_strand_detail(x) if detail is None else detail, detail_norm(x - expected))
    xs = x if smooth is None else smooth
    lum_e = expected.mean(1, keepdim=True).clamp_min(1e-3)
    lum_x = xs.mean(1, keepdim=True)
    gain = lum_x / lum_e
    col = detail_norm(xs - gain * expected)
    tol = REL * lum_e + QUANT
    ev = torch.maximum(hf / (K * noise["hf"] + tol), col / (K * noise["col"] + tol))
    # too dark for a cast shadow, by a step that a near-black backdrop cannot show
    deepest = noise.get("deepest", DEEPEST_SHADOW)
    deep = torch.minimum(deepest / gain.clamp_min(1e-3), (lum_e - lum_x) / DEEP_STEP)
    return torch.maximum(ev, deep)


_AXES = ((0, 1), (1, 0), (1, 1), (1, -1))


def _strand_detail(x: torch.Tensor) -> torch.Tensor:
    """Fine detail a strand has: a pixel against its blur, and against its neighbours on both sides."""
    return torch.minimum(detail_norm(x - gaussian_blur(x, 1.0)), _ridge(x))


def _ridge(x: torch.Tensor) -> torch.Tensor:
    """How far a pixel stands from its neighbours on both sides, along the axis where it stands
    out most (one and two pixels off): a strand up to two pixels wide stands from the backdrop
    on either side of it; the backdrop beside an edge matches its neighbour away from the edge."""
    h, w = x.shape[-2:]
    pad = F.pad(x, (2, 2, 2, 2), mode="replicate")
    H, W = h + 4, w + 4
    best = torch.zeros_like(x[:, :1])
    for dy, dx in _AXES:
        for r in (1, 2):
            sy, sx = dy * r, dx * r
            # squared step from each padded pixel q to q + s: a pixel's step forward, and (at q - s)
            # its step back
            y0, x0 = max(0, -sy), max(0, -sx)
            y1, x1 = H - max(0, sy), W - max(0, sx)
            d = (pad[..., y0:y1, x0:x1] - pad[..., y0 + sy:y1 + sy, x0 + sx:x1 + sx]).square_().sum(1, keepdim=True)
            fwd = d[..., 2 - y0:2 - y0 + h, 2 - x0:2 - x0 + w]
            bwd = d[..., 2 - sy - y0:2 - sy - y0 + h, 2 - sx - x0:2 - sx - x0 + w]
            best = torch.maximum(best, torch.minimum(fwd, bwd))
    return best.div_(x.shape[1]).sqrt_()


def _fine_detail(x: torch.Tensor, noise: dict[str, torch.Tensor], detail: torch.Tensor) -> np.ndarray:
    """Fine detail (``detail``: :func:`_strand_detail` of ``x``, a pixel against its blur and its
    neighbours on both sides) in tolerances of the backdrop's grain (> 1: a strand; the two sides of
    an edge are not)."""
    tol = REL * x.mean(1, keepdim=True) + QUANT
    return (detail / (K * noise["hf"] + tol))[0, 0].numpy()


def _noise_maps(x: torch.Tensor, expected: torch.Tensor, sure: np.ndarray,
                floor: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Local noise levels over the sure backdrop (cell medians, filled in elsewhere), and (with a
    ``floor`` map) the deepest grey gain a shadow gives there."""
    lum_e = expected.mean(1, keepdim=True).clamp_min(1e-3)
    gain = x.mean(1, keepdim=True) / lum_e
    raw = {
        "hf": detail_norm(x - gaussian_blur(x, 1.0)),
        "col": detail_norm(x - gain * expected),
        "lum": (x.mean(1, keepdim=True) - lum_e).abs(),
    }
    w = _tensor(sure)
    out = {k: _cell_median(v, w) for k, v in raw.items()}
    if floor is not None:
        # on a floor a shadow is soft and shallow beside the feet; a shoe as dark as the floor's own
        # colour made darker is a shoe (brown leather on brown boards)
        out["deepest"] = DEEPEST_SHADOW + (FLOOR_DEEPEST - DEEPEST_SHADOW) * floor
    return out


def _cell_median(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Median of ``v`` over the pixels where ``w`` is 1, per CELL x CELL cell, filled and upsampled."""
    h, wd = v.shape[-2:]
    ph, pw = -h % CELL, -wd % CELL
    vv = F.pad(torch.where(w > 0.5, v, torch.full_like(v, float("nan"))), (0, pw, 0, ph), value=float("nan"))
    ch, cw = vv.shape[-2] // CELL, vv.shape[-1] // CELL
    cells = vv.reshape(ch, CELL, cw, CELL).permute(0, 2, 1, 3).reshape(ch, cw, CELL * CELL)
    med = cells.nanmedian(-1).values
    count = (~cells.isnan()).sum(-1)
    ok = count >= CELL * CELL // 4
    floor = float(med[ok].median()) if bool(ok.any()) else 0.01
    med = torch.where(ok, med, torch.zeros_like(med))[None, None]
    filled = pushpull_fill(med, ok.float()[None, None])
    out = F.interpolate(filled, size=(ch * CELL, cw * CELL), mode="bilinear", align_corners=False)
    return out[..., :h, :wd].clamp_min(max(floor * 0.5, 1e-4))


def _full_res_grain(x: torch.Tensor, f: int, sure: np.ndarray, hf_work: torch.Tensor, tile: int) -> float:
    """Ratio of the fine-detail noise at full resolution to the working one, on sure-backdrop tiles."""
    H, W = x.shape[-2:]
    ratios = []
    t = tile // f
    for r in range(0, sure.shape[0] - t + 1, t):
        for c in range(0, sure.shape[1] - t + 1, t):
            if sure[r : r + t, c : c + t].all():
                xt = x[:, :, r * f : r * f + tile, c * f : c * f + tile]
                full = float(detail_norm(xt - gaussian_blur(xt, 1.0)).median())
                ratios.append(full / max(float(hf_work[0, 0, r : r + t, c : c + t].median()), 1e-4))
            if len(ratios) >= 8:
                break
        if len(ratios) >= 8:
            break
    return float(np.median(ratios)) if ratios else 1.0


def _pockets(subject: np.ndarray, lines: np.ndarray, sure: np.ndarray, p: np.ndarray, plain: np.ndarray,
             gap: int) -> np.ndarray:
    """What a line of evidence close around the subject encloses with it, where the model leans to
    subject or the pixels are mostly not the plain backdrop: the rim of a white hood on a white wall
    (its outline a line, its cloth the wall's tone), a brown shoe on brown boards (its outline found,
    its upper a darker brown than the floor); not the gap under an arm on the hip (closed off by the
    subject alone) nor a stretch of the wall that a crease beside the figure cuts off (the model
    does not lean to subject there, and it is the plain wall)."""
    whole = subject | lines
    pockets = ndimage.binary_fill_holes(ndimage.binary_closing(whole, iterations=gap + 1)) & ~subject
    lab, n = ndimage.label(pockets)
    if n == 0:
        return pockets
    idx = np.arange(1, n + 1)
    # closed off by a thin line (an outline, with or without the subject's evidence taken in), not
    # by thick parts of the subject alone (the gap under an arm on the hip)
    thin = whole & ~ndimage.binary_opening(whole, structure=np.ones((THIN, THIN), bool))
    rim = ndimage.grey_dilation(lab, size=(3, 3)) * ~pockets
    return _pocket_ok(lab, idx, rim, thin, sure, p, plain)[np.maximum(lab - 1, 0)] & (lab > 0)


def _outlined(subject: np.ndarray, lines: np.ndarray, sure: np.ndarray, p: np.ndarray, plain: np.ndarray,
              gap: int) -> np.ndarray:
    """The pieces that lines and the subject close off, each judged on its own as a pocket is (the
    lines split what they enclose: a shoe's outline from the floorboards around it), with the lines
    along the pieces taken in. A piece must border the subject along TOUCH of its rim: a board that
    seams and steps close off beside a leg does not. A few pixels of the model's sure backdrop in it
    (a toe beyond the band around what the model sees) do not make it backdrop: up to SURE_SHARE."""
    whole = subject | lines
    closed = ndimage.binary_closing(whole, iterations=gap + 1)
    enclosed = ndimage.binary_fill_holes(closed) & ~subject
    pieces = enclosed & ~closed
    lab, n = ndimage.label(pieces)
    if n == 0:
        return pieces
    idx = np.arange(1, n + 1)
    rim = ndimage.grey_dilation(lab, size=(3, 3)) * ~pieces
    on_rim = rim > 0
    touch = ndimage.mean(subject[on_rim], rim[on_rim], idx) > TOUCH
    # a line counts as thin however wide its band (a step's two sides), the subject where it is thin
    thin = whole & ~ndimage.binary_opening(subject, structure=np.ones((THIN, THIN), bool))
    ok = _pocket_ok(lab, idx, rim, thin, sure, p, plain, sure_share=SURE_SHARE) & touch
    found = ok[np.maximum(lab - 1, 0)] & (lab > 0)
    return found | (enclosed & ~pieces & ndimage.binary_dilation(found, iterations=gap + 2))


def _pocket_ok(lab: np.ndarray, idx: np.ndarray, rim: np.ndarray, thin: np.ndarray, sure: np.ndarray,
               p: np.ndarray, plain: np.ndarray, *, sure_share: float = 0.0) -> np.ndarray:
    """Which labelled pockets are subject: the model leans to subject there or most pixels are not
    the plain backdrop, no more than ``sure_share`` of it is the sure backdrop (none, by default),
    and BY_LINE of the rim is thin."""
    lean = (ndimage.mean(p, lab, idx) > P_LOW) | (ndimage.mean(plain > 1.0, lab, idx) > 0.5)
    clear = ndimage.mean(sure, lab, idx) > sure_share
    by_line = ndimage.mean(thin[rim > 0], rim[rim > 0], idx) > BY_LINE
    return lean & ~clear & by_line


def _steps(x: torch.Tensor, expected: torch.Tensor) -> np.ndarray:
    """Where the photo's brightness, as a share of the backdrop's expected one, changes by more than
    OUTLINE_STEP per working pixel: the outline of a thing darker or brighter than the floor it
    stands on."""
    return _relative_step(x.mean(1, keepdim=True), expected.mean(1, keepdim=True).clamp_min(1e-3)) > OUTLINE_STEP


def _relative_step(lum: torch.Tensor, level: torch.Tensor) -> np.ndarray:
    """The step the brightness ``lum`` (1, 1, h, w), lightly blurred, makes at each pixel, in shares of
    ``level``: the size of its gradient."""
    return np.hypot(*np.gradient((gaussian_blur(lum, 1.0) / level)[0, 0].numpy()))


def _tensor(m: np.ndarray) -> torch.Tensor:
    """A boolean map as a (1, 1, h, w) float tensor."""
    return torch.from_numpy(m.astype(np.float32))[None, None]


def _connected(mask: np.ndarray, seed: np.ndarray, gap: int) -> np.ndarray:
    """The parts of ``mask`` connected to ``seed`` (8-connected, across gaps of ``gap`` pixels)."""
    lab, _ = ndimage.label(ndimage.binary_dilation(mask, iterations=gap), structure=_EIGHT)
    touching = np.unique(lab[seed & (lab > 0)])
    return np.isin(lab, touching[touching > 0]) & mask


def _upsample(m: np.ndarray, f: int, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(m)[None, None]
    if f > 1:
        t = F.interpolate(t, scale_factor=f, mode="bilinear", align_corners=False)
    return (t[0, 0, : size[0], : size[1]] > 0.5).float().numpy()


def _fill_holes(subject: np.ndarray, seeds: np.ndarray, min_area: float) -> np.ndarray:
    """Fill the subject's small holes; big ones are backdrop (every pixel in them is explained by it)."""
    lab, n = ndimage.label(~subject)
    if n == 0:
        return subject
    idx = np.arange(1, n + 1)
    area = ndimage.sum(np.ones_like(lab), lab, idx)
    keep_bd = np.isin(idx, np.unique(lab[seeds & (lab > 0)])) | (area >= min_area)
    return subject | ~keep_bd[np.maximum(lab - 1, 0)] & (lab > 0)


def _drop_islands(mask: np.ndarray, ev: np.ndarray, min_area: float, seen: np.ndarray, *,
                  gap: int = 0) -> np.ndarray:
    """Keep big components, and small ones that are clearly not backdrop where the model saw
    something (``seen``): a speck of lint out on black cloth is clearly not the cloth, yet no part
    of the subject either. Pieces closer than ``gap`` pixels are one component (a strand whose
    evidence fades for a pixel or two)."""
    grown = ndimage.binary_dilation(mask, iterations=gap) if gap else mask
    labels, n = ndimage.label(grown, structure=_EIGHT)
    labels = labels * mask
    if n <= 1:
        return mask
    idx = np.arange(1, n + 1)
    area = ndimage.sum(mask, labels, idx)
    mean_ev = ndimage.mean(ev, labels, idx)
    clear = (mean_ev >= CLEAR) & (ndimage.maximum(seen.astype(np.uint8), labels, idx) > 0)
    keep = (area >= min_area) | clear
    keep[np.argmax(area)] = True
    return keep[labels - 1] & mask
