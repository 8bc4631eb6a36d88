"""The one engine behind every front end, in two stages.

``analyze(image, mask, params) -> Analysis`` does everything the sliders do not touch:
subject protection, floor, contact zone, foreign objects, the clean-backdrop model,
the shadow map, the texture layers and the grain. ``render(analysis, lift=, texture=,
grain=)`` weighs those by the sliders and makes the full-resolution views. ``clean`` is
both in one call. A front end keeps the ``Analysis`` of the photo on screen and only
renders when a slider moves.

Everything smooth is computed at a reduced working resolution; the full-resolution work
is a few per-pixel passes over the decoded buffer (``ops.compose``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .errors import BackdropError
from .ops.compose import (
    FineMarks,
    Sink,
    Upsampler,
    compose,
    edge_lift,
    hwc_tensor,
    lift_tolerance,
    load_region,
    reduce_source,
    tile_noise,
)
from .ops.device import pick_device
from .ops.filters import (
    WORK_LONG_EDGE,
    gaussian_blur,
    luminance,
    max_filter,
    pushpull_fill,
    smoothstep,
    work_factor,
)
from .ops.illumination import cut_shadows, falloff, fitted_surface, shadow_gain
from .ops.masks import (
    FloorInfo,
    UnsureEdges,
    contact_zone,
    detect_floor,
    foreign_objects,
    rim_colour,
    soft_fading,
    subject_protection,
    unsure_edges,
)
from .ops.texture import texture_layers
from .params import STRUCTURAL, Params  # STRUCTURAL: the knobs an Analysis depends on

__all__ = ["analyze", "render", "clean", "wall_level", "Analysis", "Result", "VIEWS"]

VIEWS = ("shadows", "texture", "preview")
TILE = 256  # full-resolution tile size on the CPU (pixels)


MASKS = ("subject", "protect", "floor", "contact", "foreign", "shadow_map", "edit", "surface")


def _full_mask(m: torch.Tensor, hw: tuple[int, int], full: bool) -> torch.Tensor:
    """A working-resolution map (1, C, h, w) as (H, W) (or (C, H, W)) float32 on the CPU."""
    m = m.float().cpu()
    if full:
        m = F.interpolate(m, size=hw, mode="bilinear", align_corners=False)
    return m[0] if m.shape[1] > 1 else m[0, 0]


@dataclass(eq=False, repr=False)
class Analysis:
    """Everything about one photo that the lift, texture and grain sliders do not change.

    Made by :func:`analyze`, used by :func:`render` any number of times. It knows the
    parameters it was made with: :meth:`fits` says whether it still serves a parameter set
    (a change of feather, grow, floor, contact, segmenter or device needs a new one).

    Attributes:
        params: the parameters it was made with.
        device: where it lives and where :func:`render` runs.
        size: (height, width) of the photo; ``channels``: 1 (grey) or 3.
        floor_info: the real floor found (or not).
        timings: seconds per stage of the analysis.
    """

    params: Params
    device: torch.device
    size: tuple[int, int]
    channels: int
    factor: int
    source: torch.Tensor  # (1, C, H, W) the decoded buffer as given (uint8/uint16/float32), on device
    scale: float  # its full scale: 255, 65535 or 1
    alpha: torch.Tensor  # (1, 1, H, W) subject coverage as given (any dtype; > 0 = subject), on device
    work: dict  # working-resolution maps, on device (and "edges": what the unsure edges hold spreads from)
    floor_info: FloorInfo
    grain_full: float  # the full-resolution grain of the backdrop
    timings: dict[str, float] = field(default_factory=dict)
    _original: torch.Tensor | None = field(default=None, repr=False)

    def fits(self, params: Params) -> bool:
        """True when ``params`` differ from the analysis' own at most in lift, texture, grain
        (and output settings): then rendering this analysis is exactly cleaning with them."""
        return all(getattr(params, k) == getattr(self.params, k) for k in STRUCTURAL)

    def mask(self, name: str, *, full: bool = True) -> torch.Tensor:
        """A mask or map of the analysis on the CPU, (H, W) float32 (``surface`` is (3, H, W)); see
        :meth:`Result.mask`."""
        if name not in MASKS:
            raise KeyError(f"unknown mask {name!r}; one of {', '.join(MASKS)}")
        return _full_mask(self.work[name], self.size, full)

    @property
    def original(self) -> torch.Tensor:
        """The input as float32 (C, H, W) in [0, 1], on the CPU: made on first use and kept (the
        figures of the notebooks ask for it; the full-resolution path never does)."""
        if self._original is None:
            H, W = self.size
            self._original = load_region(self.source, 0, H, 0, W, self.scale, channels_last=True)[0].cpu()
        return self._original

    def __repr__(self) -> str:
        H, W = self.size
        return (f"Analysis({W}x{H}, channels={self.channels}, device={self.device}, factor={self.factor}, "
                f"floor={'found' if self.floor_info.found else 'none'})")


@dataclass(eq=False)
class Result:
    """What a cleanup produced.

    ``shadows`` is the shadow lift alone, ``texture`` the texture smoothing alone, ``preview``
    both (``None`` for views not asked for). With ``bits=None`` (the default) they are float32
    (C, H, W) CPU tensors in [0, 1]; with ``bits=8`` or ``16`` they are uint8 / uint16 (H, W, C)
    numpy arrays, rounded once (8-bit dithered), ready for :func:`backdrop.write_image`.
    ``original`` is the input as float32 (C, H, W), made when asked for. The masks are kept at
    working resolution and given at full size by :meth:`mask`.
    """

    analysis: Analysis
    shadows: torch.Tensor | np.ndarray | None
    texture: torch.Tensor | np.ndarray | None
    preview: torch.Tensor | np.ndarray | None
    params: Params
    bits: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    wall_level: float | None = None  # the cleaned wall's level before the tone (``tone`` other than keep)

    MASKS = MASKS

    @property
    def floor_info(self) -> FloorInfo:
        return self.analysis.floor_info

    @property
    def device(self) -> str:
        return str(self.analysis.device)

    @property
    def work(self) -> dict[str, torch.Tensor]:
        """The working-resolution maps (on the CPU)."""
        return {k: v.cpu() for k, v in self.analysis.work.items() if k in MASKS or k == "image"}

    @property
    def original(self) -> torch.Tensor:
        return self.analysis.original

    def mask(self, name: str, *, full: bool = True) -> torch.Tensor:
        """A mask or map used by the cleanup, (H, W) float32 (``surface`` is (3, H, W)).

        subject: subject coverage; protect: subject protection (grow + feather);
        floor: detected real floor with its ramp; contact: protected contact-shadow zone;
        foreign: things far off the backdrop model that are kept as shot (set edges, stands);
        shadow_map: shadow depth below the clean wall; edit: how much each pixel may change;
        surface: the clean-backdrop model.
        """
        return self.analysis.mask(name, full=full)

    def view(self, name: str):
        if name == "original":
            return self.original
        out = getattr(self, name, None) if name in VIEWS else None
        if out is None:
            raise KeyError(f"view {name!r} was not computed")
        return out


def _as_source(image) -> tuple[torch.Tensor, float]:
    """The decoded buffer as a (1, C, H, W) CPU tensor without copying, and its full scale.

    numpy HxW / HxWxC uint8, uint16 or float32 (a float64 array is converted), or a float
    (C, H, W) tensor in [0, 1].
    """
    if isinstance(image, torch.Tensor):
        t = image[None] if image.ndim == 2 else image
        if t.ndim != 3:
            raise ValueError(f"image: expected a (C, H, W) tensor, got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError("image: a tensor must be floating point in [0, 1]")
        return t.float()[None], 1.0
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"image: expected an HxWxC array, got shape {a.shape}")
    if a.dtype == np.uint8:
        scale = 255.0
    elif a.dtype == np.uint16:
        scale = 65535.0
    elif a.dtype.kind == "f":
        scale = 1.0
        a = a if a.dtype == np.float32 else a.astype(np.float32)
    else:
        raise ValueError(f"image: expected uint8, uint16 or float pixels, got dtype {a.dtype}")
    return hwc_tensor(a), scale


def _as_alpha(mask, hw: tuple[int, int]) -> tuple[torch.Tensor, float]:
    """(H, W) subject coverage as uint8 / uint16 (full scale = 1) or float -> (1, 1, H, W), scale."""
    if isinstance(mask, torch.Tensor):
        m, scale = mask.float(), 1.0
    else:
        a = np.asarray(mask)
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype, 1.0)
        if scale == 1.0:
            a = a.astype(np.float32)
        m = hwc_tensor(a)[0, 0] if a.ndim == 2 else torch.from_numpy(np.array(a))
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2 or tuple(m.shape) != tuple(hw):
        got = "x".join(str(v) for v in reversed(m.shape[:2])) if m.ndim >= 2 else str(tuple(m.shape))
        raise BackdropError(f"mask: size {got} does not match the image {hw[1]}x{hw[0]}")
    if scale == 1.0:
        m = torch.nan_to_num(m, nan=0.0).clamp(0.0, 1.0)
    return m[None, None], scale


def _tile_size(f: int) -> int:
    return f * max(1, TILE // f)


def analyze(image, mask, params: Params | None = None, *, device: str | torch.device | None = None,
            work_long_edge: int = WORK_LONG_EDGE) -> Analysis:
    """Everything about a photo that the lift, texture and grain sliders do not change.

    Args:
        image: the decoded photo: an HxWxC / HxW numpy array (uint8, uint16, or float in [0, 1];
            no copy is made of an 8/16-bit buffer) or a float32 (C, H, W) tensor; C is 3 or 1.
        mask: subject coverage (H, W), 1 = subject: a float array or tensor in [0, 1], or a
            uint8 / uint16 array at full scale. A pixel wholly subject is never changed; one part
            subject keeps its subject's share and takes the lift and the tone on the rest.
        params: the settings (defaults if None); lift, texture and grain are only remembered
            as the defaults of :func:`render`.
        device: overrides ``params.device``.
        work_long_edge: the long edge of the working resolution of the multi-scale passes (a
            bigger photo is reduced to it; the finest band stays at full resolution).
    Returns:
        An :class:`Analysis`.
    Example:
        >>> img = np.full((64, 96, 3), 200, np.uint8); m = np.zeros((64, 96), np.uint8)
        >>> a = analyze(img, m, Params()); a.size
        (64, 96)
    """
    params = Params() if params is None else params
    params.validate()
    if mask is None:
        raise BackdropError("no subject mask given: pass one (white = subject)")
    dev = pick_device(params.device) if device is None else torch.device(device)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    src, scale = _as_source(image)
    _, channels, H, W = src.shape
    if channels not in (1, 3):
        raise ValueError(f"image: expected 1 or 3 channels, got {channels}")
    alpha, alpha_scale = _as_alpha(mask, (H, W))
    # the 8/16-bit buffers go to the device as they are, and are converted there, a strip at a time
    src, alpha = src.to(dev), alpha.to(dev)

    # the four stages, each at the working resolution but the last
    f = work_factor(H, W, work_long_edge)
    x_mid = reduce_source(src, f, scale)
    if channels == 1:
        x_mid = x_mid.expand(1, 3, *x_mid.shape[-2:]).contiguous()
    a_mid = reduce_source(alpha, f, alpha_scale)
    m = _masks(x_mid, a_mid, params)
    timings["masks"] = time.perf_counter() - t_start
    t = time.perf_counter()
    own = params.folds == "keep"
    b = _backdrop_model(x_mid, a_mid, m, own=own)
    timings["surface"] = time.perf_counter() - t
    t = time.perf_counter()
    work = _texture(x_mid, a_mid, m, b, own=own)
    timings["texture"] = time.perf_counter() - t
    t = time.perf_counter()
    # grain of the full-resolution backdrop around the expected backdrop (subject filled in):
    # the tolerance of the match test, and the scale of the finest band's marks
    grain_full = tile_noise(src.expand(1, 3, H, W), scale, b.x_fill, b.edit, Upsampler(f, (H, W)), tile=_tile_size(f))
    timings["grain"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start
    return Analysis(params=params, device=dev, size=(H, W), channels=channels, factor=f, source=src, scale=scale,
                    alpha=alpha, work=work, floor_info=m.floor_info, grain_full=grain_full, timings=timings)


@dataclass
class _Masks:
    """Stage 1: what may change. The subject's protection (grown and feathered), the contact zone,
    a real floor, and the backdrop known around them, with the subject filled in from it."""

    protect: torch.Tensor
    contact: torch.Tensor
    floor: torch.Tensor
    floor_info: FloorInfo
    known: torch.Tensor  # 1 where the backdrop is seen (not subject, grow margin or floor)
    x_fill: torch.Tensor  # the photo with the subject and its margin filled from the backdrop
    # the unsure edges: ``firm``, the protection that holds whatever a pixel looks like, where it
    # spreads from (a tone's matte beside soft edges: soft_fading), and ``taken``, 1 on the mask's edge
    # where a shadow may run on under the mask (it took in wall)
    edges: UnsureEdges
    reach: int  # how far the protection reaches from the mask's edge (grow + feather), working pixels


def _masks(x_mid: torch.Tensor, a_mid: torch.Tensor, params: Params) -> _Masks:
    protect = subject_protection(a_mid, grow=params.grow, feather=params.feather)
    contact = (
        contact_zone(a_mid, size=params.contact_size) if params.protect_contact_shadows else torch.zeros_like(a_mid)
    )
    floor, floor_info = detect_floor(x_mid, 1.0 - protect, mode=params.floor, ramp=params.floor_ramp)
    # the subject and its grow margin are filled from the backdrop around them; the feather zone
    # is backdrop as far as the model is concerned (pixels there that do not match it stay protected)
    known = ((protect < 0.999) & (floor < 0.01)).to(x_mid.dtype)
    x_fill = pushpull_fill(x_mid, known)
    reach = round((params.grow + params.feather) * min(x_mid.shape[-2:]))
    edges = unsure_edges(x_mid, a_mid, x_fill, protect, reach=reach)
    return _Masks(protect, contact, floor, floor_info, known, x_fill, edges, reach)


@dataclass
class _Backdrop:
    """Stage 2: the clean backdrop. Its surface (lighting), what is foreign to it, where the
    cleanup may act, and the lift's step at full lift."""

    surface: torch.Tensor
    foreign: torch.Tensor
    x_fill: torch.Tensor  # the photo filled from the backdrop (without the foreign objects)
    edit: torch.Tensor  # where the cleanup may act: not subject, floor, contact zone or foreign
    step: torch.Tensor  # the backdrop at full lift is x * (1 + step) (marks are judged on it)
    shadow_map: torch.Tensor
    lifted: torch.Tensor | None  # the share of ``step`` the lift applies (shadows kept whole: 0), or None: all


