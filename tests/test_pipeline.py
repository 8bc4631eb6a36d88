"""The engine on synthetic scenes with a known clean backdrop: what a photographer would notice."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from backdrop import BackdropError, Params, clean
from bench.quality import metrics, scene_misses
from bench.scenes import SCENE_NAMES

FULL = Params(lift=100, texture=100)


def as_hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_subject_pixels_are_bit_for_bit_the_input(get_scene, name):
    """Every pixel wholly subject comes back as it was; one on the subject's edge, part subject and
    part backdrop, keeps its subject's share and takes the cleanup on the rest: on the whole it ends
    no further from the clean plate than as shot (it was left as shot, and kept its share of a
    lifted shadow: a dark line along the subject)."""
    s = get_scene(name)
    r = clean(s.image, FULL, s.alpha)
    subject = s.alpha >= 1.0
    edge = (s.alpha > 0) & ~subject
    for view in ("shadows", "texture", "preview"):
        out = as_hwc(r.view(view))
        assert np.array_equal(out[subject], s.image[subject]), view
    err = {k: np.abs(o - s.clean).mean(-1)[edge].mean() * 255 for k, o in (("out", as_hwc(r.preview)),
                                                                           ("shot", s.image))}
    assert err["out"] <= err["shot"] + 0.01, err


def test_sliders_at_zero_change_nothing(get_scene):
    s = get_scene("white_seamless")
    r = clean(s.image, Params(lift=0, texture=0), s.alpha)
    for view in ("shadows", "texture", "preview"):
        assert np.array_equal(as_hwc(r.view(view)), s.image), view


def test_a_clean_photo_comes_back_as_it_was(get_scene):
    s = get_scene("clean_nothing")
    out = as_hwc(clean(s.image, FULL, s.alpha).preview)
    diff = np.abs(out - s.image) * 255
    assert diff.mean() < 0.25, diff.mean()
    assert np.percentile(diff, 99.9) < 3.0


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_quality_targets_on_small_scenes(get_scene, name):
    """The benchmark's targets (defects left, backdrop error, lighting, subject, contact, floor)."""
    s = get_scene(name)
    m = metrics(s, as_hwc(clean(s.image, FULL, s.alpha).preview))
    assert scene_misses(name, m, metrics(s, s.image)) == []


@pytest.mark.parametrize("name", ["grey_wall_wood_floor", "concrete_floor"])
def test_real_floor_is_detected_and_kept(get_scene, name):
    s = get_scene(name)
    r = clean(s.image, FULL, s.alpha)
    assert r.floor_info.found
    floor = (s.floor > 0.5) & (s.alpha == 0)
    out = as_hwc(r.preview)
    assert np.abs(out - s.image)[floor].max() * 255 < 1.0


@pytest.mark.parametrize("name", ["white_seamless", "coloured_paper", "dark_backdrop", "clean_nothing"])
def test_seamless_paper_is_not_mistaken_for_a_floor(get_scene, name):
    s = get_scene(name)
    assert not clean(s.image, FULL, s.alpha).floor_info.found


def test_floor_off_cleans_the_lower_backdrop_too(get_scene):
    """floor: on keeps a real floor as shot; off cleans it like the wall."""
    s = get_scene("grey_wall_wood_floor")
    on = clean(s.image, FULL.replace(floor="on"), s.alpha)
    off = clean(s.image, FULL.replace(floor="off"), s.alpha)
    assert on.floor_info.found and not off.floor_info.found
    assert float(off.mask("floor").max()) == 0.0
    floor = (on.mask("floor").numpy() > 0.5) & (s.alpha == 0)
    changed = {k: (np.abs(as_hwc(r.preview) - s.image).max(-1)[floor] * 255 > 2).mean() for k, r in (("on", on), ("off", off))}
    assert floor.mean() > 0.1 and changed["on"] == 0.0 and changed["off"] > 0.5, changed


