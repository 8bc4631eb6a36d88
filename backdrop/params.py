"""Params: every knob of the cleanup, with validation and YAML in/out.

One parameter set means the same thing in the app, the notebooks, the CLI and
the batch: what a user saves in one is applied unchanged by the others.
"""
from __future__ import annotations

import dataclasses
import numbers
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import BackdropError

__all__ = ["Params", "Knob", "KNOBS", "KNOB", "STRUCTURAL", "FLOOR_MODES", "DEVICES", "SEGMENTERS", "TONE_PRESETS", "FOLDS"]

FLOOR_MODES = ("auto", "on", "off")
DEVICES = ("auto", "cpu", "cuda", "mps")
SEGMENTERS = ("auto", "embedded", "birefnet")
FOLDS = ("keep", "smooth")
TONE_PRESETS = (240, 245, 250, 255)  # the levels a tone control offers (any other may be typed)

# a parameter file is a dozen short lines: anything bigger, deeper or full of aliases is not one
MAX_FILE_BYTES = 64 * 1024
MAX_DEPTH = 8
MAX_ALIASES = 32


class _Budget(yaml.YAMLError):
    """Over the budget of a parameter file (aliases, depth)."""


class _PresetLoader(yaml.SafeLoader):
    """YAML as a parameter file needs it, and no more.

    * YAML 1.2 scalars: only true/false are booleans (``floor: off`` is the string "off", as a
      photographer means it), and ``3e-2`` is a number.
    * A budget: at most MAX_DEPTH levels of nesting and MAX_ALIASES aliases, so a few hundred
      bytes cannot expand into gigabytes (an alias bomb) or recurse past Python's stack.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Budget(f"more than {MAX_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Budget(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_PresetLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PresetLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_PresetLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+)
                |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse_yaml(text: str) -> Any:
    """Read YAML text the way parameter files are read (YAML 1.2 scalars, a small budget).
    Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_PresetLoader)  # noqa: S506 (a SafeLoader subclass)


_YES_NO = {"yes": True, "on": True, "no": False, "off": False}


def yaml_words(data: dict) -> dict:
    """The on/off knob written the YAML 1.1 way (``protect_contact_shadows: yes``) as the boolean a
    photographer means; only for true/false knobs (``floor: off`` stays the word "off")."""
    out = dict(data)
    for k in KNOBS:
        v = out.get(k.name)
        if k.type is bool and isinstance(v, str) and v.lower() in _YES_NO:
            out[k.name] = _YES_NO[v.lower()]
    return out


def _show(value: Any) -> str:
    """A value for a one-line message: short, and never a walk through a big structure."""
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} keys"
    text = repr(value)
    text = text.encode("unicode_escape").decode("ascii")  # no newline or escape reaches the terminal
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Knob:
    """One setting of a cleanup: the one place its default, range, label and meaning are written.
    ``Params``, its checks and docstring, the CLI's flags, the app's controls and the notebook
    Tuner's sliders are all made from :data:`KNOBS`."""

    name: str
    default: Any
    help: str  # what it does, one line (the CLI's --help, Params' docstring)
    low: float | None = None  # a number's range (inclusive)
    high: float | None = None
    step: float | None = None  # a slider's step
    choices: tuple[str, ...] = ()  # a word's allowed values (with low/high too: a word or a number)
    label: str = ""  # a control's label in the app and the Tuner
    structural: bool = False  # the analysis depends on it: a change analyses again (not only renders)
    flag: bool = False  # a CLI option of its own (--lift); every knob also works as --set NAME=VALUE

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def word_or_number(self) -> bool:
        """One of its words, or a number in its range (``tone``: keep, match or 0-255)."""
        return bool(self.choices) and self.low is not None

    def number(self, value: Any) -> int | float:
        """A value of a word-or-number knob as its number (an int when whole: ``tone: 250``)."""
        v = float(value)
        return int(v) if v.is_integer() else v


