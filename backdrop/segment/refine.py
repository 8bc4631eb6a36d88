"""Refine a coarse subject mask against the image: edges better than the model.

A person-segmentation model gives a coarse, blobby mask (MediaPipe's is 256x256).
Around its edge, a pixel that departs from the expected clean backdrop is subject
(a strand of hair, a sleeve the model missed) and one that matches it is backdrop
(a patch of wall the model swallowed). Holes inside the subject are filled and
small islands on the backdrop dropped, unless they are clearly not backdrop.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .._compose import Upsampler
from .._filters import gaussian_blur, pushpull_fill, reduce_by, smoothstep, work_factor
from ..texture import detail_norm

__all__ = ["refine_mask"]

WORK_LONG_EDGE = 1024
BAND = 0.04  # half-width of the band around the coarse edge, fraction of the short edge
MIN_ISLAND = 0.002  # islands smaller than this share of the frame are dropped ...
CLEAR = 3.0  # ... unless they stand this many tolerances off the backdrop


def refine_mask(image: np.ndarray, coarse: np.ndarray, *, tile: int = 256) -> np.ndarray:
    """Refine a coarse subject probability against the image.

    Args:
        image: float32 HxWx3 in [0, 1].
        coarse: float32 hxw subject probability at any resolution (resized here).
    Returns:
        float32 HxW in [0, 1]: 1 = subject; soft only where a pixel is partly subject.
    """
    H, W = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    f = work_factor(H, W, WORK_LONG_EDGE)
    xm = reduce_by(x, f)
    hm, wm = xm.shape[-2:]
    short = min(hm, wm)
    p = F.interpolate(torch.from_numpy(np.asarray(coarse, np.float32))[None, None], size=(hm, wm),
                      mode="bilinear", align_corners=False)[0, 0].numpy()
    core = ndimage.binary_fill_holes(p > 0.5)
    if not core.any():
        return np.zeros((H, W), np.float32)
    inside = ndimage.distance_transform_edt(core)
    outside = ndimage.distance_transform_edt(~core)
    band = np.where(core, inside, outside) <= BAND * short
    sure_bd = ~core & ~band
    # the expected backdrop: the sure backdrop, filled across the band from both sides
    known = torch.from_numpy(sure_bd.astype(np.float32))[None, None]
    expected = gaussian_blur(pushpull_fill(xm, known), 1.0)
    dev = detail_norm(xm - expected)[0, 0].numpy()
    sel = dev[sure_bd]
    sigma = float(np.median(sel)) if sel.size else 0.01
    t1 = 3.0 * sigma + 0.02
    t2 = 2.0 * t1
    # at working resolution: the band decided by the backdrop model, the rest by the model
    work = np.where(band, dev > t1, core)
    work = ndimage.binary_fill_holes(work)
    work = _drop_islands(work, dev, t2 * CLEAR / 2.0, MIN_ISLAND * hm * wm)
    # full resolution: the same decision per pixel in the band, soft where partly subject
    band_t = torch.from_numpy(ndimage.binary_dilation(band, iterations=1).astype(np.float32))[None, None]
    work_t = torch.from_numpy(work.astype(np.float32))[None, None]
    up = Upsampler(f, (H, W))
    out = np.empty((H, W), np.float32)
    out_t = torch.from_numpy(out)
    for r0 in range(0, H, tile):
        r1 = min(H, r0 + tile)
        for c0 in range(0, W, tile):
            c1 = min(W, c0 + tile)
            base = up.tile(work_t, r0, r1, c0, c1)[0, 0]
            b = up.tile(band_t, r0, r1, c0, c1)[0, 0]
            if not bool((b > 0).any()):
                out_t[r0:r1, c0:c1] = (base > 0.5).float()
                continue
            xt = x[:, :, r0:r1, c0:c1]
            d = detail_norm(xt - up.tile(expected, r0, r1, c0, c1))[0, 0]
            soft = smoothstep(d, t1, t2)
            # in the band, the pixel decides; keep the working decision's connectivity:
            # nothing far from the refined subject is taken in
            near = up.tile(_grow(work_t, 2), r0, r1, c0, c1)[0, 0] > 0
            refined = torch.where(near, soft, torch.zeros_like(soft))
            out_t[r0:r1, c0:c1] = torch.where(b > 0.5, refined, (base > 0.5).float())
    return out


def _grow(m: torch.Tensor, r: int) -> torch.Tensor:
    return F.max_pool2d(m, 2 * r + 1, stride=1, padding=r)


def _drop_islands(mask: np.ndarray, dev: np.ndarray, clear: float, min_area: float) -> np.ndarray:
    """Keep big components, and small ones that are clearly not backdrop."""
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    idx = np.arange(1, n + 1)
    area = ndimage.sum(mask, labels, idx)
    mean_dev = ndimage.mean(dev, labels, idx)
    keep = (area >= min_area) | (mean_dev >= clear)
    keep[np.argmax(area)] = True
    return keep[labels - 1] & mask
