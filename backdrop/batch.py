"""Folder in, folder out: clean every image of a shoot.

Guarantees (``backdrop batch``, :func:`run_batch`, the papermill report, ``--jobs N`` alike):

* **Inputs.** Every JPEG, PNG, TIFF and WebP of the folder (not recursive), by name. Hidden
  files (``.name``, ``._name``), sidecars (``.xmp``, ``.json``) and other types (``.gif``,
  ``.txt`` ...) are no input and are skipped silently; so are our own outputs
  (``NAME_clean.EXT``) and masks (``NAME_mask.EXT``): a file already called ``x_clean.jpg``
  is never cleaned again.
* **One bad file is one line.** A file that cannot be read (zero bytes, truncated, not an
  image, over :data:`MAX_PIXELS`, a layout we cannot decode) is reported with a one-line
  reason naming it, nothing is written for it, and the rest of the folder is done.
* **Atomic outputs.** Each output is written to a hidden temporary file
  (``.NAME_clean.EXT.tmp-PID-XXXXXXXX``) in the output folder and renamed when complete.
  On an error, Ctrl-C (SIGINT) or SIGTERM the temporary file is removed; after a SIGKILL it
  may stay, hidden, and the next run removes it. An output that exists is always whole.
* **Resume.** Outputs that exist are skipped (``--overwrite`` redoes them), so a re-run after
  an interruption does only the missing images.
* **Originals are never written**; an output path that would be the original is refused.
* **The output folder must exist.** A read-only folder is refused before any work; a write
  that fails because the folder cannot take files (full disk, read-only, no permission)
  stops the batch with one line (:class:`OutputError`): the images done so far are kept.
* **GPU out of memory**: the image is segmented or cleaned on the CPU instead, with a one-line
  warning.
* **Parallel** (``jobs=N``): N worker processes (spawned), each with ``cpu_count // N`` torch
  threads. The progress bar shows at once (the parent does not load torch) and moves, and a
  failure is named, as each photo finishes; the report's rows are in input order; the same
  guarantees; Ctrl-C / SIGTERM stop the workers cleanly (their temporary files removed).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .errors import BackdropError, OutputError, Stopped
from .io import SUPPORTED_EXTENSIONS, output_path_for, printable, temp_stem
from .params import Params
from .service import (
    MASK_SUFFIX,
    MAX_PIXELS,
    FileResult,
    clean_file,
    develop,
    mask_for,
    open_photo,
    save,
    subject_mask,
)

__all__ = [
    "find_images",
    "check_out_dir",
    "mask_for",
    "subject_mask",
    "clean_file",
    "run_batch",
    "remove_stale_temps",
    "stop_on_sigterm",
    "FileResult",
    "BatchReport",
    "SUFFIX",
    "MAX_PIXELS",
]

SUFFIX = "_clean"

# errors of a write that say the output folder cannot take files: stop, do not try the rest
_FOLDER_ERRNOS = frozenset(
    e for e in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, getattr(errno, "EDQUOT", None)) if e
)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}$")  # io.atomic_write's temporaries
_CLAIM_NAME = re.compile(r"^\.(?P<name>.+)\.claim$")  # _Claim's
_PROBE_NAME = re.compile(r"^\.backdrop-probe-(?P<pid>\d+)-[0-9a-f]{8}$")  # _check_writable's


@dataclass
class BatchReport:
    rows: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    planned: int = 0  # images found (done, skipped or failed once the batch is through)

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
            f"{per:.2f} s per image"
        )


def _is_derived(path: Path) -> bool:
    stem = path.stem
    return stem.endswith(SUFFIX) or stem.endswith(MASK_SUFFIX)


def find_images(folder: Path) -> list[Path]:
    """The images of a shoot folder (not recursive): supported extensions, no hidden files,
    none of our own outputs (``*_clean.*``) or masks (``*_mask.*``). A name that looks like a
    photo but is a broken link, a link loop or a FIFO is kept, so that it is reported (one line)
    rather than passed over without a word; folders are not."""
    folder = Path(folder)
    if not folder.exists():
        raise BackdropError(f"{folder}: folder not found")
    if not folder.is_dir():
        raise BackdropError(f"{folder}: not a folder")
    return sorted(
        p
        for p in folder.iterdir()
        if not p.is_dir()
        and not p.name.startswith(".")
        and p.suffix.lower() in SUPPORTED_EXTENSIONS
        and not _is_derived(p)
    )


def check_out_dir(out_dir: str | os.PathLike[str] | None) -> Path | None:
    """The output folder as a Path; one line when it does not exist (it is never created)."""
    if out_dir is None:
        return None
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise BackdropError(f"{out_dir}: output folder not found")
    return out_dir


# --------------------------------------------------------------------------- one file

def _folder_error(err: BackdropError) -> bool:
    cause = err.__cause__
    return isinstance(cause, OSError) and cause.errno in _FOLDER_ERRNOS


def _process(src: Path, dst: Path, params: Params, mask: Path | None) -> FileResult:
    """One image: a row, or OutputError when the output folder cannot take the file."""
    return _row(src, dst, lambda: clean_file(src, dst, params, mask=mask))


def _row(src: Path, dst: Path, work: Callable[[], FileResult]) -> FileResult:
    """``work()``'s row; a user error is a failed row, one the output folder causes is OutputError."""
    try:
        return work()
    except BackdropError as err:
        if _folder_error(err):
            raise OutputError(str(err)) from None
        return FileResult(src, dst, "failed", error=str(err))
    except MemoryError:
        return FileResult(src, dst, "failed", error=f"{src}: out of memory")


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


