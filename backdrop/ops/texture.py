"""Texture smoothing by frequency separation.

The backdrop (with the subject and floor filled in, so no subject colour can
bleed out) is split by an à-trous wavelet into detail bands of size ~2**j
pixels and a low-frequency remainder (the lighting), which is left untouched.
In each band, detail that stands far above the paper grain of that band
(pointwise or in its neighbourhood) is a mark and is removed by the slider;
the grain itself is kept (or reduced by the ``grain`` knob).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

from .filters import atrous_smooth, check_image, smoothstep

__all__ = ["texture_layers", "band_noise", "mark_weight", "detail_norm", "GlowHold"]

# a detail is a mark from K_LO grain-sigmas on, fully from K_HI
K_LO, K_HI = 4.0, 7.0
# a light's glow that hugs the subject (light bounced off a white sleeve, a rim light's spill) is the
# wall's light, not a mark (:class:`GlowHold`): in the bands this coarse and coarser (2**GLOW_BAND
# working pixels on) ...
GLOW_BAND = 2
# ... a mark brighter than the wall that joins the subject's protection is kept within this share of
# the short edge of it ...
GLOW_REACH = 0.06
# ... where no more than this share of its strongest part lies by the finest band's marks (an edge)
GLOW_EDGED = 0.25
EIGHT = np.ones((3, 3), bool)


def detail_norm(c: torch.Tensor) -> torch.Tensor:
    """RMS over channels of a (B, C, H, W) detail band -> (B, 1, H, W)."""
    return c.pow(2).mean(1, keepdim=True).sqrt_()


# the 90th percentile of a gaussian detail's magnitude is this many times its median
Q90_PER_MEDIAN = 1.6449 / 0.6745


def band_noise(norm: torch.Tensor, weight: torch.Tensor, *, max_samples: int = 100_000, own: bool = False) -> float:
    """Robust grain level of a band: the median of the detail norm over backdrop pixels.

    ``own``: the backdrop's own texture counts as grain too. A weave, a canvas's mottle or a
    muslin's folds cover the whole backdrop, so where the band's 90th percentile stands above a
    gaussian grain's, the level is taken from it; marks are too rare to move it.
    """
    sel = norm[weight > 0.5]
    if sel.numel() == 0:
        sel = norm.reshape(-1)
    if sel.numel() > max_samples:
        sel = sel[:: sel.numel() // max_samples + 1]
    level = float(sel.median())
    if own:
        level = max(level, float(torch.quantile(sel, 0.9)) / Q90_PER_MEDIAN)
    return max(level, 1e-4)


def mark_weight(score: torch.Tensor) -> torch.Tensor:
    """0 for grain-level detail, 1 for marks; ``score`` is detail / grain sigma."""
    return smoothstep(score, K_LO, K_HI)


class GlowHold:
    """The marks of a band that are a light's glow hugging the subject, to keep whole.

    Light bounced off a white sleeve or a rim light's spill brightens the wall beside the subject
    softly, in the coarse bands only. Taken for a mark, it was removed up to the subject's protection
    and kept inside it: a pale patch with an edge on smooth wall (the feather fades nothing where a
    pixel matches the backdrop; pibooth_portrait_capture3_greywall's sleeve, a 24-level step). A
    region of a band's marks is such a glow when it joins the protection, is brighter than the wall
    where it does and where its detail is strongest (by a mark's K_LO grain-sigmas there), and its
    strongest part has no edge (few of the finest band's marks by it). It is kept whole out to where the
    band's mark weight fades, up to GLOW_REACH from the protection and fading out beyond. A dark mark
    (a scuff, a footprint) is not light, and its bright rim is not its strongest part; a bright mark
    (tape, a speck) has an edge; a seam or a wall's broad light that joins the subject is held only
    near it, and fades in beyond over the band's scale.

    Args:
        core: (1, 1, h, w) > 0.5 where the protection holds every pixel (the subject and its grow margin).
    """

    def __init__(self, core: torch.Tensor):
        self.inside = core[0, 0].cpu().numpy() > 0.5
        self.contact = ndimage.binary_dilation(self.inside, EIGHT) & ~self.inside
        self.reach = GLOW_REACH * min(self.inside.shape)
        self._dist = None
        self.edged = np.zeros_like(self.inside)

    def edges(self, fine: torch.Tensor) -> None:
        """Take the finest band's mark weight (1, 1, h, w): where it is a mark, and the pixel beside, is
        an edge."""
        self.edged = ndimage.binary_dilation(fine[0, 0].cpu().numpy() > 0.5, EIGHT)

    def __call__(self, p: torch.Tensor, c: torch.Tensor, norm: torch.Tensor, *, sigma: float,
                 scale: int) -> torch.Tensor:
        """p: (1, 1, h, w) a band's mark weight; c: (1, C, h, w) its detail (log space); norm: (1, 1, h, w)
        its norm (:func:`detail_norm`); sigma: the band's grain level; scale: its size, working pixels
        (:meth:`edges` first).
        Returns (1, 1, h, w) in [0, 1]: 1 over the glows to keep, else 0."""
        host = lambda t: t[0, 0].cpu().numpy()  # noqa: E731
        marked = host(p > 0.5) & ~self.inside
        labels, n = ndimage.label(marked, structure=EIGHT)
        if n == 0 or not self.contact.any():
            return torch.zeros_like(p)
        per = lambda where, w=None: np.bincount(labels[where], w, minlength=n + 1)  # noqa: E731
        # a region's own detail is where it is strongest (on a smooth wall, a coarse band's faint marks
        # of the light's curve join it far and wide): brighter than the wall there and where it joins
        # the protection (a dark scuff's bright rim may join it), with few fine marks by it (an edge)
        norm, light = host(norm), host(c.mean(1, keepdim=True))
        peak = np.zeros(n + 1, norm.dtype)
        np.maximum.at(peak, labels[marked], norm[marked])
        strong = marked & (norm >= 0.5 * peak[labels])
        glow = ((per(self.contact, light[self.contact]) > 0) & (per(self.contact) > 0)
                & (per(strong, light[strong]) > K_LO * sigma * per(strong))
                & (per(strong & self.edged) <= GLOW_EDGED * per(strong)))
        glow[0] = False
        if not glow.any():
            return torch.zeros_like(p)
        if self._dist is None:
            self._dist = ndimage.distance_transform_edt(~self.inside)
        # out to where the band's weight fades (and into the grow margin: pixels there that match the
        # backdrop take the cleanup too), up to GLOW_REACH from the protection, fading out beyond over the
        # band's scale: a region that runs on further (a seam, a wall's broad light) is held near the subject
        grow = 2 * scale
        seeds = glow[labels] & (self._dist <= self.reach)
        rows, cols = np.nonzero(seeds.any(1))[0], np.nonzero(seeds.any(0))[0]
        if rows.size == 0:
            return torch.zeros_like(p)
        box = (slice(max(rows[0] - grow, 0), rows[-1] + grow + 1), slice(max(cols[0] - grow, 0), cols[-1] + grow + 1))
        kept = np.zeros(seeds.shape, np.float32)
        kept[box] = ndimage.binary_dilation(seeds[box], EIGHT, iterations=grow,
                                            mask=host(p > 0.01)[box] | self.inside[box])
        fade = 1.0 - np.clip((self._dist[box] - self.reach) / grow, 0.0, 1.0)
        kept[box] *= (fade * fade * (3.0 - 2.0 * fade)).astype(np.float32)
        return torch.from_numpy(kept).to(p)[None, None]


def texture_layers(
    image: torch.Tensor,
    editable: torch.Tensor,
    *,
    levels: int | None = None,
    own: bool = False,
    core: torch.Tensor | None = None,
    spend: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split the detail of a backdrop into its marks and its grain, for any slider setting.

    The texture slider removes ``strength * (marks + (1 - grain) * grain_layer)``: each band's
    marks, and the share of its grain that is not kept. Both layers are computed once; moving a
    slider only weighs them again.

    Args:
        image: (1, C, H, W) backdrop image, subject and floor already filled.
        editable: (1, 1, H, W) where the backdrop is judged (for the grain level).
        levels: number of wavelet bands (default: up to ~1/12 of the short edge).
        own: keep the backdrop's own texture in each band (:func:`band_noise`): soft folds, mottle.
        core: (1, 1, H, W) > 0.5 where the subject's protection holds every pixel: a light's glow
            that hugs it is kept whole (:class:`GlowHold`).
        spend: ``image`` is the caller's to let go of: the grain is made in it (one frame less).
    Returns:
        marks: (1, C, H, W) the detail judged a mark, band by band (share ``p`` of each band).
        grain: (1, C, H, W) the rest of the detail (share ``1 - p``).
        fine: (1, 1, H, W) mark weight of the finest band (where marks smaller than two
            working pixels are).
    Example:
        >>> x = torch.rand(1, 3, 64, 64); m, g, f = texture_layers(x, torch.ones(1, 1, 64, 64))
        >>> m.shape, f.shape
        (torch.Size([1, 3, 64, 64]), torch.Size([1, 1, 64, 64]))
    """
    check_image(image)
    check_image(editable, "editable")
    if levels is None:
        levels = max(1, int(math.floor(math.log2(max(min(image.shape[-2:]) / 12.0, 2.0)))))
    marks = torch.zeros_like(image)
    fine = torch.zeros_like(image[:, :1])
    hold = GlowHold(core) if core is not None and levels > GLOW_BAND else None
    cur = image
    for j in range(levels):
        smooth = atrous_smooth(cur, j)
        c = cur - smooth if j == 0 else cur.sub_(smooth)  # (the image itself is kept; a band's smooth is not)
        n = detail_norm(c)
        sigma = band_noise(n, editable, own=own)
        # a neighbourhood of faint detail is a mark too; one strong pixel does not make its neighbours one
        capped = n.clamp_max(K_HI * sigma)
        energy = atrous_smooth(capped.mul_(capped), j).sqrt_()
        del capped
        p = mark_weight(torch.maximum(n, energy).div_(sigma))
        del energy
        if j == 0:
            fine = p
            if hold is not None:
                hold.edges(fine)
        elif j >= GLOW_BAND and hold is not None:
            p = p * (1.0 - hold(p, c, n, sigma=sigma, scale=2**j))
        marks.addcmul_(p, c)
        cur = smooth
    # all the detail is image - cur; what is not a mark is grain
    return marks, (image.sub_(cur) if spend else image - cur).sub_(marks), fine
