"""Property-based tests (hypothesis): whatever a shoot throws at the engine, within the valid range.

Over image shapes (odd, tiny down to 32 px and below, very wide and very tall strips), bit depths
(8- and 16-bit values, as integer arrays and as quantised floats), channel counts (grey and RGB in
memory; grey, grey + alpha, RGB and RGBA through ``backdrop.io`` files), subject masks (empty, full,
soft and hard blobs, single specks, faint coverage, a full-length subject touching the bottom
edge) and every parameter in its valid range, the engine

* never raises,
* keeps the shape (and, through the files, the channel count, the bit depth and the alpha),
* gives values in [0, 1],
* returns every pixel wholly subject bit for bit (one part subject keeps its subject's share),
* changes nothing with both sliders at 0, and gives the same result twice;

and an invalid parameter value is a one-line ``BackdropError`` naming the parameter.

The examples are derandomized (the same ones on every run and in CI, no example database).
``BACKDROP_PROPERTY_SCALE=N`` runs N times as many examples, for a deeper local search.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from backdrop import BackdropError, Params, clean, pipeline
from backdrop.io import Photo, read_image, write_image
from backdrop.ops.filters import WORK_LONG_EDGE
from backdrop.params import DEVICES, FLOOR_MODES, FOLDS, KNOB, KNOBS, SEGMENTERS

_RANGES = {k.name: (k.low, k.high) for k in KNOBS if k.low is not None}  # the numeric knobs
_WHOLE = {k.name: k.step for k in KNOBS if k.type is int}  # whole-number knobs, and the step they keep to


def _whole_ok(name: str, v: float) -> bool:
    """Whether ``v`` is a value a whole-number knob takes (a whole number, on its step)."""
    low = _RANGES[name][0]
    return v == int(v) and (int(v) - low) % _WHOLE[name] == 0

# a deeper local search: BACKDROP_PROPERTY_SCALE=20 runs twenty times as many examples
_SCALE = max(1, int(os.environ.get("BACKDROP_PROPERTY_SCALE", "1")))


def _settings(examples: int):
    return settings(
        max_examples=examples * _SCALE,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ----------------------------------------------------------------------------- strategies

@st.composite
def shapes(draw):
    """(H, W): ordinary odd sizes, tiny frames, and very wide or very tall strips."""
    kind = draw(st.sampled_from(["ordinary", "tiny", "wide", "tall"]))
    event(f"shape: {kind}")
    if kind == "ordinary":
        return draw(st.integers(32, 241)), draw(st.integers(32, 241))
    if kind == "tiny":
        return draw(st.integers(1, 40)), draw(st.integers(1, 40))
    short, long = draw(st.integers(32, 48)), draw(st.integers(300, 2600))
    return (short, long) if kind == "wide" else (long, short)


def _backdrop(rng: np.random.Generator, h: int, w: int, c: int, style: str, level: float) -> np.ndarray:
    """A float32 (H, W, C) picture in [0, 1]: a lit backdrop with marks, noise, or a flat colour."""
    if style == "black":
        return np.zeros((h, w, c), np.float32)
    if style == "white":
        return np.ones((h, w, c), np.float32)
    if style == "flat":
        return np.full((h, w, c), level, np.float32)
    if style == "noise":
        return rng.random((h, w, c), dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = level + rng.uniform(-0.3, 0.3) * yy / h + rng.uniform(-0.3, 0.3) * xx / w
    light -= rng.uniform(0, 0.3) * (((yy / h - 0.5) ** 2 + (xx / w - 0.5) ** 2))  # vignette
    tint = rng.uniform(0.8, 1.2, c).astype(np.float32)
    x = light[:, :, None] * tint + rng.normal(0, rng.uniform(0, 0.04), (h, w, c)).astype(np.float32)
    for _ in range(int(rng.integers(0, 6))):  # shadows, scuffs, lint: darker and brighter patches
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        x[y0 : y0 + int(rng.integers(1, h + 1)), x0 : x0 + int(rng.integers(1, w + 1))] *= rng.uniform(0.2, 1.6)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def _mask(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    """A float32 (H, W) subject coverage in [0, 1]."""
    if kind == "empty":
        return np.zeros((h, w), np.float32)
    if kind == "full":
        return np.ones((h, w), np.float32)
    m = np.zeros((h, w), np.float32)
    if kind == "specks":  # a few single subject pixels (stray hair tips)
        n = int(rng.integers(1, 6))
        m[rng.integers(0, h, n), rng.integers(0, w, n)] = rng.uniform(0.01, 1.0, n)
        return m
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "standing":  # a full-length subject: a body touching the bottom edge
        cx, rx = rng.uniform(0.2, 0.8) * w, rng.uniform(0.05, 0.3) * w + 1
        top = rng.uniform(0.05, 0.6) * h
        m[(np.abs(xx - cx) < rx) & (yy >= top)] = 1.0
        return m
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(1, h / 2 + 1), rng.uniform(1, w / 2 + 1)
        d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        m = np.maximum(m, np.clip((1.2 - d) * rng.uniform(1, 20), 0, 1) if kind == "soft" else (d <= 1))
    if kind == "faint":  # coverage far below a level: still subject
        m = m * np.float32(1e-6)
    return m.astype(np.float32)


params_valid = st.builds(
    Params,
    lift=st.floats(0, 100),
    texture=st.floats(0, 100),
    grain=st.floats(0, 100),
    feather=st.floats(0, 0.2),
    grow=st.floats(0, 0.1),
    floor=st.sampled_from(FLOOR_MODES),
    folds=st.sampled_from(FOLDS),
    protect_contact_shadows=st.booleans(),
    contact_size=st.floats(0, 0.3),
    floor_ramp=st.floats(0, 0.2),
    device=st.just("cpu"),
    jpeg_quality=st.integers(1, 100),
)

# how the pixels reach the engine: integer arrays, quantised floats, a torch tensor
FORMS = ["uint8", "uint16", "float8", "float16", "float32", "torch"]
MASK_KINDS = ["empty", "full", "soft", "hard", "specks", "faint", "standing"]
STYLES = ["backdrop", "backdrop", "backdrop", "noise", "flat", "black", "white"]


def _engine_input(x: np.ndarray, form: str):
    """(the input as given to clean, the float32 (H, W, C) values the engine should see)."""
    if form in ("uint8", "float8"):
        q = np.rint(x * 255).astype(np.uint8)
        return (q if form == "uint8" else (q / np.float32(255)).astype(np.float32)), (q / np.float32(255)).astype(np.float32)
    if form in ("uint16", "float16"):
        q = np.rint(x * 65535).astype(np.uint16)
        f = (q.astype(np.float32) / np.float32(65535)).astype(np.float32)
        return (q if form == "uint16" else f), f
    if form == "torch":
        return torch.from_numpy(x).permute(2, 0, 1).contiguous(), x
    return x, x


@st.composite
def cases(draw):
    h, w = draw(shapes())
    c = draw(st.sampled_from([3, 1]))
    style = draw(st.sampled_from(STYLES))
    level = draw(st.floats(0.02, 0.98))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = _backdrop(rng, h, w, c, style, level)
    kind = draw(st.sampled_from(MASK_KINDS))
    event(f"mask: {kind}")
    m = _mask(rng, h, w, kind)
    mask_form = draw(st.sampled_from(["float", "uint8", "torch"]))
    if mask_form == "uint8":  # a mask file's 8-bit values: coverage below half a level is none
        m = np.rint(m * 255).astype(np.uint8)
    elif mask_form == "torch":
        m = torch.from_numpy(m)
    form = draw(st.sampled_from(FORMS))
    # the working resolution: the default, and smaller ones that make the full-resolution tiles,
    # the upsampler and the sub-working-resolution pass do their work on these small frames
    work = draw(st.sampled_from([WORK_LONG_EDGE, 160, 41]))
    event(f"input: {form}, {c} channel(s)")
    event("working resolution: full" if max(h, w) <= work else "working resolution: reduced")
    return x, m, form, work


def _coverage(m) -> np.ndarray:
    """The pixels wholly subject (full coverage in the mask's own scale): they come back as they were.
    A pixel part subject keeps its subject's share and takes the cleanup on the rest."""
    a = m.numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
    return a >= {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(a.dtype, 1.0)


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def _check_result(r, seen: np.ndarray, subject: np.ndarray, views=pipeline.VIEWS) -> None:
    h, w, c = seen.shape
    assert np.array_equal(_hwc(r.original), seen)
    for name in views:
        out = r.view(name)
        assert out.dtype == torch.float32 and tuple(out.shape) == (c, h, w), (name, out.dtype, out.shape)
        o = _hwc(out)
        assert np.isfinite(o).all(), name
        assert o.min() >= 0.0 and o.max() <= 1.0, (name, float(o.min()), float(o.max()))
        changed = (o != seen).any(-1) & subject
        assert not changed.any(), f"{name}: {int(changed.sum())} subject pixels changed, first at {np.argwhere(changed)[0]}"
    for name in ("subject", "protect", "floor", "contact", "shadow_map", "edit"):
        assert tuple(r.mask(name).shape) == (h, w), name


# ----------------------------------------------------------------------------- the engine

@_settings(300)
@given(case=cases(), params=params_valid)
def test_engine_keeps_shape_range_and_every_subject_pixel(case, params):
    x, m, form, work = case
    image, seen = _engine_input(x, form)
    r = clean(image, params, m, work_long_edge=work)
    _check_result(r, seen, _coverage(m))


@_settings(60)
@given(case=cases(), params=params_valid)
def test_sliders_at_zero_change_nothing(case, params):
    x, m, form, work = case
    image, seen = _engine_input(x, form)
    r = clean(image, params.replace(lift=0, texture=0), m, views=("preview", "shadows"), work_long_edge=work)
    for name in ("preview", "shadows"):
        assert np.array_equal(_hwc(r.view(name)), seen), name


@_settings(25)
@given(case=cases(), params=params_valid)
def test_the_same_photo_gives_the_same_result_twice(case, params):
    x, m, form, work = case
    image, _ = _engine_input(x, form)
    a = clean(image, params, m, views=("preview",), work_long_edge=work).preview
    b = clean(image, params, m, views=("preview",), work_long_edge=work).preview
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------- through the files

@_settings(80)
@given(
    hw=st.tuples(st.integers(32, 97), st.integers(32, 97)),
    channels=st.sampled_from([1, 2, 3, 4]),  # grey, grey + alpha, RGB, RGBA
    bits=st.sampled_from([8, 16]),
    ext=st.sampled_from([".png", ".tif"]),
    mask_kind=st.sampled_from(MASK_KINDS),
    seed=st.integers(0, 2**32 - 1),
    params=params_valid,
)
def test_file_round_trip_keeps_size_channels_depth_alpha_and_subject(hw, channels, bits, ext, mask_kind, seed, params):
    """A photo written and read by backdrop.io, cleaned, written and read again: the same size,
    channel count, bit depth and alpha as the source, and the subject's stored values exactly."""
    h, w = hw
    rng = np.random.default_rng(seed)
    colour = 1 if channels in (1, 2) else 3
    maxval = 255 if bits == 8 else 65535
    px = np.rint(_backdrop(rng, h, w, colour, "backdrop", rng.uniform(0.1, 0.9)) * maxval) / np.float32(maxval)
    px = px.astype(np.float32)
    alpha = None
    if channels in (2, 4):
        alpha = (np.rint(rng.random((h, w), dtype=np.float32) * maxval) / np.float32(maxval)).astype(np.float32)
    m = _mask(rng, h, w, mask_kind)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"shot{ext}"
        write_image(src, px, like=Photo(None, px, alpha, bits, "PNG", None, None), reference=px)
        photo = read_image(src)
        assert photo.pixels.shape == (h, w, colour) and photo.bit_depth == bits
        assert np.array_equal(photo.pixels, px)
        r = clean(photo.pixels, params, m, views=("preview",))
        out = Path(tmp) / f"shot_clean{ext}"
        write_image(out, r.preview, like=photo, reference=photo.pixels, quality=params.jpeg_quality)
        back = read_image(out)
    assert back.pixels.shape == (h, w, colour)
    assert back.bit_depth == bits
    if alpha is None:
        assert back.alpha is None
    else:
        assert back.alpha is not None and np.array_equal(back.alpha, alpha)
    subject = _coverage(m)
    assert np.array_equal(back.pixels[subject], px[subject])
    assert back.pixels.min() >= 0.0 and back.pixels.max() <= 1.0


# ----------------------------------------------------------------------------- parameters

def _invalid_values(name: str):
    """Values a parameter must refuse."""
    wrong_type = st.sampled_from(["strong", "", None, [1], {"a": 1}, True, False])
    if name in _RANGES:
        low, high = _RANGES[name]
        out = st.one_of(
            st.floats(max_value=low, exclude_max=True, allow_nan=False),
            st.floats(min_value=high, exclude_min=True, allow_nan=False),
            st.just(math.nan),
            st.integers(max_value=int(math.ceil(low)) - 1),
            st.integers(min_value=int(math.floor(high)) + 1),
            wrong_type,
        )
        if name in _WHOLE:
            out = st.one_of(out, st.floats(low, high).filter(lambda v, n=name: not _whole_ok(n, v)))
        return out
    choices = KNOB[name].choices or None  # floor, folds, device, segmenter
    if choices is not None:
        return st.one_of(st.text(max_size=8).filter(lambda s: s not in choices), st.sampled_from([None, 1, 0.5, True]))
    assert name == "protect_contact_shadows"
    return st.one_of(st.sampled_from(["yes", "true", 1, 0, None, 1.0]), st.text(max_size=5))


PARAM_NAMES = [f for f in Params.__dataclass_fields__]


@st.composite
def invalid(draw):
    name = draw(st.sampled_from(PARAM_NAMES))
    return name, draw(_invalid_values(name))


def _one_line_naming(err: BackdropError, *words: str) -> None:
    msg = str(err)
    assert "\n" not in msg, msg
    for word in words:
        assert word in msg, (word, msg)


@_settings(150)
@given(bad=invalid())
# found by this test: jpeg_quality NaN / infinity raised ValueError / OverflowError from int()
# before the range check (fixed in backdrop/params.py: the range is checked first)
@example(bad=("jpeg_quality", math.nan))
@example(bad=("jpeg_quality", -math.inf))
@example(bad=("lift", math.inf))
@example(bad=("feather", -0.0001))
@example(bad=("jpeg_quality", 95.5))
@example(bad=("protect_contact_shadows", "false"))
def test_invalid_parameter_values_name_the_parameter(bad):
    name, value = bad
    with pytest.raises(BackdropError) as err:
        Params(**{name: value})
    _one_line_naming(err.value, f"'{name}'")
    with pytest.raises(BackdropError) as err:
        Params.from_dict({name: value}, source="shoot.yaml")
    _one_line_naming(err.value, f"'{name}'", "shoot.yaml")
    # a Params changed after it was made is checked again by the engine, before any work
    p = Params()
    setattr(p, name, value)
    with pytest.raises(BackdropError) as err:
        clean(np.full((32, 32, 3), 0.5, np.float32), p, np.zeros((32, 32), np.float32))
    _one_line_naming(err.value, f"'{name}'")


@_settings(40)
@given(bad=invalid())
def test_invalid_values_in_a_parameter_file_name_the_key_and_the_file(bad):
    name, value = bad
    try:
        text = yaml.safe_dump({name: value})
    except yaml.YAMLError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "bad shoot.yaml"
        f.write_text(text, encoding="utf-8")
        with pytest.raises(BackdropError) as err:
            Params.load(f)
    _one_line_naming(err.value, name, "bad shoot.yaml")


@_settings(40)
@given(params=params_valid, floor=st.sampled_from(FLOOR_MODES), device=st.sampled_from(DEVICES),
       segmenter=st.sampled_from(SEGMENTERS))
def test_a_valid_parameter_set_round_trips_through_yaml(params, floor, device, segmenter):
    p = params.replace(floor=floor, device=device, segmenter=segmenter)
    with tempfile.TemporaryDirectory() as tmp:
        assert Params.load(p.save(Path(tmp) / "set.yaml")) == p


NUMERIC = sorted(_RANGES)


@_settings(60)
@given(name=st.sampled_from(NUMERIC), frac=st.floats(0, 1),
       kind=st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.uint8]))
