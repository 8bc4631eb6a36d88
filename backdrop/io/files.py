"""File names and writes: printable names, atomic writes, temporary and output names."""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO, Callable

from ..errors import BackdropError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """One line that is safe to print: control characters (a newline or an ANSI escape in a file
    name) shown as escapes (``\\n``, ``\\x1b``), never sent to the terminal as they are."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def _one_line(err: object) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__



_TEMP_NAME_ROOM = 255 - 25


def temp_stem(name: str) -> str:
    """An output's name as its temporary file carries it: the name itself, or, where the whole
    would pass the 255-byte limit of a file name, its first bytes and a hash of all of it."""
    raw = os.fsencode(name)
    if len(raw) <= _TEMP_NAME_ROOM:
        return name
    digest = hashlib.blake2b(raw, digest_size=4).hexdigest()
    head = raw[: _TEMP_NAME_ROOM - 9].decode("utf-8", errors="ignore") if isinstance(name, str) else ""
    while len(os.fsencode(head)) > _TEMP_NAME_ROOM - 9:  # a surrogate-escaped name may grow
        head = head[:-1]
    return f"{head}~{digest}"


def atomic_write(path: Path, write: Callable[[BinaryIO], None], *, what: str = "the file") -> Path:
    """Write a file atomically: ``write(f)`` fills a temporary file in the same folder, which is
    synced and renamed over ``path`` only when complete. On any error nothing is left behind and
    a BackdropError names ``path``."""
    out = Path(path)
    folder = out.parent
    if not folder.is_dir():
        raise BackdropError(f"{out}: output folder {folder} does not exist")
    tmp = folder / f".{temp_stem(out.name)}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(err, Exception):
            detail = err.strerror if isinstance(err, OSError) and err.strerror else err
            raise BackdropError(f"{out}: could not write {what} ({_one_line(detail)})") from err
        raise
    _fsync_dir(folder)
    return out


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data))


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def output_path_for(
    path: str | os.PathLike[str],
    *,
    suffix: str = "_clean",
    out_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where the cleaned version of ``path`` goes.

    ``"shoot/a.jpg"`` -> ``"shoot/a_clean.jpg"``; with ``out_dir="done"`` -> ``"done/a_clean.jpg"``.
    The extension (and so the format) is kept.

    Raises:
        BackdropError: the result would be the original file itself (empty suffix, same folder).
    """
    p = Path(path)
    folder = Path(out_dir) if out_dir is not None else p.parent
    out = folder / f"{p.stem}{suffix}{p.suffix}"
    if out == p or _same_file(out, p):
        raise BackdropError(f"suffix: {suffix!r} with output folder {folder} would overwrite "
                            f"the original {p}")
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a link loop (Python before 3.13)
        return False
