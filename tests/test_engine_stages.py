"""Analyse once, render many: the two stages give what one call gives, and never a stale picture."""
import numpy as np
import pytest
import torch

from backdrop import Params, analyze, clean, render
from backdrop.errors import BackdropError
from backdrop.io.write import _quantize
from bench.scenes import make_scene

FULL = Params(lift=100, texture=100)


@pytest.fixture(scope="module")
def scene():
    # 1100x740: a working factor of 2, so the full-resolution pass has fine marks to do
    return make_scene("white_seamless", size=(1100, 740), seed=3)


@pytest.fixture(scope="module")
def scene8(scene):
    return (np.clip(scene.image, 0, 1) * 255 + 0.5).astype(np.uint8), (scene.alpha * 255 + 0.5).astype(np.uint8)


def hwc(t):
    return t.permute(1, 2, 0).numpy()


def test_render_of_analyze_is_clean_bit_for_bit(scene):
    one = clean(scene.image, FULL, scene.alpha)
    two = render(analyze(scene.image, scene.alpha, FULL))
    for v in ("shadows", "texture", "preview"):
        assert torch.equal(one.view(v), two.view(v)), v


def test_one_analysis_renders_every_slider_setting_as_a_fresh_clean(scene8):
    img, alpha = scene8
    a = analyze(img, alpha, FULL)
    for lift, texture, grain in ((30, 80, 100), (100, 0, 100), (70, 50, 40), (0, 0, 100)):
        p = FULL.replace(lift=lift, texture=texture, grain=grain)
        fresh = clean(img, p, alpha, views=("preview",), bits=8).preview
        again = render(a, p, views=("preview",), bits=8).preview
        assert np.array_equal(fresh, again), (lift, texture, grain)


def test_a_structural_change_is_never_rendered_from_a_stale_analysis(scene8):
    img, alpha = scene8
    a = analyze(img, alpha, FULL)
    assert a.fits(FULL.replace(lift=20, texture=5, grain=50, jpeg_quality=80))
    for change in (dict(feather=0.05), dict(grow=0.02), dict(floor="off"), dict(protect_contact_shadows=False),
                   dict(contact_size=0.2), dict(floor_ramp=0.1), dict(segmenter="embedded"), dict(device="cpu")):
        p = FULL.replace(**change)
        assert not a.fits(p), change
        with pytest.raises(ValueError, match=next(iter(change))):
            render(a, p)
    # and the feather really is in the analysis: a new one gives another picture
    wide = render(analyze(img, alpha, FULL.replace(feather=0.1)), views=("preview",), bits=8).preview
    assert not np.array_equal(wide, render(a, views=("preview",), bits=8).preview)


def test_a_bad_slider_value_names_the_slider(scene8):
    a = analyze(*scene8, FULL)
    with pytest.raises(BackdropError, match="'lift'"):
        render(a, lift=140)
    with pytest.raises(BackdropError, match="'grain'"):
        render(a, grain=float("nan"))


def test_integer_views_are_the_float_views_rounded_and_dithered_as_written(scene8):
    """bits=8 gives the very pixels write_image would have made of the float view."""
    img, alpha = scene8
    a = analyze(img, alpha, FULL)
    as_float = render(a)
    as_int = render(a, bits=8)
    original = img.astype(np.float32) / np.float32(255.0)
    for v in ("shadows", "texture", "preview"):
        want = _quantize(hwc(as_float.view(v)), 8, reference=original, dither=True, seed=0)
        assert np.array_equal(as_int.view(v), want), v
        assert as_int.view(v).dtype == np.uint8
    sixteen = render(a, views=("preview",), bits=16).preview
    assert sixteen.dtype == np.uint16
    assert np.array_equal(sixteen, _quantize(hwc(as_float.preview), 16, reference=None, dither=False, seed=0))


