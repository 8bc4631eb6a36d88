"""The clean-backdrop model and the shadow lift.

The clean wall is a smooth illumination surface fitted at low resolution from
backdrop pixels, robustly: a coarse mesh of cells with sigma-clipped statistics
(astronomy's mesh background), a low-order robust polynomial over the cells
(so a big cast shadow cannot bend the surface), and the cells' own departures
from that polynomial kept where they are not shadows, so the studio light's
falloff and vignette survive. Cells under the subject or the floor are filled
from their neighbours.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .filters import area_resize, check_image, gaussian_blur, luminance, max_filter, pushpull_fill, smoothstep

__all__ = ["backdrop_surface", "fitted_surface", "shadow_gain", "own_tone", "cast_shadow", "falloff", "cut_shadows"]

GRID_CELLS = 48  # illumination mesh cells along the long edge of the fit
CELL = 8  # pixels per mesh cell of the fit
THIN_PART = 3  # :func:`cut_shadows`: a part of the mask this many pixels across or less is a strand's


def _cells(x: torch.Tensor, cell: int) -> torch.Tensor:
    """(1, C, gh*cell, gw*cell) -> (gh, gw, C, cell*cell)."""
    _, c, h, w = x.shape
    gh, gw = h // cell, w // cell
    t = x[0].reshape(c, gh, cell, gw, cell).permute(1, 3, 0, 2, 4)
    return t.reshape(gh, gw, c, cell * cell)


def _poly_basis(gh: int, gw: int, device, dtype) -> torch.Tensor:
    """Cubic polynomial in x, y plus an even radial r**4 term (vignette), on cell centres."""
    half = max(gh, gw) / 2.0
    ys = ((torch.arange(gh, device=device, dtype=dtype) + 0.5) - gh / 2.0) / half
    xs = ((torch.arange(gw, device=device, dtype=dtype) + 0.5) - gw / 2.0) / half
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    r2 = x * x + y * y
    terms = [torch.ones_like(x), x, y, x * x, x * y, y * y, x**3, x * x * y, x * y * y, y**3, r2 * r2]
    return torch.stack(terms, -1).reshape(gh * gw, -1)


def backdrop_surface(
    image: torch.Tensor,
    weight: torch.Tensor,
    *,
    cell: int = 8,
    own: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Fit the clean backdrop's illumination surface.

    Args:
        image: (1, C, H, W) low-resolution image, H and W multiples of ``cell``.
        weight: (1, 1, H, W) in [0, 1]: 1 where the pixel is backdrop that may be used.
        cell: mesh cell size in pixels.
        own: keep the backdrop's own tone (measured either way); False: model it as plain paper.
    Returns:
        surface: (1, C, H, W) the clean backdrop, smooth, defined everywhere.
        outlier: (1, 1, gh, gw) how much each cell was judged a shadow (0..1), for display.
        mottle: the backdrop's own tonal variation (log luminance) beyond a plain paper's: the mottle
            of a painted canvas, the folds of a muslin; 0 on seamless paper. Departures within it
            are the backdrop's look, not shadows.
    """
    check_image(image)
    check_image(weight, "weight")
    _, c, h, w = image.shape
    if h % cell or w % cell:
        raise ValueError(f"image size {h}x{w} is not a multiple of cell={cell}")
    dev, dt = image.device, image.dtype
    gh, gw = h // cell, w // cell
    lum = luminance(image)
    vals = _cells(image, cell)  # gh, gw, C, K
    lv = _cells(lum, cell)[:, :, 0]  # gh, gw, K
    ok = _cells(weight, cell)[:, :, 0] > 0.5

    # light paper: marks and shadows fall dark, clip the low side harder; dark backdrops the other way
    med_all = lum[weight > 0.5].median() if bool((weight > 0.5).any()) else lum.median()
    light = bool(med_all > 0.3)
    k_lo, k_hi = (1.5, 2.5) if light else (2.5, 1.5)

    v = torch.where(ok, lv, torch.full_like(lv, float("nan")))
    for _ in range(4):
        med = torch.nanmedian(v, dim=-1, keepdim=True).values
        mad = torch.nanmedian((v - med).abs(), dim=-1, keepdim=True).values * 1.4826 + 2e-3
        keep = (v >= med - k_lo * mad) & (v <= med + k_hi * mad)
        v = torch.where(keep, v, torch.full_like(v, float("nan")))
    kept = ~torch.isnan(v)
    frac = kept.float().mean(-1)
    valid = frac >= 0.25
    kf = kept.to(dt).unsqueeze(2)
    cell_val = (vals * kf).sum(-1) / kf.sum(-1).clamp_min(1.0)  # gh, gw, C
    cell_val = cell_val.clamp_min(1e-4)

    # robust low-order fit of log luminance over the valid cells (IRLS, asymmetric Tukey)
    basis = _poly_basis(gh, gw, dev, torch.float64)
    logv = torch.log(luminance(cell_val.permute(2, 0, 1)[None])[0, 0]).reshape(-1).double()
    vmask = valid.reshape(-1)
    wts = vmask.double()
    # few valid cells: fall back to a plane, then a constant
    n_valid = int(vmask.sum())
    n_terms = basis.shape[1] if n_valid >= 40 else (3 if n_valid >= 6 else 1)
    basis = basis[:, :n_terms]
    fit = torch.zeros_like(logv)
    for _ in range(12):
        a = basis * wts[:, None]
        coef = torch.linalg.lstsq(a.T @ basis + 1e-6 * torch.eye(n_terms, dtype=basis.dtype, device=dev),
                                  a.T @ torch.nan_to_num(logv)).solution
        fit = basis @ coef
        r = logv - fit
        s = (r[vmask].abs().median() * 1.4826).clamp_min(0.005) if n_valid else torch.tensor(0.01, dtype=r.dtype)
        c_lo, c_hi = (2.5, 4.5) if light else (4.5, 2.5)
        u = torch.where(r < 0, r / (c_lo * s), r / (c_hi * s))
        wts = torch.where(u.abs() < 1, (1 - u * u) ** 2, torch.zeros_like(u)) * vmask.double()
    fit = fit.reshape(gh, gw).to(dt)
    resid = (logv.reshape(gh, gw).to(dt) - fit)
    mottle = own_tone(resid[valid])
    # a cell well below the fit is a shadow (or the seam band); its departure is not kept. A painted
    # or folded backdrop's own darker patches are as far below the fit as its lighter ones are above
    # it: the thresholds start beyond that
    t = 2.0 * mottle if own else 0.0
    if light:
        outlier = smoothstep(-resid, 0.03 + t, 0.08 + t)
    else:
        outlier = smoothstep(resid.abs(), 0.05 + t, 0.12 + t)
    # the soft rim of a shadow: cells next to a shadow that are also (a little) below the fit
    near = F.max_pool2d(outlier[None, None], 3, stride=1, padding=1)[0, 0]
    rim = smoothstep(-resid if light else resid.abs(), 0.004 + t / 2, 0.02 + t / 2)
    outlier = torch.maximum(outlier, near * rim)
    outlier = torch.where(valid, outlier, torch.ones_like(outlier))
    # per-channel log departure from the luminance fit (keeps the wall's colour and local light)
    log_cells = torch.log(cell_val).permute(2, 0, 1)[None]  # 1, C, gh, gw
    dep = log_cells - fit[None, None]
    conf = ((1.0 - outlier) * valid.to(dt))[None, None]
    dep = pushpull_fill(torch.nan_to_num(dep), conf)
    dep = _median3(dep)
    # smooth the cell grid a little; upsample bicubically to the working size
    dep = gaussian_blur(dep, 0.7)
    log_surface = fit[None, None] + dep
    surface = F.interpolate(torch.exp(log_surface), size=(h, w), mode="bicubic", align_corners=False)
    return surface.clamp_min(1e-4), outlier[None, None], mottle


