"""What the notebooks show, and the papermill report run.

The notebooks in ``notebooks/`` are thin: their cells call the functions here.

* Figures for tuning: the four views side by side, backdrop-luminance histograms
  before and after, the shadow map, the low- and high-frequency layers, the
  subject / floor / contact masks (:func:`views_figure`, :func:`analysis_figure`),
  and :class:`Tuner`, the ipywidgets panel of ``tune.ipynb``.
* Per-image figures of a batch (:func:`backdrop_stats`, from ``metrics.py``):
  backdrop luminance spread and defect score, before and after.
* The batch report (``batch.ipynb``): :func:`check_batch_inputs`, :func:`results_table`,
  :func:`thumbnail_pair`, and :func:`run_report`, which executes the notebook with
  papermill for ``backdrop batch SHOOT --report report.ipynb``.

matplotlib, ipywidgets and papermill are imported only by the functions that need them
(the ``notebooks`` extra).
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import torch

from .ops.filters import area_resize, atrous_smooth, luminance
from .errors import BackdropError, FilesFailed
from .io import printable
from .metrics import BACKDROP_EDIT, backdrop_stats
from .params import KNOB, Knob, Params

if TYPE_CHECKING:  # pragma: no cover
    from .batch import BatchReport, FileResult
    from .pipeline import Analysis, Result

__all__ = [
    "BatchInputs",
    "Tuner",
    "analysis_figure",
    "backdrop_stats",
    "check_batch_inputs",
    "failures_table",
    "figure_png",
    "frequency_layers",
    "kernel_name",
    "params_table",
    "repo_root",
    "resolve_path",
    "results_table",
    "run_report",
    "sample_image",
    "thumbnail_pair",
    "totals_line",
    "views_figure",
    "raise_if_failed",
    "with_outputs",
]

VIEW_TITLES = {"original": "Original", "shadows": "Shadows", "texture": "Texture", "preview": "Preview"}


# ---------------------------------------------------------------------------------------- paths
def repo_root() -> Path | None:
    """The clone this package runs from (the folder with ``pyproject.toml`` and ``notebooks/``),
    or ``None`` for an installed copy outside a clone."""
    here = Path(__file__).resolve().parent.parent
    cwd = Path.cwd().resolve()
    for cand in (here, cwd, *cwd.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "backdrop").is_dir():
            return cand
    return None


def _base_dir() -> Path:
    """Where relative paths start: the current folder, except that a notebook run inside the
    repository's ``notebooks/`` folder (JupyterLab, nbmake) starts at the repository root."""
    cwd = Path.cwd().resolve()
    root = repo_root()
    if root is not None and cwd == (root / "notebooks").resolve():
        return root
    return cwd


def resolve_path(path: str | os.PathLike[str], *, must_exist: bool = True) -> Path:
    """A path as a user typed it in a notebook parameter, made absolute.

    Relative paths start at the current folder (where papermill was run), or at the
    repository root when the notebook runs in ``notebooks/``; a path that exists only
    from the repository root (``params/default.yaml`` run from elsewhere) is found there.
    """
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute():
        return p
    base = _base_dir()
    if must_exist and not (base / p).exists():
        root = repo_root()
        if root is not None and (root / p).exists():
            return root / p
    return base / p


def sample_image() -> Path:
    """The bundled sample the tune notebook opens by default."""
    root = repo_root()
    if root is None or not (root / "samples").is_dir():
        raise BackdropError("samples/: the bundled samples are not found (run from a clone of the repository)")
    return root / "samples" / "studio_white_seamless.jpg"


