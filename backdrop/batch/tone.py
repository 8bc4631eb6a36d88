"""``tone: match`` for a batch: one wall level for the whole set.

Before any photo is written, every photo of the set is measured (its wall's level once cleaned,
see :func:`backdrop.pipeline.wall_level`; nothing is written), and the median of those levels is
the set's target. It is stored beside the outputs in ``backdrop-tone.yaml``, so a resumed batch,
or one spread over a cluster, sets every photo to the same level; ``--overwrite`` measures the
set again. Each photo is then cleaned with ``tone`` set to that number.
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import yaml

from ..errors import BackdropError, first_line
from ..io import atomic_write_bytes
from ..params import STRUCTURAL, Params
from ..service import measure_file

__all__ = ["TONE_FILE", "resolve_match", "measure_task", "remote_measure_task"]

TONE_FILE = "backdrop-tone.yaml"
# the knobs a wall's cleaned level depends on besides the photo (the sliders and what the analysis
# depends on, but where it runs): a stored target made with others is measured again
_MEASURED_WITH = ("lift", "texture", "grain", *(k for k in STRUCTURAL if k != "device"))


def measure_task(src: Path, params: Params, mask: Path | None) -> float | None:
    """One photo's cleaned wall level, or None (no wall, or a file that cannot be read: its own
    row says why when it is cleaned)."""
    try:
        return measure_file(src, params, mask=mask)
    except (BackdropError, MemoryError):
        return None


def remote_measure_task(src: str, params: Params, mask: str | None) -> float | None:
    """:func:`measure_task` of a photo in a store (fetched to a temporary folder)."""
    from .remote import fetched

    with tempfile.TemporaryDirectory(prefix="backdrop-") as tmp:
        try:
            with fetched(src, mask, Path(tmp)) as (local, mask_file):
                return measure_task(local, params, mask_file)
        except BackdropError:
            return None


def _target_place(plan) -> tuple[str, bool]:
    """Where the set's target is stored: beside the first output (a folder or a store URL)."""
    dst = plan[0][1]
    if isinstance(dst, Path):
        return str(dst.parent / TONE_FILE), False
    return f"{str(dst).rsplit('/', 1)[0]}/{TONE_FILE}", True


def _read(place: str, remote: bool) -> dict | None:
    try:
        if remote:
            from .remote import _fs

            fs, path = _fs(place)
            with fs.open(path, "rb") as f:
                text = f.read(65536).decode("utf-8")
        else:
            text = Path(place).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise BackdropError(f"{place}: cannot read the set's tone ({first_line(err)})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("target"), (int, float)) \
            or not 0 <= data["target"] <= 255:
        raise BackdropError(f"{place}: not a set's tone file (delete it, or run with --overwrite to measure again)")
    return data


def _write(place: str, remote: bool, data: dict) -> None:
    text = ("# Clean Backdrop: the wall level every photo of this set is cleaned to (tone: match).\n"
            "# Delete this file, or run with --overwrite, to measure the set again.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    if remote:
        from .remote import _fs, _store_error

        fs, path = _fs(place)
        try:
            with fs.open(path, "wb") as f:
                f.write(text.encode("utf-8"))
        except Exception as err:  # noqa: BLE001 (a store raises its own kinds)
            raise _store_error(place, err) from None
    else:
        atomic_write_bytes(Path(place), text.encode("utf-8"))


def resolve_match(plan, masks: dict, params: Params, overwrite: bool, measure) -> tuple[Params, str]:
    """The batch's parameters with ``tone: match`` made the set's level, and a line saying it.

    ``plan``: (source, output) per photo; ``masks``: each photo's mask file (by index, where
    known); ``measure(indices)``: the levels of those photos (None where there is none), however
    the batch runs them (here, in worker processes, on a cluster).
    """
    place, remote = _target_place(plan)
    with_ = {k: getattr(params, k) for k in _MEASURED_WITH}
    stored = None if overwrite else _read(place, remote)
    if stored is not None and stored.get("measured_with", with_) == with_:
        target = float(stored["target"])
        return params.replace(tone=round(target, 2)), f"tone: match, {target:.1f} (the set's level, from {place})"
    levels = measure(list(range(len(plan))))
    named = {Path(str(src)).name: (None if v is None else round(v, 2)) for (src, _), v in zip(plan, levels)}
    found = [v for v in levels if v is not None]
    if not found:
        return params.replace(tone="keep"), "tone: match, but no photo has a wall to measure: each keeps its level"
    target = statistics.median(found)
    spread = max(found) - min(found)
    _write(place, remote, {"target": round(target, 2), "photos": len(found), "spread_before": round(spread, 2),
                           "measured_with": with_, "levels": named})
    return (params.replace(tone=round(target, 2)),
            f"tone: match, {target:.1f} (the median of {len(found)} photos' walls, {min(found):.1f}..{max(found):.1f}; "
            f"stored in {place})")