def _with_soft_edges(x_mid: torch.Tensor, surface: torch.Tensor, known: torch.Tensor,
                     foreign: torch.Tensor) -> torch.Tensor:
    """What is foreign to the backdrop with its soft edge (:func:`falloff`: a shelf or flag out of
    focus, a window's glow), and what only shows as foreign against the surface made without it:
    the shelves out of focus behind a sitter pull the first surface down, so only the darkest are
    found first, and the shade of the room around them, as far below the new surface, would be
    lifted sixfold into a pale band. The backdrop is modelled and judged as before: leaving more out
    of either moves it elsewhere."""
    short = min(x_mid.shape[-2:])
    later = foreign_objects(x_mid, surface, known) * (foreign <= 0).to(foreign.dtype)
    y_surf = luminance(surface).clamp_min(1e-4)
    ratio = luminance(gaussian_blur(x_mid, 0.005 * short)) / y_surf  # above the grain
    dark = (luminance(x_mid) < y_surf).to(foreign.dtype)
    darker, brighter = (1.0 - ratio).clamp_min(0.0) * known, (ratio - 1.0).clamp_min(0.0) * known
    reach, hard = 0.12 * short, 0.015 * short
    objects = torch.maximum(foreign, later)
    zones = (later, falloff(darker, objects * dark, reach=reach, hard=hard, backdrop=known),
             falloff(brighter, objects * (1.0 - dark), reach=reach, hard=hard, backdrop=known),
             falloff(darker, later * dark, reach=reach, whole=True))  # a room's shade: all of it
    for zone in zones:
        foreign = torch.maximum(foreign, zone)
    return foreign


