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

from roundtrip.spec import unit_axes
from roundtrip.spec.parse import fail
from roundtrip.spec.values import Dim, Shape, ShapeError, SpecError, Value, numel

Params = dict[str, Any]
Check = Callable[[Any, str], Any]
REQUIRED = object()


# ---- parameter checks: each takes (value, field path) and returns the value or raises SpecError ----
def int_at_least(low: int) -> Check:
    def check(v: Any, path: str) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise fail(path, f"an integer >= {low}", v)
        return v
    return check


def ints(n: int, low: int) -> Check:
    def check(v: Any, path: str) -> tuple[int, ...]:
        if not isinstance(v, tuple) or len(v) != n:
            raise fail(path, f"{n} integers >= {low}", v)
        return tuple(int_at_least(low)(x, f"{path}[{i}]") for i, x in enumerate(v))
    return check


def pairs(n: int) -> Check:
    def check(v: Any, path: str) -> tuple[tuple[int, int], ...]:
        if not isinstance(v, tuple) or len(v) != n:
            raise fail(path, f"{n} pairs of integers >= 0", v)
        return tuple(ints(2, 0)(x, f"{path}[{i}]") for i, x in enumerate(v))
    return check


def one_of(*options: Value) -> Check:
    def check(v: Any, path: str) -> Any:
        if v not in options or isinstance(v, bool) != isinstance(options[0], bool):
            raise fail(path, f"one of {list(options)!r}", v)
        return v
    return check


def fraction(v: Any, path: str) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v < 1:
        raise fail(path, "a number in [0, 1)", v)
    return float(v)


def negative_axis(v: Any, path: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v >= 0:
        raise fail(path, "a negative axis", v)
    return v


def int_tuple(v: Any, path: str) -> tuple[int, ...]:
    if not isinstance(v, tuple) or not v or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise fail(path, "a non-empty list of integers", v)
    return v


def index_tuple(v: Any, path: str) -> tuple[int, ...]:
    """A non-empty list of integers >= 0."""
    if not isinstance(v, tuple) or not v or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                    for x in v):
        raise fail(path, "a non-empty list of integers >= 0", v)
    return v


def dims(v: Any, path: str) -> tuple[int | None, ...]:
    """A non-empty list of dims, each a positive integer or None (unknown), the last one known."""
    if (not isinstance(v, tuple) or not v or v[-1] is None
            or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1) for d in v)):
        raise fail(path, "a non-empty list of positive integers or nulls, the last an integer", v)
    return v