# ---------------------------------------------------------------------------------------- figures (engine side)
def frequency_layers(image: torch.Tensor, *, levels: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Split an image into its low-frequency layer (the lighting) and high-frequency layer (detail),
    with the à-trous wavelet the texture pass uses.

    Args:
        image: (C, H, W) or (1, C, H, W) float tensor.
        levels: detail bands taken out (default: as the texture pass, up to ~1/12 of the short edge).
    Returns:
        (low, high), each shaped like ``image``; ``low + high == image``.
    """
    x = image[None] if image.ndim == 3 else image
    if levels is None:
        levels = max(1, int(math.floor(math.log2(max(min(x.shape[-2:]) / 12.0, 2.0)))))
    if levels < 1:
        raise ValueError(f"levels: expected at least 1, got {levels}")
    low = x.float()
    for j in range(levels):
        low = atrous_smooth(low, j)
    high = x.float() - low
    return (low[0], high[0]) if image.ndim == 3 else (low, high)


def _hwc(x: torch.Tensor, long_edge: int | None = None) -> np.ndarray:
    """(C, H, W) tensor -> HxWx3 float array in [0, 1] for imshow, optionally shrunk."""
    t = x.float()
    if t.shape[0] == 1:
        t = t.expand(3, *t.shape[-2:])
    if long_edge is not None and max(t.shape[-2:]) > long_edge:
        s = long_edge / max(t.shape[-2:])
        t = area_resize(t[None], (max(1, round(t.shape[-2] * s)), max(1, round(t.shape[-1] * s))))[0]
    return t.clamp(0, 1).permute(1, 2, 0).numpy()


def _plane(x: torch.Tensor, long_edge: int | None = None) -> np.ndarray:
    """(H, W) tensor -> HxW array, optionally shrunk."""
    t = x.float()[None, None]
    if long_edge is not None and max(t.shape[-2:]) > long_edge:
        s = long_edge / max(t.shape[-2:])
        t = area_resize(t, (max(1, round(t.shape[-2] * s)), max(1, round(t.shape[-1] * s))))
    return t[0, 0].numpy()


def _figure(cols: int, rows: int, size: tuple[float, float]):
    """A figure of rows x cols panels with a fixed layout (a layout engine would cost more
    than drawing the images)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=72)
    axes = fig.subplots(rows, cols, squeeze=False,
                        gridspec_kw=dict(left=0.01 if rows == 1 else 0.045, right=0.99,
                                         top=0.92 if rows == 1 else 0.95, bottom=0.02 if rows == 1 else 0.05,
                                         wspace=0.06, hspace=0.16))
    return fig, axes


def _title(ax, text: str) -> None:
    """A panel title as plain text (``set_title`` makes matplotlib lay out ticks it then hides)."""
    if ax.texts:
        ax.texts[0].set_text(text)
    else:
        ax.text(0.5, 1.01, text, transform=ax.transAxes, ha="center", va="bottom", fontsize=12)


def _panels(fig, axes, panels: list[tuple[str, np.ndarray, dict]]) -> None:
    """Draw image panels, or, on a figure drawn before, only swap their pixels (much faster)."""
    for ax, (title, img, kw) in zip(axes, panels):
        if ax.images and ax.images[0].get_array().shape == img.shape:
            ax.images[0].set_data(img)
            if "vmax" in kw:
                ax.images[0].set_clim(kw.get("vmin"), kw["vmax"])
        else:
            for im in list(ax.images):
                im.remove()
            # at the panel's own size no resampling filter is needed (it costs more than the rest)
            small = img.shape[1] <= PANEL_PX * 1.05
            ax.imshow(img, interpolation="nearest" if small else "antialiased", **kw)
            ax.set_axis_off()
        _title(ax, title)


def _same_layout(fig, rows: int, cols: int, h: int, w: int) -> bool:
    return fig is not None and len(fig.axes) == rows * cols and getattr(fig, "_backdrop_shape", None) == (h, w)


# a panel of the figures is 4.2 in wide at 72 dpi: pixels drawn beyond that only cost time
PANEL_PX = 300


def _panel_edge(h: int, w: int) -> int:
    """The long edge, in pixels, at which an h x w picture fills a panel's width."""
    return max(16, round(PANEL_PX * max(h, w) / w))