def _backdrop_model(x_mid: torch.Tensor, a_mid: torch.Tensor, m: _Masks, *, own: bool = True) -> _Backdrop:
    """``own``: keep the backdrop's own tone (folds, mottle): on such a backdrop only the subject's
    cast shadow is lifted. Else the backdrop is modelled as plain paper."""
    hm, wm = x_mid.shape[-2:]
    short_m = min(hm, wm)
    known, x_fill = m.known, m.x_fill
    # first as plain paper: a set edge's cells must not pass for the backdrop's own tone
    surface, mottle = fitted_surface(x_fill, known * (1.0 - m.contact), own=False)
    # what is far off the backdrop model is not backdrop (a set edge, a light stand, a window):
    # keep it as shot and model the backdrop without it, and with its own tone, if it has one
    foreign = foreign_objects(x_mid, surface, known)
    has_foreign = bool((foreign > 0).any())  # one trip to the host
    if has_foreign:
        known = known * (foreign <= 0).to(known.dtype)
        x_fill = pushpull_fill(x_mid, known)
    if (own and mottle > 0) or has_foreign:
        surface, mottle = fitted_surface(x_fill, known * (1.0 - m.contact), own=own)
    edit = (1.0 - m.protect) * (1.0 - m.floor) * (1.0 - m.contact) * (1.0 - foreign)
    if has_foreign:
        foreign = _with_soft_edges(x_mid, surface, m.known, foreign)
    step, shadow_map = shadow_gain(x_fill, surface, sigma_small=0.0015 * short_m, sigma_large=0.015 * short_m,
                                   mottle=mottle if own else 0.0, subject=m.protect)
    lifted = None
    if bool((m.edges.taken > 0.5).any()):
        # a shadow the mask's unsure edge cuts across runs on under the mask: kept whole
        lifted = 1.0 - cut_shadows(shadow_map, a_mid, m.protect >= 0.999, m.edges.taken, reach=m.reach)
        shadow_map = shadow_map * lifted
    return _Backdrop(surface, foreign, x_fill, edit, step, shadow_map, lifted)


