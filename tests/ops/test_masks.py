"""backdrop.ops.masks: subject protection, contact zone, floor detection, foreign objects."""
import math

import pytest
import torch

from backdrop.ops.filters import smoothstep
from backdrop.ops.masks import FloorInfo, contact_zone, detect_floor, foreign_objects, subject_protection

H, W = 128, 192


def _alpha(h=H, w=W, box=(30, 100, 80, 110)):
    a = torch.zeros(1, 1, h, w)
    r0, r1, c0, c1 = box
    a[..., r0:r1, c0:c1] = 1.0
    return a


def _wall(h=H, w=W, rgb=(0.80, 0.78, 0.75), grain=0.005, seed=0):
    """A studio wall: a light colour, a vignette and a slight vertical falloff, fine grain."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    light = 1.0 - 0.15 * (xx**2 + yy**2) - 0.05 * yy
    img = torch.tensor(rgb).view(3, 1, 1) * light + grain * torch.randn(3, h, w, generator=g)
    return img[None].clamp(0, 1)


def _with_floor(h=H, w=W, rgb=(0.55, 0.45, 0.35), grain=0.005, at=0.75, seed=0):
    x = _wall(h, w, seed=seed)
    f = _wall(h, w, rgb, grain, seed=seed + 1)
    y0 = int(at * h)
    x[..., y0:, :] = f[..., y0:, :]
    return x


# ---------------------------------------------------------------------------------------------- subject_protection


def test_subject_protection_shape_range_and_covers_the_subject():
    a = _alpha()
    p = subject_protection(a, grow=0.02, feather=0.1)
    assert p.shape == a.shape and p.dtype == a.dtype
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    assert bool((p[a > 0] == 1).all())
    # far from the subject: nothing protected
    assert float(p[..., :, :40].max()) == 0.0 and float(p[..., :, 160:].max()) == 0.0


def test_subject_protection_falls_off_with_distance_as_promised():
    a = _alpha()
    grow, feather = 0.03, 0.1
    short = min(H, W)
    p = subject_protection(a, grow=grow, feather=feather)[0, 0, 64]
    edge = 109  # last subject column on row 64
    d = torch.arange(W) - edge  # distance to the subject along this row (it is the nearest point here)
    right = p[edge:]
    assert bool((right.diff() <= 1e-7).all())  # non-increasing away from the subject
    assert bool((p[(d >= 0) & (d <= grow * short)] == 1).all())  # the grow margin is fully protected
    assert bool((p[d >= (grow + feather) * short] == 0).all())  # beyond the feather: nothing
    mid = (grow + feather / 2) * short  # the smoothstep's middle
    i = edge + int(round(mid))
    assert float(p[i]) == pytest.approx(float(1 - smoothstep(torch.tensor((i - edge) / short), grow, grow + feather)),
                                        abs=1e-5)
    assert 0.35 < float(p[i]) < 0.65


def test_subject_protection_wider_feather_reaches_further():
    a = _alpha()
    narrow = subject_protection(a, grow=0.02, feather=0.05)
    wide = subject_protection(a, grow=0.02, feather=0.2)
    assert bool((wide >= narrow - 1e-6).all())
    assert float((wide > 0).sum()) > 1.5 * float((narrow > 0).sum())
    bigger = subject_protection(a, grow=0.1, feather=0.05)
    assert float((bigger == 1).sum()) > float((narrow == 1).sum())


def test_subject_protection_is_relative_to_the_short_edge():
    """The same frame at twice the resolution: the same protection at the same relative place."""
    small = subject_protection(_alpha(64, 96, (15, 50, 40, 55)), grow=0.02, feather=0.1)
    large = subject_protection(_alpha(128, 192, (30, 100, 80, 110)), grow=0.02, feather=0.1)
    down = torch.nn.functional.avg_pool2d(large, 2)
    assert float((down - small).abs().mean()) < 0.02
    assert float((down - small).abs().max()) < 0.15


def test_subject_protection_minimum_grow_and_partial_coverage():
    a = torch.zeros(1, 1, 64, 96)
    a[..., 20:40, 40:50] = 0.01  # a faint edge is still subject
    p = subject_protection(a, grow=0.0, feather=0.05)
    assert bool((p[a > 0] == 1).all())
    # at least ~1.5 working pixels around the subject are fully protected, even with grow 0
    assert float(p[0, 0, 30, 50]) == 1.0 and float(p[0, 0, 30, 39]) == 1.0


def test_subject_protection_without_subject_is_zero():
    p = subject_protection(torch.zeros(1, 1, 32, 48), grow=0.02, feather=0.1)
    assert p.shape == (1, 1, 32, 48) and float(p.abs().max()) == 0.0


def test_subject_protection_checks_alpha():
    with pytest.raises(ValueError, match="alpha"):
        subject_protection(torch.zeros(32, 48), grow=0.02, feather=0.1)


# ---------------------------------------------------------------------------------------------- contact_zone


def test_contact_zone_around_the_feet_of_a_full_length_subject():
    a = _alpha(box=(10, 100, 85, 105))  # stands inside the frame, feet on row 99
    size = 0.08
    z = contact_zone(a, size=size)
    assert z.shape == a.shape and z.dtype == a.dtype
    assert float(z.min()) >= 0 and float(z.max()) <= 1
    assert float(z[0, 0, 99, 95]) == 1.0  # at the feet
    assert float(z[0, 0, 104, 95]) > 0.5  # just below them
    assert float(z[..., :60, :].max()) == 0.0  # not around the head or the body
    nz = torch.nonzero(z[0, 0] > 0)
    height = int(nz[:, 0].max() - nz[:, 0].min()) + 1
    width = int(nz[:, 1].max() - nz[:, 1].min()) + 1
    assert width > height  # wider than tall, like a contact shadow
    # extends below the feet, within the zone's size
    short = min(H, W)
    assert int(nz[:, 0].max()) > 99 and int(nz[:, 0].max()) <= 99 + math.ceil(size * short / 1.6)
    assert int(nz[:, 1].min()) >= 85 - math.ceil(size * short) and int(nz[:, 1].max()) <= 104 + math.ceil(size * short)


def test_contact_zone_grows_with_size():
    a = _alpha(box=(10, 100, 85, 105))
    small = contact_zone(a, size=0.04)
    large = contact_zone(a, size=0.12)
    assert bool((large >= small - 1e-6).all())
    assert float((large > 0).sum()) > 2 * float((small > 0).sum())


@pytest.mark.parametrize(
    "alpha, size",
    [
        (_alpha(box=(40, H, 60, 130)), 0.08),  # cut by the bottom edge (half body): no feet
        (torch.zeros(1, 1, H, W), 0.08),  # no subject
        (_alpha(box=(10, 100, 85, 105)), 0.0),  # size 0
    ],
)
def test_contact_zone_is_empty_without_feet(alpha, size):
    z = contact_zone(alpha, size=size)
    assert z.shape == alpha.shape and float(z.abs().max()) == 0.0


def test_contact_zone_checks_alpha():
    with pytest.raises(ValueError, match="alpha"):
        contact_zone(torch.zeros(1, H, W), size=0.08)


# ---------------------------------------------------------------------------------------------- detect_floor


@pytest.mark.parametrize("size", [(128, 192), (256, 384)])
def test_detect_floor_finds_a_floor_of_another_colour(size):
    h, w = size
    x = _with_floor(h, w, at=0.75)
    floor, info = detect_floor(x, torch.ones(1, 1, h, w))
    assert isinstance(info, FloorInfo)
    assert info.found and info.score > 1.0
    # the boundary is at the floor's edge, with a small margin above it (never below)
    assert 0.75 - 0.06 <= info.boundary <= 0.75 + 0.005
    assert floor.shape == (1, 1, h, w) and floor.dtype == x.dtype
    col = floor[0, 0, :, 0]
    assert bool((floor == col.view(h, 1)).all())  # a function of the row only
    assert bool((col.diff() >= 0).all())  # a ramp up to the floor
    assert bool((col[int(0.76 * h):] == 1).all())
    assert bool((col[: int(0.6 * h)] == 0).all())


def test_detect_floor_finds_a_floor_of_the_same_colour_by_its_texture():
    x = _with_floor(rgb=(0.80, 0.78, 0.75), grain=0.05)
    floor, info = detect_floor(x, torch.ones(1, 1, H, W))
    assert info.found
    assert 0.75 - 0.06 <= info.boundary <= 0.755
    assert float(floor[0, 0, -1, 0]) == 1.0 and float(floor[0, 0, 40, 0]) == 0.0


def test_detect_floor_finds_none_on_a_plain_wall():
    floor, info = detect_floor(_wall(), torch.ones(1, 1, H, W))
    assert not info.found and info.boundary is None
    assert floor.shape == (1, 1, H, W) and float(floor.abs().max()) == 0.0


def test_detect_floor_brightness_alone_is_not_a_floor():
    # the bottom quarter darkens to 55 % (the wall's shadow, the seam band): same colour, same grain
    x = _wall()
    x[..., 96:, :] *= torch.linspace(1.0, 0.55, H - 96).view(1, 1, -1, 1)
    floor, info = detect_floor(x, torch.ones(1, 1, H, W))
    assert not info.found and float(floor.abs().max()) == 0.0


def test_detect_floor_ignores_what_is_not_backdrop():
    # a red subject over the lower part of the frame: a floor if counted, nothing once excluded
    x = _wall()
    x[..., 40:, 50:140] = torch.tensor([0.7, 0.15, 0.1]).view(1, 3, 1, 1)
    bd = torch.ones(1, 1, H, W)
    assert detect_floor(x, bd)[1].found
    bd[..., 40:, 50:140] = 0
    floor, info = detect_floor(x, bd)
    assert not info.found and float(floor.abs().max()) == 0.0


def test_detect_floor_modes():
    # a floor whose colour differs only a little: "on" (looser) finds it, "auto" does not
    x = _with_floor(rgb=(0.80 * 1.042, 0.78, 0.75 * 0.958))
    bd = torch.ones(1, 1, H, W)
    assert not detect_floor(x, bd, mode="auto")[1].found
    _, on = detect_floor(x, bd, mode="on")
    assert on.found and 0.6 < on.score < 1.0
    # "off": never a floor, even a plain one
    floor, off = detect_floor(_with_floor(), bd, mode="off")
    assert not off.found and float(floor.abs().max()) == 0.0


def test_detect_floor_ramp_height():
    x = _with_floor(at=0.75)
    bd = torch.ones(1, 1, H, W)
    short_ramp = detect_floor(x, bd, ramp=0.01)[0][0, 0, :, 0]
    long_ramp = detect_floor(x, bd, ramp=0.2)[0][0, 0, :, 0]
    partial = lambda c: int(((c > 0) & (c < 1)).sum())
    assert partial(long_ramp) > 3 * max(partial(short_ramp), 1)
    assert partial(long_ramp) <= math.ceil(0.2 * H) + 1


def test_detect_floor_tiny_image_and_bad_input():
    floor, info = detect_floor(torch.rand(1, 3, 12, 20), torch.ones(1, 1, 12, 20))
    assert not info.found and float(floor.abs().max()) == 0.0
    with pytest.raises(ValueError, match="image"):
        detect_floor(torch.rand(3, H, W), torch.ones(1, 1, H, W))


# ---------------------------------------------------------------------------------------------- foreign_objects


def _flat(value=0.2, h=H, w=W):
    return torch.full((1, 3, h, w), value)


def test_foreign_objects_flags_a_window_and_a_stand_not_marks_or_shadows():
    surf = _flat()
    x = surf.clone()
    x[..., 10:40, 20:60] = 0.9  # a window, 4.5 times the backdrop
    x[..., 100:102, 150:152] = 0.9  # a bright speck
    x[..., 70, :] = 0.9  # a thin bright crease
    x[..., 60:120, 100:140] *= 0.6  # a cast shadow
    x[..., 20:120, 170:180] = 0.01  # a light stand, far darker than any shadow
    fo = foreign_objects(x, surf, torch.ones(1, 1, H, W))
    assert fo.shape == (1, 1, H, W) and fo.dtype == x.dtype
    assert float(fo.min()) >= 0 and float(fo.max()) <= 1
    assert float(fo[0, 0, 25, 40]) == 1.0  # the window
    assert float(fo[0, 0, 70, 175]) == 1.0  # the stand
    assert float(fo[0, 0, 101, 151]) == 0.0  # the speck is a mark, still cleaned
    assert float(fo[0, 0, 70, 80]) == 0.0  # the crease too
    assert float(fo[0, 0, 90, 120]) == 0.0  # the shadow
    # a soft edge a few pixels wide around the window, nothing far from it
    nz = torch.nonzero(fo[0, 0, :60, :100] > 0)
    assert int(nz[:, 0].min()) >= 10 - 8 and int(nz[:, 1].max()) <= 60 + 8
    assert float(fo[0, 0, 25, 70]) == 0.0


def test_foreign_objects_only_where_the_frame_may_be_backdrop():
    surf = _flat()
    x = surf.clone()
    x[..., 10:40, 20:60] = 0.9
    bd = torch.ones(1, 1, H, W)
    bd[..., :50, :70] = 0  # e.g. the subject
    fo = foreign_objects(x, surf, bd)
    assert float(fo.abs().max()) == 0.0


def test_foreign_objects_none_on_a_clean_wall():
    x = _wall()
    fo = foreign_objects(x, x, torch.ones(1, 1, H, W))
    assert fo.shape == (1, 1, H, W) and float(fo.abs().max()) == 0.0


def test_a_wall_that_drifts_toward_the_bottom_is_no_floor():
    """A painted wall whose lower part drifts in colour (a coloured bounce, the light falling off)
    over a fifth of the frame has no floor line: no step from wall to floor."""
    x = _wall()
    ramp = smoothstep(torch.linspace(0, 1, H), 0.55, 0.95).view(1, 1, H, 1)
    x = x * (1 - 0.25 * ramp * torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1))  # warmer and darker below
    bd = torch.ones(1, 1, H, W)
    assert not detect_floor(x, bd)[1].found
    # the same change as a step is a floor
    step = (torch.arange(H) >= int(0.75 * H)).float().view(1, 1, H, 1)
    y = _wall() * (1 - 0.25 * step * torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1))
    assert detect_floor(y, bd)[1].found


def test_a_floor_must_be_seen_beside_the_subject():
    """Head and shoulders: the bottom rows are the subject, with a vignetted corner either side; the
    corners differ from the wall higher up, but no floor shows."""
    x = _with_floor(at=0.7)
    bd = torch.ones(1, 1, H, W)
    assert detect_floor(x, bd)[1].found  # the floor, seen across the frame
    bd[..., int(0.6 * H):, 6:W - 6] = 0.0  # the subject's shoulders fill the bottom rows
    assert not detect_floor(x, bd)[1].found


def test_a_flat_composited_backdrop_with_a_trace_of_jpeg_ringing_below_has_no_floor():
    """An e-commerce photo on a flat beige ground: the wall's rows have no texture at all, and the
    bottom rows, under the feet, a trace of ringing a level high on one pixel in 40. Against the
    wall's zero that was a floor, which a tone of 255 then left beige, a band across the frame's
    bottom. A floor's texture must be one that is seen; a faint real one still is."""
    beige = torch.tensor([240.0, 233.0, 227.0]).view(1, 3, 1, 1) / 255
    x = beige.expand(1, 3, H, W).clone()
    g = torch.Generator().manual_seed(3)
    ring = (torch.rand(1, 1, H, W, generator=g) < 0.025) & (torch.arange(H).view(1, 1, H, 1) >= int(0.9 * H))
    x = x + ring * torch.sign(torch.randn(1, 1, H, W, generator=g)) / 255
    bd = torch.ones(1, 1, H, W)
    floor, info = detect_floor(x, bd)
    assert not info.found and float(floor.abs().max()) == 0.0
    # a floor in the wall's own colour with a grain of 1% of its level (concrete) is still found
    rows = (torch.arange(H).view(1, 1, H, 1) >= int(0.75 * H)).float()
    y = (beige * (1 + 0.01 * rows * torch.randn(1, 3, H, W, generator=g))).clamp(0, 1)
    _, info = detect_floor(y, bd)
    assert info.found and 0.69 <= info.boundary <= 0.755


def test_unsure_edges_on_a_frame_one_or_two_pixels_high():
    """A mask's edge on a strip too thin for an edge's normal (hypothesis found a 1x15 photo) is no
    error: the mask is taken as it is."""
    from backdrop.ops.masks import unsure_edges

    for h in (1, 2):
        x = torch.full((1, 3, h, 15), 0.5)  # plain wall: the mask's edge across it is unsure
        alpha = torch.zeros(1, 1, h, 15)
        alpha[..., :10] = 1.0
        protect = subject_protection(alpha, grow=0.0, feather=0.0)
        edges = unsure_edges(x, alpha, x, protect, reach=1)
        assert edges.firm.shape == edges.taken.shape == alpha.shape
        assert float(edges.firm.min()) >= 0 and float(edges.firm.max()) <= 1
