"""backdrop.ops.compose: the full-resolution pass, a region at a time, and its building blocks."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backdrop.ops.compose import (
    NOISE_PERIOD,
    SKIP_BELOW,
    FineMarks,
    Sink,
    Upsampler,
    compose,
    dither_noise,
    hwc_tensor,
    edge_lift,
    lift_tolerance,
    load_region,
    reduce_source,
    tile_noise,
)
from backdrop.ops.filters import reduce_by
from backdrop.ops.masks import subject_protection

# ---------------------------------------------------------------------------------------------- Upsampler


@pytest.mark.parametrize("f", [1, 2, 3, 4])
def test_upsampler_tile_equals_the_whole_frame_interpolation(f):
    g = torch.Generator().manual_seed(f)
    h, w = 11, 17
    m = torch.rand(1, 3, h, w, generator=g)
    full = F.interpolate(m, scale_factor=f, mode="bilinear", align_corners=False)
    H, W = h * f, w * f
    up = Upsampler(f, (H, W))
    regions = [(0, H, 0, W), (0, 5, 0, 7), (H - 6, H, W - 9, W), (3, 20, 8, 31), (f, 2 * f, f, 3 * f)]
    for r0, r1, c0, c1 in regions:
        r1, c1 = min(r1, H), min(c1, W)
        t = up.tile(m, r0, r1, c0, c1)
        assert t.shape == (1, 3, r1 - r0, c1 - c0)
        torch.testing.assert_close(t, full[:, :, r0:r1, c0:c1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("f", [1, 3])
def test_upsampler_nearest_gives_each_pixel_its_working_pixel(f):
    h, w = 7, 9
    m = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w)
    up = Upsampler(f, (h * f, w * f))
    full = m.repeat_interleave(f, 2).repeat_interleave(f, 3)
    for r0, r1, c0, c1 in [(0, h * f, 0, w * f), (1, 8, 2, 13), (h * f - 2, h * f, 0, 4)]:
        assert torch.equal(up.nearest(m, r0, r1, c0, c1), full[:, :, r0:r1, c0:c1])


def test_upsampler_on_a_frame_that_is_not_a_multiple_of_the_factor():
    # a 10 x 13 frame at factor 3 has a 4 x 5 working map; the last rows / columns are partial
    m = torch.rand(1, 1, 4, 5, generator=torch.Generator().manual_seed(0))
    up = Upsampler(3, (10, 13))
    full = F.interpolate(m, scale_factor=3, mode="bilinear", align_corners=False)
    torch.testing.assert_close(up.tile(m, 6, 10, 7, 13), full[:, :, 6:10, 7:13], rtol=0, atol=1e-6)
    assert up.nearest(m, 9, 10, 12, 13).item() == m[0, 0, 3, 4].item()


# ---------------------------------------------------------------------------------------------- buffers


def test_hwc_tensor_is_a_view_of_the_buffer():
    a = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    t = hwc_tensor(a)
    assert t.shape == (1, 3, 4, 5) and t.dtype == torch.uint8
    assert t[0, 2, 1, 3].item() == a[1, 3, 2]
    a[1, 3, 2] = 7  # same memory
    assert t[0, 2, 1, 3].item() == 7
    g = hwc_tensor(np.zeros((4, 5), np.uint16))
    assert g.shape == (1, 1, 4, 5) and g.dtype == torch.uint16


def test_hwc_tensor_of_a_read_only_buffer_warns_nothing():
    a = np.zeros((4, 5, 3), np.uint8)
    a.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = hwc_tensor(a)
    assert t.shape == (1, 3, 4, 5)


@pytest.mark.parametrize("dtype, scale", [(np.uint8, 255.0), (np.uint16, 65535.0), (np.float32, 1.0)])
def test_load_region_equals_numpy_division(dtype, scale):
    rng = np.random.default_rng(0)
    if dtype == np.float32:
        a = rng.random((20, 30, 3), dtype=np.float32)
    else:
        a = rng.integers(0, int(scale) + 1, (20, 30, 3)).astype(dtype)
    src = hwc_tensor(a)
    x = load_region(src, 3, 17, 5, 29, scale)
    assert x.dtype == torch.float32 and x.shape == (1, 3, 14, 24)
    ref = torch.from_numpy((a[3:17, 5:29] / np.float32(scale)).astype(np.float32)).permute(2, 0, 1)[None]
    assert torch.equal(x, ref)
    # a new tensor: writing to it leaves the buffer alone
    x.fill_(0)
    assert a[3:17, 5:29].any()
    # into a given buffer, channels-last on request
    out = torch.empty((1, 3, 14, 24))
    assert load_region(src, 3, 17, 5, 29, scale, out=out) is out and torch.equal(out, ref)
    assert load_region(src, 0, 4, 0, 4, scale, channels_last=True).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("shape, f", [((60, 90, 3), 3), ((61, 95, 3), 4), ((20, 30, 1), 1)])
def test_reduce_source_equals_the_box_average(shape, f):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, shape).astype(np.uint8)
    src = hwc_tensor(a)
    y = reduce_source(src, f, 255.0)
    ref = reduce_by(load_region(src, 0, shape[0], 0, shape[1], 255.0), f)
    assert y.dtype == torch.float32 and y.is_contiguous()
    assert y.shape == (1, shape[2], -(-shape[0] // f), -(-shape[1] // f))
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-6)


def test_reduce_source_in_several_strips():
    # 1 x 1030 x 2048 at factor 3: strips of 1023 rows (the strip buffer holds 2**21 floats), a partial one last
    rng = np.random.default_rng(2)
    a = rng.integers(0, 65536, (1030, 2048)).astype(np.uint16)
    src = hwc_tensor(a)
    y = reduce_source(src, 3, 65535.0)
    assert y.shape == (1, 1, 344, 683)
    ref = reduce_by(torch.from_numpy(a.astype(np.float32) / 65535.0)[None, None], 3)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------- dither, Sink


def test_dither_noise_is_deterministic_tpdf():
    n = dither_noise(3, 3)
    assert n.shape == (NOISE_PERIOD, NOISE_PERIOD, 3) and n.dtype == torch.float32
    assert float(n.min()) > -1 and float(n.max()) < 1
    assert torch.equal(n, dither_noise(3, 3))
    assert not torch.equal(n, dither_noise(4, 3))
    # triangular on (-1, 1): mean 0, variance 1/6
    assert abs(float(n.mean())) < 0.01
    assert float(n.var()) == pytest.approx(1 / 6, rel=0.03)


def _sink(bits, c=3, h=40, w=50, **kw):
    dt = {None: np.float32, 8: np.uint8, 16: np.uint16}[bits]
    arr = np.zeros((h, w, c), dt)
    return arr, Sink(hwc_tensor(arr), bits, **kw)


def test_sink_float_clips():
    arr, s = _sink(None)
    v = torch.tensor([-0.5, 0.25, 1.5]).view(1, 3, 1, 1).expand(1, 3, 2, 2).contiguous()
    s.put(3, 4, v, None)
    assert arr[3:5, 4:6].tolist() == [[[0.0, 0.25, 1.0]] * 2] * 2
    assert not arr[:3].any()


def test_sink_16_bit_rounds_once():
    arr, s = _sink(16)
    v = torch.tensor([0.5, 1.0 / 65535 * 10.4, 2.0]).view(1, 3, 1, 1).clone()
    s.put(0, 0, v, v.clone() * 0)  # 16 bits: never dithered
    assert arr[0, 0].tolist() == [32768, 10, 65535]


def test_sink_8_bit_dithers_only_what_changed():
    g = torch.Generator().manual_seed(0)
    h, w = 40, 50
    x = (torch.randint(0, 256, (1, 3, h, w), generator=g).float() / 255)
    x[..., :2, :] = 0.0  # pure black
    x[..., -2:, :] = 1.0  # pure white
    value = x.clone()
    value[..., 10:30, 10:40] = 100.3 / 255  # changed pixels, between two levels
    arr, s = _sink(8, h=h, w=w, seed=5)
    s.put(0, 0, value.clone(), x)
    out = torch.from_numpy(arr.astype(np.float32)).permute(2, 0, 1)[None]
    same = value == x
    assert torch.equal(out[same], (x * 255).round()[same])  # unchanged pixels: exactly the input
    moved = out[..., 10:30, 10:40]
    assert float(moved.min()) >= 99 and float(moved.max()) <= 101  # +- 1 LSB of TPDF
    assert float(moved.mean()) == pytest.approx(100.3, abs=0.1)  # unbiased: the 0.3 survives on average
    # the same seed, the same pattern; without dither, plain rounding
    arr2, s2 = _sink(8, h=h, w=w, seed=5)
    s2.put(0, 0, value.clone(), x)
    assert np.array_equal(arr, arr2)
    arr3, s3 = _sink(8, h=h, w=w, dither=False)
    s3.put(0, 0, value.clone(), x)
    assert (arr3[10:30, 10:40] == 100).all()


def test_sink_8_bit_black_and_white_are_exact():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 40, 50, generator=g) * 0.8 + 0.1
    value = x.clone()
    value[..., :20, :] = 0.0  # changed to pure black
    value[..., 20:, :] = 1.0  # changed to pure white
    arr, s = _sink(8, h=40, w=50, seed=3)
    s.put(0, 0, value, x)
    assert (arr[:20] == 0).all() and (arr[20:] == 255).all()


def test_sink_dither_follows_the_position_not_the_region():
    """The pattern is tied to the pixel's position: one region or many give the same pixels."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 300, 280, generator=g)  # larger than one period of the pattern
    value = (x * 1.1).clamp(0, 1)
    arr, s = _sink(8, h=300, w=280, seed=2)
    s.put(0, 0, value.clone(), x)
    arr2, s2 = _sink(8, h=300, w=280, seed=2)
    for r0 in range(0, 300, 70):
        for c0 in range(0, 280, 90):
            s2.put(r0, c0, value[..., r0 : r0 + 70, c0 : c0 + 90].clone(), x[..., r0 : r0 + 70, c0 : c0 + 90])
    assert np.array_equal(arr, arr2)


