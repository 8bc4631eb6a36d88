"""Folder in, folder out: clean every image of a shoot.

Guarantees (``backdrop batch``, :func:`run_batch`, the papermill report, ``--jobs N`` alike):

* **Inputs.** Every JPEG, PNG, TIFF and WebP of the folder (not recursive), by name. Hidden
  files (``.name``, ``._name``), sidecars (``.xmp``, ``.json``) and other types (``.gif``,
  ``.txt`` ...) are no input and are skipped silently; so are our own outputs
  (``NAME_clean.EXT``) and masks (``NAME_mask.EXT``): a file already called ``x_clean.jpg``
  is never cleaned again.
* **One bad file is one line.** A file that cannot be read (zero bytes, truncated, not an
  image, over :data:`MAX_PIXELS`, a layout we cannot decode) is reported with a one-line
  reason naming it, nothing is written for it, and the rest of the folder is done.
* **Atomic outputs.** Each output is written to a hidden temporary file
  (``.NAME_clean.EXT.tmp-PID-XXXXXXXX``) in the output folder and renamed when complete.
  On an error, Ctrl-C (SIGINT) or SIGTERM the temporary file is removed; after a SIGKILL it
  may stay, hidden, and the next run removes it. An output that exists is always whole.
* **Resume.** Outputs that exist are skipped (``--overwrite`` redoes them), so a re-run after
  an interruption does only the missing images.
* **Originals are never written**; an output path that would be the original is refused.
* **The output folder must exist.** A read-only folder is refused before any work; a write
  that fails because the folder cannot take files (full disk, read-only, no permission)
  stops the batch with one line (:class:`OutputError`): the images done so far are kept.
* **GPU out of memory**: the image is segmented or cleaned on the CPU instead, with a one-line
  warning.
* **Parallel** (``jobs=N``): N worker processes (spawned), each with ``cpu_count // N`` torch
  threads. The progress bar shows at once (the parent does not load torch) and moves, and a
  failure is named, as each photo finishes; the report's rows are in input order; the same
  guarantees; Ctrl-C / SIGTERM stop the workers cleanly (their temporary files removed).
"""
from .plan import SUFFIX, check_out_dir, find_images, remove_stale_temps
from .run import BatchReport, run_batch, stop_on_sigterm

__all__ = ["BatchReport", "SUFFIX", "check_out_dir", "find_images", "remove_stale_temps", "run_batch",
           "stop_on_sigterm"]
