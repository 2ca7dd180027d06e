"""The layer table: for each layer kind, its parameters, its shape function and its Keras builder.

Shapes exclude the batch axis.  A dim is an int, or None when it is unknown (a dynamic spatial dim);
None propagates through arithmetic, exactly as Keras declares it.  A shape function raises ShapeError
when the layer does not fit a known shape: that is what keeps a spec valid, and what tells whether a
dynamic spec also fits other input sizes.  The strategies in `strategies/layers.py` hold one entry per
kind of this table, asserted equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from roundtrip.values import Dim, Shape, ShapeError, SpecError, Value, numel, shown

Params = dict[str, Any]
Check = Callable[[Any, str], Any]
REQUIRED = object()


# ---- parameter checks: each takes (value, field path) and returns the value or raises SpecError ----
def _fail(path: str, want: str, value: Any) -> SpecError:
    return SpecError(path, f"want {want}, got {shown(value)}")


def int_at_least(low: int) -> Check:
    def check(v: Any, path: str) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise _fail(path, f"an integer >= {low}", v)
        return v
    return check


def ints(n: int, low: int) -> Check:
    def check(v: Any, path: str) -> tuple[int, ...]:
        if not isinstance(v, tuple) or len(v) != n:
            raise _fail(path, f"{n} integers >= {low}", v)
        return tuple(int_at_least(low)(x, f"{path}[{i}]") for i, x in enumerate(v))
    return check


def pairs(n: int) -> Check:
    def check(v: Any, path: str) -> tuple[tuple[int, int], ...]:
        if not isinstance(v, tuple) or len(v) != n:
            raise _fail(path, f"{n} pairs of integers >= 0", v)
        return tuple(ints(2, 0)(x, f"{path}[{i}]") for i, x in enumerate(v))
    return check


def one_of(*options: Value) -> Check:
    def check(v: Any, path: str) -> Any:
        if v not in options or isinstance(v, bool) != isinstance(options[0], bool):
            raise _fail(path, f"one of {list(options)!r}", v)
        return v
    return check


def fraction(v: Any, path: str) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v < 1:
        raise _fail(path, "a number in [0, 1)", v)
    return float(v)


def negative_axis(v: Any, path: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v >= 0:
        raise _fail(path, "a negative axis", v)
    return v


def int_tuple(v: Any, path: str) -> tuple[int, ...]:
    if not isinstance(v, tuple) or not v or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise _fail(path, "a non-empty list of integers", v)
    return v


def boolean(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise _fail(path, "true or false", v)
    return v


# ---- shape arithmetic -------------------------------------------------------------------------
def _rank(shapes: Sequence[Shape], rank: int | None = None, at_least: int = 1) -> Shape:
    x = shapes[0]
    if rank is not None and len(x) != rank:
        raise ShapeError(f"needs {rank} non-batch axes, got {len(x)}")
    if len(x) < at_least:
        raise ShapeError(f"needs at least {at_least} non-batch axes, got {len(x)}")
    return x


def _known(d: Dim, what: str) -> int:
    if d is None:
        raise ShapeError(f"{what} must be known")
    return d


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis <= -1:
        raise ShapeError(f"axis {axis} is out of range for {rank} non-batch axes")
    return rank + axis


def window_out(size: Dim, kernel: int, stride: int, dilation: int, padding: str) -> Dim:
    """Output length of a convolution or pooling window (the formula Keras and TF use)."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    span = dilation * (kernel - 1) + 1
    if size < span:
        raise ShapeError(f"window {span} is larger than the dim {size}")
    return (size - span) // stride + 1


def _spatial(x: Shape, p: Params, kernel_key: str, strides_key: str = "strides") -> tuple[Dim, ...]:
    kernels, strides = p[kernel_key], p[strides_key]
    dilations = p.get("dilation_rate", (1,) * len(kernels))
    if any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise ShapeError("Keras allows strides > 1 or dilation_rate > 1, not both")
    return tuple(window_out(x[i], kernels[i], strides[i], dilations[i], p["padding"]) for i in range(len(kernels)))


def _crop(x: Shape, crops: Sequence[Sequence[int]]) -> Shape:
    out = list(x)
    for i, (lo, hi) in enumerate(crops):
        if x[i] is not None:
            if lo + hi >= x[i]:  # type: ignore[operator]
                raise ShapeError(f"cropping {lo}+{hi} leaves nothing of dim {x[i]}")
            out[i] = x[i] - lo - hi  # type: ignore[operator]
    return tuple(out)


def _grow(d: Dim, scale: int = 1, add: int = 0) -> Dim:
    return None if d is None else d * scale + add


