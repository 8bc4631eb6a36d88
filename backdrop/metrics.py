"""How uneven and how marked a backdrop is, before and after a cleanup (levels of 255).

Used for the batch's rows and report, the CLI's summary and the benchmarks; computed at the
analysis' working resolution, so it costs a few milliseconds whatever the frame size.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .ops.compose import reduce_source
from .ops.filters import area_resize, atrous_smooth, luminance
from .pipeline import WALL

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Result

__all__ = ["backdrop_stats", "BACKDROP_EDIT"]

# a backdrop pixel for the figures: the cleanup may change it fully (no subject, floor, contact zone); the
# pixels the engine measures a wall's level on
BACKDROP_EDIT = WALL
_STATS = ("spread_before", "spread_after", "defects_before", "defects_after", "level_before", "level_after")


def _work_views(result: "Result", view: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(before, after, backdrop weight) as (1, 1, h, w) luminance at the result's working resolution."""
    a = result.analysis
    edit = a.work["edit"].cpu()
    hm, wm = edit.shape[-2:]
    before = a.work["image"].cpu()
    if a.channels == 1:
        before = before[:, :1]
    out = result.view(view)
    if isinstance(out, np.ndarray):  # integers (H, W, C), rounded for the file
        t, scale = torch.from_numpy(out).permute(2, 0, 1)[None], float((1 << result.bits) - 1)
    else:  # float (C, H, W) over an HxWxC buffer
        t, scale = out[None], 1.0
    after = reduce_source(t, a.factor, scale)
    if after.shape[-2:] != (hm, wm):
        after = area_resize(after, (hm, wm))
    return luminance(before), luminance(after), edit


def _subsample(v: torch.Tensor, most: int = 50_000) -> torch.Tensor:
    """A regular subsample of a 1-D tensor: plenty for a median or a percentile to two decimals."""
    return v[:: v.numel() // most + 1] if v.numel() > most else v


def _defect_map(lum: torch.Tensor, surface: torch.Tensor, backdrop: torch.Tensor) -> torch.Tensor:
    """Per-pixel defect, (1, 1, h, w) in [0, 1] units: how far the backdrop is darker than the clean
    wall at low frequency (shadows, footprints, seam bands; 2 levels of model misfit forgiven) plus
    how far its fine detail (up to ~8 working pixels) stands above 3x the grain (scuffs, creases,
    specks, lint; light or dark). Brighter smooth light is the wall's own and does not count."""
    low = lum
    for j in range(3):
        low = atrous_smooth(low, j)
    detail = lum - low
    grain = 1.4826 * float(_subsample(detail[backdrop].abs()).median())
    marks = (detail.abs() - 3.0 * grain).clamp_min(0.0)
    shadows = (surface - low - 2.0 / 255.0).clamp_min(0.0)
    return marks + shadows


def backdrop_stats(result: "Result", view: str = "preview") -> dict[str, float | None]:
    """How uneven and how marked the backdrop is before and after, in levels of 255.

    ``spread_*``: the backdrop's luminance range, 2nd to 98th percentile (cast shadows and the
    light's own falloff widen it). ``defects_*``: the defect score, the mean over the backdrop of
    how far it is darker than the clean-backdrop model at low frequency (shadows, footprints)
    plus how far its fine detail stands above the paper grain (scuffs, creases, specks, lint);
    0 for a clean backdrop. ``level_*``: the wall's level, its median luminance (what ``tone``
    sets; see :func:`backdrop.pipeline.wall_level`). Computed at the result's working resolution (cheap). Only pixels
    the cleanup may change fully count (not the subject, its feather, a real floor or the
    contact zone); ``None`` when there are none.
    """
    before, after, edit = _work_views(result, view)
    sel = edit > BACKDROP_EDIT
    if int(sel.sum()) < 16:
        return dict.fromkeys(_STATS)
    surface = luminance(result.analysis.work["surface"].float().cpu())
    if surface.shape[-2:] != edit.shape[-2:]:
        surface = area_resize(surface, tuple(edit.shape[-2:]))
    weight = sel.to(surface.dtype)
    count = float(weight.sum())
    out: dict[str, float | None] = {}
    for name, x in (("before", before), ("after", after)):
        lo, hi = torch.quantile(_subsample(x[sel]), torch.tensor([0.02, 0.98], dtype=x.dtype))
        out[f"spread_{name}"] = round(float(hi - lo) * 255.0, 2)
        out[f"defects_{name}"] = round(float((_defect_map(x, surface, sel) * weight).sum()) / count * 255.0, 3)
        out[f"level_{name}"] = round(float(_subsample(x[sel]).median()) * 255.0, 2)
    return {k: out[k] for k in _STATS}
