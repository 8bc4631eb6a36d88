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

import torch

from .filters import atrous_smooth, check_image, smoothstep

__all__ = ["texture_layers", "band_noise", "mark_weight", "detail_norm"]

# a detail is a mark from K_LO grain-sigmas on, fully from K_HI
K_LO, K_HI = 4.0, 7.0


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


def texture_layers(
    image: torch.Tensor,
    editable: torch.Tensor,
    *,
    levels: int | None = None,
    own: bool = False,
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
    cur = image
    for j in range(levels):
        smooth = atrous_smooth(cur, j)
        c = cur - smooth
        n = detail_norm(c)
        sigma = band_noise(n, editable, own=own)
        # a neighbourhood of faint detail is a mark too; one strong pixel does not make its neighbours one
        capped = n.clamp_max(K_HI * sigma)
        energy = atrous_smooth(capped * capped, j).sqrt_()
        p = mark_weight(torch.maximum(n, energy) / sigma)
        if j == 0:
            fine = p
        marks.addcmul_(p, c)
        cur = smooth
    # all the detail is image - cur; what is not a mark is grain
    return marks, (image - cur).sub_(marks), fine
