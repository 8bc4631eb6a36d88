"""Synthetic studio scenes with known ground truth.

Every scene is a plausible studio frame (backdrop with its natural light
falloff, vignette and grain; optionally a real floor; a subject with
semi-transparent hair strands; a contact shadow at the feet) plus a set of
backdrop defects (cast shadow, scuffs, footprints, creases, seam shadow,
specks, lint, smudges) whose exact footprint is known.

The defects are painted on the backdrop *before* the subject is composited
over it, so the ground truth is exact::

    image = alpha * subject + (1 - alpha) * backdrop_with_defects
    clean = alpha * subject + (1 - alpha) * clean_backdrop

and ``image - clean`` is zero wherever ``defects == 0``.

Geometry is defined in units of the frame, so the same scene at
``(480, 320)`` and ``(1920, 1280)`` looks the same; only the per-pixel noise
(paper grain, fabric noise) differs.  All randomness comes from ``seed``.

Example::

    >>> from bench.scenes import make_scene
    >>> sc = make_scene("white_seamless", size=(480, 320), seed=0)
    >>> sc.image.shape, sc.image.dtype
    ((320, 480, 3), dtype('float32'))
    >>> bool(((sc.image - sc.clean)[sc.defects == 0] == 0).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
from scipy import ndimage as ndi

__all__ = ["Scene", "SCENE_NAMES", "make_scene", "all_scenes"]

SCENE_NAMES: tuple[str, ...] = (
    "white_seamless",
    "grey_wall_wood_floor",
    "coloured_paper",
    "dark_backdrop",
    "clean_nothing",
    "concrete_floor",
    "dark_fabric",
    "painted_canvas",
    "muslin",
)

_F32 = np.float32


@dataclass
class Scene:
    """One synthetic frame and its ground truth (all arrays H x W [x 3]).

    Attributes:
        name: scene name (one of ``SCENE_NAMES``).
        image: float32 (H, W, 3) in [0, 1], the photo with backdrop defects.
        clean: float32 (H, W, 3), the same photo without any backdrop defect
            (keeps the light falloff, vignette, grain, floor, contact shadow
            and subject).
        alpha: float32 (H, W), true subject matte in [0, 1].
        defects: float32 (H, W) in [0, 1], defect footprint seen through the
            matte, ``(1 - alpha) * defect_strength``; ``image == clean``
            wherever it is 0.
        floor: float32 (H, W), 1 on a real floor (anti-aliased at its edge),
            all zero when the scene has none.
        contact: float32 (H, W), 1 in the contact-shadow region around the
            feet (must be kept), else 0.
        hair: bool (H, W), thin semi-transparent hair-strand pixels away
            from the solid body.
        wall: bool (H, W), backdrop pixels (alpha == 0 and not floor), where
            cleanup is judged (includes the contact region on paper).
    """

    name: str
    image: np.ndarray
    clean: np.ndarray
    alpha: np.ndarray
    defects: np.ndarray
    floor: np.ndarray
    contact: np.ndarray
    hair: np.ndarray
    wall: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])


# --------------------------------------------------------------------------
# small numeric helpers
# --------------------------------------------------------------------------


def _smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _compact(a, eps=0.02):
    """Map a soft field to [0, 1] with an exact zero below ``eps``."""
    return np.clip((a - _F32(eps)) * _F32(1.0 / (1.0 - eps)), 0.0, 1.0).astype(_F32, copy=False)


def _band_cov(d, w):
    """Pixel coverage (1-px box filter) of a band of width ``w`` centred on signed distance ``d``."""
    hw = 0.5 * w
    return np.clip(np.minimum(d + 0.5, hw) - np.maximum(d - 0.5, -hw), 0.0, 1.0)


def _interp_idx(n_in, pos):
    pos = np.clip(np.asarray(pos, np.float64), 0.0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    t = (pos - i0).astype(_F32)
    return i0, i1, t


def _sample_grid(tex, ypos, xpos):
    """Separable bilinear sampling of a 2-D grid at fractional row/column indices (1-D each)."""
    h, w = tex.shape
    i0, i1, t = _interp_idx(h, ypos)
    rows = tex[i0] * (1 - t)[:, None]
    rows += tex[i1] * t[:, None]
    j0, j1, u = _interp_idx(w, xpos)
    out = rows[:, j0]
    out *= 1 - u
    tmp = rows[:, j1]
    tmp *= u
    out += tmp
    return out


def _smooth_noise(rng, shape, sigma):
    """Zero-mean unit-std smooth noise on a small grid."""
    n = rng.standard_normal(shape).astype(_F32)
    if np.any(np.asarray(sigma) > 0):
        n = ndi.gaussian_filter(n, sigma, mode="wrap")
    n -= n.mean()
    n /= max(float(n.std()), 1e-6)
    return n


def _child(rng):
    return np.random.default_rng(int(rng.integers(0, 2**63 - 1)))


def _sub_box(sb, y0, x0):
    """A clipped box further limited to start at (y0, x0); None when empty."""
    if sb is None:
        return None
    sy0, sy1, sx0, sx1 = max(sb[0], y0), sb[1], max(sb[2], x0), sb[3]
    if sy1 <= sy0 or sx1 <= sx0:
        return None
    return sy0, sy1, sx0, sx1


def _clip_box(y0, y1, x0, x1, H, W):
    y0 = max(0, int(math.floor(y0)))
    x0 = max(0, int(math.floor(x0)))
    y1 = min(H, int(math.ceil(y1)) + 1)
    x1 = min(W, int(math.ceil(x1)) + 1)
    if y1 <= y0 or x1 <= x0:
        return None
    return y0, y1, x0, x1


def _coords(box):
    y0, y1, x0, x1 = box
    yy = np.arange(y0, y1, dtype=_F32)[:, None]
    xx = np.arange(x0, x1, dtype=_F32)[None, :]
    return yy, xx


# --------------------------------------------------------------------------
# signed distance primitives (any units; arrays broadcast)
# --------------------------------------------------------------------------


def _sd_ellipse(x, y, cx, cy, rx, ry, ang=0.0):
    dx, dy = x - cx, y - cy
    if ang:
        c, s = math.cos(ang), math.sin(ang)
        dx, dy = dx * c + dy * s, -dx * s + dy * c
    px, py = dx / rx, dy / ry
    k0 = np.sqrt(px * px + py * py)
    k1 = np.sqrt(px * px / (rx * rx) + py * py / (ry * ry)) + 1e-12
    return k0 * (k0 - 1.0) / k1


def _sd_capsule(x, y, a, b, ra, rb):
    ax, ay = a
    bx, by = b
    vx, vy = bx - ax, by - ay
    ll = vx * vx + vy * vy
    h = np.clip(((x - ax) * vx + (y - ay) * vy) / ll, 0.0, 1.0)
    dx = x - ax - h * vx
    dy = y - ay - h * vy
    return np.sqrt(dx * dx + dy * dy) - (ra + (rb - ra) * h)


def _sd_poly(x, y, pts):
    """Signed distance (exact near edges) to a convex polygon."""
    pts = np.asarray(pts, np.float64)
    cx, cy = pts.mean(axis=0)
    d = None
    for i in range(len(pts)):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % len(pts)]
        ex, ey = x1 - x0, y1 - y0
        nx, ny = ey, -ex
        nrm = math.hypot(nx, ny)
        nx, ny = nx / nrm, ny / nrm
        if (cx - x0) * nx + (cy - y0) * ny > 0:
            nx, ny = -nx, -ny
        e = (x - x0) * nx + (y - y0) * ny
        d = e if d is None else np.maximum(d, e)
    return d


def _stroke_geom(p0, ang, length, c2, c3):
    """Sample points of a bent stroke (pixel coordinates)."""
    t = np.linspace(0.0, length, 17)
    n = (c2 / max(length, 1e-6)) * t * t + (c3 / max(length, 1e-6) ** 2) * t ** 3
    c, s = math.cos(ang), math.sin(ang)
    return p0[0] + t * c - n * s, p0[1] + t * s + n * c


def _stroke(yy, xx, p0, ang, length, c2, c3, width, taper=0.0):
    """Anti-aliased coverage of a bent stroke of given pixel width.

    The centre line is ``n(t) = c2/L t^2 + c3/L^2 t^3`` in a frame rotated by
    ``ang`` from ``p0``; the width tapers linearly by ``taper`` to the end.
    """
    c, s = math.cos(ang), math.sin(ang)
    dx = xx - _F32(p0[0])
    dy = yy - _F32(p0[1])
    t = dx * _F32(c) + dy * _F32(s)
    n = dy * _F32(c) - dx * _F32(s)
    L = max(length, 1e-6)
    k2, k3 = _F32(c2 / L), _F32(c3 / (L * L))
    n -= (k2 + k3 * t) * t * t
    slope = (2 * k2 + 3 * k3 * t) * t
    n /= np.sqrt(1 + slope * slope)
    tt = np.clip(t / _F32(L), 0, 1)
    w = _F32(width) * (1 - _F32(taper) * tt)
    cov = _band_cov(n, w)
    cov *= np.clip(t + 0.5, 0, 1) * np.clip(_F32(L) - t + 0.5, 0, 1)
    return cov.astype(_F32, copy=False), tt


# --------------------------------------------------------------------------
# the subject
# --------------------------------------------------------------------------


@dataclass
class _Part:
    sdf: object  # fn(bx, bv) -> sdf in body units (v upward)
    bbox: tuple  # (bx0, bx1, bv0, bv1)
    rgb: tuple
    tex: str
    thick: float


def _ell_part(cx, cv, rx, rv, rgb, tex, ang=0.0):
    r = max(rx, rv)
    return _Part(lambda x, v: _sd_ellipse(x, v, cx, cv, rx, rv, ang),
                 (cx - r, cx + r, cv - r, cv + r), rgb, tex, min(rx, rv))


def _cap_part(a, b, ra, rb, rgb, tex):
    r = max(ra, rb)
    return _Part(lambda x, v: _sd_capsule(x, v, a, b, ra, rb),
                 (min(a[0], b[0]) - r, max(a[0], b[0]) + r, min(a[1], b[1]) - r, max(a[1], b[1]) + r),
                 rgb, tex, 0.5 * (ra + rb))


def _poly_part(pts, rgb, tex, thick, round_=0.0):
    pts = np.asarray(pts, np.float64)
    return _Part(lambda x, v: _sd_poly(x, v, pts) - round_,
                 (pts[:, 0].min() - round_, pts[:, 0].max() + round_,
                  pts[:, 1].min() - round_, pts[:, 1].max() + round_), rgb, tex, thick)


def _smin(a, b, k):
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _union_part(parts, k, thick=None, rgb=None, tex=None):
    """One part from several primitives joined by a smooth minimum (no seams inside)."""
    fns = [p.sdf for p in parts]

    def sdf(x, v):
        d = fns[0](x, v)
        for f in fns[1:]:
            d = _smin(d, f(x, v), k)
        return d

    bb = np.array([p.bbox for p in parts])
    return _Part(sdf, (bb[:, 0].min() - k, bb[:, 1].max() + k, bb[:, 2].min() - k, bb[:, 3].max() + k),
                 rgb or parts[0].rgb, tex or parts[0].tex, thick or max(p.thick for p in parts))


class _Figure:
    """A stylised person: feet centre at (xc, yf) pixels, height ``hs`` pixels."""

    def __init__(self, xc, yf, hs, style, rng):
        self.xc, self.yf, self.hs = float(xc), float(yf), float(hs)
        self.style = style
        self.rng = rng
        self.parts = self._build()
        self.strands = self._build_strands()
        self.mottle = _smooth_noise(_child(rng), (160, 96), 1.6)  # bv in [-0.05, 1.05], bx in [-0.45, 0.45]
        self.fine_mottle = _smooth_noise(_child(rng), (640, 384), 1.2)

    # body geometry, in body units (x right, v up, feet at v=0, head top at v~1)
    def _build(self):
        st = self.style
        skin, shirt, trou, shoe, hair = st["skin"], st["shirt"], st["trousers"], st["shoes"], st["hair"]
        ls = st.get("spread", 0.0)
        P = []
        hcx, hcv = 0.0, 0.925
        # hair behind the head (long hair: a second, lower mass joined smoothly)
        hb = _ell_part(hcx, hcv + 0.012, 0.064, 0.074, hair, "hair")
        if st.get("long_hair"):
            P.append(_union_part([hb, _ell_part(hcx, 0.862, 0.074, 0.085, hair, "hair")], 0.02, thick=0.04))
            self.root_ell = (hcx, 0.905, 0.075, 0.106)
        else:
            P.append(hb)
            self.root_ell = (hcx, hcv + 0.012, 0.064, 0.074)
        # trousers: hips and both legs in one garment
        legs = [_cap_part((sgn * 0.044, 0.55), (sgn * (0.052 + ls), 0.05), 0.046, 0.027, trou, "cloth") for sgn in (-1, 1)]
        hips = _poly_part([(-0.078, 0.575), (0.078, 0.575), (0.068, 0.45), (-0.068, 0.45)], trou, "cloth", 0.08, 0.01)
        P.append(_union_part([hips] + legs, 0.012, thick=0.045))
        for sgn in (-1, 1):
            fx = sgn * (0.056 + ls)
            P.append(_ell_part(fx + sgn * 0.012, 0.02, 0.05, 0.021, shoe, "shoe", ang=sgn * 0.15))
        # head and neck (one skin part), drawn before the shirt so the neckline covers the neck
        neck = _cap_part((0.0, 0.78), (0.0, 0.87), 0.023, 0.021, skin, "skin")
        head = _ell_part(hcx, hcv, 0.05, 0.063, skin, "skin")
        P.append(_union_part([neck, head], 0.012, thick=0.04))
        # shirt: chest, waist and sloping shoulders joined
        chest = _poly_part([(-0.09, 0.79), (0.09, 0.79), (0.08, 0.56), (-0.08, 0.56)], shirt, "cloth", 0.09, 0.012)
        sh_l = _cap_part((-0.03, 0.802), (-0.098, 0.78), 0.024, 0.03, shirt, "cloth")
        sh_r = _cap_part((0.03, 0.802), (0.098, 0.78), 0.024, 0.03, shirt, "cloth")
        P.append(_union_part([chest, sh_l, sh_r], 0.03, thick=0.09))
        # arms: upper arm + forearm joined, then the hand
        arms = st.get("arms", "down")
        sleeves = st.get("long_sleeves", True)
        for sgn in (-1, 1):
            sh = (sgn * 0.112, 0.785)
            if arms == "hip" and sgn == st.get("hip_side", 1):
                el, wr = (sgn * 0.2, 0.64), (sgn * 0.105, 0.555)
            else:
                el, wr = (sgn * 0.142, 0.63), (sgn * 0.152, 0.475)
            up = _cap_part(sh, el, 0.032, 0.026, shirt, "cloth")
            fo = _cap_part(el, wr, 0.026, 0.019, shirt if sleeves else skin, "cloth" if sleeves else "skin")
            if sleeves:
                P.append(_union_part([up, fo], 0.01, thick=0.028))
            else:
                P += [up, fo]
            hx = wr[0] + (wr[0] - el[0]) * 0.2
            hv = wr[1] + (wr[1] - el[1]) * 0.2
            P.append(_ell_part(hx, hv, 0.019, 0.029, skin, "skin", ang=math.atan2(wr[0] - el[0], el[1] - wr[1])))
        # face details
        ex = 0.019
        brow = tuple(0.7 * c for c in hair)
        for sgn in (-1, 1):
            P.append(_ell_part(sgn * ex, 0.929, 0.0075, 0.0036, (0.22, 0.16, 0.14), "flat"))
            P.append(_ell_part(sgn * ex, 0.94, 0.01, 0.0022, brow, "flat"))
        P.append(_ell_part(0.0, 0.893, 0.013, 0.0038, (0.66, 0.38, 0.36), "flat"))
        # fringe: top of the hair ellipse over the forehead
        ra, rb = 0.066, 0.076
        P.append(_Part(lambda x, v: np.maximum(_sd_ellipse(x, v, hcx, hcv + 0.012, ra, rb),
                                               (hcv + 0.034 - 0.15 * x + 4.0 * x * x) - v),
                       (-ra, ra, hcv - 0.06, hcv + 0.012 + rb), hair, "hair", 0.03))
        self.head = (hcx, hcv + 0.012, 0.066, 0.076)
        return P

    def _build_strands(self):
        """Loose hairs: most follow the outline, a quarter fly away from it."""
        rng = self.rng
        st = self.style
        cx, cv, rx, rv = self.root_ell
        hair_sdf = self.parts[0].sdf
        out = []
        n = st.get("strands", 64)
        lim = 2.1 if st.get("long_hair") else 1.75
        for i in range(n):
            flying = i < n // 4
            phi = rng.uniform(-lim, lim)
            side = math.copysign(1.0, phi) if abs(phi) > 0.15 else rng.choice([-1.0, 1.0])
            # root: just inside the hair outline along the ray from the hair centre
            sx, sv = rx * math.sin(phi), rv * math.cos(phi)
            fr = np.linspace(1.1, 0.5, 61)
            inside = np.nonzero(hair_sdf(cx + fr * sx, cv + fr * sv) < -0.004)[0]
            f0 = fr[inside[0]] if inside.size else 0.5
            root = (cx + f0 * sx, cv + f0 * sv)
            a_n = math.atan2(math.cos(phi) / rv, math.sin(phi) / rx)   # outward normal (x, v-up)
            a_t = a_n - side * math.pi / 2                              # tangent, down the outline
            dev = rng.uniform(0.5, 1.1) if flying else rng.uniform(0.05, 0.45)
            a = a_t + side * dev
            length = rng.uniform(0.04, 0.08) if flying else rng.uniform(0.015, 0.045)
            out.append(dict(root=root, ang=a, length=length,
                            c2=side * rng.uniform(0.0, 0.25), c3=rng.uniform(-0.15, 0.15),
                            width=rng.uniform(0.8, 1.8), opacity=rng.uniform(0.3, 0.9),
                            tone=rng.uniform(1.0, 1.35)))
        return out

    # --- coordinate helpers -------------------------------------------------
    def to_px(self, bx, bv):
        return self.xc + bx * self.hs, self.yf - bv * self.hs

    def px_bbox(self, margin_body=0.0):
        bb = np.array([p.bbox for p in self.parts])
        bx0, bx1 = bb[:, 0].min() - margin_body, bb[:, 1].max() + margin_body
        bv0, bv1 = bb[:, 2].min() - margin_body, bb[:, 3].max() + margin_body
        x0, y1 = self.to_px(bx0, bv0)
        x1, y0 = self.to_px(bx1, bv1)
        return y0, y1, x0, x1

    def strand_reach(self):
        return max(s["length"] for s in self.strands) if self.strands else 0.0

    # --- coverage only (for planning and cast shadows) -----------------------
    def coverage(self, yy, xx, px):
        """Union coverage of the body (no strands) at pixel coords; ``px`` = pixel size."""
        return np.clip(0.5 - self.sdf_px(yy, xx) / _F32(px), 0, 1).astype(_F32)

    def sdf_px(self, yy, xx):
        """Signed distance to the body (no strands), in pixels."""
        bx = (xx - _F32(self.xc)) / _F32(self.hs)
        bv = (_F32(self.yf) - yy) / _F32(self.hs)
        d = None
        for p in self.parts:
            if p.tex == "flat":
                continue
            s = p.sdf(bx, bv)
            d = s if d is None else np.minimum(d, s)
        return d * _F32(self.hs)

    # --- full render ---------------------------------------------------------
    def render(self, box, prng, s):
        """Premultiplied colour (h,w,3), alpha (h,w) and body-only alpha over ``box``."""
        y0, y1, x0, x1 = box
        h, w = y1 - y0, x1 - x0
        C = np.zeros((h, w, 3), _F32)
        A = np.zeros((h, w), _F32)
        hs = self.hs
        key = self.style.get("key_side", -1)
        weave_p = max(2.2, 0.0055 * hs)
        for p in self.parts:
            px0, py1 = self.to_px(p.bbox[0], p.bbox[2])
            px1, py0 = self.to_px(p.bbox[1], p.bbox[3])
            sb = _sub_box(_clip_box(py0 - 2, py1 + 2, px0 - 2, px1 + 2, y1, x1), y0, x0)
            if sb is None:
                continue
            sy0, sy1, sx0, sx1 = sb
            yy, xx = _coords((sy0, sy1, sx0, sx1))
            bx = (xx - _F32(self.xc)) / _F32(hs)
            bv = (_F32(self.yf) - yy) / _F32(hs)
            sd = p.sdf(bx, bv).astype(_F32)
            cov = np.clip(0.5 - sd * _F32(hs), 0, 1)
            if not cov.any():
                continue
            # shading: key light from one side, rounded volume from the sdf
            shade = 1 + 0.12 * np.clip(bx * (key / 0.15), -1, 1)
            if p.tex != "flat":
                shade = shade * (0.74 + 0.26 * np.sqrt(np.clip(-sd / _F32(p.thick), 0, 1)))
            tex = np.zeros_like(sd)
            if p.tex in ("cloth", "skin", "hair", "shoe"):
                mrow = (1.05 - bv[:, 0]) / 1.1 * 159
                mcol = (bx[0] + 0.45) / 0.9 * 95
                mot = _sample_grid(self.mottle, mrow, mcol)
                fm = _sample_grid(self.fine_mottle, mrow * 4, mcol * 4)
                fine = prng.standard_normal(sd.shape).astype(_F32)
                if p.tex == "cloth":
                    weave = np.sin(xx * _F32(2 * math.pi / weave_p)) * np.sin(yy * _F32(2 * math.pi / weave_p))
                    tex = 0.035 * mot + 0.025 * fm + 0.03 * weave + 0.02 * fine
                elif p.tex == "skin":
                    tex = 0.03 * mot + 0.015 * fm + 0.008 * fine
                elif p.tex == "hair":
                    ang = np.arctan2(bx - _F32(self.head[0]), _F32(self.head[1] + 0.09) - bv)
                    tex = 0.05 * np.sin(ang * 150 + 0.8 * fm) + 0.05 * fm + 0.03 * fine
                else:
                    tex = 0.03 * fm + 0.02 * fine
            rgb = np.asarray(p.rgb, _F32)
            col = (shade * (1 + tex))[..., None] * rgb
            np.clip(col, 0, 1, out=col)
            sl = (slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0))
            c3 = cov[..., None]
            C[sl] = C[sl] * (1 - c3) + c3 * col
            A[sl] = A[sl] * (1 - cov) + cov
        body = A.copy()
        # hair strands on top
        hair_rgb = np.asarray(self.style["hair"], _F32)
        for st in self.strands:
            root = self.to_px(*st["root"])
            ang = math.atan2(-math.sin(st["ang"]), math.cos(st["ang"]))  # v-up to y-down
            L = st["length"] * hs
            c2, c3 = st["c2"], st["c3"]
            gx, gy = _stroke_geom(root, ang, L, c2, c3)
            wpx = st["width"] * s
            sb = _sub_box(_clip_box(gy.min() - wpx - 2, gy.max() + wpx + 2, gx.min() - wpx - 2, gx.max() + wpx + 2, y1, x1), y0, x0)
            if sb is None:
                continue
            sy0, sy1, sx0, sx1 = sb
            yy, xx = _coords((sy0, sy1, sx0, sx1))
            cov, tt = _stroke(yy, xx, root, ang, L, c2, c3, wpx, taper=0.5)
            cov *= _F32(st["opacity"]) * (1 - 0.6 * tt * tt)
            if not cov.any():
                continue
            col = np.clip(hair_rgb * _F32(st["tone"]), 0, 1)
            sl = (slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0))
            c3a = cov[..., None]
            C[sl] = C[sl] * (1 - c3a) + c3a * col
            A[sl] = A[sl] * (1 - cov) + cov
        return C, A, body


_STYLES = {
    "white_seamless": dict(skin=(0.80, 0.60, 0.50), shirt=(0.16, 0.30, 0.36), trousers=(0.10, 0.10, 0.13),
                           shoes=(0.05, 0.045, 0.045), hair=(0.20, 0.13, 0.08), long_hair=True,
                           arms="hip", hip_side=1, spread=0.012, key_side=-1),
    "grey_wall_wood_floor": dict(skin=(0.62, 0.44, 0.34), shirt=(0.55, 0.16, 0.14), trousers=(0.17, 0.20, 0.30),
                                 shoes=(0.30, 0.20, 0.12), hair=(0.07, 0.06, 0.06), long_hair=False,
                                 arms="down", spread=0.02, key_side=1),
    "coloured_paper": dict(skin=(0.85, 0.66, 0.56), shirt=(0.25, 0.22, 0.20), trousers=(0.1, 0.1, 0.1),
                           shoes=(0.05, 0.05, 0.05), hair=(0.42, 0.25, 0.12), long_hair=True,
                           arms="down", key_side=-1, strands=72),
    "dark_backdrop": dict(skin=(0.86, 0.68, 0.58), shirt=(0.82, 0.80, 0.74), trousers=(0.42, 0.52, 0.66),
                          shoes=(0.7, 0.68, 0.64), hair=(0.78, 0.64, 0.40), long_hair=True,
                          arms="hip", hip_side=-1, key_side=1, strands=64),
    "clean_nothing": dict(skin=(0.72, 0.52, 0.42), shirt=(0.30, 0.32, 0.22), trousers=(0.22, 0.18, 0.15),
                          shoes=(0.08, 0.07, 0.06), hair=(0.12, 0.09, 0.07), long_hair=False,
                          arms="down", spread=0.01, key_side=-1),
    "concrete_floor": dict(skin=(0.78, 0.58, 0.47), shirt=(0.12, 0.12, 0.14), trousers=(0.30, 0.26, 0.22),
                           shoes=(0.55, 0.50, 0.45), hair=(0.25, 0.17, 0.10), long_hair=True,
                           arms="hip", hip_side=-1, spread=0.015, key_side=1),
    "dark_fabric": dict(skin=(0.84, 0.66, 0.56), shirt=(0.62, 0.12, 0.12), trousers=(0.15, 0.15, 0.18),
                        shoes=(0.1, 0.1, 0.1), hair=(0.82, 0.70, 0.46), long_hair=True,
                        arms="down", key_side=-1, strands=80),
    "painted_canvas": dict(skin=(0.80, 0.60, 0.48), shirt=(0.14, 0.16, 0.20), trousers=(0.12, 0.12, 0.14),
                           shoes=(0.08, 0.07, 0.07), hair=(0.18, 0.12, 0.08), long_hair=True,
                           arms="hip", hip_side=1, key_side=-1, strands=64),
    "muslin": dict(skin=(0.66, 0.47, 0.36), shirt=(0.30, 0.38, 0.52), trousers=(0.20, 0.18, 0.16),
                   shoes=(0.1, 0.08, 0.07), hair=(0.10, 0.08, 0.07), long_hair=False,
                   arms="down", key_side=1, strands=48),
}


# --------------------------------------------------------------------------
# scene builder
# --------------------------------------------------------------------------


class _Builder:
    def __init__(self, name, W, H, seed):
        self.name = name
        self.W, self.H = W, H
        self.m = float(min(W, H))
        self.s = self.m / 640.0  # scale of thin features (1 at 640 px short side)
        idx = SCENE_NAMES.index(name)
        self.g = np.random.default_rng([seed, idx, 0])  # geometry (size independent)
        self.p = np.random.default_rng([seed, idx, 1])  # per-pixel noise
        self.f = max(1, int(self.m // 200))  # low-res factor for smooth fields
        self.hl, self.wl = -(-H // self.f), -(-W // self.f)
        self.dark_lr = np.zeros((self.hl, self.wl), _F32)   # darkening depth: bd *= 1 - d
        self.lift_lr = np.zeros((self.hl, self.wl), _F32)   # blend toward lift_rgb
        self.mask_lr = np.zeros((self.hl, self.wl), _F32)
        self.lift_rgb = np.array([0.7, 0.7, 0.7], _F32)
        self.floor = np.zeros((H, W), _F32)
        self.contact = np.zeros((H, W), _F32)
        self.floor_y = None  # (y at x=0, y at x=W) of the floor boundary, pixels
        self.figure = None
        self.bd = None
        self.dm = np.zeros((H, W), _F32)  # defect strength, full res (local defects)
        self.local = []
        # planning grid, size independent for a given aspect ratio
        self.gh = 160
        self.gw = max(8, int(round(160 * W / H)))
        self.keep = np.zeros((self.gh, self.gw), bool)

    # --- grids ----------------------------------------------------------------
    def lr_coords(self):
        f = self.f
        yy = ((np.arange(self.hl, dtype=_F32) + 0.5) * f - 0.5)[:, None]
        xx = ((np.arange(self.wl, dtype=_F32) + 0.5) * f - 0.5)[None, :]
        return yy, xx

    def plan_coords(self):
        yy = ((np.arange(self.gh, dtype=_F32) + 0.5) * (self.H / self.gh) - 0.5)[:, None]
        xx = ((np.arange(self.gw, dtype=_F32) + 0.5) * (self.W / self.gw) - 0.5)[None, :]
        return yy, xx

    # --- clean backdrop ---------------------------------------------------------
    def backdrop(self, rgb, *, gx=0.0, gy=0.0, vig=0.12, vc=(0.5, 0.45), tilt=(0, 0, 0),
                 falloff=0.0, grain=1.2 / 255, sweep=None, mottle=0.0):
        """Light falloff x vignette x paper colour + grain, float32 (H, W, 3)."""
        H, W = self.H, self.W
        X = (np.arange(W, dtype=_F32) + 0.5) / W - 0.5
        Y = (np.arange(H, dtype=_F32) + 0.5) / H - 0.5
        row = 1 + gx * X
        if falloff:
            # light from one side: exponential roll-off across the frame
            row = row * np.exp(-falloff * (X + 0.5)).astype(_F32) / np.exp(-falloff * 0.5)
        col = 1 + gy * Y
        if sweep is not None:
            y_s, amt = sweep
            col = col * (1 + amt * _smoothstep(y_s - 0.5 - 0.04, y_s - 0.5 + 0.08, Y)).astype(_F32)
        L = col[:, None] * row[None, :]
        vx = ((X + 0.5 - vc[0]) / 0.5) ** 2
        vy = ((Y + 0.5 - vc[1]) / 0.5) ** 2
        r2 = (vx[None, :] + vy[:, None]) * _F32(0.5)
        r2 *= _F32(0.75) + _F32(0.25) * r2
        r2 *= -_F32(vig)
        r2 += 1
        L *= r2
        del r2
        if mottle:
            mot = _smooth_noise(_child(self.g), (48, max(8, int(48 * W / H))), 2.0)
            L *= 1 + _F32(mottle) * _sample_grid(mot, (np.arange(H) + 0.5) * 48 / H - 0.5,
                                                 (np.arange(W) + 0.5) * mot.shape[1] / W - 0.5)
        # paper grain: slightly correlated gaussian noise
        g = self.p.standard_normal((H, W), dtype=_F32)
        g = ndi.gaussian_filter(g, 0.6)
        g *= _F32(grain) / max(float(g[::7, ::7].std()), 1e-6)
        bd = np.empty((H, W, 3), _F32)
        rgb = np.asarray(rgb, _F32)
        for c in range(3):
            bd[..., c] = L * (rgb[c] * (1 + _F32(tilt[c]) * X))[None, :]
            bd[..., c] += g
        self.L = L
        del g
        self.bd = bd
        return bd

    def _field(self, cells, sigma):
        """Zero-mean unit-std smooth noise over the frame, about ``cells`` blobs along the short edge."""
        H, W = self.H, self.W
        gh = max(4, int(round(cells * H / self.m)))
        gw = max(4, int(round(cells * W / self.m)))
        n = _smooth_noise(_child(self.g), (gh, gw), sigma)
        return _sample_grid(n, (np.arange(H) + 0.5) * gh / H - 0.5, (np.arange(W) + 0.5) * gw / W - 0.5)

    def paint(self, scales, colour=0.0):
        """The backdrop's own painted tone: soft blotches at several scales, ``(cells, amount)`` each,
        multiplied into the clean backdrop; ``colour`` adds blotches of hue of that amount."""
        tone = np.ones((self.H, self.W), _F32)
        for cells, amount in scales:
            tone *= 1 + _F32(amount) * np.tanh(self._field(cells, 1.5))
        for c in range(3):
            hue = 1 + _F32(colour) * np.tanh(self._field(scales[0][0] * 1.5, 1.5)) if colour else 1
            self.bd[..., c] *= tone * hue
        self.L = self.L * tone

    def weave(self, amount, period=3.5):
        """Woven threads: a fine over-and-under pattern with slubs along warp and weft (relative)."""
        H, W, p = self.H, self.W, max(2.5, period * self.s)
        x = np.arange(W, dtype=_F32)
        y = np.arange(H, dtype=_F32)
        cross = np.sin(2 * np.pi * y / p)[:, None] * np.sin(2 * np.pi * x / p)[None, :]
        warp = ndi.gaussian_filter1d(self.p.standard_normal(W).astype(_F32), 1.2)
        weft = ndi.gaussian_filter1d(self.p.standard_normal(H).astype(_F32), 1.2)
        warp /= warp.std()
        weft /= weft.std()
        t = 0.6 * cross + 0.45 * warp[None, :] + 0.45 * weft[:, None]
        t *= _F32(amount) / float(t.std())
        self.bd *= (1 + t)[..., None]

    def folds(self, n, amount, width=(0.03, 0.07)):
        """Soft folds of hanging cloth: long ridges, mostly vertical, lit on one side and shaded on the
        other (relative ``amount``), ``width`` a fraction of the short edge."""
        H, W, rng = self.H, self.W, self.g
        yy, xx = self.lr_coords()
        shade = np.zeros((self.hl, self.wl), _F32)
        for _ in range(n):
            x0 = rng.uniform(0.05, 0.95) * W
            lean = rng.uniform(-0.25, 0.25)
            bend = rng.uniform(-0.08, 0.08) * W
            w = rng.uniform(*width) * self.m
            top, bot = rng.uniform(-0.2, 0.4) * H, rng.uniform(0.6, 1.2) * H
            v = (yy - top) / (bot - top)
            xc = x0 + lean * (yy - H / 2) + bend * np.sin(np.pi * np.clip(v, 0, 1))
            u = (xx - xc) / w
            env = _smoothstep(-0.1, 0.25, v) * _smoothstep(1.1, 0.75, v)
            shade += _F32(rng.uniform(0.6, 1.0) * amount) * (-u * np.exp(0.5 - 0.5 * u * u)) * env
        up = _sample_grid(shade, (np.arange(H) + 0.5) / self.f - 0.5, (np.arange(W) + 0.5) / self.f - 0.5)
        self.bd *= (1 + up)[..., None]
        self.L = self.L * (1 + up)

    # --- floors -------------------------------------------------------------------
    def _floor_band(self, y_left, y_right):
        H, W = self.H, self.W
        self.floor_y = (y_left, y_right)
        yb = (y_left + (y_right - y_left) * (np.arange(W, dtype=_F32) + 0.5) / W)[None, :]
        r0 = max(0, int(math.floor(min(y_left, y_right))) - 1)
        yy = np.arange(r0, H, dtype=_F32)[:, None]
        cov = np.clip(yy + 0.5 - yb, 0, 1).astype(_F32)
        self.floor[r0:] = cov
        return r0, yy, yb, cov

    def wood_floor(self, y_rel, tilt_rel=0.0):
        H, W, rng = self.H, self.W, self.g
        yl = (y_rel - tilt_rel) * H
        yr = (y_rel + tilt_rel) * H
        r0, yy, yb, cov = self._floor_band(yl, yr)
        xx = np.arange(W, dtype=_F32)[None, :]
        yh = _F32(0.36 * H)  # horizon (camera height)
        xvp = _F32(0.5 * W + rng.uniform(-0.1, 0.1) * W)
        depth_den = np.maximum(yy - yh, 1.0)          # (h,1)
        pw = _F32(0.13 * W / (0.64 * H))             # plank width: ~13% of W at the bottom
        q = (xx - xvp) / (depth_den * pw)            # plank coordinate (h,w)
        plank = np.floor(q)
        fq = q - plank
        d = _F32(H) / depth_den                      # depth coordinate (h,1)
        n_pl = 64
        pl_idx = (plank.astype(np.int64) % n_pl)
        tone = 1 + 0.09 * rng.standard_normal(n_pl).astype(_F32)
        offs = rng.uniform(0, 1, n_pl).astype(_F32)
        tone_pl = tone[pl_idx]
        # end joints, staggered per plank
        jl = _F32(0.55)
        jd = (d / jl + offs[pl_idx])
        jseg = np.floor(jd)
        tone2 = 1 + 0.05 * np.sin(jseg * 12.9898 + pl_idx * 78.233).astype(_F32)
        # grain: noise stretched along the plank (depth) direction
        tex = _smooth_noise(_child(rng), (256, 64), (1.0, 1.5))
        gi = (fq + (pl_idx % 8)) * (256 / 8) - 0.5
        gj = np.clip((d - 1.0) * 10, 0, 63)
        gtex = ndi.map_coordinates(tex, [gi.ravel(), np.broadcast_to(gj, gi.shape).ravel()], order=1, mode="wrap").reshape(gi.shape)
        rings = np.sin((fq * 6.0 + 0.8 * gtex) * _F32(2 * math.pi))
        wood = tone_pl * tone2 * (1 + 0.06 * gtex + 0.035 * rings)
        del gtex, rings, tone_pl, tone2
        # plank seams (dark gaps), widths in pixels
        seam_px = np.abs(fq - np.round(fq)) * depth_den * pw
        wgap = _F32(max(1.0, 1.3 * self.s)) * np.clip(depth_den / (0.6 * H), 0.4, 1.2)
        gap = _band_cov(seam_px, wgap)
        jf = jd - np.round(jd)
        joint_px = np.abs(jf) * jl * depth_den * depth_den / _F32(H)
        gap = np.maximum(gap, _band_cov(joint_px, wgap))
        wood *= 1 - 0.45 * gap
        del gap, seam_px, joint_px, jf, jd, q, fq
        # light: darker near the wall (ambient occlusion), light falloff from the wall light
        ao = 1 - 0.16 * np.exp(-np.maximum(yy - yb, 0) / (0.02 * H))
        shade = self.L[r0:] * (0.84 + 0.16 * _smoothstep(yb, yb + 0.2 * H, yy)) * ao
        rgb = np.array([0.50, 0.33, 0.20], _F32)
        fl = (wood * shade)[..., None] * rgb
        fl += (self.p.standard_normal(fl.shape[:2], dtype=_F32) * _F32(1.6 / 255))[..., None]
        # wall just above the boundary gets a little occlusion too
        bd = self.bd[r0:]
        wall_ao = 1 - 0.07 * np.exp(-np.maximum(yb - yy, 0) / (0.012 * H))
        bd *= wall_ao[..., None]
        c3 = cov[..., None]
        bd *= 1 - c3
        bd += c3 * fl

    def concrete_floor(self, y_rel, tilt_rel=0.0):
        H, W, rng = self.H, self.W, self.g
        r0, yy, yb, cov = self._floor_band((y_rel - tilt_rel) * H, (y_rel + tilt_rel) * H)
        h = H - r0
        m1 = _smooth_noise(_child(rng), (24, 96), 1.5)
        m2 = _smooth_noise(_child(rng), (96, 384), 1.0)
        rows = (np.arange(h) + 0.5) / h
        t1 = _sample_grid(m1, rows * 24 - 0.5, (np.arange(W) + 0.5) * 96 / W - 0.5)
        t2 = _sample_grid(m2, rows * 96 - 0.5, (np.arange(W) + 0.5) * 384 / W - 0.5)
        tex = 1 + 0.03 * t1 + 0.02 * t2
        del t1, t2
        pn = self.p.standard_normal((h, W), dtype=_F32)
        tex += _F32(0.03) * pn
        u = self.p.random((h, W), dtype=_F32)
        tex -= _F32(0.10) * (u < 0.004)
        tex += _F32(0.06) * (u > 0.997)
        del u, pn
        ao = 1 - 0.12 * np.exp(-np.maximum(yy - yb, 0) / (0.015 * H))
        shade = self.L[r0:] * (0.9 + 0.1 * _smoothstep(yb, yb + 0.2 * H, yy)) * ao
        rgb = np.array([0.60, 0.60, 0.585], _F32)
        fl = (tex * shade)[..., None] * rgb
        bd = self.bd[r0:]
        wall_ao = 1 - 0.05 * np.exp(-np.maximum(yb - yy, 0) / (0.01 * H))
        bd *= wall_ao[..., None]
        c3 = cov[..., None]
        bd *= 1 - c3
        bd += c3 * fl

    # --- subject and contact shadow ------------------------------------------------
    def subject(self, xc_rel, yf_rel, hs_rel, *, top=None, max_w=None):
        """Place the figure: feet at (xc_rel*W, yf_rel*H), height hs_rel*H (at most max_w*W).

        With ``top`` the figure is placed by its head top (relative row) instead of its feet.
        """
        H, W = self.H, self.W
        hs = hs_rel * H
        if max_w is not None:
            hs = min(hs, max_w * W)
        yf = yf_rel * H if top is None else top * H + 1.0 * hs
        self.figure = _Figure(xc_rel * W, yf, hs, _STYLES[self.name], _child(self.g))
        fig = self.figure
        # planning keep-out: body + margin, head + strand reach
        yy, xx = self.plan_coords()
        d = fig.sdf_px(yy, xx)
        self.keep |= d < 0.02 * self.m
        hx, hv, hrx, hrv = fig.root_ell
        cx, cy = fig.to_px(hx, hv)
        reach = (fig.strand_reach() + 0.01) * fig.hs + 0.02 * self.m
        rx = hrx * fig.hs + reach
        ry = hrv * fig.hs + reach
        self.keep |= ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
        return fig

    def contact_shadow(self, depth=0.22):
        fig, H, W = self.figure, self.H, self.W
        hs = fig.hs
        ls = fig.style.get("spread", 0.0)
        bd = self.bd
        ells = [(fig.xc, fig.yf + 0.002 * hs, (0.15 + ls) * hs, 0.03 * hs, depth)]
        for sgn in (-1, 1):
            fx, fy = fig.to_px(sgn * (0.068 + ls), 0.012)
            ells.append((fx, fy, 0.065 * hs, 0.017 * hs, 0.14))
        for ex, ey, rx, ry, dp in ells:
            box = _clip_box(ey - 1.2 * ry, ey + 1.2 * ry, ex - 1.2 * rx, ex + 1.2 * rx, H, W)
            if box is None:
                continue
            y0, y1, x0, x1 = box
            yy, xx = _coords(box)
            q = ((xx - _F32(ex)) / _F32(rx)) ** 2 + ((yy - _F32(ey)) / _F32(ry)) ** 2
            a = np.clip(1 - q, 0, 1) ** 1.6
            bd[y0:y1, x0:x1] *= (1 - _F32(dp) * a)[..., None]
            reg = (q < 1.2).astype(_F32)
            np.maximum(self.contact[y0:y1, x0:x1], reg, out=self.contact[y0:y1, x0:x1])
        # planning keep-out around the contact region
        yy, xx = self.plan_coords()
        ex, ey, rx, ry, _ = ells[0]
        mg = 0.04 * self.m
        self.keep |= ((xx - ex) / (rx + mg)) ** 2 + ((yy - ey) / (ry + mg)) ** 2 < 1

    # --- placement -------------------------------------------------------------------
    def place(self, radius_px, y_range, x_range=(0.03, 0.97), tries=400, mark=True):
        """A centre (pixels) whose disc of ``radius_px`` avoids the keep-out map."""
        rng = self.g
        H, W = self.H, self.W
        keep = self.keep
        if self.floor_y is not None:
            fy = min(self.floor_y) / H
            y_range = (y_range[0], min(y_range[1], fy - radius_px / H - 0.01))
        cy_s, cx_s = H / self.gh, W / self.gw
        for _ in range(tries):
            y = rng.uniform(*y_range) * H
            x = rng.uniform(*x_range) * W
            i0 = max(0, int((y - radius_px) / cy_s))
            i1 = min(self.gh, int((y + radius_px) / cy_s) + 1)
            j0 = max(0, int((x - radius_px) / cx_s))
            j1 = min(self.gw, int((x + radius_px) / cx_s) + 1)
            if not keep[i0:i1, j0:j1].any():
                if mark:
                    ii0 = max(0, int((y - 0.6 * radius_px) / cy_s))
                    ii1 = min(self.gh, int((y + 0.6 * radius_px) / cy_s) + 1)
                    jj0 = max(0, int((x - 0.6 * radius_px) / cx_s))
                    jj1 = min(self.gw, int((x + 0.6 * radius_px) / cx_s) + 1)
                    keep[ii0:ii1, jj0:jj1] = True
                return x, y
        return None

    # --- large smooth defects (low resolution) -----------------------------------------
    def _add_dark_lr(self, strength, depth):
        s = _compact(strength)
        self.dark_lr = 1 - (1 - self.dark_lr) * (1 - _F32(depth) * s)
        np.maximum(self.mask_lr, s, out=self.mask_lr)

    def cast_shadow(self, dx_rel, dy_rel=-0.02, depth=0.32, scale=1.04, blur_rel=0.013, fade_v=(0.2, 0.38)):
        """Soft shadow of the subject, shifted sideways (dx in units of subject height)."""
        fig = self.figure
        hs = fig.hs
        yy, xx = self.lr_coords()
        dx, dy = dx_rel * hs, dy_rel * hs
        sx = _F32(fig.xc) + (xx - _F32(fig.xc + dx)) / _F32(scale)
        sy = _F32(fig.yf) + (yy - _F32(fig.yf + dy)) / _F32(scale)
        sil = fig.coverage(sy, sx, self.f)
        sil = ndi.gaussian_filter(sil, blur_rel * hs / self.f, mode="constant")
        # the shadow fades out toward the feet so it never meets the contact shadow
        bv = (_F32(fig.yf) - yy) / _F32(hs)
        sil *= _smoothstep(fade_v[0], fade_v[1], bv).astype(_F32)
        sil = np.clip(sil * 1.15, 0, 1)
        self._add_dark_lr(sil, depth)

    def seam_shadow(self, y_rel, depth=0.12, width_rel=0.022):
        H = self.H
        rng = self.g
        yy, xx = self.lr_coords()
        y = (yy + 0.5) / H
        x = (xx + 0.5) / self.W
        yc = y_rel + 0.006 * np.sin(2 * math.pi * (x * 0.7 + rng.uniform()))
        dyv = (y - yc) / width_rel
        prof = np.exp(-0.5 * np.where(dyv < 0, dyv * 1.6, dyv * 0.8) ** 2)
        xn = _smooth_noise(_child(rng), (1, 16), (0, 2.0))[0]
        xm = 0.82 + 0.18 * np.interp(x[0], np.linspace(0, 1, 16), np.clip(xn, -1.5, 1.5)) / 1.5
        self._add_dark_lr((prof * xm[None, :]).astype(_F32), depth)

    def smudge_lr(self, cx, cy, rx, ry, amount, ang=0.0):
        """Dusty brightening smudge (blend toward lift colour)."""
        yy, xx = self.lr_coords()
        c, s_ = math.cos(ang), math.sin(ang)
        dx, dy = xx - cx, yy - cy
        u = (dx * c + dy * s_) / rx
        v = (-dx * s_ + dy * c) / ry
        q = u * u + v * v
        env = np.clip(1 - q, 0, 1) ** 2
        tex = _smooth_noise(_child(self.g), (32, 32), 1.3)
        ti = np.clip((v + 1) * 15.5, 0, 31)
        tj = np.clip((u + 1) * 15.5, 0, 31)
        t = ndi.map_coordinates(tex, [ti.ravel(), tj.ravel()], order=1).reshape(q.shape)
        st = _compact(env * np.clip(0.65 + 0.45 * t, 0, 1.5) / 1.2)
        self.lift_lr = 1 - (1 - self.lift_lr) * (1 - _F32(amount) * st)
        np.maximum(self.mask_lr, st, out=self.mask_lr)

    # --- local defects (full resolution, in their own boxes) ------------------------------
    def _apply_local(self, box, strength, op, *args):
        y0, y1, x0, x1 = box
        ok = (self.floor[y0:y1, x0:x1] == 0) & (self.contact[y0:y1, x0:x1] == 0)
        strength = np.where(ok, strength, 0).astype(_F32)
        if not strength.any():
            return
        self.local.append((box, strength, op, args))

    def scuff(self, cx, cy, length, depth, ang, bright=None):
        rng = self.g
        s = self.s
        subs = []
        n = rng.integers(3, 7)
        for k in range(n):
            off = rng.uniform(-0.09, 0.09) * length
            lf = rng.uniform(0.35, 1.0) if k else 1.0
            st = (rng.uniform(0.0, 1.0 - lf) - 0.5) * length
            a = ang + rng.uniform(-0.12, 0.12)
            p0 = (cx + st * math.cos(ang) - off * math.sin(ang), cy + st * math.sin(ang) + off * math.cos(ang))
            subs.append(dict(p0=p0, ang=a, L=lf * length, c2=rng.uniform(-0.08, 0.08), c3=rng.uniform(-0.05, 0.05),
                             w=rng.uniform(1.2, 3.5) * s, prof=rng.uniform(0.7, 1.0, 12), amp=rng.uniform(0.8, 1.0)))
        halo_w = 0.12 * length
        r = 0.7 * length + halo_w + 4
        box = _clip_box(cy - r, cy + r, cx - r, cx + r, self.H, self.W)
        if box is None:
            return
        yy, xx = _coords(box)
        acc = np.zeros((box[1] - box[0], box[3] - box[2]), _F32)
        for sb in subs:
            cov, tt = _stroke(yy, xx, sb["p0"], sb["ang"], sb["L"], sb["c2"], sb["c3"], sb["w"], taper=0.75)
            prof = np.interp(tt, np.linspace(0, 1, 12), sb["prof"]).astype(_F32)
            prof *= _smoothstep(0, 0.12, tt) * (1 - 0.75 * tt)  # heavy start, fading tail
            np.maximum(acc, cov * prof * _F32(sb["amp"]), out=acc)
            halo, _ = _stroke(yy, xx, sb["p0"], sb["ang"], sb["L"], sb["c2"], sb["c3"], halo_w, taper=0.3)
            np.maximum(acc, 0.3 * halo * prof, out=acc)
        # rubber smears are patchy: modulate with a small noise texture (size relative to the scuff)
        tex = _smooth_noise(_child(rng), (24, 24), 1.0)
        ti = np.clip((yy - (cy - r)) / (2 * r) * 23, 0, 23)
        tj = np.clip((xx - (cx - r)) / (2 * r) * 23, 0, 23)
        acc *= np.clip(0.95 + 0.3 * _sample_grid(tex, ti[:, 0], tj[0]), 0.45, 1.0)
        acc = ndi.gaussian_filter(acc, 0.5 * s)
        acc = _compact(acc, 0.01)
        if bright is None:
            self._apply_local(box, acc, "dark", depth)
        else:
            self._apply_local(box, acc, "blend", depth, bright)

    def footprint(self, cx, cy, length, depth, ang, squash=0.55):
        """Shoe-sole shaped dirty print, foreshortened vertically by ``squash``."""
        rng = self.g
        L = length
        r = 0.7 * L
        box = _clip_box(cy - r, cy + r, cx - r, cx + r, self.H, self.W)
        if box is None:
            return
        yy, xx = _coords(box)
        dx = xx - _F32(cx)
        dy = (yy - _F32(cy)) / _F32(squash)
        c, s_ = math.cos(ang), math.sin(ang)
        u = (dx * c + dy * s_) / _F32(L)   # along the sole (toe at +u)
        v = (-dx * s_ + dy * c) / _F32(L)
        sd = np.minimum(_sd_ellipse(u, v, 0.2, 0.0, 0.29, 0.18),
                        _sd_ellipse(u, v, -0.31, 0.0, 0.17, 0.14))
        sd = np.minimum(sd, _sd_capsule(u, v, (-0.3, 0.02), (0.1, 0.03), 0.1, 0.13))
        soft = 0.035
        env = np.clip(0.5 - sd / soft, 0, 1)
        # tread: bars across the sole, studs on the heel
        tread = 0.55 + 0.45 * (np.sin(u * (2 * math.pi * 11)) > -0.2)
        heel = u < -0.15
        stud = 0.55 + 0.45 * ((np.sin(u * 60) > 0) ^ (np.sin(v * 60) > 0))
        tread = np.where(heel, stud, tread)
        tex = _smooth_noise(_child(rng), (48, 48), 1.4)
        ti = np.clip((v + 0.7) / 1.4 * 47, 0, 47)
        tj = np.clip((u + 0.7) / 1.4 * 47, 0, 47)
        patch = ndi.map_coordinates(tex, [ti.ravel(), tj.ravel()], order=1).reshape(u.shape)
        patch = np.clip(0.75 + 0.45 * patch, 0, 1)
        st = env * tread * patch * (0.7 + 0.3 * np.clip(u / 0.5 + 0.6, 0, 1))
        st = ndi.gaussian_filter(st.astype(_F32), 0.4 * self.s + 0.2)
        self._apply_local(box, _compact(st, 0.01), "dark", depth)

    def crease(self, cx, cy, length, ang, dark=0.08, light=0.05):
        rng = self.g
        s = self.s
        c2, c3 = rng.uniform(-0.06, 0.06), rng.uniform(-0.04, 0.04)
        p0 = (cx - 0.5 * length * math.cos(ang), cy - 0.5 * length * math.sin(ang))
        w = rng.uniform(2.0, 3.0) * s
        gx, gy = _stroke_geom(p0, ang, length, c2, c3)
        mg = 3 * w + 3
        box = _clip_box(gy.min() - mg, gy.max() + mg, gx.min() - mg, gx.max() + mg, self.H, self.W)
        if box is None:
            return
        yy, xx = _coords(box)
        core, tt = _stroke(yy, xx, p0, ang, length, c2, c3, w)
        # the light edge: same line shifted sideways
        sh = 1.1 * w
        p1 = (p0[0] - sh * math.sin(ang), p0[1] + sh * math.cos(ang))
        edge, _ = _stroke(yy, xx, p1, ang, length, c2, c3, 0.9 * w)
        prof = np.interp(tt, np.linspace(0, 1, 10), np.r_[0.2, rng.uniform(0.6, 1.0, 8), 0.2]).astype(_F32)
        ends = (_smoothstep(0, 0.08, tt) * _smoothstep(1, 0.92, tt)).astype(_F32)
        core = core * prof * ends
        edge = edge * prof * ends * (1 - core)
        self._apply_local(box, np.maximum(core, edge), "crease", core, edge, dark, light)

    def speck(self, cx, cy, r, op, amount, rgb=None):
        box = _clip_box(cy - r - 2, cy + r + 2, cx - r - 2, cx + r + 2, self.H, self.W)
        if box is None:
            return
        yy, xx = _coords(box)
        d = np.sqrt((xx - _F32(cx)) ** 2 + (yy - _F32(cy)) ** 2) - _F32(r)
        cov = np.clip(0.5 - d, 0, 1) * _F32(min(1.0, 2 * r))
        if op == "dark":
            self._apply_local(box, cov, "dark", amount)
        else:
            self._apply_local(box, cov, "blend", amount, rgb)

    def lint(self, cx, cy, length, amount, rgb):
        rng = self.g
        ang = rng.uniform(0, 2 * math.pi)
        c2, c3 = rng.uniform(-1.2, 1.2), rng.uniform(-1.0, 1.0)
        w = rng.uniform(0.8, 1.5) * self.s
        gx, gy = _stroke_geom((cx, cy), ang, length, c2, c3)
        box = _clip_box(gy.min() - w - 2, gy.max() + w + 2, gx.min() - w - 2, gx.max() + w + 2, self.H, self.W)
        if box is None:
            return
        yy, xx = _coords(box)
        cov, tt = _stroke(yy, xx, (cx, cy), ang, length, c2, c3, w, taper=0.4)
        self._apply_local(box, cov, "blend", amount, rgb)

    # --- scatter helpers -------------------------------------------------------------------
    def scatter_specks(self, n, y_range=(0.03, 0.97), bright_frac=0.15, dark_amt=(0.2, 0.55),
                       bright_rgb=(0.98, 0.98, 0.97), bright_amt=(0.5, 0.9)):
        rng = self.g
        for i in range(n):
            r = rng.uniform(0.5, 2.0) * self.s
            pos = self.place(r + 0.01 * self.m, y_range, mark=False)
            if pos is None:
                continue
            if rng.uniform() < bright_frac:
                self.speck(*pos, r, "blend", rng.uniform(*bright_amt), np.asarray(bright_rgb, _F32))
            else:
                self.speck(*pos, r, "dark", rng.uniform(*dark_amt))

    def scatter_scuffs(self, n, y_range, depth=(0.08, 0.17), bright=None):
        rng = self.g
        for i in range(n):
            length = rng.uniform(0.025, 0.05) * self.m
            pos = self.place(0.7 * length + 0.01 * self.m, y_range)
            if pos is None:
                continue
            ang = rng.uniform(-0.6, 0.6) + (math.pi / 2 if rng.uniform() < 0.25 else 0.0)
            self.scuff(*pos, length, rng.uniform(*depth), ang, bright=bright)

    def scatter_footprints(self, n, y_range, depth=(0.09, 0.15), squash=0.7):
        rng = self.g
        length = rng.uniform(0.065, 0.08) * self.m
        base_ang = rng.uniform(0, 2 * math.pi)
        first = None
        for i in range(n):
            if first is not None and i == 1:
                # second print of the pair: a step further along
                step = 1.3 * length
                cx = first[0] + step * math.cos(base_ang) - 0.35 * length * math.sin(base_ang)
                cy = first[1] + squash * (step * math.sin(base_ang) + 0.35 * length * math.cos(base_ang))
                pos = (cx, cy)
                if self.place_ok(pos, 0.7 * length) is False:
                    pos = self.place(0.7 * length + 0.01 * self.m, y_range)
            else:
                pos = self.place(0.7 * length + 0.01 * self.m, y_range)
            if pos is None:
                continue
            if first is None:
                first = pos
            self.footprint(*pos, length, rng.uniform(*depth), base_ang + rng.uniform(-0.25, 0.25), squash)

    def place_ok(self, pos, radius_px):
        x, y = pos
        cy_s, cx_s = self.H / self.gh, self.W / self.gw
        if not (radius_px < x < self.W - radius_px and radius_px < y < self.H - radius_px):
            return False
        if self.floor_y is not None and y + radius_px > min(self.floor_y) - 0.01 * self.H:
            return False
        i0, i1 = max(0, int((y - radius_px) / cy_s)), min(self.gh, int((y + radius_px) / cy_s) + 1)
        j0, j1 = max(0, int((x - radius_px) / cx_s)), min(self.gw, int((x + radius_px) / cx_s) + 1)
        return not self.keep[i0:i1, j0:j1].any()

    def scatter_creases(self, n, y_range=(0.08, 0.7)):
        rng = self.g
        for i in range(n):
            length = rng.uniform(0.2, 0.35) * self.m
            ang = rng.uniform(-0.5, 0.5) + (math.pi / 2 if rng.uniform() < 0.6 else 0.0)
            # find a line that avoids the subject: test a few points along it
            for _ in range(200):
                cx = rng.uniform(0.06, 0.94) * self.W
                cy = rng.uniform(*y_range) * self.H
                ok = True
                for t in np.linspace(-0.5, 0.5, 9):
                    px, py = cx + t * length * math.cos(ang), cy + t * length * math.sin(ang)
                    if not self.place_ok((px, py), 0.02 * self.m):
                        ok = False
                        break
                if ok:
                    self.crease(cx, cy, length, ang)
                    break

    # --- finish ---------------------------------------------------------------------------
    def finish(self):
        H, W = self.H, self.W
        clean = self.bd
        image = clean.copy()
        allowed = (self.floor == 0) & (self.contact == 0)
        dm = self.dm
        # large smooth fields
        for field, kind in ((self.dark_lr, "dark"), (self.lift_lr, "lift")):
            if not field.any():
                continue
            nz = np.nonzero(field.any(axis=1))[0]
            nzc = np.nonzero(field.any(axis=0))[0]
            f = self.f
            y0, y1 = max(0, (nz[0] - 1) * f), min(H, (nz[-1] + 2) * f)
            x0, x1 = max(0, (nzc[0] - 1) * f), min(W, (nzc[-1] + 2) * f)
            ypos = (np.arange(y0, y1) + 0.5) / f - 0.5
            xpos = (np.arange(x0, x1) + 0.5) / f - 0.5
            d = _sample_grid(field, ypos, xpos)
            d *= allowed[y0:y1, x0:x1]
            sub = image[y0:y1, x0:x1]
            if kind == "dark":
                d *= -1
                d += 1
                sub *= d[..., None]
            else:
                d3 = d[..., None]
                sub += d3 * (self.lift_rgb - sub)
            del d
        mk = self.mask_lr
        if mk.any():
            f = self.f
            nz = np.nonzero(mk.any(axis=1))[0]
            nzc = np.nonzero(mk.any(axis=0))[0]
            y0, y1 = max(0, (nz[0] - 1) * f), min(H, (nz[-1] + 2) * f)
            x0, x1 = max(0, (nzc[0] - 1) * f), min(W, (nzc[-1] + 2) * f)
            mm = _sample_grid(mk, (np.arange(y0, y1) + 0.5) / f - 0.5, (np.arange(x0, x1) + 0.5) / f - 0.5)
            mm *= allowed[y0:y1, x0:x1]
            np.maximum(dm[y0:y1, x0:x1], mm, out=dm[y0:y1, x0:x1])
            del mm
        # local defects
        for box, st, op, args in self.local:
            y0, y1, x0, x1 = box
            sub = image[y0:y1, x0:x1]
            if op == "dark":
                sub *= (1 - _F32(args[0]) * st)[..., None]
            elif op == "blend":
                a = (_F32(args[0]) * st)[..., None]
                sub += a * (np.asarray(args[1], _F32) - sub)
            elif op == "crease":
                core, edge, dark, light = args
                ok = st > 0
                sub *= (1 - _F32(dark) * core * ok)[..., None]
                sub *= (1 + _F32(light) * edge * ok)[..., None]
            np.maximum(dm[y0:y1, x0:x1], st, out=dm[y0:y1, x0:x1])
        del allowed
        # the subject, composited over both backdrops
        alpha = np.zeros((H, W), _F32)
        hair = np.zeros((H, W), bool)
        fig = self.figure
        if fig is not None:
            y0, y1, x0, x1 = fig.px_bbox(margin_body=0.0)
            mg = (fig.strand_reach() + 0.02) * fig.hs
            box = _clip_box(y0 - mg, y1 + mg, x0 - mg, x1 + mg, H, W)
            by0, by1, bx0, bx1 = box
            C, A, body = fig.render(box, self.p, self.s)
            alpha[by0:by1, bx0:bx1] = A
            inv = (1 - A)[..., None]
            for arr in (image, clean):
                sub = arr[by0:by1, bx0:bx1]
                sub *= inv
                sub += C
            del inv, C
            r = max(1, int(round(2.0 * self.s)))
            near = ndi.maximum_filter((body > 0).view(np.uint8), size=2 * r + 1) > 0
            hair[by0:by1, bx0:bx1] = (A > 0.05) & (A < 0.95) & ~near
        np.clip(image, 0, 1, out=image)
        np.clip(clean, 0, 1, out=clean)
        dm *= 1 - alpha
        wall = (alpha == 0) & (self.floor == 0)
        return Scene(name=self.name, image=image, clean=clean, alpha=alpha, defects=dm,
                     floor=self.floor, contact=self.contact, hair=hair, wall=wall)


# --------------------------------------------------------------------------
# the scenes
# --------------------------------------------------------------------------


def _white_seamless(b: _Builder):
    g = b.g
    b.backdrop((0.90, 0.90, 0.895), gx=g.uniform(0.06, 0.1) * g.choice([-1, 1]), gy=-0.06, vig=0.13,
               tilt=(0.01, 0.0, -0.012), sweep=(0.78, 0.035), mottle=0.004)
    b.subject(0.47, 0.935, 0.86)
    b.contact_shadow(0.24)
    side = 1 if b.figure.style.get("key_side", -1) < 0 else -1
    b.cast_shadow(0.17 * side, depth=0.34)
    b.seam_shadow(0.775, depth=0.13)
    b.scatter_footprints(2, (0.83, 0.97))
    b.scatter_scuffs(int(g.integers(3, 6)), (0.45, 0.97))
    b.scatter_creases(int(g.integers(1, 3)), (0.1, 0.7))
    b.scatter_specks(20, bright_frac=0.2)


def _grey_wall_wood_floor(b: _Builder):
    g = b.g
    b.backdrop((0.47, 0.47, 0.46), gy=-0.05, vig=0.12, falloff=0.55, tilt=(0.015, 0, -0.02), grain=1.3 / 255,
               mottle=0.006)
    b.wood_floor(0.765, tilt_rel=g.uniform(-0.008, 0.008))
    b.subject(0.52, 0.935, 0.86)
    b.contact_shadow(0.26)
    b.cast_shadow(-0.19, depth=0.30, fade_v=(0.28, 0.45))
    b.scatter_scuffs(int(g.integers(3, 5)), (0.35, 0.74))
    b.scatter_creases(1, (0.12, 0.6))
    b.scatter_specks(18, bright_frac=0.2, bright_rgb=(0.75, 0.75, 0.74))


def _coloured_paper(b: _Builder):
    b.backdrop((0.56, 0.73, 0.88), gx=0.05, gy=-0.05, vig=0.13, vc=(0.5, 0.42), tilt=(-0.02, 0, 0.01),
               grain=1.1 / 255)
    hs = 2.25
    # head top at ~11% of the frame; the body is cut by the bottom edge
    b.subject(0.5, None, hs, top=0.06, max_w=2.6)
    b.cast_shadow(0.075, dy_rel=-0.012, depth=0.3, scale=1.03, blur_rel=0.006, fade_v=(-1, -0.5))
    b.scatter_scuffs(3, (0.08, 0.9))
    b.scatter_creases(1, (0.1, 0.8))
    b.scatter_specks(18, bright_frac=0.15)


def _dark_backdrop(b: _Builder):
    g = b.g
    b.backdrop((0.165, 0.165, 0.17), gx=-0.1, gy=-0.12, vig=0.14, grain=1.3 / 255, mottle=0.008)
    hs = 1.35
    b.subject(0.5, None, hs, top=0.045, max_w=1.6)  # knee-up, cut by the frame
    b.lift_rgb = np.array([0.55, 0.55, 0.54], _F32)
    b.cast_shadow(-0.08, depth=0.3, blur_rel=0.02, fade_v=(-1, -0.5))
    # dusty smudges
    for _ in range(3):
        rx = g.uniform(0.08, 0.15) * b.m
        pos = b.place(0.6 * rx, (0.1, 0.9))
        if pos is not None:
            b.smudge_lr(pos[0], pos[1], rx, rx * g.uniform(0.4, 0.8), g.uniform(0.08, 0.14), g.uniform(0, math.pi))
    b.scatter_scuffs(3, (0.2, 0.95), depth=(0.12, 0.25), bright=np.array([0.6, 0.6, 0.58], _F32))
    for _ in range(12):
        L = g.uniform(0.012, 0.03) * b.m
        pos = b.place(L + 0.01 * b.m, (0.05, 0.95), mark=False)
        if pos is not None:
            b.lint(pos[0], pos[1], L, g.uniform(0.35, 0.75), np.array([0.85, 0.84, 0.82], _F32))
    b.scatter_specks(22, bright_frac=0.85, bright_rgb=(0.9, 0.9, 0.88), bright_amt=(0.4, 0.9), dark_amt=(0.3, 0.5))


def _clean_nothing(b: _Builder):
    b.backdrop((0.80, 0.80, 0.79), gx=0.07, gy=-0.05, vig=0.12, tilt=(0.01, 0, -0.01), mottle=0.004)
    b.subject(0.5, 0.935, 0.85)
    b.contact_shadow(0.22)


def _concrete_floor(b: _Builder):
    g = b.g
    b.backdrop((0.86, 0.855, 0.84), gx=-0.07, gy=-0.06, vig=0.12, tilt=(0.01, 0, -0.01), mottle=0.004)
    b.concrete_floor(0.80, tilt_rel=g.uniform(-0.006, 0.006))
    b.subject(0.5, 0.94, 0.86)
    b.contact_shadow(0.24)
    b.scatter_footprints(3, (0.58, 0.79))


def _dark_fabric(b: _Builder):
    """Black velvet-like cloth: its weave and faint sheen are the backdrop; lint, fibres and dust are marks."""
    g = b.g
    b.backdrop((0.075, 0.072, 0.078), gx=-0.08, gy=-0.1, vig=0.15, grain=0.5 / 255)
    b.paint([(3, 0.04), (8, 0.02)])
    b.weave(0.07)
    b.subject(0.5, None, 1.4, top=0.05, max_w=1.6)
    lint = np.array([0.78, 0.77, 0.74], _F32)
    for _ in range(40):  # lint and fibres: thin curly strokes
        L = g.uniform(0.008, 0.035) * b.m
        pos = b.place(L + 0.01 * b.m, (0.03, 0.97), mark=False)
        if pos is not None:
            b.lint(pos[0], pos[1], L, g.uniform(0.25, 0.7), lint)
    # dust: many tiny bright specks, a few dark ones
    b.scatter_specks(70, bright_frac=0.9, bright_rgb=(0.85, 0.84, 0.82), bright_amt=(0.2, 0.7), dark_amt=(0.3, 0.5))


def _painted_canvas(b: _Builder):
    """Hand-painted canvas: the mottle of tone and hue at several scales and the canvas weave are the
    backdrop; the cast shadow, scuffs and specks are marks."""
    b.backdrop((0.42, 0.40, 0.36), gx=0.05, gy=-0.04, vig=0.2, vc=(0.5, 0.4), grain=1.0 / 255)
    b.paint([(2.5, 0.12), (6, 0.07), (14, 0.035)], colour=0.04)
    b.weave(0.015, period=3.0)
    b.subject(0.46, None, 1.5, top=0.07, max_w=1.7)
    side = 1 if b.figure.style.get("key_side", -1) < 0 else -1
    b.cast_shadow(0.1 * side, dy_rel=-0.015, depth=0.3, blur_rel=0.015, fade_v=(-1, -0.5))
    b.scatter_scuffs(3, (0.1, 0.9), depth=(0.1, 0.2))
    b.scatter_specks(20, bright_frac=0.25, bright_rgb=(0.7, 0.68, 0.62))


def _muslin(b: _Builder):
    """Light cotton muslin hung loose: its soft folds and weave are the backdrop; sharp creases from
    storage, folded in a grid, are marks."""
    g = b.g
    b.backdrop((0.80, 0.77, 0.71), gx=-0.06, gy=-0.05, vig=0.14, grain=1.0 / 255)
    b.folds(9, 0.09)
    b.weave(0.012, period=3.0)
    b.subject(0.52, None, 1.45, top=0.06, max_w=1.7)
    for _ in range(6):  # storage creases: long, nearly straight, across and along the cloth
        length = g.uniform(0.3, 0.5) * b.m
        ang = g.uniform(-0.08, 0.08) + (math.pi / 2 if g.uniform() < 0.5 else 0.0)
        for _ in range(200):
            cx, cy = g.uniform(0.08, 0.92) * b.W, g.uniform(0.1, 0.9) * b.H
            pts = [(cx + t * length * math.cos(ang), cy + t * length * math.sin(ang)) for t in np.linspace(-0.5, 0.5, 9)]
            if all(b.place_ok(p, 0.02 * b.m) for p in pts):
                b.crease(cx, cy, length, ang, dark=g.uniform(0.07, 0.12), light=g.uniform(0.04, 0.07))
                break
    b.scatter_specks(10, bright_frac=0.1)


_BUILDERS = {
    "white_seamless": _white_seamless,
    "grey_wall_wood_floor": _grey_wall_wood_floor,
    "coloured_paper": _coloured_paper,
    "dark_backdrop": _dark_backdrop,
    "clean_nothing": _clean_nothing,
    "concrete_floor": _concrete_floor,
    "dark_fabric": _dark_fabric,
    "painted_canvas": _painted_canvas,
    "muslin": _muslin,
}


def make_scene(name: str, *, size: tuple[int, int] = (960, 640), seed: int = 0) -> Scene:
    """Build one synthetic scene.

    Args:
        name: one of ``SCENE_NAMES``.
        size: (width, height) in pixels, landscape or portrait; both >= 64.
        seed: any non-negative int; the same (name, size, seed) gives the same arrays.

    Returns:
        Scene with float32 ``image``/``clean`` of shape (height, width, 3).
    """
    if name not in _BUILDERS:
        raise ValueError(f"name: unknown scene {name!r}; choose one of {', '.join(SCENE_NAMES)}")
    try:
        W, H = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size: expected (width, height), got {size!r}") from None
    if W < 64 or H < 64:
        raise ValueError(f"size: width and height must be >= 64, got {size!r}")
    if max(W, H) > 4 * min(W, H):
        raise ValueError(f"size: aspect ratio must be at most 4:1, got {size!r}")
    if int(seed) < 0:
        raise ValueError(f"seed: must be >= 0, got {seed!r}")
    b = _Builder(name, W, H, int(seed))
    _BUILDERS[name](b)
    return b.finish()


def all_scenes(*, size: tuple[int, int] = (960, 640), seed: int = 0) -> list[Scene]:
    """Every scene in ``SCENE_NAMES`` at one size and seed."""
    return [make_scene(n, size=size, seed=seed) for n in SCENE_NAMES]