def views_figure(result: "Result", *, long_edge: int | None = None, fig=None):
    """The four views side by side: Original, Shadows, Texture, Preview (a matplotlib Figure).

    ``fig``: a figure this function made before for an image of the same size; its pixels are
    replaced in place (what a slider move does), which is several times faster than a new one.
    """
    names = [n for n in VIEW_TITLES if n == "original" or getattr(result, n) is not None]
    h, w = result.analysis.size
    long_edge = long_edge or _panel_edge(h, w)
    if not _same_layout(fig, 1, len(names), h, w):
        fig, axes = _figure(len(names), 1, (4.2 * len(names), 4.2 * h / w + 0.5))
        fig._backdrop_shape = (h, w)
    same = getattr(fig, "_backdrop_analysis", None) is result.analysis
    panels = [(VIEW_TITLES[n], _hwc(result.view(n), long_edge), {}) for n in names if not (same and n == "original")]
    _panels(fig, fig.axes[1:] if same else fig.axes, panels)
    # a slider move changes the three cleaned views only: figure_png redraws just those
    _movable(fig, [ax.images[0] for ax in fig.axes[1:]], fresh=not same)
    fig._backdrop_analysis = result.analysis
    return fig


def _movable(fig, artists: list, *, fresh: bool) -> None:
    """Mark the artists a slider move changes (the rest is the analysis'), and whether the rest
    changed too; :func:`figure_png` then redraws only what moved."""
    fig._backdrop_movable = artists
    fig._backdrop_fresh = fresh or getattr(fig, "_backdrop_fresh", True)


def _luma_levels(x: torch.Tensor) -> torch.Tensor:
    """(C, H, W) in [0, 1] -> (H, W) luminance in levels of 255."""
    return luminance(x.expand(3, *x.shape[-2:])[None] if x.shape[0] == 1 else x[None])[0, 0] * 255.0


def _shrink(x: torch.Tensor, long_edge: int) -> torch.Tensor:
    """(C, H, W) -> at most ``long_edge`` on the long side (box average)."""
    if max(x.shape[-2:]) <= long_edge:
        return x.float()
    s = long_edge / max(x.shape[-2:])
    size = (max(1, round(x.shape[-2] * s)), max(1, round(x.shape[-1] * s)))
    return area_resize(x[None].float(), size)[0]


