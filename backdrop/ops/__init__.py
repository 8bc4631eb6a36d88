"""The engine's operators: pure torch functions on (B, C, H, W) float tensors (``check_image``),
inputs checked first, options keyword-only. The pipeline (``backdrop.pipeline``) puts them together.

* ``filters``: blurs, the a-trous wavelet, area resize, push-pull fill, exact bounded distance.
* ``masks``: subject protection, floor detection, contact zone, foreign objects.
* ``illumination``: the clean-backdrop surface and the shadow lift.
* ``texture``: the marks and the grain the texture pass weighs.
* ``compose``: the full-resolution pass from the decoded buffer, a region at a time.
"""
