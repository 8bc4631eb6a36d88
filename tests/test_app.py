"""The Gradio app, driven through gradio_client the way a script or a second page would.

One app is started for the module on a free local port. Every test talks to it over
HTTP: upload, sliders, the four views, the full-resolution download, presets, errors,
and two sessions side by side.
"""
import os
import re
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import served_app
import yaml
from PIL import Image, ImageCms

gradio = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

ROOT = Path(__file__).resolve().parents[1]
# gradio 6.31 queueing calls deprecated pandas options: not ours
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")
SAMPLE = ROOT / "samples" / "studio_grey_wall_wood_floor.jpg"  # 1800x1200: previews are 1500x1000
MAX_FILE = "3mb"  # upload limit of the test app (the real default is 200 MB)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gradio")
    with served_app(tmp, max_file_size=MAX_FILE) as (url, app_gradio):
        yield url, app_gradio, tmp


def _client(app, name):
    from gradio_client import Client

    url, _, tmp = app
    return Client(url, verbose=False, download_files=str(tmp / f"client-{name}"))


def _rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


def _icc_srgb() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def tiff16(tmp_path_factory, app):
    """A 16-bit TIFF portrait (480x320) with an ICC profile and EXIF, and its subject mask."""
    from backdrop import Photo, write_image
    from bench.scenes import make_scene

    s = make_scene("white_seamless", size=(480, 320), seed=0)
    folder = tmp_path_factory.mktemp("photos")
    exif = Image.Exif()
    exif[271], exif[272] = "TestCam", "Studio 1"
    like = Photo(None, s.image, None, 16, "TIFF", _icc_srgb(), exif.tobytes())
    photo = write_image(folder / "portrait.tif", s.image, like=like)
    mask = folder / "portrait_mask.png"
    Image.fromarray((s.alpha > 0).astype(np.uint8) * 255).save(mask)
    return photo, mask, s


def test_upload_sliders_four_views_and_full_resolution_download(app, tiff16):
    from backdrop import read_image
    from gradio_client import handle_file

    photo_path, mask_path, s = tiff16
    c = _client(app, "main")
    *views, status, mask_out, photo_box = c.predict(handle_file(str(photo_path)), api_name="/upload")
    assert len(views) == 4 and all(Path(v).is_file() for v in views)
    assert "portrait.tif" in status and "16-bit TIFF" in status and "ICC" in status and "EXIF" in status
    orig = _rgb(views[0])
    assert orig.shape == (320, 480, 3)
    assert np.abs(orig - s.image * 255).mean() < 2.0  # the Original tab shows the photo

    # the true subject mask replaces the segmenter's
    *views, status, _ = c.predict(handle_file(str(mask_path)), api_name="/set_mask")
    assert "portrait_mask.png" in status
    backdrop = (s.alpha == 0) & (s.defects > 0.02)  # the marks and shadows on the backdrop

    *off, _ = c.predict(lift=0, texture=0, api_name="/update")
    *full, _ = c.predict(lift=100, texture=100, api_name="/update")
    # a slider move does not send the Original again: the page keeps the one it has
    assert not isinstance(off[0], str) and not isinstance(full[0], str)
    orig, off_prev, full_prev = _rgb(views[0]), _rgb(off[3]), _rgb(full[3])
    assert np.abs(off_prev - orig)[backdrop].mean() < 1.0  # sliders at 0: nothing changes
    assert np.abs(full_prev - orig)[backdrop].mean() > 4.0  # at 100 the marks go
    assert np.abs(full_prev - s.clean * 255)[backdrop].mean() < np.abs(orig - s.clean * 255)[backdrop].mean() / 2
    shadows, texture = _rgb(full[1]), _rgb(full[2])  # each alone differs from both together
    assert np.abs(shadows - full_prev).mean() > 0.1 and np.abs(texture - full_prev).mean() > 0.1

    out, status = c.predict(lift=100, texture=100, api_name="/download")
    out = out["value"]
    assert Path(out).name == "portrait_clean.tif" and "portrait_clean.tif" in status
    got, src = read_image(out), read_image(photo_path)
    assert got.size == src.size == (480, 320) and got.bit_depth == 16 and got.format == "TIFF"
    assert got.icc_profile == src.icc_profile
    exif = Image.Exif()
    exif.load(got.exif)
    assert exif[271] == "TestCam" and exif[272] == "Studio 1"
    subject = s.alpha > 0
    assert np.array_equal(got.pixels[subject], src.pixels[subject])  # 16-bit subject pixels kept exactly
    assert np.abs(got.pixels - s.clean)[backdrop].mean() < np.abs(src.pixels - s.clean)[backdrop].mean() / 2


