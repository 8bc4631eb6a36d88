"""--cluster: a batch on a Dask cluster (``dask.distributed``), on this machine or many.

``local:N`` starts a local cluster of N worker processes; ``tcp://HOST:PORT`` uses a running
scheduler (``dask scheduler``, with ``dask worker tcp://HOST:PORT`` on each machine). Each photo is
one task, the same work a ``--jobs`` worker does: it claims the photo, skips it when its output is
there, and writes the output atomically; a failure is a row, not a stopped batch. The rows come as
the tasks finish. The photos and the outputs must be on a disk every worker sees at the same path.

Workers: Dask runs tasks in threads and its nanny sets ``OMP_NUM_THREADS=1`` in a worker; each
worker process here runs one task at a time, with torch given its share of the machine's cores
(cores / workers on that machine), set once per worker before the first photo. A worker that dies
is replaced by the scheduler, which runs its task again elsewhere (nothing of it was written but a
hidden temporary, removed by the next run).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Iterator

from ..errors import BackdropError, first_line
from ..params import Params
from ..service import FileResult
from .plan import _Claim, _process

__all__ = ["connect", "parse_address"]


def parse_address(address: str) -> tuple[str, int | str]:
    """("local", N) for ``local:N``, ("remote", address) for ``tcp://HOST:PORT``; else one line."""
    if address.startswith("local:"):
        n = address.removeprefix("local:")
        if n.isdigit() and int(n) >= 1:
            return "local", int(n)
        raise BackdropError(f"--cluster {address}: expected local:N with N >= 1 workers")
    if address.startswith(("tcp://", "tls://")) and ":" in address.split("://", 1)[1]:
        return "remote", address
    raise BackdropError(f"--cluster {address}: expected local:N or tcp://HOST:PORT")


def connect(address: str):
    """A ``dask.distributed.Client`` for ``address`` (and the local cluster it started, or None).
    A scheduler that does not answer is one line naming the address."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise BackdropError("--cluster: dask.distributed is not installed (pip install 'clean-backdrop[cluster]')") from None
    kind, where = parse_address(address)
    if kind == "local":
        import logging

        cluster = LocalCluster(n_workers=int(where), threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(str(where), timeout="10s"), None
    except (OSError, TimeoutError) as err:
        raise BackdropError(f"--cluster {where}: no Dask scheduler answers there ({first_line(err)})") from None


def _worker_setup(n: int) -> int:
    """Run on a worker before its first photo: give torch ``n`` threads (Dask's nanny set
    OMP_NUM_THREADS=1), and let glibc keep the engine's buffers of a few megabytes for reuse.

    Dask's nanny starts a worker with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes glibc's
    mmap threshold at 128 KB: every tile and strip buffer of the full-resolution pass was then a
    fresh mmap and page faults, and a 12 MP photo took 1.7x as long as in a ``--jobs`` worker. The
    engine gives memory back itself where it matters (``service.release_memory``)."""
    import ctypes
    import sys

    import torch

    torch.set_num_threads(max(1, n))
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: buffers under 64 MB come from the heap
            libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD: and stay there for the next photo
        except (OSError, AttributeError):  # pragma: no cover
            pass
    return torch.get_num_threads()


def _machine() -> tuple[str, int]:
    import socket

    return socket.gethostname(), os.cpu_count() or 1


def share_cores(client) -> dict[str, int]:
    """Each worker's torch threads: its machine's cores over the workers on that machine, set on
    every worker now (with its memory settings, see :func:`_worker_setup`). Returns worker
    address -> threads."""
    machines = client.run(_machine)
    per_host = Counter(host for host, _ in machines.values())
    threads = {w: max(1, cores // per_host[host]) for w, (host, cores) in machines.items()}
    for w, n in threads.items():
        client.run(_worker_setup, n, workers=[w])
    return threads


def _task(src: Path, dst: Path, params: Params, mask: Path | None, overwrite: bool) -> FileResult:
    """One photo on a worker: claimed, skipped when done, cleaned and written atomically."""
    claim = _Claim.take(dst, overwrite)
    if claim is None:
        return FileResult(src, dst, "skipped")
    try:
        return _process(src, dst, params, mask)
    finally:
        claim.release()


def rows_on_cluster(client, plan, todo, masks, params: Params, overwrite: bool = False, *,
                    remote: bool = False) -> Iterator[FileResult]:
    """The rows of a batch cleaned by the cluster's workers, as they finish (the photos with
    nothing to do first). Ctrl-C cancels the tasks not yet started; the ones running finish their
    photo (a whole output) on their worker."""
    from dask.distributed import as_completed

    busy = set(todo)
    for i, (src, dst) in enumerate(plan):
        if i not in busy:
            yield FileResult(src, dst, "skipped")
    if remote:  # object storage: each worker fetches its photo (and mask) and uploads its output
        from .remote import remote_task as task
    else:
        task = _task
    futures = [client.submit(task, *plan[i], params, masks[i], overwrite, pure=False) for i in todo]
    try:
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.cancel([f for f in futures if not f.done()])
