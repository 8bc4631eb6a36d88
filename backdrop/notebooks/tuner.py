"""The tuning panel of tune.ipynb (ipywidgets), its sliders made from the KNOBS table."""
from __future__ import annotations

import base64
import contextlib
import math
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import BackdropError
from ..ops.filters import area_resize
from ..params import KNOB, TONE_PRESETS, Knob, Params
from .figures import analysis_figure, figure_png, views_figure
from .paths import resolve_path, sample_image

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Analysis, Result


# ---------------------------------------------------------------------------------------- tune
TUNER_KNOBS = ("lift", "texture", "feather", "floor", "tone", "folds")  # the Tuner's controls, made from their KNOBS rows


def _widget(knob: Knob, value):
    """An ipywidgets control for a knob, from its row in KNOBS (range, step, label)."""
    import ipywidgets as w

    style = {"description_width": "70px"}
    if knob.word_or_number:  # a word, or a number typed in (tone: keep, match, 250)
        offered = [*knob.choices, *(str(v) for v in TONE_PRESETS)] if knob.name == "tone" else list(knob.choices)
        return w.Combobox(value=str(value), options=offered, ensure_option=False, description=knob.name,
                          placeholder=f"{' / '.join(knob.choices)} or {knob.low:g}-{knob.high:g}",
                          tooltip=knob.help, continuous_update=False, style=style)
    if knob.choices:
        return w.ToggleButtons(options=list(knob.choices), value=value, description=knob.name,
                               tooltip=knob.help, style={**style, "button_width": "60px"})
    if knob.type is bool:
        return w.Checkbox(value=value, description=knob.label or knob.name, tooltip=knob.help)
    digits = max(0, -math.floor(math.log10(knob.step))) if knob.step < 1 else 0
    return w.FloatSlider(value=value, min=knob.low, max=knob.high, step=knob.step, description=knob.name,
                         tooltip=knob.help, continuous_update=False, style=style,
                         layout=w.Layout(width="420px"), readout_format=f".{digits}f")


