"""The papermill run of the batch report (backdrop batch --report)."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackdropError, FilesFailed
from ..params import Params
from .paths import repo_root


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


@dataclass(frozen=True)
class ReportRun:
    """What a report run came to."""

    report: Path  # the executed notebook
    summary: str  # its totals line, as plain text ("" when the run stopped before it)
    failed: str  # "FilesFailed: 1 of 6 images failed: ..." when some images failed, else ""

    @property
    def exit_code(self) -> int:
        """``backdrop batch``'s: 0, or 1 when some images failed."""
        return 1 if self.failed else 0


def batch_notebook() -> Path:
    """The repository's notebooks/batch.ipynb (the report's template)."""
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
    cluster: str | None = None,
) -> ReportRun:
    """Run ``notebooks/batch.ipynb`` with papermill and keep the executed copy at ``report``.

    The parameter set is ``params_file`` as it is; when the command line changed knobs
    (``--lift``, ``--set``), the effective set is written beside the report as
    ``<report>.params.yaml`` and that file is what the notebook reads (and records).

    Returns what the run came to (the caller prints it): the report, its totals line, and the
    ``FilesFailed`` line when some images failed. Raises BackdropError (one line) for a wrong
    parameter or folder.
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
        "cluster": cluster or "",
    }
    from papermill.engines import papermill_engines

    from .engine import BatchReportEngine, ReportEnded

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
    return ReportRun(report, _summary_from(report), failed)


def _summary_from(report: Path) -> str:
    """The totals line of an executed report, as plain text."""
    nb = json.loads(report.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/markdown", ""))
            if "images: done" in text:
                return text.replace("**", "")
    return ""