def test_sink_copy_and_prefilled():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    src = hwc_tensor(a)
    arr, s = _sink(8, h=20, w=30)
    s.copy(0, 20, 0, 30, src, 255.0)
    assert np.array_equal(arr, a)  # the very values read
    # into 16 bits: converted and rounded, not dithered
    arr16, s16 = _sink(16, h=20, w=30)
    s16.copy(0, 20, 0, 30, src, 255.0)
    assert np.array_equal(arr16, a.astype(np.uint16) * 257)
    # prefilled: the output already holds the input, a copy writes nothing
    arrp, sp = _sink(8, h=20, w=30, prefilled=True)
    sp.copy(0, 20, 0, 30, src, 255.0)
    assert not arrp.any()
    # a one-channel sink takes the first channel
    arr1, s1 = _sink(8, c=1, h=20, w=30)
    s1.copy(0, 20, 0, 30, src, 255.0)
    assert np.array_equal(arr1[..., 0], a[..., 0])


# ---------------------------------------------------------------------------------------------- tile_noise


def test_tile_noise_measures_the_grain():
    sigma = 0.02
    rng = np.random.default_rng(4)
    H, W, f = 96, 144, 3
    a = (0.6 + sigma * rng.standard_normal((H, W, 3))).astype(np.float32)
    ref = torch.full((1, 3, H // f, W // f), 0.6)
    weight = torch.ones(1, 1, H // f, W // f)
    v = tile_noise(hwc_tensor(a), 1.0, ref, weight, Upsampler(f, (H, W)), tile=24)
    # the median RMS over three channels of N(0, sigma): sigma * sqrt(median(chi2_3) / 3) ~ 0.888 sigma
    assert v == pytest.approx(0.888 * sigma, rel=0.1)
    # judged only where the weight says backdrop; none at all: a small default
    weight0 = torch.zeros_like(weight)
    assert tile_noise(hwc_tensor(a), 1.0, ref, weight0, Upsampler(f, (H, W)), tile=24) == pytest.approx(1e-3)


# ---------------------------------------------------------------------------------------------- compose

H, W, FACTOR = 96, 144, 3
h, w = H // FACTOR, W // FACTOR
WALL = np.array([200.0, 196.0, 188.0])
HAIR = (slice(40, 80), 76)  # a dark strand beside the subject (alpha 0), in its fully protected margin
NEAR_BACKDROP = (slice(84, 92), 76)  # backdrop pixels as close to the subject
SHADE = (slice(82, 84), 76)  # ... and above them a shade 8.5% under the expected backdrop (a shadow deepening)
SPECK = (15, 100)  # a dark one-pixel speck, inside the fine-mark flag
SPECK_OUT = (15, 130)  # another one, outside it
FAINT = (19, 94)  # a faint speck inside the flag: 5.5 grain sigmas, half-way up the K_LO..K_HI ramp
FLAG = (slice(2, 8), slice(30, 40))  # working pixels where fine marks may be (M = 1.25 there)
FLAG_LEFT = (slice(2, 8), slice(2, 8))  # and some where M = 1
LEFT_SPECK = (6, 6)  # a speck there, on the corner of its flagged box
BLACK, WHITE = (10, 34), (11, 35)
EDGE = (29, slice(66, 75))  # the subject's soft top edge (alpha 0.5) where the maps lift by 1.25
TIP = (60, 110)  # a strand's tip out on the backdrop, half covered (alpha 0.5), away from the body


def _scene(dtype=np.uint8):
    """A grey wall with grain, a subject cut by the bottom edge (a soft top edge), a hair strand, specks."""
    rng = np.random.default_rng(0)
    img = WALL + rng.normal(0, 2, (H, W, 3))
    img[HAIR] = (50, 40, 35)
    img[SPECK] = (100, 98, 94)
    img[SPECK_OUT] = (100, 98, 94)
    img[FAINT] = WALL - 11
    img[SHADE] = WALL * 0.915
    img[30:, 45:75] = (150, 60, 50)  # the subject
    alpha = np.zeros((H, W))
    alpha[30:, 45:75] = 1.0
    alpha[29, 45:75] = 0.5  # its soft top edge
    img[TIP] = (120, 110, 100)
    alpha[TIP] = 0.5
    img[LEFT_SPECK] = (100, 98, 94)
    img[BLACK] = 0  # pure black and white on the backdrop
    img[WHITE] = 255
    if dtype == np.float32:
        return (img.clip(0, 255) / 255).astype(np.float32), alpha.astype(np.float32), 1.0
    if dtype == np.uint16:
        return (img.clip(0, 255) * 257).round().astype(np.uint16), (alpha * 65535).astype(np.uint16), 65535.0
    return img.clip(0, 255).round().astype(np.uint8), (alpha * 255).astype(np.uint8), 255.0


def _maps():
    """Ratio maps at working resolution: 1 on the left (nothing changes), 1.25 on the right, a ramp between."""
    cols = torch.arange(w, dtype=torch.float32)
    ramp = ((cols - 14) / 6).clamp(0, 1)  # working columns 14..20 -> full 42..60
    lift = (1 + 0.25 * ramp).view(1, 1, 1, w).expand(1, 3, h, w).contiguous()
    tex = 1 - ramp.view(1, 1, 1, w) * torch.tensor([0.0, 0.01, 0.02]).view(1, 3, 1, 1)  # a slight tint on the right
    return {"shadows": lift, "preview": lift * tex}


def _run(tile, bits, dtype=np.uint8, fine=True, maps=None, prefill=False, protect_on=True, lift=False):
    img, alpha, scale = _scene(dtype)
    src, a = hwc_tensor(img), hwc_tensor(alpha)
    a_mid = reduce_source(a, FACTOR, scale)
    maps = _maps() if maps is None else maps
    protect = subject_protection(a_mid, grow=0.02, feather=0.08) if protect_on else torch.zeros_like(a_mid)
    expected = torch.tensor(WALL / 255, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, h, w).contiguous()
    flag = torch.zeros(1, 1, h, w)
    flag[(0, 0, *FLAG)] = 1
    flag[(0, 0, *FLAG_LEFT)] = 1
    fm = FineMarks(ref=expected, flag=flag, sigma=2 / 255, strength=1.0, grain=1.0) if fine else None
    outs, sinks = {}, {}
    for name in maps:
        if bits is None:
            buf = torch.empty((1, 3, H, W), dtype=torch.float32, memory_format=torch.channels_last)
            outs[name] = buf
        else:
            arr = np.empty((H, W, 3), np.uint8 if bits == 8 else np.uint16)
            if prefill:
                arr[:] = img
            outs[name] = arr
            buf = hwc_tensor(arr)
        sinks[name] = Sink(buf, bits, seed=1, prefilled=prefill)
    compose(src, scale, a, Upsampler(FACTOR, (H, W)), maps=maps, sinks=sinks, free=torch.ones(1, 1, h, w),
            protect=protect, subject=a_mid, expected=expected, match_tol=0.03, fine=fm, tile=tile,
            lift=(1.0, maps["shadows"] - 1.0, lift_tolerance(expected, maps["shadows"] - 1.0),
                  edge_lift(maps["shadows"] - 1.0, a_mid, protect < 0.999)) if lift else None)
    as_float = lambda o: (o[0].permute(1, 2, 0).numpy() if torch.is_tensor(o) else o).astype(np.float64)
    return {n: as_float(o) for n, o in outs.items()}, img.astype(np.float64), alpha


def test_compose_region_wise_equals_the_whole_frame_formula():
    """Free backdrop, no subject, no fine marks: out = x * upsample(M), clipped, whatever the regions."""
    maps = _maps()
    img, _, scale = _scene(np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    for tile in (None, 9, 24, 48):
        outs, _, _ = _run(tile, None, np.float32, fine=False, maps=maps, protect_on=False)
        for name, M in maps.items():
            # (the subject's alpha still keeps its own pixels: compare on the backdrop)
            ref = (x * F.interpolate(M, scale_factor=FACTOR, mode="bilinear", align_corners=False)).clamp(0, 1)
            ref = ref[0].permute(1, 2, 0).numpy()
            np.testing.assert_allclose(outs[name][:29], ref[:29], rtol=0, atol=1e-6)
            np.testing.assert_allclose(outs[name][:, :45], ref[:, :45], rtol=0, atol=1e-6)


@pytest.mark.parametrize("bits", [None, 8, 16])
def test_compose_tiles_and_strips_agree(bits):
    whole, _, _ = _run(None, bits)
    for tile in (9, 24, 48):
        tiled, _, _ = _run(tile, bits)
        for name in whole:
            d = np.abs(tiled[name] - whole[name])
            if bits is None:
                assert d.max() < 1e-6
            else:  # the same up to a rounding tie
                assert d.max() <= 1 and (d > 0).mean() < 0.001


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("tile", [None, 24])
def test_compose_subject_pixels_come_back_bit_for_bit(dtype, tile):
    bits = {np.uint8: 8, np.uint16: 16, np.float32: None}[dtype]
    outs, img, alpha = _run(tile, bits, dtype)
    subject = alpha > 0
    assert subject.sum() == 30 * 67 + 1
    for name, out in outs.items():
        assert np.array_equal(out[subject], img[subject]), name
    # ... though the maps would lift them (M = 1.25 there)
    assert (outs["shadows"][:28, 60:] != img[:28, 60:]).mean() > 0.5
    # with the lift, a pixel wholly subject still comes back as it was; a strand's half covered tip out
    # in the lifted shade takes the lift on its backdrop's half, as the wall seen around it does, and
    # no more (at most half the wall's step: out = x + 0.5 * backdrop * 0.25)
    outs, img, alpha = _run(tile, bits, dtype, lift=True)
    whole = alpha == alpha.max()  # (alpha in the mask's own scale)
    top = 0.5 * WALL * 0.25 * (1.0 if bits is None else (255.0 if bits == 8 else 65535.0)) / 255.0
    for name, out in outs.items():
        assert np.array_equal(out[whole], img[whole]), name
        gain = out[TIP] - img[TIP]
        assert (gain > 0.5 * top).all() and (gain <= top + (1e-5 if bits is None else 1.0)).all(), (name, gain, top)


@pytest.mark.parametrize("tile", [None, 24])
def test_compose_lifts_the_backdrops_share_of_a_pixel_on_the_subjects_edge(tile):
    """A pixel on the subject's edge, half subject and half shadow, keeps its subject's half as shot
    and takes the lift on its shadow's half: out = x + (1 - alpha) * backdrop * step. Left as shot
    it kept its share of the shadow: a dark line along the subject in the lifted shade."""
    outs, img, _ = _run(tile, None, np.float32, lift=True)
    want = img[EDGE] + 0.5 * WALL / 255 * 0.25  # the expected backdrop is WALL, the step 0.25
    for name in ("shadows", "preview"):  # the lift, not the texture's tint (the preview's ratio)
        np.testing.assert_allclose(outs[name][EDGE], want, rtol=1e-5)
    held, img, _ = _run(tile, None, np.float32)  # without the lift it is left as shot
    for out in held.values():
        assert np.array_equal(out[EDGE], img[EDGE])


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("tile", [None, 24])
def test_compose_untouched_where_the_maps_change_nothing(bits, tile):
    dtype = np.uint8 if bits == 8 else np.uint16
    outs, img, _ = _run(tile, bits, dtype)
    top = 255 if bits == 8 else 65535
    left = np.s_[:, : 13 * FACTOR]
    for name, out in outs.items():
        # M == 1 on working columns < 14: there every pixel is the input exactly (in 8 bits a dithered
        # pixel would move by a level), black and white included; inside the fine-mark flag only the
        # speck changes, and only in the views with a texture pass (not "shadows")
        changed = np.argwhere((out[left] != img[left]).any(-1)).tolist()
        assert changed == ([] if name == "shadows" else [list(LEFT_SPECK)]), name
        assert out[BLACK].tolist() == [0, 0, 0] and out[WHITE].tolist() == [top] * 3
    # a ratio closer to one than SKIP_BELOW is no change either
    assert SKIP_BELOW == pytest.approx(0.05 / 255)
    tiny = {"shadows": torch.full((1, 3, h, w), 1 + 0.02 / 255)}
    outs, img, _ = _run(tile, bits, dtype, fine=False, maps=tiny)
    assert np.array_equal(outs["shadows"], img)


@pytest.mark.parametrize("tile", [None, 24])
def test_compose_prefilled_output_is_the_same(tile):
    plain, _, _ = _run(tile, 8)
    pre, _, _ = _run(tile, 8, prefill=True)
    for name in plain:
        assert np.array_equal(pre[name], plain[name])


@pytest.mark.parametrize("tile", [None, 24])
def test_compose_protects_a_strand_that_is_not_backdrop(tile):
    outs, img, _ = _run(tile, None, np.float32)
    out = outs["shadows"]
    # the hair beside the subject (protected zone, far from the expected backdrop): kept as shot
    assert np.array_equal(out[HAIR], img[HAIR])
    # backdrop pixels just as close that match the expected backdrop: lifted like the rest (M = 1.25)
    np.testing.assert_allclose(out[NEAR_BACKDROP], np.minimum(img[NEAR_BACKDROP] * 1.25, 1.0), rtol=1e-5)
    # and far from the subject: out = x * M
    np.testing.assert_allclose(out[5:25, 62:70], np.minimum(img[5:25, 62:70] * 1.25, 1.0), rtol=1e-5)


@pytest.mark.parametrize("tile", [None, 24])
def test_compose_lifts_a_shade_near_the_subject_within_the_lifts_tolerance(tile):
    """Near the subject, a pixel further off the expected backdrop than the match tolerance but within
    the lift's (a share of the shadow's depth: a shadow deepening toward the subject) takes the lift and
    not the texture; a strand, far off, stays as shot. Without that tolerance the shade is held as
    shot: a dark speck in the lifted shadow."""
    maps = {n: (m - 1.0) * 1.4 + 1.0 for n, m in _maps().items()}  # a shadow a quarter deep (step 0.35)
    held, img, _ = _run(tile, None, np.float32, maps=maps)
    for out in held.values():
        assert np.array_equal(out[SHADE], img[SHADE])
    outs, img, _ = _run(tile, None, np.float32, maps=maps, lift=True)
    for out in outs.values():  # the lift (1.35 here), not the texture's tint (the preview's ratio)
        np.testing.assert_allclose(out[SHADE], img[SHADE] * 1.35, rtol=1e-5)
        assert np.array_equal(out[HAIR], img[HAIR])
    np.testing.assert_allclose(outs["preview"][NEAR_BACKDROP], held["preview"][NEAR_BACKDROP], rtol=1e-6)
    # in a "shadow" that takes two thirds of the light (step 2), the wider tolerance is gone: beside a
    # mask drawn inside the figure, the figure's own rim reads as such a shadow
    deep = {n: (m - 1.0) * 8.0 + 1.0 for n, m in _maps().items()}
    outs, img, _ = _run(tile, None, np.float32, maps=deep, lift=True)
    for out in outs.values():
        assert np.array_equal(out[SHADE], img[SHADE])


@pytest.mark.parametrize("tile", [None, 24])
def test_compose_removes_fine_marks_where_flagged(tile):
    outs, img, _ = _run(tile, None, np.float32)
    wall = WALL / 255
    prev, shad = outs["preview"], outs["shadows"]
    m_prev = np.array([1.25, 1.25 * 0.99, 1.25 * 0.98])
    # the speck inside the flag: the expected backdrop at the view's ratio (1 on the left)
    np.testing.assert_allclose(prev[LEFT_SPECK], wall, rtol=1e-5)
    assert np.array_equal(shad[LEFT_SPECK], img[LEFT_SPECK])
    np.testing.assert_allclose(prev[SPECK], wall * m_prev, rtol=1e-4)
    # outside the flag, and in "shadows" (no texture pass): only the ratio
    np.testing.assert_allclose(prev[SPECK_OUT], img[SPECK_OUT] * m_prev, rtol=1e-4)
    np.testing.assert_allclose(shad[SPECK], img[SPECK] * 1.25, rtol=1e-4)
    # the grain around the speck is grain: only the ratio, in the flag too
    r, c = SPECK
    np.testing.assert_allclose(prev[r - 3 : r, c - 3 : c + 3], img[r - 3 : r, c - 3 : c + 3] * m_prev, rtol=1e-4)
    # a faint speck: half removed (a linear ramp from K_LO to K_HI grain sigmas; 5.5 here)
    share = (img[FAINT] * m_prev - prev[FAINT]) / ((img[FAINT] - WALL / 255) * m_prev)
    np.testing.assert_allclose(share, 0.5, atol=0.02)
    # without the fine pass (fine=None) the speck stays, at the ratio
    no_fine, _, _ = _run(tile, None, np.float32, fine=False)
    np.testing.assert_allclose(no_fine["preview"][SPECK], img[SPECK] * m_prev, rtol=1e-4)


def test_edge_lift_takes_a_strands_lift_from_the_wall_seen_around_it():
    """Away from the body, a strand's pixel takes as much of the lift as the wall seen around it
    holds (outside the protection's core): under the mask the backdrop is filled in from all round,
    and beside a head the step map there can hold a shadow the wall behind the strands does not have.
    A lift of a few percent (under EDGE_WALL) is no sure shadow; along the body the rule is as before."""
    h, w = 200, 300
    subject = torch.zeros(1, 1, h, w)
    subject[..., 120:, 30:120] = 1.0  # a body ...
    subject[..., 60, 160:260] = 0.5  # ... and a strand out on the wall, away from it
    core = subject_protection(subject, grow=0.004, feather=0.0) >= 0.999
    seen = ~core
    strand = (0, 1, 60, slice(170, 250))  # (the second weight: away from the body)

    def lifted(wall_step: float, under: float) -> torch.Tensor:
        step = torch.where(core, under, wall_step).expand(1, 3, h, w).contiguous()  # filled in under the mask
        return edge_lift(step, subject, seen)

    assert float(lifted(0.3, 0.3)[strand].min()) == pytest.approx(1.0)  # in a shadow: all of it
    assert float(lifted(0.0, 0.3)[strand].max()) == 0.0  # a shadow only under the mask: none
    assert float(lifted(0.02, 0.02)[strand].max()) == 0.0  # a lift of 2%: no sure shadow
    # along the body (the first weight), as much as holds around it, the subject itself left out
    body_edge = (0, 0, 119, slice(40, 110))
    assert float(lifted(0.3, 0.3)[body_edge].min()) == pytest.approx(1.0)
    assert float(lifted(0.3, 0.3)[(0, 1, 119, slice(40, 110))].max()) == 0.0