class Tuner:
    """The tuning panel of ``tune.ipynb``: sliders for lift, texture and feather, the floor mode, the tone, folds,
    the four views and the analysis figure, and a button that saves ``params/<name>.yaml``.

    The photo is shrunk to ``long_edge`` pixels so a slider move redraws in well under a second;
    sizes in a parameter set are fractions of the short edge, so what is tuned here applies
    unchanged to the full-size frames.

    Args:
        image: the photo (default: the bundled white-seamless sample).
        params: starting settings (default: ``params_file``, else the defaults).
        long_edge: preview size in pixels.
        params_dir: where Save writes ``<name>.yaml`` (default: the current folder, which in
            JupyterLab is the notebook's own; never the installed package's ``params/``).
        threads: torch threads for a redraw (``None``: torch's own choice). A preview is small,
            and on a busy machine several threads wait on each other: on the project's shared
            2-core machine a redraw took about 1 s on one thread and 4-5 s on two
            (``bench/tune_speed.py``).
    """

    def __init__(
        self,
        image: str | os.PathLike[str] | None = None,
        *,
        params: Params | None = None,
        params_file: str | os.PathLike[str] | None = None,
        long_edge: int = 768,
        params_dir: str | os.PathLike[str] | None = None,
        threads: int | None = 1,
    ) -> None:
        import ipywidgets as w

        from ..io import as_coverage, read_image
        from ..service import subject_mask

        if long_edge < 64:
            raise ValueError(f"long_edge: expected at least 64 pixels, got {long_edge}")
        if params is None:
            params = Params.load(resolve_path(params_file)) if params_file else Params()
        path = sample_image() if not image else resolve_path(image)
        if not path.exists():
            raise BackdropError(f"{image}: image file not found")
        photo = read_image(path)
        mask, self.segmenter = subject_mask(photo, params, source=path)
        x = torch.from_numpy(np.ascontiguousarray(photo.pixels)).permute(2, 0, 1)
        m = torch.from_numpy(as_coverage(mask))
        H, W = x.shape[-2:]
        s = min(1.0, long_edge / max(H, W))
        size = (max(1, round(H * s)), max(1, round(W * s)))
        self.path = path
        self.image = area_resize(x[None].float(), size)[0].contiguous()
        self.mask = area_resize(m[None, None], size)[0, 0].contiguous()
        self.params = params
        self.params_dir = Path(params_dir) if params_dir else Path.cwd()
        self.analysis: Analysis | None = None  # what the sliders do not change: a lift move only renders
        self.result: Result | None = None
        self.seconds = {"engine": 0.0, "draw": 0.0}
        self.threads = threads
        self._figures: tuple[Any, Any] = (None, None)

        style = {"description_width": "70px"}
        self.controls = {name: _widget(KNOB[name], getattr(params, name)) for name in TUNER_KNOBS}
        self.lift, self.texture, self.feather, self.floor, self.tone, self.folds = (self.controls[n] for n in TUNER_KNOBS)
        self.name = w.Text(value="my_shoot", description="save as", style=style, layout=w.Layout(width="260px"))
        self.save_button = w.Button(description="Save settings", icon="save", button_style="primary")
        self.status = w.HTML()
        self.views_out = w.Output()
        self.analysis_out = w.Output()
        for c in self.controls.values():
            c.observe(lambda _change: self.update(), names="value")
        self.save_button.on_click(lambda _b: self._save_clicked())
        info = w.HTML(
            f"<b>{path.name}</b> &nbsp; {W}x{H}, previewed at {size[1]}x{size[0]}; subject: {self.segmenter}"
        )
        self.widget = w.VBox([
            info,
            w.HBox([w.VBox([self.lift, self.texture]), w.VBox([self.feather, self.floor]), w.VBox([self.tone, self.folds])]),
            w.HBox([self.name, self.save_button, self.status]),
            self.views_out,
            self.analysis_out,
        ])
        self.update()

    @property
    def current(self) -> Params:
        """The settings as the sliders have them."""
        return self.params.replace(**{name: c.value for name, c in self.controls.items()})

    def update(self) -> None:
        """Clean the preview with the current settings and redraw the figures. The photo is analysed
        again only when the feather or the floor mode moved; a lift or texture move only renders."""
        import html

        from ..pipeline import analyze, render

        try:
            params = self.current
        except BackdropError as err:  # a tone typed that is neither a word nor a level
            self.status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            return
        with _torch_threads(self.threads):
            t0 = time.perf_counter()
            if self.analysis is None or not self.analysis.fits(params):
                self.analysis = analyze(self.image, self.mask, params)
            self.result = render(self.analysis, params)
            t1 = time.perf_counter()
            self._figures = (views_figure(self.result, fig=self._figures[0]),
                             analysis_figure(self.result, fig=self._figures[1]))
        views, analysis = (figure_png(f) for f in self._figures)
        for out, png, what in ((self.views_out, views, "the four views"),
                               (self.analysis_out, analysis, "histograms, layers and masks")):
            # replacing the outputs swaps the picture in one step (clear_output + display would flicker)
            out.outputs = ({"output_type": "display_data", "metadata": {},
                            "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": what}},)
        t2 = time.perf_counter()
        self.seconds = {"engine": t1 - t0, "draw": t2 - t1}
        self.status.value = f"redrawn in {t2 - t0:.2f} s" + (
            "; tone: match sets a batch's walls to the set's level (this photo alone keeps its own)"
            if params.tone == "match" else "")

    def save(self, name: str) -> Path:
        """Write the current settings as ``<params_dir>/<name>.yaml`` (the CLI, the batch and the
        app read it unchanged)."""
        stem = name.strip()
        stem = stem[:-5] if stem.endswith(".yaml") else stem
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", stem):
            raise BackdropError(f"save as {name!r}: use letters, digits, '_', '-' or '.' (no folders)")
        if stem == "default":
            raise BackdropError("save as 'default': params/default.yaml holds the defaults; choose another name")
        self.params_dir.mkdir(parents=True, exist_ok=True)
        return self.current.save(self.params_dir / f"{stem}.yaml")

    def _save_clicked(self) -> None:
        import html

        try:
            path = self.save(self.name.value)
        except BackdropError as err:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
        else:
            self.status.value = f"saved {html.escape(str(path.resolve()))}"

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """Run a block on ``threads`` torch threads (``None``: as it is), then restore the setting."""
    saved = torch.get_num_threads()
    if threads and threads != saved:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != saved:
            torch.set_num_threads(saved)