PAPER_TONE = 0.02  # the spread of a plain paper's cells above its fit (grain, light), in log luminance


def own_tone(resid: torch.Tensor) -> float:
    """The backdrop's own tonal variation from the cells' log departures from the smooth fit.

    Shadows only darken, so the cells *above* the fit tell the backdrop's own mottle or folds: the
    spread from the median to the 98th percentile, less what a plain paper shows (0 there).
    """
    if resid.numel() < 16:
        return 0.0
    q = torch.quantile(resid.float(), torch.tensor([0.5, 0.98], device=resid.device))
    return max(0.0, float(q[1] - q[0]) - PAPER_TONE)


def _median3(x: torch.Tensor) -> torch.Tensor:
    """3x3 median over a small (1, C, h, w) grid (replicate edges)."""
    _, c, h, w = x.shape
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    patches = F.unfold(p, 3).reshape(1, c, 9, h, w)
    return patches.median(dim=2).values


def fitted_surface(x_fill: torch.Tensor, weight: torch.Tensor, *, own: bool = True) -> tuple[torch.Tensor, float]:
    """:func:`backdrop_surface` on a mesh of up to GRID_CELLS cells along the long edge, at the size of
    ``x_fill`` (the photo with what is not backdrop filled in; ``weight`` 1 on the backdrop to fit):
    the clean-backdrop surface, and the backdrop's own tonal variation."""
    h, w = x_fill.shape[-2:]
    gl = max(8, min(GRID_CELLS, max(h, w) // CELL))
    gh, gw = (max(2, round(gl * h / w)), gl) if w >= h else (gl, max(2, round(gl * w / h)))
    x_low = area_resize(x_fill, (gh * CELL, gw * CELL))
    fit_weight = area_resize(weight, (gh * CELL, gw * CELL))
    surface_low, _, mottle = backdrop_surface(x_low, (fit_weight > 0.99).to(x_low.dtype), cell=CELL, own=own)
    return area_resize(surface_low, (h, w)), mottle


def shadow_gain(
    image: torch.Tensor,
    surface: torch.Tensor,
    *,
    sigma_small: float,
    sigma_large: float,
    mottle: float = 0.0,
    subject: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel gain that lifts smooth departures below the clean surface, at full lift.

    The gain at a lift slider of ``lift`` (0..1) is ``1 + lift * step``.

    A pixel is lifted by ``surface / local level``. Inside a broad shadow (the large blur
    dark too), up to its edge, the local level is the small blur, which follows the
    penumbra; elsewhere it is the larger of a small and a large blur: just outside a
    shadow's edge the small blur is at the wall level, so nothing is over-brightened,
    and a small dark mark does not move the large blur, so it is left to the texture pass.

    Args:
        image: (1, C, H, W) image with the subject already filled from the backdrop.
        surface: (1, C, H, W) clean backdrop.
        sigma_small, sigma_large: blur radii in pixels.
        mottle: the backdrop's own tonal variation (:func:`own_tone`). Above 0 (a painted canvas, a
            muslin's folds), with ``subject``, only the subject's cast shadow is lifted
            (:func:`cast_shadow`): the backdrop's own darker patches are its look.
        subject: (1, 1, H, W) > 0.5 on the subject and its protection.
    Returns:
        step: (1, C, H, W) the gain at full lift minus one: > 0 where lifted, 0 elsewhere.
        shadow: (1, 1, H, W) shadow depth 0..1 (the shadow map), before the slider.
    """
    check_image(image)
    small = gaussian_blur(image, sigma_small)
    large = gaussian_blur(image, sigma_large)
    y_small, y_large, y_surf = luminance(small), luminance(large), luminance(surface)
    # inside a broad shadow, up to its edge, the small blur follows the penumbra (the larger of the
    # two would leave a dark outline just inside the edge); where only the small blur is dark (a
    # mark, left to the texture pass) or just outside the edge, the larger of the two is used
    d_small = (1.0 - y_small / y_surf).clamp_min(0.0)
    d_large = (1.0 - y_large / y_surf).clamp_min(0.0)
    broad = smoothstep(d_large / d_small.clamp_min(1e-4), 0.15, 0.45) * smoothstep(d_large, 0.01, 0.03)
    cast = None
    if mottle > 0 and subject is not None:
        # a mottled or folded backdrop's own dark patches and troughs are its look: only the
        # subject's cast shadow (deeper than that tone, reaching the subject) and its rim are lifted
        cast = cast_shadow(d_large, subject, depth=0.03 + 3.0 * mottle, reach=4.0 * sigma_large)
    local = torch.where(y_small >= y_large, small, large)  # the brighter of the two
    del large, y_large, d_small, d_large
    local = local.mul_(1.0 - broad).addcmul_(broad, small)
    del small, y_small
    deficit = (1.0 - luminance(local) / y_surf).clamp_min(0.0)
    # small departures are left alone (the surface is a model), except in a broad shadow's faint
    # outer tail, which would otherwise stay as a thin ring
    lo, hi = 0.01 - 0.008 * broad, 0.035 - 0.025 * broad
    t = ((deficit - lo) / (hi - lo)).clamp(0.0, 1.0)
    gate = t * t * (3.0 - 2.0 * t)
    if cast is not None:
        gate = gate.mul_(cast)
        # a backdrop with a tone of its own has a hue of its own too (a canvas's blotches), which
        # the surface cannot know under a shadow: the lift scales the channels alike, so the hue
        # under the shadow stays as painted (a shadow's own tint, from a bluer fill, stays too)
        step = (y_surf / luminance(local).clamp_min_(1e-4)).clamp_(0.25, 8.0).sub_(1.0).mul_(gate)
        return step.expand_as(surface).contiguous(), deficit.mul_(gate)
    # colour: scale the channels so the lifted level matches the surface's colour
    step = torch.div(surface, local.clamp_min_(1e-4)).clamp_(0.25, 8.0).sub_(1.0).mul_(gate)
    return step, deficit.mul_(gate)


def cast_shadow(deficit: torch.Tensor, subject: torch.Tensor, *, depth: float, reach: float,
                floor: float = 0.01) -> torch.Tensor:
    """Where the subject's cast shadow is, with its penumbra: the regions darker than ``depth`` below
    the clean backdrop that reach the subject, grown through the darkening around them (deeper than
    ``floor``) by up to ``reach`` pixels.

    A cast shadow lies beside the subject and joins it (the subject stands in front of the backdrop it
    falls on); a painted canvas's dark blotches and a muslin's fold troughs lie anywhere.

    Args:
        deficit: (1, 1, H, W) smooth darkening below the clean backdrop (0..1).
        subject: (1, 1, H, W) > 0.5 on the subject (and its protection).
        depth: the darkening a shadow's core goes beyond.
        reach: how far the penumbra may reach beyond the core, pixels.
        floor: the faintest darkening the penumbra is followed through.
    Returns:
        (1, 1, H, W) in [0, 1].
    """
    d, near, f = _coarse(deficit, subject)
    labels, n = ndimage.label(d > depth)
    hit = np.unique(labels[near])
    return _grown(np.isin(labels, hit[hit > 0]), d, f, deficit, reach=reach, floor=floor, soft=0.25 * reach)


def cut_shadows(shadow: torch.Tensor, subject: torch.Tensor, core: torch.Tensor, unsure: torch.Tensor, *,
                reach: float, share: float = 0.5, floor: float = 0.01) -> torch.Tensor:
    """The shadows that the mask's edge cuts across where the mask is unsure: each region of the
    shadow map (deeper than ``floor``) whose contact with the mask's edge is mostly unsure there.

    Where the mask took in a stretch of shaded wall (a segmenter's mask around balloons, below a
    sleeve) or its edge runs halfway across a hood out of focus, the shadow runs on under the
    mask, which keeps it as shot: lifted outside only, it ended in a pale patch along the mask's
    edge, a tinted seam where the photo has none. Such a shadow is kept whole. A cast shadow that
    reaches the subject's own outline (a step in the photo) is lifted up to it, as before; so is
    one that only strands cross (a strand's mask is thin, and over plain wall it is unsure too),
    and one beyond a loose mask's margin of wall (``unsure`` leaves such a margin out).

    Args:
        shadow: (1, 1, H, W) the shadow map (depth 0..1).
        subject: (1, 1, H, W) subject coverage; core: (1, 1, H, W) > 0.5 where the mask holds every
            pixel (the subject and its grow margin).
        unsure: (1, 1, H, W) > 0.5 on the mask's edge where a shadow may run on under the mask
            (:func:`unsure_edges`' second map: it took in a stretch of wall, or cuts a soft edge).
        reach: how far the protection reaches from the mask's edge (grow + feather), pixels: a
            cut region is followed this far into the grow margin (where a pixel that matches the
            backdrop is lifted too).
        share: a region is cut when more than this share of its contact with the edge is unsure.
    Returns:
        (1, 1, H, W) in [0, 1]: 1 over the shadows to keep.
    """
    f = _coarse_factor(shadow)
    pool = (lambda t: F.avg_pool2d(t, f, ceil_mode=True)) if f > 1 else (lambda t: t)
    host = lambda t: pool(t.to(shadow.dtype))[0, 0].cpu().numpy()  # noqa: E731
    d = host(shadow)
    inside, solid, doubt = host(core > 0.5) > 0.5, host(subject >= 0.5) > 0.5, host(unsure > 0.5) > 0
    # regions outside the mask (two shadows either side of a figure do not join under it)
    labels, n = ndimage.label((d > floor) & ~inside, structure=np.ones((3, 3), bool))
    if n == 0 or not doubt.any():
        return torch.zeros_like(shadow)
    # the edge of the mask's body, and the region each of its cells faces: a strand's mask is no
    # stretch of wall taken in
    eight = np.ones((3, 3), bool)
    body = ndimage.binary_opening(solid, eight, iterations=max(1, round(THIN_PART / f)))
    rim = body & ~ndimage.binary_erosion(body, eight, border_value=1)  # (the frame's edge is none)
    dist, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    facing = rim & (dist <= ndimage.distance_transform_edt(inside) + 1.5)  # just past the grow margin
    faced = labels[iy[facing], ix[facing]]
    touching = np.bincount(faced, minlength=n + 1)
    unsure_n = np.bincount(faced[ndimage.binary_dilation(doubt, eight)[facing]], minlength=n + 1)
    cut = unsure_n > share * np.maximum(touching, 1)
    cut[0] = False
    if not cut.any():
        return torch.zeros_like(shadow)
    kept = ndimage.binary_dilation(cut[labels], eight, iterations=max(1, round(reach / f)),
                                   mask=cut[labels] | (inside & (d > floor)))
    return _grown(kept, d, f, shadow, reach=0.0, floor=floor, margin=float(f), soft=float(f))


def falloff(deficit: torch.Tensor, objects: torch.Tensor, *, reach: float, hard: float = 0.0,
            floor: float = 0.01, whole: bool = False, backdrop: torch.Tensor | None = None) -> torch.Tensor:
    """The soft edge of objects foreign to the backdrop: the departure from it that joins each
    object, as far out as the object's edge typically reaches (up to ``reach`` pixels). A shelf or
    a flag out of focus darkens the wall beside it like a penumbra, a window's glow brightens it;
    taken to the wall's level up to the object, that edge ends in a step. A hard set edge has none,
    and a seam's shadow that runs into it is cleaned.

    Args:
        deficit: (1, 1, H, W) smooth departure from the clean backdrop on the objects' side of it
            (darker for dark objects, brighter for bright ones), >= 0.
        objects: (1, 1, H, W) > 0.5 on the objects.
        hard: an edge reaching out no further than this many pixels is hard (the blur of
            ``deficit`` spreads any edge this far).
        whole: all of the departure that joins the objects, up to ``reach`` (for what is surely
            no backdrop at all: the shade of a room).
        backdrop: (1, 1, H, W) > 0.5 where the frame is backdrop (the rest, the subject, has no
            edge of the objects to measure); default everywhere.
    Returns:
        (1, 1, H, W) in [0, 1].
    """
    d, near, f = _coarse(deficit, objects)
    grown = ndimage.binary_dilation(near & (d > floor), iterations=max(1, round(reach / f)), mask=d > floor)
    if whole:
        return _grown(grown, d, f, deficit, reach=0.0, floor=floor, margin=0.5 * reach, soft=0.25 * reach)
    # how far the departure reaches out from each pixel of an object's rim on the backdrop; its
    # median over the rim is how far the object's edge reaches (a mark that runs into the object
    # reaches out from a few rim pixels only)
    dist, (iy, ix) = ndimage.distance_transform_edt(~near, return_indices=True)
    out = grown & ~near
    width = np.zeros(d.shape, np.float32)
    np.maximum.at(width, (iy[out], ix[out]), dist[out])
    labels, n = ndimage.label(near, structure=np.ones((3, 3), bool))
    seen = np.ones(d.shape, bool)
    if backdrop is not None:
        b = backdrop if f == 1 else F.avg_pool2d(backdrop, f, ceil_mode=True)
        seen = b[0, 0].cpu().numpy() > 0.5
    rim = near & ndimage.binary_dilation(~near & seen)
    if n == 0 or not rim.any():
        return torch.zeros_like(deficit)
    typical = np.zeros(n + 1, np.float32)
    typical[1:] = np.nan_to_num(ndimage.median(width, labels * rim, np.arange(1, n + 1)))
    reach_here = typical[labels[iy, ix]]
    edge = grown & (reach_here * f > hard) & (dist <= 1.5 * reach_here)
    if not edge.any():
        return torch.zeros_like(deficit)
    # the zone's own soft rim lies outside the departure: the edge is kept whole, up to where it fades
    soft = 0.25 * f * float(typical[typical * f > hard].max())
    return _grown(edge, d, f, deficit, reach=0.0, floor=floor, margin=2.0 * soft, soft=soft)


def _coarse_factor(like: torch.Tensor) -> int:
    """The factor of the coarse grid on the host (at most 256 cells along the long edge)."""
    return max(1, int(max(like.shape[-2:]) // 256))


def _coarse(deficit: torch.Tensor, seeds: torch.Tensor) -> tuple[np.ndarray, np.ndarray, int]:
    """``deficit`` on a coarse grid on the host (connectivity there: one small trip), where
    ``seeds`` (> 0.5) are or touch, and the grid's factor."""
    f = _coarse_factor(deficit)
    d = (F.avg_pool2d(deficit, f, ceil_mode=True) if f > 1 else deficit)[0, 0].cpu().numpy()
    s = (seeds > 0.5).to(deficit.dtype)
    s = F.max_pool2d(s, 2 * f + 1, stride=f, padding=f, ceil_mode=True) if f > 1 else max_filter(s, 3)
    return d, s[0, 0, : d.shape[0], : d.shape[1]].cpu().numpy() > 0, f


def _grown(seeds: np.ndarray, d: np.ndarray, f: int, like: torch.Tensor, *, reach: float,
           floor: float, soft: float, margin: float = 0.0) -> torch.Tensor:
    """``seeds`` grown through the darkening ``d`` deeper than ``floor`` by up to ``reach`` pixels,
    then by ``margin`` pixels more anywhere, at ``like``'s size, soft over ``soft`` pixels."""
    if not seeds.any():
        return torch.zeros_like(like)
    # (at least one step: scipy repeats a dilation of 0 iterations until nothing changes)
    grown = ndimage.binary_dilation(seeds, iterations=max(1, round(reach / f)), mask=d > floor) if reach else seeds
    if margin:
        grown = ndimage.binary_dilation(grown, np.ones((3, 3), bool), iterations=max(1, round(margin / f)))
    region = torch.from_numpy(grown.astype(np.float32)).to(like)[None, None]
    if f > 1:
        region = F.interpolate(region, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return gaussian_blur(region, max(soft, 1.0)).clamp_(0.0, 1.0)
