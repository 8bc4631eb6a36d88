"""--jobs N: the photos cleaned by N spawned worker processes, rows as they finish."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Iterator

from ..errors import BackdropError, Stopped
from ..params import Params
from ..service import (
    FileResult,
)
from .plan import _Claim, _process

# --------------------------------------------------------------------------- --jobs N

_WORKER = {"parent": None, "busy": False, "stopping": False}


def _set_parent_death_signal(signum: int) -> None:
    """Linux: have the kernel send ``signum`` to this process when its parent dies (a batch
    killed with SIGKILL must not leave workers running)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signum), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover
        pass


def _worker_signal(signum, frame):
    """SIGINT/SIGTERM in a worker: stop the image in progress (its temporary file is removed as
    the exception unwinds), refuse any further one; exit at once when the parent is gone."""
    first = not _WORKER["stopping"]
    _WORKER["stopping"] = True
    if _WORKER["busy"] and first:
        raise Stopped(signum)
    if os.getppid() != _WORKER["parent"]:
        os._exit(1)


def _worker_init(threads: int, parent: int) -> None:
    _WORKER["parent"] = parent
    signal.signal(signal.SIGINT, _worker_signal)
    signal.signal(signal.SIGTERM, _worker_signal)
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    import torch

    torch.set_num_threads(max(1, threads))


def _worker_process(src: Path, dst: Path, params: Params, mask: Path | None, overwrite: bool = False) -> FileResult:
    if _WORKER["stopping"]:
        raise Stopped(signal.SIGINT)
    claim = _Claim.take(dst, overwrite)
    if claim is None:  # done or being done by another run
        return FileResult(src, dst, "skipped")
    _WORKER["busy"] = True
    try:
        return _process(src, dst, params, mask)
    except Stopped:
        if os.getppid() != _WORKER["parent"]:
            os._exit(1)
        raise
    finally:
        _WORKER["busy"] = False
        claim.release()


def spawn_pool(workers: int):
    """``workers`` spawned worker processes sharing this machine's cores, which stop with the
    batch (Ctrl-C, SIGTERM, or the batch's process dying)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(threads, os.getpid()))


def _rows_parallel(plan, todo, masks, params, workers: int, overwrite: bool = False) -> Iterator[FileResult]:
    """The rows of a batch cleaned by ``workers`` processes, in the order they finish (the
    photos with nothing to do first)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = spawn_pool(workers)
    futures = {}
    interrupted: int | None = None
    try:
        for i in todo:
            src, dst = plan[i]
            futures[i] = pool.submit(_worker_process, src, dst, params, masks[i], overwrite)
        for i, (src, dst) in enumerate(plan):
            if i not in futures:
                yield FileResult(src, dst, "skipped")
        source = {f: plan[i][0] for i, f in futures.items()}
        pending = set(futures.values())
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=lambda f: str(source[f])):
                try:
                    row = f.result()
                except BrokenProcessPool:
                    raise BackdropError(f"{source[f]}: a worker process died while cleaning it (out of memory?); "
                                        f"run again to finish the rest") from None
                yield row
    except KeyboardInterrupt as err:
        interrupted = getattr(err, "signum", signal.SIGINT)
        raise
    finally:
        for f in futures.values():
            f.cancel()
        if interrupted is not None:  # the images in progress stop too (their temporaries removed)
            for proc in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, interrupted)
        _shutdown(pool)


def _shutdown(pool) -> None:
    """Wait for the workers to exit; a second Ctrl-C while waiting does not leave them behind."""
    while True:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
            return
        except KeyboardInterrupt:
            continue