@pytest.mark.parametrize("floor", ["auto", "off"])
def test_contact_shadow_is_kept_with_or_without_floor(get_scene, floor):
    s = get_scene("white_seamless")
    r = clean(s.image, FULL.replace(floor=floor), s.alpha)
    c = (s.contact > 0.5) & (s.alpha == 0)
    assert c.any()
    err = np.abs(as_hwc(r.preview) - s.clean).mean(-1)[c].mean() * 255
    assert err <= 1.0


def test_contact_protection_off_lifts_the_contact_shadow(get_scene):
    s = get_scene("white_seamless")
    r = clean(s.image, FULL.replace(protect_contact_shadows=False), s.alpha)
    c = (s.contact > 0.5) & (s.alpha == 0)
    lum = lambda a: a.mean(-1)
    assert lum(as_hwc(r.preview))[c].mean() > lum(s.image)[c].mean() + 2 / 255


def test_wall_falloff_and_vignette_survive(get_scene):
    """The lighting of the clean wall (low frequencies) is not flattened."""
    s = get_scene("clean_nothing")
    out = as_hwc(clean(s.image, FULL, s.alpha).preview)
    wall = s.wall
    sig = min(s.image.shape[:2]) / 20
    lo_in = ndimage.gaussian_filter(s.image.mean(-1), sig)
    lo_out = ndimage.gaussian_filter(out.mean(-1), sig)
    spread_in = np.percentile(lo_in[wall], 95) - np.percentile(lo_in[wall], 5)
    spread_out = np.percentile(lo_out[wall], 95) - np.percentile(lo_out[wall], 5)
    assert spread_in > 0.03  # the scene really has a gradient
    assert abs(spread_out - spread_in) < 0.1 * spread_in


def test_shadow_lift_only_lifts(get_scene):
    s = get_scene("white_seamless")
    r = clean(s.image, FULL, s.alpha)
    y_in, y_out = s.image.mean(-1), as_hwc(r.shadows).mean(-1)
    assert (y_out - y_in).min() > -1.5 / 255
    cast = (s.defects > 0) & s.wall
    assert (y_out - y_in)[cast].mean() > 0


def test_texture_pass_keeps_the_low_frequency_layer(get_scene):
    s = get_scene("white_seamless")
    r = clean(s.image, FULL, s.alpha)
    sig = min(s.image.shape[:2]) / 10
    lo = lambda a: ndimage.gaussian_filter(a.mean(-1), sig)
    # marks are small: the broad light (and the big cast shadow) is left alone by the texture pass
    d = np.abs(lo(as_hwc(r.texture)) - lo(s.image))[s.wall]
    assert np.percentile(d, 99) * 255 < 2.0


def test_paper_grain_is_kept(get_scene):
    s = get_scene("clean_nothing")
    out = as_hwc(clean(s.image, FULL, s.alpha).preview)
    hp = lambda a: a.mean(-1) - ndimage.gaussian_filter(a.mean(-1), 1.5)
    w = s.wall
    assert hp(out)[w].std() > 0.8 * hp(s.image)[w].std()


def test_result_does_not_depend_on_resolution(get_scene):
    small = get_scene("white_seamless", (480, 320))
    big = get_scene("white_seamless", (960, 640))
    rs = clean(small.image, Params(), small.alpha)
    rb = clean(big.image, Params(), big.alpha)
    ps = rs.mask("protect").numpy()
    pb = rb.mask("protect").numpy()
    pb_small = pb.reshape(320, 2, 480, 2).mean((1, 3))
    # the feathered transition has the same width relative to the frame
    assert np.abs(ps - pb_small).mean() < 0.02
    def down(a):
        return a.reshape(320, 2, 480, 2, 3).mean((1, 3))
    gain_s = as_hwc(rs.preview) - small.image
    gain_b = down(as_hwc(rb.preview) - big.image)
    assert np.abs(gain_s - gain_b)[small.wall].mean() * 255 < 1.0


