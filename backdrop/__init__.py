"""Clean Backdrop: clean studio portrait backdrops.

>>> from backdrop import Params, clean, read_image
>>> photo = read_image("samples/portrait.jpg")           # doctest: +SKIP
>>> result = clean(photo.pixels, Params(lift=80), mask)  # doctest: +SKIP
"""
from .io import BackdropError, Photo, read_image, read_mask, write_image
from .params import Params
from .pipeline import VIEWS, Result, clean, pick_device
from .segment import Segmenter, get_segmenter

__all__ = [
    "BackdropError",
    "Params",
    "Photo",
    "Result",
    "Segmenter",
    "VIEWS",
    "clean",
    "get_segmenter",
    "pick_device",
    "read_image",
    "read_mask",
    "write_image",
]
__version__ = "0.1.0"