# found by this test: numpy scalars (a slider value computed in a notebook) were refused with
# "expected a number, got np.float32(50.0)" (fixed in backdrop/params.py: any real number)
@example(name="lift", frac=0.5, kind=np.float32)
@example(name="jpeg_quality", frac=0.9, kind=np.int64)
def test_numpy_numbers_are_numbers(name, frac, kind):
    """A parameter given as a numpy scalar means the same as the plain number, and saves as YAML."""
    low, high = _RANGES[name]
    assume(not np.issubdtype(kind, np.integer) or high <= np.iinfo(kind).max)  # uint8 cannot hold 2048
    value = kind(low + frac * (high - low))
    plain = float(value)
    if not (low <= plain <= high) or (name in _WHOLE and not _whole_ok(name, plain)):
        with pytest.raises(BackdropError) as err:
            Params(**{name: value})
        _one_line_naming(err.value, f"'{name}'")
        return
    p = Params(**{name: value})
    assert p == Params(**{name: int(plain) if name in _WHOLE else plain})
    # (a word-or-number knob, tone, keeps a whole level as an int: "tone: 250" in a saved file)
    whole = name in _WHOLE or (KNOB[name].word_or_number and plain.is_integer())
    assert type(getattr(p, name)) is (int if whole else float)
    with tempfile.TemporaryDirectory() as tmp:
        assert Params.load(p.save(Path(tmp) / "set.yaml")) == p
