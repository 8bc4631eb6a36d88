"""A batch, photo by photo: the report, signals, the rows (in this process), run_batch."""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import BackdropError, OutputError, Stopped
from ..io import output_path_for, printable
from ..params import Params
from ..service import (
    MAX_PIXELS,
    FileResult,
    develop,
    mask_for,
    open_photo,
    save,
)
from .plan import (
    SUFFIX,
    _check_writable,
    _Claim,
    _row,
    check_out_dir,
    find_images,
    remove_stale_temps,
)
from .remote import is_url, plan_remote, remote_task
from .workers import _rows_parallel, _shutdown, spawn_pool


@dataclass
class BatchReport:
    """What a batch did: a row per photo (in input order), and the wall-clock seconds."""
    rows: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    planned: int = 0  # images found (done, skipped or failed once the batch is through)
    workers: str = ""  # where it ran, when not in this process ("a Dask cluster of 2 workers")
    tone: float | None = None  # tone: match, the set's wall level every photo was cleaned to

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def summary(self) -> str:
        """One line: the counts, and the batch's wall-clock seconds per photo done (photos overlap:
        the next one is decoded and the last one encoded while the engine cleans one)."""
        done = [r for r in self.rows if r.status == "done"]
        per = (self.seconds or sum(r.seconds for r in done)) / len(done) if done else 0.0
        return (
            f"done {len(done)}, skipped {self.count('skipped')}, failed {self.failed}, "
            f"{per:.2f} s per image" + (f" on {self.workers}" if self.workers else "")
            + (f", walls matched to {self.tone:.1f}" if self.tone is not None else "")
        )



# --------------------------------------------------------------------------- signals

