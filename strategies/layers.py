"""One entry per layer kind: when it applies to a tensor, and how its parameters are drawn to fit.

Every parameter is drawn within bounds computed from the tensor's current (drawn) shape, so a drawn
layer is valid by construction, never filtered.  Each draw shrinks towards the simplest layer: small
windows, no crop, stride and dilation 1, 'valid' padding, the last axis.  The keys of STRATEGIES are
asserted equal to those of `roundtrip.LAYERS`, where each kind's shape and builder live.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from roundtrip import LAYERS
from roundtrip.spec.layers import ACTIVATIONS
from roundtrip.spec.model import Shape

Draw = Callable[[st.SearchStrategy[Any]], Any]


@dataclass(frozen=True)
class Tensor:
    """A tensor of the model being drawn: its drawn shape and the shape Keras declares (None where
    dynamic), both without the batch axis."""

    name: str
    shape: tuple[int, ...]
    declared: Shape
    ids: int = 0  # an input of token ids in [0, ids): only the Embedding drawn on it reads it

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Site:
    """Where a layer goes: the tensor it consumes, every tensor drawn so far, and the element budget."""

    x: Tensor
    pool: tuple[Tensor, ...]
    max_elements: int


@dataclass(frozen=True)
class Entry:
    applies: Callable[[Site], bool]
    draw: Callable[[Draw, Site], tuple[dict[str, Any], tuple[str, ...]]]  # params, other inputs


def unary(applies: Callable[[Site], bool]) -> Callable[[Callable[[Draw, Site], dict[str, Any]]], Entry]:
    def wrap(fn: Callable[[Draw, Site], dict[str, Any]]) -> Entry:
        return Entry(applies, lambda draw, site: (fn(draw, site), ()))
    return wrap


# ---- applicability --------------------------------------------------------------------------
def rank_is(rank: int, channels: bool = False) -> Callable[[Site], bool]:
    """The tensor has `rank` non-batch axes (and, with `channels`, a known last dim)."""
    return lambda s: s.x.rank == rank and (not channels or s.x.declared[-1] is not None)


def always(site: Site) -> bool:
    return True


# ---- drawing helpers --------------------------------------------------------------------------
def upto(draw: Draw, low: int, high: int) -> int:
    return int(draw(st.integers(low, max(low, high))))


def crop_pair(draw: Draw, dim: int) -> tuple[int, int]:
    """A crop that leaves at least one element; shrinks to (0, 0)."""
    lo = upto(draw, 0, min(dim - 1, 3))
    return lo, upto(draw, 0, min(dim - 1 - lo, 3))


def window(draw: Draw, site: Site, n: int, key: str, dilation: bool) -> dict[str, Any]:
    """Window size, strides, padding (and dilation) for the first `n` axes: 'valid' windows never
    exceed their dim; strides and dilation are never both above 1."""
    padding = draw(st.sampled_from(["valid", "same"]))
    strides = tuple(upto(draw, 1, 2) for _ in range(n))
    dilations = tuple(1 if max(strides) > 1 or not dilation else upto(draw, 1, 2) for _ in range(n))
    kernels = tuple(
        upto(draw, 1, 3 if padding == "same" else min(3, (site.x.shape[i] - 1) // dilations[i] + 1))
        for i in range(n)
    )
    params = {key: kernels, "strides": strides, "padding": padding}
    if dilation:
        params["dilation_rate"] = dilations
    return params


def out_size(params: dict[str, Any], kind: str, site: Site) -> int:
    """Elements per channel of the layer's output (drawn shape)."""
    entry = LAYERS[kind]
    out = entry.shape(entry.check_params(params, kind), [site.x.shape])
    return math.prod(out[:-1])  # type: ignore[arg-type]


