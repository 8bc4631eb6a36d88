"""The Gradio page in a real browser: Debian's headless Chromium driven by Playwright.

It loads the page, uploads a bundled sample, moves the shadow-lift slider, waits for
the Preview tab to change, picks a sample from the examples (with its subject mask),
downloads the full-resolution file and saves a screenshot. Without /usr/bin/chromium (a
developer's machine) it skips with the reason; with BACKDROP_REQUIRE_BROWSER=1 (CI)
it fails instead. BACKDROP_SCREENSHOT=PATH keeps the screenshot there
(``make screenshot`` refreshes docs/screenshot-app.png).
"""
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import served_app
from PIL import Image

pytest.importorskip("gradio")

ROOT = Path(__file__).resolve().parents[1]
# gradio 6.31 queueing calls deprecated pandas options: not ours
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SAMPLE = ROOT / "samples" / "studio_white_seamless.jpg"


def _need_browser():
    missing = None
    if not CHROMIUM.is_file():
        missing = "Debian's chromium is not installed (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright Python package is not installed"
    if missing:
        if os.environ.get("BACKDROP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (BACKDROP_REQUIRE_BROWSER=1) but {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    _need_browser()
    tmp = tmp_path_factory.mktemp("gradio-browser")
    with served_app(tmp) as (local_url, _):
        yield local_url


def _preview_src(page) -> str | None:
    img = page.locator("#view-preview img")
    return img.first.get_attribute("src") if img.count() else None


def test_page_upload_slider_preview_changes_and_screenshot(url, tmp_path):
    from backdrop.app.session import session_root
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.locator("#photo input[type=file]").set_input_files(str(SAMPLE))
            page.wait_for_selector("#view-preview img", timeout=60_000)
            page.wait_for_function(
                "() => document.querySelector('#status')?.innerText.includes('updated')", timeout=60_000)
            first = _preview_src(page)
            lifted = np.asarray(Image.open(_fetch(page, first)))  # at the default lift (70)

            # drag the shadow lift from 70 to 100: pointer up on the range is the slider's release
            rng = page.locator("#lift input[type=range]")
            box = rng.bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] * 0.7, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] + 20, y, steps=5)
            page.mouse.up()
            page.wait_for_function(
                "(old) => { const i = document.querySelector('#view-preview img');"
                " return i && i.getAttribute('src') !== old && i.complete && i.naturalWidth > 0; }",
                arg=first, timeout=60_000)
            assert float(page.locator("#lift input[type=number]").input_value()) == 100.0
            assert "studio_white_seamless.jpg" in page.locator("#status").inner_text()

            # at 100 the cast shadow is lifted further: a region of the wall got brighter
            full = np.asarray(Image.open(_fetch(page, _preview_src(page))), dtype=np.float32)
            assert lifted.shape == full.shape == (1000, 1500, 3)
            brighter = (full - lifted).mean(axis=2) > 4
            assert brighter.mean() > 0.01 and ((lifted - full).mean(axis=2) > 4).mean() < 0.002

            # a bundled sample picked from the examples comes with its own subject mask
            before = _preview_src(page)
            page.get_by_text("studio_white_seamless_mask.png").first.click()
            page.wait_for_function(
                "() => document.querySelector('#status')?.innerText.includes('subject: studio_white_seamless_mask.png')",
                timeout=60_000)
            page.wait_for_function(
                "(old) => { const i = document.querySelector('#view-preview img');"
                " return i && i.getAttribute('src') !== old && i.complete && i.naturalWidth > 0; }",
                arg=before, timeout=60_000)

            # one click on the button and the browser saves the full-resolution file, NAME_clean.EXT
            with page.expect_download(timeout=60_000) as saved:
                page.locator("#download").click()
            assert saved.value.suggested_filename == "studio_white_seamless_clean.jpg"
            full_res = Image.open(saved.value.path())
            assert full_res.size == (1800, 1200) and full_res.format == "JPEG"
            assert page.locator("#full-file a[href*='studio_white_seamless_clean.jpg']").count()

            # a bad preset: the controls keep their values, one line names every bad key, no pills
            preset = tmp_path / "bad.yaml"
            preset.write_text("lift: 300\nshadows: 2\n")
            with page.expect_file_chooser() as chooser:
                page.locator("#load-preset").click()
            chooser.value.set_files(str(preset))
            page.wait_for_function(
                "() => document.querySelector('#status')?.innerText.startsWith('⚠')", timeout=60_000)
            said = page.locator("#status").inner_text()
            assert "bad.yaml: unknown parameter 'shadows'" in said and "'lift': 300" in said
            assert float(page.locator("#lift input[type=number]").input_value()) == 100.0
            assert page.get_by_text("Error", exact=True).count() == 0

            # a bad photo: a one-line message, no pills, and the drop box is free for the next one
            page.locator("#photo").get_by_role("button", name="Clear").first.click()
            page.wait_for_function(
                "() => document.querySelector('#status')?.innerText.startsWith('Upload a photo')", timeout=60_000)
            broken = tmp_path / "broken.jpg"
            broken.write_bytes(SAMPLE.read_bytes()[:4000])
            page.locator("#photo input[type=file]").set_input_files(str(broken))
            page.wait_for_function(
                "() => document.querySelector('#status')?.innerText.startsWith('⚠')", timeout=60_000)
            assert "broken.jpg: " in page.locator("#status").inner_text()
            assert page.get_by_text("Error", exact=True).count() == 0
            page.locator("#photo input[type=file]").set_input_files(str(SAMPLE))  # no clearing needed
            page.wait_for_function(
                "() => document.querySelector('#status')?.innerText.includes('updated')", timeout=60_000)

            shot = tmp_path / "screenshot-app.png"
            page.screenshot(path=str(shot), full_page=True)
            sessions = list(session_root().glob("session-*"))
            assert sessions  # the page's session keeps its files in a folder of its own ...
            page.close(run_before_unload=True)
        finally:
            browser.close()
    deadline = time.monotonic() + 20  # ... removed once the page is gone
    while any(p.exists() for p in sessions) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(p.exists() for p in sessions)
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("BACKDROP_SCREENSHOT")
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, keep)


def _fetch(page, src: str):
    import io

    return io.BytesIO(page.context.request.get(src).body())