def _histogram(ax, result: "Result", view: str) -> None:
    """Backdrop luminance before and after as two step curves on a log scale. On an axes drawn
    before, only the curves' data and the limits change (clearing and laying out the axes again
    cost more than the rest of the figure)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    backdrop = result.mask("edit") > BACKDROP_EDIT
    if not bool(backdrop.any()):
        ax.clear()
        _title(ax, "backdrop luminance (levels of 255)")
        ax.text(0.5, 0.5, "no backdrop pixels", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    b = _luma_levels(result.original)[backdrop].numpy()
    a = _luma_levels(result.view(view))[backdrop].numpy()
    lo = float(min(np.percentile(b, 0.1), np.percentile(a, 0.1)))
    hi = float(max(b.max(), a.max()))
    bins = np.linspace(max(0.0, lo - 2), min(255.0, hi + 2), 97)
    hb, _ = np.histogram(b, bins)
    ha, _ = np.histogram(a, bins)
    label = VIEW_TITLES[view].lower()
    curves = getattr(ax, "_backdrop_curves", None)
    if curves is None or not ax.axison:
        ax.clear()
        curves = (ax.stairs(hb, bins, fill=True, alpha=0.35, color="0.3", label="before"),
                  ax.stairs(ha, bins, linewidth=1.8, color="tab:orange", label=label))
        ax._backdrop_curves = curves
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(numticks=6))
        ax.yaxis.set_minor_locator(NullLocator())  # dozens of minor ticks cost more than the images
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # no mathtext: faster
        ax.legend(loc="upper left", fontsize=10)
        ax.tick_params(labelsize=9)
    else:
        curves[0].set_data(hb, bins)
        curves[1].set_data(ha, bins)
    ax.set_xlim(bins[0], bins[-1])
    ax.set_ylim(0.8, max(hb.max(), ha.max()) * 2.0)
    _title(ax, "backdrop luminance (levels of 255)")


def analysis_figure(result: "Result", *, view: str = "preview", long_edge: int | None = None, fig=None):
    """Histograms of backdrop luminance before and after, the shadow map, the low- and
    high-frequency layers (detail before and after), and the subject, floor and contact masks.

    The histograms count every backdrop pixel of the result; the panels are drawn (and the
    frequency layers taken) at ``long_edge`` pixels, the detail one can see at that size.
    ``fig``: a figure made before for the same image size, updated in place.
    """
    h, w = result.analysis.size
    long_edge = long_edge or _panel_edge(h, w)
    if not _same_layout(fig, 2, 4, h, w):
        fig, _ = _figure(4, 2, (16.8, 2 * (4.2 * h / w + 0.5)))
        fig._backdrop_shape = (h, w)
    axes = fig.axes
    _histogram(axes[0], result, view)

    def detail(t):  # luminance detail, +-21 levels around mid grey
        return (0.5 + _luma_levels(t) / 255.0 * 6.0).clamp(0, 1).numpy()

    grey = dict(cmap="gray", vmin=0.0, vmax=1.0)
    _, high_after = frequency_layers(_shrink(result.view(view), long_edge))
    after = (f"high frequency, {VIEW_TITLES[view].lower()}", detail(high_after), grey)
    if getattr(fig, "_backdrop_analysis", None) is result.analysis:
        # a slider move: the panels of the analysis (shadow map, lighting, masks) stay as they are
        _panels(fig, [axes[4]], [after])
        _movable(fig, [axes[0], axes[4].images[0]], fresh=False)
        return fig
    smap = result.mask("shadow_map", full=False)
    low, high_before = frequency_layers(_shrink(result.original, long_edge))
    floor, contact = result.mask("floor", full=False), result.mask("contact", full=False)
    found = "found" if getattr(result.floor_info, "found", False) else "none found"
    _panels(fig, axes[1:], [
        ("shadow map", _plane(smap, long_edge), dict(cmap="magma", vmin=0.0, vmax=max(0.05, float(smap.max())))),
        ("low frequency (lighting)", _hwc(low), {}),
        ("high frequency, before", detail(high_before), grey),
        after,
        ("subject mask", _plane(result.mask("subject", full=False), long_edge), grey),
        ("subject protection (grow + feather)", _plane(result.mask("protect", full=False), long_edge), grey),
        (f"floor (red, {found}), contact zone (green)",
         _hwc(torch.stack([floor, contact, torch.zeros_like(floor)]), long_edge), {}),
    ])
    fig._backdrop_analysis = result.analysis
    _movable(fig, [axes[0], axes[4].images[0]], fresh=True)
    return fig


def figure_png(fig) -> bytes:
    """Render a matplotlib Figure to PNG bytes (no pyplot, no backend state).

    On a figure of :func:`views_figure` or :func:`analysis_figure` drawn before for the same
    analysis, only what a slider moves is drawn again, over the rest kept from the last draw
    (matplotlib's blitting): a third of the time of a full draw.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    movable = getattr(fig, "_backdrop_movable", None)
    if not movable:
        canvas.draw()
    else:
        if getattr(fig, "_backdrop_fresh", True) or getattr(fig, "_backdrop_background", None) is None:
            for a in movable:
                a.set_visible(False)
            canvas.draw()
            fig._backdrop_background = canvas.copy_from_bbox(fig.bbox)
            for a in movable:
                a.set_visible(True)
            fig._backdrop_fresh = False
        else:
            canvas.restore_region(fig._backdrop_background)
        for a in movable:
            fig.draw_artist(a)
    w, h = canvas.get_width_height()
    img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)  # zlib at its default costs 0.2 s
    return buf.getvalue()


# ---------------------------------------------------------------------------------------- tune
TUNER_KNOBS = ("lift", "texture", "feather", "floor")  # the Tuner's controls, made from their KNOBS rows


