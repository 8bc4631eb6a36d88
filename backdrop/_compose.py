"""The full-resolution stage: a few per-pixel passes, tile by tile.

Everything smooth arrives as maps at the working resolution, which is the full
size divided by an integer factor ``f``. Each tile of the output is

    out = x * M                                  (most of the frame)
    out = x + k * (x * (M - 1) + fine)           (near the subject, or where fine marks are)

with M the upsampled per-channel ratio (shadow lift times texture correction), ``k`` the full-resolution
protection (0 on every pixel of the subject, so those come back bit-for-bit) and
``fine`` the correction of marks smaller than the working resolution can see.
Tiles stay in cache, so each pass costs a fraction of a whole-frame pass.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._filters import smoothstep
from .texture import K_HI, K_LO, detail_norm

__all__ = ["Upsampler", "compose", "tile_noise"]

# a tile whose correction stays below this everywhere (a twentieth of an 8-bit level) is copied
SKIP_BELOW = 0.05 / 255.0


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
        """m: (1, C, h, w) -> (1, C, r1 - r0, c1 - c0), in ``m``'s memory format."""
        f = self.f
        if f == 1:
            return m[:, :, r0:r1, c0:c1]
        h, w = m.shape[-2:]
        m0, m1 = max(r0 // f - 1, 0), min((r1 - 1) // f + 1, h - 1)
        n0, n1 = max(c0 // f - 1, 0), min((c1 - 1) // f + 1, w - 1)
        part = F.interpolate(m[:, :, m0 : m1 + 1, n0 : n1 + 1], scale_factor=f, mode="bilinear", align_corners=False)
        y, x = r0 - m0 * f, c0 - n0 * f
        return part[:, :, y : y + (r1 - r0), x : x + (c1 - c0)]


def _flag_box(flag: torch.Tensor, r0: int, r1: int, c0: int, c1: int, f: int):
    """Full-resolution box (y0, y1, x0, x1) inside the tile around its flagged working pixels, or None."""
    h, w = flag.shape[-2:]
    m0, m1 = r0 // f, min(-(-r1 // f), h)
    n0, n1 = c0 // f, min(-(-c1 // f), w)
    sub = flag[0, 0, m0:m1, n0:n1] > 0
    if not bool(sub.any()):
        return None
    rows = torch.nonzero(sub.any(1)).flatten()
    cols = torch.nonzero(sub.any(0)).flatten()
    y0 = max(r0, (m0 + int(rows[0])) * f)
    y1 = min(r1, (m0 + int(rows[-1]) + 1) * f)
    x0 = max(c0, (n0 + int(cols[0])) * f)
    x1 = min(c1, (n0 + int(cols[-1]) + 1) * f)
    return y0, y1, x0, x1


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
    H, W = x.shape[-2:]
    all_tiles = list(_tiles(H, W, tile))
    step = max(1, len(all_tiles) // samples)
    vals = []
    for r0, r1, c0, c1 in all_tiles[::step]:
        wt = up.tile(weight, r0, r1, c0, c1)
        if not bool((wt > 0.9).any()):
            continue
        n = detail_norm(x[:, :, r0:r1, c0:c1] - up.tile(ref, r0, r1, c0, c1))
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
    views: dict[str, torch.Tensor],
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
        x: (1, 3, H, W) input (channels-last memory, i.e. the decoded HxWx3 buffer, is fastest).
        alpha: (1, 1, H, W) subject coverage; pixels with alpha > 0 are never changed.
        up: the upsampler from working to full resolution.
        views: name -> M, the working-resolution ratio map: out = x * M on free backdrop (M
            already carries ``free``: 1 where nothing may change).
        free: (1, 1, h, w) how much the backdrop may change, ignoring the subject (floor, contact zone).
        protect: (1, 1, h, w) subject protection (grow + feather).
        subject: (1, 1, h, w) subject coverage at working resolution (> 0 where any pixel is subject).
        expected: (1, 3, h, w) expected backdrop (subject filled in) for the match test.
        match_tol: a protected pixel within this of the expected backdrop is backdrop.
        fine: None, or dict(ref=(1,3,h,w) expected backdrop at working resolution, flag=(1,1,h,w)
            where fine marks may be, sigma=grain float, strength=float, grain=float): the correction
            of marks below the working resolution, added as free * k * M * fine.
        tile: tile size in pixels (a multiple of the factor).
    Returns:
        name -> (1, 3, H, W) float32, channels-last memory (an HxWx3 buffer).
    """
    H, W = x.shape[-2:]
    outs = {name: torch.empty_like(x, memory_format=torch.channels_last) for name in views}
    f = up.f
    tm = max(1, tile // f)

    # per-tile decisions from the working-resolution maps (one working pixel of margin)
    def tile_max(m: torch.Tensor) -> torch.Tensor:
        m = F.max_pool2d(m, 3, stride=1, padding=1)[0].amax(0)
        h, w = m.shape
        gh, gw = -(-h // tm), -(-w // tm)
        m = F.pad(m, (0, gw * tm - w, 0, gh * tm - h), value=float("-inf"))
        return m.reshape(gh, tm, gw, tm).amax((1, 3))

    def flags(m: torch.Tensor) -> torch.Tensor:
        return tile_max(m) > 0

    near = flags(torch.maximum(protect, (subject > 0).to(protect.dtype)))
    inside = -tile_max(-subject) >= 1.0  # every pixel of the tile is subject
    fine_tiles = None
    if fine is not None:
        fine_tiles = flags(fine["flag"]) if fine["grain"] >= 1.0 else torch.ones_like(near)
        fine_tiles &= flags(free)
    partly_free = flags((free < 1.0).to(free.dtype))
    need = {name: flags(((M - 1.0).abs().amax(1, keepdim=True) > SKIP_BELOW).to(M.dtype)) for name, M in views.items()}
    # plain Python lists: cheap to index once per tile
    near, inside, partly_free = near.tolist(), inside.tolist(), partly_free.tolist()
    fine_tiles = fine_tiles.tolist() if fine_tiles is not None else None
    need = {name: n.tolist() for name, n in need.items()}

    for r0, r1, c0, c1 in _tiles(H, W, tile):
        ti, tj = r0 // tile, c0 // tile
        xt = x[:, :, r0:r1, c0:c1]
        do_fine = fine_tiles is not None and fine_tiles[ti][tj]
        work = []
        if not inside[ti][tj]:
            work = [n for n in views if need[n][ti][tj] or (do_fine and n != "shadows")]
        if not work:  # nothing changes in this tile
            for name in views:
                outs[name][:, :, r0:r1, c0:c1] = xt
            continue
        xc = xt.contiguous()  # the maps upsample fastest in plain (N, C, H, W) layout
        k = None
        if near[ti][tj]:
            prot = up.tile(protect, r0, r1, c0, c1)
            dev = detail_norm(xc - up.tile(expected, r0, r1, c0, c1))
            k = (1.0 - prot * smoothstep(dev, match_tol, 2.0 * match_tol)) * (alpha[:, :, r0:r1, c0:c1] <= 0)
        box = None
        if do_fine:
            # marks below the working resolution: only in the box around the flagged working pixels
            box = _flag_box(fine["flag"], r0, r1, c0, c1, f)
        if box is not None:
            y0, y1, x0, x1 = box
            xb = xc[:, :, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0]
            d0 = xb - up.tile(fine["ref"], y0, y1, x0, x1)
            # share of the detail to remove: a linear ramp from K_LO to K_HI grain sigmas
            lo, span = K_LO * fine["sigma"], (K_HI - K_LO) * fine["sigma"]
            p0 = detail_norm(d0).sub_(lo).div_(span).clamp_(0.0, 1.0)
            if fine["grain"] < 1.0:
                p0 = p0 + (1.0 - p0) * (1.0 - fine["grain"])
            d0 = d0.mul_(p0.mul_(-fine["strength"]))
            if partly_free[ti][tj]:
                d0 = d0.mul_(up.tile(free, y0, y1, x0, x1))
        for name, M in views.items():
            if name not in work:
                outs[name][:, :, r0:r1, c0:c1] = xt
                continue
            m = up.tile(M, r0, r1, c0, c1)
            if box is None and k is None:
                out = xc.mul(m)
            else:
                delta = xc * m.sub_(1.0)
                if box is not None and name != "shadows":
                    # the fine marks ride on the view's own ratio (the lift, in the preview)
                    sub = delta[:, :, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0]
                    sub.addcmul_(d0, m[:, :, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0].add(1.0))
                out = torch.addcmul(xc, k, delta) if k is not None else delta.add_(xc)
            outs[name][:, :, r0:r1, c0:c1] = out.clamp_(0.0, 1.0)
    return outs
