"""The batch report's pieces (batch.ipynb): the run's checks, tables, thumbnails, its end."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..errors import BackdropError, FilesFailed
from ..io import printable
from ..params import Params
from .paths import repo_root, resolve_path

if TYPE_CHECKING:  # pragma: no cover
    from ..batch import BatchReport
    from ..service import FileResult


# ---------------------------------------------------------------------------------------- batch report
@dataclass
class BatchInputs:
    """The checked parameters of a batch run, paths made absolute."""

    input_dir: Path
    params_file: Path
    params: Params
    output_dir: Path | None
    masks_dir: Path | None
    images: list[Path]
    limit: int


def check_batch_inputs(
    input_dir: str,
    params_file: str,
    output_dir: str = "",
    *,
    masks_dir: str = "",
    limit: int = 0,
) -> BatchInputs:
    """Check a batch's parameters before anything is written; raise BackdropError naming the
    parameter and the path (one line) when one is wrong."""
    from ..batch import find_images

    if not str(input_dir).strip():
        raise BackdropError("input_dir: no folder given")
    src = resolve_path(input_dir)
    if not src.exists():
        raise BackdropError(f"input_dir {input_dir!r}: folder not found")
    if not src.is_dir():
        raise BackdropError(f"input_dir {input_dir!r}: not a folder")
    if not str(params_file).strip():
        raise BackdropError("params_file: no parameter file given")
    pf = resolve_path(params_file)
    if not pf.is_file():
        raise BackdropError(f"params_file {params_file!r}: parameter file not found")
    params = Params.load(pf)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise BackdropError(f"limit: expected a whole number >= 0 (0: all images), got {limit!r}")
    images = find_images(src)
    if not images:
        raise BackdropError(f"input_dir {input_dir!r}: no images (JPEG, PNG, TIFF, WebP) in the folder")
    out = resolve_path(output_dir, must_exist=False) if str(output_dir).strip() else None
    root = repo_root()
    if out is None and root is not None and src.resolve() == (root / "samples").resolve():
        out = root / "out" / "samples"  # the bundled samples folder stays as committed (as `make demo`)
    if out is not None and out.exists() and not out.is_dir():
        raise BackdropError(f"output_dir {output_dir!r}: exists and is not a folder")
    masks = resolve_path(masks_dir) if str(masks_dir).strip() else None
    if masks is not None and not masks.is_dir():
        raise BackdropError(f"masks_dir {masks_dir!r}: folder not found")
    return BatchInputs(src, pf, params, out, masks, images[:limit] if limit else images, limit)


def params_table(inputs: BatchInputs) -> str:
    """Markdown: the run's parameters and every knob of the parameter set."""
    lines = [
        "| run parameter | value |",
        "|---|---|",
        f"| input_dir | `{inputs.input_dir}` ({len(inputs.images)} images"
        + (f", limit {inputs.limit}" if inputs.limit else "") + ") |",
        f"| params_file | `{inputs.params_file}` |",
        f"| output_dir | `{inputs.output_dir}` |" if inputs.output_dir else "| output_dir | beside the originals (`NAME_clean.EXT`) |",
    ]
    if inputs.masks_dir:
        lines.append(f"| masks_dir | `{inputs.masks_dir}` |")
    lines += ["", "| knob | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in inputs.params.to_dict().items()]
    return "\n".join(lines)


def _fmt(v: Any, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


RESULT_COLUMNS = ("image", "status", "size", "time (s)", "segmenter", "wall level before", "wall level after",
                  "spread before", "spread after", "defects before", "defects after")


def _cell(text: str) -> str:
    """Text for a markdown table cell: one line, its control characters escaped, no bare ``|``."""
    return printable(text).replace("|", "\\|")


def results_table(rows: Iterable["FileResult"]) -> str:
    """Markdown: one row per image (size, time, segmenter, the wall's level before/after, backdrop
    luminance spread before/after, defect score before/after; levels of 255)."""
    lines = ["| " + " | ".join(RESULT_COLUMNS) + " |", "|" + "---|" * len(RESULT_COLUMNS)]
    for r in rows:
        size = f"{r.size[0]}x{r.size[1]}" if r.size else "–"
        secs = f"{r.seconds:.2f}" if r.status == "done" else "–"
        lines.append(
            f"| {_cell(r.source.name)} | {r.status} | {size} | {secs} | {r.segmenter or '–'} | "
            f"{_fmt(r.level_before)} | {_fmt(r.level_after)} | {_fmt(r.spread_before)} | {_fmt(r.spread_after)} | {_fmt(r.defects_before, '.2f')} | "
            f"{_fmt(r.defects_after, '.2f')} |"
        )
    return "\n".join(lines)


THUMBNAILS_MAX = 100  # before/after pairs shown in a report (the table lists every image)


def with_outputs(rows: Iterable["FileResult"], *, most: int = THUMBNAILS_MAX) -> list["FileResult"]:
    """The rows whose cleaned file exists (done or skipped), the first ``most`` of them."""
    return [r for r in rows if r.status in ("done", "skipped") and r.output.is_file()][:most]


def raise_if_failed(report: "BatchReport") -> None:
    """End the run non-zero (FilesFailed, one line) when an image failed, as ``backdrop batch`` does."""
    failed = [r for r in report.rows if r.status == "failed"]
    if failed:
        names = ", ".join(r.source.name for r in failed[:5]) + (", ..." if len(failed) > 5 else "")
        raise FilesFailed(f"{len(failed)} of {len(report.rows)} images failed: {names} (reasons in the report)")


def failures_table(rows: Iterable["FileResult"]) -> str:
    """Markdown: how many images failed, and which and why (empty string when none did)."""
    rows = list(rows)
    failed = [r for r in rows if r.status == "failed"]
    if not failed:
        return ""
    lines = [f"**{len(failed)} of {len(rows)} images failed**: their files are as they were, and the run "
             "ends with exit status 1.", "", "| image | reason |", "|---|---|"]
    lines += [f"| {_cell(r.source.name)} | {_cell(r.error)} |" for r in failed]
    return "\n".join(lines)


def totals_line(report: "BatchReport") -> str:
    """Markdown: the batch's counts, its time per photo and the median figures before and after."""
    done = [r for r in report.rows if r.status == "done"]
    spread = [r for r in done if r.spread_before is not None]
    line = (f"**{len(report.rows)} images: done {len(done)}, skipped {report.count('skipped')}, "
            f"failed {report.failed}**; {report.seconds:.1f} s in all"
            + (f", {report.seconds / len(done):.2f} s per image" if done else "")
            + (f", on {report.workers}" if report.workers else ""))
    if spread:
        med = lambda k: float(np.median([getattr(r, k) for r in spread]))  # noqa: E731
        line += (f"; median backdrop spread {med('spread_before'):.1f} → {med('spread_after'):.1f}, "
                 f"defect score {med('defects_before'):.2f} → {med('defects_after'):.2f} (levels of 255)")
    levels = [r for r in done if r.level_before is not None and r.level_after is not None]
    if len(levels) > 1:
        span = lambda k: max(getattr(r, k) for r in levels) - min(getattr(r, k) for r in levels)  # noqa: E731
        line += f"; the walls' levels spread over {span('level_before'):.1f} → {span('level_after'):.1f} levels"
    if report.tone is not None:
        line += f" (tone: match, every wall set to {report.tone:.1f})"
    return line


def _thumb(path: Path, height: int):
    from PIL import Image, ImageOps

    try:
        im = Image.open(path)
        im.draft("RGB", (height * 4, height))  # JPEG: decode at a reduced scale
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGBA").convert("RGB") if "A" in im.mode else im.convert("RGB")
        im.load()
    except Exception:  # 16-bit TIFF and the like: the project's own reader
        from ..io import read_image

        px = read_image(path).pixels
        px = (np.clip(px[..., :3] if px.shape[2] >= 3 else px[..., 0], 0, 1) * 255 + 0.5).astype(np.uint8)
        im = Image.fromarray(px)
    im = im.convert("RGB")
    w = max(1, round(im.width * height / im.height))
    return im.resize((w, height), Image.Resampling.BOX if im.height > height else Image.Resampling.BICUBIC)


THUMBNAIL_HEIGHT = 480  # pixels, each side of a report's before/after pair: enough to judge a backdrop


def thumbnail_pair(before: Path, after: Path, *, height: int = THUMBNAIL_HEIGHT) -> bytes:
    """JPEG bytes: the original and the cleaned image side by side, ``height`` pixels high each,
    under a caption strip naming them ("before: NAME", "after: NAME_clean.EXT")."""
    from PIL import Image, ImageDraw, ImageFont

    a, b = _thumb(Path(before), height), _thumb(Path(after), height)
    gap, strip = 8, max(24, height // 16)
    font = ImageFont.load_default(size=round(strip * 0.62))
    pair = Image.new("RGB", (a.width + b.width + gap, height + strip), (255, 255, 255))
    draw = ImageDraw.Draw(pair)
    for x, im, word, path in ((0, a, "before", before), (a.width + gap, b, "after", after)):
        pair.paste(im, (x, strip))
        name = printable(Path(path).name)
        text = f"{word}: {name}"
        while len(name) > 1 and draw.textlength(text, font=font) > im.width - 8:  # a long name: its end
            name = name[1:]
            text = f"{word}: …{name}"
        draw.text((x + 4, strip / 2), text, fill=(40, 40, 40), font=font, anchor="lm")
    buf = io.BytesIO()
    pair.save(buf, format="JPEG", quality=88)
    return buf.getvalue()