def _raise_stopped(signum, frame):
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Stopped` (a KeyboardInterrupt), so a batch stopped
    by ``kill`` cleans up like one stopped by Ctrl-C (no temporary file left behind).

    Only in the main thread, and only when SIGTERM still has its default action (a handler
    someone else installed is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        yield
        return
    if previous not in (signal.SIG_DFL, None):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait while inside (a few system calls: taking a photo's claim and noting
    it), then act as they would have. A signal raises wherever the main thread is, and one between
    the claim file's creation and its noting left the file in the user's output folder.

    Only in the main thread (elsewhere no signal handler runs)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in held}
    for s in held:
        signal.signal(s, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum in came[:1]:
            signal.raise_signal(signum)  # its own handler (or default action) now



def run_batch(
    folder: Path,
    *,
    params: Params,
    out_dir: Path | None = None,
    masks_dir: Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_result: Callable[[FileResult], None] | None = None,
    limit: int = 0,
    jobs: int = 1,
    cluster: str | None = None,
) -> BatchReport:
    """Clean every image of ``folder``; outputs ``NAME_clean.EXT`` beside the originals or in ``out_dir``.

    ``limit``: only the first ``limit`` images (by name; 0 = all). ``jobs``: worker processes
    (1: in this process). ``cluster``: a Dask cluster instead (``local:N`` or ``tcp://HOST:PORT``,
    see :mod:`backdrop.batch.cluster`). ``on_result`` sees each row as it finishes; the report's rows are in
    input order. See the module docstring for what is
    guaranteed on bad files, interruptions and full or read-only folders.

    With ``jobs > 1`` the workers are *spawned*: a script that calls this needs the usual
    ``if __name__ == "__main__":`` guard (the CLI and notebooks need nothing).

    Raises:
        BackdropError: missing input or output folder, a bad ``jobs``.
        OutputError: the output folder cannot take files (``.report``: the rows done).
        KeyboardInterrupt: Ctrl-C, or :class:`Stopped` for SIGTERM (``.report``: the rows done).
    """
    t0 = time.perf_counter()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise BackdropError(f"jobs: expected a whole number >= 1, got {jobs!r}")
    remote = is_url(folder) or is_url(out_dir)
    if remote:  # object storage: keys, not paths (see backdrop.batch.remote)
        plan, todo, masks = plan_remote(str(folder), None if out_dir is None else str(out_dir), overwrite, limit)
    else:
        images = find_images(folder)
        if limit:
            images = images[:limit]
        out_dir = check_out_dir(out_dir)
        plan = [(src, output_path_for(src, suffix=SUFFIX, out_dir=out_dir)) for src in images]
        for dest in {dst.parent for _, dst in plan}:
            remove_stale_temps(dest, {dst.name for _, dst in plan if dst.parent == dest})
        todo = [i for i, (_, dst) in enumerate(plan) if overwrite or not dst.is_file()]
        for dest in sorted({plan[i][1].parent for i in todo}):
            _check_writable(dest)

    report = BatchReport(planned=len(plan))
    client = local = None
    if cluster and todo:
        from .cluster import connect, share_cores

        client, local = connect(cluster)  # a scheduler that does not answer: one line, nothing written
        report.workers = f"a Dask cluster of {len(share_cores(client))} workers"
    if not remote:
        masks = {i: mask_for(plan[i][0], masks_dir) for i in range(len(plan))}
    if params.tone == "match" and todo:  # the set's level first, measured where the batch runs
        from .tone import resolve_match

        try:
            params, line = resolve_match(
                plan, masks, params, overwrite,
                lambda idx: _measure(idx, plan, masks, params, client, remote, jobs, progress))
        except BaseException:
            for held in (client, local):
                if held is not None:
                    held.close()
            raise
        print(printable(line), file=sys.stderr)
        if isinstance(params.tone, (int, float)):
            report.tone = float(params.tone)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), unit="image", desc="cleaning", dynamic_ncols=True)

    def say(line: str) -> None:
        line = printable(line)
        if bar is not None:
            bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    if client is not None:
        from .cluster import rows_on_cluster

        rows = rows_on_cluster(client, plan, todo, masks, params, overwrite, remote=remote)
    elif remote:
        rows = _rows_remote(plan, todo, masks, params, overwrite)
    elif jobs > 1 and len(todo) > 1:
        # rows come as the workers finish them (a failure is named at once); the report is put
        # back in input order at the end. The bar says the workers are starting until one answers.
        workers = min(jobs, len(todo))
        if bar is not None:
            bar.set_description_str(f"cleaning (starting {workers} workers)")
            bar.refresh()
        rows = _rows_parallel(plan, todo, masks, params, workers, overwrite)
    else:
        rows = _rows_sequential(plan, todo, masks, params, overwrite)
    order = {src: i for i, (src, _) in enumerate(plan)}
    try:
        with stop_on_sigterm():
            try:
                for row in rows:
                    report.rows.append(row)
                    if bar is not None:
                        if row.status != "skipped" and bar.desc != "cleaning":
                            bar.set_description_str("cleaning", refresh=False)
                        bar.update(1)
                        if row.status == "failed":
                            say(f"failed: {row.error}")
                    if row.warning:
                        say(f"warning: {row.warning}")
                    if on_result is not None:
                        on_result(row)
            except KeyboardInterrupt as err:
                _throw_into(rows, err)  # the workers stop their images too
                raise
            finally:
                rows.close()
    except (OutputError, KeyboardInterrupt) as err:
        report.rows.sort(key=lambda r: order[r.source])
        report.seconds = time.perf_counter() - t0
        err.report = report
        err.outputs = sum(1 for r in report.rows if r.status in ("done", "skipped")) if remote else \
            sum(dst.is_file() for _, dst in plan)  # whole files, done now or before
        raise
    finally:
        if bar is not None:
            bar.close()
        if client is not None:
            client.close()
        if local is not None:
            local.close()
    report.rows.sort(key=lambda r: order[r.source])
    report.seconds = time.perf_counter() - t0
    return report


def _rows_remote(plan, todo, masks, params: Params, overwrite: bool) -> Iterator[FileResult]:
    """The rows of a batch over object storage, in this process, in input order."""
    todo = set(todo)
    for i, (src, dst) in enumerate(plan):
        yield remote_task(src, dst, params, masks[i], overwrite) if i in todo else FileResult(src, dst, "skipped")


def _measure(indices: list[int], plan, masks, params: Params, client, remote: bool, jobs: int,
             progress: bool) -> list[float | None]:
    """The cleaned wall levels of some photos of the plan (``tone: match``), where the batch runs:
    on its cluster, in its worker processes, or here."""
    from .tone import measure_task, remote_measure_task

    task = remote_measure_task if remote else measure_task
    args = [(plan[i][0], params, masks.get(i)) for i in indices]
    if client is not None:
        futures = [client.submit(task, *a, pure=False) for a in args]
        try:
            return client.gather(futures)
        finally:
            client.cancel([f for f in futures if not f.done()])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(args), unit="image", desc="measuring the walls (tone: match)", dynamic_ncols=True)
    pool = spawn_pool(min(jobs, len(args))) if jobs > 1 and len(args) > 1 else None
    try:
        levels = []
        for level in (pool.map(task, *zip(*args)) if pool is not None else (task(*a) for a in args)):
            levels.append(level)
            if bar is not None:
                bar.update(1)
        return levels
    finally:
        if pool is not None:
            _shutdown(pool)
        if bar is not None:
            bar.close()


def _throw_into(rows, err: BaseException) -> None:
    """Raise ``err`` inside a suspended row generator, so its clean-up knows why it stops."""
    try:
        rows.throw(err)
    except BaseException:
        pass



def _rows_sequential(plan, todo, masks, params, overwrite: bool = False) -> Iterator[FileResult]:
    """The photos one at a time through the engine, in input order, with the next photo decoded
    and the last one encoded beside it (threads: the codecs let go of the GIL and use no torch),
    so a photo costs about the larger of the engine and the codecs, not their sum."""
    from concurrent.futures import ThreadPoolExecutor

    order = iter(sorted(todo))
    reader = ThreadPoolExecutor(1, thread_name_prefix="backdrop-read")
    writer = ThreadPoolExecutor(1, thread_name_prefix="backdrop-write")
    reads: dict[int, object] = {}
    claims: dict[int, _Claim] = {}

    def read_ahead() -> None:
        """Take the next photo no other run has taken, and start decoding it."""
        for i in order:
            with signals_held():  # never a claim taken and not noted
                claim = _Claim.take(plan[i][1], overwrite)
                if claim is not None:
                    claims[i] = claim
            if claim is None:
                continue  # done or being done by another run: a skipped row
            reads[i] = reader.submit(open_photo, plan[i][0], params, mask=masks[i], max_pixels=MAX_PIXELS)
            return

    def finished(i: int, row: FileResult) -> FileResult:
        claims[i].release()  # then forgotten: a Ctrl-C inside the release leaves it to the finally below
        del claims[i]
        return row

    def written(pending) -> FileResult:
        i, fut = pending
        src, dst = plan[i]
        return finished(i, _row(src, dst, fut.result))

    pending = None  # (index, future) of the photo being encoded
    try:
        read_ahead()
        for i, (src, dst) in enumerate(plan):
            if i not in reads:
                if pending is not None:
                    yield written(pending)
                    pending = None
                yield FileResult(src, dst, "skipped")
                continue
            read_ahead()
            fut = reads.pop(i)
            developed = _row(src, dst, lambda: develop(fut.result(), dst, params))
            if pending is not None:  # the previous photo's row first: input order
                yield written(pending)
                pending = None
            if isinstance(developed, FileResult):  # it failed
                yield finished(i, developed)
                continue
            pending = (i, writer.submit(save, developed, dst, params))
            del developed
        if pending is not None:
            yield written(pending)
            pending = None
    finally:
        for fut in reads.values():
            fut.cancel()
        reader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True)  # a photo being written is finished (never half a file)
        for claim in claims.values():
            claim.release()