def test_preview_is_downscaled_and_the_overlay_marks_subject_and_floor(app):
    from gradio_client import handle_file

    c = _client(app, "sample")
    *views, status, _, _ = c.predict(handle_file(str(SAMPLE)), api_name="/upload")
    assert "1800×1200" in status and "preview 1500×1000" in status
    assert all(_rgb(v).shape == (1000, 1500, 3) for v in views)
    *tinted, _ = c.predict(True, api_name="/overlay")
    plain, over = _rgb(views[3]), _rgb(tinted[3])
    changed = np.abs(over - plain).max(axis=2) > 20
    assert 0.03 < changed.mean() < 0.9  # subject and floor tinted, the wall not
    assert "floor: found" in status
    bottom, top = changed[-80:].mean(), changed[:80].mean()  # the wooden floor is at the bottom
    assert bottom > 0.9 and top < 0.1


def _kept(value) -> bool:
    """An output the handler left as the page shows it (gr.skip())."""
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1


def test_a_bad_photo_leaves_the_page_as_it_was_with_a_one_line_message(app, tiff16, tmp_path):
    """A broken, empty, renamed or too-large photo: no error pills, the previous photo's previews
    stay, the status says what was wrong in one line (the app's limits in its own words), and
    the drop box is emptied so the next photo can be dropped."""
    from gradio_client import handle_file

    c = _client(app, "errors")
    c.predict(handle_file(str(tiff16[0])), api_name="/upload")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(SAMPLE.read_bytes()[:5000])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all\n")
    huge = tmp_path / "huge.png"  # 120 MP of black: a small file over the pixel limit
    Image.new("1", (12000, 10000)).save(huge)
    for bad, said in [(broken, r"broken\.jpg: .*(truncated|corrupt)"), (empty, r"empty\.png: empty file"),
                      (text, r"notes\.jpg: not a JPEG, PNG, TIFF or WebP"),
                      (huge, r"huge\.png: .*120\.0 MP\S*, over the app's 100 MP limit")]:
        *views, status, mask_box, photo_box = c.predict(handle_file(str(bad)), api_name="/upload")
        assert all(_kept(v) for v in views)  # the previews of portrait.tif stay in the page
        assert status.startswith("⚠") and re.search(said, status.replace("\\", "")), status
        assert "\n" not in status and "/tmp" not in status and "max_pixels" not in status
        assert "still showing portrait.tif" in status
        assert photo_box is None and _kept(mask_box)  # the drop box is free again

    big = tmp_path / "big.jpg"  # over the upload size limit: Gradio itself refuses the upload
    big.write_bytes(b"\xff\xd8\xff" + os.urandom(4_000_000))
    with pytest.raises(Exception, match=r"(?i)(size|large|limit)"):
        c.predict(handle_file(str(big)), api_name="/upload")

    *views, status, _, _ = c.predict(handle_file(str(tiff16[0])), api_name="/upload")  # still answers
    assert Path(views[3]).is_file() and "portrait.tif" in status and "⚠" not in status


def test_a_bad_preset_keeps_the_controls_and_names_every_bad_key(app, tmp_path):
    from gradio_client import handle_file

    c = _client(app, "bad-preset")
    c.predict(handle_file(str(SAMPLE)), api_name="/upload")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lift: 700\nshadow: 3\nfloor: maybe\n")
    *knobs, o, sh, t, pv, status = c.predict(handle_file(str(bad)), api_name="/load_preset")
    assert len(knobs) == 9 and all(_kept(k) for k in knobs)  # every control keeps its value
    assert all(_kept(v) for v in (o, sh, t, pv))
    plain = status.replace("\\", "")
    assert plain.startswith("⚠ **bad.yaml: ") and "\n" not in status
    for said in ("unknown parameter 'shadow'", "'lift': 700 is outside 0..100", "'maybe' is not one of"):
        assert said in plain
    # a good preset afterwards sets the controls and cleans the preview with them
    good = tmp_path / "good.yaml"
    good.write_text("lift: 20\ntexture: 10\n")
    *knobs, o, sh, t, pv, status = c.predict(handle_file(str(good)), api_name="/load_preset")
    assert knobs[:2] == [20, 10] and Path(pv).is_file() and "updated" in status