def test_greyscale_stays_greyscale(get_scene):
    s = get_scene("white_seamless")
    grey = s.image.mean(-1, keepdims=True)
    r = clean(grey, FULL, s.alpha)
    assert r.preview.shape == (1, *grey.shape[:2])
    assert np.array_equal(r.preview[0].numpy()[s.alpha >= 1], grey[..., 0][s.alpha >= 1])


def test_uint8_and_uint16_inputs(get_scene):
    s = get_scene("coloured_paper")
    u8 = (s.image * 255 + 0.5).astype(np.uint8)
    u16 = (s.image * 65535 + 0.5).astype(np.uint16)
    a = clean(u8, FULL, s.alpha, views=("preview",)).preview
    b = clean(u16, FULL, s.alpha, views=("preview",)).preview
    # the same photo decoded at two bit depths cleans the same (up to 8-bit quantization)
    assert float((a - b).abs().mean()) * 255 < 0.3


def test_only_requested_views_are_computed(get_scene):
    s = get_scene("coloured_paper")
    r = clean(s.image, FULL, s.alpha, views=("preview",))
    assert r.preview is not None and r.shadows is None and r.texture is None
    with pytest.raises(KeyError):
        r.view("shadows")


def test_masks_come_at_full_resolution(get_scene):
    s = get_scene("grey_wall_wood_floor")
    r = clean(s.image, FULL, s.alpha)
    h, w = s.alpha.shape
    for name in ("subject", "protect", "floor", "contact", "shadow_map", "edit"):
        m = r.mask(name)
        assert m.shape == (h, w) and float(m.min()) >= 0 and float(m.max()) <= 1.0001, name
    assert r.mask("surface").shape == (3, h, w)


def test_mask_of_the_wrong_size_is_a_user_error(get_scene):
    s = get_scene("coloured_paper")
    with pytest.raises(BackdropError, match="mask"):
        clean(s.image, FULL, s.alpha[:-1])


@pytest.mark.parametrize("name", ["white_seamless", "grey_wall_wood_floor", "dark_backdrop"])
def test_reduced_working_resolution_keeps_quality_and_subject(get_scene, name, monkeypatch):
    """Big frames are cleaned at a reduced working resolution plus a full-resolution finest band;
    force that path on a small scene: targets still met, subject still exact, no subject bleed."""
    s = get_scene(name, (960, 640))
    r = clean(s.image, FULL, s.alpha, work_long_edge=480)  # 960x640 -> factor 2
    out = as_hwc(r.preview)
    assert np.array_equal(out[s.alpha >= 1], s.image[s.alpha >= 1])
    subject = s.alpha > 0
    m = metrics(s, out)
    assert m["left"] <= 10.0 and m["bg"] <= 0.5 * metrics(s, s.image)["bg"], m
    # right next to the subject the backdrop is not smeared with the subject's colours
    ring = (ndimage.distance_transform_edt(~subject) <= 3) & ~subject & (s.floor == 0)
    assert np.abs(out - s.clean)[ring].mean() * 255 < 4.0


