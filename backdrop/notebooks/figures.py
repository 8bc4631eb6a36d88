"""Figures for tuning: the views side by side, histograms, the shadow map, frequency layers, masks."""
from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..metrics import BACKDROP_EDIT
from ..ops.filters import area_resize, atrous_smooth, luminance

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Result


VIEW_TITLES = {"original": "Original", "shadows": "Shadows", "texture": "Texture", "preview": "Preview"}



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
