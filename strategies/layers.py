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
from roundtrip.spec import Shape

Draw = Callable[[st.SearchStrategy[Any]], Any]


@dataclass(frozen=True)
class Tensor:
    """A tensor of the model being drawn: its drawn shape and the shape Keras declares (None where
    dynamic), both without the batch axis."""

    name: str
    shape: tuple[int, ...]
    declared: Shape

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
        return {**params, "filters": upto(draw, 1, budget(site, per, 4))}
    return entry


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
        if rank == 2:
            return {"size": sizes[0]}
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


@unary(always)
def activation(draw: Draw, site: Site) -> dict[str, Any]:
    name = draw(st.sampled_from(["relu", "sigmoid", "tanh", "softmax"]))
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


STRATEGIES: dict[str, Entry] = {
    "Flatten": flatten,
    "Reshape": reshape,
    "Cropping1D": cropping(2),
    "Cropping2D": cropping(3),
    "Cropping3D": cropping(4),
    "CenterCropReshape": center_crop_reshape,
    "Dense": dense,
    "Conv1D": conv(2, "Conv1D"),
    "Conv2D": conv(3, "Conv2D"),
    "DepthwiseConv2D": conv(3, "DepthwiseConv2D"),
    "MaxPooling1D": pooling(2),
    "MaxPooling2D": pooling(3),
    "AveragePooling1D": pooling(2),
    "AveragePooling2D": pooling(3),
    "GlobalAveragePooling1D": global_pooling(2),
    "GlobalMaxPooling1D": global_pooling(2),
    "GlobalAveragePooling2D": global_pooling(3),
    "GlobalMaxPooling2D": global_pooling(3),
    "Permute": permute,
    "ZeroPadding1D": zero_padding(2),
    "ZeroPadding2D": zero_padding(3),
    "UpSampling1D": upsampling(2),
    "UpSampling2D": upsampling(3),
    "BatchNormalization": batch_norm,
    "Activation": activation,
    "Dropout": dropout,
    "Concatenate": Entry(lambda s: bool(_concat_axes(s)), _concat),
    "Add": Entry(lambda s: bool(_partners(s, _add_fits(s))), _add),
}

# The kinds the suite exists for: most layers are drawn from those of them that fit (models._draw_layer).
FOCUS = ("Flatten", "Reshape", "Cropping1D", "Cropping2D", "Cropping3D", "CenterCropReshape")

assert set(STRATEGIES) == set(LAYERS), set(STRATEGIES) ^ set(LAYERS)