def test_set_edge_beside_a_dark_backdrop_does_not_glow_into_it(get_scene):
    """A bright set edge / window at the side of a dark backdrop is not backdrop: it is kept as
    shot and the backdrop next to it is not brightened (no glow)."""
    s = get_scene("dark_backdrop")
    img = s.image.copy()
    w = img.shape[1]
    edge = slice(0, w // 12)
    img[:, edge] = 0.97  # a white wall beside the black fabric
    r = clean(img, FULL, s.alpha)
    out = as_hwc(r.preview)
    assert np.abs(out[:, edge] - img[:, edge]).max() * 255 < 1.0
    beside = slice(w // 12 + 2, w // 12 + w // 20)  # the fabric right next to it
    wall = s.wall[:, beside]
    lift = (out[:, beside] - s.clean[:, beside]).mean(-1)[wall].mean() * 255
    assert lift < 2.0, lift


def test_marks_running_into_a_dark_set_edge_are_cleaned_up_to_it(get_scene):
    """The paper ends in frame, the dark studio beyond it: the studio is kept as shot, and a seam's
    shadow that runs into it is cleaned right up to it (a reach grown from the dark studio through
    the darkening beside it kept the seam's first fifth of the frame, ending in a step)."""
    s = get_scene("white_seamless")
    h, w = s.alpha.shape
    img = s.image.copy()
    edge = w // 12
    img[:, :edge] = 0.02
    out = as_hwc(clean(img, FULL, s.alpha).preview)
    assert np.abs(out[:, :edge] - img[:, :edge]).max() * 255 < 1.0
    beside = np.zeros((h, w), bool)
    beside[:, edge + 2: edge + int(0.15 * min(h, w))] = True
    beside &= s.wall & (s.defects > 0)
    assert beside.sum() > 1000  # the seam's shadow runs into it
    err = {k: np.abs(o - s.clean).mean(-1)[beside].mean() * 255 for k, o in (("out", out), ("nothing", img))}
    assert err["out"] < 0.3 * err["nothing"], err


def test_a_dark_object_out_of_focus_is_kept_with_its_soft_edge(get_scene):
    """A dark shelf or flag out of focus: its blurred edge darkens the wall beside it like a
    penumbra. Lifted or smoothed up to the object, it ended in a step there (changed by up to 100
    levels). The rest of the backdrop, its cast shadow and marks, is cleaned as well as without it."""
    s = get_scene("white_seamless")
    h, w = s.alpha.shape
    shelf = np.zeros((h, w), np.float32)
    shelf[int(0.1 * h):int(0.25 * h), : w // 4] = 1.0
    shelf = ndimage.gaussian_filter(shelf, 0.03 * min(h, w))  # out of focus
    img = (s.image * (1.0 - 0.9 * shelf[..., None])).astype(np.float32)
    out = as_hwc(clean(img, FULL, s.alpha).preview)
    assert (np.abs(out - img).max(-1) * 255)[shelf > 0.005].max() < 1.0
    away = s.wall & (ndimage.distance_transform_edt(shelf < 0.005) > 0.15 * min(h, w))
    alone = as_hwc(clean(s.image, FULL, s.alpha).preview)
    err = {k: np.abs(o - s.clean).mean(-1)[away].mean() * 255 for k, o in (("shelf", out), ("alone", alone))}
    assert err["shelf"] <= 1.05 * err["alone"] + 0.05, err


def test_a_windows_glow_on_a_dark_backdrop_is_kept(get_scene):
    """A bright window or lamp out of focus beside black cloth: its glow is kept as shot, not
    darkened to the cloth up to the window's edge (a dark ring around it, up to 77 levels)."""
    s = get_scene("dark_backdrop")
    h, w = s.alpha.shape
    win = np.zeros((h, w), np.float32)
    win[int(0.1 * h):int(0.3 * h), : w // 5] = 1.0
    win = ndimage.gaussian_filter(win, 0.03 * min(h, w))
    img = (s.image + win[..., None] * (0.95 - s.image)).astype(np.float32)
    out = as_hwc(clean(img, FULL, s.alpha).preview)
    assert (np.abs(out - img).max(-1) * 255)[win > 0.02].max() < 1.0


def test_a_dark_stand_on_white_paper_is_kept(get_scene):
    s = get_scene("clean_nothing")
    img = s.image.copy()
    h, w = s.alpha.shape
    pole = (slice(h // 10, h - h // 10), slice(w // 20, w // 20 + w // 40))
    img[pole] = 0.08
    r = clean(img, FULL, s.alpha)
    out = as_hwc(r.preview)
    assert np.abs(out[pole] - img[pole]).max() * 255 < 1.0
    assert float(r.mask("foreign").max()) > 0.9
