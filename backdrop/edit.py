"""``backdrop edit FILE``: Lightroom Classic's and Capture One's external-editor round trip.

The editor renders a copy of the photo (``NAME-Edit.tif`` beside the original in Lightroom, a recipe's
TIFF or JPEG in Capture One) and starts us with its path; it shows whatever is written back to that
path. So ``edit`` cleans the file in place: the same format, depth, compression and every tag
(:mod:`backdrop.io.keep`), replaced atomically. It is the one command that writes over its input,
and only over what looks like an editor's copy (:func:`check_editor_copy`), unless ``force``.

The parameters come from ``--params``, else the user's default edit preset
(:func:`default_preset_path`, set by ``backdrop edit --save-default FILE``), else the built-in ones.

``backdrop editor-app`` writes the launcher an editor needs: a ``.cmd`` on Windows
(:func:`windows_launcher`), an AppleScript applet on macOS (:func:`applescript_source`, compiled by
``osacompile``), since Lightroom on macOS opens the copy with an application instead of passing argv.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import BackdropError
from .io import atomic_write_bytes
from .io.keep import JpegLayout, TiffLayout, editor_named, read_layout, write_in_place
from .params import Params

__all__ = ["RAW_EXTENSIONS", "Edited", "applescript_source", "backdrop_command", "check_editor_copy", "config_dir",
           "default_preset_path", "edit_file", "edit_params", "save_default", "windows_launcher", "write_mac_app",
           "write_windows_launcher"]

# camera raw formats: a photo beside one of these with the same name is a camera's own file
RAW_EXTENSIONS = frozenset((
    ".3fr", ".ari", ".arw", ".bay", ".cap", ".cr2", ".cr3", ".crw", ".dcr", ".dcs", ".dng", ".drf", ".eip",
    ".erf", ".fff", ".iiq", ".k25", ".kdc", ".mdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef",
    ".ptx", ".pxn", ".r3d", ".raf", ".raw", ".rw2", ".rwl", ".rwz", ".sr2", ".srf", ".srw", ".x3f"))
_EDIT_NAME = re.compile(r"-Edit(-\d+)?$", re.IGNORECASE)  # Lightroom's NAME-Edit, NAME-Edit-2, ...
_EXTENSIONS = {"TIFF": (".tif", ".tiff"), "JPEG": (".jpg", ".jpeg", ".jpe")}
_FORCE = "use --force to clean it in place anyway"


# --------------------------------------------------------------------------- the default preset

def config_dir() -> Path:
    """Where the user's settings live: ``$BACKDROP_CONFIG_DIR``, else ``%APPDATA%\\clean-backdrop``
    (Windows), ``~/Library/Application Support/clean-backdrop`` (macOS), ``$XDG_CONFIG_HOME/clean-backdrop``
    or ``~/.config/clean-backdrop`` (Linux and others)."""
    env = os.environ.get("BACKDROP_CONFIG_DIR")
    if env:
        return Path(env)
    if os.name == "nt":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "clean-backdrop"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "clean-backdrop"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "clean-backdrop"


def default_preset_path() -> Path:
    """The default edit preset: ``edit.yaml`` in :func:`config_dir`."""
    return config_dir() / "edit.yaml"


def save_default(preset: str | os.PathLike[str]) -> Path:
    """Check ``preset`` is a valid parameter set and copy it, as it is (comments kept), to
    :func:`default_preset_path` atomically; the path written. BackdropError (nothing written) for a
    bad preset."""
    src = Path(preset)
    Params.load(src)  # one line naming the file and the bad parameter
    dst = default_preset_path()
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BackdropError(f"{dst.parent}: cannot make the settings folder ({err.strerror or err})") from None
    return atomic_write_bytes(dst, src.read_bytes())


def edit_params(params_file: str | os.PathLike[str] | None) -> tuple[Path | None, str]:
    """The parameter file an edit uses: ``params_file``, else the default preset if there is one, else
    None (the built-in defaults); and a few words saying which."""
    if params_file:
        return Path(params_file), f"parameters {params_file}"
    preset = default_preset_path()
    if preset.exists():
        return preset, f"default preset {preset}"
    return None, "built-in parameters"


# --------------------------------------------------------------------------- what may be written over

def _raw_sibling(path: Path) -> Path | None:
    stem = path.stem.casefold()
    try:
        with os.scandir(path.parent) as it:
            for entry in it:
                p = Path(entry.name)
                if p.suffix.casefold() in RAW_EXTENSIONS and p.stem.casefold() == stem:
                    return path.parent / entry.name
    except OSError:
        return None
    return None


def check_editor_copy(path: Path, layout: TiffLayout | JpegLayout) -> str:
    """Why ``path`` looks like an editor's copy (a few words); BackdropError saying why not otherwise.

    The rules, in order (the first that applies decides):

    1. in a folder named ``DCIM`` (or below one), a camera card's: refused;
    2. named like Lightroom's copies, ``NAME-Edit.tif``, ``NAME-Edit-2.jpg``: accepted;
    3. its Software tag (TIFF, EXIF) or its XMP CreatorTool names Lightroom, Photoshop or Capture One:
       accepted (Capture One's Edit With may put ``NAME.tif`` beside ``NAME.IIQ``);
    4. a camera raw with the same name beside it (``NAME.CR2`` beside ``NAME.jpg``, any case, any of
       :data:`RAW_EXTENSIONS`): the camera's own JPEG or TIFF: refused;
    5. anything else: refused (a camera's own JPEG names only the camera's make and firmware).
    """
    path = Path(path)
    folders = [part.casefold() for part in path.resolve().parent.parts]
    if "dcim" in folders:
        raise BackdropError(f"{path}: refusing to write over a photo in a camera card's DCIM folder, an "
                            f"original and not an editor's copy; {_FORCE}")
    if _EDIT_NAME.search(path.stem):
        return "named like an editor's copy"
    editor = editor_named(layout)
    if editor:
        return f"made by {editor}"
    raw = _raw_sibling(path)
    if raw is not None:
        raise BackdropError(f"{path}: refusing to write over it: its camera raw {raw.name} is beside it and no "
                            f"editor is named in its Software or XMP, so it is the camera's own {layout.format}, "
                            f"not an editor's copy; {_FORCE}")
    if layout.make:
        sw = f", Software {layout.software!r}" if layout.software else ""
        raise BackdropError(f"{path}: refusing to write over it: a camera's own {layout.format} (Make "
                            f"{layout.make!r}{sw}, no Lightroom, Photoshop or Capture One in its XMP), not an "
                            f"editor's copy; {_FORCE}")
    raise BackdropError(f"{path}: refusing to write over it: it does not look like an editor's copy (no "
                        f"-Edit in its name, no Lightroom, Photoshop or Capture One in its Software or XMP); "
                        f"{_FORCE}")


# --------------------------------------------------------------------------- the edit

@dataclass
class Edited:
    """What ``edit_file`` did: the file, why it was taken, its layout in words, the result's row."""

    path: Path
    reason: str
    layout: str
    size: tuple[int, int]
    segmenter: str
    seconds: float
    warning: str


def edit_file(path: str | os.PathLike[str], params: Params, *, force: bool = False,
              mask: str | os.PathLike[str] | None = None) -> Edited:
    """Clean an editor's copy in place, keeping its format, depth, compression and every tag.

    The subject comes from ``mask``, else ``NAME_mask.png`` beside the file, else the segmenter.
    Raises BackdropError (nothing written) for a file that is not a TIFF or JPEG, whose layout cannot be
    written back, or that does not look like an editor's copy (unless ``force``)."""
    from .service import develop, open_photo

    t = time.perf_counter()
    given = Path(path)
    if not given.exists():
        raise BackdropError(f"{given}: file not found")
    target = given.resolve()  # a link: the file it points to is written, the link stays
    if not target.is_file():
        raise BackdropError(f"{given}: not a regular file")
    layout = read_layout(target)
    if target.suffix.lower() not in _EXTENSIONS[layout.format]:
        raise BackdropError(f"{given}: its name says {target.suffix or 'nothing'} but it holds a {layout.format}")
    reason = "forced (--force)" if force else check_editor_copy(given, layout)
    opened = open_photo(target, params, mask=Path(mask) if mask else None)
    developed = develop(opened, target, params)  # target's extension gives the file's depth
    write_in_place(target, developed.like.data, layout,
                   alpha=developed.like.alpha if isinstance(layout, TiffLayout) else None)
    return Edited(given, reason, layout.description, developed.like.size, developed.used,
                  time.perf_counter() - t, "; ".join(developed.warnings))


# --------------------------------------------------------------------------- launchers

def backdrop_command() -> list[str]:
    """The absolute command that runs this installation's backdrop: the ``backdrop`` script beside the
    running interpreter (``Scripts\\backdrop.exe`` on Windows), else ``python -m backdrop``."""
    exe = Path(sys.executable)
    script = exe.with_name("backdrop.exe" if os.name == "nt" else "backdrop")
    if script.is_file():
        return [str(script.absolute())]
    return [str(exe.absolute()), "-m", "backdrop"]


def windows_launcher(command: list[str] | None = None) -> str:
    """The text of ``backdrop-edit.cmd``: runs ``backdrop edit`` on the file Lightroom passes and keeps
    the window open on an error so the photographer can read it."""
    command = backdrop_command() if command is None else command
    quoted = " ".join(f'"{part}"' for part in command).replace("%", "%%")  # % is cmd's variable sign
    return ("@echo off\r\n"
            "rem Clean Backdrop: Lightroom's / Capture One's external editor (backdrop editor-app --windows)\r\n"
            "chcp 65001 >nul\r\n"
            f'{quoted} edit "%~1"\r\n'
            "if errorlevel 1 pause\r\n")


def _applescript_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def applescript_source(command: list[str] | None = None) -> str:
    """The AppleScript of the macOS applet: ``backdrop edit`` on each file it is asked to open (what
    Lightroom and Capture One do with an external editor), an alert with the reason when one fails."""
    command = backdrop_command() if command is None else command
    shell = ' & " " & '.join(f"(quoted form of {_applescript_string(part)})" for part in command)
    return f"""-- Clean Backdrop: Lightroom's / Capture One's external editor (written by backdrop editor-app)
on open theFiles
\trepeat with theFile in theFiles
\t\tset thePath to POSIX path of theFile
\t\ttry
\t\t\twith timeout of 3600 seconds
\t\t\t\tdo shell script {shell} & " edit " & (quoted form of thePath)
\t\t\tend timeout
\t\ton error theMessage
\t\t\tdisplay alert "Clean Backdrop could not clean " & thePath message theMessage as warning
\t\tend try
\tend repeat
end open

on run
\tdisplay dialog "Clean Backdrop cleans the photos an editor opens with it: choose this app as the external " & "editor in Lightroom Classic or Capture One, or drop a TIFF or JPEG editor's copy on it." buttons {{"OK"}} default button "OK"
end run
"""


def write_windows_launcher(dest: str | os.PathLike[str]) -> Path:
    """Write ``backdrop-edit.cmd`` (atomically) at ``dest``; the path."""
    out = Path(dest)
    if out.suffix.lower() not in (".cmd", ".bat"):
        raise BackdropError(f"{out}: a Windows launcher's name ends in .cmd (Lightroom wants an .exe or .cmd)")
    return atomic_write_bytes(out, windows_launcher().encode("utf-8"))


def write_mac_app(dest: str | os.PathLike[str]) -> Path:
    """Compile the applet (:func:`applescript_source`) to ``dest`` (``NAME.app``) with osacompile."""
    out = Path(dest)
    tool = shutil.which("osacompile")
    if tool is None:
        raise BackdropError("osacompile not found: editor-app makes a macOS application and needs macOS; "
                            "for Windows write the launcher with --windows PATH.cmd, elsewhere give the "
                            "editor backdrop itself")
    if out.suffix != ".app":
        raise BackdropError(f"{out}: a macOS application's name ends in .app")
    if out.exists():
        raise BackdropError(f"{out}: already exists; remove it first or choose another name")
    if not out.parent.is_dir():
        raise BackdropError(f"{out}: folder {out.parent} does not exist")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "backdrop-edit.applescript"
        script.write_text(applescript_source(), encoding="utf-8")
        done = subprocess.run([tool, "-o", str(out), str(script)], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout or "").split()) or f"exit code {done.returncode}"
        shutil.rmtree(out, ignore_errors=True)
        raise BackdropError(f"{out}: osacompile failed ({said})")
    return out
