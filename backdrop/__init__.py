"""Clean Backdrop: clean studio portrait backdrops.

>>> from backdrop import Params, clean, read_image
>>> photo = read_image("samples/portrait.jpg")           # doctest: +SKIP
>>> result = clean(photo.pixels, Params(lift=80), mask)  # doctest: +SKIP
"""
from .io import BackdropError, Photo, bits_for, read_image, read_mask, write_image
from .params import Params
from .pipeline import VIEWS, Analysis, Result, analyze, clean, pick_device, render
from .segment import Segmenter, get_segmenter

__all__ = [
    "Analysis",
    "BackdropError",
    "Params",
    "Photo",
    "Result",
    "Segmenter",
    "VIEWS",
    "analyze",
    "bits_for",
    "clean",
    "get_segmenter",
    "pick_device",
    "read_image",
    "read_mask",
    "render",
    "write_image",
]
__version__ = "0.1.0"
