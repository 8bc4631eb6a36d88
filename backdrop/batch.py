"""Folder in, folder out: clean every image of a shoot.

One bad file is reported and skipped; outputs that already exist are skipped,
so an interrupted run resumes where it stopped. Originals are never written.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .io import SUPPORTED_EXTENSIONS, BackdropError, output_path_for, read_image, write_image
from .params import Params
from .pipeline import clean
from .segment import MaskFile, segment

__all__ = ["find_images", "mask_for", "subject_mask", "clean_file", "run_batch", "FileResult", "BatchReport", "SUFFIX"]

SUFFIX = "_clean"
MASK_SUFFIX = "_mask"


@dataclass
class FileResult:
    source: Path
    output: Path
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    error: str = ""
    size: tuple[int, int] | None = None  # (width, height)
    segmenter: str = ""
    # backdrop luminance spread (2nd-98th percentile) and defect score (mean departure from the
    # clean-backdrop model), before and after, in levels of 255 (see backdrop.report.backdrop_stats)
    spread_before: float | None = None
    spread_after: float | None = None
    defects_before: float | None = None
    defects_after: float | None = None


@dataclass
class BatchReport:
    rows: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def summary(self) -> str:
        done = [r for r in self.rows if r.status == "done"]
        per = sum(r.seconds for r in done) / len(done) if done else 0.0
        return (
            f"done {len(done)}, skipped {self.count('skipped')}, failed {self.failed}, "
            f"{per:.2f} s per image"
        )


def _is_derived(path: Path) -> bool:
    stem = path.stem
    return stem.endswith(SUFFIX) or stem.endswith(MASK_SUFFIX)


def find_images(folder: Path) -> list[Path]:
    """The images of a shoot folder (not recursive): supported extensions, no hidden files,
    none of our own outputs (``*_clean.*``) or masks (``*_mask.*``)."""
    folder = Path(folder)
    if not folder.exists():
        raise BackdropError(f"{folder}: folder not found")
    if not folder.is_dir():
        raise BackdropError(f"{folder}: not a folder")
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() in SUPPORTED_EXTENSIONS
        and not _is_derived(p)
    )


def mask_for(image_path: Path, masks_dir: Path | None = None) -> Path | None:
    """The user's subject mask for an image: ``NAME_mask.png`` (or another image type)
    beside it or in ``masks_dir``."""
    where = [Path(masks_dir)] if masks_dir else []
    where.append(image_path.parent)
    for folder in where:
        for ext in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp"):
            cand = folder / f"{image_path.stem}{MASK_SUFFIX}{ext}"
            if cand.is_file():
                return cand
    return None


def subject_mask(photo_pixels, params: Params, *, mask: Path | None = None, source: Path | None = None):
    """The subject mask for a photo: the user's mask file when there is one, else the
    segmenter of ``params`` (cached). Returns (mask, name of what made it)."""
    rgb = photo_pixels if photo_pixels.shape[2] == 3 else photo_pixels[:, :, :1].repeat(3, axis=2)
    if mask is None and source is not None:
        mask = mask_for(source)
    if mask is not None:
        seg = MaskFile(mask)
        return seg(rgb), seg.name
    return segment(rgb, params.segmenter)


def clean_file(source: Path, output: Path, params: Params, *, mask: Path | None = None) -> FileResult:
    """Clean one file and write the result atomically. Raises BackdropError for user errors.

    The subject comes from ``mask`` (a file), else ``NAME_mask.png`` beside the photo, else
    the segmenter named in ``params``."""
    t = time.perf_counter()
    source, output = Path(source), Path(output)
    photo = read_image(source)
    subject, used = subject_mask(photo.pixels, params, mask=mask, source=source)
    result = clean(photo.pixels, params, subject, views=("preview",))
    write_image(output, result.preview, like=photo, reference=photo.pixels, quality=params.jpeg_quality)
    from .report import backdrop_stats

    return FileResult(source, output, "done", time.perf_counter() - t, size=photo.size, segmenter=used,
                      **backdrop_stats(result))


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
) -> BatchReport:
    """Clean every image of ``folder``; outputs ``NAME_clean.EXT`` beside the originals or in ``out_dir``.
    ``limit``: only the first ``limit`` images (by name; 0 = all)."""
    t0 = time.perf_counter()
    images = find_images(folder)
    if limit:
        images = images[:limit]
    if out_dir is not None:
        out_dir = Path(out_dir)
        if not out_dir.is_dir():
            raise BackdropError(f"{out_dir}: output folder not found")
    report = BatchReport()
    items: Iterable[Path] = images
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(images, unit="image", desc="cleaning", dynamic_ncols=True)
        items = bar
    for src in items:
        dst = output_path_for(src, suffix=SUFFIX, out_dir=out_dir)
        if dst.exists() and not overwrite:
            row = FileResult(src, dst, "skipped")
        else:
            try:
                row = clean_file(src, dst, params, mask=mask_for(src, masks_dir))
            except BackdropError as err:
                row = FileResult(src, dst, "failed", error=str(err))
            except MemoryError:
                row = FileResult(src, dst, "failed", error=f"{src}: out of memory")
        report.rows.append(row)
        if bar is not None and row.status == "failed":
            bar.write(f"failed: {row.error}", file=sys.stderr)
        if on_result is not None:
            on_result(row)
    report.seconds = time.perf_counter() - t0
    return report