def budget(site: Site, per_unit: int, cap: int) -> int:
    """How many units (channels, repeats) fit in the element budget, at least 1, at most `cap`."""
    return max(1, min(cap, site.max_elements // max(per_unit, 1)))


# ---- entries ----------------------------------------------------------------------------------
@unary(lambda s: s.x.rank >= 2)
def flatten(draw: Draw, site: Site) -> dict[str, Any]:
    return {}


@unary(always)
def reshape(draw: Draw, site: Site) -> dict[str, Any]:
    """A factorisation of the element count into 1 to 3 dims, usually with one of them -1."""
    left, dims = site.x.size, []
    for _ in range(upto(draw, 1, 3) - 1):
        divisors = [d for d in range(1, min(left, 16) + 1) if left % d == 0]
        dims.append(draw(st.sampled_from(divisors)))
        left //= dims[-1]
    dims.append(left)
    if draw(st.integers(0, 3)) > 0:
        dims[upto(draw, 0, len(dims) - 1)] = -1
    return {"target_shape": tuple(dims)}


def cropping(rank: int) -> Entry:
    @unary(rank_is(rank))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        crops = tuple(crop_pair(draw, site.x.shape[i]) for i in range(rank - 1))
        return {"cropping": crops if rank > 2 else crops[0]}
    return entry


@unary(lambda s: s.x.rank == 3 and s.x.declared[-1] is not None)
def center_crop_reshape(draw: Draw, site: Site) -> dict[str, Any]:
    return {"height": upto(draw, 1, site.x.shape[0]), "width": upto(draw, 1, site.x.shape[1])}


@unary(lambda s: s.x.rank >= 2)
def merge_axes(draw: Draw, site: Site) -> dict[str, Any]:
    axis = upto(draw, 1, site.x.rank - 1)
    return {"axis": axis} if axis != 1 else {}


@unary(lambda s: s.x.declared[-1] is not None)
def strided_last(draw: Draw, site: Site) -> dict[str, Any]:
    begin, step = upto(draw, 0, min(site.x.shape[-1] - 1, 3)), upto(draw, 1, 3)
    return {**({"begin": begin} if begin else {}), **({"step": step} if step > 1 else {})}


@unary(rank_is(3, channels=True))
def resize_by(draw: Draw, site: Site) -> dict[str, Any]:
    scale = upto(draw, 1, 2 if site.x.size * 4 <= site.max_elements else 1)
    method = pick(draw, ["bilinear", "nearest", "bicubic"])
    return {**({"scale": scale} if scale > 1 else {}), **({"method": method} if method != "bilinear" else {})}


@unary(lambda s: any(d is not None for d in s.x.declared))
def gather_axis(draw: Draw, site: Site) -> dict[str, Any]:
    axis = draw(st.sampled_from([a + 1 for a, d in enumerate(site.x.declared) if d is not None]))
    dim = site.x.shape[axis - 1]
    count = upto(draw, 1, min(4, budget(site, site.x.size // dim, 4)))
    indices = tuple(upto(draw, 0, dim - 1) for _ in range(count))
    return {"indices": indices, **({"axis": axis} if axis != 1 else {})}


@unary(always)
def keep_above(draw: Draw, site: Site) -> dict[str, Any]:
    threshold = pick(draw, [0.0, 0.5, -0.5])
    return {"threshold": threshold} if threshold else {}


@unary(lambda s: s.x.declared[-1] is not None)
def dense(draw: Draw, site: Site) -> dict[str, Any]:
    return {"units": upto(draw, 1, budget(site, site.x.size // site.x.shape[-1], 8))}


def conv(rank: int, kind: str) -> Entry:
    @unary(rank_is(rank, channels=True))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        params = window(draw, site, rank - 1, "kernel_size", dilation=True)
        if kind == "DepthwiseConv2D":  # TensorFlow's depthwise kernel takes equal strides only
            params["strides"] = (min(params["strides"]),) * 2
            per = out_size({**params, "depth_multiplier": 1}, kind, site) * site.x.shape[-1]
            return {**params, "depth_multiplier": upto(draw, 1, budget(site, per, 2))}
        per = out_size({**params, "filters": 1}, kind, site)
        groups = draw(st.sampled_from(divisors(site.x.shape[-1])))
        filters = groups * upto(draw, 1, budget(site, per * groups, max(1, 4 // groups)))
        return {**params, "filters": filters, **({"groups": groups} if groups > 1 else {})}
    return entry


def divisors(n: int) -> list[int]:
    """The divisors of n, smallest first (so a draw shrinks to 1)."""
    return [d for d in range(1, n + 1) if n % d == 0]


def pick(draw: Draw, options: list[Any]) -> Any:
    """One of `options`, shrinking to the first."""
    return draw(st.sampled_from(options))


def transposed(rank: int, kind: str) -> Entry:
    @unary(rank_is(rank, channels=True))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        params = window(draw, site, rank - 1, "kernel_size", dilation=False)
        per = out_size({**params, "filters": 1}, kind, site)
        return {**params, "filters": upto(draw, 1, budget(site, per, 4))}
    return entry


def separable(rank: int, kind: str) -> Entry:
    @unary(rank_is(rank, channels=True))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        params = window(draw, site, rank - 1, "kernel_size", dilation=True)
        if kind == "SeparableConv2D":  # its depthwise step: TensorFlow's kernel takes equal strides only
            params["strides"] = (min(params["strides"]),) * 2
        per = out_size({**params, "filters": 1}, kind, site)
        multiplier = upto(draw, 1, budget(site, per * site.x.shape[-1], 2))
        return {**params, "filters": upto(draw, 1, budget(site, per, 4)),
                **({"depth_multiplier": multiplier} if multiplier > 1 else {})}
    return entry


@unary(rank_is(2, channels=True))
def depthwise1d(draw: Draw, site: Site) -> dict[str, Any]:
    params = window(draw, site, 1, "kernel_size", dilation=True)
    per = out_size({**params, "depth_multiplier": 1}, "DepthwiseConv1D", site) * site.x.shape[-1]
    return {**params, "depth_multiplier": upto(draw, 1, budget(site, per, 2))}


def adaptive(rank: int, kind: str) -> Entry:
    # With oneDNN on (roundtrip/__init__.py), TensorFlow 2.21 dies of SIGFPE running Keras'
    # AdaptiveMaxPooling1D/2D/3D with an output size of 1 on some axis (seen 2026-12-03: (5, 5) -> (3, 1),
    # (1,) -> (1,)): the Keras reference itself crashes, so those sizes are not drawn.
    low = 2 if kind.startswith("AdaptiveMax") else 1

    @unary(lambda s: rank_is(rank)(s) and min(s.x.shape[:-1]) >= low)
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        return {"output_size": tuple(upto(draw, low, site.x.shape[i]) for i in range(rank - 1))}
    return entry


@unary(rank_is(1))
def repeat_vector(draw: Draw, site: Site) -> dict[str, Any]:
    return {"n": upto(draw, 1, budget(site, site.x.size, 4))}


@unary(rank_is(3))
def center_crop(draw: Draw, site: Site) -> dict[str, Any]:
    return {"height": upto(draw, 1, site.x.shape[0]), "width": upto(draw, 1, site.x.shape[1])}


@unary(rank_is(3))
def resizing(draw: Draw, site: Site) -> dict[str, Any]:
    """A target size up to twice the drawn one, within the element budget; bilinear first."""
    height = upto(draw, 1, min(2 * site.x.shape[0], budget(site, site.x.shape[2], 16)))
    width = upto(draw, 1, min(2 * site.x.shape[1], budget(site, height * site.x.shape[2], 16)))
    interpolation = pick(draw, ["bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5"])
    extra = {"interpolation": interpolation} if interpolation != "bilinear" else {}
    return {"height": height, "width": width, **extra}


def known_last(site: Site) -> bool:
    return site.x.declared[-1] is not None


@unary(lambda s: known_last(s) and s.x.rank <= 3)
def einsum_dense(draw: Draw, site: Site) -> dict[str, Any]:
    units = upto(draw, 1, budget(site, site.x.size // site.x.shape[-1], 8))
    return {"output_shape": (*site.x.declared[:-1], units), **({"bias": True} if draw(st.booleans()) else {})}


@unary(known_last)
def nothing_on_last(draw: Draw, site: Site) -> dict[str, Any]:
    return {}


@unary(known_last)
def prelu(draw: Draw, site: Site) -> dict[str, Any]:
    """A slope per element, or one per channel shared over the other axes (always so where they are dynamic)."""
    shared = None in site.x.declared or draw(st.booleans())
    return {"shared_axes": tuple(range(1, site.x.rank))} if shared and site.x.rank > 1 else {}


@unary(known_last)
def group_norm(draw: Draw, site: Site) -> dict[str, Any]:
    return {"groups": pick(draw, divisors(site.x.shape[-1]))}


def on_axis(draw: Draw, site: Site) -> dict[str, Any]:
    axis = draw(_last_first(list(range(-site.x.rank, 0))))
    return {"axis": axis} if axis != -1 else {}


@unary(always)
def rescaling(draw: Draw, site: Site) -> dict[str, Any]:
    offset = pick(draw, [0.0, 1.0, -0.5])
    return {"scale": pick(draw, [1.0, 0.5, -2.0, 1 / 255]), **({"offset": offset} if offset else {})}


@unary(always)
def relu(draw: Draw, site: Site) -> dict[str, Any]:
    params = {"max_value": pick(draw, [None, 6.0, 1.0]), "negative_slope": pick(draw, [0.0, 0.1]),
              "threshold": pick(draw, [0.0, 0.5])}
    return {k: v for k, v in params.items() if v}


def one_number(key: str, options: list[float]) -> Entry:
    @unary(always)
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        return {key: pick(draw, options)}
    return entry


@unary(always)
def nothing(draw: Draw, site: Site) -> dict[str, Any]:
    return {}


def spatial_dropout(rank: int) -> Entry:
    @unary(rank_is(rank))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        return {"rate": pick(draw, [0.5, 0.1])}
    return entry


@unary(always)
def activity_regularization(draw: Draw, site: Site) -> dict[str, Any]:
    return {"l1": pick(draw, [0.01, 0.0]), "l2": pick(draw, [0.0, 0.01])}


def image_factor(*keys: str) -> Entry:
    @unary(rank_is(3))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        return {key: pick(draw, [0.1, 0.3]) for key in keys}
    return entry


@unary(rank_is(3))
def random_flip(draw: Draw, site: Site) -> dict[str, Any]:
    mode = pick(draw, ["horizontal_and_vertical", "horizontal", "vertical"])
    return {"mode": mode} if mode != "horizontal_and_vertical" else {}


def recurrent(kind: str) -> Entry:
    states = {"SimpleRNN": 1, "GRU": 1, "LSTM": 2}[kind]

    @unary(rank_is(2, channels=True))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        units = upto(draw, 1, budget(site, site.x.shape[0], 4))
        sequences, backwards = draw(st.booleans()), draw(st.booleans())
        state = 0 if sequences else upto(draw, 0, states)
        params = {"units": units, "return_sequences": sequences, "go_backwards": backwards, "state": state}
        return {k: v for k, v in params.items() if v or k == "units"}
    return entry


@unary(rank_is(2, channels=True))
def bidirectional(draw: Draw, site: Site) -> dict[str, Any]:
    layer = pick(draw, ["LSTM", "GRU", "SimpleRNN"])
    units = upto(draw, 1, budget(site, 2 * site.x.shape[0], 4))
    merge, sequences = pick(draw, ["concat", "sum", "mul", "ave"]), draw(st.booleans())
    return {"layer": layer, "units": units, **({"merge_mode": merge} if merge != "concat" else {}),
            **({"return_sequences": True} if sequences else {})}


@unary(lambda s: s.x.rank >= 2 and known_last(s))
def time_distributed(draw: Draw, site: Site) -> dict[str, Any]:
    return {"units": upto(draw, 1, budget(site, site.x.size // site.x.shape[-1], 4))}


def conv_lstm(rank: int) -> Entry:
    @unary(lambda s: rank_is(rank, channels=True)(s) and None not in s.x.declared[1:])
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        padding = pick(draw, ["valid", "same"])
        kernels = tuple(upto(draw, 1, 3 if padding == "same" else min(3, site.x.shape[i])) for i in range(1, rank - 1))
        sequences = draw(st.booleans())
        return {"filters": upto(draw, 1, 2), "kernel_size": kernels, "padding": padding,
                **({"return_sequences": True} if sequences else {})}
    return entry


def _attention_fits(site: Site) -> Callable[[Tensor], bool]:
    return lambda t: t.rank == 2 and t.declared[-1] is not None and t.shape[-1] == site.x.shape[-1]


def attention(kind: str) -> Entry:
    def applies(site: Site) -> bool:
        return site.x.rank == 2 and known_last(site)

    def params(draw: Draw) -> dict[str, Any]:
        if kind == "Attention":
            return {"use_scale": True} if draw(st.booleans()) else {}
        if kind == "AdditiveAttention":
            return {"use_scale": False} if draw(st.booleans()) else {}
        if kind == "MultiHeadAttention":
            return {"num_heads": upto(draw, 1, 2), "key_dim": upto(draw, 1, 4)}
        shared = upto(draw, 1, 2)
        return {"head_dim": upto(draw, 1, 4), "query_heads": shared * upto(draw, 1, 2), "key_value_heads": shared}

    def drawn(draw: Draw, site: Site) -> tuple[dict[str, Any], tuple[str, ...]]:
        other = draw(st.sampled_from(_partners(site, _attention_fits(site))))
        return params(draw), (other.name,)
    return Entry(applies, drawn)


def _dot_fits(site: Site) -> Callable[[Tensor], bool]:
    return lambda t: (t.rank == site.x.rank and t.declared[-1] is not None and t.shape[-1] == site.x.shape[-1]
                      and t.shape[0] * site.x.shape[0] <= site.max_elements)


def _dot(draw: Draw, site: Site) -> tuple[dict[str, Any], tuple[str, ...]]:
    other = draw(st.sampled_from(_partners(site, _dot_fits(site))))
    return ({"normalize": True} if draw(st.booleans()) else {}), (other.name,)


def pooling(rank: int) -> Entry:
    @unary(rank_is(rank))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        return window(draw, site, rank - 1, "pool_size", dilation=False)
    return entry


def global_pooling(rank: int) -> Entry:
    @unary(rank_is(rank))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        return {"keepdims": draw(st.booleans())}
    return entry


@unary(lambda s: s.x.rank >= 2)
def permute(draw: Draw, site: Site) -> dict[str, Any]:
    return {"dims": tuple(draw(st.permutations(range(1, site.x.rank + 1))))}


def zero_padding(rank: int) -> Entry:
    @unary(rank_is(rank))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        pads, shape = [], list(site.x.shape)
        for i in range(rank - 1):
            room = site.max_elements // (math.prod(shape) // shape[i]) - shape[i]
            lo = upto(draw, 0, min(2, room))
            hi = upto(draw, 0, min(2, room - lo))
            shape[i] += lo + hi
            pads.append((lo, hi))
        return {"padding": tuple(pads) if rank > 2 else pads[0]}
    return entry


def upsampling(rank: int) -> Entry:
    @unary(rank_is(rank))
    def entry(draw: Draw, site: Site) -> dict[str, Any]:
        sizes, size = [], site.x.size
        for _ in range(rank - 1):
            sizes.append(upto(draw, 1, budget(site, size, 3)))
            size *= sizes[-1]
        if rank != 3:
            return {"size": sizes[0] if rank == 2 else tuple(sizes)}
        interpolation = draw(st.sampled_from(["nearest", "bilinear"]))
        return {"size": tuple(sizes), **({"interpolation": interpolation} if interpolation != "nearest" else {})}
    return entry


def _last_first(axes: list[int]) -> st.SearchStrategy[int]:
    return st.sampled_from(sorted(axes, reverse=True))


@unary(lambda s: any(d is not None for d in s.x.declared))
def batch_norm(draw: Draw, site: Site) -> dict[str, Any]:
    known = [a - site.x.rank for a, d in enumerate(site.x.declared) if d is not None]
    axis = draw(_last_first(known))
    return {"axis": axis} if axis != -1 else {}


NOT_DRAWN = ("glu",)  # see activation()

# Kinds that TensorFlow 2.21's CPU kernels cannot run under a dtype policy, so that the Keras reference
# itself fails (seen 2026-12-03): no float16 or float64 kernel for AvgPool3D/MaxPool3D, and the orthogonal
# initializer of the recurrent kernels calls Qr, which has no bfloat16 kernel.
_POOL3D = ("AveragePooling3D", "MaxPooling3D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling3D")
NOT_IN_POLICY = {
    "float16": _POOL3D, "mixed_float16": _POOL3D, "float64": _POOL3D,
    "bfloat16": ("SimpleRNN", "LSTM", "GRU", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D"),
}

# Kinds a subclassed model is not drawn with, because Keras 3.15 itself fails (seen 2026-12-04): a
# Normalization (axis=-1, statistics as weights) in a keras.Model subclass builds inside Keras' scratch graph
# on the first call and then reads its out-of-scope mean tensor ("is out of scope and cannot be used here").
NOT_SUBCLASSED = ("Normalization",)


@unary(always)
def activation(draw: Draw, site: Site) -> dict[str, Any]:
    """Any of keras.activations (relu first) but glu: Keras 3.15's Activation("glu") declares its input's
    shape while it halves the last axis, so a layer built after it breaks when the model runs (seen
    2026-12-03: Activation("glu") then Dense on (8,) declares (None, 8), runs (1, 4), and Dense fails)."""
    name = draw(st.sampled_from([a for a in ACTIVATIONS if a not in NOT_DRAWN]))
    axis = draw(_last_first(list(range(-site.x.rank, 0)))) if name == "softmax" else -1
    return {"activation": name, **({"axis": axis} if axis != -1 else {})}


@unary(always)
def dropout(draw: Draw, site: Site) -> dict[str, Any]:
    return {"rate": draw(st.sampled_from([0.5, 0.1]))}


def _partners(site: Site, fits: Callable[[Tensor], bool]) -> list[Tensor]:
    """Tensors that can join `site.x`, the tensor itself first (so merges shrink to x with x)."""
    others = [t for t in reversed(site.pool) if t.name != site.x.name and fits(t)]
    return ([site.x] if fits(site.x) else []) + others


def _add_fits(site: Site) -> Callable[[Tensor], bool]:
    return lambda t: t.shape == site.x.shape and t.declared == site.x.declared


def _add(draw: Draw, site: Site) -> tuple[dict[str, Any], tuple[str, ...]]:
    return {}, (draw(st.sampled_from(_partners(site, _add_fits(site)))).name,)


def _concat_fits(site: Site, axis: int) -> Callable[[Tensor], bool]:
    i = site.x.rank + axis

    def fits(t: Tensor) -> bool:
        off = [j for j in range(site.x.rank) if j != i]
        return (t.rank == site.x.rank and t.size // t.shape[i] * (t.shape[i] + site.x.shape[i]) <= site.max_elements
                and all(t.shape[j] == site.x.shape[j] and t.declared[j] == site.x.declared[j] for j in off))
    return fits


def _concat_axes(site: Site) -> list[int]:
    return [a for a in range(-site.x.rank, 0) if _partners(site, _concat_fits(site, a))]


def _concat(draw: Draw, site: Site) -> tuple[dict[str, Any], tuple[str, ...]]:
    axis = draw(_last_first(_concat_axes(site)))
    other = draw(st.sampled_from(_partners(site, _concat_fits(site, axis))))
    return ({"axis": axis} if axis != -1 else {}), (other.name,)


_MERGE = Entry(lambda s: bool(_partners(s, _add_fits(s))), _add)

STRATEGIES: dict[str, Entry] = {
    "Flatten": flatten,
    "Reshape": reshape,
    "Cropping1D": cropping(2),
    "Cropping2D": cropping(3),
    "Cropping3D": cropping(4),
    "CenterCropReshape": center_crop_reshape,
    "Dense": dense,
    "EinsumDense": einsum_dense,
    "Conv1D": conv(2, "Conv1D"),
    "Conv2D": conv(3, "Conv2D"),
    "Conv3D": conv(4, "Conv3D"),
    "Conv1DTranspose": transposed(2, "Conv1DTranspose"),
    "Conv2DTranspose": transposed(3, "Conv2DTranspose"),
    "Conv3DTranspose": transposed(4, "Conv3DTranspose"),
    "SeparableConv1D": separable(2, "SeparableConv1D"),
    "SeparableConv2D": separable(3, "SeparableConv2D"),
    "DepthwiseConv1D": depthwise1d,
    "DepthwiseConv2D": conv(3, "DepthwiseConv2D"),
    "MaxPooling1D": pooling(2),
    "MaxPooling2D": pooling(3),
    "MaxPooling3D": pooling(4),
    "AveragePooling1D": pooling(2),
    "AveragePooling2D": pooling(3),
    "AveragePooling3D": pooling(4),
    "GlobalAveragePooling1D": global_pooling(2),
    "GlobalMaxPooling1D": global_pooling(2),
    "GlobalAveragePooling2D": global_pooling(3),
    "GlobalMaxPooling2D": global_pooling(3),
    "GlobalAveragePooling3D": global_pooling(4),
    "GlobalMaxPooling3D": global_pooling(4),
    "AdaptiveAveragePooling1D": adaptive(2, "AdaptiveAveragePooling1D"),
    "AdaptiveAveragePooling2D": adaptive(3, "AdaptiveAveragePooling2D"),
    "AdaptiveAveragePooling3D": adaptive(4, "AdaptiveAveragePooling3D"),
    "AdaptiveMaxPooling1D": adaptive(2, "AdaptiveMaxPooling1D"),
    "AdaptiveMaxPooling2D": adaptive(3, "AdaptiveMaxPooling2D"),
    "AdaptiveMaxPooling3D": adaptive(4, "AdaptiveMaxPooling3D"),
    "Permute": permute,
    "RepeatVector": repeat_vector,
    "CenterCrop": center_crop,
    "ZeroPadding1D": zero_padding(2),
    "ZeroPadding2D": zero_padding(3),
    "ZeroPadding3D": zero_padding(4),
    "UpSampling1D": upsampling(2),
    "UpSampling2D": upsampling(3),
    "UpSampling3D": upsampling(4),
    "Resizing": resizing,
    "BatchNormalization": batch_norm,
    "LayerNormalization": batch_norm,
    "GroupNormalization": group_norm,
    "RMSNormalization": nothing_on_last,
    "UnitNormalization": unary(always)(on_axis),
    "Normalization": nothing_on_last,
    "Rescaling": rescaling,
    "Activation": activation,
    "Softmax": unary(always)(on_axis),
    "ReLU": relu,
    "LeakyReLU": one_number("negative_slope", [0.3, 0.01, 0.2]),
    "PReLU": prelu,
    "ELU": one_number("alpha", [1.0, 0.5]),
    "Identity": nothing,
    "Dropout": dropout,
    "SpatialDropout1D": spatial_dropout(2),
    "SpatialDropout2D": spatial_dropout(3),
    "SpatialDropout3D": spatial_dropout(4),
    "GaussianDropout": dropout,
    "AlphaDropout": dropout,
    "GaussianNoise": one_number("stddev", [0.1, 0.5]),
    "ActivityRegularization": activity_regularization,
    "RandomFlip": random_flip,
    "RandomRotation": image_factor("factor"),
    "RandomZoom": image_factor("height_factor"),
    "RandomTranslation": image_factor("height_factor", "width_factor"),
    "RandomContrast": image_factor("factor"),
    "RandomBrightness": image_factor("factor"),
    # on sequences (rank >= 2 without the batch), its use: on a (batch, features) tensor its mask has shape
    # (batch,), which Keras 3.15's Softmax after it cannot broadcast (seen 2026-12-04)
    "Masking": Entry(lambda s: s.x.rank >= 2, one_number("mask_value", [0.0, 1.0]).draw),
    "SimpleRNN": recurrent("SimpleRNN"),
    "LSTM": recurrent("LSTM"),
    "GRU": recurrent("GRU"),
    "Bidirectional": bidirectional,
    "TimeDistributed": time_distributed,
    "ConvLSTM1D": conv_lstm(3),
    "ConvLSTM2D": conv_lstm(4),
    "Attention": attention("Attention"),
    "AdditiveAttention": attention("AdditiveAttention"),
    "MultiHeadAttention": attention("MultiHeadAttention"),
    "GroupQueryAttention": attention("GroupQueryAttention"),
    "Concatenate": Entry(lambda s: bool(_concat_axes(s)), _concat),
    "Add": _MERGE,
    "Multiply": _MERGE,
    "Average": _MERGE,
    "Maximum": _MERGE,
    "Minimum": _MERGE,
    "Subtract": _MERGE,
    "Dot": Entry(lambda s: s.x.rank <= 2 and known_last(s) and bool(_partners(s, _dot_fits(s))), _dot),
    # the suite's other custom layers, last: a kind shrinks towards those before it
    "MergeAxes": merge_axes,
    "StridedLast": strided_last,
    "ResizeBy": resize_by,
    "GatherAxis": gather_axis,
    "KeepAbove": keep_above,
    # Drawn only as the first layer on an input of token ids (strategies.models._token_ids), never on a
    # float tensor.
    "Embedding": Entry(lambda s: False, lambda draw, site: ({}, ())),
}

# The kinds the suite exists for: most layers are drawn from those of them that fit (models._draw_layer).
FOCUS = ("Flatten", "Reshape", "Cropping1D", "Cropping2D", "Cropping3D", "CenterCropReshape")

assert set(STRATEGIES) == set(LAYERS), set(STRATEGIES) ^ set(LAYERS)
