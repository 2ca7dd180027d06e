"""The ONNX node kinds a graph spec is made of: for each, its parameter checks and its shape function.

`GRAPH_OPS` holds one `GraphOp` per node kind; `roundtrip.spec.onnx_build` writes each kind as ONNX nodes, and
`strategies/graphs.py` holds one strategy per kind, asserted equal.

Shapes carry the batch symbolically (`TensorShape`): the axis holding it has size N * multiplier, so a
Flatten(axis=0) or a Reshape whose -1 swallows the batch still has a declared shape valid for every N.
Nothing here imports ONNX.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roundtrip.spec import unit_axes
from roundtrip.spec.layers import REQUIRED, Check, boolean, int_at_least, number, one_of
from roundtrip.spec.parse import fail
from roundtrip.spec.values import ShapeError, SpecError, is_int, shown

OPSETS = tuple(range(11, 27))
DTYPES = ("float32", "float16", "float64")
INT64_MAX = 2**63 - 1
Params = dict[str, Any]


@dataclass(frozen=True)
class TensorShape:
    """A tensor's shape, the batch symbolic: axis `batch` has size N * dims[batch]; every other axis has
    its size in `dims`.  `batch` is None once no axis depends on N (after a Gather across the batch)."""

    dims: tuple[int, ...]
    batch: int | None = 0

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def size(self) -> int:
        """Elements at N = 1."""
        return math.prod(self.dims)

    def at(self, n: int) -> tuple[int, ...]:
        return tuple(d * n if i == self.batch else d for i, d in enumerate(self.dims))

    def declared(self) -> tuple[int | str, ...]:
        return tuple(("N" if d == 1 else f"N*{d}") if i == self.batch else d for i, d in enumerate(self.dims))

    def static(self, axis: int) -> bool:
        return axis % self.rank != self.batch


# ---- parameter checks (value, field path) -> value, or SpecError -------------------------------------
def int_list(low: int | None = None, nonzero: bool = False) -> Check:
    def check(v: Any, path: str) -> tuple[int, ...]:
        ok = isinstance(v, tuple) and bool(v) and all(is_int(x) and (low is None or x >= low) for x in v)
        if not ok or (nonzero and 0 in v):
            want = "a non-empty list of integers" + (f" >= {low}" if low is not None else "")
            raise fail(path, want + (", none zero" if nonzero else ""), v)
        return v  # type: ignore[no-any-return]
    return check


def any_int(v: Any, path: str) -> int:
    if not is_int(v):
        raise fail(path, "an integer", v)
    return v  # type: ignore[no-any-return]


def indices(v: Any, path: str) -> int | tuple[int, ...]:
    return any_int(v, path) if not isinstance(v, tuple) else int_list()(v, path)


def finite(v: Any, path: str) -> float:
    if not isinstance(v, float) or not math.isfinite(v):
        raise fail(path, "a finite float", v)
    return v


def positive(v: Any, path: str) -> float:
    if not isinstance(v, float) or not 0 < v < math.inf:
        raise fail(path, "a finite float > 0", v)
    return v


def divisor(v: Any, path: str) -> float:
    """A constant to divide by: away from 0, so the quotient stays finite."""
    if not isinstance(v, float) or not 0.25 <= abs(v) < math.inf:
        raise fail(path, "a finite float with |value| >= 0.25", v)
    return v


def float_list(v: Any, path: str) -> tuple[float, ...]:
    if not isinstance(v, tuple) or not v or not all(isinstance(x, float) and 0 < x < math.inf for x in v):
        raise fail(path, "a non-empty list of finite floats > 0", v)
    return v


def text(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v:
        raise fail(path, "a non-empty string", v)
    return v


# ---- shape helpers ----------------------------------------------------------------------------------
def _axis(axis: int, rank: int) -> int:
    """`axis` in [-rank, rank-1], made non-negative."""
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def _distinct(axes: Sequence[int], rank: int) -> list[int]:
    out = [_axis(a, rank) for a in axes]
    if len(set(out)) != len(out):
        raise ShapeError(f"axes {list(axes)} repeat an axis")
    return out


def _static(x: TensorShape, axes: Sequence[int], what: str) -> None:
    if x.batch is not None and x.batch in axes:
        raise ShapeError(f"{what} cannot act on the batch axis {x.batch}")


def _nchw(x: TensorShape, low: int, high: int) -> None:
    if not low <= x.rank <= high:
        raise ShapeError(f"needs rank {low}..{high}, got {x.rank}")
    _static(x, range(1, x.rank), "an NCHW op")


def window_out(d: int, k: int, s: int, lo: int, hi: int, dil: int = 1, ceil: bool = False) -> int:
    """Output length of a convolution or pooling window (ONNX, ORT and PyTorch: a ceil-mode window that
    would start inside the end padding is dropped)."""
    room = d + lo + hi - (dil * (k - 1) + 1)
    if room < 0:
        raise ShapeError(f"window {dil * (k - 1) + 1} is larger than the padded dim {d + lo + hi}")
    if not ceil:
        return room // s + 1
    out = -(-room // s) + 1
    return out - 1 if (out - 1) * s >= d + lo else out


def _window(x: TensorShape, p: Params, pool: bool) -> tuple[int, ...]:
    n = x.rank - 2
    k, s, pads = p["kernel_shape"], p.get("strides") or (1,) * n, p.get("pads") or (0,) * 2 * n
    dil = p.get("dilations") or (1,) * n
    if not len(k) == len(s) == len(dil) == n or len(pads) != 2 * n:
        raise ShapeError(f"kernel_shape, strides, dilations need {n} entries, pads {2 * n}")
    if pool and any(pads[i] >= k[i % n] for i in range(2 * n)):
        raise ShapeError(f"pads {list(pads)} must be smaller than the kernel {list(k)}")
    ceil = bool(p.get("ceil_mode"))
    return tuple(window_out(x.dims[2 + i], k[i], s[i], pads[i], pads[n + i], dil[i], ceil) for i in range(n))


# ---- one shape function per kind ----------------------------------------------------------------------
def same(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    return xs[0]


def softmax(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    _axis(p["axis"], xs[0].rank)
    return xs[0]


def conv(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    _nchw(x, 3, 4)
    if x.dims[1] % p["group"] or p["out_channels"] % p["group"]:
        raise ShapeError(f"group {p['group']} must divide {x.dims[1]} input and {p['out_channels']} output channels")
    return TensorShape((x.dims[0], p["out_channels"], *_window(x, p, pool=False)), x.batch)


def pool(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    _nchw(x, 3, 5)
    return TensorShape(x.dims[:2] + _window(x, p, pool=True), x.batch)


def batch_norm(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    _nchw(xs[0], 2, 6)
    return xs[0]


def flatten(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    if not -x.rank <= p["axis"] <= x.rank:
        raise ShapeError(f"axis {p['axis']} is out of range [-{x.rank}, {x.rank}]")
    a = p["axis"] % x.rank if p["axis"] < 0 else p["axis"]
    head, tail = math.prod(x.dims[:a]), math.prod(x.dims[a:])
    batch = None if x.batch is None else int(x.batch >= a)
    return TensorShape((head, tail), batch)


def reshape(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, t = xs[0], p["shape"]
    if t.count(-1) > 1 or any(d < -1 for d in t):
        raise ShapeError(f"shape {list(t)} takes dims >= 0 and at most one -1")
    if any(d == 0 and i >= x.rank for i, d in enumerate(t)):
        raise ShapeError(f"shape {list(t)} copies (0) a dim the rank-{x.rank} input lacks")
    dims = [x.dims[i] if d == 0 else d for i, d in enumerate(t)]
    batch = x.batch if x.batch is not None and x.batch < len(t) and t[x.batch] == 0 else None
    return _filled(x, dims, batch, f"shape {list(t)}")


def _filled(x: TensorShape, dims: list[int], batch: int | None, target: str) -> TensorShape:
    """x reshaped to `dims`, their one -1 (if any) the size that holds the rest of x; `batch` is the axis that
    copies x's batch (None: none does, and the -1 must take it)."""
    known = math.prod(d for d in dims if d != -1)
    if -1 in dims:
        if x.size % known:
            raise ShapeError(f"{x.size} elements per batch item do not divide by {known}")
        j = dims.index(-1)
        dims[j] = x.size // known
        batch = j if x.batch is not None and batch is None else batch
    elif x.size != known or (x.batch is not None and batch is None):
        raise ShapeError(f"{target} cannot hold {x.declared()} for every N")
    return TensorShape(tuple(dims), batch)


