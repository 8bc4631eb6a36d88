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

_EXPORTS = {
    "BatchInputs": "report",
    "check_batch_inputs": "report",
    "failures_table": "report",
    "params_table": "report",
    "raise_if_failed": "report",
    "results_table": "report",
    "thumbnail_pair": "report",
    "totals_line": "report",
    "with_outputs": "report",
    "Tuner": "tuner",
    "analysis_figure": "figures",
    "figure_png": "figures",
    "frequency_layers": "figures",
    "views_figure": "figures",
    "kernel_name": "runner",
    "run_report": "runner",
    "repo_root": "paths",
    "resolve_path": "paths",
    "sample_image": "paths",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
