"""Clean Backdrop: clean studio portrait backdrops.

>>> from backdrop import Params, clean, read_image
>>> photo = read_image("samples/portrait.jpg")           # doctest: +SKIP
>>> result = clean(photo.pixels, Params(lift=80), mask)  # doctest: +SKIP
"""
from ._lazy import lazy_exports

# What ``from backdrop import X`` gives, and the module it comes from. Imported on first use
# (PEP 562): ``backdrop --help``, a batch's parent process or papermill's engine lookup do not
# pay for torch until they need it.
_EXPORTS = {
    "Analysis": "pipeline",
    "BackdropError": "errors",
    "Params": "params",
    "Photo": "io",
    "Result": "pipeline",
    "Segmenter": "segment",
    "VIEWS": "pipeline",
    "analyze": "pipeline",
    "bits_for": "io",
    "clean": "pipeline",
    "get_segmenter": "segment",
    "pick_device": "ops.device",
    "read_image": "io",
    "read_mask": "io",
    "render": "pipeline",
    "write_image": "io",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__version__ = "0.1.0"
