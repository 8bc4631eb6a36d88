"""What the notebooks show, and the papermill report run.

The notebooks in ``notebooks/`` are thin: their cells call the functions here.

* ``figures``: for tuning, the four views side by side, backdrop-luminance histograms before
  and after, the shadow map, the low- and high-frequency layers, the subject / floor / contact
  masks (:func:`views_figure`, :func:`analysis_figure`).
* ``tuner``: :class:`Tuner`, the ipywidgets panel of ``tune.ipynb``.
* ``report``: the batch report's pieces (``batch.ipynb``): :func:`check_batch_inputs`,
  :func:`results_table`, :func:`thumbnail_pair`, :func:`failures_table`, :func:`raise_if_failed`.
* ``runner``: :func:`run_report`, which executes ``batch.ipynb`` with papermill for
  ``backdrop batch SHOOT --report report.ipynb``; ``engine``: ``papermill --engine backdrop``.
* ``paths``: the repository's root, paths relative to where papermill runs, the bundled sample.

Imported on first use (PEP 562): papermill loads the engine of every package when it starts, and
that must not cost torch. matplotlib, ipywidgets and papermill are imported only by the functions
that need them (the ``notebooks`` extra).
"""
from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {  # module: the names it gives
    "report": ("BatchInputs", "check_batch_inputs", "failures_table", "params_table", "raise_if_failed", "results_table", "thumbnail_pair", "totals_line", "with_outputs",),
    "tuner": ("Tuner",),
    "figures": ("analysis_figure", "figure_png", "frequency_layers", "views_figure",),
    "runner": ("kernel_name", "run_report",),
    "paths": ("repo_root", "resolve_path", "sample_image",),
}
__all__ = sorted(n for names in _EXPORTS.values() for n in names)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