# Sizes are fractions of the image's short edge, so a 24 MP and a 45 MP frame of the same scene get
# the same result.
KNOBS: tuple[Knob, ...] = (
    Knob("lift", 70.0, "shadow lift, 0 (off) to 100 (cast shadows fully lifted to the clean wall)",
         0.0, 100.0, 1, label="Shadow lift", flag=True),
    Knob("texture", 50.0, "texture smoothing, 0 (off) to 100 (scuffs, footprints, creases and specks gone)",
         0.0, 100.0, 1, label="Texture smoothing", flag=True),
    Knob("grain", 100.0, "how much fine paper grain is kept, 0 (none: smooth) to 100 (all of it)",
         0.0, 100.0, 1, label="Paper grain kept"),
    Knob("feather", 0.02, "width of the soft transition around the subject", 0.0, 0.2, 0.005,
         label="Feather (share of the short edge)", structural=True),
    Knob("grow", 0.004, "how far the fully protected zone extends beyond the subject mask", 0.0, 0.1, 0.001,
         label="Protected margin", structural=True),
    Knob("floor", "auto", "auto detects a real floor (kept as it is), on forces detection, off treats the "
         "whole backdrop as wall/paper", choices=FLOOR_MODES, label="Floor", structural=True),
    Knob("folds", "keep", "the backdrop's own look: keep (a muslin's soft folds, a painted canvas's mottle, a "
         "weave; only the subject's cast shadow is lifted there) or smooth (folds and mottle go with the marks)",
         choices=FOLDS, label="Folds and mottle", structural=True),
    Knob("protect_contact_shadows", True, "keep the shadows around the feet of a full-length subject",
         label="Protect contact shadows", structural=True),
    Knob("contact_size", 0.08, "radius of the protected contact-shadow zone around the feet", 0.0, 0.3, 0.01,
         label="Contact zone", structural=True),
    Knob("floor_ramp", 0.03, "height of the vertical ramp at the wall-to-floor boundary", 0.0, 0.2, 0.005,
         label="Floor ramp", structural=True),
    Knob("device", "auto", "where the engine runs: auto (CUDA, else MPS, else CPU), or one of them",
         choices=DEVICES, label="Device", structural=True),
    Knob("segmenter", "auto", "how the subject is found without a mask file: auto (BiRefNet on a GPU where "
         "its weights are, else embedded), embedded (the offline model that ships with the package) or "
         "birefnet (BiRefNet-Portrait, make birefnet)", choices=SEGMENTERS, label="Segmenter", structural=True),
    Knob("birefnet_size", 1024, "BiRefNet's input size, a multiple of 32: 512 is about 4x faster on a CPU, "
         "and coarser", 256, 2048, 32, label="BiRefNet input size", structural=True),
    Knob("tone", "keep", "the wall's level: keep (each photo its own), match (every photo of a batch at the "
         "set's median) or a number, 0-255 (the median wall level on the 8-bit scale; 255: pure white)",
         0, 255, 1, choices=("keep", "match"), label="Backdrop tone", flag=True),
    Knob("jpeg_quality", 95, "quality of JPEG and WebP outputs", 1, 100, 1, label="JPEG quality"),
)
KNOB = {k.name: k for k in KNOBS}
STRUCTURAL = tuple(k.name for k in KNOBS if k.structural)  # what an Analysis depends on


