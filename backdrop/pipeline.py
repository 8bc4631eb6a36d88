"""clean(image, params, mask) -> Result: the one engine behind every front end.

Everything smooth (masks, floor, illumination surface, shadow gain, the
multi-scale texture correction) is computed at a reduced working resolution;
the full-resolution work is a few per-pixel passes done in horizontal bands.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ._compose import Upsampler, compose, tile_noise
from ._filters import area_resize, pushpull_fill, reduce_by, work_factor
from .illumination import backdrop_surface, shadow_gain
from .io import BackdropError
from .masks import FloorInfo, contact_zone, detect_floor, foreign_objects, subject_protection
from .params import Params
from .texture import texture_correction

__all__ = ["clean", "Result", "VIEWS", "pick_device"]

VIEWS = ("shadows", "texture", "preview")
WORK_LONG_EDGE = 1024  # working resolution of the multi-scale passes
GRID_CELLS = 48  # illumination mesh cells along the long edge
CELL = 8
TILE = 256  # full-resolution tile size (pixels)


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, else Apple MPS, else CPU (``name`` may force one)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BackdropError("parameter 'device': cuda was asked for but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BackdropError("parameter 'device': mps was asked for but Apple MPS is not available")
    return torch.device(name)


@dataclass
class Result:
    """What a cleanup produced. Images are float32 (C, H, W) CPU tensors in [0, 1].

    ``original`` is the input; ``shadows`` is the shadow lift alone, ``texture``
    the texture smoothing alone, ``preview`` both (``None`` for views not asked
    for). The masks are kept at working resolution and given at full size by
    :meth:`mask`.
    """

    original: torch.Tensor
    shadows: torch.Tensor | None
    texture: torch.Tensor | None
    preview: torch.Tensor | None
    params: Params
    floor_info: FloorInfo
    device: str
    timings: dict[str, float] = field(default_factory=dict)
    work: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    segmenter: str = "mask"

    MASKS = ("subject", "protect", "floor", "contact", "foreign", "shadow_map", "edit", "surface")

    def mask(self, name: str, *, full: bool = True) -> torch.Tensor:
        """A mask or map used by the cleanup, (H, W) float32 (``surface`` is (3, H, W)).

        subject: subject coverage; protect: subject protection (grow + feather);
        floor: detected real floor with its ramp; contact: protected contact-shadow zone;
        foreign: things far off the backdrop model that are kept as shot (set edges, stands);
        shadow_map: shadow depth below the clean wall; edit: how much each pixel may change;
        surface: the clean-backdrop model.
        """
        if name not in self.MASKS:
            raise KeyError(f"unknown mask {name!r}; one of {', '.join(self.MASKS)}")
        m = self.work[name]
        if full:
            h, w = self.original.shape[-2:]
            m = torch.nn.functional.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        return m[0] if m.shape[1] > 1 else m[0, 0]

    def view(self, name: str) -> torch.Tensor:
        if name == "original":
            return self.original
        out = getattr(self, name, None) if name in VIEWS else None
        if out is None:
            raise KeyError(f"view {name!r} was not computed")
        return out


def _as_chw(image) -> torch.Tensor:
    """numpy HxW / HxWxC (uint8, uint16, float) or torch (C, H, W) -> float32 (C, H, W)."""
    if isinstance(image, torch.Tensor):
        t = image
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3:
            raise ValueError(f"image: expected a (C, H, W) tensor, got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError("image: a tensor must be floating point in [0, 1]")
        return t.float()
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"image: expected an HxWxC array, got shape {a.shape}")
    if a.dtype == np.uint8:
        t = torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0)
    elif a.dtype == np.uint16:
        t = torch.from_numpy(a.astype(np.float32)).div_(65535.0)
    else:
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    return t.permute(2, 0, 1)


def _as_mask(mask, hw: tuple[int, int]) -> torch.Tensor:
    """(H, W) mask as uint8/uint16/float array or tensor -> float32 (H, W) in [0, 1]."""
    if isinstance(mask, torch.Tensor):
        m = mask.float()
    else:
        a = np.asarray(mask)
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype, 1.0)
        m = torch.from_numpy(np.asarray(a, dtype=np.float32))
        if scale != 1.0:
            m = m / scale
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2 or tuple(m.shape) != tuple(hw):
        got = "x".join(str(v) for v in reversed(m.shape[:2])) if m.ndim >= 2 else str(tuple(m.shape))
        raise BackdropError(f"mask: size {got} does not match the image {hw[1]}x{hw[0]}")
    return m.clamp(0.0, 1.0)


def _surface(x_fill: torch.Tensor, weight: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]):
    """The clean-backdrop surface at working resolution from the mesh at ``grid`` cells."""
    gh, gw = grid
    x_low = area_resize(x_fill, (gh * CELL, gw * CELL))
    fit_weight = area_resize(weight, (gh * CELL, gw * CELL))
    surface_low, _ = backdrop_surface(x_low, (fit_weight > 0.99).to(x_low.dtype), cell=CELL)
    return area_resize(surface_low, size)


def clean(
    image,
    params: Params | None = None,
    mask=None,
    *,
    views: tuple[str, ...] = VIEWS,
    device: str | torch.device | None = None,
) -> Result:
    """Clean the backdrop of a studio portrait.

    Args:
        image: float32 (C, H, W) tensor in [0, 1], or an HxWxC / HxW numpy array
            (uint8, uint16 or float in [0, 1]); C is 3 (RGB) or 1 (greyscale).
        params: the settings (defaults if None).
        mask: subject coverage (H, W), 1 = subject (uint8/uint16/float array or tensor).
            Pixels with any coverage are returned bit-for-bit unchanged.
        views: which of "shadows", "texture", "preview" to compute at full resolution.
        device: overrides ``params.device``.
    Returns:
        Result with the requested views and the masks used.
    Example:
        >>> img = np.full((64, 96, 3), 0.8, np.float32); m = np.zeros((64, 96), np.float32)
        >>> clean(img, Params(), m, views=("preview",)).preview.shape
        torch.Size([3, 64, 96])
    """
    params = Params() if params is None else params
    params.validate()
    if mask is None:
        raise BackdropError("no subject mask given: pass one (white = subject)")
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"views: unknown view {unknown[0]!r}; one of {', '.join(VIEWS)}")
    dev = pick_device(params.device) if device is None else torch.device(device)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    original = _as_chw(image)
    channels, H, W = original.shape
    if channels not in (1, 3):
        raise ValueError(f"image: expected 1 or 3 channels, got {channels}")
    alpha_full = _as_mask(mask, (H, W))
    # full-resolution work keeps the decoded HxWx3 memory layout (channels-last): no transposes
    x_full3 = (original.expand(3, H, W) if channels == 1 else original)[None].to(dev)
    x_full3 = x_full3.contiguous(memory_format=torch.channels_last)
    alpha_dev = alpha_full.to(dev)[None, None]

    lift = params.lift / 100.0
    strength = params.texture / 100.0
    grain = params.grain / 100.0

    # ---------------------------------------------------------------- working resolution
    f = work_factor(H, W, WORK_LONG_EDGE)
    x_mid = reduce_by(x_full3, f)
    a_mid = reduce_by(alpha_dev, f)
    hm, wm = x_mid.shape[-2:]
    short_m = min(hm, wm)
    protect = subject_protection(a_mid, grow=params.grow, feather=params.feather)
    contact = (
        contact_zone(a_mid, size=params.contact_size) if params.protect_contact_shadows else torch.zeros_like(a_mid)
    )
    floor, floor_info = detect_floor(x_mid, 1.0 - protect, mode=params.floor, ramp=params.floor_ramp)
    # the subject and its grow margin are filled from the backdrop around them; the feather zone
    # is backdrop as far as the model is concerned (pixels there that do not match it stay protected)
    known = ((protect < 0.999) & (floor < 0.01)).to(x_mid.dtype)
    x_fill = pushpull_fill(x_mid, known)
    timings["masks"] = time.perf_counter() - t_start

    # ---------------------------------------------------------------- clean-backdrop model
    t = time.perf_counter()
    gl = max(8, min(GRID_CELLS, max(hm, wm) // CELL))
    grid = (max(2, round(gl * hm / wm)), gl) if wm >= hm else (gl, max(2, round(gl * wm / hm)))
    surface = _surface(x_fill, known * (1.0 - contact), grid, (hm, wm))
    # what is far off the backdrop model is not backdrop (a set edge, a light stand, a window):
    # keep it as shot and model the backdrop without it
    foreign = foreign_objects(x_mid, surface, known)
    if bool((foreign > 0).any()):
        known = known * (foreign <= 0).to(known.dtype)
        x_fill = pushpull_fill(x_mid, known)
        surface = _surface(x_fill, known * (1.0 - contact), grid, (hm, wm))
    edit = (1.0 - protect) * (1.0 - floor) * (1.0 - contact) * (1.0 - foreign)
    gain, shadow_map = shadow_gain(
        x_fill, surface, sigma_small=0.0015 * short_m, sigma_large=0.015 * short_m, lift=lift
    )
    timings["surface"] = time.perf_counter() - t

    # ---------------------------------------------------------------- texture at working resolution
    t = time.perf_counter()
    want = set(views)
    d_tex = d_prev = None
    fine_flag = torch.zeros_like(a_mid)
    if "texture" in want:
        d_tex, p = texture_correction(x_fill, edit, strength=strength, grain=grain)
        fine_flag = torch.maximum(fine_flag, p)
    if "preview" in want:
        d_prev, p = texture_correction(x_fill * gain, edit, strength=strength, grain=grain)
        fine_flag = torch.maximum(fine_flag, p)
    timings["texture"] = time.perf_counter() - t

    # ---------------------------------------------------------------- full resolution, tile by tile
    t = time.perf_counter()
    up = Upsampler(f, (H, W))
    tile = f * max(1, TILE // f)
    free = (1.0 - floor) * (1.0 - contact) * (1.0 - foreign)
    # each view is a per-channel ratio map: the lift's gain times the texture correction
    # taken as a ratio of the (lifted) backdrop, 1 wherever nothing may change
    maps: dict[str, torch.Tensor] = {}
    changeable = free * (a_mid < 1.0)  # working pixels made only of subject never change
    lifted = 1.0 + changeable * (gain - 1.0)
    if "shadows" in want:
        maps["shadows"] = lifted.contiguous()
    if "texture" in want:
        maps["texture"] = (1.0 + changeable * d_tex / x_fill.clamp_min(1e-3)).contiguous()
    if "preview" in want:
        maps["preview"] = (lifted + changeable * d_prev / x_fill.clamp_min(1e-3)).contiguous()
    # grain of the full-resolution backdrop around the expected backdrop (subject filled in):
    # the tolerance of the match test, and the scale of the finest band's marks
    grain_full = tile_noise(x_full3, x_fill, edit, up, tile=tile)
    tol = 3.0 * grain_full + 0.01
    fine = None
    if f > 1 and strength > 0:
        fine = dict(
            ref=x_fill,  # never the subject's colours: nothing bleeds into the backdrop
            # where marks are (grown by two working pixels: they reach a little beyond)
            flag=F.max_pool2d((fine_flag > 0.5).to(x_mid.dtype), 5, stride=1, padding=2),
            sigma=grain_full,
            strength=strength,
            grain=grain,
        )
    outs = compose(
        x_full3,
        alpha_dev,
        up,
        views=maps,
        free=free,
        protect=protect,
        subject=a_mid,
        expected=x_fill,
        match_tol=tol,
        fine=fine,
        tile=tile,
    )
    timings["full_res"] = time.perf_counter() - t

    def finish(v: torch.Tensor | None) -> torch.Tensor | None:
        if v is None:
            return None
        v = v[0].cpu()  # (3, H, W) over an HxWx3 buffer: .permute(1, 2, 0).numpy() is free
        return v[:1].contiguous() if channels == 1 else v

    work = {
        "subject": a_mid,
        "protect": protect,
        "floor": floor,
        "contact": contact,
        "shadow_map": shadow_map,
        "edit": edit,
        "foreign": foreign,
        "surface": surface,
    }
    result = Result(
        original=original,
        shadows=finish(outs.get("shadows")),
        texture=finish(outs.get("texture")),
        preview=finish(outs.get("preview")),
        params=params,
        floor_info=floor_info,
        device=str(dev),
        timings=timings,
        work={k: v.detach().cpu() for k, v in work.items()},
    )
    timings["total"] = time.perf_counter() - t_start
    return result