def boolean(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise fail(path, "true or false", v)
    return v


def number(low: float, high: float) -> Check:
    """A finite number in [low, high]."""
    def check(v: Any, path: str) -> float:
        if not isinstance(v, int | float) or isinstance(v, bool) or not low <= v <= high:
            raise fail(path, f"a number in [{low}, {high}]", v)
        return float(v)
    return check


def optional(inner: Check) -> Check:
    def check(v: Any, path: str) -> Any:
        return None if v is None else inner(v, path)
    return check


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
def units_last(at_least: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    """The last dim (known) becomes `units`: Dense, and TimeDistributed(Dense) over at least 2 axes."""
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, at_least=at_least)
        _known(x[-1], "the last dim")
        return x[:-1] + (p["units"],)
    return shape


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
    return glu_shape(x) if p["activation"] == "glu" else x


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


def embedding(p: Params, s: Sequence[Shape]) -> Shape:
    """Embedding: each token id becomes a vector of `output_dim` (ModelSpec checks that it reads token ids)."""
    return (*_rank(s), p["output_dim"])


def merge_axes(p: Params, s: Sequence[Shape]) -> Shape:
    """MergeAxes: axis `axis` (1 is the first after the batch) times the next one."""
    x = _rank(s, at_least=2)
    i = p["axis"] - 1
    if i + 1 >= len(x):
        raise ShapeError(f"axis {p['axis']} has no next axis in a tensor of {len(x)} non-batch axes")
    first, second = x[i], x[i + 1]
    return (*x[:i], None if first is None or second is None else first * second, *x[i + 2:])


def strided_last(p: Params, s: Sequence[Shape]) -> Shape:
    """StridedLast: x[..., begin::step, newaxis]."""
    x = _rank(s)
    last = _known(x[-1], "the last dim")
    if p["begin"] >= last:
        raise ShapeError(f"begin {p['begin']} leaves nothing of the last dim {last}")
    return (*x[:-1], -(-(last - p["begin"]) // p["step"]), 1)


def resize_by(p: Params, s: Sequence[Shape]) -> Shape:
    """ResizeBy: height and width times `scale`."""
    height, width, channels = _rank(s, 3)
    _known(channels, "the channel dim")
    return (None if height is None else height * p["scale"], None if width is None else width * p["scale"], channels)


def gather_axis(p: Params, s: Sequence[Shape]) -> Shape:
    """GatherAxis: the dim at `axis` becomes len(indices); every index inside it."""
    x = _rank(s)
    i = p["axis"] - 1
    if i >= len(x):
        raise ShapeError(f"axis {p['axis']} is past the last of {len(x)} non-batch axes")
    d = _known(x[i], f"dim {p['axis']}")
    if max(p["indices"]) >= d:
        raise ShapeError(f"index {max(p['indices'])} is outside the dim {d}")
    return (*x[:i], len(p["indices"]), *x[i + 1:])


def last_axis(p: Params, s: Sequence[Shape]) -> Shape:
    """A layer over the last axis (normalisations, PReLU): that dim must be known."""
    x = _rank(s)
    _known(x[-1], "the last dim")
    return x


def prelu(p: Params, s: Sequence[Shape]) -> Shape:
    """PReLU has a slope per element of the axes it does not share (1-based, as Keras counts them)."""
    x = _rank(s)
    if any(not 1 <= a <= len(x) for a in p["shared_axes"]):
        raise ShapeError(f"shared_axes {p['shared_axes']} are not axes of {len(x)} non-batch axes")
    for a in range(1, len(x) + 1):
        if a not in p["shared_axes"]:
            _known(x[a - 1], f"axis {a} (not shared)")
    return x


def groups_of(p: Params, s: Sequence[Shape]) -> Shape:
    x = last_axis(p, s)
    if x[-1] % p["groups"]:  # type: ignore[operator]
        raise ShapeError(f"{x[-1]} channels do not split into {p['groups']} groups")
    return x


def spatial_dropout(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    return lambda p, s: _rank(s, rank)


def image(p: Params, s: Sequence[Shape]) -> Shape:
    """The image augmentation layers (identity at inference) take (height, width, channels)."""
    return _rank(s, 3)


def glu_shape(x: Shape) -> Shape:
    last = _known(x[-1], "the last dim")
    if last % 2:
        raise ShapeError(f"glu halves the last dim, {last} is odd")
    return x[:-1] + (last // 2,)


def grouped_conv(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        out = conv(rank)(p, s)
        channels, groups = s[0][-1], p["groups"]
        if channels % groups or p["filters"] % groups:  # type: ignore[operator]
            raise ShapeError(f"groups={groups} must divide the {channels} channels and the {p['filters']} filters")
        return out
    return shape


def transposed(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    """Keras' transposed convolution without output_padding: 'same' gives size * stride, 'valid'
    (size - 1) * stride + max(kernel, stride)."""
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        _known(x[-1], "the channel dim")
        out = []
        for d, k, st in zip(x[:-1], p["kernel_size"], p["strides"], strict=True):
            out.append(None if d is None else d * st if p["padding"] == "same" else (d - 1) * st + max(k, st))
        return tuple(out) + (p["filters"],)
    return shape


def separable(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        _known(x[-1], "the channel dim")
        if len(set(p["strides"])) > 1:  # its depthwise step: TensorFlow's kernel takes equal strides only
            raise ShapeError("TensorFlow's depthwise kernel takes equal strides only")
        return _spatial(x, p, "kernel_size") + (p["filters"],)
    return shape


def depthwise1d(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s, 2)
    channels = _known(x[-1], "the channel dim")
    return _spatial(x, p, "kernel_size") + (channels * p["depth_multiplier"],)


def adaptive(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        sizes = p["output_size"]
        for d, o in zip(x[:-1], sizes, strict=True):
            if d is not None and o > d:
                raise ShapeError(f"output size {o} is larger than the dim {d}")
        return tuple(sizes) + (x[-1],)
    return shape


def resize_to(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s, 3)
    return (p["height"], p["width"], x[-1])


def center_crop(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s, 3)
    for i, key in enumerate(("height", "width")):
        if x[i] is not None and x[i] < p[key]:  # type: ignore[operator]
            raise ShapeError(f"{key} {p[key]} is larger than the dim {x[i]}")
    return (p["height"], p["width"], x[-1])


def repeat_vector(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s, 1)
    return (p["n"], x[0])


def einsum_dense(p: Params, s: Sequence[Shape]) -> Shape:
    """EinsumDense over the last axis; `output_shape` repeats the input's declared dims (None where dynamic),
    then the units."""
    x, out = _rank(s), p["output_shape"]
    if len(x) > 3:
        raise ShapeError("EinsumDense is drawn on 1 to 3 non-batch axes")
    _known(x[-1], "the last dim")
    if len(out) != len(x) or any(o is not None and d is not None and o != d for o, d in zip(out[:-1], x, strict=False)):
        raise ShapeError(f"output_shape {out} does not keep the input's dims {x[:-1]}")
    return tuple(d if o is None else o for o, d in zip(out[:-1], x, strict=False)) + (out[-1],)


def recurrent(p: Params, s: Sequence[Shape]) -> Shape:
    """SimpleRNN, LSTM, GRU over (time, features): the sequence, the last output, or a state."""
    x = _rank(s, 2)
    _known(x[-1], "the feature dim")
    if p["state"] and p["return_sequences"]:
        raise ShapeError("a state is picked from a layer that returns the last output")
    return (x[0], p["units"]) if p["return_sequences"] else (p["units"],)


def bidirectional(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s, 2)
    _known(x[-1], "the feature dim")
    width = 2 * p["units"] if p["merge_mode"] == "concat" else p["units"]
    return (x[0], width) if p["return_sequences"] else (width,)


def conv_lstm(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    """ConvLSTM over (time, *spatial, channels)."""
    def shape(p: Params, s: Sequence[Shape]) -> Shape:
        x = _rank(s, rank)
        _known(x[-1], "the channel dim")
        for d in x[1:-1]:
            _known(d, "a ConvLSTM's spatial dims")  # Keras refuses dynamic ones
        spatial = tuple(window_out(d, k, 1, 1, p["padding"]) for d, k in zip(x[1:-1], p["kernel_size"], strict=True))
        return ((x[0],) if p["return_sequences"] else ()) + spatial + (p["filters"],)
    return shape


def attention(p: Params, s: Sequence[Shape]) -> Shape:
    """(query, value): both (time, dim), the same dim; the output has the query's shape."""
    q, v = s[0], s[1]
    if len(q) != 2 or len(v) != 2:
        raise ShapeError("attention takes (time, dim) inputs")
    _known(q[-1], "the query dim")
    if q[-1] != v[-1]:
        raise ShapeError(f"query dim {q[-1]} and value dim {v[-1]} differ")
    return q


def on_axis(p: Params, s: Sequence[Shape]) -> Shape:
    x = _rank(s)
    _axis(p["axis"], len(x))
    return x


def grouped_attention(p: Params, s: Sequence[Shape]) -> Shape:
    if p["query_heads"] % p["key_value_heads"]:
        raise ShapeError(f"{p['query_heads']} query heads do not share {p['key_value_heads']} key/value heads evenly")
    return attention(p, s)


def dot(p: Params, s: Sequence[Shape]) -> Shape:
    """Dot over the last axis: (d), (d) -> (1,); (a, d), (b, d) -> (a, b)."""
    x, y = s[0], s[1]
    if len(x) != len(y) or len(x) not in (1, 2):
        raise ShapeError("Dot is drawn on two inputs of rank 1 or 2 alike")
    _known(x[-1], "the last dim")
    if x[-1] != y[-1]:
        raise ShapeError(f"last dims {x[-1]} and {y[-1]} differ")
    return (1,) if len(x) == 1 else (x[0], y[0])


# ---- the table ------------------------------------------------------------------------------
Text = Callable[[str, Params], str]


def keras_call(kind: str, p: Params, defaults: Params | None = None) -> str:
    """`keras.layers.Kind(key=value, ...)`, leaving out what equals its default."""
    args = ", ".join(f"{k}={literal(v)}" for k, v in p.items() if defaults is None or defaults.get(k, REQUIRED) != v)
    return f"keras.layers.{kind}({args})"


def literal(value: Any) -> str:
    """A Python literal: repr, with plain strings in double quotes."""
    if isinstance(value, str) and '"' not in value and "\\" not in repr(value):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


@dataclass(frozen=True)
class LayerDef:
    """A layer kind: its parameters (name -> check, with defaults), its shape, and the Python expression
    that makes the Keras layer (`text`; by default `keras.layers.<kind>(params)`).  The engine builds a
    layer by evaluating that expression, and repro.py writes it out, so both make the same layer.
    `positional` calls the layer with its inputs as separate arguments (attention) instead of a list;
    `pick` says which of a layer's several outputs the tensor is (None: it has one)."""

    shape: Callable[[Params, Sequence[Shape]], Shape]
    params: dict[str, tuple[Check, Any]]
    arity: range = range(1, 2)
    text: Text | None = None
    positional: bool = False
    pick: Callable[[Params], int | None] = lambda p: None
    drop_axis: unit_axes.Hook | None = None  # its params once a size-1 axis of its input goes (None: cannot)

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

    def expression(self, kind: str, params: Params) -> str:
        """The constructor, without its name argument (params checked and defaulted)."""
        if self.text is not None:
            return self.text(kind, params)
        return keras_call(kind, params, {k: d for k, (_, d) in self.params.items()})


def _req(check: Check) -> tuple[Check, Any]:
    return (check, REQUIRED)


PADDING = _req(one_of("valid", "same"))
UNITS = _req(int_at_least(1))


def _window_params(n: int, kernel: str, extra: dict[str, tuple[Check, Any]]) -> dict[str, tuple[Check, Any]]:
    return {kernel: _req(ints(n, 1)), "strides": _req(ints(n, 1)), "padding": PADDING, **extra}


def _conv_params(n: int, **extra: tuple[Check, Any]) -> dict[str, tuple[Check, Any]]:
    return _window_params(n, "kernel_size", {"dilation_rate": _req(ints(n, 1)), **extra})


# Every function of keras.activations (Keras 3.15), and two that take an argument: GELU's tanh
# approximation and threshold, registered in roundtrip.spec.custom (an Activation layer takes a name, not arguments).
ACTIVATIONS = (
    "relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "celu", "gelu", "gelu_approximate", "glu",
    "exponential", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "leaky_relu",
    "log_sigmoid", "log_softmax", "mish", "relu6", "silu", "swish", "soft_shrink", "softplus", "softsign",
    "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink", "threshold",
)
CUSTOM_ACTIVATIONS = {"gelu_approximate": "gelu_approximate", "threshold": "threshold_half"}


def _activation_text(kind: str, p: Params) -> str:
    if p["activation"] == "softmax":
        return f"keras.layers.Softmax(axis={p['axis']!r})"
    if p["activation"] in CUSTOM_ACTIVATIONS:
        return f"keras.layers.Activation({CUSTOM_ACTIVATIONS[p['activation']]})"
    return f"keras.layers.Activation({literal(p['activation'])})"


def _center_crop_text(kind: str, p: Params) -> str:
    return f"CenterCropReshape(height={p['height']!r}, width={p['width']!r})"


def _custom_text(kind: str, p: Params) -> str:
    """A layer of roundtrip.spec.custom: its class, every argument written."""
    return f"{kind}({', '.join(f'{k}={literal(v)}' for k, v in p.items())})"


def _recurrent_text(kind: str, p: Params) -> str:
    args = {"units": p["units"], "return_sequences": p["return_sequences"], "go_backwards": p["go_backwards"]}
    if p["state"]:
        args["return_state"] = True
    return keras_call(kind, args, {"return_sequences": False, "go_backwards": False})


def _bidirectional_text(kind: str, p: Params) -> str:
    inner = keras_call(p["layer"], {"units": p["units"], "return_sequences": p["return_sequences"]},
                       {"return_sequences": False})
    return f"keras.layers.Bidirectional({inner}, merge_mode={literal(p['merge_mode'])})"


def _time_distributed_text(kind: str, p: Params) -> str:
    inner = "keras.layers.ReLU()" if p["layer"] == "ReLU" else f"keras.layers.Dense({p['units']!r})"
    return f"keras.layers.TimeDistributed({inner})"


def time_distributed(p: Params, s: Sequence[Shape]) -> Shape:
    """TimeDistributed over at least 2 axes of Dense (the last dim becomes `units`) or of ReLU, the wrapped layer's
    stand-in (the reducer's: no weights, the shape kept; `units` is then not given)."""
    if p["layer"] == "ReLU":
        if p["units"] is not None:
            raise ShapeError("units is Dense's: a wrapped ReLU takes none")
        return _rank(s, at_least=2)
    if p["units"] is None:
        raise ShapeError("a wrapped Dense needs units")
    return units_last(2)(p, s)


def _einsum_text(kind: str, p: Params) -> str:
    """EinsumDense over the last axis of a (batch, ..., features) input."""
    letters = "abc"[:len(p["output_shape"])]
    equation = f"z{letters},{letters[-1]}u->z{letters[:-1]}u"
    bias = f", bias_axes={literal('u')}" if p["bias"] else ""
    return f"keras.layers.EinsumDense({literal(equation)}, output_shape={literal(p['output_shape'])}{bias})"


def _gqa_text(kind: str, p: Params) -> str:
    return (f"keras.layers.GroupQueryAttention(head_dim={p['head_dim']!r}, num_query_heads={p['query_heads']!r}, "
            f"num_key_value_heads={p['key_value_heads']!r})")


def _normalization_text(kind: str, p: Params) -> str:
    return "keras.layers.Normalization(axis=-1)"


_KEEPDIMS: dict[str, tuple[Check, Any]] = {"keepdims": (boolean, False)}
_AXIS: dict[str, tuple[Check, Any]] = {"axis": (negative_axis, -1)}
_RATE: dict[str, tuple[Check, Any]] = {"rate": _req(fraction)}
_FACTOR: dict[str, tuple[Check, Any]] = {"factor": _req(number(0.0, 0.5))}
_MERGE = range(2, 4)
_RNN = {"units": UNITS, "return_sequences": (boolean, False), "go_backwards": (boolean, False),
        "state": (int_at_least(0), 0)}
_CONV_LSTM = {"filters": UNITS, "padding": PADDING, "return_sequences": (boolean, False)}


def _pick_state(p: Params) -> int | None:
    return p["state"] or None


LAYERS: dict[str, LayerDef] = {
    # ---- core, convolutions and windows
    "Dense": LayerDef(units_last(1), {"units": UNITS}),
    "Embedding": LayerDef(embedding, {"input_dim": UNITS, "output_dim": UNITS}),
    "EinsumDense": LayerDef(einsum_dense, {"output_shape": _req(dims), "bias": (boolean, False)}, text=_einsum_text),
    "Conv1D": LayerDef(grouped_conv(2), _conv_params(1, filters=UNITS, groups=(int_at_least(1), 1))),
    "Conv2D": LayerDef(grouped_conv(3), _conv_params(2, filters=UNITS, groups=(int_at_least(1), 1))),
    "Conv3D": LayerDef(grouped_conv(4), _conv_params(3, filters=UNITS, groups=(int_at_least(1), 1))),
    "Conv1DTranspose": LayerDef(transposed(2), _window_params(1, "kernel_size", {"filters": UNITS})),
    "Conv2DTranspose": LayerDef(transposed(3), _window_params(2, "kernel_size", {"filters": UNITS})),
    "Conv3DTranspose": LayerDef(transposed(4), _window_params(3, "kernel_size", {"filters": UNITS})),
    "SeparableConv1D": LayerDef(separable(2), _conv_params(1, filters=UNITS, depth_multiplier=(int_at_least(1), 1))),
    "SeparableConv2D": LayerDef(separable(3), _conv_params(2, filters=UNITS, depth_multiplier=(int_at_least(1), 1))),
    "DepthwiseConv1D": LayerDef(depthwise1d, _conv_params(1, depth_multiplier=UNITS)),
    "DepthwiseConv2D": LayerDef(depthwise, _conv_params(2, depth_multiplier=UNITS)),
    "MaxPooling1D": LayerDef(pool(2), _window_params(1, "pool_size", {})),
    "MaxPooling2D": LayerDef(pool(3), _window_params(2, "pool_size", {})),
    "MaxPooling3D": LayerDef(pool(4), _window_params(3, "pool_size", {})),
    "AveragePooling1D": LayerDef(pool(2), _window_params(1, "pool_size", {})),
    "AveragePooling2D": LayerDef(pool(3), _window_params(2, "pool_size", {})),
    "AveragePooling3D": LayerDef(pool(4), _window_params(3, "pool_size", {})),
    "GlobalAveragePooling1D": LayerDef(global_pool(2), _KEEPDIMS),
    "GlobalMaxPooling1D": LayerDef(global_pool(2), _KEEPDIMS),
    "GlobalAveragePooling2D": LayerDef(global_pool(3), _KEEPDIMS),
    "GlobalMaxPooling2D": LayerDef(global_pool(3), _KEEPDIMS),
    "GlobalAveragePooling3D": LayerDef(global_pool(4), _KEEPDIMS),
    "GlobalMaxPooling3D": LayerDef(global_pool(4), _KEEPDIMS),
    "AdaptiveAveragePooling1D": LayerDef(adaptive(2), {"output_size": _req(ints(1, 1))}),
    "AdaptiveAveragePooling2D": LayerDef(adaptive(3), {"output_size": _req(ints(2, 1))}),
    "AdaptiveAveragePooling3D": LayerDef(adaptive(4), {"output_size": _req(ints(3, 1))}),
    "AdaptiveMaxPooling1D": LayerDef(adaptive(2), {"output_size": _req(ints(1, 1))}),
    "AdaptiveMaxPooling2D": LayerDef(adaptive(3), {"output_size": _req(ints(2, 1))}),
    "AdaptiveMaxPooling3D": LayerDef(adaptive(4), {"output_size": _req(ints(3, 1))}),
    # ---- reshaping, cropping, padding, resizing
    "Flatten": LayerDef(flatten, {}),
    "Reshape": LayerDef(reshape, {"target_shape": _req(int_tuple)}),
    "Permute": LayerDef(permute, {"dims": _req(int_tuple)}),
    "RepeatVector": LayerDef(repeat_vector, {"n": UNITS}),
    "Cropping1D": LayerDef(cropping(2), {"cropping": _req(ints(2, 0))}),
    "Cropping2D": LayerDef(cropping(3), {"cropping": _req(pairs(2))}),
    "Cropping3D": LayerDef(cropping(4), {"cropping": _req(pairs(3))}),
    "CenterCrop": LayerDef(center_crop, {"height": UNITS, "width": UNITS}),
    "CenterCropReshape": LayerDef(center_crop_reshape, {"height": UNITS, "width": UNITS}, text=_center_crop_text),
    # the suite's other custom layers (roundtrip.spec.custom): TensorFlow ops as users write them
    "MergeAxes": LayerDef(merge_axes, {"axis": (int_at_least(1), 1)}, text=_custom_text),
    "StridedLast": LayerDef(strided_last, {"begin": (int_at_least(0), 0), "step": (int_at_least(1), 1)},
                            text=_custom_text),
    "ResizeBy": LayerDef(resize_by, {"scale": (int_at_least(1), 1),
                                     "method": (one_of("bilinear", "nearest", "bicubic"), "bilinear")},
                         text=_custom_text),
    "GatherAxis": LayerDef(gather_axis, {"indices": _req(index_tuple), "axis": (int_at_least(1), 1)},
                           text=_custom_text),
    "KeepAbove": LayerDef(same, {"threshold": (number(-1.0, 1.0), 0.0)}, text=_custom_text),
    "ZeroPadding1D": LayerDef(zero_padding(2), {"padding": _req(ints(2, 0))}),
    "ZeroPadding2D": LayerDef(zero_padding(3), {"padding": _req(pairs(2))}),
    "ZeroPadding3D": LayerDef(zero_padding(4), {"padding": _req(pairs(3))}),
    "UpSampling1D": LayerDef(upsampling(2), {"size": _req(int_at_least(1))}),
    "UpSampling2D": LayerDef(upsampling(3), {"size": _req(ints(2, 1)),
                                             "interpolation": (one_of("nearest", "bilinear"), "nearest")}),
    "UpSampling3D": LayerDef(upsampling(4), {"size": _req(ints(3, 1))}),
    "Resizing": LayerDef(resize_to, {"height": UNITS, "width": UNITS, "interpolation": (one_of(
        "bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5"), "bilinear")}),
    # ---- normalisation
    "BatchNormalization": LayerDef(batch_norm, _AXIS, drop_axis=unit_axes.along()),
    "LayerNormalization": LayerDef(batch_norm, _AXIS, drop_axis=unit_axes.along()),
    "GroupNormalization": LayerDef(groups_of, {"groups": _req(int_at_least(1))}),
    "RMSNormalization": LayerDef(last_axis, {}),
    "UnitNormalization": LayerDef(on_axis, {"axis": (negative_axis, -1)}, drop_axis=unit_axes.along()),
    "Normalization": LayerDef(last_axis, {}, text=_normalization_text),  # its statistics are weights, set as any
    "Rescaling": LayerDef(same, {"scale": _req(number(-4.0, 4.0)), "offset": (number(-4.0, 4.0), 0.0)},
                          drop_axis=unit_axes.kept),
    # ---- activations
    "Activation": LayerDef(activation, {"activation": _req(one_of(*ACTIVATIONS)), "axis": (negative_axis, -1)},
                           text=_activation_text, drop_axis=unit_axes.along()),
    "Softmax": LayerDef(on_axis, {"axis": (negative_axis, -1)}, drop_axis=unit_axes.along()),
    "ReLU": LayerDef(same, {"max_value": (optional(number(0.5, 6.0)), None), "negative_slope": (number(0.0, 1.0), 0.0),
                            "threshold": (number(-1.0, 1.0), 0.0)}, drop_axis=unit_axes.kept),
    "LeakyReLU": LayerDef(same, {"negative_slope": (number(0.0, 1.0), 0.3)}, drop_axis=unit_axes.kept),
    "PReLU": LayerDef(prelu, {"shared_axes": ((lambda v, path: int_tuple(v, path) if v else ()), ())}),
    "ELU": LayerDef(same, {"alpha": (number(0.0, 2.0), 1.0)}, drop_axis=unit_axes.kept),
    # ---- identity at inference: a converter must drop them
    "Identity": LayerDef(same, {}, drop_axis=unit_axes.kept),
    "Dropout": LayerDef(same, _RATE, drop_axis=unit_axes.kept),
    "SpatialDropout1D": LayerDef(spatial_dropout(2), _RATE),
    "SpatialDropout2D": LayerDef(spatial_dropout(3), _RATE),
    "SpatialDropout3D": LayerDef(spatial_dropout(4), _RATE),
    "GaussianDropout": LayerDef(same, _RATE, drop_axis=unit_axes.kept),
    "AlphaDropout": LayerDef(same, _RATE, drop_axis=unit_axes.kept),
    "GaussianNoise": LayerDef(same, {"stddev": _req(number(0.0, 1.0))}, drop_axis=unit_axes.kept),
    "ActivityRegularization": LayerDef(same, {"l1": (number(0.0, 1.0), 0.0), "l2": (number(0.0, 1.0), 0.0)},
                                       drop_axis=unit_axes.kept),
    "RandomFlip": LayerDef(image, {"mode": (one_of("horizontal_and_vertical", "horizontal", "vertical"),
                                            "horizontal_and_vertical")}),
    "RandomRotation": LayerDef(image, _FACTOR),
    "RandomZoom": LayerDef(image, {"height_factor": _req(number(0.0, 0.5))}),
    "RandomTranslation": LayerDef(image, {"height_factor": _req(number(0.0, 0.5)),
                                          "width_factor": _req(number(0.0, 0.5))}),
    "RandomContrast": LayerDef(image, _FACTOR),
    "RandomBrightness": LayerDef(image, _FACTOR),
    "Masking": LayerDef(same, {"mask_value": (number(-10.0, 10.0), 0.0)}),
    # ---- recurrent and attention
    "SimpleRNN": LayerDef(recurrent, _RNN, text=_recurrent_text, pick=_pick_state),
    "LSTM": LayerDef(recurrent, _RNN, text=_recurrent_text, pick=_pick_state),
    "GRU": LayerDef(recurrent, _RNN, text=_recurrent_text, pick=_pick_state),
    "Bidirectional": LayerDef(bidirectional, {"layer": _req(one_of("SimpleRNN", "LSTM", "GRU")), "units": UNITS,
                                              "merge_mode": (one_of("concat", "sum", "mul", "ave"), "concat"),
                                              "return_sequences": (boolean, False)}, text=_bidirectional_text),
    "TimeDistributed": LayerDef(time_distributed, {"units": (int_at_least(1), None),
                                                   "layer": (one_of("Dense", "ReLU"), "Dense")},
                                text=_time_distributed_text),
    "ConvLSTM1D": LayerDef(conv_lstm(3), {**_CONV_LSTM, "kernel_size": _req(ints(1, 1))}),
    "ConvLSTM2D": LayerDef(conv_lstm(4), {**_CONV_LSTM, "kernel_size": _req(ints(2, 1))}),
    "Attention": LayerDef(attention, {"use_scale": (boolean, False)}, arity=range(2, 3)),
    "AdditiveAttention": LayerDef(attention, {"use_scale": (boolean, True)}, arity=range(2, 3)),
    "MultiHeadAttention": LayerDef(attention, {"num_heads": UNITS, "key_dim": UNITS}, arity=range(2, 3),
                                   positional=True),
    "GroupQueryAttention": LayerDef(grouped_attention, {"head_dim": UNITS, "query_heads": UNITS,
                                                        "key_value_heads": UNITS},
                                    arity=range(2, 3), text=_gqa_text, positional=True),
    # ---- merging
    "Concatenate": LayerDef(concatenate, _AXIS, arity=_MERGE, drop_axis=unit_axes.along()),
    "Add": LayerDef(add, {}, arity=_MERGE, drop_axis=unit_axes.kept),
    "Multiply": LayerDef(add, {}, arity=_MERGE, drop_axis=unit_axes.kept),
    "Average": LayerDef(add, {}, arity=_MERGE, drop_axis=unit_axes.kept),
    "Maximum": LayerDef(add, {}, arity=_MERGE, drop_axis=unit_axes.kept),
    "Minimum": LayerDef(add, {}, arity=_MERGE, drop_axis=unit_axes.kept),
    "Subtract": LayerDef(add, {}, arity=range(2, 3), drop_axis=unit_axes.kept),
    "Dot": LayerDef(dot, {"normalize": (boolean, False)}, arity=range(2, 3),
                    text=lambda kind, p: f"keras.layers.Dot(axes=-1, normalize={p['normalize']!r})"),
}

# Keras 3.15 layer classes left out of LAYERS, and why (tests compare LAYERS with keras.layers).
LEFT_OUT = {
    **dict.fromkeys(("AvgPool1D", "AvgPool2D", "AvgPool3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "GlobalAvgPool1D",
                     "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
                     "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose",
                     "Convolution2DTranspose", "Convolution3DTranspose", "SeparableConvolution1D",
                     "SeparableConvolution2D"), "an alias of a kind in LAYERS"),
    **dict.fromkeys(("Layer", "InputLayer", "Wrapper", "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
                     "Pipeline"), "a base class or a building block of a kind in LAYERS, not a layer on its own"),
    "Lambda": "arbitrary Python code: not serialisable in safe mode, which the suite keeps to",
    **dict.fromkeys(("FlaxLayer", "JaxLayer", "TorchModuleWrapper", "TFSMLayer"),
                    "wraps another framework's model or a SavedModel, not Keras layers"),
    **dict.fromkeys(("CategoryEncoding", "Discretization", "HashedCrossing", "Hashing", "IntegerLookup", "StringLookup",
                     "TextVectorization"),
                    "preprocessing of strings or categories, with vocabularies or outputs no ONNX path exports as "
                    "tensors (Embedding takes the drawn token ids)"),
    "ReversibleEmbedding": "an Embedding whose reverse call is a matmul with its table: Embedding is drawn",
    **dict.fromkeys(("MelSpectrogram", "STFTSpectrogram"), "audio front ends: FFTs that no ONNX path here exports"),
    "SpectralNormalization": "a training-time wrapper of a kernel (identical to the wrapped layer at inference)",
    "ConvLSTM3D": "rank-6 inputs, beyond the drawn ranks (ConvLSTM1D and 2D are drawn)",
    **dict.fromkeys(("AugMix", "AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "CutMix", "Equalization",
                     "MaxNumBoundingBoxes", "MixUp", "RandAugment", "RandomColorDegeneration", "RandomColorJitter",
                     "RandomCrop", "RandomElasticTransform", "RandomErasing", "RandomGaussianBlur", "RandomGrayscale",
                     "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomSaturation",
                     "RandomSharpness", "RandomShear", "Solarization"),
                    "augmentation that needs 1 or 3 channels in [0, 255], or changes values at inference "
                    "(six identity-at-inference augmentations are drawn)"),
}


def build_layer(kind: str, params: Params, name: str) -> Any:
    """A fresh Keras layer for one table entry (params already checked and defaulted): the entry's
    expression, evaluated with Keras and the suite's registered custom objects in scope."""
    import keras

    from roundtrip.spec import custom

    scope = {"keras": keras, **custom.OBJECTS}
    return eval(named(LAYERS[kind].expression(kind, params), name), scope)  # noqa: S307 - the table's own text


def named(expression: str, name: str) -> str:
    """A constructor expression with `name=...` as its last argument."""
    return expression[:-1] + ("" if expression.endswith("()") else ", ") + f"name={literal(name)})"
