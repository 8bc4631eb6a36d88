"""The full-resolution stage: a few per-pixel passes over the decoded buffer.

Everything smooth arrives as maps at the working resolution, which is the full
size divided by an integer factor ``f``. Each output pixel is

    out = x * M                                  (most of the frame)
    out = x + k * (x * (M - 1) + fine)           (near the subject, or where fine marks are)
    out = x + (1 - a) * B * L                    (a pixel part subject, on the subject's body)

with M the upsampled per-channel ratio (shadow lift times texture correction), ``k`` the full-resolution
protection (0 on every pixel of the subject, so those wholly subject come back bit-for-bit),
``fine`` the correction of marks smaller than the working resolution can see, and on the subject's
edge ``a`` a pixel's coverage, ``B`` the expected backdrop and ``L`` the lift's part (and the
tone's), which its share of backdrop takes (:func:`edge_lift`). A pixel
whose working pixel and its neighbours change nothing (|M - 1| below a twentieth of
a level, no fine marks) is the input, exactly.

The input is read from the decoded 8/16-bit (or float) buffer a region at a time and
each region's result is written, already rounded (and dithered, for 8 bits), into
the output buffer: no whole-frame float copy is made. On a CPU the regions are tiles
that stay in cache, and tiles with nothing to change are copied; on a GPU they are a
few full-width strips, with no per-tile decision (no host synchronisation).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .filters import luminance, max_filter, smoothstep
from .texture import K_HI, K_LO, detail_norm

__all__ = ["Upsampler", "FineMarks", "Sink", "compose", "tile_noise", "hwc_tensor", "load_region", "reduce_source",
           "dither_noise", "lift_tolerance", "edge_lift", "subject_share", "colour_position"]

# a working pixel whose ratio departs from 1 by less than this (a twentieth of an 8-bit level) changes nothing
SKIP_BELOW = 0.05 / 255.0
_COVER = {torch.uint8: 255.0, torch.uint16: 65535.0}  # a subject mask's full scale by its dtype
# a pixel part subject takes the lift on its backdrop's share along the subject's body: parts of the
# mask this many working pixels across and more, and this many working pixels beyond them (edge_lift) ...
EDGE_BODY = 5
EDGE_REACH = 1
# ... as much of it as holds within this share of the short edge around
EDGE_SURE = 0.015
# ... and away from the body (a strand), in a shadow whose step the seen wall around holds at least
# this much (fading in between): a lift of a few percent beside a head is no sure shadow
EDGE_WALL = (0.03, 0.06)
NOISE_PERIOD = 256  # the dither pattern repeats every this many pixels
STRIP_ELEMENTS = 1 << 21  # floats in one strip of a reduction (the device pass takes 16 times as many)
FADE_CONTRAST = 0.1  # a soft edge's matte under a tone needs the subject's and the wall's colours this far apart
# near the subject, a pixel this share of its shadow's depth (what the lift adds at full) off the
# expected backdrop still takes the lift ...
LIFT_TOL = 0.15
# ... in a shadow that takes at most about half the light: the share fades out over these steps (a
# shadow 43-56% deep). A cast shadow seldom goes deeper (the fill light sees to that), but beside a
# mask drawn inside the figure the figure's own rim reads as one, and it is not the wall
DEEP_STEP = (0.75, 1.25)


def colour_position(x: torch.Tensor, one: torch.Tensor, zero: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each pixel of ``x`` (1, 3, H, W) placed on the line from the colour ``zero`` to ``one``: its
    position (0 at ``zero``, 1 at ``one``; not clamped), the squared distance between the two colours
    (how well a position can be told) and their difference ``one - zero``."""
    d = one - zero
    contrast = (d * d).sum(1, keepdim=True)
    return ((x - zero) * d).sum(1, keepdim=True).div_(contrast.clamp_min(1e-6)), contrast, d


def subject_share(x: torch.Tensor, inside: torch.Tensor, behind: torch.Tensor) -> torch.Tensor:
    """How much of each pixel of ``x`` (1, 3, H, W) is the subject's colour ``inside`` against the
    wall's ``behind``: its position on the line between them, 0 (the wall) to 1; 1 where the two
    colours are too close to tell (the pixel is held whole)."""
    share, contrast, _ = colour_position(x, inside, behind)
    return torch.where(contrast > FADE_CONTRAST**2, share.clamp_(0.0, 1.0), torch.ones_like(share))


