"""The plain full-resolution reference the engine is measured against.

What a careful script does without a backdrop model: one global "clean wall
colour" (the median of the brightest fifth of the wall), the backdrop's light
measured by a masked Gaussian (normalized convolution) at full resolution with
a radius of ~1/40 of the short edge, every backdrop pixel scaled to that colour,
and a Gaussian-feathered blend at the subject's edge.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def reference_clean(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """image: float32 HxWx3 in [0, 1]; alpha: float32 HxW (1 = subject) -> float32 HxWx3."""
    h, w = alpha.shape
    sigma = min(h, w) / 40.0
    backdrop = (alpha <= 0).astype(np.float32)
    lum = image @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    wall = lum[backdrop > 0]
    bright = wall >= np.quantile(wall, 0.8)
    target = np.median(image[backdrop > 0][bright], axis=0).astype(np.float32)
    den = ndimage.gaussian_filter(backdrop, sigma)
    level = np.empty_like(image)
    for c in range(3):
        level[..., c] = ndimage.gaussian_filter(image[..., c] * backdrop, sigma) / np.maximum(den, 1e-6)
    blend = np.minimum(den, backdrop)[..., None]  # feathered toward the subject, 0 on it
    lifted = image * (target / np.maximum(level, 1e-4))
    return np.clip(image + blend * (lifted - image), 0.0, 1.0).astype(np.float32)