# --------------------------------------------------------------------------- the folder

def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temps(folder: Path, names: set[str]) -> list[Path]:
    """Remove the temporary files a killed run left for the outputs ``names`` in ``folder``
    (``.NAME.tmp-PID-XXXXXXXX`` whose process is gone; also a write probe of ours). Returns
    what was removed. Anything else, and a temporary of a process still running, stays."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    stems = {temp_stem(n) for n in names}
    for p in entries:
        c = _CLAIM_NAME.match(p.name)
        if c is not None:
            if c["name"] in stems and _Claim.stale(p):
                removed.append(p)
            continue
        m = _TEMP_NAME.match(p.name)
        if m is not None and m["name"] not in stems:
            continue
        m = m or _PROBE_NAME.match(p.name)
        if m is None or _pid_alive(int(m["pid"])):
            continue
        try:
            if p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
        except OSError:
            pass
    return removed


def _check_writable(folder: Path) -> None:
    """Create and remove a hidden probe file: a read-only folder is one line before any work."""
    probe = folder / f".backdrop-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as err:
        raise OutputError(f"{folder}: cannot write to the output folder ({err.strerror or err})") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass


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
) -> BatchReport:
    """Clean every image of ``folder``; outputs ``NAME_clean.EXT`` beside the originals or in ``out_dir``.

    ``limit``: only the first ``limit`` images (by name; 0 = all). ``jobs``: worker processes
    (1: in this process). ``on_result`` sees each row as it finishes; the report's rows are in
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

    masks = {i: mask_for(plan[i][0], masks_dir) for i in todo}
    if jobs > 1 and len(todo) > 1:
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
        err.outputs = sum(dst.is_file() for _, dst in plan)  # whole files, done now or before
        raise
    finally:
        if bar is not None:
            bar.close()
    report.rows.sort(key=lambda r: order[r.source])
    report.seconds = time.perf_counter() - t0
    return report


def _throw_into(rows, err: BaseException) -> None:
    """Raise ``err`` inside a suspended row generator, so its clean-up knows why it stops."""
    try:
        rows.throw(err)
    except BaseException:
        pass


class _Claim:
    """A photo taken by this run: an exclusive lock (``flock``) on ``.NAME.claim`` beside its output.

    Two batches on one folder share the work: a run takes a photo at the moment it starts on it,
    and passes over one another live run holds or whose output has appeared meanwhile. The lock
    goes with its process (a killed run leaves none behind). Where there is no ``flock`` (Windows),
    only the output's existence is checked.
    """

    def __init__(self, fd: int | None, path: Path | None):
        self.fd, self.path = fd, path

    @classmethod
    def take(cls, dst: Path, overwrite: bool) -> "_Claim | None":
        if not overwrite and dst.is_file():
            return None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return cls(None, None)
        path = dst.parent / f".{temp_stem(dst.name)}.claim"
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError:
            return cls(None, None)  # a folder that takes no file fails at the write, with its reason
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None  # another run is cleaning it
        if not overwrite and dst.is_file():  # done by another run between the two looks
            os.close(fd)
            return None
        return cls(fd, path)

    @staticmethod
    def stale(path: Path) -> bool:
        """Remove a claim no live run holds (one a killed run left); True when removed."""
        try:
            import fcntl

            fd = os.open(path, os.O_RDWR)
        except (ImportError, OSError):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self.fd)
            self.fd = None


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
            claim = _Claim.take(plan[i][1], overwrite)
            if claim is None:
                continue  # done or being done by another run: a skipped row
            claims[i] = claim
            reads[i] = reader.submit(open_photo, plan[i][0], params, mask=masks[i], max_pixels=MAX_PIXELS)
            return

    def finished(i: int, row: FileResult) -> FileResult:
        claims.pop(i).release()
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


def _rows_parallel(plan, todo, masks, params, workers: int, overwrite: bool = False) -> Iterator[FileResult]:
    """The rows of a batch cleaned by ``workers`` processes, in the order they finish (the
    photos with nothing to do first)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(threads, os.getpid()))
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
