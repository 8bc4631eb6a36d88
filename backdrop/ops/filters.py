"""Small image operators on (B, C, H, W) float tensors used by the engine.

Every operator checks its input and creates its constants on the input's
device and dtype, so the same code runs on CPU, CUDA and MPS.
"""
from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F

__all__ = [
    "check_image",
    "area_resize",
    "gaussian_blur",
    "atrous_smooth",
    "pushpull_fill",
    "smoothstep",
    "luminance",
    "work_factor",
    "reduce_by",
    "distance_within",
    "max_filter",
    "WORK_LONG_EDGE",
]

_LUMA = (0.2126, 0.7152, 0.0722)
WORK_LONG_EDGE = 1024  # the working resolution's long edge: the multi-scale passes and the mask refinement


def check_image(x: torch.Tensor, name: str = "image") -> None:
    """Raise ValueError unless ``x`` is a floating (B, C, H, W) tensor, naming it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating point tensor, got {x.dtype}")


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luma of a (B, 3, H, W) tensor -> (B, 1, H, W); a 1-channel input is returned as is."""
    check_image(x)
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def smoothstep(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """0 below ``low``, 1 above ``high``, a C1 ramp between."""
    t = ((x - low) / max(high - low, 1e-12)).clamp_(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def area_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize to ``size`` = (h, w): box averaging when shrinking, bilinear when growing."""
    check_image(x)
    h, w = size
    if (h, w) == tuple(x.shape[-2:]):
        return x
    if h <= x.shape[-2] and w <= x.shape[-1]:
        return F.interpolate(x, size=(h, w), mode="area")
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with mirrored edges; sigma in pixels (<= 0.3: identity).

    Small sigmas use kornia's separable Gaussian; larger ones are done on a half-size
    copy (recursively) and upsampled: the result is smooth anyway, and the cost stays
    that of a small kernel.

    Args:
        x: (B, C, H, W).
        sigma: standard deviation in pixels.
    Returns:
        (B, C, H, W).
    """
    check_image(x)
    if sigma <= 0.3:
        return x
    h, w = x.shape[-2:]
    if sigma > 2.0 and min(h, w) >= 8:
        small = F.avg_pool2d(x, 2, ceil_mode=True)
        # the 2x2 box and the bilinear upsampling add a variance of ~1/16 + 1/4 (half-size pixels)
        small = gaussian_blur(small, math.sqrt(max(sigma * sigma / 4.0 - 0.3125, 0.0)))
        return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    k = 2 * max(1, int(math.ceil(3.0 * sigma))) + 1
    border = "reflect" if k // 2 < min(h, w) else "replicate"
    return kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type=border)


def _sep_axis(x: torch.Tensor, taps: list[float], d: int, dim: int) -> torch.Tensor:
    """Symmetric 1-D kernel ``taps`` (odd length) dilated by ``d`` along ``dim``, with shifted adds."""
    n = x.shape[dim]
    if n == 1:
        return x
    r = (len(taps) - 1) // 2
    pad = r * d
    spec = (pad, pad, 0, 0) if dim == -1 else (0, 0, pad, pad)
    xp = F.pad(x, spec, mode="reflect" if pad < n else "replicate")

    def sl(k: int) -> torch.Tensor:
        return xp.narrow(dim, k * d, n)

    out = sl(r) * taps[r]
    for i in range(r):
        out.add_(sl(i) + sl(2 * r - i), alpha=taps[i])
    return out


_B3 = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16]


def atrous_smooth(x: torch.Tensor, level: int) -> torch.Tensor:
    """One step of the à-trous (B3-spline) wavelet: smooth with the kernel [1 4 6 4 1]/16 dilated by 2**level.

    ``x - atrous_smooth(x, j)`` is the detail band of scale ~2**j pixels. Done with
    shifted adds (much faster than a dilated convolution on the CPU); edges are
    mirrored.

    Args:
        x: (B, C, H, W).
        level: j >= 0.
    Returns:
        (B, C, H, W).
    """
    check_image(x)
    d = 2**level
    return _sep_axis(_sep_axis(x, _B3, d, -1), _B3, d, -2)


def pushpull_fill(x: torch.Tensor, weight: torch.Tensor, *, levels: int | None = None) -> torch.Tensor:
    """Fill where ``weight`` is 0 from the surrounding pixels (push-pull pyramid).

    Args:
        x: (B, C, H, W) image.
        weight: (B, 1, H, W) confidence in [0, 1]; 1 = keep, 0 = hole.
    Returns:
        (B, C, H, W): ``x`` where weight is 1, a smooth interpolation of the known
        pixels in the holes (any hole size, linear time).
    Example:
        >>> img = torch.rand(1, 3, 64, 64); w = torch.ones(1, 1, 64, 64); w[..., 20:40, 20:40] = 0
        >>> pushpull_fill(img, w).shape
        torch.Size([1, 3, 64, 64])
    """
    check_image(x)
    check_image(weight, "weight")
    if levels is None:
        levels = max(1, int(math.ceil(math.log2(max(x.shape[-2:])))))
    num = x * weight
    den = weight
    stack = []
    for _ in range(levels):
        stack.append((num, den))
        h, w = num.shape[-2:]
        if h <= 1 and w <= 1:
            break
        # down to one pixel on both sides: on a wide frame the short side reaches one first, and
        # the long one goes on alone (a hole over a whole cell of a 1xN row was filled with 0)
        k = (2 if h > 1 else 1, 2 if w > 1 else 1)
        num = F.avg_pool2d(num, k, stride=k, ceil_mode=True)
        den = F.avg_pool2d(den, k, stride=k, ceil_mode=True)
    filled = num / den.clamp_min(1e-8)
    for num, den in reversed(stack):
        up = F.interpolate(filled, size=num.shape[-2:], mode="bilinear", align_corners=False)
        # confidence of this level: saturates quickly so known pixels win
        a = (den * 4.0).clamp(0.0, 1.0)
        filled = a * (num / den.clamp_min(1e-8)) + (1.0 - a) * up
    return filled


