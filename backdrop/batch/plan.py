"""What a batch will do: the photos of a folder, the output folder, stale temporaries, claims, a photo's row."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from pathlib import Path
from typing import Callable

from ..errors import BackdropError, OutputError
from ..io import SUPPORTED_EXTENSIONS, temp_stem
from ..params import Params
from ..service import (
    MASK_SUFFIX,
    FileResult,
    clean_file,
)

SUFFIX = "_clean"

# errors of a write that say the output folder cannot take files: stop, do not try the rest
_FOLDER_ERRNOS = frozenset(
    e for e in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, getattr(errno, "EDQUOT", None)) if e
)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}$")  # io.atomic_write's temporaries
_CLAIM_NAME = re.compile(r"^\.(?P<name>.+)\.claim$")  # _Claim's
_PROBE_NAME = re.compile(r"^\.backdrop-probe-(?P<pid>\d+)-[0-9a-f]{8}$")  # _check_writable's



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
        # Ctrl-C or SIGTERM may come at any point here (the handler raises in this thread): the claim
        # file is never left behind in the output folder
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None  # another run is cleaning it
        except BaseException:
            os.close(fd)
            cls.stale(path)  # unless another run holds it by now
            raise
        claim = cls(fd, path)
        try:
            if not overwrite and dst.is_file():  # done by another run between the two looks
                claim.release()
                return None
        except BaseException:
            claim.release()
            raise
        return claim

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
        """Remove the claim file and let the lock go; again after a Ctrl-C inside, it finishes."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            fd, self.fd = self.fd, None  # never closed twice (the number may be another file's by then)
            os.close(fd)


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