def test_untouched_pixels_come_back_exactly_in_8_bits(scene8):
    img, alpha = scene8
    out = clean(img, FULL, alpha, bits=8)
    subject = alpha == 255  # wholly subject (a pixel part subject takes the lift on its backdrop's share)
    for v in ("shadows", "texture", "preview"):
        assert np.array_equal(out.view(v)[subject], img[subject]), v
    off = clean(img, Params(lift=0, texture=0), alpha, bits=8)
    assert np.array_equal(off.preview, img)


def test_a_uint8_buffer_and_its_float_pixels_give_the_same_picture(scene8):
    img, alpha = scene8
    as_int = clean(img, FULL, alpha, views=("preview",)).preview
    as_float = clean(img.astype(np.float32) / np.float32(255.0), FULL, alpha, views=("preview",)).preview
    assert torch.equal(as_int, as_float)


def test_greyscale_integer_views_stay_one_channel(scene8):
    img, alpha = scene8
    grey = img[:, :, 1:2].copy()
    out = clean(grey, FULL, alpha, bits=8)
    assert out.preview.shape == grey.shape
    assert np.array_equal(out.preview[alpha == 255], grey[alpha == 255])


@pytest.mark.parametrize("bits", [None, 8])
def test_the_device_path_computes_what_the_tiled_path_does(scene8, bits):
    """The whole-frame path (what a GPU runs: strips, no per-tile decisions) on the CPU, against the tiles."""
    img, alpha = scene8
    a = analyze(img, alpha, FULL.replace(lift=85, texture=90))
    tiles = render(a, bits=bits)
    strips = render(a, bits=bits, frame=True)
    subject = alpha > 0
    for v in ("shadows", "texture", "preview"):
        t, s = tiles.view(v), strips.view(v)
        if bits is None:
            t, s = hwc(t), hwc(s)
            assert np.abs(t - s).max() < 2e-5, v
        else:
            d = np.abs(t.astype(int) - s.astype(int))
            assert d.max() <= 1 and (d > 0).mean() < 1e-3, v
        assert np.array_equal(s[subject], t[subject]), v


def test_masks_of_any_depth_protect_the_same_subject(scene8):
    """A mask file's 8/16-bit values, a segmenter's rounded-up uint16 and a float mask: the same picture."""
    img, alpha8 = scene8
    f = alpha8.astype(np.float32) / np.float32(255.0)
    as16 = (alpha8.astype(np.uint16) * 257)
    outs = [clean(img, FULL, m, views=("preview",), bits=8).preview for m in (alpha8, as16, f)]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    assert np.array_equal(outs[1][alpha8 == 255], img[alpha8 == 255])


@pytest.mark.parametrize("frame", [False, True])
def test_rendered_into_the_decoded_buffer_the_picture_is_the_same(scene8, frame):
    """A caller that lets go of the photo (the CLI, a batch) has the preview made in its decoded buffer:
    each region is read before it is written, so the pixels are those of a render into a new buffer."""
    img, alpha = scene8
    p = FULL.replace(lift=85, texture=90)
    want = render(analyze(img, alpha, p), views=("preview",), bits=8, frame=frame).preview
    decoded = img.copy()
    got = render(analyze(decoded, alpha, p), views=("preview",), bits=8, frame=frame, into=decoded).preview
    assert got is decoded
    assert np.array_equal(got, want)
    assert not np.array_equal(want, img)  # (there was something to clean)


def test_a_buffer_the_view_cannot_go_into_is_refused_by_name(scene8):
    img, alpha = scene8
    a = analyze(img.copy(), alpha, FULL)
    frozen = img.copy()
    frozen.flags.writeable = False
    for into, kw in ((img.copy(), dict(bits=8)),  # two views
                     (img.copy(), dict(views=("preview",))),  # float
                     (img.astype(np.uint16), dict(views=("preview",), bits=8)),
                     (img[:, :-1].copy(), dict(views=("preview",), bits=8)),
                     (frozen, dict(views=("preview",), bits=8))):
        with pytest.raises(ValueError, match="into"):
            render(a, into=into, **kw)
