"""Params: every knob of the cleanup, with validation and YAML in/out.

One parameter set means the same thing in the app, the notebooks, the CLI and
the batch: what a user saves in one is applied unchanged by the others.
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from .io import BackdropError

__all__ = ["Params", "FLOOR_MODES", "DEVICES"]

FLOOR_MODES = ("auto", "on", "off")
DEVICES = ("auto", "cpu", "cuda", "mps")
SEGMENTERS = ("auto", "embedded", "birefnet")

# name -> (low, high) for numeric knobs
_RANGES: dict[str, tuple[float, float]] = {
    "lift": (0.0, 100.0),
    "texture": (0.0, 100.0),
    "grain": (0.0, 100.0),
    "feather": (0.0, 0.2),
    "grow": (0.0, 0.1),
    "contact_size": (0.0, 0.3),
    "floor_ramp": (0.0, 0.2),
    "jpeg_quality": (1, 100),
}


@dataclass
class Params:
    """All settings of a cleanup.

    Sizes are fractions of the image's short edge, so a 24 MP and a 45 MP frame
    of the same scene get the same result.

    Attributes:
        lift: shadow lift, 0 (off) to 100 (cast shadows fully lifted to the clean wall).
        texture: texture smoothing, 0 (off) to 100 (scuffs, footprints, creases and specks gone).
        grain: how much fine paper grain is kept, 0 (none: smooth) to 100 (all of it).
        feather: width of the soft transition around the subject.
        grow: how far the fully protected zone extends beyond the subject mask.
        floor: "auto" detects a real floor (kept as it is), "on" forces detection, "off" treats
            the whole backdrop as wall/paper.
        protect_contact_shadows: keep the shadows around the feet of a full-length subject.
        contact_size: radius of the protected contact-shadow zone around the feet.
        floor_ramp: height of the vertical ramp at the wall-to-floor boundary.
        device: "auto" (CUDA, else MPS, else CPU), or one of them explicitly.
        segmenter: how the subject is found when no mask file is given: "auto" (the best
            available), "embedded" (the offline model that ships with the package) or
            "birefnet" (BiRefNet-Portrait, the optional extra ``[birefnet]``).
        jpeg_quality: quality of JPEG and WebP outputs.
    """

    lift: float = 70.0
    texture: float = 50.0
    grain: float = 100.0
    feather: float = 0.02
    grow: float = 0.004
    floor: str = "auto"
    protect_contact_shadows: bool = True
    contact_size: float = 0.08
    floor_ramp: float = 0.03
    device: str = "auto"
    segmenter: str = "auto"
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> "Params":
        """Raise BackdropError naming the first bad parameter; return self."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _RANGES:
                low, high = _RANGES[f.name]
                want_int = f.type in ("int", int)
                # any real number (numpy scalars from a notebook too), stored as a plain int / float
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise BackdropError(f"parameter '{f.name}': expected a number, got {value!r}")
                if not (low <= value <= high):  # also rejects NaN (and infinity, before int() sees it)
                    raise BackdropError(f"parameter '{f.name}': {value!r} is outside {low:g}..{high:g}")
                if want_int and value != int(value):
                    raise BackdropError(f"parameter '{f.name}': expected a whole number, got {value!r}")
                setattr(self, f.name, int(value) if want_int else float(value))
        if self.floor not in FLOOR_MODES:
            raise BackdropError(f"parameter 'floor': {self.floor!r} is not one of {', '.join(FLOOR_MODES)}")
        if self.device not in DEVICES:
            raise BackdropError(f"parameter 'device': {self.device!r} is not one of {', '.join(DEVICES)}")
        if self.segmenter not in SEGMENTERS:
            raise BackdropError(f"parameter 'segmenter': {self.segmenter!r} is not one of {', '.join(SEGMENTERS)}")
        if not isinstance(self.protect_contact_shadows, bool):
            raise BackdropError(
                f"parameter 'protect_contact_shadows': expected true or false, got {self.protect_contact_shadows!r}"
            )
        return self

    # ------------------------------------------------------------------ dict / YAML
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, source: str = "parameters") -> "Params":
        """Build from a mapping; unknown keys are an error naming the key and the source."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BackdropError(
                f"{source}: unknown parameter '{unknown[0]}' (known: {', '.join(sorted(known))})"
            )
        try:
            return cls(**data)
        except BackdropError as err:
            raise BackdropError(f"{source}: {err}") from None

    def replace(self, **changes: Any) -> "Params":
        """A copy with some knobs changed (validated)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    @classmethod
    def load(cls, path: str | Path) -> "Params":
        """Read a YAML parameter file (a mapping of knob: value)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BackdropError(f"{path}: parameter file not found") from None
        except (OSError, UnicodeDecodeError) as err:
            raise BackdropError(f"{path}: cannot read parameter file ({err})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            first = str(err).splitlines()[0] if str(err) else "invalid YAML"
            raise BackdropError(f"{path}: not valid YAML ({first})") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BackdropError(f"{path}: expected a mapping of parameter: value")
        return cls.from_dict(data, source=str(path))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        """Write as YAML, atomically."""
        from .io import atomic_write_bytes

        return atomic_write_bytes(Path(path), self.to_yaml().encode("utf-8"))
