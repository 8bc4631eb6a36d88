"""The full-resolution stage: a few per-pixel passes, tile by tile.

Everything smooth arrives as maps at the working resolution, which is the full
size divided by an integer factor ``f``. Each tile of the output is

    out = x * A + B                                    (most of the frame)
    out = x + k * (x * (A - 1) + B + fine)             (near the subject, or where fine marks are)

with A and B the upsampled gain and correction maps, ``k`` the full-resolution
protection (0 on every pixel of the subject, so those come back bit-for-bit) and
``fine`` the correction of marks smaller than the working resolution can see.
Tiles stay in cache, so each pass costs a fraction of a whole-frame pass.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._filters import smoothstep
from .texture import detail_norm, mark_weight

__all__ = ["Upsampler", "compose", "tile_noise"]


class Upsampler:
    """Bilinear upsampling (align_corners=False) by an integer factor, one tile at a time.

    ``tile(m, r0, r1, c0, c1)`` equals ``F.interpolate(m, scale_factor=f, mode="bilinear")``
    cropped to rows r0:r1, columns c0:c1 of the full image, computed from the few
    working-resolution pixels around the tile only.
    """

    def __init__(self, factor: int, full_hw: tuple[int, int]):
        self.f = int(factor)
        self.H, self.W = full_hw

    def tile(self, m: torch.Tensor, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        """m: (1, C, h, w) -> (C, r1 - r0, c1 - c0)."""
        f = self.f
        if f == 1:
            return m[0, :, r0:r1, c0:c1]
        h, w = m.shape[-2:]
        m0, m1 = max(r0 // f - 1, 0), min((r1 - 1) // f + 1, h - 1)
        n0, n1 = max(c0 // f - 1, 0), min((c1 - 1) // f + 1, w - 1)
        part = F.interpolate(m[:, :, m0 : m1 + 1, n0 : n1 + 1], scale_factor=f, mode="bilinear", align_corners=False)
        y, x = r0 - m0 * f, c0 - n0 * f
        return part[0, :, y : y + (r1 - r0), x : x + (c1 - c0)]


def _tiles(H: int, W: int, size: int):
    for r0 in range(0, H, size):
        for c0 in range(0, W, size):
            yield r0, min(H, r0 + size), c0, min(W, c0 + size)


def tile_noise(
    x: torch.Tensor,
    ref: torch.Tensor,
    weight: torch.Tensor,
    up: Upsampler,
    *,
    tile: int,
    samples: int = 12,
) -> float:
    """Median detail norm of ``x - upsample(ref)`` over pixels where ``upsample(weight) > 0.9``,
    from a few tiles spread over the frame (a robust noise level of the full-resolution image)."""
    _, H, W = x.shape
    all_tiles = list(_tiles(H, W, tile))
    step = max(1, len(all_tiles) // samples)
    vals = []
    for r0, r1, c0, c1 in all_tiles[::step]:
        wt = up.tile(weight, r0, r1, c0, c1)[0]
        if not bool((wt > 0.9).any()):
            continue
        n = detail_norm((x[:, r0:r1, c0:c1] - up.tile(ref, r0, r1, c0, c1))[None])[0, 0]
        vals.append(n[wt > 0.9])
    if not vals:
        return 1e-3
    v = torch.cat(vals)
    if v.numel() > 400_000:
        v = v[:: v.numel() // 400_000 + 1]
    return max(float(v.median()), 1e-4)


def compose(
    x: torch.Tensor,
    alpha: torch.Tensor,
    up: Upsampler,
    *,
    views: dict[str, tuple[torch.Tensor | None, torch.Tensor | None]],
    free: torch.Tensor,
    protect: torch.Tensor,
    subject: torch.Tensor,
    expected: torch.Tensor,
    match_tol: float,
    fine: dict | None,
    tile: int,
) -> dict[str, torch.Tensor]:
    """Assemble the full-resolution views.

    Args:
        x: (3, H, W) input.
        alpha: (H, W) subject coverage; pixels with alpha > 0 are never changed.
        up: the upsampler from working to full resolution.
        views: name -> (A, B) working-resolution maps, out = x * A + B on free backdrop
            (A None = 1, B None = 0). A and B already carry ``free``.
        free: (1, 1, h, w) how much the backdrop may change, ignoring the subject (floor, contact zone).
        protect: (1, 1, h, w) subject protection (grow + feather).
        subject: (1, 1, h, w) subject coverage at working resolution (> 0 where any pixel is subject).
        expected: (1, 3, h, w) expected backdrop (subject filled in) for the match test.
        match_tol: a protected pixel within this of the expected backdrop is backdrop.
        fine: None, or dict(ref=(1,3,h,w) working image, flag=(1,1,h,w) where fine marks may be,
            sigma=float, strength=float, grain=float, gain=(1,3,h,w) or None for the preview): the
            correction of marks below the working resolution, added as free * k * gain * fine.
        tile: tile size in pixels (a multiple of the factor).
    Returns:
        name -> (3, H, W) float32.
    """
    _, H, W = x.shape
    outs = {name: torch.empty_like(x) for name in views}
    f = up.f
    tm = max(1, tile // f)
    # per-tile decisions from the working-resolution maps (one working pixel of margin)
    def flags(m: torch.Tensor) -> torch.Tensor:
        m = F.max_pool2d(m, 3, stride=1, padding=1)
        return F.max_pool2d(m, tm, stride=tm, ceil_mode=True)[0, 0] > 0

    near = flags(torch.maximum(protect, (subject > 0).to(protect.dtype)))
    all_subject = -F.max_pool2d(-F.max_pool2d(-subject, 3, stride=1, padding=1), tm, stride=tm, ceil_mode=True)[0, 0]
    inside = all_subject >= 1.0  # every pixel of the tile is subject: a copy
    still = flags(free) == 0  # no backdrop may change here (floor, contact zone): a copy
    fine_tiles = flags(fine["flag"]) if fine is not None else None
    fine_all = fine is not None and fine["grain"] < 1.0

    for r0, r1, c0, c1 in _tiles(H, W, tile):
        ti, tj = r0 // tile, c0 // tile
        xt = x[:, r0:r1, c0:c1]
        if bool(inside[ti, tj]) or bool(still[ti, tj]):
            for name in views:
                outs[name][:, r0:r1, c0:c1] = xt
            continue
        is_near = bool(near[ti, tj])
        do_fine = fine is not None and (fine_all or bool(fine_tiles[ti, tj]))
        k = None
        if is_near:
            prot = up.tile(protect, r0, r1, c0, c1)
            dev = detail_norm((xt - up.tile(expected, r0, r1, c0, c1))[None])[0]
            k = (1.0 - prot * smoothstep(dev, match_tol, 2.0 * match_tol)) * (alpha[r0:r1, c0:c1] <= 0)
        d0 = None
        if do_fine:
            d0 = xt - up.tile(fine["ref"], r0, r1, c0, c1)
            p0 = mark_weight(detail_norm(d0[None])[0] / fine["sigma"])
            d0 = d0 * (-fine["strength"] * (p0 + (1.0 - p0) * (1.0 - fine["grain"])))
            d0 = d0 * up.tile(free, r0, r1, c0, c1)
        for name, (A, B) in views.items():
            a = up.tile(A, r0, r1, c0, c1) if A is not None else None
            b = up.tile(B, r0, r1, c0, c1) if B is not None else None
            if d0 is not None and name != "shadows":
                g = fine.get("gain") if name == "preview" else None
                extra = d0 * up.tile(g, r0, r1, c0, c1) if g is not None else d0
                b = extra if b is None else b + extra
            if k is None:
                out = xt * a if a is not None else xt.clone()
                if b is not None:
                    out += b
            else:
                delta = xt * (a - 1.0) if a is not None else torch.zeros_like(xt)
                if b is not None:
                    delta += b
                out = torch.addcmul(xt, k, delta)
            outs[name][:, r0:r1, c0:c1] = out.clamp_(0.0, 1.0)
    return outs