# ---- one shape function per kind --------------------------------------------------------------
def dense(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s)
    _known(x[-1], "the last dim")
    return x[:-1] + (p["units"],)


def conv(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        _known(x[-1], "the channel dim")
        return _spatial(x, p, "kernel_size") + (p["filters"],)
    return shape


def depthwise(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s, 3)
    channels = _known(x[-1], "the channel dim")
    if len(set(p["strides"])) > 1:  # TensorFlow's DepthwiseConv2dNative kernel refuses them when it runs
        raise ShapeError("TensorFlow's depthwise kernel takes equal strides only")
    return _spatial(x, p, "kernel_size") + (channels * p["depth_multiplier"],)


def pool(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        return _spatial(x, p, "pool_size") + (x[-1],)
    return shape


def global_pool(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        return (1,) * (rank - 1) + (x[-1],) if p["keepdims"] else (x[-1],)
    return shape


def flatten(p: Params, s: Sequence[Shape]) -> Shape:
    return (numel(_rank(s)),)


def reshape(p: Params, s: Sequence[Shape]) -> Shape:
    x, target = _rank(s), p["target_shape"]
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise ShapeError("target_shape takes positive dims and at most one -1")
    total, fixed = numel(x), math.prod(d for d in target if d != -1)
    if -1 in target:
        if total is None:
            return tuple(None if d == -1 else d for d in target)
        if total % fixed:
            raise ShapeError(f"{total} elements do not divide by {fixed}")
        return tuple(total // fixed if d == -1 else d for d in target)
    if total is not None and total != fixed:
        raise ShapeError(f"{total} elements cannot take the shape {target}")
    return tuple(target)


def cropping(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        crops = p["cropping"] if rank > 2 else (p["cropping"],)
        return _crop(_rank(s, rank), crops)
    return shape


def permute(p: Params, s: Sequence[Shape]) -> Shape:
    x, dims = _rank(s), p["dims"]
    if sorted(dims) != list(range(1, len(x) + 1)):
        raise ShapeError(f"dims {dims} is not a permutation of 1..{len(x)}")
    return tuple(x[d - 1] for d in dims)


def zero_padding(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        pads = p["padding"] if rank > 2 else (p["padding"],)
        return tuple(_grow(x[i], 1, lo + hi) for i, (lo, hi) in enumerate(pads)) + (x[-1],)
    return shape


def upsampling(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        sizes = p["size"] if rank > 2 else (p["size"],)
        return tuple(_grow(x[i], k) for i, k in enumerate(sizes)) + (x[-1],)
    return shape


def batch_norm(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s)
    _known(x[_axis(p["axis"], len(x))], "the normalised axis")
    return x


def activation(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s)
    _axis(p["axis"], len(x))
    if p["activation"] != "softmax" and p["axis"] != -1:
        raise ShapeError("only softmax takes an axis")
    return x


def same(p: Params, s: Sequence[Shape]) -> Shape:
    return _rank(s)


def concatenate(p: Params, s: Sequence[Shape]) -> Shape:
    rank = len(s[0])
    if any(len(x) != rank for x in s):
        raise ShapeError("inputs have different ranks")
    axis = _axis(p["axis"], rank)
    for x in s[1:]:
        if any(x[i] != s[0][i] for i in range(rank) if i != axis):
            raise ShapeError(f"{x} and {s[0]} differ off the axis {p['axis']}")
    total = [x[axis] for x in s]
    joined = None if None in total else sum(total)  # type: ignore[arg-type]
    return s[0][:axis] + (joined,) + s[0][axis + 1:]


def add(p: Params, s: Sequence[Shape]) -> Shape:
    if any(x != s[0] for x in s):
        raise ShapeError(f"inputs have different shapes {list(s)}")
    return s[0]


def center_crop_reshape(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s, 3)
    channels = _known(x[-1], "the channel dim")
    for i, key in enumerate(("height", "width")):
        if x[i] is not None and x[i] < p[key]:  # type: ignore[operator]
            raise ShapeError(f"{key} {p[key]} is larger than the dim {x[i]}")
    return (p["height"] * p["width"] * channels,)


# ---- the table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerDef:
    """A layer kind: its parameters (name -> check, with defaults), its shape and how Keras builds it."""

    shape: Callable[[Params, Sequence[Shape]], Shape]
    params: dict[str, tuple[Check, Any]]
    arity: range = range(1, 2)
    build: Callable[[str, Params, str], Any] | None = None  # None: keras.layers.<kind>(**params)

    def check_params(self, given: Params, path: str) -> Params:
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise SpecError(f"{path}.{unknown[0]}", f"unknown parameter (allowed: {', '.join(self.params)})")
        out = {}
        for key, (check, default) in self.params.items():
            if key not in given:
                if default is REQUIRED:
                    raise SpecError(f"{path}.{key}", "missing")
                out[key] = default
            else:
                out[key] = check(given[key], f"{path}.{key}")
        return out


def _req(check: Check) -> tuple[Check, Any]:
    return (check, REQUIRED)


PADDING = _req(one_of("valid", "same"))


def _window_params(n: int, kernel: str, extra: dict[str, tuple[Check, Any]]) -> dict[str, tuple[Check, Any]]:
    return {kernel: _req(ints(n, 1)), "strides": _req(ints(n, 1)), "padding": PADDING, **extra}


def _conv_params(n: int, **extra: tuple[Check, Any]) -> dict[str, tuple[Check, Any]]:
    return _window_params(n, "kernel_size", {"dilation_rate": _req(ints(n, 1)), **extra})


def _build_activation(kind: str, p: Params, name: str) -> Any:
    import keras

    if p["activation"] == "softmax":
        return keras.layers.Softmax(axis=p["axis"], name=name)
    return keras.layers.Activation(p["activation"], name=name)


def _build_center_crop(kind: str, p: Params, name: str) -> Any:
    from roundtrip.custom import CenterCropReshape

    return CenterCropReshape(p["height"], p["width"], name=name)


_KEEPDIMS: dict[str, tuple[Check, Any]] = {"keepdims": (boolean, False)}

LAYERS: dict[str, LayerDef] = {
    "Dense": LayerDef(dense, {"units": _req(int_at_least(1))}),
    "Conv1D": LayerDef(conv(2), _conv_params(1, filters=_req(int_at_least(1)))),
    "Conv2D": LayerDef(conv(3), _conv_params(2, filters=_req(int_at_least(1)))),
    "DepthwiseConv2D": LayerDef(depthwise, _conv_params(2, depth_multiplier=_req(int_at_least(1)))),
    "MaxPooling1D": LayerDef(pool(2), _window_params(1, "pool_size", {})),
    "MaxPooling2D": LayerDef(pool(3), _window_params(2, "pool_size", {})),
    "AveragePooling1D": LayerDef(pool(2), _window_params(1, "pool_size", {})),
    "AveragePooling2D": LayerDef(pool(3), _window_params(2, "pool_size", {})),
    "GlobalAveragePooling1D": LayerDef(global_pool(2), _KEEPDIMS),
    "GlobalMaxPooling1D": LayerDef(global_pool(2), _KEEPDIMS),
    "GlobalAveragePooling2D": LayerDef(global_pool(3), _KEEPDIMS),
    "GlobalMaxPooling2D": LayerDef(global_pool(3), _KEEPDIMS),
    "Flatten": LayerDef(flatten, {}),
    "Reshape": LayerDef(reshape, {"target_shape": _req(int_tuple)}),
    "Cropping1D": LayerDef(cropping(2), {"cropping": _req(ints(2, 0))}),
    "Cropping2D": LayerDef(cropping(3), {"cropping": _req(pairs(2))}),
    "Cropping3D": LayerDef(cropping(4), {"cropping": _req(pairs(3))}),
    "Permute": LayerDef(permute, {"dims": _req(int_tuple)}),
    "ZeroPadding1D": LayerDef(zero_padding(2), {"padding": _req(ints(2, 0))}),
    "ZeroPadding2D": LayerDef(zero_padding(3), {"padding": _req(pairs(2))}),
    "UpSampling1D": LayerDef(upsampling(2), {"size": _req(int_at_least(1))}),
    "UpSampling2D": LayerDef(upsampling(3), {"size": _req(ints(2, 1)),
                                             "interpolation": (one_of("nearest", "bilinear"), "nearest")}),
    "BatchNormalization": LayerDef(batch_norm, {"axis": (negative_axis, -1)}),
    "Activation": LayerDef(activation, {"activation": _req(one_of("relu", "sigmoid", "tanh", "softmax")),
                                        "axis": (negative_axis, -1)}, build=_build_activation),
    "Dropout": LayerDef(same, {"rate": _req(fraction)}),
    "Concatenate": LayerDef(concatenate, {"axis": (negative_axis, -1)}, arity=range(2, 4)),
    "Add": LayerDef(add, {}, arity=range(2, 4)),
    "CenterCropReshape": LayerDef(center_crop_reshape, {"height": _req(int_at_least(1)),
                                                        "width": _req(int_at_least(1))},
                                  build=_build_center_crop),
}


def build_layer(kind: str, params: Params, name: str) -> Any:
    """A fresh Keras layer for one table entry (params already checked and defaulted)."""
    entry = LAYERS[kind]
    if entry.build is not None:
        return entry.build(kind, params, name)
    import keras

    return getattr(keras.layers, kind)(**params, name=name)