def test_preset_save_and_load_use_the_params_file_format(app, tmp_path):
    from backdrop import Params
    from gradio_client import handle_file

    c = _client(app, "presets")
    path = c.predict(lift=35, texture=80, floor="off", protect_contact_shadows=False, feather=0.05, api_name="/save_preset")[0]["value"]
    saved = Params.load(path)
    assert saved == Params(lift=35, texture=80, floor="off", protect_contact_shadows=False, feather=0.05)
    default_keys = list(yaml.safe_load((ROOT / "params" / "default.yaml").read_text()))
    assert list(yaml.safe_load(Path(path).read_text())) == default_keys

    mine = tmp_path / "shoot.yaml"
    Params(lift=12, texture=90, grain=40, floor="on", folds="smooth", jpeg_quality=80, segmenter="embedded",
           tone=250).save(mine)
    knobs = c.predict(handle_file(str(mine)), api_name="/load_preset")[:9]
    assert list(knobs) == [12, 90, "250", 40, 0.02, "on", "smooth", True, "embedded"]
    # knobs the page has no control for (jpeg_quality) stay in the session
    again = Params.load(c.predict(*knobs, api_name="/save_preset")[0]["value"])
    assert again == Params.load(mine)


def test_two_sessions_keep_separate_photos_and_settings(app, tiff16):
    from gradio_client import handle_file

    a, b = _client(app, "a"), _client(app, "b")
    *va, _, _, _ = a.predict(handle_file(str(tiff16[0])), lift=0, texture=0, api_name="/upload")
    *vb, _, _, _ = b.predict(handle_file(str(SAMPLE)), api_name="/upload")
    assert _rgb(va[0]).shape == (320, 480, 3) and _rgb(vb[0]).shape == (1000, 1500, 3)
    with ThreadPoolExecutor(2) as pool:  # at the same time
        ja = pool.submit(a.predict, lift=5, texture=0, api_name="/update")
        jb = pool.submit(b.predict, lift=95, texture=60, api_name="/update")
        ra, rb = ja.result(), jb.result()
    assert _rgb(ra[3]).shape == (320, 480, 3) and "portrait.tif" in ra[4]
    assert _rgb(rb[3]).shape == (1000, 1500, 3) and SAMPLE.name in rb[4]
    pa = yaml.safe_load(Path(a.predict(lift=5, texture=0, api_name="/save_preset")[0]["value"]).read_text())
    pb = yaml.safe_load(Path(b.predict(lift=95, texture=60, api_name="/save_preset")[0]["value"]).read_text())
    assert (pa["lift"], pa["texture"]) == (5, 0) and (pb["lift"], pb["texture"]) == (95, 60)
    out_a = a.predict(api_name="/download")[0]["value"]
    assert Path(out_a).name == "portrait_clean.tif"


def test_named_clean_endpoint_returns_the_full_resolution_file(app, tiff16, tmp_path):
    from backdrop import Params, read_image
    from gradio_client import handle_file

    c = _client(app, "api")
    preset = tmp_path / "p.yaml"
    Params(floor="off").save(preset)
    out = c.predict(handle_file(str(tiff16[0])), 100, 100, handle_file(str(preset)), api_name="/clean")
    got = read_image(out)
    assert Path(out).name == "portrait_clean.tif" and got.size == (480, 320) and got.bit_depth == 16
    assert not np.array_equal(got.pixels, read_image(tiff16[0]).pixels)


