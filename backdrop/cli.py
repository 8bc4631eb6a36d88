"""Command line: ``backdrop clean`` for one file, ``backdrop batch`` for a shoot folder,
``backdrop edit`` for an editor's copy cleaned in place (Lightroom, Capture One) and ``backdrop
editor-app`` for its launcher, ``backdrop cache clear`` to empty the subject-mask cache."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .errors import BackdropError
from .io import output_path_for, printable
from .params import KNOBS, Params, parse_yaml, yaml_words

__all__ = ["main", "build_parser"]


def _add_param_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", metavar="FILE", help="YAML parameter set (default: the built-in defaults)")
    for k in KNOBS:  # the knobs with a flag of their own (the others: --set)
        if k.flag:
            metavar = "|".join((*k.choices, "N")) if k.word_or_number else "N"
            p.add_argument(f"--{k.name.replace('_', '-')}", dest=k.name, type=k.type, metavar=metavar, help=k.help)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other parameter, e.g. --set floor=off --set feather=0.03 (repeatable)",
    )


def _place(text: str) -> Path | str:
    """A folder, or an fsspec URL kept as it is (``s3://bucket/shoot/``: a Path would fold its //)."""
    return text if "://" in text else Path(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``backdrop clean``, ``backdrop batch``, ``backdrop edit``, ``backdrop editor-app``
    and ``backdrop cache``."""
    parser = argparse.ArgumentParser(
        prog="backdrop",
        description="Clean studio portrait backdrops: lift cast shadows, remove scuffs, keep the light, floor and subject.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("clean", help="clean one image")
    c.add_argument("input", type=Path)
    c.add_argument("-o", "--output", type=Path, help="output file (default: INPUT_clean.EXT beside the input)")
    c.add_argument("--mask", type=Path, help="subject mask image, white = subject, same size as the input")
    _add_param_options(c)

    b = sub.add_parser("batch", help="clean every image of a folder")
    b.add_argument("folder", type=_place, help="a folder, or a store URL (s3://bucket/shoot/)")
    b.add_argument("-o", "--output", type=_place, dest="out_dir",
                   help="output folder or store URL (default: beside the originals)")
    b.add_argument("--masks", type=Path, help="folder with NAME_mask.png subject masks (default: beside the images)")
    b.add_argument("--overwrite", action="store_true", help="redo images whose output already exists")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="clean N images at a time in N worker processes (default 1)")
    b.add_argument("--cluster", metavar="ADDRESS",
                   help="run on a Dask cluster: local:N (N worker processes here) or tcp://HOST:PORT (a running "
                   "scheduler); the photos and outputs must be on a disk every worker sees")
    b.add_argument(
        "--report",
        type=Path,
        metavar="NOTEBOOK",
        help="run the batch through notebooks/batch.ipynb with papermill and keep the executed "
        "notebook here as the report (per-image table, before/after thumbnails, failures)",
    )
    _add_param_options(b)

    e = sub.add_parser(
        "edit", help="clean an editor's copy in place (Lightroom's / Capture One's external editor)",
        description="Clean FILE in place, keeping its format, bit depth, compression, ICC profile, EXIF and "
        "XMP: the external-editor round trip of Lightroom Classic (NAME-Edit.tif) and Capture One. It refuses "
        "a file that does not look like an editor's copy (a camera's own file) unless --force. Parameters: "
        "--params, else the default edit preset (--save-default), else the built-in ones.")
    e.add_argument("input", type=Path, nargs="?", metavar="FILE", help="the editor's copy (TIFF or JPEG)")
    e.add_argument("--force", action="store_true",
                   help="clean FILE in place even when it does not look like an editor's copy")
    e.add_argument("--mask", type=Path, help="subject mask image, white = subject, same size as the input")
    e.add_argument("--save-default", type=Path, metavar="PRESET",
                   help="check PRESET (a YAML parameter set) and make it the default for every edit")
    _add_param_options(e)

    a = sub.add_parser("editor-app", help="write the launcher Lightroom / Capture One start as external editor",
                       description="On macOS, compile an application (osacompile) that runs backdrop edit on "
                       "each photo it opens; with --windows, write a .cmd for Lightroom on Windows.")
    a.add_argument("dest", type=Path, nargs="?", metavar="DEST.app",
                   help="the application to write (default: ~/Applications/Clean Backdrop Edit.app)")
    a.add_argument("--windows", type=Path, metavar="PATH.cmd", help="write a Windows launcher (.cmd) instead")

    k = sub.add_parser("cache", help="the subject-mask cache")
    k.add_argument("action", choices=("clear", "path"), help="clear: delete every cached mask; path: print the folder")
    return parser


def _params_from(args: argparse.Namespace) -> Params:
    params = Params.load(args.params) if args.params else Params()
    changes = {k.name: getattr(args, k.name) for k in KNOBS if k.flag and getattr(args, k.name) is not None}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BackdropError(f"--set {item!r}: expected KEY=VALUE")
        try:
            changes[key.strip()] = parse_yaml(value)
        except (yaml.YAMLError, RecursionError):
            raise BackdropError(f"--set {item!r}: cannot read the value") from None
    return params.replace(**yaml_words(changes)) if changes else params


def _cmd_clean(args: argparse.Namespace) -> int:
    from .batch import stop_on_sigterm
    from .service import clean_file

    params = _params_from(args)
    src = args.input
    if not src.exists():
        raise BackdropError(f"{src}: file not found")
    dst = args.output or output_path_for(src)
    with stop_on_sigterm():
        row = clean_file(src, dst, params, mask=args.mask)
    if row.warning:
        print(printable(f"warning: {row.warning}"), file=sys.stderr)
    print(printable(f"{row.output}  ({row.size[0]}x{row.size[1]}, subject by {row.segmenter}, {row.seconds:.2f} s)"))
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import stop_on_sigterm

    params = _params_from(args)
    if args.jobs < 1:
        raise BackdropError(f"--jobs {args.jobs}: expected a whole number >= 1")
    if args.report is not None and args.jobs != 1:
        raise BackdropError("--jobs: the --report run cleans one image at a time; leave --jobs out")
    remote = any(isinstance(p, str) for p in (args.folder, args.out_dir))
    if remote and (args.report is not None or args.masks is not None):
        raise BackdropError("a batch over object storage takes its masks beside the photos (NAME_mask.png) "
                            "and has no --report yet; leave --masks and --report out")
    if args.cluster is not None:
        from .batch.cluster import parse_address

        parse_address(args.cluster)  # a malformed address is one line before anything else
        if args.jobs != 1:
            raise BackdropError("--cluster: the cluster's workers clean the photos; leave --jobs out")
    with stop_on_sigterm():
        return _run_batch_command(args, params)


def _run_batch_command(args: argparse.Namespace, params: Params) -> int:
    from .batch import run_batch

    if args.report is not None:
        from .batch import check_out_dir, find_images
        from .notebooks.runner import run_report

        find_images(args.folder)  # a missing folder is one line, before a kernel is started
        check_out_dir(args.out_dir)  # ... and so is a missing output folder (as without --report)
        run = run_report(args.report, input_dir=args.folder, params=params,
                         params_file=Path(args.params) if args.params else None, output_dir=args.out_dir,
                         masks_dir=args.masks, overwrite=args.overwrite, progress=not args.no_progress,
                         cluster=args.cluster)
        if run.summary:
            print(run.summary)
        if run.failed:
            print(printable(run.failed), file=sys.stderr)
        print(f"report: {run.report}")
        return run.exit_code
    report = run_batch(
        args.folder,
        params=params,
        out_dir=args.out_dir,
        masks_dir=args.masks,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        jobs=args.jobs,
        cluster=args.cluster,
    )
    if args.no_progress:  # with a progress bar, run_batch has already named each failure
        for row in report.rows:
            if row.status == "failed":
                print(printable(f"failed: {row.error}"), file=sys.stderr)
    # (warnings, e.g. a GPU out of memory, are printed by run_batch as they happen)
    print(report.summary())
    return 1 if report.failed else 0


def _cmd_edit(args: argparse.Namespace) -> int:
    from .batch import stop_on_sigterm
    from .edit import edit_file, edit_params, save_default

    if args.save_default is not None:
        if args.input is not None:
            raise BackdropError("--save-default PRESET takes no FILE: it sets the preset, then "
                                "backdrop edit FILE uses it")
        print(printable(f"default edit preset: {save_default(args.save_default)} (from {args.save_default})"))
        return 0
    if args.input is None:
        raise BackdropError("edit: expected FILE (the editor's copy to clean in place) or --save-default PRESET")
    args.params, used = edit_params(args.params)
    params = _params_from(args)
    with stop_on_sigterm():
        done = edit_file(args.input, params, force=args.force, mask=args.mask)
    if done.warning:
        print(printable(f"warning: {done.warning}"), file=sys.stderr)
    print(printable(f"{done.path}  cleaned in place ({done.layout}, {done.size[0]}x{done.size[1]}, {done.reason}, "
                    f"{used}, subject by {done.segmenter}, {done.seconds:.2f} s)"))
    return 0


def _cmd_editor_app(args: argparse.Namespace) -> int:
    from .edit import write_mac_app, write_windows_launcher

    if args.windows is not None:
        if args.dest is not None:
            raise BackdropError("editor-app: give DEST.app or --windows PATH.cmd, not both")
        print(printable(f"wrote {write_windows_launcher(args.windows)}: in Lightroom, choose it as the "
                        f"Additional External Editor"))
        return 0
    dest = args.dest or Path.home() / "Applications" / "Clean Backdrop Edit.app"
    print(printable(f"wrote {write_mac_app(dest)}: in Lightroom or Capture One, choose it as the external editor"))
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from .segment import cache

    if args.action == "path":
        print(cache.cache_dir())
    else:
        print(f"removed {cache.clear()} cached masks from {cache.cache_dir()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit code (0, 1 when some photos failed, 2 for a user error, 128+signal)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "clean":
            return _cmd_clean(args)
        if args.command == "cache":
            return _cmd_cache(args)
        if args.command == "edit":
            return _cmd_edit(args)
        if args.command == "editor-app":
            return _cmd_editor_app(args)
        return _cmd_batch(args)
    except BackdropError as err:
        print(printable(f"backdrop: error: {err}{_progress_note(err)}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        signum = getattr(err, "signum", None)  # backdrop.errors.Stopped: SIGTERM
        how = "interrupted" if signum is None else f"stopped by {_signal_name(signum)}"
        print(printable(f"backdrop: {how}{_progress_note(err)}"), file=sys.stderr)
        return 130 if signum is None else 128 + signum


def _signal_name(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _progress_note(err: BaseException) -> str:
    """For a batch that stopped part-way: how far it got, and that a re-run finishes it."""
    report = getattr(err, "report", None)
    if report is None:
        return ""
    return (f"; {getattr(err, 'outputs', 0)} of {report.planned} images have their output, "
            f"run the same command again to finish the rest")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