def work_factor(h: int, w: int, long_edge: int) -> int:
    """Integer reduction from full to working resolution (1 for small images)."""
    return max(1, math.ceil(max(h, w) / long_edge))


def reduce_by(x: torch.Tensor, f: int) -> torch.Tensor:
    """Box average by an integer factor; a partial last row/column averages the pixels it has.

    (1, C, H, W) -> (1, C, ceil(H/f), ceil(W/f)), contiguous. Sums over reshaped blocks,
    which is several times faster than pooling a channels-last frame.
    """
    if f == 1:
        return x.contiguous()
    hwc = x[0].permute(1, 2, 0)  # a view: H, W, C (contiguous for a channels-last frame)
    H, W, C = hwc.shape
    H2, W2 = H // f * f, W // f * f
    rows = [hwc[:H2].reshape(H2 // f, f, W, C).sum(1) / f]
    if H2 < H:
        rows.append(hwc[H2:].mean(0, keepdim=True))
    r = torch.cat(rows, 0) if len(rows) > 1 else rows[0]
    cols = [r[:, :W2].reshape(r.shape[0], W2 // f, f, C).sum(2) / f]
    if W2 < W:
        cols.append(r[:, W2:].mean(1, keepdim=True))
    out = torch.cat(cols, 1) if len(cols) > 1 else cols[0]
    return out.permute(2, 0, 1)[None].contiguous()


def distance_within(seed: torch.Tensor, reach: float, *, sampling: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """Exact Euclidean distance from every pixel to the nearest ``seed`` pixel, up to ``reach``.

    Separable: the nearest seed along each row (a running max of indices), then the
    lower envelope over the rows within ``reach``, one shifted minimum per row offset. All
    torch, so it runs where ``seed`` is (no trip to the CPU on a GPU). Exact wherever the
    distance is at most ``reach``; elsewhere it is some value above ``reach`` (``inf`` with
    no seed in reach).

    Args:
        seed: (H, W) bool.
        reach: the largest distance that must be exact, in the units of ``sampling``.
        sampling: size of a pixel along rows (y) and columns (x).
    Returns:
        (H, W) float32 distance, 0 on the seed.
    Example:
        >>> s = torch.zeros(5, 5, dtype=torch.bool); s[2, 2] = True
        >>> float(distance_within(s, 3.0)[0, 0])  # doctest: +ELLIPSIS
        2.828...
    """
    if seed.ndim != 2 or seed.dtype != torch.bool:
        raise ValueError(f"seed: expected an (H, W) bool tensor, got {seed.dtype} {tuple(seed.shape)}")
    if not reach >= 0:
        raise ValueError(f"reach: expected a distance >= 0, got {reach!r}")
    h, w = seed.shape
    sy, sx = float(sampling[0]), float(sampling[1])
    dev = seed.device
    inf = torch.tensor(float("inf"), device=dev)
    # along the rows: the nearest seed to the left (running max of seed columns) and to the right
    cols = torch.arange(w, device=dev, dtype=torch.float32).expand(h, w)
    left = torch.where(seed, cols, -inf).cummax(1).values
    right = torch.where(seed, cols, inf).flip(1).cummin(1).values.flip(1)
    g = torch.minimum(cols - left, right - cols) * sx
    g2 = g * g
    # across the rows: min over row offsets dy of g2[y + dy] + (dy * sy)^2
    out = g2.clone()
    for dy in range(1, min(h - 1, int(math.floor(reach / sy)) if sy > 0 else h - 1) + 1):
        c = (dy * sy) ** 2
        torch.minimum(out[dy:], g2[:-dy] + c, out=out[dy:])
        torch.minimum(out[:-dy], g2[dy:] + c, out=out[:-dy])
    return out.sqrt_()


def max_filter(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Grey dilation by a ``size`` box (odd sides), centred; equals ``F.max_pool2d(x, size, 1, size // 2)``.

    Separable, with shifted maxima: torch's stride-1 max pool is slow on the CPU (20 ms on a
    working-resolution map, where this takes about 1 ms).

    Args:
        x: (B, C, H, W).
        size: box height and width (odd), or one odd number for a square.
    Returns:
        (B, C, H, W).
    """
    check_image(x)
    kh, kw = (size, size) if isinstance(size, int) else size
    if kh % 2 == 0 or kw % 2 == 0 or kh < 1 or kw < 1:
        raise ValueError(f"size: expected odd sides, got {size!r}")
    out = x
    for k, dim in ((kw, -1), (kh, -2)):
        r = k // 2
        n = out.shape[dim]
        if r == 0 or n == 1:
            continue
        acc = out.clone()
        for s in range(1, min(r, n - 1) + 1):
            # acc[i] = max(acc[i], out[i + s]) and max(acc[i], out[i - s])
            torch.maximum(acc.narrow(dim, 0, n - s), out.narrow(dim, s, n - s), out=acc.narrow(dim, 0, n - s))
            torch.maximum(acc.narrow(dim, s, n - s), out.narrow(dim, 0, n - s), out=acc.narrow(dim, s, n - s))
        out = acc
    return out
