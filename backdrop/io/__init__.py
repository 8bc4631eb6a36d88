"""Reading and writing photographs for the engine.

The engine works on float32 pixels in [0, 1]; this module is the edge where files
become arrays and arrays become files again, without losing what a photographer
cares about:

* **Bit depth.** JPEGs are decoded by libjpeg-turbo through simplejpeg (its warnings heard:
  a file whose data does not hold its picture is refused), other 8-bit files with Pillow.
  16-bit PNG and TIFF keep their precision (Pillow cannot hold 16-bit RGB): PNG is decoded
  with OpenCV, TIFF with tifffile (OpenCV when tifffile lacks the codec, e.g. LZW). Pillow
  still opens every file lazily for the ICC profile, EXIF and orientation.
* **Orientation.** The EXIF orientation (all eight values) is applied on read, and
  the EXIF written back says 1, since the pixels are already upright.
* **Colour.** The ICC profile is kept and written back. CMYK files are converted
  to RGB through their embedded profile (plain conversion when there is none) and
  are then sRGB: ``icc_profile`` is ``None``.
* **Metadata.** EXIF is kept as raw bytes (``b"Exif\\0\\0"`` + TIFF structure). For
  JPEG, PNG and WebP sources these are the file's own bytes with only the
  Orientation value patched, so maker notes survive; a TIFF source's EXIF is
  rebuilt from its descriptive tags (Make, Model, dates, the Exif and GPS blocks).
* **Files with several frames** (multi-page TIFF, animated PNG/WebP, MPO): the
  first frame is used.
* **Writing** rounds once, with a deterministic ±1 LSB triangular dither for 8-bit
  output on the pixels the engine changed only, so untouched pixels come back
  bit-for-bit. Writes are atomic (temporary file, fsync, rename), never create a
  partial file and never overwrite the original.

A user error (missing file, corrupt file, wrong mask size, missing output folder)
raises :class:`BackdropError` with a one-line message naming the file.

Modules: ``photo`` (Photo, formats), ``read`` (sniffing, header checks, decoders, masks),
``write`` (rounding with dither, encoders, write_image), ``meta`` (orientation, EXIF bytes, PNG
chunks), ``files`` (printable names, atomic writes, temporary and output names), ``keep`` (a TIFF or
JPEG written back over itself with every tag, for ``backdrop edit``: the one writer that may).
"""

from .files import (
    atomic_write,
    atomic_write_bytes,
    output_path_for,
    printable,
    temp_stem,
)
from .photo import SUPPORTED_EXTENSIONS, Photo
from .read import as_coverage, read_image, read_mask
from .write import bits_for, write_image

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Photo",
    "as_coverage",
    "atomic_write",
    "atomic_write_bytes",
    "bits_for",
    "output_path_for",
    "printable",
    "read_image",
    "read_mask",
    "temp_stem",
    "write_image",
]