def _widget(knob: Knob, value):
    """An ipywidgets control for a knob, from its row in KNOBS (range, step, label)."""
    import ipywidgets as w

    style = {"description_width": "70px"}
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
    """The tuning panel of ``tune.ipynb``: sliders for lift, texture and feather, the floor mode,
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

        from .service import subject_mask
        from .io import as_coverage, read_image

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
        self.lift, self.texture, self.feather, self.floor = (self.controls[n] for n in TUNER_KNOBS)
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
            w.HBox([w.VBox([self.lift, self.texture]), w.VBox([self.feather, self.floor])]),
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
        from .pipeline import analyze, render

        with _torch_threads(self.threads):
            t0 = time.perf_counter()
            params = self.current
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
        self.status.value = f"redrawn in {t2 - t0:.2f} s"

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


# ---------------------------------------------------------------------------------------- batch report
@dataclass
class BatchInputs:
    """The checked parameters of a batch run, paths made absolute."""

    input_dir: Path
    params_file: Path
    params: Params
    output_dir: Path | None
    masks_dir: Path | None
    images: list[Path]
    limit: int


def check_batch_inputs(
    input_dir: str,
    params_file: str,
    output_dir: str = "",
    *,
    masks_dir: str = "",
    limit: int = 0,
) -> BatchInputs:
    """Check a batch's parameters before anything is written; raise BackdropError naming the
    parameter and the path (one line) when one is wrong."""
    from .batch import find_images

    if not str(input_dir).strip():
        raise BackdropError("input_dir: no folder given")
    src = resolve_path(input_dir)
    if not src.exists():
        raise BackdropError(f"input_dir {input_dir!r}: folder not found")
    if not src.is_dir():
        raise BackdropError(f"input_dir {input_dir!r}: not a folder")
    if not str(params_file).strip():
        raise BackdropError("params_file: no parameter file given")
    pf = resolve_path(params_file)
    if not pf.is_file():
        raise BackdropError(f"params_file {params_file!r}: parameter file not found")
    params = Params.load(pf)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise BackdropError(f"limit: expected a whole number >= 0 (0: all images), got {limit!r}")
    images = find_images(src)
    if not images:
        raise BackdropError(f"input_dir {input_dir!r}: no images (JPEG, PNG, TIFF, WebP) in the folder")
    out = resolve_path(output_dir, must_exist=False) if str(output_dir).strip() else None
    root = repo_root()
    if out is None and root is not None and src.resolve() == (root / "samples").resolve():
        out = root / "out" / "samples"  # the bundled samples folder stays as committed (as `make demo`)
    if out is not None and out.exists() and not out.is_dir():
        raise BackdropError(f"output_dir {output_dir!r}: exists and is not a folder")
    masks = resolve_path(masks_dir) if str(masks_dir).strip() else None
    if masks is not None and not masks.is_dir():
        raise BackdropError(f"masks_dir {masks_dir!r}: folder not found")
    return BatchInputs(src, pf, params, out, masks, images[:limit] if limit else images, limit)


def params_table(inputs: BatchInputs) -> str:
    """Markdown: the run's parameters and every knob of the parameter set."""
    lines = [
        "| run parameter | value |",
        "|---|---|",
        f"| input_dir | `{inputs.input_dir}` ({len(inputs.images)} images"
        + (f", limit {inputs.limit}" if inputs.limit else "") + ") |",
        f"| params_file | `{inputs.params_file}` |",
        f"| output_dir | `{inputs.output_dir}` |" if inputs.output_dir else "| output_dir | beside the originals (`NAME_clean.EXT`) |",
    ]
    if inputs.masks_dir:
        lines.append(f"| masks_dir | `{inputs.masks_dir}` |")
    lines += ["", "| knob | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in inputs.params.to_dict().items()]
    return "\n".join(lines)


def _fmt(v: Any, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


RESULT_COLUMNS = ("image", "status", "size", "time (s)", "segmenter", "spread before", "spread after",
                  "defects before", "defects after")


def _cell(text: str) -> str:
    """Text for a markdown table cell: one line, its control characters escaped, no bare ``|``."""
    return printable(text).replace("|", "\\|")


def results_table(rows: Iterable["FileResult"]) -> str:
    """Markdown: one row per image (size, time, segmenter, backdrop luminance spread before/after,
    defect score before/after; levels of 255)."""
    lines = ["| " + " | ".join(RESULT_COLUMNS) + " |", "|" + "---|" * len(RESULT_COLUMNS)]
    for r in rows:
        size = f"{r.size[0]}x{r.size[1]}" if r.size else "–"
        secs = f"{r.seconds:.2f}" if r.status == "done" else "–"
        lines.append(
            f"| {_cell(r.source.name)} | {r.status} | {size} | {secs} | {r.segmenter or '–'} | "
            f"{_fmt(r.spread_before)} | {_fmt(r.spread_after)} | {_fmt(r.defects_before, '.2f')} | "
            f"{_fmt(r.defects_after, '.2f')} |"
        )
    return "\n".join(lines)


THUMBNAILS_MAX = 100  # before/after pairs shown in a report (the table lists every image)


def with_outputs(rows: Iterable["FileResult"], *, most: int = THUMBNAILS_MAX) -> list["FileResult"]:
    """The rows whose cleaned file exists (done or skipped), the first ``most`` of them."""
    return [r for r in rows if r.status in ("done", "skipped") and r.output.is_file()][:most]


def raise_if_failed(report: "BatchReport") -> None:
    """End the run non-zero (FilesFailed, one line) when an image failed, as ``backdrop batch`` does."""
    failed = [r for r in report.rows if r.status == "failed"]
    if failed:
        names = ", ".join(r.source.name for r in failed[:5]) + (", ..." if len(failed) > 5 else "")
        raise FilesFailed(f"{len(failed)} of {len(report.rows)} images failed: {names} (reasons in the report)")


def failures_table(rows: Iterable["FileResult"]) -> str:
    """Markdown: how many images failed, and which and why (empty string when none did)."""
    rows = list(rows)
    failed = [r for r in rows if r.status == "failed"]
    if not failed:
        return ""
    lines = [f"**{len(failed)} of {len(rows)} images failed**: their files are as they were, and the run "
             "ends with exit status 1.", "", "| image | reason |", "|---|---|"]
    lines += [f"| {_cell(r.source.name)} | {_cell(r.error)} |" for r in failed]
    return "\n".join(lines)


def totals_line(report: "BatchReport") -> str:
    done = [r for r in report.rows if r.status == "done"]
    spread = [r for r in done if r.spread_before is not None]
    line = (f"**{len(report.rows)} images: done {len(done)}, skipped {report.count('skipped')}, "
            f"failed {report.failed}**; {report.seconds:.1f} s in all"
            + (f", {sum(r.seconds for r in done) / len(done):.2f} s per image" if done else ""))
    if spread:
        med = lambda k: float(np.median([getattr(r, k) for r in spread]))  # noqa: E731
        line += (f"; median backdrop spread {med('spread_before'):.1f} → {med('spread_after'):.1f}, "
                 f"defect score {med('defects_before'):.2f} → {med('defects_after'):.2f} (levels of 255)")
    return line


def _thumb(path: Path, height: int):
    from PIL import Image, ImageOps

    try:
        im = Image.open(path)
        im.draft("RGB", (height * 4, height))  # JPEG: decode at a reduced scale
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGBA").convert("RGB") if "A" in im.mode else im.convert("RGB")
        im.load()
    except Exception:  # 16-bit TIFF and the like: the project's own reader
        from .io import read_image

        px = read_image(path).pixels
        px = (np.clip(px[..., :3] if px.shape[2] >= 3 else px[..., 0], 0, 1) * 255 + 0.5).astype(np.uint8)
        im = Image.fromarray(px)
    im = im.convert("RGB")
    w = max(1, round(im.width * height / im.height))
    return im.resize((w, height), Image.Resampling.BOX if im.height > height else Image.Resampling.BICUBIC)


THUMBNAIL_HEIGHT = 480  # pixels, each side of a report's before/after pair: enough to judge a backdrop


def thumbnail_pair(before: Path, after: Path, *, height: int = THUMBNAIL_HEIGHT) -> bytes:
    """JPEG bytes: the original and the cleaned image side by side, ``height`` pixels high each,
    under a caption strip naming them ("before: NAME", "after: NAME_clean.EXT")."""
    from PIL import Image, ImageDraw, ImageFont

    a, b = _thumb(Path(before), height), _thumb(Path(after), height)
    gap, strip = 8, max(24, height // 16)
    font = ImageFont.load_default(size=round(strip * 0.62))
    pair = Image.new("RGB", (a.width + b.width + gap, height + strip), (255, 255, 255))
    draw = ImageDraw.Draw(pair)
    for x, im, word, path in ((0, a, "before", before), (a.width + gap, b, "after", after)):
        pair.paste(im, (x, strip))
        name = printable(Path(path).name)
        text = f"{word}: {name}"
        while len(name) > 1 and draw.textlength(text, font=font) > im.width - 8:  # a long name: its end
            name = name[1:]
            text = f"{word}: …{name}"
        draw.text((x + 4, strip / 2), text, fill=(40, 40, 40), font=font, anchor="lm")
    buf = io.BytesIO()
    pair.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------- papermill
def kernel_name() -> str:
    """The Jupyter kernel for this interpreter: ``backdrop`` when it is registered for this very
    Python (``make install`` does that), else ``python3``, which jupyter_client starts with the
    running interpreter."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("backdrop")
        exe = spec.argv[0] if spec.argv else ""
        if exe and os.path.realpath(exe) == os.path.realpath(sys.executable):
            return "backdrop"
    except Exception:
        pass
    return "python3"


def batch_notebook() -> Path:
    root = repo_root()
    nb = root / "notebooks" / "batch.ipynb" if root else None
    if nb is None or not nb.is_file():
        raise BackdropError("--report: notebooks/batch.ipynb is not found (run from a clone of the repository)")
    return nb


def run_report(
    report: str | os.PathLike[str],
    *,
    input_dir: Path,
    params: Params,
    params_file: Path | None,
    output_dir: Path | None = None,
    masks_dir: Path | None = None,
    overwrite: bool = False,
    limit: int = 0,
    progress: bool = False,
) -> int:
    """Run ``notebooks/batch.ipynb`` with papermill and keep the executed copy at ``report``.

    The parameter set is ``params_file`` as it is; when the command line changed knobs
    (``--lift``, ``--set``), the effective set is written beside the report as
    ``<report>.params.yaml`` and that file is what the notebook reads (and records).

    Returns the exit code of ``backdrop batch``: 0, 1 when some images failed.
    Raises BackdropError (one line) for a wrong parameter or folder.
    """
    try:
        import papermill as pm
    except ImportError:
        raise BackdropError("--report: papermill is not installed (pip install 'clean-backdrop[notebooks]')") from None

    report = Path(report).resolve()
    if report.suffix != ".ipynb":
        raise BackdropError(f"--report {report.name}: the report is a notebook, name it NAME.ipynb")
    if not report.parent.is_dir():
        raise BackdropError(f"--report {report}: folder {report.parent} not found")
    nb = batch_notebook()
    if params_file is None or Params.load(params_file) != params:
        params_file = params.save(report.with_suffix(".params.yaml"))
    parameters = {
        "input_dir": str(Path(input_dir).resolve()),
        "params_file": str(Path(params_file).resolve()),
        "output_dir": str(Path(output_dir).resolve()) if output_dir else "",
        "masks_dir": str(Path(masks_dir).resolve()) if masks_dir else "",
        "overwrite": bool(overwrite),
        "limit": int(limit),
    }
    from papermill.engines import papermill_engines

    from .papermill_engine import BatchReportEngine, ReportEnded

    papermill_engines.register("backdrop", BatchReportEngine)  # as the entry point does, installed or not
    try:
        pm.execute_notebook(str(nb), str(report), parameters=parameters, kernel_name=kernel_name(),
                            cwd=str(nb.parent.parent), progress_bar=progress, log_output=False,
                            engine_name="backdrop")
    except ReportEnded as ended:
        if ended.ename != FilesFailed.__name__:
            raise BackdropError(f"{ended.evalue} (report: {report})") from None
        failed = str(ended.code)
    except pm.PapermillExecutionError as err:  # a bug: papermill's own account of it is in the report
        raise BackdropError(f"{err.ename}: {err.evalue} (report: {report})") from None
    else:
        failed = ""
    summary = _summary_from(report)
    if summary:
        print(summary)
    if failed:
        print(printable(failed), file=sys.stderr)
    print(f"report: {report}")
    return 1 if failed else 0


def _summary_from(report: Path) -> str:
    """The totals line of an executed report, as plain text."""
    nb = json.loads(report.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/markdown", ""))
            if "images: done" in text:
                return text.replace("**", "")
    return ""
