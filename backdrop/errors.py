"""The exceptions every layer raises, one type per kind of failure a user can meet.

A :class:`BackdropError` is a user's mistake or a bad file: ``str(err)`` is one line naming the
file or the parameter and what is wrong, the command exits 2 (or the photo is reported as failed in
a batch), and nothing is written. Anything else that escapes is a bug, and keeps its traceback.
"""
from __future__ import annotations

import signal

__all__ = ["BackdropError", "TooLarge", "OutputError", "FilesFailed", "Stopped", "first_line", "is_out_of_memory"]


class BackdropError(Exception):
    """A user error: ``str(err)`` is one line naming the file or parameter and the problem."""


class TooLarge(BackdropError):
    """An image (or mask) whose header promises more pixels than allowed, refused before decoding;
    ``width`` and ``height`` are the header's, for a front end to word its own limit."""

    def __init__(self, message: str, width: int, height: int):
        super().__init__(message)
        self.width, self.height = width, height


class OutputError(BackdropError):
    """The output folder cannot take files (full disk, read-only, no permission): a batch stops.
    ``report`` holds the rows done before it stopped."""

    report = None


class FilesFailed(BackdropError):
    """Some photos of a batch failed (the report lists them); the run ends non-zero."""


class Stopped(KeyboardInterrupt):
    """A batch was asked to stop by a signal (SIGTERM); handled like Ctrl-C."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = int(signum)


def is_out_of_memory(err: BaseException) -> bool:
    """A GPU (CUDA, MPS) allocation failure: torch.cuda.OutOfMemoryError or its message."""
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(err, oom):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def first_line(err: BaseException) -> str:
    """An exception's first non-empty line (its type's name when it says nothing): what a
    one-line message quotes of a library's error."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0] if lines else type(err).__name__
