"""Clean Backdrop in the browser: the Gradio page over the engine (``app_gradio.py`` runs it).

* ``session``: one visitor's state (``gr.State``), its folder and the idle sweep, the one engine
  thread, the page's limits.
* ``photo``: the photo workflow: upload, subject mask, the preview's analysis and render, the views
  and the status line.
* ``handlers``: the page's events; a user's mistake is one line on the status, never an error pill.
* ``layout``: the page, its controls made from the KNOBS table.
"""
from .layout import build_demo

__all__ = ["build_demo"]
