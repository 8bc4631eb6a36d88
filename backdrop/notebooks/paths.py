"""Paths as a notebook or papermill gives them: the repository's root, relative paths, the bundled sample."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import BackdropError


# ---------------------------------------------------------------------------------------- paths
def repo_root() -> Path | None:
    """The clone this package runs from (the folder with ``pyproject.toml`` and ``notebooks/``),
    or ``None`` for an installed copy outside a clone."""
    here = Path(__file__).resolve().parents[2]  # backdrop/notebooks/paths.py -> the clone
    cwd = Path.cwd().resolve()
    for cand in (here, cwd, *cwd.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "backdrop").is_dir():
            return cand
    return None


def _base_dir() -> Path:
    """Where relative paths start: the current folder, except that a notebook run inside the
    repository's ``notebooks/`` folder (JupyterLab, nbmake) starts at the repository root."""
    cwd = Path.cwd().resolve()
    root = repo_root()
    if root is not None and cwd == (root / "notebooks").resolve():
        return root
    return cwd


def resolve_path(path: str | os.PathLike[str], *, must_exist: bool = True) -> Path:
    """A path as a user typed it in a notebook parameter, made absolute.

    Relative paths start at the current folder (where papermill was run), or at the
    repository root when the notebook runs in ``notebooks/``; a path that exists only
    from the repository root (``params/default.yaml`` run from elsewhere) is found there.
    """
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute():
        return p
    base = _base_dir()
    if must_exist and not (base / p).exists():
        root = repo_root()
        if root is not None and (root / p).exists():
            return root / p
    return base / p


def sample_image() -> Path:
    """The bundled sample the tune notebook opens by default."""
    root = repo_root()
    if root is None or not (root / "samples").is_dir():
        raise BackdropError("samples/: the bundled samples are not found (run from a clone of the repository)")
    return root / "samples" / "studio_white_seamless.jpg"
