"""backdrop.ops.illumination: the clean-backdrop surface and the shadow lift, on synthetic walls."""
import pytest
import torch

from backdrop.ops.illumination import backdrop_surface, shadow_gain

H, W = 128, 192  # 16 x 24 cells of 8 pixels
LIGHT = (0.80, 0.78, 0.75)
DARK = (0.12, 0.12, 0.13)


def _wall(rgb=LIGHT, grain=0.005, seed=0, h=H, w=W):
    """(clean, shot): a coloured wall lit with falloff, a vignette and a tilt; the shot adds grain."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    light = torch.exp(-0.12 * (xx**2 + yy**2) - 0.08 * yy + 0.04 * xx)  # ~35 % darker in the corners
    clean = (torch.tensor(rgb).view(3, 1, 1) * light)[None]
    return clean, clean + grain * torch.randn(1, 3, h, w, generator=g)


def _blob(cy, cx, sy, sx, h=H, w=W):
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    return torch.exp(-(((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))[None, None]


def _rect(r0, r1, c0, c1, soft=1.5, h=H, w=W):
    """A rectangle with a soft (penumbra) edge."""
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    s = torch.sigmoid
    return (s((yy - r0) / soft) * s((r1 - yy) / soft) * s((xx - c0) / soft) * s((c1 - xx) / soft))[None, None]


def _rel(a, b):
    """Largest relative difference over the channels, per pixel: (H, W)."""
    return ((a - b) / b).abs()[0].amax(0)


ONES = torch.ones(1, 1, H, W)


# ---------------------------------------------------------------------------------------------- backdrop_surface


@pytest.mark.parametrize("rgb, grain, tol", [(LIGHT, 0.0, 0.01), (LIGHT, 0.005, 0.01), (DARK, 0.005, 0.02)])
def test_backdrop_surface_reproduces_a_clean_lit_wall(rgb, grain, tol):
    clean, shot = _wall(rgb, grain)
    surface, outlier, _ = backdrop_surface(shot, ONES)
    assert surface.shape == (1, 3, H, W) and surface.dtype == shot.dtype
    assert outlier.shape == (1, 1, H // 8, W // 8)
    e = _rel(surface, clean)
    # the falloff and the vignette survive: inside the outer half cell to ~1-2 %, on average far better
    assert float(e[4:-4, 4:-4].max()) < tol
    assert float(e.max()) < 0.03
    assert float(e.mean()) < 0.005
    assert float(outlier.max()) < 0.5  # nothing judged a shadow


def test_backdrop_surface_keeps_the_wall_colour():
    clean, shot = _wall((0.85, 0.70, 0.55))
    surface, _, _ = backdrop_surface(shot, ONES)
    ratio = surface[0, 0] / surface[0, 2]
    assert float((ratio - 0.85 / 0.55).abs().max()) < 0.02 * 0.85 / 0.55


def test_backdrop_surface_is_smooth():
    _, shot = _wall(grain=0.02)
    surface, _, _ = backdrop_surface(shot, ONES)
    # the grain does not get through: pixel-to-pixel steps are far below the grain
    assert float(surface.diff(dim=-1).abs().max()) < 0.01
    assert float(surface.diff(dim=-2).abs().max()) < 0.01


def test_backdrop_surface_is_not_pulled_down_by_a_cast_shadow():
    clean, shot = _wall()
    blob = _blob(70, 130, 22, 28)  # 40 % deep in its middle
    surface, outlier, _ = backdrop_surface(shot * (1 - 0.4 * blob), ONES)
    e = _rel(surface, clean)
    assert float(e.max()) < 0.03
    assert float(e[blob[0, 0] > 0.5].max()) < 0.025  # under the shadow: the wall, not the shadow
    assert float(outlier[0, 0, 70 // 8, 130 // 8]) == 1.0  # the shadow's cells are outliers
    assert float(outlier[0, 0, 1, 1]) == 0.0  # a clean corner is not


def test_backdrop_surface_ignores_marks_on_light_paper_and_lint_on_a_dark_one():
    clean, shot = _wall()
    marked = shot.clone()
    marked[..., 50:53, 20:60] *= 0.5  # a scuff
    marked[..., 90:100, 150:152] *= 0.4  # a crease
    marked[..., 20:24, 100:104] *= 0.3  # a spot
    surface, _, _ = backdrop_surface(marked, ONES)
    assert float(_rel(surface, clean)[4:-4, 4:-4].max()) < 0.01

    clean, shot = _wall(DARK)
    linty = shot.clone()
    linty[..., 50:53, 20:60] = 0.6  # chalk
    linty[..., 90:94, 150:154] = 0.5  # lint
    surface, _, _ = backdrop_surface(linty, ONES)
    assert float(_rel(surface, clean)[4:-4, 4:-4].max()) < 0.02


def test_backdrop_surface_fills_under_the_subject():
    clean, shot = _wall()
    shot = shot.clone()
    shot[..., 30:, 70:120] = torch.tensor([0.2, 0.1, 0.05]).view(1, 3, 1, 1)  # a dark red subject
    weight = ONES.clone()
    weight[..., 30:, 70:120] = 0
    surface, outlier, _ = backdrop_surface(shot, weight)
    e = _rel(surface, clean)
    assert float(e[30:, 70:120].max()) < 0.02  # the wall, as if the subject were not there
    assert float(e[4:-4, 4:-4].max()) < 0.01
    # cells with no usable pixels count as outliers (shown as such)
    assert float(outlier[0, 0, 8, 10]) == 1.0


def test_backdrop_surface_with_few_usable_cells():
    # only a corner of backdrop (10 cells): a plane fit, still the wall for a flat one
    g = torch.Generator().manual_seed(3)
    flat = 0.7 + 0.005 * torch.randn(1, 3, H, W, generator=g)
    weight = torch.zeros(1, 1, H, W)
    weight[..., :16, :40] = 1
    surface, _, _ = backdrop_surface(flat, weight)
    assert bool(torch.isfinite(surface).all())
    assert float((surface / 0.7 - 1).abs().max()) < 0.01


def test_backdrop_surface_other_cell_size():
    clean, shot = _wall()
    surface, outlier, _ = backdrop_surface(shot, ONES, cell=16)
    assert surface.shape == (1, 3, H, W) and outlier.shape == (1, 1, H // 16, W // 16)
    assert float(_rel(surface, clean)[8:-8, 8:-8].max()) < 0.02


def test_backdrop_surface_checks_its_input():
    _, shot = _wall()
    with pytest.raises(ValueError, match="multiple of cell"):
        backdrop_surface(shot[..., :100, :], ONES[..., :100, :])
    with pytest.raises(ValueError, match="weight"):
        backdrop_surface(shot, ONES[0])
    with pytest.raises(ValueError, match="image"):
        backdrop_surface(shot[0], ONES)


# ---------------------------------------------------------------------------------------------- shadow_gain

SIGMAS = dict(sigma_small=1.0, sigma_large=8.0)


def test_shadow_gain_leaves_a_clean_wall_alone():
    clean, shot = _wall()
    step, shadow = shadow_gain(shot, clean, **SIGMAS)
    assert step.shape == shot.shape and step.dtype == shot.dtype
    assert shadow.shape == (1, 1, H, W)
    # grain-level departures are not shadows: the gain is exactly one
    assert float(step.abs().max()) == 0.0
    assert float(shadow.abs().max()) == 0.0


def test_shadow_gain_lifts_a_cast_shadow_to_the_wall():
    clean, shot = _wall()
    blob = _blob(70, 130, 22, 28)
    shadowed = shot * (1 - 0.4 * blob)
    step, shadow = shadow_gain(shadowed, clean, **SIGMAS)
    lifted = shadowed * (1 + step)
    inside = blob[0, 0] > 0.2
    assert float(_rel(shadowed, clean)[inside].max()) > 0.3  # before: up to 40 % dark
    assert float(_rel(lifted, clean)[inside].max()) < 0.03  # after: the wall, give or take its grain
    assert float(_rel(lifted, clean)[inside].mean()) < 0.01
    # half lift: half-way (the slider's gain is 1 + lift * step)
    half = shadowed * (1 + 0.5 * step)
    c = (0, slice(None), 70, 130)
    assert float(shadowed[c].mean()) < float(half[c].mean()) < float(lifted[c].mean())
    # the shadow map: the depth of the shadow, 0 away from it
    assert float(shadow[0, 0, 70, 130]) == pytest.approx(0.4, abs=0.03)
    assert float(shadow.min()) >= 0.0 and float(shadow.max()) <= 1.0
    far = blob[0, 0] < 1e-3
    assert float(shadow[0, 0][far].max()) == 0.0
    assert float(step[0][:, far].abs().max()) == 0.0  # the clean wall is left exactly as shot
    assert float(step.min()) > -1e-3  # it lifts, never darkens (beyond a colour match's rounding)


def test_shadow_gain_a_hard_edged_shadow_leaves_no_outline():
    clean, shot = _wall()
    rect = _rect(40, 100, 60, 150)
    shadowed = shot * (1 - 0.4 * rect)
    step, _ = shadow_gain(shadowed, clean, **SIGMAS)
    err = ((shadowed * (1 + step) - clean) / clean)[0].mean(0)  # the channels' mean: less grain
    assert float(err.abs().max()) < 0.04  # nothing dark left inside the edge, nothing bright outside it
    assert float(err[40:101, 60:151].abs().mean()) < 0.01


def test_shadow_gain_restores_the_colour_of_a_tinted_shadow():
    clean, shot = _wall()
    blob = _blob(70, 130, 22, 28)
    tint = torch.tensor([0.45, 0.40, 0.30]).view(1, 3, 1, 1)  # a bluish shadow (lit by the sky fill)
    shadowed = shot * (1 - tint * blob)
    step, _ = shadow_gain(shadowed, clean, **SIGMAS)
    lifted = shadowed * (1 + step)
    inside = blob[0, 0] > 0.2
    assert float(_rel(lifted, clean)[inside].max()) < 0.03


def test_shadow_gain_leaves_a_small_mark_to_the_texture_pass():
    clean, shot = _wall()
    marked = shot.clone()
    marked[..., 30:33, 30:33] *= 0.6
    step, _ = shadow_gain(marked, clean, **SIGMAS)
    assert float(step[..., 26:37, 26:37].abs().max()) < 0.01


def test_shadow_gain_with_a_fitted_surface():
    """The two together: the surface fitted on the shadowed wall lifts the shadow back."""
    clean, shot = _wall()
    blob = _blob(70, 130, 22, 28)
    shadowed = shot * (1 - 0.4 * blob)
    surface, _, _ = backdrop_surface(shadowed, ONES)
    step, _ = shadow_gain(shadowed, surface, **SIGMAS)
    lifted = shadowed * (1 + step)
    assert float(_rel(lifted, clean)[blob[0, 0] > 0.2].max()) < 0.05


def test_shadow_gain_checks_its_input():
    clean, shot = _wall()
    with pytest.raises(ValueError, match="image"):
        shadow_gain(shot[0], clean, **SIGMAS)


def _departure(obj: torch.Tensor, blur: float) -> torch.Tensor:
    """The darkening a dark object (1 on it) leaves on the wall beside it, out of focus by ``blur`` px."""
    from backdrop.ops.filters import gaussian_blur

    return 0.9 * (gaussian_blur(obj, blur) if blur else obj)


def test_falloff_keeps_an_out_of_focus_objects_edge_and_no_mark_running_into_a_hard_one():
    from backdrop.ops.illumination import falloff

    obj = torch.zeros(1, 1, H, W)
    obj[..., :, : W // 4] = 1.0  # a dark object filling the left quarter (the studio beyond the paper)
    core = obj > 0.5
    # out of focus: its edge darkens the wall for a dozen pixels; kept, up to where it fades
    d = _departure(obj, 6.0)
    zone = falloff(d, (d > 0.7).float(), reach=30, hard=3)
    edge = ~core & (d > 0.02)
    assert float(zone[edge].min()) > 0.95
    assert float(zone[..., :, W // 4 + 60:].max()) < 0.05  # and not much further
    # in focus, with a seam's shadow running into it: no soft edge, the seam is a mark to clean
    d = _departure(obj, 0.0)
    d[..., 60:66, W // 4:] = 0.15
    zone = falloff(d, (d > 0.7).float(), reach=30, hard=3)
    assert float(zone[..., 60:66, W // 4 + 4:].max()) < 0.05
    # all of a room's shade: the whole darkening that joins it, to the reach
    zone = falloff(d, (d > 0.7).float(), reach=30, whole=True)
    assert float(zone[..., 60:66, W // 4 + 4: W // 4 + 30].min()) > 0.95


def test_cast_shadow_grows_no_further_than_its_reach_on_a_tiny_frame():
    """A reach under one pixel still grows the shadow by one step, not through all the faint
    darkening joined to it (a dilation of 0 steps runs until nothing changes)."""
    from backdrop.ops.illumination import cast_shadow

    d = torch.full((1, 1, 8, 60), 0.02)
    d[..., :, :6] = 0.2  # a shadow beside the subject, a faint tail beyond it
    subject = torch.zeros(1, 1, 8, 60)
    subject[..., :, :2] = 1.0
    zone = cast_shadow(d, subject, depth=0.05, reach=0.4)
    assert int((zone[0, 0, 4] > 0.5).sum()) <= 8