def _texture(x_mid: torch.Tensor, a_mid: torch.Tensor, m: _Masks, b: _Backdrop, *,
             own: bool = True) -> dict[str, torch.Tensor]:
    """Stage 3: the texture layers, and every working map the render needs (``Analysis.work``).

    Marks are judged on the backdrop at full lift, so a mark in a shadow is judged at the wall's
    level; the correction is a ratio of that backdrop, applied to whatever the lift leaves. Detail is
    judged in log space, as the eye sees it: a light fibre on black cloth is a large change there,
    and a weave is as strong in the light as in the falloff. ``own``: the backdrop's own texture
    (weave, folds, mottle) counts as grain."""
    log_lifted = (b.x_fill * (1.0 + b.step)).clamp_min_(1e-3).log_()
    marks, grain_layer, fine_p = texture_layers(log_lifted, b.edit, own=own, core=m.protect >= 0.999, spend=True)
    del log_lifted
    free = (1.0 - m.floor) * (1.0 - m.contact) * (1.0 - b.foreign)
    changeable = free * (a_mid < 1.0)  # working pixels made only of subject never change
    # (in the backdrop model's own step, which nothing reads after: one working frame less at the
    # analysis' high-water mark)
    lift_step = (b.step if b.lifted is None else b.step.mul_(b.lifted)).mul_(changeable)
    # as ratios of the backdrop: the marks take 1 - exp(-marks) of it, and the grain, on top, the same
    # share of what is left (so all of the detail removed is exactly exp(-(marks + grain)))
    left = marks.neg_().exp_()
    grain_layer = grain_layer.neg_().exp_().sub_(1.0).mul_(left).neg_().mul_(changeable)
    marks = left.neg_().add_(1.0).mul_(changeable)
    return {
        "image": x_mid,
        "subject": a_mid,
        "protect": m.protect,
        "firm": m.edges.firm,
        "edges": (m.edges, m.reach),  # (what the firm hold spreads from, how far)
        "floor": m.floor,
        "contact": m.contact,
        "foreign": b.foreign,
        "edit": b.edit,
        "free": free,
        "surface": b.surface,
        "shadow_map": b.shadow_map,
        "expected": b.x_fill,
        # the lift's ratio is 1 + lift * lift_step
        "lift_step": lift_step,
        # near the subject, how much further off the expected backdrop a pixel may be and still take
        # the lift (a shadow deepens toward the subject that casts it)
        "lift_tol": lift_tolerance(b.x_fill, lift_step),
        # how much of the lift a pixel part subject takes on its backdrop's share (as much as the
        # backdrop seen around it holds)
        "edge_lift": edge_lift(lift_step, a_mid, m.protect < 0.999),
        # where the tone scales the wall: the backdrop the cleanup may change and its contact zone (a
        # contact shadow keeps its depth below the wall it lies on); never the subject, floor or foreign
        # objects. The wall is scaled down to the floor's edge, not faded over the lift's ramp above it
        # (a grey band along the floor at a strong tone)
        "tone_area": (1.0 - _tone_floor(m.floor, x_mid, (m.protect < 0.5).to(x_mid.dtype))) * (1.0 - b.foreign)
        * (a_mid < 1.0),
        "marks": marks,  # the texture's ratio is 1 - texture * (marks + (1 - grain) * grain)
        "grain": grain_layer,
        # where marks below the working resolution may be (grown by two working pixels: they reach a
        # little beyond), and the backdrop may change
        "fine_flag": max_filter((fine_p > 0.5).to(x_mid.dtype), 5),
    }