def lift_tolerance(expected: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """How much further off the expected backdrop than the match tolerance a protected pixel may be
    and still take the lift (not the texture): LIFT_TOL of the shadow's depth there, in a shadow
    that takes at most about half the light (DEEP_STEP). It depends on the analysis only.

    Args:
        expected: (1, C, h, w) the expected backdrop; step: (1, C, h, w) the lift's step (its ratio
            at full lift is 1 + step).
    Returns:
        (1, 1, h, w) >= 0, in the image's units.
    """
    share = smoothstep(step.amax(1, keepdim=True), *DEEP_STEP).sub_(1.0).mul_(-LIFT_TOL)
    return luminance(expected * step).mul_(share)


def edge_lift(step: torch.Tensor, subject: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """How much of the lift a pixel part subject takes on its backdrop's share (its subject's share
    stays as shot). Along the subject's body (a hand, a sleeve, a balloon: parts of the mask
    EDGE_BODY working pixels across and more), as much of the step as holds within EDGE_SURE of the
    short edge around, the subject itself left out (1 inside a shadow, falling to 0 toward its edge).
    Away from the body (a strand), as much of it as the backdrop seen around holds within EDGE_SURE
    (outside the protection's core; none seen there: none): under the mask the backdrop is filled in
    from all round it, and beside a head the step map can hold a shadow there that the wall behind
    the strands does not have, and the strands' own shade reads as a faint shadow in it. The step map
    runs a few pixels past a shadow's edge. Nor in a "shadow" deeper than about half the light
    (DEEP_STEP), where a pixel's coverage a little short of whole would lighten it a lot.

    Args:
        step: (1, C, h, w) the lift's step; subject: (1, 1, h, w) subject coverage; seen: (1, 1, h, w)
            > 0.5 where the backdrop is seen (outside the protection's core).
    Returns:
        (1, 2, h, w) in [0, 1]: along the body, and away from it (a strand's pixel, which ends no
        brighter than the lifted wall beside it: :class:`_Region`).
    """
    y = step.amax(1, keepdim=True)
    r = max(1, round(EDGE_SURE * min(step.shape[-2:])))
    low = max_filter(torch.where(subject >= 1.0, -float("inf"), y.neg()), 2 * r + 1).neg_()
    solid = (subject >= 0.5).to(y.dtype)
    body = max_filter(max_filter(solid.neg(), EDGE_BODY).neg_(), EDGE_BODY)  # an opening: no strands
    near = max_filter(body, 2 * EDGE_REACH + 1)
    # away from the body, the least step of the backdrop seen around, in a shadow that takes a few
    # percent of the light at least (EDGE_WALL): beside a head, the wall is lifted a little where the
    # step map's falloff or a missed strand's shade reads as a faint shadow
    wall = max_filter(torch.where(seen > 0.5, y.neg(), -float("inf")), 2 * r + 1).neg_()
    wall = torch.where(torch.isfinite(wall), wall, torch.zeros_like(wall))
    on_body = near > 0
    low = torch.cat([torch.where(on_body, low, 0.0),
                     torch.where(on_body, 0.0, wall * smoothstep(wall, *EDGE_WALL))], 1)
    # ... in a shadow that takes at most about half the light (DEEP_STEP, as the lift's tolerance): a
    # deeper "shadow" beside the figure is more likely the figure's own rim, or a floor let be lifted
    deep = smoothstep(y, *DEEP_STEP).sub_(1.0).neg_()
    return torch.where(y > 0, low / y.clamp_min(1e-6), torch.zeros_like(low)).clamp_(0.0, 1.0).mul_(deep)


class Upsampler:
    """Bilinear upsampling (align_corners=False) by an integer factor, one region at a time.

    ``tile(m, r0, r1, c0, c1)`` equals ``F.interpolate(m, scale_factor=f, mode="bilinear")``
    cropped to rows r0:r1, columns c0:c1 of the full image, computed from the few
    working-resolution pixels around the region only. ``nearest`` gives each full-resolution
    pixel the value of the working pixel it lies in.
    """

    def __init__(self, factor: int, full_hw: tuple[int, int]):
        self.f = int(factor)
        self.H, self.W = full_hw

    def tile(self, m: torch.Tensor, r0: int, r1: int, c0: int, c1: int, *,
             times: torch.Tensor | None = None) -> torch.Tensor:
        """m: (1, C, h, w) -> (1, C, r1 - r0, c1 - c0), in ``m``'s memory format (``times``: the
        product ``m * times`` upsampled, without making it at working resolution)."""
        f = self.f
        if f == 1:
            return m[:, :, r0:r1, c0:c1] if times is None else m[:, :, r0:r1, c0:c1] * times[:, :, r0:r1, c0:c1]
        h, w = m.shape[-2:]
        m0, m1 = max(r0 // f - 1, 0), min((r1 - 1) // f + 1, h - 1)
        n0, n1 = max(c0 // f - 1, 0), min((c1 - 1) // f + 1, w - 1)
        part = m[:, :, m0 : m1 + 1, n0 : n1 + 1]
        if times is not None:
            part = part * times[:, :, m0 : m1 + 1, n0 : n1 + 1]
        part = F.interpolate(part, scale_factor=f, mode="bilinear", align_corners=False)
        y, x = r0 - m0 * f, c0 - n0 * f
        return part[:, :, y : y + (r1 - r0), x : x + (c1 - c0)]

    def nearest(self, m: torch.Tensor, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        """m: (1, C, h, w) -> (1, C, r1 - r0, c1 - c0), each pixel the value of its working pixel."""
        f = self.f
        if f == 1:
            return m[:, :, r0:r1, c0:c1]
        m0, n0 = r0 // f, c0 // f
        part = m[:, :, m0 : -(-r1 // f), n0 : -(-c1 // f)]
        part = part.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)
        y, x = r0 - m0 * f, c0 - n0 * f
        return part[:, :, y : y + (r1 - r0), x : x + (c1 - c0)]


def _bilinear_at(full: torch.Tensor, f: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For full-resolution rows (or columns) ``full``, the two working rows that bilinear upsampling by
    ``f`` (align_corners=False, as :class:`Upsampler`) blends, and the second one's weight."""
    src = ((full.to(torch.float32) + 0.5) / f - 0.5).clamp_(min=0.0)
    lo = src.floor().to(torch.long).clamp_(max=n - 1)
    return lo, (lo + 1).clamp_(max=n - 1), (src - lo).clamp_(0.0, 1.0)


def _sample(m: torch.Tensor, where: tuple) -> torch.Tensor:
    """(1, C, h, w) ``m`` upsampled bilinearly at the points ``where`` (rows, columns from
    :func:`_bilinear_at`): (C, n), the values :meth:`Upsampler.tile` gives there."""
    (y0, y1, ly), (x0, x1, lx) = where
    top = m[0, :, y0, x0] * (1.0 - lx) + m[0, :, y0, x1] * lx
    bottom = m[0, :, y1, x0] * (1.0 - lx) + m[0, :, y1, x1] * lx
    return top * (1.0 - ly) + bottom * ly


def hwc_tensor(a: np.ndarray) -> torch.Tensor:
    """An (H, W, C) or (H, W) numpy buffer as a (1, C, H, W) tensor over the same memory (channels-last
    strides), without a copy, also of a read-only buffer (Pillow's): the engine only reads it."""
    if a.ndim == 2:
        a = a[:, :, None]
    if a.flags.writeable:
        t = torch.from_numpy(a)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            t = torch.from_numpy(a)
    return t.permute(2, 0, 1)[None]


def load_region(src: torch.Tensor, r0: int, r1: int, c0: int, c1: int, scale: float,
                *, channels_last: bool = False, out: torch.Tensor | None = None) -> torch.Tensor:
    """Rows r0:r1, columns c0:c1 of the decoded buffer as float32 in [0, 1], a new tensor (or ``out``).

    ``src`` is (1, C, H, W) uint8, uint16 or float32 (any strides: the decoded HxWxC buffer is
    channels-last); ``scale`` its full scale (255, 65535 or 1). The conversion divides, as
    numpy does, so the values equal those of ``Photo.pixels``.
    """
    part = src[:, :, r0:r1, c0:c1]
    if out is None:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        out = torch.empty(part.shape, dtype=torch.float32, device=src.device, memory_format=fmt)
    out.copy_(part)
    if scale != 1.0:
        out.div_(scale)
    return out


def reduce_source(src: torch.Tensor, f: int, scale: float) -> torch.Tensor:
    """Box average of the decoded buffer by ``f``, strip by strip through one float buffer (no
    whole-frame float copy).

    (1, C, H, W) any dtype -> float32 (1, C, ceil(H/f), ceil(W/f)), contiguous.
    """
    from .filters import reduce_by

    _, c, H, W = src.shape
    rows = max(f, STRIP_ELEMENTS // max(1, c * W) // f * f)
    buf = torch.empty((1, c, min(rows, H), W), dtype=torch.float32, device=src.device,
                      memory_format=torch.channels_last)
    parts = []
    for r in range(0, H, rows):
        n = min(H, r + rows) - r
        parts.append(reduce_by(load_region(src, r, r + n, 0, W, scale, out=buf[:, :, :n]), f))
    return parts[0] if len(parts) == 1 else torch.cat(parts, 2)


def dither_noise(seed: int, channels: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """TPDF noise in (-1, 1) LSB, (256, 256, channels) (the layout of the pixels), repeated over
    the frame by position."""
    rng = np.random.default_rng(seed)
    u = rng.random((2, NOISE_PERIOD, NOISE_PERIOD, channels), dtype=np.float32)
    return torch.from_numpy(u[0] - u[1]).to(device)


class Sink:
    """Where a view's full-resolution pixels go.

    ``out`` is (1, C, H, W) (C = 1 or 3; any strides, e.g. an HxWxC numpy buffer seen as a
    tensor). ``bits`` None: float32 in [0, 1]; 8 or 16: rounded once to integers, 8-bit with a
    deterministic TPDF dither of +-1 LSB on the pixels that changed and lie strictly inside
    (0, 1) (untouched pixels, pure black and pure white come back exactly).
    """

    def __init__(self, out: torch.Tensor, bits: int | None, *, seed: int = 0, dither: bool = True,
                 prefilled: bool = False):
        self.out = out
        self.bits = bits
        self.channels = out.shape[1]
        self.maxval = None if bits is None else float((1 << bits) - 1)
        self.prefilled = prefilled  # ``out`` already holds the input: what does not change needs no copy
        self.noise = None
        if bits == 8 and dither:
            # the pattern twice in each direction: a window of up to one period is a view of it
            self.noise = dither_noise(seed, self.channels, out.device).repeat(2, 2, 1)

    def _noise(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        """(1, C, h, w) over the (h, w, C) pattern: channels-last, as the pixels."""
        P = NOISE_PERIOD
        if r1 - r0 <= P and c1 - c0 <= P:
            y, x = r0 % P, c0 % P
            part = self.noise[y : y + r1 - r0, x : x + c1 - c0]
        else:
            dev = self.noise.device
            rows = torch.arange(r0, r1, device=dev) % P
            cols = torch.arange(c0, c1, device=dev) % P
            part = self.noise.index_select(0, rows).index_select(1, cols)
        return part.permute(2, 0, 1)[None]

    def put(self, r0: int, c0: int, value: torch.Tensor, x: torch.Tensor | None) -> None:
        """Store ``value`` (1, 3, h, w) float at (r0, c0), clipped to [0, 1]; ``x`` is the input
        there (None: every pixel counts as unchanged). ``value`` may be overwritten."""
        value = value[:, : self.channels]
        h, w = value.shape[-2:]
        dst = self.out[:, :, r0 : r0 + h, c0 : c0 + w]
        if self.maxval is None:
            dst.copy_(value.clamp_(0.0, 1.0))
            return
        if self.noise is not None and x is not None:
            # dither the pixels that changed and lie strictly inside (0, 1)
            moved = value != x[:, : self.channels]
            moved &= value > 0.0
            moved &= value < 1.0
            q = value.mul_(self.maxval).addcmul_(self._noise(r0, r0 + h, c0, c0 + w), moved)
        else:
            q = value.mul_(self.maxval)
        dst.copy_(q.round_().clamp_(0.0, self.maxval))

    def copy(self, r0: int, r1: int, c0: int, c1: int, src: torch.Tensor, scale: float) -> None:
        """The input, unchanged, at rows r0:r1, columns c0:c1."""
        if self.prefilled:
            return
        part = src[:, : self.channels, r0:r1, c0:c1]
        dst = self.out[:, :, r0:r1, c0:c1]
        if self.maxval is not None and part.dtype == dst.dtype:
            dst.copy_(part)  # same depth: the very values read
        elif self.maxval is None and part.dtype == torch.float32 and scale == 1.0:
            dst.copy_(part)
        else:
            self.put(r0, c0, load_region(src, r0, r1, c0, c1, scale), None)


def _tiles(H: int, W: int, size: int):
    for r0 in range(0, H, size):
        for c0 in range(0, W, size):
            yield r0, min(H, r0 + size), c0, min(W, c0 + size)


def tile_noise(
    src: torch.Tensor,
    scale: float,
    ref: torch.Tensor,
    weight: torch.Tensor,
    up: Upsampler,
    *,
    tile: int,
    samples: int = 12,
) -> float:
    """Median detail norm of ``x - upsample(ref)`` over pixels where ``upsample(weight) > 0.9``,
    from a few tiles spread over the frame (a robust noise level of the full-resolution image)."""
    H, W = src.shape[-2:]
    all_tiles = list(_tiles(H, W, tile))
    step = max(1, len(all_tiles) // samples)
    vals = []
    for r0, r1, c0, c1 in all_tiles[::step]:
        wt = up.tile(weight, r0, r1, c0, c1)
        n = detail_norm(load_region(src, r0, r1, c0, c1, scale) - up.tile(ref, r0, r1, c0, c1))
        vals.append(n[wt > 0.9])
    v = torch.cat(vals)
    if v.numel() == 0:
        return 1e-3
    if v.numel() > 400_000:
        v = v[:: v.numel() // 400_000 + 1]
    return max(float(v.median()), 1e-4)


@dataclass
class FineMarks:
    """Marks below the working resolution: removed where ``flag`` says they may be.

    ref: (1, 3, h, w) expected backdrop at working resolution (never the subject's colours);
    flag: (1, 1, h, w) 1 where fine marks may be (and the backdrop may change), else 0;
    sigma: the full-resolution grain; strength, grain: the texture and grain sliders (0..1).
    """

    ref: torch.Tensor
    flag: torch.Tensor
    sigma: float
    strength: float
    grain: float


def _grid(m: torch.Tensor, tm: int, reduce: str) -> torch.Tensor:
    """Per-tile max (or min) of a (1, 1, h, w) map over tiles of ``tm`` working pixels."""
    m = m[0, 0]
    h, w = m.shape
    gh, gw = -(-h // tm), -(-w // tm)
    fill = float("-inf") if reduce == "max" else float("inf")
    m = F.pad(m[None], (0, gw * tm - w, 0, gh * tm - h), value=fill)[0]
    m = m.reshape(gh, tm, gw, tm)
    return m.amax((1, 3)) if reduce == "max" else m.amin((1, 3))


def _with_gain(part: torch.Tensor | None, gain: torch.Tensor | None) -> torch.Tensor:
    """A view's part of the lift with its gain (the tone's) on top: (1 + part) * gain - 1 (part None:
    no lift, the gain alone)."""
    if gain is None:
        return part
    return gain - 1.0 if part is None else (part + 1.0).mul_(gain).sub_(1.0)


def _dilate3(m: torch.Tensor) -> torch.Tensor:
    return max_filter(m, 3)


def compose(
    src: torch.Tensor,
    scale: float,
    alpha: torch.Tensor,
    up: Upsampler,
    *,
    maps: dict[str, torch.Tensor],
    sinks: dict[str, Sink],
    free: torch.Tensor,
    protect: torch.Tensor,
    subject: torch.Tensor,
    firm: torch.Tensor | None = None,
    fading: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    strands: tuple[torch.Tensor, torch.Tensor] | None = None,
    expected: torch.Tensor,
    match_tol: float,
    fine: FineMarks | None,
    tile: int | None,
    lift: tuple[float, torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    lift_gain: dict[str, torch.Tensor] | None = None,
    added: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the full-resolution views into their sinks.

    Args:
        src: (1, 3, H, W) the decoded input (uint8, uint16 or float32; channels-last strides).
        scale: its full scale (255, 65535 or 1).
        alpha: (1, 1, H, W) subject coverage; a pixel wholly subject is never changed, one part
            subject takes the lift (and the tone) on its backdrop's share only.
        up: the upsampler from working to full resolution.
        maps: name -> M, the working-resolution ratio map: out = x * M on free backdrop (M
            already carries ``free``: 1 where nothing may change).
        sinks: name -> where that view goes (the same names as ``maps``).
        free: (1, 1, h, w) how much the backdrop may change, ignoring the subject (floor, contact zone).
        protect: (1, 1, h, w) subject protection (grow + feather).
        firm: (1, 1, h, w) the share of it that holds even where a pixel matches the backdrop
            (beside an unsure edge: the cleanup fades in over the feather), or None.
        fading: under a tone, (share, plain, inside, behind): beside a soft edge darkening into the
            mask, (1, 1, h, w) the share of ``firm`` that holds a pixel only as much as it has of the
            subject's colour ``inside``, against the wall's ``behind`` (both (1, 3, h, w);
            :func:`subject_share`), the match test's hold there too; ``plain`` (1, 1, h, w), the
            other unsure edges' hold, stays whole. Or None.
        strands: under a tone, (inside, clear): (1, 3, h, w) the subject's colour on the mask's edge
            and the backdrop's beyond its protection. A pixel the match test holds off the subject
            keeps as much as it has of ``inside`` (against ``clear``) as shot, and its wall's share
            takes the tone of the views with a ``lift_gain``. Or None.
        subject: (1, 1, h, w) subject coverage at working resolution (> 0 where any pixel is subject).
        expected: (1, 3, h, w) expected backdrop (subject filled in) for the match test.
        match_tol: a protected pixel within this of the expected backdrop is backdrop.
        fine: the correction of marks below the working resolution (not in "shadows"), or None.
        tile: tile size in pixels (a multiple of the factor): tiles with nothing to change are
            copied. None: the whole frame in a few full-width strips, with no per-tile decision
            and no host synchronisation (the device path).
        lift: (share, step, tol, edge): the lift's part of the ratio of the views it is in
            ("shadows", "preview") is 1 + share * step, step (1, C, h, w). Near the subject a pixel
            further off the expected backdrop than ``match_tol`` takes that part (not the texture)
            while it is within ``tol`` (1, 1, h, w; :func:`lift_tolerance`) more; a pixel part
            subject takes ``edge`` (1, 1, h, w; :func:`edge_lift`) of it on its backdrop's share.
            None: no lift.
        lift_gain: name -> (1, C, h, w) a gain on that view's lift part too (the tone's), or None.
        added: name -> (1, C, h, w) what that view adds to a pixel's backdrop, on the 0-1 scale, as
            much as the pixel takes of the view's change (the white that the tone's gain cannot give a
            channel with almost nothing in it), or None.
    """
    H, W = src.shape[-2:]
    f = up.f
    # the working pixels whose full-resolution pixels may change, per view
    fine_px = None
    if fine is not None:
        fine_px = fine.flag > 0
    act = {}
    added = added or {}
    for name, M in maps.items():
        change = (M - 1.0).abs().amax(1, keepdim=True) > SKIP_BELOW
        if name in added:
            change |= added[name].amax(1, keepdim=True) > SKIP_BELOW
        a = _dilate3(change.to(M.dtype)) > 0
        if fine_px is not None and name != "shadows":
            a |= fine_px
        act[name] = a
    ctx = _Region(src, scale, alpha, up, maps, sinks, protect, expected, match_tol, fine, free, act,
                  whole=tile is None, firm=firm, fading=fading, strands=strands, lift=lift, lift_gain=lift_gain,
                  added=added)

    if tile is None:  # the device path: full-width strips, everything decided per pixel
        rows = max(f, 16 * STRIP_ELEMENTS // (3 * W) // f * f)
        for r0 in range(0, H, rows):
            ctx.run(r0, min(H, r0 + rows), 0, W, list(maps), near=True, fine_box=fine is not None, partial=True,
                    lifting=True)
        return

    # per-tile decisions from the working-resolution maps (one working pixel of margin)
    tm = max(1, tile // f)
    near = _grid(_dilate3(torch.maximum(protect, (subject > 0).to(protect.dtype))), tm, "max") > 0
    inside = _grid(-_dilate3(-subject), tm, "min") >= 1.0  # every pixel of the tile is subject
    any_act = {n: _grid(a.to(torch.float32), tm, "max") > 0 for n, a in act.items()}
    all_act = {n: _grid(a.to(torch.float32), tm, "min") > 0 for n, a in act.items()}
    fine_tiles = _grid(fine_px.to(torch.float32), tm, "max") > 0 if fine_px is not None else None
    # the tiles where the lift's tolerance is wider than the match's
    lift_tiles = None if ctx.lift is None else (_grid(_dilate3(ctx.lift[2]), tm, "max") > 0).tolist()
    # plain Python lists: cheap to index once per tile
    near, inside = near.tolist(), inside.tolist()
    any_act = {n: v.tolist() for n, v in any_act.items()}
    all_act = {n: v.tolist() for n, v in all_act.items()}
    fine_tiles = fine_tiles.tolist() if fine_tiles is not None else None

    for r0, r1, c0, c1 in _tiles(H, W, tile):
        ti, tj = r0 // tile, c0 // tile
        work = [] if inside[ti][tj] else [n for n in maps if any_act[n][ti][tj]]
        if not work:  # nothing changes in this tile
            for sink in sinks.values():
                sink.copy(r0, r1, c0, c1, src, scale)
            continue
        ctx.run(r0, r1, c0, c1, work, near=near[ti][tj],
                fine_box=fine_tiles is not None and fine_tiles[ti][tj],
                partial=any(not all_act[n][ti][tj] for n in work),
                lifting=lift_tiles is not None and lift_tiles[ti][tj])


class _Region:
    """One region (a tile, or a full-width strip) of :func:`compose`."""

    def __init__(self, src, scale, alpha, up, maps, sinks, protect, expected, match_tol, fine, free, act, *,
                 whole: bool, firm: torch.Tensor | None = None, fading: tuple | None = None,
                 strands: tuple | None = None,
                 lift: tuple | None = None,
                 lift_gain: dict[str, torch.Tensor] | None = None,
                 added: dict[str, torch.Tensor] | None = None):
        self.cover = _COVER.get(alpha.dtype, 1.0)  # alpha's full scale (uint8, uint16 or float)
        if alpha.dtype == torch.uint16:  # torch compares no uint16; zero is zero in either reading
            alpha = alpha.view(torch.int16)
        self.src, self.scale, self.alpha, self.up = src, scale, alpha, up
        self.maps, self.sinks, self.protect, self.expected = maps, sinks, protect, expected
        self.tol, self.fine, self.free, self.act = match_tol, fine, free, act
        self.whole = whole  # the device path: the fine pass over the whole region (no box search)
        self.firm = firm if firm is not None and bool(firm.any()) else None
        self.fading = fading
        self.strands = strands
        self.lift = lift if lift is not None and lift[0] else None  # (share, step, tolerance, edge)
        self.lift_gain = lift_gain or {}
        self.added = added or {}
        # the views whose backdrop change a subject's edge pixel takes on its backdrop share
        self.mixed = {n for n in maps if n != "texture" and (self.lift is not None or n in self.lift_gain)}

    def _share(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor | None:
        """The backdrop's share of each pixel of the region on the subject's edge: 1 - coverage where
        0 < coverage < 1 and a pixel beside it (3 x 3) is backdrop; 0 elsewhere (the backdrop takes the
        change as it is, and the subject, a matte's band inside its edge included, stays as shot)."""
        H, W = self.alpha.shape[-2:]
        y0, y1, x0, x1 = max(r0 - 1, 0), min(r1 + 1, H), max(c0 - 1, 0), min(c1 + 1, W)
        a = self.alpha[:, :, y0:y1, x0:x1]
        if a.dtype == torch.int16:  # a uint16 mask, read as int16 (see __init__)
            a = a.to(torch.int32).bitwise_and_(0xFFFF)
        if not self.whole and not bool(((a > 0) & (a < self.cover)).any()):  # (a tile: none part subject)
            return None
        cov = a.to(torch.float32).div_(self.cover)
        beside = max_filter((cov <= 0).to(torch.float32), 3) > 0
        cov, beside = (t[:, :, r0 - y0 : r1 - y0, c0 - x0 : c1 - x0] for t in (cov, beside))
        return torch.where((cov > 0) & (cov < 1.0) & beside, 1.0 - cov, torch.zeros_like(cov))

    def _edge_part(self, lift_part: torch.Tensor, x: torch.Tensor, expected: torch.Tensor, mix: torch.Tensor,
                   around: tuple[torch.Tensor, torch.Tensor] | None, r0: int, r1: int, c0: int,
                   c1: int) -> torch.Tensor:
        """The lift's part a pixel on the subject's edge takes on its backdrop's share (``edge_lift``'s
        two weights). A strand's pixel away from the body takes no more of it than the least of the
        backdrop's pixels around it take (``around``: the lift's hold and the backdrop's pixels) and
        ends no brighter than the wall beside it,
        lifted: in a lit gap between a head and its shadow (the wall seen around is the shadow's),
        its wall's share was lightened by the shadow's step while the wall pixels between the strands
        were held as shot. In a shadow, its backdrop's share is the wall's and it ends below."""
        weight = self.up.tile(self.lift[3], r0, r1, c0, c1)
        body = lift_part * weight[:, :1]
        if not self.whole and not bool(weight[:, 1:].any()):  # (a tile: no strand's pixel)
            return body
        strand = lift_part * weight[:, 1:]
        # x + mix * expected * part <= expected * (1 + part), per channel: the share of it that fits
        room = expected * (1.0 + strand) - x
        fits = room.div_((expected * strand * mix).clamp_min(1e-6)).amin(1, keepdim=True).clamp_(0.0, 1.0)
        if around is not None:
            # ... and no more than the least of the backdrop's pixels around it take (5 x 5; none seen:
            # none). In a lit gap a few wall pixels at its rim take it while those between the strands
            # are held
            held_lift, free = around
            release = torch.where(free, held_lift.neg().add_(1.0), torch.full_like(held_lift, 2.0))
            least = max_filter(release.neg_(), 5).neg_()
            fits = fits.mul_(torch.where(least > 1.5, torch.zeros_like(least), least))
        return body.add_(strand.mul_(fits))

    def _strand_wall(self, x: torch.Tensor, weight: torch.Tensor, r0: int, c0: int) -> tuple | None:
        """The held pixels of the region (``weight`` > 0, as held), where each lies among the working
        pixels, the backdrop's colour there and its wall's share times ``weight``
        (:func:`subject_share` against the subject's colour on the mask's edge); None where none is
        held."""
        at = torch.nonzero(weight[0, 0] > 1e-3)
        if at.shape[0] == 0:
            return None
        ys, xs = at[:, 0], at[:, 1]
        h, w = self.strands[0].shape[-2:]
        where = (_bilinear_at(ys + r0, self.up.f, h), _bilinear_at(xs + c0, self.up.f, w))
        inside, clear = (_sample(c, where) for c in self.strands)  # (3, n)
        share = subject_share(x[0, :, ys, xs][None, :, None], inside[None, :, None], clear[None, :, None])[0, 0, 0]
        return ys, xs, where, clear, share.neg_().add_(1.0).mul_(weight[0, 0, ys, xs])

    def _fine_box(self, r0: int, r1: int, c0: int, c1: int, whole: bool):
        """Full-resolution box (y0, y1, x0, x1) around the region's flagged working pixels, or None."""
        if whole:
            return r0, r1, c0, c1
        f = self.up.f
        flag = self.fine.flag
        h, w = flag.shape[-2:]
        m0, m1 = r0 // f, min(-(-r1 // f), h)
        n0, n1 = c0 // f, min(-(-c1 // f), w)
        sub = flag[0, 0, m0:m1, n0:n1] > 0
        rows = torch.nonzero(sub.any(1)).flatten()
        if rows.numel() == 0:
            return None
        cols = torch.nonzero(sub.any(0)).flatten()
        y0 = max(r0, (m0 + int(rows[0])) * f)
        y1 = min(r1, (m0 + int(rows[-1]) + 1) * f)
        x0 = max(c0, (n0 + int(cols[0])) * f)
        x1 = min(c1, (n0 + int(cols[-1]) + 1) * f)
        return y0, y1, x0, x1

    def run(self, r0: int, r1: int, c0: int, c1: int, work: list[str], *, near: bool, fine_box: bool,
            partial: bool, lifting: bool) -> None:
        up = self.up
        # channels-last, the layout of the decoded buffer: the conversions in and out are plain
        # casts; the maps upsample fastest in (N, C, H, W) and multiply into it
        x = load_region(self.src, r0, r1, c0, c1, self.scale, channels_last=True)
        # the share of the change a pixel takes (of the lift's part: k + k_lift), and a strand's bound
        k = k_lift = mix = around = strand_wall = None
        if near:
            prot = up.tile(self.protect, r0, r1, c0, c1)
            expected = up.tile(self.expected, r0, r1, c0, c1)
            dev = detail_norm(x - expected)
            held = prot * smoothstep(dev, self.tol, 2.0 * self.tol)
            a = self.alpha[:, :, r0:r1, c0:c1]
            free = a == 0
            if self.mixed:
                # a pixel at the subject's edge, part subject and part backdrop (a shadow beside a
                # hand), keeps its subject's share as shot and takes the lift (and the tone) on its
                # backdrop's share: out = x + (1 - coverage) * backdrop * part. Left as shot, its
                # share of the shadow stayed: a dark line along the subject in the lifted shade
                mix = self._share(r0, r1, c0, c1)
                if mix is not None and not self.whole and not bool(mix.any()):
                    mix = None
                if mix is not None:
                    # ... no more of it than the pixel can hold: its backdrop's share alone is no
                    # brighter than the pixel (a dark strand's or a dark sleeve's rim pixel that the
                    # matte calls mostly backdrop has more subject in it than that)
                    mix = torch.minimum(mix, x.div(expected.clamp_min(1e-4)).amin(1, keepdim=True))
            lifting = lifting and self.lift is not None
            if lifting:
                # the lift's tolerance is wider by a share of the shadow's depth: a shadow deepens
                # toward the subject that casts it, which the expected backdrop cannot know
                tol = up.tile(self.lift[2], r0, r1, c0, c1) + self.tol
                held_lift = smoothstep(dev.div_(tol).sub_(1.0), 0.0, 1.0).mul_(prot)
            firm = None if self.firm is None else up.tile(self.firm, r0, r1, c0, c1)
            if firm is not None and self.fading is not None:
                # under a tone, beside a soft edge darkening into the mask (dark hair out of focus), a
                # pixel is held only as much as it has of the subject's colour, the match test's hold
                # too: the edge blends into the toned wall (held whole, a pixel kept the old wall: a
                # cloud around the hair, a grey stipple along its strands)
                fade = up.tile(self.fading[0], r0, r1, c0, c1)
                if self.whole or bool(fade.any()):
                    plain, inside, behind = (up.tile(c, r0, r1, c0, c1) for c in self.fading[1:])
                    wall = subject_share(x, inside, behind).neg_().add_(1.0).mul_(fade)  # fade * (1 - share)
                    # (the other unsure edges' hold stays whole: wall the mask took in is held there)
                    firm = torch.maximum(firm.sub(wall).clamp_(min=0.0), plain)
                    scale = wall.neg_().add_(1.0)
                    held = held.mul_(scale)
                    if lifting:
                        held_lift = held_lift.mul_(scale)
            if self.strands is not None:
                # under a tone, a pixel the match test holds off the subject (a faint strand over the
                # wall) keeps its subject's share as shot and its wall's share takes the tone, as the
                # wall beside it does (held whole, it kept the old wall's: a dark wire round light
                # hair on black cloth at 255, a dark speckle along an arm on a grey wall). Worked out
                # at the held pixels alone (a few of the tile's), from their working pixels' colours
                weight = held * free
                if firm is not None:  # (not what an unsure edge holds whole)
                    weight = weight.mul_(1.0 - firm)
                strand_wall = self._strand_wall(x, weight, r0, c0)
            if firm is not None:
                held = torch.maximum(held, firm)
                if mix is not None:  # beside an unsure edge the cleanup fades in: so does this
                    mix = mix.mul_(1.0 - firm)
                if lifting:
                    held_lift = torch.maximum(held_lift, firm)
            k = (1.0 - held) * free
            if lifting and mix is not None:
                around = (held_lift, free)  # what the backdrop's pixels around a strand's take of the lift
            if lifting:
                k_lift = held.sub_(held_lift).mul_(free)  # held from the rest, not from the lift
                if not self.whole and not bool(k_lift.any()):  # (a tile: none of its pixels)
                    k_lift = None
        lift_part = edge_part = None  # the lift's ratio minus one, upsampled (at the subject's edge)
        box = d0 = None
        if fine_box and self.fine is not None:
            box = self._fine_box(r0, r1, c0, c1, whole=self.whole)
        if box is not None:
            fm = self.fine
            y0, y1, x0, x1 = box
            xb = x[:, :, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0]
            ref = up.tile(fm.ref, y0, y1, x0, x1)
            d0 = xb - ref
            # share of the detail to remove: a linear ramp from K_LO to K_HI grain sigmas
            lo, span = K_LO * fm.sigma, (K_HI - K_LO) * fm.sigma
            p0 = detail_norm(d0).sub_(lo).div_(span).clamp_(0.0, 1.0)
            if fm.grain < 1.0:
                p0 = p0 + (1.0 - p0) * (1.0 - fm.grain)
            gate = up.nearest(fm.flag, y0, y1, x0, x1) * up.tile(self.free, y0, y1, x0, x1)
            d0 = d0.mul_(p0.mul_(gate).mul_(-fm.strength))
        for name, sink in self.sinks.items():
            if name not in work:
                sink.copy(r0, r1, c0, c1, self.src, self.scale)
                continue
            m = up.tile(self.maps[name], r0, r1, c0, c1)
            plus = up.tile(self.added[name], r0, r1, c0, c1) if name in self.added else None
            fine_here = d0 is not None and name != "shadows"
            if k is None and not fine_here:
                out = x * m
                if plus is not None:
                    out.add_(plus)
            else:
                delta = x * (m - 1.0)
                if fine_here:
                    # the fine marks ride on the view's own ratio (the lift, in the preview)
                    sub = delta[:, :, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0]
                    mb = m[:, :, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0]
                    sub.addcmul_(d0, mb)
                    # what is left once the fine detail is gone is the working image's backdrop times
                    # its ratio, upsampled as one (both upsampled apart and multiplied overshoot beside
                    # a mark the ratio takes out: a light outline along a lint fibre on black cloth)
                    low = up.tile(fm.ref, y0, y1, x0, x1, times=self.maps[name])
                    sub.addcmul_(low.sub_(ref * mb), gate)
                out = torch.addcmul(x, k, delta) if k is not None else delta.add_(x)
                if plus is not None and k is None:
                    out.add_(plus)
                elif plus is not None:
                    out.addcmul_(plus, k)
                lifted = k_lift is not None and name != "texture"
                edged = mix is not None and name in self.mixed
                if (lifted or edged) and self.lift is not None and lift_part is None:
                    lift_part = up.tile(self.lift[1], r0, r1, c0, c1).mul(self.lift[0])
                gain = None  # the view's gain on the lift too (the tone's), upsampled once for both
                if (lifted or edged) and name in self.lift_gain:
                    gain = up.tile(self.lift_gain[name], r0, r1, c0, c1)
                if lifted:
                    out.addcmul_(_with_gain(lift_part, gain) * x, k_lift)
                    if plus is not None:
                        out.addcmul_(plus, k_lift)
                if edged:
                    if self.lift is not None and edge_part is None:
                        edge_part = self._edge_part(lift_part, x, expected, mix, around, r0, r1, c0, c1)
                    out.addcmul_(_with_gain(edge_part, gain) * expected, mix)
                    if plus is not None:
                        out.addcmul_(plus, mix)
            if strand_wall is not None and name in self.lift_gain:
                # out = x + wall's share * (backdrop * (gain - 1) + added): the tone alone, additive
                # (a gain on the whole pixel would take its subject's share up with it; the backdrop
                # is the one beyond the subject's protection: the expected one there has the strands)
                ys, xs, where, clear, share = strand_wall
                wall = clear * (_sample(self.lift_gain[name], where) - 1.0)
                if plus is not None:
                    wall = wall.add_(plus[0, :, ys, xs])
                out[0, :, ys, xs] = out[0, :, ys, xs].addcmul_(wall, share)
            if partial:
                out = torch.where(up.nearest(self.act[name], r0, r1, c0, c1), out, x)
            sink.put(r0, c0, out, x)
