"""backdrop.ops.texture: marks versus grain, band by band."""
import math

import pytest
import torch

from backdrop.ops.filters import atrous_smooth
from backdrop.ops.texture import K_HI, K_LO, band_noise, detail_norm, mark_weight, texture_layers

H, W = 128, 192
ONES = torch.ones(1, 1, H, W)


def _paper(grain=0.01, seed=0, h=H, w=W):
    """A lit paper backdrop (falloff, vignette) with fine grain."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    light = torch.exp(-0.12 * (xx**2 + yy**2) - 0.08 * yy)
    base = (torch.tensor([0.80, 0.78, 0.75]).view(3, 1, 1) * light)[None]
    return base + grain * torch.randn(1, 3, h, w, generator=g)


# ---------------------------------------------------------------------------------------------- helpers


def test_detail_norm_is_the_rms_over_channels():
    c = torch.zeros(2, 3, 4, 5)
    c[0, :, 1, 2] = torch.tensor([3.0, -4.0, 0.0])
    c[1, :, 0, 0] = torch.tensor([1.0, 1.0, 1.0])
    n = detail_norm(c)
    assert n.shape == (2, 1, 4, 5)
    assert float(n[0, 0, 1, 2]) == pytest.approx(math.sqrt(25 / 3))
    assert float(n[1, 0, 0, 0]) == pytest.approx(1.0)
    assert float(n[0, 0, 0, 0]) == 0.0


def test_band_noise_is_the_median_over_the_backdrop():
    norm = torch.zeros(1, 1, 10, 10)
    norm[..., :5, :] = 0.02  # backdrop
    norm[..., 5:, :] = 0.5  # subject: its texture must not count
    weight = torch.zeros(1, 1, 10, 10)
    weight[..., :5, :] = 1.0
    assert band_noise(norm, weight) == pytest.approx(0.02)
    # no backdrop at all: the whole band
    assert band_noise(norm, torch.zeros_like(weight)) == pytest.approx(float(norm.reshape(-1).median()))
    # never zero: a floor for flat synthetic images
    assert band_noise(torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)) == pytest.approx(1e-4)


def test_band_noise_subsamples_large_bands():
    g = torch.Generator().manual_seed(0)
    norm = torch.rand(1, 1, 400, 400, generator=g)  # uniform: median 0.5
    v = band_noise(norm, torch.ones_like(norm), max_samples=10_000)
    assert v == pytest.approx(0.5, abs=0.02)


def test_mark_weight_from_grain_to_mark():
    s = torch.tensor([0.0, 1.0, K_LO, (K_LO + K_HI) / 2, K_HI, 20.0])
    p = mark_weight(s)
    assert p[:3].tolist() == [0.0, 0.0, 0.0]
    assert float(p[3]) == pytest.approx(0.5)
    assert p[4:].tolist() == [1.0, 1.0]
    assert 0 < K_LO < K_HI


# ---------------------------------------------------------------------------------------------- texture_layers


def test_texture_layers_shapes_and_decomposition():
    x = _paper()
    marks, grain, fine = texture_layers(x, ONES)
    assert marks.shape == x.shape and grain.shape == x.shape and fine.shape == (1, 1, H, W)
    assert marks.dtype == grain.dtype == fine.dtype == x.dtype
    assert float(fine.min()) >= 0 and float(fine.max()) <= 1
    # marks + grain are all the detail of the default 3 bands (min(H, W) / 12 ~ 2**3): the rest is the lighting
    levels = max(1, int(math.floor(math.log2(max(min(H, W) / 12.0, 2.0)))))
    assert levels == 3
    low = x
    for j in range(levels):
        low = atrous_smooth(low, j)
    torch.testing.assert_close(x - marks - grain, low, rtol=0, atol=1e-5)


def test_texture_layers_levels():
    x = _paper()
    for levels in (1, 2, 4):
        marks, grain, _ = texture_layers(x, ONES, levels=levels)
        low = x
        for j in range(levels):
            low = atrous_smooth(low, j)
        torch.testing.assert_close(x - marks - grain, low, rtol=0, atol=1e-5)


def test_texture_layers_keep_smooth_paper_grain():
    x = _paper(grain=0.01)
    marks, grain, fine = texture_layers(x, ONES)
    # the grain is kept as grain: barely anything of it is judged a mark
    assert float(marks.abs().mean()) < 0.03 * float(grain.abs().mean())
    # (the last few rows and columns are left out: mirrored at the frame's edge, the vignette's slope
    # makes a kink that the coarse bands see; the interior carries no mark at all)
    inner = (slice(None), slice(None), slice(12, -12), slice(12, -12))
    assert float(marks[inner].abs().max()) < 0.002
    assert float(fine.max()) < 0.5
    assert float(grain.std()) == pytest.approx(0.01, rel=0.2)


def test_texture_layers_flag_a_scuff_and_a_speck():
    clean = _paper()
    x = clean.clone()
    x[..., 60:63, 40:100] *= 0.75  # a scuff, 3 px wide, a quarter darker
    x[..., 20, 150] *= 0.6  # a one-pixel speck
    marks, grain, fine = texture_layers(x, ONES)
    scuff = (slice(None), slice(None), slice(60, 63), slice(40, 100))
    depth = float((clean - x)[scuff].mean())
    assert float(-marks[scuff].mean()) > 0.6 * depth  # most of the scuff is a mark
    assert float((x - marks - clean)[scuff].abs().mean()) < 0.35 * depth  # removing it restores the paper
    # the speck: a mark of its own depth, in the finest band
    speck = (clean - x)[0, :, 20, 150]
    torch.testing.assert_close(-marks[0, :, 20, 150], speck, rtol=0.15, atol=0)
    assert float(fine[0, 0, 20, 150]) == 1.0
    # away from them nothing is a mark
    assert float(marks[..., :45, :130].abs().max()) < 0.015
    assert float(fine[0, 0, :45, :130].max()) < 0.5


def test_texture_layers_judge_the_grain_on_the_editable_backdrop_only():
    """A strongly textured subject over most of the frame must not raise the grain level."""
    g = torch.Generator().manual_seed(1)
    x = _paper()
    x[..., :, :120] = 0.5 + 0.1 * torch.randn(1, 3, H, 120, generator=g)  # e.g. a knitted jumper
    x[..., 60:63, 120:180] *= 0.75  # a scuff on the backdrop beside it
    editable = ONES.clone()
    editable[..., :, :120] = 0
    scuff = (slice(None), slice(None), slice(60, 63), slice(125, 175))
    judged_on_backdrop, _, _ = texture_layers(x, editable)
    judged_on_all, _, _ = texture_layers(x, ONES)
    assert float(judged_on_backdrop[scuff].abs().mean()) > 2 * float(judged_on_all[scuff].abs().mean())
    assert float(judged_on_backdrop[scuff].abs().mean()) > 0.1


def test_texture_layers_check_their_input():
    x = _paper()
    with pytest.raises(ValueError, match="image"):
        texture_layers(x[0], ONES)
    with pytest.raises(ValueError, match="editable"):
        texture_layers(x, ONES[0])


def _glow_scene(gap: float):
    """Paper (in log space, as the pipeline judges it) with a subject's protection on the right and a
    soft glow on the wall beside it, ``gap`` pixels from it (peaking at the protection's edge, as the
    backdrop filled in under the subject does), and a bright tape square with an edge that touches the
    protection below it."""
    h, w = 192, 288
    x = _paper(grain=0.004, h=h, w=w)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    core = ((xx >= 180) & (yy >= 20)).float()[None, None]
    along = torch.exp(-(((yy - 80) / 30) ** 2))
    x = x * (1 + 0.3 * torch.exp(-((180 - gap - xx) ** 2 + 16).sqrt() / 12.0) * along)
    tape = (slice(None), slice(None), slice(160, 170), slice(170, 180))
    x[tape] *= 1.4
    return x.log(), core, (slice(None), slice(None), slice(50, 110), slice(150 - int(gap), 180 - int(gap))), tape


def test_a_glow_that_hugs_the_subject_is_no_mark_and_the_same_glow_apart_from_it_still_is():
    """Light bounced off a white sleeve onto the wall beside it is the wall's light: taken for a mark,
    it was removed up to the subject's protection and kept inside it, a pale patch with an edge
    (pibooth_portrait_capture3_greywall). The same soft brightening apart from the subject is a mark as
    before, and so is a bright mark with an edge (tape) that touches the subject."""
    x, core, glow, tape = _glow_scene(gap=0)
    judged, _, _ = texture_layers(x, 1 - core, core=core)
    plain, _, _ = texture_layers(x, 1 - core)
    assert float(plain[glow].mean()) > 0.005  # without the subject's protection: a mark
    assert float(judged[glow].abs().mean()) < 0.1 * float(plain[glow].mean())
    torch.testing.assert_close(judged[tape], plain[tape])
    assert float(plain[tape].mean()) > 0.15
    x, core, glow, _ = _glow_scene(gap=40)
    apart, _, _ = texture_layers(x, 1 - core, core=core)
    plain, _, _ = texture_layers(x, 1 - core)
    assert float(apart[glow].mean()) > 0.005
    torch.testing.assert_close(apart[glow], plain[glow])
