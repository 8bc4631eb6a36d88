"""Screenshot of notebooks/tune.ipynb running in JupyterLab, in a real (headless) browser.

Starts JupyterLab on a free port with a token on a temporary copy of notebooks/ (so the
committed notebooks never get outputs), opens tune.ipynb in Debian's chromium through
Playwright, runs every cell, waits for the sliders and the two figures to render, and saves
the page. Needs the notebooks extra and the ``backdrop`` kernel (``make screenshot-lab``).

Run: python docs/screenshot_lab.py [docs/screenshot-tune.png]
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LIFT = "90"  # the lift the screenshot shows, set through the slider
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
# JupyterLab settings for the run: no news or update checks, no autosave
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

# the notebook's kernel is started and has nothing to run
IDLE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"screenshot: JupyterLab did not answer at {url} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else ROOT / "docs" / "screenshot-tune.png"
    if not Path(CHROMIUM).exists():
        print(f"screenshot: {CHROMIUM} not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="backdrop-lab-"))
    work = tmp / "notebooks"
    work.mkdir()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, work / nb.name)
    settings = tmp / "settings"
    for name, value in SETTINGS.items():
        f = settings / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "ws"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    log = open(tmp / "lab.log", "w")
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        try:
            _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", 90)
        except SystemExit:
            log.flush()
            print((tmp / "lab.log").read_text()[-3000:], file=sys.stderr)
            raise
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1240}, device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{port}/lab/tree/tune.ipynb?reset&token={token}")
            page.wait_for_function("window.jupyterapp !== undefined", timeout=120_000)
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            page.wait_for_function(IDLE, timeout=120_000)
            page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_selector(".widget-slider", timeout=180_000)
            page.wait_for_function("document.querySelectorAll('.widget-output img').length >= 2", timeout=180_000)
            page.wait_for_function(IDLE, timeout=180_000)
            # move the lift slider as a user would (type into its readout): one redraw
            status = page.locator(".widget-html-content", has_text="redrawn in")
            first = status.inner_text()
            readout = page.locator(".widget-slider", has_text="lift").locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(LIFT)
            page.keyboard.press("Enter")
            page.wait_for_function(
                "t => [...document.querySelectorAll('.widget-html-content')].some("
                "e => e.innerText.startsWith('redrawn in') && e.innerText !== t)", arg=first, timeout=60_000)
            page.wait_for_function(IDLE, timeout=60_000)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            # the panel at the top of the window: scroll the notebook to the sliders
            page.evaluate("document.querySelector('.widget-vbox').scrollIntoView({block: 'start'})")
            page.evaluate("document.querySelector('.jp-WindowedPanel-outer, .jp-Notebook').scrollBy(0, -60)")
            page.wait_for_timeout(1500)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