def slice_(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, axes = xs[0], p["axes"]
    if not len(p["starts"]) == len(p["ends"]) == len(axes) == len(p["steps"]):
        raise ShapeError("starts, ends, axes and steps need as many entries")
    where = _distinct(axes, x.rank)
    _static(x, where, "Slice")
    dims = list(x.dims)
    for a, start, end, step in zip(where, p["starts"], p["ends"], p["steps"], strict=True):
        dims[a] = len(range(*slice(start, end, step).indices(x.dims[a])))
        if dims[a] == 0:
            raise ShapeError(f"slice {start}:{end}:{step} leaves nothing of dim {x.dims[a]}")
    return TensorShape(tuple(dims), x.batch)


def transpose(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, perm = xs[0], p["perm"]
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"perm {list(perm)} is not a permutation of 0..{x.rank - 1}")
    return TensorShape(tuple(x.dims[i] for i in perm), None if x.batch is None else perm.index(x.batch))


def squeeze(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    where = _distinct(p["axes"], x.rank)
    _static(x, where, "Squeeze")
    if any(x.dims[a] != 1 for a in where):
        raise ShapeError(f"axes {list(p['axes'])} are not all of size 1 in {x.declared()}")
    keep = [i for i in range(x.rank) if i not in where]
    return TensorShape(tuple(x.dims[i] for i in keep), None if x.batch is None else keep.index(x.batch))


def unsqueeze(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, rank = xs[0], xs[0].rank + len(p["axes"])
    where = _distinct(p["axes"], rank)
    old = iter(range(x.rank))
    source = [None if i in where else next(old) for i in range(rank)]
    dims = tuple(1 if s is None else x.dims[s] for s in source)
    return TensorShape(dims, None if x.batch is None else source.index(x.batch))


def gather(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, idx = xs[0], p["indices"]
    a = _axis(p["axis"], x.rank)
    values = idx if isinstance(idx, tuple) else (idx,)
    # Across the batch only the first and last items exist for every N.
    allowed = (0, -1) if a == x.batch else range(-x.dims[a], x.dims[a])
    if any(v not in allowed for v in values):
        raise ShapeError(f"indices {shown(idx)} are out of range for axis {p['axis']} of {x.declared()}")
    middle = (len(idx),) if isinstance(idx, tuple) else ()
    dims = x.dims[:a] + middle + x.dims[a + 1:]
    batch = None if x.batch is None or x.batch == a else x.batch + (len(middle) - 1 if x.batch > a else 0)
    return TensorShape(dims, batch)


def pad(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    where = _distinct(p["axes"], x.rank) if "axes" in p else list(range(x.rank))
    pads, n = p["pads"], len(where)
    if len(pads) != 2 * n or min(pads) < 0:
        raise ShapeError(f"pads {list(pads)} needs {2 * n} entries >= 0")
    _static(x, [a for i, a in enumerate(where) if pads[i] or pads[n + i]], "Pad")
    dims = list(x.dims)
    for i, a in enumerate(where):
        if p["mode"] == "reflect" and max(pads[i], pads[n + i]) >= x.dims[a]:
            raise ShapeError(f"reflect pads {pads[i]}, {pads[n + i]} must be smaller than the dim {x.dims[a]}")
        dims[a] += pads[i] + pads[n + i]
    return TensorShape(tuple(dims), x.batch)


def concat(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, y = xs
    if x.rank != y.rank:
        raise ShapeError(f"ranks {x.rank} and {y.rank} differ")
    a = _axis(p["axis"], x.rank)
    if x.batch != y.batch or any(x.dims[i] != y.dims[i] for i in range(x.rank) if i != a):
        raise ShapeError(f"{x.declared()} and {y.declared()} differ off the axis {p['axis']}")
    return TensorShape(x.dims[:a] + (x.dims[a] + y.dims[a],) + x.dims[a + 1:], x.batch)


def elementwise(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    if xs[0] != xs[1]:
        raise ShapeError(f"{xs[0].declared()} and {xs[1].declared()} differ")
    return xs[0]


def gemm(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    if x.rank != 2:
        raise ShapeError(f"needs rank 2, got {x.rank}")
    k = 0 if p["transA"] else 1
    _static(x, [k], "Gemm's inner dim")
    return TensorShape((x.dims[1 - k], p["units"]), None if x.batch is None else 0)


def matmul(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    """x (..., m, k) times a weight (*lead, k, units): the leading dims broadcast, the batch's only against 1."""
    x, lead = xs[0], p.get("lead") or ()
    if x.rank < 2:
        raise ShapeError(f"needs rank >= 2, got {x.rank}")
    _static(x, [x.rank - 1], "MatMul's inner dim")
    n = max(x.rank - 2, len(lead))
    ours = (None,) * (n - x.rank + 2) + tuple(range(x.rank - 2))  # x's axis at each leading position
    theirs = (1,) * (n - len(lead)) + tuple(lead)
    dims = []
    for a, w in zip(ours, theirs, strict=True):
        d = 1 if a is None else x.dims[a]
        if (a is not None and a == x.batch and w != 1) or (d != w and 1 not in (d, w)):
            raise ShapeError(f"weight dims {list(lead)} do not broadcast with {x.declared()}")
        dims.append(d if w == 1 else w)
    batch = None if x.batch is None else x.batch + n - (x.rank - 2)
    return TensorShape((*dims, x.dims[-2], p["units"]), batch)


def _kept(x: TensorShape, gone: Sequence[int], keep: bool) -> TensorShape:
    """x with the axes `gone` reduced: kept as 1 or dropped."""
    if keep:
        dims = tuple(1 if i in gone else d for i, d in enumerate(x.dims))
        return TensorShape(dims, None if x.batch in gone else x.batch)
    left = [i for i in range(x.rank) if i not in gone]
    if not left:
        raise ShapeError("reducing every axis without keepdims leaves a scalar")
    batch = None if x.batch is None or x.batch in gone else left.index(x.batch)
    return TensorShape(tuple(x.dims[i] for i in left), batch)


def reduce(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    return _kept(xs[0], _distinct(p["axes"], xs[0].rank), bool(p["keepdims"]))


def arg_reduce(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    return _kept(xs[0], [_axis(p["axis"], xs[0].rank)], bool(p["keepdims"]))


def top_k(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    a = _axis(p["axis"], x.rank)
    _static(x, [a], "TopK")
    if not 1 <= p["k"] <= x.dims[a]:
        raise ShapeError(f"k {p['k']} is out of 1..{x.dims[a]}")
    return TensorShape(x.dims[:a] + (p["k"],) + x.dims[a + 1:], x.batch)


def along(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    """An op along one axis that keeps the shape (CumSum, LogSoftmax, LpNormalization)."""
    _axis(p["axis"], xs[0].rank)
    return xs[0]


def even_split(d: int, n: int) -> tuple[int, ...]:
    """Split-18's `num_outputs` parts of a dim d: ceil(d / n) each, the last smaller."""
    chunk = -(-d // n)
    return (chunk,) * (n - 1) + (d - chunk * (n - 1),)


def split(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, parts, take = xs[0], p["split"], p["take"]
    a = _axis(p["axis"], x.rank)
    _static(x, [a], "Split")
    if sum(parts) != x.dims[a]:
        raise ShapeError(f"split {list(parts)} does not add up to the dim {x.dims[a]}")
    if p["num_outputs"] and (len(parts) > x.dims[a] or parts != even_split(x.dims[a], len(parts))):
        raise ShapeError(f"split {list(parts)} is not the parts num_outputs={len(parts)} makes of {x.dims[a]}")
    if not -1 <= take < len(parts):
        raise ShapeError(f"take {take} is not a part of {list(parts)} (or -1: all of them, reversed)")
    size = x.dims[a] if take == -1 else parts[take]
    return TensorShape(x.dims[:a] + (size,) + x.dims[a + 1:], x.batch)


def expand(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, target = xs[0], p["shape"]
    lead = len(target) - x.rank
    if lead < 0:
        raise ShapeError(f"shape {list(target)} has fewer dims than {x.declared()}")
    dims = list(target[:lead])
    for i, d in enumerate(x.dims):
        w = target[lead + i]
        if (i == x.batch and w != 1) or (w != d and 1 not in (d, w)):
            raise ShapeError(f"shape {list(target)} does not broadcast with {x.declared()}")
        dims.append(d if w == 1 else w)
    return TensorShape(tuple(dims), None if x.batch is None else x.batch + lead)


def tile(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, reps = xs[0], p["repeats"]
    if len(reps) != x.rank:
        raise ShapeError(f"repeats {list(reps)} need {x.rank} entries")
    return TensorShape(tuple(d * r for d, r in zip(x.dims, reps, strict=True)), x.batch)


def dynamic_reshape(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    """Reshape to [size of input axis a for a in `read`] + `shape`, the sizes read at run time (the batch
    among them, or swallowed by a -1)."""
    x, read, tail = xs[0], _distinct(p["read"], xs[0].rank), p["shape"]
    if tail.count(-1) > 1 or 0 in tail:
        raise ShapeError(f"shape {list(tail)} takes dims >= 1 and at most one -1")
    dims = [x.dims[a] for a in read] + list(tail)
    batch = read.index(x.batch) if x.batch in read else None
    return _filled(x, dims, batch, f"{dims}")


def resize(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    """Resize of the spatial axes (2..): out = floor(d * scale) in float32, as ORT computes it, or `sizes`."""
    x = xs[0]
    _nchw(x, 3, 5)
    n = x.rank - 2
    if ("scales" in p) == ("sizes" in p):
        raise ShapeError("needs scales or sizes, not both")
    if p["mode"] == "cubic" and n != 2:
        raise ShapeError(f"cubic resizes 2 spatial axes (ORT's kernel), not {n}")
    given = p.get("scales") or p["sizes"]
    if len(given) != n:
        raise ShapeError(f"{list(given)} needs one entry per spatial axis ({n})")
    if "scales" in p:
        out = tuple(math.floor(np.float32(d) * np.float32(s)) for d, s in zip(x.dims[2:], given, strict=True))
    else:
        out = tuple(given)
    if min(out) < 1:
        raise ShapeError(f"scales {list(given)} leave an empty axis of {x.declared()}")
    return TensorShape(x.dims[:2] + out, x.batch)


def conv_transpose(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    _nchw(x, 3, 4)
    n, g = x.rank - 2, p["group"]
    if x.dims[1] % g or p["out_channels"] % g:
        raise ShapeError(f"group {g} must divide {x.dims[1]} input and {p['out_channels']} output channels")
    k, s = p["kernel_shape"], p.get("strides") or (1,) * n
    pads, dil = p.get("pads") or (0,) * 2 * n, p.get("dilations") or (1,) * n
    extra = p.get("output_padding") or (0,) * n
    if not len(k) == len(s) == len(dil) == len(extra) == n or len(pads) != 2 * n:
        raise ShapeError(f"kernel_shape, strides, dilations, output_padding need {n} entries, pads {2 * n}")
    if any(extra[i] >= s[i] for i in range(n)):  # ONNX allows < the dilation too, ORT 1.31 does not
        raise ShapeError(f"output_padding {list(extra)} must be smaller than the strides {list(s)}")
    out = tuple(s[i] * (x.dims[2 + i] - 1) + extra[i] + dil[i] * (k[i] - 1) + 1 - pads[i] - pads[n + i]
                for i in range(n))
    if min(out) < 1:
        raise ShapeError(f"pads {list(pads)} leave an empty axis")
    return TensorShape((x.dims[0], p["out_channels"], *out), x.batch)


def layer_norm(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    _static(x, range(_axis(p["axis"], x.rank), x.rank), "LayerNormalization's normalized axes")
    return x


def group_norm(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    _nchw(x, 3, 5)
    if x.dims[1] % p["num_groups"]:
        raise ShapeError(f"num_groups {p['num_groups']} must divide the {x.dims[1]} channels")
    return x


def nchw(low: int, high: int) -> Callable[[Params, Sequence[TensorShape]], TensorShape]:
    """Ops on (N, C, spatial...) that keep the shape (InstanceNormalization)."""
    def shape(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
        _nchw(xs[0], low, high)
        return xs[0]
    return shape


def global_pool(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    _nchw(x, 3, 5)
    return TensorShape(x.dims[:2] + (1,) * (x.rank - 2), x.batch)


def depth_to_space(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, b = xs[0], p["blocksize"]
    _nchw(x, 4, 4)
    if x.dims[1] % (b * b):
        raise ShapeError(f"blocksize {b} squared must divide the {x.dims[1]} channels")
    return TensorShape((x.dims[0], x.dims[1] // (b * b), x.dims[2] * b, x.dims[3] * b), x.batch)


def space_to_depth(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, b = xs[0], p["blocksize"]
    _nchw(x, 4, 4)
    if x.dims[2] % b or x.dims[3] % b:
        raise ShapeError(f"blocksize {b} must divide the spatial dims {x.dims[2:]}")
    return TensorShape((x.dims[0], x.dims[1] * b * b, x.dims[2] // b, x.dims[3] // b), x.batch)


def prelu(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x = xs[0]
    if p["slope"] == "channel":
        if x.rank < 2:
            raise ShapeError("a slope per channel needs rank >= 2")
        _static(x, [1], "PRelu's slope per channel")
    return x


def clip(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    if "min" not in p and "max" not in p:
        raise ShapeError("needs min or max")
    if p.get("min", -math.inf) > p.get("max", math.inf):
        raise ShapeError(f"min {p['min']} is above max {p['max']}")
    return xs[0]


EINSUM = re.compile(r"([a-z]+)(?:,([a-z]+))?->([a-z]+)")


def einsum_sizes(p: Params, x: TensorShape) -> dict[str, int]:
    """The size of each letter of the equation: x's letters from x, the weight's new letters `units`."""
    m = EINSUM.fullmatch(p["equation"])
    if m is None:
        raise ShapeError(f"equation {p['equation']!r} is not 'x->y' or 'x,w->y' in letters a-z")
    ins, weight, out = m.group(1), m.group(2) or "", m.group(3)
    if len(ins) != x.rank or any(len(set(t)) != len(t) for t in (ins, weight, out)):
        raise ShapeError(f"equation {p['equation']!r} needs {x.rank} distinct input letters, none repeated")
    if x.batch is not None and ins[x.batch] in weight:
        raise ShapeError(f"the weight cannot share the batch letter {ins[x.batch]!r}")
    sizes = dict(zip(ins, x.dims, strict=True)) | {c: p["units"] for c in weight if c not in ins}
    if any(c not in sizes for c in out):
        raise ShapeError(f"output letters {out!r} are not all in the inputs")
    return sizes


def einsum(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    x, out = xs[0], p["equation"].split("->")[1]
    sizes = einsum_sizes(p, x)
    letter = None if x.batch is None else p["equation"][x.batch]
    batch = out.index(letter) if letter is not None and letter in out else None
    return TensorShape(tuple(sizes[c] for c in out), batch)


def recurrent(p: Params, xs: Sequence[TensorShape]) -> TensorShape:
    """LSTM and GRU on (batch, seq, features), the exporter's batch-first layout (either axis may be N)."""
    x = xs[0]
    if x.rank != 3:
        raise ShapeError(f"needs rank 3 (batch, sequence, features), got {x.rank}")
    _static(x, [2], "the recurrent layer's features")
    dirs = 2 if p["direction"] == "bidirectional" else 1
    return TensorShape((x.dims[0], x.dims[1], dirs * p["hidden_size"]), x.batch)


# ---- the table --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphOp:
    """A node kind: its parameters (name -> check and default), shape function, whether it reads an earlier
    tensor too, the element types ORT's CPU kernels take, parameters that need a newer opset, and the opset the
    kind needs.  How it is written as ONNX is `roundtrip.spec.onnx_build`'s."""

    shape: Callable[[Params, Sequence[TensorShape]], TensorShape]
    params: dict[str, tuple[Check, Any]]
    binary: bool = False
    dtypes: tuple[str, ...] = DTYPES
    since: dict[str, int] = field(default_factory=dict)
    opset: int = 11  # the first opset that defines the op in the form its builder writes
    dtype_since: dict[str, int] = field(default_factory=dict)  # element types the op takes from a later opset
    drop_axis: unit_axes.Hook | None = None  # its params once a size-1 axis of its input goes (None: cannot)

    def check_params(self, given: Params, opset: int, path: str) -> Params:
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise SpecError(f"{path}.{unknown[0]}", f"unknown parameter (allowed: {', '.join(self.params)})")
        out = {}
        for key, (check, default) in self.params.items():
            if key in given:
                if opset < self.since.get(key, 0):
                    raise SpecError(f"{path}.{key}", f"needs opset >= {self.since[key]}, the graph has {opset}")
                out[key] = check(given[key], f"{path}.{key}")
            elif default is REQUIRED:
                raise SpecError(f"{path}.{key}", "missing")
            elif default is not None:
                out[key] = default
        return out


def _req(check: Check) -> tuple[Check, Any]:
    return (check, REQUIRED)


OPTIONAL: tuple[Check, Any] = (int_list(), None)
_WINDOW = {"kernel_shape": _req(int_list(1)), "strides": (int_list(1), None), "pads": (int_list(0), None)}
_CEIL = {"ceil_mode": (one_of(0, 1), 0)}
# ORT 1.31's CPU EP has no float64 kernel for Conv, ConvTranspose, AveragePool, GlobalAveragePool,
# GlobalMaxPool, InstanceNormalization, Resize, Erf (so Gelu and its Erf form), Elu, Selu, LeakyRelu, PRelu,
# HardSigmoid (so HardSwish), Softplus (so Mish; ORT finds one at opset 18 alone), Softsign, Mean, LSTM and GRU
# ("Could not find an implementation", or for LSTM and GRU "does not support double yet").
_NO_DOUBLE = ("float32", "float16")
# ORT 1.31 fails to load a float64 Clip that follows a Relu and has a min, given or made by its own fusion of an
# earlier Relu ("FuseReluClip ... Unexpected data type for Clip 'min' input of 11"); and Clip-11 has no float64
# kernel.
_NO_DOUBLE_CLIP = ("float32", "float16")
# Steps (Floor, Ceil, Round, Sign, ArgMax, ArgMin) jump where the value is a rounding away from the step: ORT
# computes float16 ops through float32 and the reference evaluator in float16, so after a few nodes their inputs
# differ by a float16 rounding, and some value lands on the other side of a step (with float16 allowed, 5 in
# 3000 drawn float16 graphs were off by a whole step, each after a Floor).
_STEPS = ("float32", "float64")
# LayerNormalization, InstanceNormalization and GroupNormalization of a row of (nearly) equal values divide its
# rounding error by sqrt(epsilon): ORT computes the mean and variance of a float16 input in float32, the
# reference evaluator in float16, and after a few nodes they differ by 10% of the output (a Relu's zeros, Log'd,
# then normalised over 7 values: 0.6 apart).  InstanceNormalization takes float32 alone (no float64 kernel).
_NOT_HALF_NORM = ("float32", "float64")
REDUCE_OPS = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceSumSquare", "ReduceLogSumExp")
_COORDINATES = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel")
_REDUCE = {"axes": _req(int_list()), "keepdims": (one_of(1, 0), 1)}
KEPT = unit_axes.kept
ALONG = unit_axes.along()
_ARG = {"axis": (any_int, 0), "keepdims": (one_of(1, 0), 1), "select_last_index": (one_of(0, 1), None)}
_RECURRENT = {"hidden_size": _req(int_at_least(1)),
              "direction": (one_of("forward", "reverse", "bidirectional"), "forward"), "bias": (boolean, True)}

GRAPH_OPS: dict[str, GraphOp] = {
    "Conv": GraphOp(conv, {**_WINDOW, "dilations": (int_list(1), None), "out_channels": _req(int_at_least(1)),
                           "group": (int_at_least(1), 1), "bias": (boolean, True)}, dtypes=_NO_DOUBLE),
    "MaxPool": GraphOp(pool, {**_WINDOW, "dilations": (int_list(1), None), **_CEIL}),
    "AveragePool": GraphOp(pool, {**_WINDOW, **_CEIL, "count_include_pad": (one_of(0, 1), 0)}, dtypes=_NO_DOUBLE),
    "BatchNormalization": GraphOp(batch_norm, {"epsilon": (finite, 1e-5)}),
    "Flatten": GraphOp(flatten, {"axis": (any_int, 1)}),
    "Reshape": GraphOp(reshape, {"shape": _req(int_list(-1))}),
    "Slice": GraphOp(slice_, {k: _req(int_list(nonzero=k == "steps")) for k in ("starts", "ends", "axes", "steps")},
                     drop_axis=unit_axes.slice_),
    "Transpose": GraphOp(transpose, {"perm": _req(int_list(0))}, drop_axis=unit_axes.transpose),
    "Squeeze": GraphOp(squeeze, {"axes": _req(int_list())}, drop_axis=unit_axes.squeeze),
    "Unsqueeze": GraphOp(unsqueeze, {"axes": _req(int_list())}),
    "Gather": GraphOp(gather, {"axis": (any_int, 0), "indices": _req(indices)}),
    "Pad": GraphOp(pad, {"pads": _req(int_list(0)), "mode": (one_of("constant", "reflect", "edge"), "constant"),
                         "value": (finite, 0.0), "axes": OPTIONAL}, since={"axes": 18}),
    "Concat": GraphOp(concat, {"axis": _req(any_int)}, binary=True, drop_axis=ALONG),
    "Add": GraphOp(elementwise, {}, binary=True, drop_axis=KEPT),
    "Mul": GraphOp(elementwise, {}, binary=True, drop_axis=KEPT),
    "Gemm": GraphOp(gemm, {"units": _req(int_at_least(1)), "transA": (boolean, False), "transB": (boolean, False),
                           "bias": (boolean, True)}),
    "MatMul": GraphOp(matmul, {"units": _req(int_at_least(1)), "lead": (int_list(1), None)}),
    "Relu": GraphOp(same, {}, drop_axis=KEPT),
    "Sigmoid": GraphOp(same, {}, drop_axis=KEPT),
    "Softmax": GraphOp(softmax, {"axis": _req(any_int)}, drop_axis=ALONG),
    # ---- elementwise, one input ----
    "Tanh": GraphOp(same, {}, drop_axis=KEPT),
    "Exp": GraphOp(same, {}, drop_axis=KEPT),
    "Abs": GraphOp(same, {}, drop_axis=KEPT),
    "Neg": GraphOp(same, {}, drop_axis=KEPT),
    "Identity": GraphOp(same, {}, drop_axis=KEPT),
    "Softsign": GraphOp(same, {}, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    "Softplus": GraphOp(same, {}, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    "Selu": GraphOp(same, {}, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    "Elu": GraphOp(same, {"alpha": (finite, 1.0)}, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    "LeakyRelu": GraphOp(same, {"alpha": (finite, 0.01)}, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    "HardSigmoid": GraphOp(same, {"alpha": (finite, 0.2), "beta": (finite, 0.5)}, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    "HardSwish": GraphOp(same, {}, dtypes=_NO_DOUBLE, opset=14, drop_axis=KEPT),
    "Mish": GraphOp(same, {}, dtypes=_NO_DOUBLE, opset=18, drop_axis=KEPT),
    "Erf": GraphOp(same, {}, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    "Gelu": GraphOp(same, {"approximate": (one_of("none", "tanh"), "none")}, dtypes=_NO_DOUBLE, opset=20,
                    drop_axis=KEPT),
    "ErfGelu": GraphOp(same, {}, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    "Floor": GraphOp(same, {}, dtypes=_STEPS, drop_axis=KEPT),
    "Ceil": GraphOp(same, {}, dtypes=_STEPS, drop_axis=KEPT),
    "Round": GraphOp(same, {}, dtypes=_STEPS, drop_axis=KEPT),
    "Sign": GraphOp(same, {}, dtypes=_STEPS, drop_axis=KEPT),
    "Sqrt": GraphOp(same, {"offset": (positive, 1.0)}, drop_axis=KEPT),
    "Log": GraphOp(same, {"offset": (positive, 1.0)}, drop_axis=KEPT),
    "Reciprocal": GraphOp(same, {"offset": (positive, 1.0)}, drop_axis=KEPT),
    "Pow": GraphOp(same, {"exponent": _req(finite)}, drop_axis=KEPT),
    "Div": GraphOp(same, {"divisor": _req(divisor)}, drop_axis=KEPT),
    "Clip": GraphOp(clip, {"min": (finite, None), "max": (finite, None)}, dtypes=_NO_DOUBLE_CLIP, drop_axis=KEPT),
    "PRelu": GraphOp(prelu, {"slope": (one_of("scalar", "channel"), "scalar")}, dtypes=_NO_DOUBLE),
    "Where": GraphOp(same, {"compare": (one_of("Greater", "Less"), "Greater"), "or_equal": (boolean, False),
                            "threshold": (finite, 0.0)}, since={"or_equal": 12}, drop_axis=KEPT),
    "Cast": GraphOp(same, {"to": _req(one_of(*DTYPES, "int64"))}, drop_axis=KEPT),
    "Dropout": GraphOp(same, {"ratio": (number(0.0, 0.9), 0.5)}, drop_axis=KEPT),
    # ---- elementwise, two inputs ----
    "Sub": GraphOp(elementwise, {}, binary=True, drop_axis=KEPT),
    "Max": GraphOp(elementwise, {}, binary=True, drop_axis=KEPT),
    "Min": GraphOp(elementwise, {}, binary=True, drop_axis=KEPT),
    "Sum": GraphOp(elementwise, {}, binary=True, drop_axis=KEPT),
    "Mean": GraphOp(elementwise, {}, binary=True, dtypes=_NO_DOUBLE, drop_axis=KEPT),
    # ---- along an axis ----
    "LogSoftmax": GraphOp(softmax, {"axis": _req(any_int)}, drop_axis=ALONG),
    "LpNormalization": GraphOp(along, {"axis": (any_int, -1), "p": (one_of(2, 1), 2)}, drop_axis=ALONG),
    "CumSum": GraphOp(along, {"axis": _req(any_int), "exclusive": (one_of(0, 1), 0), "reverse": (one_of(0, 1), 0)},
                      dtype_since={"float16": 14}, drop_axis=ALONG),
    "TopK": GraphOp(top_k, {"axis": (any_int, -1), "k": _req(int_at_least(1)), "largest": (one_of(1, 0), 1)},
                    drop_axis=ALONG),
    "ArgMax": GraphOp(arg_reduce, _ARG, dtypes=_STEPS, since={"select_last_index": 12},
                      drop_axis=unit_axes.arg_reduce),
    "ArgMin": GraphOp(arg_reduce, _ARG, dtypes=_STEPS, since={"select_last_index": 12},
                      drop_axis=unit_axes.arg_reduce),
    **{op: GraphOp(reduce, _REDUCE, drop_axis=unit_axes.reduce) for op in REDUCE_OPS},
    "ReduceLogSum": GraphOp(reduce, {**_REDUCE, "offset": (positive, 1.0)}, drop_axis=unit_axes.reduce),
    # ---- shape plumbing ----
    "DynamicReshape": GraphOp(dynamic_reshape, {"read": _req(int_list()), "shape": _req(int_list(-1))}),
    "Expand": GraphOp(expand, {"shape": _req(int_list(1))}),
    "Tile": GraphOp(tile, {"repeats": _req(int_list(1))}),
    "Split": GraphOp(split, {"axis": (any_int, 0), "split": _req(int_list(1)), "take": (int_at_least(-1), 0),
                             "num_outputs": (boolean, False)}, since={"num_outputs": 18}),
    "DepthToSpace": GraphOp(depth_to_space, {"blocksize": _req(int_at_least(1)),
                                             "mode": (one_of("DCR", "CRD"), "DCR")}),
    "SpaceToDepth": GraphOp(space_to_depth, {"blocksize": _req(int_at_least(1))}),
    "Resize": GraphOp(resize, {
        "mode": (one_of("nearest", "linear", "cubic"), "nearest"), "scales": (float_list, None),
        "sizes": (int_list(1), None),
        "coordinate_transformation_mode": (one_of(*_COORDINATES), "half_pixel"),
        "nearest_mode": (one_of("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"), "round_prefer_floor"),
        "antialias": (boolean, False), "axes": (boolean, False)}, dtypes=_NO_DOUBLE,
        since={"antialias": 18, "axes": 18}),
    # ---- with weights ----
    "ConvTranspose": GraphOp(conv_transpose, {
        **_WINDOW, "dilations": (int_list(1), None), "output_padding": (int_list(0), None),
        "out_channels": _req(int_at_least(1)), "group": (int_at_least(1), 1), "bias": (boolean, True)},
        dtypes=_NO_DOUBLE),
    "LayerNormalization": GraphOp(layer_norm, {"axis": (any_int, -1), "epsilon": (finite, 1e-5),
                                               "bias": (boolean, True)}, dtypes=_NOT_HALF_NORM, opset=17),
    "InstanceNormalization": GraphOp(nchw(3, 5), {"epsilon": (finite, 1e-5)}, dtypes=("float32",)),
    "GroupNormalization": GraphOp(group_norm, {"num_groups": _req(int_at_least(1)), "epsilon": (finite, 1e-5)},
                                  dtypes=_NOT_HALF_NORM, opset=21),
    "GlobalAveragePool": GraphOp(global_pool, {}, dtypes=_NO_DOUBLE),
    "GlobalMaxPool": GraphOp(global_pool, {}, dtypes=_NO_DOUBLE),
    "Einsum": GraphOp(einsum, {"equation": _req(text), "units": (int_at_least(1), 1)}, opset=12,
                      drop_axis=unit_axes.einsum),
    "LSTM": GraphOp(recurrent, _RECURRENT, dtypes=_NO_DOUBLE),
    "GRU": GraphOp(recurrent, {**_RECURRENT, "linear_before_reset": (one_of(0, 1), 0)}, dtypes=_NO_DOUBLE),
}
