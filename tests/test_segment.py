"""Segmentation: the embedded offline model, refinement against the backdrop, the mask cache."""
import numpy as np
import pytest

from backdrop import BackdropError, Params, clean
from backdrop.segment import cache, get_segmenter, segment
from backdrop.segment.embedded import Embedded


def test_embedded_model_ships_with_the_package_and_runs_offline(get_scene):
    s = get_scene("coloured_paper")
    m = get_segmenter("embedded")(s.image)
    assert m.shape == s.alpha.shape and m.dtype == np.float32
    assert 0.0 <= float(m.min()) and float(m.max()) <= 1.0


@pytest.mark.parametrize("name", ["white_seamless", "coloured_paper", "dark_backdrop"])
def test_embedded_mask_covers_the_solid_subject(get_scene, name):
    """What protects the subject: the body (alpha = 1) is inside the mask, so the cleanup
    leaves it exactly as shot."""
    s = get_scene(name)
    m, used = segment(s.image, "embedded", use_cache=False)
    assert used == "embedded"
    body = s.alpha >= 1.0
    assert (m[body] > 0).mean() > 0.97
    out = clean(s.image, Params(lift=100, texture=100), m, views=("preview",)).preview.permute(1, 2, 0).numpy()
    covered = body & (m > 0)
    assert np.array_equal(out[covered], s.image[covered])


def test_refinement_fills_holes_and_drops_islands(get_scene):
    from backdrop.segment.refine import refine_mask

    s = get_scene("clean_nothing")
    coarse = (s.alpha > 0.5).astype(np.float32)
    h, w = coarse.shape
    ys, xs = np.nonzero(coarse)
    cy, cx = int(ys.mean()), int(xs.mean())
    coarse[cy - 3: cy + 3, cx - 3: cx + 3] = 0  # a hole in the body
    coarse[10:14, 10:14] = 1  # a speck of "subject" on the clean backdrop
    m = refine_mask(s.image, coarse)
    assert m[cy, cx] > 0.5
    assert m[8:16, 8:16].max() == 0


def test_masks_are_cached_per_image_and_backend(get_scene, monkeypatch, tmp_path):
    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path))
    calls = []
    real = Embedded.__call__

    def counting(self, image):
        calls.append(1)
        return real(self, image)

    monkeypatch.setattr(Embedded, "__call__", counting)
    s = get_scene("coloured_paper")
    a, _ = segment(s.image, "embedded")
    b, _ = segment(s.image, "embedded")  # a slider move, a re-run: no second segmentation
    assert len(calls) == 1
    assert np.abs(a - b).max() <= 1 / 65535 and ((a > 0) == (b > 0)).all()
    other = s.image.copy()
    other[0, 0] = 0.5
    segment(other, "embedded")  # other pixels: segmented again
    assert len(calls) == 2
    assert cache.clear() == 2
    segment(s.image, "embedded")
    assert len(calls) == 3


def test_cache_can_be_disabled(get_scene, monkeypatch, tmp_path):
    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("BACKDROP_NO_CACHE", "1")
    s = get_scene("coloured_paper")
    segment(s.image, "embedded")
    assert not list(tmp_path.glob("*.png"))


def test_auto_uses_the_embedded_model_here(get_scene):
    s = get_scene("coloured_paper")
    _, used = segment(s.image, "auto", use_cache=False)
    assert used == "embedded"


def test_unknown_segmenter_is_named():
    with pytest.raises(BackdropError, match="segmenter"):
        Params(segmenter="magic")
    with pytest.raises(BackdropError, match="magic"):
        get_segmenter("magic")


def test_cache_clear_from_the_command_line(get_scene, monkeypatch, tmp_path, capsys):
    from backdrop.cli import main

    monkeypatch.setenv("BACKDROP_CACHE_DIR", str(tmp_path))
    s = get_scene("coloured_paper")
    segment(s.image, "embedded")
    assert main(["cache", "path"]) == 0 and str(tmp_path) in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0 and "removed 1" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))
