"""backdrop.ops.filters: the small image operators, checked against analytic answers and brute force."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backdrop.ops.filters import (
    area_resize,
    atrous_smooth,
    check_image,
    distance_within,
    gaussian_blur,
    luminance,
    max_filter,
    pushpull_fill,
    reduce_by,
    smoothstep,
    work_factor,
)


def _rand(*shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype)


# ---------------------------------------------------------------------------------------------- check_image


def test_check_image_accepts_float_bchw():
    for dt in (torch.float32, torch.float64, torch.float16):
        check_image(torch.zeros(1, 3, 4, 5, dtype=dt))


@pytest.mark.parametrize(
    "bad, exc, words",
    [
        (np.zeros((1, 3, 4, 4), np.float32), TypeError, "torch.Tensor"),
        (torch.zeros(3, 4, 4), ValueError, "(B, C, H, W)"),
        (torch.zeros(4, 4), ValueError, "(B, C, H, W)"),
        (torch.zeros(1, 3, 4, 4, dtype=torch.uint8), ValueError, "floating point"),
        (torch.zeros(1, 3, 4, 4, dtype=torch.int64), ValueError, "floating point"),
    ],
)
def test_check_image_rejects_with_a_clear_message(bad, exc, words):
    with pytest.raises(exc) as e:
        check_image(bad, "mask")
    assert words in str(e.value)
    assert str(e.value).startswith("mask:")  # names the argument


@pytest.mark.parametrize(
    "call",
    [
        lambda x: luminance(x),
        lambda x: area_resize(x, (2, 2)),
        lambda x: gaussian_blur(x, 2.0),
        lambda x: atrous_smooth(x, 0),
        lambda x: pushpull_fill(x, torch.ones(1, 1, 8, 8)),
        lambda x: max_filter(x, 3),
    ],
)
def test_operators_check_their_input(call):
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        call(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="floating point"):
        call(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


def test_pushpull_fill_checks_the_weight():
    with pytest.raises(ValueError, match="weight"):
        pushpull_fill(torch.zeros(1, 3, 8, 8), torch.ones(8, 8))


# ---------------------------------------------------------------------------------------------- luminance


def test_luminance_rec709():
    x = torch.zeros(1, 3, 2, 2)
    x[:, 0, 0, 0] = 1.0  # red
    x[:, 1, 0, 1] = 1.0  # green
    x[:, 2, 1, 0] = 1.0  # blue
    x[:, :, 1, 1] = 0.4  # grey
    y = luminance(x)
    assert y.shape == (1, 1, 2, 2)
    expect = torch.tensor([[0.2126, 0.7152], [0.0722, 0.4]])
    torch.testing.assert_close(y[0, 0], expect, rtol=0, atol=1e-6)


def test_luminance_of_one_channel_is_the_input():
    x = _rand(1, 1, 5, 6)
    assert luminance(x) is x


def test_luminance_keeps_dtype_and_batch():
    x = _rand(2, 3, 5, 6, dtype=torch.float64)
    y = luminance(x)
    assert y.shape == (2, 1, 5, 6) and y.dtype == torch.float64


# ---------------------------------------------------------------------------------------------- smoothstep


def test_smoothstep_endpoints_and_outside():
    x = torch.tensor([-5.0, 0.2, 0.5, 0.65, 0.8, 3.0])
    y = smoothstep(x, 0.2, 0.8)
    assert y[0] == 0 and y[1] == 0
    assert y[4] == 1 and y[5] == 1
    assert y[2] == pytest.approx(0.5, abs=1e-6)
    t = 0.75
    assert y[3] == pytest.approx(t * t * (3 - 2 * t), abs=1e-6)


def test_smoothstep_monotonic_and_flat_at_the_ends():
    x = torch.linspace(-1, 2, 3001, dtype=torch.float64)
    y = smoothstep(x, 0.0, 1.0)
    assert bool((y.diff() >= 0).all())
    assert float(y.min()) == 0.0 and float(y.max()) == 1.0
    # C1: the slope tends to 0 at both ends (and is 1.5 in the middle)
    h = 1e-4
    s = lambda v: float((smoothstep(torch.tensor(v + h, dtype=torch.float64), 0, 1)
                         - smoothstep(torch.tensor(v - h, dtype=torch.float64), 0, 1)) / (2 * h))
    assert abs(s(0.0)) < 1e-3 and abs(s(1.0)) < 1e-3
    assert s(0.5) == pytest.approx(1.5, rel=1e-3)


def test_smoothstep_does_not_modify_its_input_and_handles_a_step():
    x = torch.tensor([-1.0, 0.5, 2.0])
    before = x.clone()
    smoothstep(x, 0.0, 1.0)
    assert torch.equal(x, before)
    # low == high: a step (no division by zero)
    y = smoothstep(torch.tensor([0.9, 1.1]), 1.0, 1.0)
    assert y.tolist() == [0.0, 1.0]


# ---------------------------------------------------------------------------------------------- area_resize


def test_area_resize_of_a_constant_is_the_constant():
    x = torch.full((1, 3, 64, 96), 0.37)
    for size in [(32, 48), (20, 30), (7, 11), (128, 192), (100, 50)]:
        y = area_resize(x, size)
        assert y.shape == (1, 3, *size) and y.dtype == x.dtype
        torch.testing.assert_close(y, torch.full_like(y, 0.37), rtol=0, atol=1e-6)


def test_area_resize_shrinks_by_box_averaging():
    x = _rand(1, 3, 64, 96, dtype=torch.float64)
    y = area_resize(x, (16, 24))
    ref = x.reshape(1, 3, 16, 4, 24, 4).mean((3, 5))
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)
    assert float(y.mean()) == pytest.approx(float(x.mean()), abs=1e-12)


def test_area_resize_same_size_is_identity_and_grow_is_bilinear():
    x = _rand(1, 3, 16, 24)
    assert area_resize(x, (16, 24)) is x
    up = area_resize(x, (32, 48))
    torch.testing.assert_close(up, F.interpolate(x, size=(32, 48), mode="bilinear", align_corners=False))


# ---------------------------------------------------------------------------------------------- gaussian_blur


@pytest.mark.parametrize("sigma", [0.5, 1.5, 3.0, 10.0, 40.0])
def test_gaussian_blur_of_a_constant_is_the_constant(sigma):
    x = torch.full((1, 3, 64, 96), 0.62)
    y = gaussian_blur(x, sigma)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y, x, rtol=0, atol=1e-6)


def test_gaussian_blur_small_sigma_is_identity():
    x = _rand(1, 3, 20, 30)
    assert torch.equal(gaussian_blur(x, 0.3), x)
    assert torch.equal(gaussian_blur(x, 0.0), x)


@pytest.mark.parametrize("sigma", [0.8, 1.5, 2.5, 6.0, 12.0])
def test_gaussian_blur_impulse_response(sigma):
    """An interior impulse keeps its mass and spreads by ~sigma, on both paths (kornia's kernel up
    to sigma 2, the half-size recursion above); it stays centred, on average over pixel phases."""
    n = 128
    c = torch.arange(n, dtype=torch.float64)
    shifts = []
    for p in (63, 64):  # the half-size path pairs pixels: both phases
        x = torch.zeros(1, 1, n, n, dtype=torch.float64)
        x[..., p, p] = 1.0
        y = gaussian_blur(x, sigma)[0, 0]
        assert float(y.sum()) == pytest.approx(1.0, abs=1e-9)
        assert float(y.min()) >= 0.0
        for prof in (y.sum(0), y.sum(1)):  # along x and along y
            mean = float((prof * c).sum())
            sd = math.sqrt(float((prof * (c - mean) ** 2).sum()))
            assert sd == pytest.approx(sigma, rel=0.06)
            assert abs(mean - p) < 0.35 * sigma
            shifts.append(mean - p)
        if sigma <= 2.0:  # one symmetric kernel: exactly centred, symmetric
            torch.testing.assert_close(y, y.T)
            torch.testing.assert_close(y[p, p - 4 : p], y[p, p + 1 : p + 5].flip(0))
            assert abs(shifts[-1]) < 1e-9
    assert abs(sum(shifts)) < 1e-6


@pytest.mark.parametrize("shape", [(1, 3, 64, 96), (2, 3, 67, 101)])
@pytest.mark.parametrize("sigma", [1.0, 5.0])
def test_gaussian_blur_preserves_the_mean(shape, sigma):
    x = _rand(*shape, seed=3, dtype=torch.float64)
    y = gaussian_blur(x, sigma)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.mean((-2, -1)), x.mean((-2, -1)), rtol=0, atol=2e-3)
    assert float(y.std()) < float(x.std())  # and it does smooth


def test_gaussian_blur_tiny_and_large_sigma_on_a_tiny_image():
    x = _rand(1, 3, 5, 7)
    y = gaussian_blur(x, 5.0)
    assert y.shape == x.shape
    assert bool(torch.isfinite(y).all())
    assert float(y.min()) >= float(x.min()) - 1e-6 and float(y.max()) <= float(x.max()) + 1e-6


# ---------------------------------------------------------------------------------------------- atrous_smooth


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_atrous_smooth_equals_the_dilated_b3_kernel_with_mirrored_edges(level):
    x = _rand(1, 2, 40, 52, seed=level, dtype=torch.float64)
    d = 2**level
    b3 = torch.tensor([1, 4, 6, 4, 1], dtype=torch.float64) / 16
    k = torch.zeros(4 * d + 1, dtype=torch.float64)
    k[::d] = b3
    kernel = (k[:, None] * k[None, :]).expand(2, 1, 4 * d + 1, 4 * d + 1)
    ref = F.conv2d(F.pad(x, (2 * d,) * 4, mode="reflect"), kernel, groups=2)
    y = atrous_smooth(x, level)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)


def test_atrous_smooth_constant_and_impulse():
    c = torch.full((1, 3, 32, 48), 0.25)
    for j in range(4):
        torch.testing.assert_close(atrous_smooth(c, j), c, rtol=0, atol=1e-7)
    x = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    x[..., 16, 16] = 1.0
    y = atrous_smooth(x, 2)[0, 0]
    assert float(y.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float(y[16, 16]) == pytest.approx((6 / 16) ** 2)
    assert float(y[16, 20]) == pytest.approx(6 / 16 * 4 / 16)  # a tap 2**2 pixels away
    assert float(y[16, 17]) == 0.0  # the holes of the "a trous" kernel


def test_atrous_smooth_on_a_one_pixel_dimension():
    x = _rand(1, 3, 1, 20)
    y = atrous_smooth(x, 1)
    assert y.shape == x.shape
    assert bool(torch.isfinite(y).all())


# ---------------------------------------------------------------------------------------------- pushpull_fill


def test_pushpull_fill_keeps_known_pixels_exactly():
    img = _rand(1, 3, 64, 64)
    w = torch.ones(1, 1, 64, 64)
    w[..., 20:40, 20:40] = 0
    y = pushpull_fill(img, w)
    assert y.shape == img.shape and y.dtype == img.dtype
    known = (w > 0).expand_as(img)
    assert torch.equal(y[known], img[known])
    assert bool(torch.isfinite(y).all())


def test_pushpull_fill_without_holes_is_the_input():
    img = _rand(1, 3, 48, 80)
    assert torch.equal(pushpull_fill(img, torch.ones(1, 1, 48, 80)), img)


def test_pushpull_fill_fills_a_hole_between_its_bounds():
    # a horizontal ramp with a hole: the fill stays within the values around the hole, and near the ramp
    ramp = torch.linspace(0.2, 0.8, 96).view(1, 1, 1, 96).expand(1, 3, 64, 96).contiguous()
    w = torch.ones(1, 1, 64, 96)
    w[..., 16:48, 30:70] = 0
    y = pushpull_fill(ramp, w)
    hole = y[..., 16:48, 30:70]
    # the fill draws on the known pixels near the hole: within their range a few pixels out
    lo, hi = float(ramp[..., 30 - 4].min()), float(ramp[..., 70 + 4].max())
    assert float(hole.min()) >= lo and float(hole.max()) <= hi
    assert float((y - ramp).abs().max()) < 0.03
    # left of the hole's middle is darker than right of it
    assert float(hole[..., :10].mean()) < float(hole[..., -10:].mean())


def test_pushpull_fill_of_a_constant_is_the_constant_for_any_weight():
    w = _rand(1, 1, 64, 96, seed=5)
    w[..., 10:50, 10:80] = 0
    y = pushpull_fill(torch.full((1, 3, 64, 96), 0.3), w)
    torch.testing.assert_close(y, torch.full_like(y, 0.3), rtol=0, atol=1e-6)


def _two_sides(h: int, w: int, c0: int, c1: int):
    """0.2 left of columns c0:c1, 0.8 right of them, the band c0:c1 (full height) a hole."""
    x = torch.full((1, 1, h, w), 0.2)
    x[..., c1:] = 0.8
    wt = torch.ones(1, 1, h, w)
    wt[..., c0:c1] = 0
    return x, wt


def _check_two_sides(y: torch.Tensor):
    assert float(y.min()) >= 0.2 - 1e-6 and float(y.max()) <= 0.8 + 1e-6
    assert float(y[0]) < float(y[-1])
    assert float(y[:4].mean()) < 0.5 < float(y[-4:].mean())


def test_pushpull_fill_a_band_between_two_levels():
    x, wt = _two_sides(64, 64, 24, 40)
    _check_two_sides(pushpull_fill(x, wt)[0, 0, 32, 24:40])


def test_pushpull_fill_a_full_height_band_on_a_wide_frame():
    # the pyramid went down until the SHORT side reached one pixel: on a wide frame a hole over a
    # whole cell of that last 1xN row was filled with 0 (0.0875 here, below both sides)
    x, wt = _two_sides(32, 96, 32, 64)
    _check_two_sides(pushpull_fill(x, wt)[0, 0, 16, 32:64])


# ---------------------------------------------------------------------------------------------- work_factor, reduce_by


def test_work_factor():
    assert work_factor(100, 150, 1024) == 1
    assert work_factor(1024, 700, 1024) == 1
    assert work_factor(1025, 700, 1024) == 2
    assert work_factor(4000, 6000, 1024) == 6
    assert work_factor(6000, 4000, 1000) == 6
    assert work_factor(6001, 4000, 1000) == 7


def test_reduce_by_one_is_contiguous_identity():
    x = _rand(1, 3, 10, 12).to(memory_format=torch.channels_last)
    y = reduce_by(x, 1)
    assert torch.equal(y, x) and y.is_contiguous()


@pytest.mark.parametrize("shape, f", [((1, 3, 64, 96), 4), ((1, 3, 67, 101), 3), ((1, 1, 10, 7), 4), ((1, 3, 5, 5), 8)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_reduce_by_box_average_with_partial_last_blocks(shape, f, channels_last):
    x = _rand(*shape, seed=f, dtype=torch.float64)
    if channels_last and shape[1] > 1:
        x = x.to(memory_format=torch.channels_last)
    y = reduce_by(x, f)
    _, c, H, W = shape
    assert y.shape == (1, c, -(-H // f), -(-W // f)) and y.is_contiguous() and y.dtype == x.dtype
    ref = torch.empty_like(y)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            ref[0, :, i, j] = x[0, :, i * f : (i + 1) * f, j * f : (j + 1) * f].mean((1, 2))
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------- distance_within


def _brute_distance(seed: torch.Tensor, sy=1.0, sx=1.0) -> torch.Tensor:
    pts = torch.nonzero(seed).to(torch.float64)
    h, w = seed.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    if pts.numel() == 0:
        return torch.full((h, w), float("inf"), dtype=torch.float64)
    d2 = ((yy[..., None] - pts[:, 0]) * sy) ** 2 + ((xx[..., None] - pts[:, 1]) * sx) ** 2
    return d2.min(-1).values.sqrt()


def test_distance_within_docstring_example():
    s = torch.zeros(5, 5, dtype=torch.bool)
    s[2, 2] = True
    d = distance_within(s, 3.0)
    assert d.shape == (5, 5) and d.dtype == torch.float32
    assert float(d[0, 0]) == pytest.approx(math.sqrt(8), rel=1e-6)
    assert float(d[2, 2]) == 0.0


@pytest.mark.parametrize("sampling", [(1.0, 1.0), (1.6, 1.0), (0.5, 2.0)])
@pytest.mark.parametrize("density", [0.003, 0.03])
def test_distance_within_matches_brute_force_within_reach(sampling, density):
    g = torch.Generator().manual_seed(int(density * 1000))
    seed = torch.rand(40, 56, generator=g) < density
    seed[5, 7] = True  # at least one
    reach = 9.0
    d = distance_within(seed, reach, sampling=sampling).double()
    ref = _brute_distance(seed, *sampling)
    inside = ref <= reach
    torch.testing.assert_close(d[inside], ref[inside], rtol=1e-5, atol=1e-5)
    # beyond reach: some value above reach (never an underestimate)
    assert bool((d[~inside] > reach).all())
    assert bool((d[seed] == 0).all())


def test_distance_within_large_reach_is_exact_everywhere():
    g = torch.Generator().manual_seed(1)
    seed = torch.rand(30, 45, generator=g) < 0.01
    seed[0, 0] = True
    d = distance_within(seed, 1e6).double()
    torch.testing.assert_close(d, _brute_distance(seed), rtol=1e-5, atol=1e-5)


def test_distance_within_without_seed_is_infinite():
    d = distance_within(torch.zeros(12, 9, dtype=torch.bool), 5.0)
    assert bool(torch.isinf(d).all())


@pytest.mark.parametrize(
    "seed, reach",
    [
        (torch.zeros(8, 8), 3.0),  # not bool
        (torch.zeros(1, 8, 8, dtype=torch.bool), 3.0),  # not 2-D
        (torch.zeros(8, 8, dtype=torch.bool), -1.0),
        (torch.zeros(8, 8, dtype=torch.bool), float("nan")),
    ],
)
def test_distance_within_rejects_bad_input(seed, reach):
    with pytest.raises(ValueError, match="seed|reach"):
        distance_within(seed, reach)


# ---------------------------------------------------------------------------------------------- max_filter


def _brute_max(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    _, _, h, w = x.shape
    out = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            rows = slice(max(0, i - kh // 2), i + kh // 2 + 1)
            cols = slice(max(0, j - kw // 2), j + kw // 2 + 1)
            out[..., i, j] = x[..., rows, cols].amax((-2, -1))
    return out


@pytest.mark.parametrize("size", [1, 3, 5, (3, 7), (9, 1), 15])
def test_max_filter_equals_brute_force_and_max_pool(size):
    x = _rand(2, 3, 13, 17, seed=7) - 0.5  # negative values too
    y = max_filter(x, size)
    kh, kw = (size, size) if isinstance(size, int) else size
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.equal(y, _brute_max(x, kh, kw))
    assert torch.equal(y, F.max_pool2d(x, (kh, kw), 1, (kh // 2, kw // 2)))


def test_max_filter_does_not_modify_its_input():
    x = _rand(1, 1, 10, 10)
    before = x.clone()
    max_filter(x, 5)
    assert torch.equal(x, before)


@pytest.mark.parametrize("size", [2, 4, (3, 4), (0, 3), -1])
def test_max_filter_rejects_even_or_empty_sizes(size):
    with pytest.raises(ValueError, match="odd"):
        max_filter(torch.zeros(1, 1, 8, 8), size)
