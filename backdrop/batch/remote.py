"""A batch over object storage: the shoot and the outputs as fsspec URLs (``s3://bucket/shoot/``,
``gs://...``, ``file://...``) instead of folders, since a cluster's workers rarely share a disk.

* Each photo is fetched to a temporary folder of the worker, cleaned there as a local batch cleans
  a file, and its output uploaded in one operation: an object appears whole or not at all (one PUT,
  or a multipart upload that is completed only at the end). Nothing partial is ever visible.
* Resume: a photo whose output key exists is skipped.
* A subject mask ``NAME_mask.png`` (.tif, .jpg, .webp) beside the photo's key is used as on a disk.
* Credentials come from the usual environment and config files of the store (for S3:
  ``AWS_ACCESS_KEY_ID`` / ``AWS_PROFILE``, ``~/.aws``, ``AWS_ENDPOINT_URL`` for another S3 server),
  never from the command line.
"""
from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import BackdropError, first_line
from ..io import SUPPORTED_EXTENSIONS
from ..params import Params
from ..service import MASK_EXTENSIONS, MASK_SUFFIX, FileResult, clean_file
from .plan import SUFFIX, _is_derived, _row

__all__ = ["Key", "is_url", "plan_remote", "remote_task", "fetched"]

def is_url(place) -> bool:
    """A store URL (``s3://...``), not a folder."""
    return isinstance(place, str) and "://" in place


class Key(str):
    """An object's URL where a batch row has a path: ``.name`` is its last part."""

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0] if "." in self.name else self.name


def _fs(url: str):
    try:
        import fsspec
    except ImportError:  # pragma: no cover
        raise BackdropError(f"{url}: fsspec is not installed (pip install 'clean-backdrop[cluster]')") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:
        raise BackdropError(f"{url}: {first_line(err)} (s3:// needs s3fs: pip install 'clean-backdrop[cluster]')") from None
    return fs, path


def _store_error(url: str, err: BaseException) -> BackdropError:
    """A store's failure in one line: a missing bucket, refused credentials, an unreachable server."""
    text = first_line(err)
    if isinstance(err, FileNotFoundError):
        return BackdropError(f"{url}: not found ({text})")
    if isinstance(err, PermissionError):
        return BackdropError(f"{url}: access refused ({text}); credentials come from the environment or ~/.aws")
    return BackdropError(f"{url}: {type(err).__name__}: {text}")


def plan_remote(src_url: str, out_url: str | None, overwrite: bool,
                limit: int = 0) -> tuple[list[tuple[Key, Key]], list[int], dict[int, Key | None]]:
    """The photos under ``src_url`` (by name, as a folder's are chosen) and each one's output key
    (``NAME_clean.EXT`` under ``out_url``, else beside it); which of them have no output yet; and
    each one's subject mask key (``NAME_mask.EXT`` beside it, or None; by index), from the same listing."""
    out_url = out_url or src_url
    fs, root = _fs(src_url)
    try:
        keys = sorted(fs.find(root.rstrip("/") + "/"))
    except Exception as err:  # noqa: BLE001 (a store raises its own kinds: no bucket, no access)
        raise _store_error(src_url, err) from None
    scheme = src_url.split("://", 1)[0]
    listed = set(keys)
    photos, masks = [], []
    for k in keys:
        name = k.rsplit("/", 1)[-1]
        p = Path(name)
        if name.startswith(".") or p.suffix.lower() not in SUPPORTED_EXTENSIONS or _is_derived(p):
            continue
        photos.append(Key(f"{scheme}://{k}"))
        folder = k.rsplit("/", 1)[0]
        mask = next((m for m in (f"{folder}/{p.stem}{MASK_SUFFIX}{ext}" for ext in MASK_EXTENSIONS) if m in listed), None)
        masks.append(Key(f"{scheme}://{mask}") if mask else None)
    if limit:
        photos = photos[:limit]
    if not photos:
        raise BackdropError(f"{src_url}: no images (JPEG, PNG, TIFF, WebP) there")
    base = out_url.rstrip("/")
    plan = [(src, Key(f"{base}/{Path(src.name).stem}{SUFFIX}{Path(src.name).suffix}")) for src in photos]
    out_fs, out_root = _fs(out_url)
    try:
        done = set() if overwrite else {Key(f"{base}/{k.rsplit('/', 1)[-1]}") for k in out_fs.find(out_root.rstrip("/") + "/")}
    except FileNotFoundError:
        done = set()
    except Exception as err:  # noqa: BLE001
        raise _store_error(out_url, err) from None
    todo = [i for i, (_, dst) in enumerate(plan) if dst not in done]
    return plan, todo, dict(enumerate(masks[: len(plan)]))


@contextlib.contextmanager
def fetched(src: str, mask: str | None, folder: Path) -> Iterator[tuple[Path, Path | None]]:
    """A photo of a store (and its mask, when it has one) downloaded into ``folder``: their paths."""
    src = Key(src)
    local = folder / src.name
    mask_file = None if mask is None else folder / Key(mask).name
    for url, dest in ((src, local), (mask, mask_file)):
        if url is None:
            continue
        fs, path = _fs(url)
        try:
            fs.get_file(path, str(dest))
        except Exception as err:  # noqa: BLE001 (a store raises its own kinds)
            raise _store_error(src, err) from None
    yield local, mask_file


def remote_task(src: Key, dst: Key, params: Params, mask: Key | None = None, overwrite: bool = False) -> FileResult:
    """One photo from a store (and its mask key, when it has one): fetched, cleaned in a temporary
    folder, its output uploaded whole. The arguments of a folder's task (``cluster._task``)."""
    src, dst = Key(src), Key(dst)
    out_fs, dst_path = _fs(dst)
    if not overwrite and out_fs.exists(dst_path):  # done meanwhile (another run, a re-run task)
        return FileResult(src, dst, "skipped")
    with tempfile.TemporaryDirectory(prefix="backdrop-") as tmp:
        local = Path(tmp) / src.name
        out = Path(tmp) / "out" / dst.name
        out.parent.mkdir()

        def work() -> FileResult:
            with fetched(src, mask, Path(tmp)) as (photo, mask_file):
                row = clean_file(photo, out, params, mask=mask_file)
            try:
                out_fs.put_file(str(out), dst_path)  # one PUT, or a multipart upload completed at its end
            except Exception as err:  # noqa: BLE001
                raise _store_error(dst, err) from None
            return row

        row = _row(local, out, work)
    error = (row.error or "").replace(str(local), src).replace(str(out), dst)
    return dataclasses.replace(row, source=src, output=dst, error=error)