def _ratio_maps(w: dict[str, torch.Tensor], lift: float, strength: float, keep: float,
                want: set[str]) -> dict[str, torch.Tensor]:
    """Each view's per-channel ratio map at working resolution: 1 wherever nothing may change
    (made with as few working-size temporaries as may be: a 24 MP frame's are 8 MB each)."""
    tex = None  # the texture's ratio minus one
    if strength and want & {"texture", "preview"}:
        tex = torch.mul(w["marks"], -strength)
        if keep < 1.0:
            tex.add_(w["grain"], alpha=-strength * (1.0 - keep))
    maps: dict[str, torch.Tensor] = {}
    if "shadows" in want or "preview" in want:
        lifted = torch.add(1.0, w["lift_step"], alpha=lift) if lift else torch.ones_like(w["lift_step"])
        if "shadows" in want:
            maps["shadows"] = lifted
        if "preview" in want:
            maps["preview"] = lifted if tex is None else torch.addcmul(lifted, lifted, tex)
    if "texture" in want:
        maps["texture"] = tex.add(1.0) if tex is not None else torch.ones_like(w["lift_step"])
    return {n: maps[n] for n in VIEWS if n in maps}


WALL = 0.99  # a wall pixel for its level: the cleanup may change it fully (no subject, floor, contact, foreign)
TONE_WHITE = 255


def wall_level(analysis: Analysis, params: Params | None = None, *, cleaned: bool = True) -> float | None:
    """The wall's level: the median Rec. 709 luma of the backdrop, on the 8-bit scale, over the
    pixels the cleanup may change fully (the subject and its feather, a floor, the contact zone
    and foreign objects left out), at working resolution; None when there is no such wall.

    ``cleaned``: the wall as the lift, texture and grain of ``params`` (default: the analysis'
    own) leave it, before any tone; else as shot. ``tone: match`` sets a batch to the median of
    its photos' cleaned levels.
    """
    if not cleaned:
        return _level(analysis, None)
    p = analysis.params if params is None else params
    w = analysis.work
    ratio = _ratio_maps(w, p.lift / 100.0, p.texture / 100.0, p.grain / 100.0, {"preview"})["preview"]
    return _level(analysis, ratio)


def _toned_edges(w: dict) -> tuple[tuple | None, tuple[torch.Tensor, torch.Tensor]]:
    """What a tone needs at the subject's edge, made from the analysis's working maps ``w`` at its
    first toned render and kept there: :func:`soft_fading`, and the subject's colour on the mask's
    edge (:func:`rim_colour`) with the backdrop's beyond the subject's protection (the expected
    backdrop there is the photo, strands and all): compose's ``fading`` and ``strands``."""
    if "strands" not in w:  # (two renders at once may both make them: the same maps)
        inside = rim_colour(w["image"], w["subject"])
        edges, reach = w["edges"]
        soft = soft_fading(w["subject"], w["expected"], w["protect"], edges, reach=reach)
        w["fading"] = None if soft is None else (soft[0], soft[1], inside, soft[2])
        clear = gaussian_blur(pushpull_fill(w["expected"], (w["protect"] <= 0.01).to(inside.dtype)), 1.0)
        w["strands"] = (inside, clear)
    return w["fading"], w["strands"]


