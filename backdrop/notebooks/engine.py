"""``papermill --engine backdrop``: the batch report's own papermill engine.

With papermill's stock engine, a batch in which one photo of six failed ends as if the run had
crashed: papermill puts a red "An Exception was encountered" banner at the top of the report
and the console gets 30 lines of Python traceback. The report's last cell raises
``FilesFailed`` so that every runner ends non-zero; this engine reads the run for what it is:

* photos failed (``FilesFailed``): the report is the record of the run, its failures in their own
  section, with no banner and no error box; the console gets one line
  (``FilesFailed: 1 of 6 images failed: ...``) and the exit status is 1;
* a wrong parameter (``BackdropError``): the one-line message stays in the report where it
  happened, no banner; the console gets the same line and the exit status is 1;
* anything else (a bug) is left to papermill: banner, traceback and all.

It also hides the code cells (the report is read, not edited) and keeps the kernel's own log
(a local TCP warning) off the console. Registered for papermill by the package's entry point;
this module imports nothing heavy, since papermill loads every engine when it starts.
"""
from __future__ import annotations

import functools

FAILED = "FilesFailed"  # backdrop.errors.FilesFailed: some photos failed, the run itself is whole
USER_ERROR = "BackdropError"  # a wrong parameter or folder: one line
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]


class ReportEnded(SystemExit):
    """The run ended with failed photos or a user error. A ``SystemExit`` whose code is the one
    line: run from papermill's command line, Python prints it and exits with status 1."""

    def __init__(self, ename: str, evalue: str):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


class BatchReportEngine:
    """The engine papermill calls ``backdrop``: its nbclient engine, ending a batch report's run as
    described above.

    papermill loads every engine's entry point while ``papermill.engines`` itself is being
    imported, so this module imports nothing of papermill: the engine class is made on first use
    (:func:`_engine`), and these class methods, the ones papermill calls, hand over to it."""

    @classmethod
    def execute_notebook(cls, *args, **kwargs):
        return _engine().execute_notebook(*args, **kwargs)

    @classmethod
    def nb_kernel_name(cls, nb, name=None):
        return _engine().nb_kernel_name(nb, name)

    @classmethod
    def nb_language(cls, nb, language=None):
        return _engine().nb_language(nb, language)


@functools.lru_cache(maxsize=1)
def _engine() -> type:
    from papermill.engines import NBClientEngine

    class _BatchReportEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            for cell in nb_man.nb.cells:
                if cell.cell_type == "code":
                    cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
            kwargs.setdefault("extra_arguments", QUIET_KERNEL)
            result = super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
            ended = settle(nb_man.nb)
            if ended is not None:
                raise ReportEnded(*ended)  # papermill's engine wrapper writes the notebook on the way out
            return result

    return _BatchReportEngine


def settle(nb) -> tuple[str, str] | None:
    """Find how a batch report's run ended; for failed photos or a user error, take the run's
    failure marks off the notebook (papermill would add its banner for them) and return
    ``(ename, evalue)``. None when the run went through or ended in a bug."""
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            continue
        err = errors[0]
        if err.get("ename") not in (FAILED, USER_ERROR):
            return None
        if err["ename"] == FAILED:  # every cell ran; the failures are in the report's own table
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"]
            cell.metadata.get("papermill", {}).update(exception=False, status="completed")
            nb.metadata.get("papermill", {})["exception"] = False
        else:  # the one line where it happened, without a traceback around it
            err["traceback"] = [f"{err['ename']}: {err['evalue']}"]
        nb.metadata.setdefault("backdrop", {})["ended"] = {"ename": err["ename"], "evalue": err["evalue"]}
        return err["ename"], err["evalue"]
    return None