class _Settings:
    """What every Params does; its fields come from :data:`KNOBS` (see the end of this module)."""

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> "Params":
        """Raise BackdropError naming the first bad parameter; return self (numbers stored as
        plain int / float, so numpy scalars from a notebook are fine)."""
        for k in KNOBS:
            value = getattr(self, k.name)
            if k.word_or_number and not (isinstance(value, str) and value in k.choices):
                given = value
                if isinstance(value, str):  # "250" from a command line or a text box
                    try:
                        value = float(value)
                    except ValueError:
                        raise BackdropError(f"parameter '{k.name}': {_show(value)} is not one of "
                                            f"{', '.join(k.choices)} or a number {k.low:g}..{k.high:g}") from None
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise BackdropError(f"parameter '{k.name}': expected {', '.join(k.choices)} or a number, "
                                        f"got {_show(value)}")
                if not (k.low <= value <= k.high):
                    raise BackdropError(f"parameter '{k.name}': {_show(given)} is outside {k.low:g}..{k.high:g}")
                setattr(self, k.name, k.number(value))
            elif k.choices:
                if not isinstance(value, str) or value not in k.choices:
                    raise BackdropError(f"parameter '{k.name}': {_show(value)} is not one of {', '.join(k.choices)}")
            elif k.type is bool:
                if not isinstance(value, bool):
                    raise BackdropError(f"parameter '{k.name}': expected true or false, got {_show(value)}")
            else:
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise BackdropError(f"parameter '{k.name}': expected a number, got {_show(value)}")
                if not (k.low <= value <= k.high):  # also rejects NaN (and infinity, before int() sees it)
                    raise BackdropError(f"parameter '{k.name}': {_show(value)} is outside {k.low:g}..{k.high:g}")
                if k.type is int and value != int(value):
                    raise BackdropError(f"parameter '{k.name}': expected a whole number, got {_show(value)}")
                if k.type is int and k.step > 1 and (int(value) - k.low) % k.step:
                    raise BackdropError(f"parameter '{k.name}': {_show(value)} is not a multiple of {k.step:g}")
                setattr(self, k.name, k.type(value))
        return self

    # ------------------------------------------------------------------ dict / YAML
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, source: str = "parameters") -> "Params":
        """Build from a mapping. Every unknown key and every bad value is named, in one line
        (``source: unknown parameter 'lfit'; parameter 'floor': 'maybe' is not one of ...``)."""
        data = dict(data or {})
        known = set(KNOB)
        unknown = sorted((k for k in data if k not in known), key=str)
        problems = [f"unknown parameter {_show(str(k))}" for k in unknown[:5]]
        if len(unknown) > 5:
            problems.append(f"and {len(unknown) - 5} more unknown")
        for key in sorted(k for k in data if k in known):
            try:
                cls(**{key: data[key]})
            except BackdropError as err:
                problems.append(str(err))
        if problems:
            hint = f" (known: {', '.join(sorted(known))})" if unknown else ""
            raise BackdropError(f"{source}: {'; '.join(problems)}{hint}")
        return cls(**data)

    def replace(self, **changes: Any) -> "Params":
        """A copy with some knobs changed (validated)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    @classmethod
    def load(cls, path: str | Path) -> "Params":
        """Read a YAML parameter file (a mapping of knob: value)."""
        path = Path(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise BackdropError(f"{path}: parameter file not found") from None
        except OSError as err:
            raise BackdropError(f"{path}: cannot read parameter file ({err.strerror or err})") from None
        if not stat.S_ISREG(st.st_mode):  # a folder, a FIFO (reading one would wait forever), a device
            raise BackdropError(f"{path}: not a parameter file (not a regular file)")
        if st.st_size > MAX_FILE_BYTES:
            raise BackdropError(f"{path}: too large for a parameter file ({st.st_size} bytes; at most {MAX_FILE_BYTES})")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise BackdropError(f"{path}: cannot read parameter file ({err})") from None
        try:
            data = parse_yaml(text)
        except _Budget as err:
            raise BackdropError(f"{path}: not a parameter file ({err})") from None
        except (yaml.YAMLError, RecursionError) as err:
            first = str(err).splitlines()[0] if str(err) else "invalid YAML"
            raise BackdropError(f"{path}: not valid YAML ({first})") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BackdropError(f"{path}: expected a mapping of parameter: value")
        return cls.from_dict(yaml_words(data), source=str(path))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        """Write as YAML, atomically."""
        from .io import atomic_write_bytes

        return atomic_write_bytes(Path(path), self.to_yaml().encode("utf-8"))


def _docstring() -> str:
    lines = ["All settings of a cleanup, one attribute per row of :data:`KNOBS`.", "",
             "Sizes are fractions of the image's short edge, so a 24 MP and a 45 MP frame of the same",
             "scene get the same result.", "", "Attributes:"]
    for k in KNOBS:
        rng = f" [{' | '.join(k.choices)}]" if k.choices else ""
        if k.low is not None:
            rng = f"{rng[:-1]} | {k.low:g}..{k.high:g}]" if rng else f" [{k.low:g}..{k.high:g}]"
        lines.append(f"    {k.name}: {k.help}{rng}; default {k.default!r}.")
    return "\n".join(lines)


# Params is made from the table: adding a knob is a row in KNOBS (and its use in an operator).
Params = dataclass(type("Params", (_Settings,), {
    "__module__": __name__,
    "__doc__": _docstring(),
    "__annotations__": {k.name: "str | float" if k.word_or_number else k.type.__name__ for k in KNOBS},
    **{k.name: k.default for k in KNOBS},
}))