def _level(analysis: Analysis, ratio: torch.Tensor | None) -> float | None:
    """:func:`wall_level` of the photo times a ratio map (None: as shot)."""
    w = analysis.work
    sel = w["edit"] > WALL
    if int(sel.sum()) < 16:
        return None
    x = w["image"] if ratio is None else w["image"] * ratio
    lum = luminance(x)[sel]
    if lum.numel() > 200_000:
        lum = lum[:: lum.numel() // 200_000 + 1]
    return float(lum.median()) * 255.0


WHITE_SCALED = 0.25  # at 255, a channel of the clean backdrop below this is scaled by 1/this at most ...
# ... and the rest of the way to white is added: a green screen's red is 0-2 levels, which no gain takes
# to white (a pixel at 0 stays 0 at any gain: cyan speckle), and its noise is as large as its level


def _tone_gain(a: Analysis, ratio: torch.Tensor, tone,
               level: float | None) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """The gain that takes the wall to ``tone`` (a new tensor) and what is added to it (None: nothing),
    before both are limited to the tone's area; None when nothing changes. A number scales the wall by
    one factor, so its falloff and vignette keep their shape. 255 divides each pixel by its clean
    backdrop (with a margin for the grain), so every wall pixel is white and a contact shadow keeps its
    depth below it; a channel too dark for that (below WHITE_SCALED) is scaled by 1/WHITE_SCALED and
    the white it still lacks is added, darkened as the contact shadow darkens the wall."""
    if not isinstance(tone, (int, float)) or level is None:  # keep; match on its own
        return None
    w = a.work
    if tone >= TONE_WHITE:
        # the cleaned backdrop at working resolution: the model's, and over the floor's ramp (where the
        # model is filled down from above, not seen) the photo's own
        shadowed = torch.where(w["floor"] > 0.01, w["image"], w["expected"]).mul_(ratio)
        surface = w["surface"].expand_as(shadowed)
        clean = torch.lerp(shadowed, surface, w["contact"])  # under a contact shadow: the wall it darkens
        # a margin over the grain, so that every wall pixel reaches white; it fades out where a
        # contact shadow is deeper than a few times the margin, so the shadow keeps its depth
        margin = 5.0 * a.grain_full + 1.0 / 255.0
        wall = luminance(w["surface"])
        depth = 1.0 - luminance(w["expected"]) / wall.clamp_min(1e-3)
        fade = 1.0 - w["contact"] * smoothstep(depth, 0.0, 3.0 * margin / max(float(wall.median()), 1e-3))
        below = clean.sub_(fade.mul_(margin))  # what the gain must take to white, per channel
        scaled = below.clamp_min(WHITE_SCALED)
        short = below.clamp_min(0.0).div_(scaled).neg_().add_(1.0)  # the white the gain cannot give
        if not bool((short > 0).any()):
            return scaled.reciprocal_(), None
        # ... added as the contact shadow darkens the channels the gain does scale (by luma), or as it
        # darkens the wall where none is scaled: a grey shadow, not one tinted by the added channel
        ok = (below >= WHITE_SCALED).to(below.dtype)
        weight = luminance(ok)
        lit = luminance(ok * shadowed / scaled) / weight.clamp_min(1e-6)
        lit = torch.where(weight > 0, lit, 1.0 - depth).clamp_(0.0, 1.0)
        return scaled.reciprocal_(), short.mul_(torch.lerp(torch.ones_like(lit), lit, w["contact"]))
    if level <= 0.0:
        return None
    return torch.full_like(w["tone_area"], float(tone) / level), None


EDGE_STEP = 0.03  # a floor's edge: the backdrop's mean colour steps by at least this (about 8 levels) over two rows


def _tone_floor(floor: torch.Tensor, x_mid: torch.Tensor, backdrop: torch.Tensor) -> torch.Tensor:
    """The floor as the tone leaves it: every row from the floor's own edge down. The detector's
    floor starts a little above the edge and the lift fades over a ramp above that; the tone
    would leave a grey band there, so the edge is found again, as the row where the backdrop's
    mean colour steps most, between the top of the ramp and a little below the detected edge. Where
    no such step is seen (a floor found on a wall that only darkens), the floor keeps its ramp."""
    solid = floor[0, 0].amax(1) > 0.99
    if not bool(solid.any()):
        return torch.zeros_like(floor)
    h = floor.shape[-2]
    edge = int(torch.nonzero(solid)[0])
    top = int(torch.nonzero(floor[0, 0].amax(1) > 0.01)[0])
    bottom = min(h - 1, edge + max(3, round(0.015 * h)))
    wgt = backdrop[..., top - 1 : bottom + 1, :]
    prof = (x_mid[..., top - 1 : bottom + 1, :] * wgt).sum(-1) / wgt.sum(-1).clamp_min(1e-6)  # (1, 3, rows)
    step = (prof[..., 2:] - prof[..., :-2]).norm(dim=1)[0]  # at rows top..bottom-1
    if not step.numel() or float(step.max()) < EDGE_STEP:  # no edge to be seen: the floor with its ramp
        return floor
    row = top + int(torch.argmax(step))
    out = torch.zeros_like(floor)
    out[..., row + 1 :, :] = 1.0
    out[..., row, :] = 0.5  # the row the step is in
    return out


def _slider(name: str, value, default: float) -> float:
    """A slider's value (``default`` when None), checked as Params checks it."""
    return float(default) if value is None else float(getattr(Params(**{name: value}), name))


def render(
    analysis: Analysis,
    params: Params | None = None,
    *,
    lift: float | None = None,
    texture: float | None = None,
    grain: float | None = None,
    tone: str | float | None = None,
    views: tuple[str, ...] = VIEWS,
    bits: int | None = None,
    seed: int = 0,
    dither: bool = True,
    frame: bool | None = None,
    into: np.ndarray | None = None,
) -> Result:
    """The full-resolution views of an analysed photo for a setting of the sliders.

    Args:
        analysis: from :func:`analyze`.
        params: a parameter set to take lift, texture and grain from; it must fit the analysis
            (same feather, grow, floor, contact, segmenter, device), else ValueError.
        lift, texture, grain: the sliders, 0-100 (default: ``params``, else the analysis' own).
        tone: the wall's level in the preview: "keep", or a number 0-255 that the median wall
            level is scaled to (255: every wall pixel white); "match" is a batch's (it resolves
            it to the set's level) and keeps the level of a photo on its own.
        views: which of "shadows", "texture", "preview" to make.
        bits: None for float32 (C, H, W) tensors; 8 or 16 for uint8 / uint16 (H, W, C) arrays,
            rounded once (8-bit with a deterministic TPDF dither on the pixels that changed).
        seed: the dither's seed (the same seed gives the same pixels).
        dither: False rounds 8-bit views without the dither (screen previews).
        frame: the whole frame in a few strips (the device path) instead of tiles; default: on
            any device but the CPU.
        into: an (H, W, C) buffer of the integer view's dtype to render the one view into, or None
            (a new one). It may be the decoded buffer the analysis was made from, for a caller that
            lets go of the photo once it is rendered (the CLI, a batch): each region is read before
            it is written, so the view needs neither a buffer of its own nor the input's copy; the
            analysis is then spent (its source holds the view).
    Returns:
        A :class:`Result`.
    Example:
        >>> img = np.full((64, 96, 3), 200, np.uint8); m = np.zeros((64, 96), np.uint8)
        >>> render(analyze(img, m), lift=90, views=("preview",), bits=8).preview.dtype
        dtype('uint8')
    """
    base = analysis.params
    if params is not None:
        if not analysis.fits(params):
            changed = [k for k in STRUCTURAL if getattr(params, k) != getattr(base, k)]
            raise ValueError(f"params: {', '.join(changed)} changed since the analysis; analyze again")
        base = params
    lift = _slider("lift", lift, base.lift)
    texture = _slider("texture", texture, base.texture)
    grain = _slider("grain", grain, base.grain)
    tone = base.tone if tone is None else Params(tone=tone).tone
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"views: unknown view {unknown[0]!r}; one of {', '.join(VIEWS)}")
    if bits not in (None, 8, 16):
        raise ValueError(f"bits: expected None, 8 or 16, got {bits!r}")
    t_start = time.perf_counter()
    a = analysis
    w = a.work
    dev = a.device
    H, W = a.size
    lift, strength, keep = lift / 100.0, texture / 100.0, grain / 100.0
    maps = _ratio_maps(w, lift, strength, keep, set(views))
    level = gain = toned = added = None
    if "preview" in maps and tone != "keep":
        level = _level(a, maps["preview"])
        tg = _tone_gain(a, maps["preview"], tone, level)
        if tg is not None:
            gain, added = tg
            toned = gain.sub_(1.0).mul_(w["tone_area"]).add_(1.0)
            maps["preview"] = maps["preview"].mul(toned)
            if added is not None:
                added = added.mul_(w["tone_area"])

    fine = None
    if a.factor > 1 and strength > 0:
        flag = w["fine_flag"] if keep >= 1.0 else torch.ones_like(w["fine_flag"])
        flag = flag * (max_filter(w["free"], 3) > 0)
        fine = FineMarks(ref=w["expected"], flag=flag, sigma=a.grain_full, strength=strength, grain=keep)

    if into is not None:
        want = (H, W, a.channels)
        if bits is None or len(maps) != 1 or into.shape != want or into.dtype != (np.uint8 if bits == 8 else np.uint16) \
                or not into.flags.writeable or not into.flags.c_contiguous:
            raise ValueError(f"into: expected a writable C-ordered {want} uint8 (bits=8) or uint16 (bits=16) "
                             "buffer for one integer view")
    src3 = a.source.expand(1, 3, H, W)
    outs: dict[str, torch.Tensor | np.ndarray] = {}
    sinks: dict[str, Sink] = {}
    for name in maps:
        if bits is None:
            buf = torch.empty((1, a.channels, H, W), dtype=torch.float32, device=dev,
                              memory_format=torch.channels_last)
            outs[name], sink_t = buf, buf
        else:
            arr = into if into is not None else np.empty((H, W, a.channels), dtype=np.uint8 if bits == 8 else np.uint16)
            outs[name] = arr
            host = torch.from_numpy(arr).permute(2, 0, 1)[None]
            sink_t = host if dev.type == "cpu" else torch.empty(
                host.shape, dtype=host.dtype, device=dev, memory_format=torch.channels_last)
        # the same depth in and out: the output starts as a copy of the input (one fast copy), and
        # what does not change is never touched again
        prefill = sink_t.dtype == a.source.dtype
        if prefill and not _same_memory(sink_t, a.source):  # (rendered into the decoded buffer: it is the input)
            sink_t.copy_(a.source)
        sinks[name] = Sink(sink_t, bits, seed=seed, dither=dither, prefilled=prefill)
    use_frame = dev.type != "cpu" if frame is None else frame
    # (without a tone the wall held beside the subject is at its own level, and faint strands there
    # stay as shot: the tone's matte at the subject's edge is made only for a tone)
    fading, strands = (None, None) if toned is None else _toned_edges(w)
    compose(
        src3,
        a.scale,
        a.alpha,
        Upsampler(a.factor, (H, W)),
        maps=maps,
        sinks=sinks,
        free=w["free"],
        protect=w["protect"],
        firm=w["firm"],
        fading=fading,
        strands=strands,
        subject=w["subject"],
        expected=w["expected"],
        match_tol=3.0 * a.grain_full + 0.01,
        fine=fine,
        tile=None if use_frame else _tile_size(a.factor),
        # near the subject a pixel may take the lift alone
        lift=(lift, w["lift_step"], w["lift_tol"], w["edge_lift"]) if lift else None,
        lift_gain=None if toned is None else {"preview": toned},
        added=None if added is None else {"preview": added},
    )

    def finish(name: str):
        if name not in outs:
            return None
        v = outs[name]
        if bits is None:
            return v[0].cpu()  # (C, H, W) over an HxWxC buffer: .permute(1, 2, 0).numpy() is free
        if dev.type != "cpu":  # one transfer of the finished integers
            torch.from_numpy(v).permute(2, 0, 1)[None].copy_(sinks[name].out)
        return v

    result = Result(analysis=a, shadows=finish("shadows"), texture=finish("texture"), preview=finish("preview"),
                    params=Params.from_dict({**base.to_dict(), "lift": lift * 100.0, "texture": strength * 100.0,
                                             "grain": keep * 100.0, "tone": tone}),
                    bits=bits, wall_level=level)
    result.timings = {**a.timings, "render": time.perf_counter() - t_start}
    return result