def test_command_line_and_environment_choose_host_port_and_share(app):
    opts = app[1].launch_options
    o = opts([], {})
    assert (o["server_name"], o["server_port"], o["share"]) == ("127.0.0.1", 7860, False)
    o = opts([], {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7000"})
    assert (o["server_name"], o["server_port"], o["share"]) == ("0.0.0.0", 7000, False)
    o = opts(["--host", "10.0.0.2", "--port", "8080", "--share"], {"GRADIO_SERVER_NAME": "0.0.0.0"})
    assert (o["server_name"], o["server_port"], o["share"]) == ("10.0.0.2", 8080, True)
    assert opts([], {"BACKDROP_SHARE": "1"})["share"] is True


def test_space_requirements_follow_pyproject():
    """The Hugging Face Space installs requirements.txt (gradio itself comes from the README's
    sdk_version): CPU torch and the package's dependencies."""
    reqs = [r.strip() for r in (ROOT / "requirements.txt").read_text().splitlines()
            if r.strip() and not r.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in reqs
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(r for r in reqs if not r.startswith("-")) == sorted(project["dependencies"])
    assert any(r.startswith("gradio") for r in project["optional-dependencies"]["app"])


def test_a_slider_move_only_renders_and_a_feather_change_analyses_again(app, monkeypatch):
    """The page keeps the photo's analysis: a lift move neither segments nor analyses again (the
    Original is not even sent again), a feather change analyses once more and the preview follows."""
    from gradio_client import handle_file

    from backdrop.app import photo as ag  # the photo workflow: where the page segments and analyses

    calls = {"segment": 0, "analyze": 0}

    def counting(name, real):
        def inner(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return inner

    monkeypatch.setattr(ag, "subject_mask", counting("segment", ag.subject_mask))
    monkeypatch.setattr(ag, "analyze", counting("analyze", ag.analyze))
    c = _client(app, "stages")
    *views, _, _, _ = c.predict(handle_file(str(SAMPLE)), api_name="/upload")
    assert calls == {"segment": 1, "analyze": 1}
    *moved, _ = c.predict(lift=100, texture=90, api_name="/update")
    assert calls == {"segment": 1, "analyze": 1}
    assert not isinstance(moved[0], str)  # the Original stays as it is in the page
    assert np.abs(_rgb(moved[3]) - _rgb(views[3])).mean() > 0.5  # the preview did change
    *wide, _ = c.predict(lift=100, texture=90, feather=0.15, api_name="/update")
    assert calls == {"segment": 1, "analyze": 2}
    assert np.abs(_rgb(wide[3]) - _rgb(moved[3])).max() > 20  # a wider feather: the edge changes


def test_an_active_session_outlives_the_idle_sweep(app):
    """Two hours after an upload, a visitor still moving sliders keeps their files: the sweep that a
    later upload runs removes idle sessions only."""
    from backdrop import Params
    from backdrop.app import photo as ag
    from backdrop.app.session import SESSION_TTL, _sweep, new_session

    s = new_session()
    ag.load_photo(s, SAMPLE, None, Params())
    ag.render_preview(s, Params())
    ag.show(s, False)
    three_hours_ago = time.time() - 3 * 3600
    os.utime(s.folder, (three_hours_ago, three_hours_ago))
    ag.render_preview(s, Params(lift=90))  # a slider move
    ag.show(s, False, original=False)
    _sweep("session-", older_than=SESSION_TTL)  # what the next visitor's upload runs
    assert s.source.is_file() and all(p.is_file() for p in s.shown.values())
    os.utime(s.folder, (three_hours_ago, three_hours_ago))  # and one really idle is swept
    _sweep("session-", older_than=SESSION_TTL)
    assert not s.folder.exists()
    s.close()


def test_birefnet_on_a_cpu_says_in_the_status_what_a_photo_costs(app, monkeypatch, tmp_path):
    """Asked for by name on a machine without a GPU, BiRefNet runs (tens of seconds a photo with the
    real model) and the status line says how long this photo's mask took."""
    pytest.importorskip("transformers")
    import backdrop.segment as segment_mod
    from gradio_client import handle_file
    from test_birefnet import make_standin

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("BACKDROP_BIREFNET", str(make_standin(tmp_path / "model")))
    monkeypatch.setattr(segment_mod, "_SLOW_SAID", set())
    c = _client(app, "birefnet-cpu")
    *_, status, _, _ = c.predict(handle_file(str(SAMPLE)), api_name="/upload")  # segmenter auto: embedded here
    assert "subject: embedded" in status and "⚠" not in status
    *views, status = c.predict(segmenter="birefnet", api_name="/update")
    assert "subject: birefnet" in status and Path(views[3]).is_file()
    note = status.split("\n")[-1]
    assert note.startswith("⚠ segmenter 'birefnet' runs on the CPU here: ") and "for every photo" in note
