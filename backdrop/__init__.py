"""Clean Backdrop: clean studio portrait backdrops.

>>> from backdrop import Params, clean, read_image
>>> photo = read_image("samples/portrait.jpg")           # doctest: +SKIP
>>> result = clean(photo.pixels, Params(lift=80), mask)  # doctest: +SKIP
"""
from ._lazy import lazy_exports

# What ``from backdrop import X`` gives, and the module it comes from. Imported on first use
# (PEP 562): ``backdrop --help``, a batch's parent process or papermill's engine lookup do not
# pay for torch until they need it.
_EXPORTS = {  # module: the names it gives
    "pipeline": ("Analysis", "Result", "VIEWS", "analyze", "clean", "render",),
    "errors": ("BackdropError",),
    "params": ("Params",),
    "io": ("Photo", "bits_for", "read_image", "read_mask", "write_image",),
    "segment": ("Segmenter", "get_segmenter",),
    "ops.device": ("pick_device",),
}
__all__ = sorted(n for names in _EXPORTS.values() for n in names)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__version__ = "0.1.0"