def _same_memory(t: torch.Tensor, u: torch.Tensor) -> bool:
    """Whether two tensors are the very same pixels (one buffer, seen alike)."""
    return (t.device == u.device and t.data_ptr() == u.data_ptr() and t.shape == u.shape
            and t.stride() == u.stride() and t.dtype == u.dtype)


def clean(
    image,
    params: Params | None = None,
    mask=None,
    *,
    views: tuple[str, ...] = VIEWS,
    device: str | torch.device | None = None,
    bits: int | None = None,
    work_long_edge: int = WORK_LONG_EDGE,
) -> Result:
    """Clean the backdrop of a studio portrait: ``render(analyze(image, mask, params))``.

    Args:
        image: float32 (C, H, W) tensor in [0, 1], or an HxWxC / HxW numpy array
            (uint8, uint16 or float in [0, 1]); C is 3 (RGB) or 1 (greyscale).
        params: the settings (defaults if None).
        mask: subject coverage (H, W), 1 = subject (uint8/uint16/float array or tensor).
            Pixels wholly subject are returned bit-for-bit unchanged; one part subject keeps its
            subject's share.
        views: which of "shadows", "texture", "preview" to compute at full resolution.
        device: overrides ``params.device``.
        bits: None for float views; 8 or 16 for rounded integer views (see :func:`render`).
        work_long_edge: the working resolution's long edge (see :func:`analyze`).
    Returns:
        Result with the requested views and the masks used.
    Example:
        >>> img = np.full((64, 96, 3), 0.8, np.float32); m = np.zeros((64, 96), np.float32)
        >>> clean(img, Params(), m, views=("preview",)).preview.shape
        torch.Size([3, 64, 96])
    """
    return render(analyze(image, mask, params, device=device, work_long_edge=work_long_edge), views=views, bits=bits)
