"""Graph specs: plain, frozen data describing an ONNX graph the way PyTorch and other exporters write it.

A `GraphSpec` is one input (batch first, the batch a symbolic dim "N"), a chain of nodes each reading the
previous tensor (and, for Concat, Add and Mul, an earlier one), an opset, an element type and a seed.  The
table `GRAPH_OPS` holds, for each node kind, its parameter checks, its shape function and its ONNX builder;
`strategies/graphs.py` holds one strategy per kind, asserted equal.

Shapes carry the batch symbolically (`TensorShape`): the axis holding it has size N * multiplier, so a
Flatten(axis=0) or a Reshape whose -1 swallows the batch still has a declared shape valid for every N.
Nothing here imports ONNX until a graph is built.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from roundtrip.spec.layers import REQUIRED, Check, boolean, int_at_least, number, one_of
from roundtrip.spec.values import ShapeError, SpecError, shown

if TYPE_CHECKING:
    import onnx

GRAPH_SCHEMA_VERSION = 1
OPSETS = tuple(range(11, 27))
DTYPES = ("float32", "float16", "float64")
INT64_MAX = 2**63 - 1
Params = dict[str, Any]
Value = int | float | str | bool | tuple[Any, ...]


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
def _fail(path: str, want: str, value: Any) -> SpecError:
    return SpecError(path, f"want {want}, got {shown(value)}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def int_list(low: int | None = None, nonzero: bool = False) -> Check:
    def check(v: Any, path: str) -> tuple[int, ...]:
        ok = isinstance(v, tuple) and bool(v) and all(_is_int(x) and (low is None or x >= low) for x in v)
        if not ok or (nonzero and 0 in v):
            want = "a non-empty list of integers" + (f" >= {low}" if low is not None else "")
            raise _fail(path, want + (", none zero" if nonzero else ""), v)
        return v  # type: ignore[no-any-return]
    return check


def any_int(v: Any, path: str) -> int:
    if not _is_int(v):
        raise _fail(path, "an integer", v)
    return v  # type: ignore[no-any-return]


def indices(v: Any, path: str) -> int | tuple[int, ...]:
    return any_int(v, path) if not isinstance(v, tuple) else int_list()(v, path)


def finite(v: Any, path: str) -> float:
    if not isinstance(v, float) or not math.isfinite(v):
        raise _fail(path, "a finite float", v)
    return v


def positive(v: Any, path: str) -> float:
    if not isinstance(v, float) or not 0 < v < math.inf:
        raise _fail(path, "a finite float > 0", v)
    return v


def divisor(v: Any, path: str) -> float:
    """A constant to divide by: away from 0, so the quotient stays finite."""
    if not isinstance(v, float) or not 0.25 <= abs(v) < math.inf:
        raise _fail(path, "a finite float with |value| >= 0.25", v)
    return v


def float_list(v: Any, path: str) -> tuple[float, ...]:
    if not isinstance(v, tuple) or not v or not all(isinstance(x, float) and 0 < x < math.inf for x in v):
        raise _fail(path, "a non-empty list of finite floats > 0", v)
    return v


def text(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v:
        raise _fail(path, "a non-empty string", v)
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
    fixed = math.prod(d for d, w in zip(dims, t, strict=True) if w != -1)
    if -1 in t:
        if x.size % fixed:
            raise ShapeError(f"{x.size} elements per batch item do not divide by {fixed}")
        j = t.index(-1)
        dims[j] = x.size // fixed
        batch = j if x.batch is not None and batch is None else batch
    elif x.size != fixed or (x.batch is not None and batch is None):
        raise ShapeError(f"shape {list(t)} cannot hold {x.declared()} for every N")
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
    known = math.prod(d for d in dims if d != -1)
    if -1 in tail:
        if x.size % known:
            raise ShapeError(f"{x.size} elements per batch item do not divide by {known}")
        j = len(read) + tail.index(-1)
        dims[j] = x.size // known
        batch = j if x.batch is not None and batch is None else batch
    elif x.size != known or (x.batch is not None and batch is None):
        raise ShapeError(f"{list(dims)} cannot hold {x.declared()} for every N")
    return TensorShape(tuple(dims), batch)


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


# ---- builders -------------------------------------------------------------------------------------------
@dataclass
class Emit:
    """What a builder writes into: ONNX nodes and initializers for one spec node."""

    out: str
    ins: tuple[str, ...]
    shapes: tuple[TensorShape, ...]
    opset: int
    dtype: np.dtype[Any]
    rng: np.random.Generator
    nodes: list[Any] = field(default_factory=list)
    inits: list[Any] = field(default_factory=list)

    def const(self, suffix: str, array: Any, dtype: Any = np.int64) -> str:
        """An initializer named after the node (numbered when the node has a tensor of that name already)."""
        from onnx import numpy_helper

        taken = {i.name for i in self.inits} | {name for node in self.nodes for name in node.output}
        name, k = f"{self.out}_{suffix}", 1
        while name in taken:
            name, k = f"{self.out}_{suffix}{k}", k + 1
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def scalar(self, suffix: str, value: float) -> str:
        """A rank-0 constant of the graph's element type."""
        return self.const(suffix, value, self.dtype)

    def weight(self, suffix: str, shape: tuple[int, ...], scale: float = 1.0, low: float | None = None) -> str:
        values = self.rng.uniform(low, 1.5, shape) if low is not None else self.rng.standard_normal(shape) * scale
        return self.const(suffix, values, self.dtype)

    @property
    def elem(self) -> int:
        """The graph's element type as an ONNX TensorProto type."""
        from onnx import helper

        return int(helper.np_dtype_to_tensor_dtype(self.dtype))

    def tmp(self, suffix: str) -> str:
        """The name of a tensor inside this spec node (a composite's intermediate)."""
        return f"{self.out}_{suffix}"

    def node(self, op: str, inputs: Sequence[str], out: str | None = None, outputs: Sequence[str] = (),
             **attrs: Any) -> str:
        """One node writing `out` (default: the spec node's output) or several `outputs`; returns the first."""
        from onnx import helper

        names = list(outputs) or [out or self.out]
        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()}
        self.nodes.append(helper.make_node(op, list(inputs), names, name=names[0], **attrs))
        return names[0]

    def axes(self, op: str, inputs: list[str], axes: tuple[int, ...], out: str | None = None) -> str:
        """Squeeze and Unsqueeze: `axes` an attribute before opset 13, an input from 13."""
        if self.opset >= 13:
            return self.node(op, [*inputs, self.const("axes", axes)], out)
        return self.node(op, inputs, out, axes=axes)

    def positive(self, offset: float) -> str:
        """|x| + offset (offset > 0): how an op defined only on positive values (Sqrt, Log, Reciprocal, a
        fractional or negative Pow, ReduceLogSum) gets its input, so that it never makes NaN or inf."""
        magnitude = self.node("Abs", [self.ins[0]], self.tmp("abs"))
        return self.node("Add", [magnitude, self.scalar("offset", offset)], self.tmp("positive"))


Build = Callable[[Emit, Params], object]  # what it returns (a tensor name, from Emit.node) is unused


def plain(op: str, *keys: str) -> Build:
    """A node with the input(s) and the listed parameters as attributes."""
    return lambda e, p: e.node(op, e.ins, **{k: p[k] for k in keys if k in p})


def _build_conv(e: Emit, p: Params) -> None:
    c = e.shapes[0].dims[1] // p["group"]
    shape = (p["out_channels"], c, *p["kernel_shape"])
    ins = [e.ins[0], e.weight("W", shape, 1 / math.sqrt(math.prod(shape[1:])))]
    if p["bias"]:
        ins.append(e.weight("B", (p["out_channels"],), 0.1))
    keys = ("kernel_shape", "strides", "pads", "dilations", "group")
    e.node("Conv", ins, **{k: p[k] for k in keys if k in p})


def _build_batch_norm(e: Emit, p: Params) -> None:
    c = e.shapes[0].dims[1]
    ins = [e.weight("scale", (c,), low=0.5), e.weight("B", (c,), 0.1), e.weight("mean", (c,), 0.1),
           e.weight("var", (c,), low=0.5)]
    e.node("BatchNormalization", [e.ins[0], *ins], epsilon=p["epsilon"])


def _build_reshape(e: Emit, p: Params) -> None:
    e.node("Reshape", [e.ins[0], e.const("shape", p["shape"])])


def _build_slice(e: Emit, p: Params) -> None:
    e.node("Slice", [e.ins[0], *(e.const(k, p[k]) for k in ("starts", "ends", "axes", "steps"))])


def _build_gather(e: Emit, p: Params) -> None:
    e.node("Gather", [e.ins[0], e.const("indices", p["indices"])], axis=p["axis"])


def _build_pad(e: Emit, p: Params) -> None:
    ins = [e.ins[0], e.const("pads", p["pads"])]
    if p["mode"] == "constant" or "axes" in p:
        ins.append(e.const("value", p["value"], e.dtype) if p["mode"] == "constant" else "")
    if "axes" in p:
        ins.append(e.const("axes", p["axes"]))
    e.node("Pad", ins, mode=p["mode"])


def _build_gemm(e: Emit, p: Params) -> None:
    k = e.shapes[0].dims[0 if p["transA"] else 1]
    shape = (p["units"], k) if p["transB"] else (k, p["units"])
    ins = [e.ins[0], e.weight("B", shape, 1 / math.sqrt(k))]
    if p["bias"]:
        ins.append(e.weight("C", (p["units"],), 0.1))
    e.node("Gemm", ins, transA=int(p["transA"]), transB=int(p["transB"]))


def _build_matmul(e: Emit, p: Params) -> None:
    k, lead = e.shapes[0].dims[-1], p.get("lead") or ()
    e.node("MatMul", [e.ins[0], e.weight("B", (*lead, k, p["units"]), 1 / math.sqrt(k))])


def unary(op: str, *keys: str, offset: bool = False) -> Build:
    """One node on x (on |x| + offset, with `offset`: see Emit.positive) with the listed attributes."""
    def build(e: Emit, p: Params) -> None:
        e.node(op, [e.positive(p["offset"]) if offset else e.ins[0]], **{k: p[k] for k in keys if k in p})
    return build


def reduce_op(op: str, offset: bool = False) -> Build:
    """ReduceSum takes `axes` as an input from opset 13, the other Reduce ops from 18."""
    def build(e: Emit, p: Params) -> None:
        x = e.positive(p["offset"]) if offset else e.ins[0]
        if e.opset >= (13 if op == "ReduceSum" else 18):
            e.node(op, [x, e.const("axes", p["axes"])], keepdims=p["keepdims"])
        else:
            e.node(op, [x], axes=p["axes"], keepdims=p["keepdims"])
    return build


def arg_reduce_op(op: str) -> Build:
    """ArgMax or ArgMin, its int64 indices cast to the graph's type (so the chain stays float)."""
    def build(e: Emit, p: Params) -> None:
        keys = ("axis", "keepdims", "select_last_index")
        index = e.node(op, [e.ins[0]], e.tmp("index"), **{k: p[k] for k in keys if k in p})
        e.node("Cast", [index], to=e.elem)
    return build


def _build_top_k(e: Emit, p: Params) -> None:
    e.node("TopK", [e.ins[0], e.const("k", [p["k"]])], outputs=[e.out, e.tmp("indices")], axis=p["axis"],
           largest=p["largest"])


def _build_cum_sum(e: Emit, p: Params) -> None:
    e.node("CumSum", [e.ins[0], e.const("axis", p["axis"])], exclusive=p["exclusive"], reverse=p["reverse"])


def _build_split(e: Emit, p: Params) -> None:
    """Split (sizes an attribute before opset 13, an input from 13; or num_outputs from 18); one part goes
    on, or all of them are concatenated again in reverse order (take = -1)."""
    parts = [e.tmp(f"part{i}") for i in range(len(p["split"]))]
    if p["take"] >= 0:
        parts[p["take"]] = e.out
    if p["num_outputs"]:
        e.node("Split", [e.ins[0]], outputs=parts, axis=p["axis"], num_outputs=len(parts))
    elif e.opset >= 13:
        e.node("Split", [e.ins[0], e.const("split", p["split"])], outputs=parts, axis=p["axis"])
    else:
        e.node("Split", [e.ins[0]], outputs=parts, axis=p["axis"], split=p["split"])
    if p["take"] == -1:
        e.node("Concat", parts[::-1], axis=p["axis"])


def _build_dynamic_reshape(e: Emit, p: Params) -> None:
    """PyTorch's `x.view(x.size(0), ..., -1)`: Shape, a Gather and an Unsqueeze per size read, Concat with
    the constant dims, Reshape."""
    shape = e.node("Shape", [e.ins[0]], e.tmp("shape"))
    sizes = []
    for i, a in enumerate(p["read"]):
        size = e.node("Gather", [shape, e.const("index", a)], e.tmp(f"size{i}"), axis=0)
        sizes.append(e.axes("Unsqueeze", [size], (0,), e.tmp(f"dim{i}")))
    target = e.node("Concat", [*sizes, e.const("dims", p["shape"])], e.tmp("target"), axis=0)
    e.node("Reshape", [e.ins[0], target])


def _build_resize(e: Emit, p: Params) -> None:
    """Resize of the spatial axes: roi (and scales, given sizes) empty tensors before opset 13 and left out
    from 13; with `axes` (opset 18) scales or sizes for the spatial axes alone; else sizes for every axis,
    N and C read at run time (Shape, Slice, Concat: PyTorch's form)."""
    attrs: Params = {"mode": p["mode"], "coordinate_transformation_mode": p["coordinate_transformation_mode"]}
    if p["mode"] == "nearest":
        attrs["nearest_mode"] = p["nearest_mode"]
    if p["antialias"]:
        attrs["antialias"] = 1
    rank = e.shapes[0].rank
    empty = e.const("roi", [], np.float32) if e.opset < 13 else ""
    if p["axes"]:
        attrs["axes"] = tuple(range(2, rank))
        given = [e.const("scales", p["scales"], np.float32)] if "scales" in p else ["", e.const("sizes", p["sizes"])]
        e.node("Resize", [e.ins[0], "", *given], **attrs)
    elif "scales" in p:
        e.node("Resize", [e.ins[0], empty, e.const("scales", (1.0, 1.0, *p["scales"]), np.float32)], **attrs)
    else:
        shape = e.node("Shape", [e.ins[0]], e.tmp("shape"))
        head = e.node("Slice", [shape, e.const("start", [0]), e.const("end", [2])], e.tmp("head"))
        sizes = e.node("Concat", [head, e.const("sizes", p["sizes"])], e.tmp("all_sizes"), axis=0)
        scales = e.const("scales", [], np.float32) if e.opset < 13 else ""
        e.node("Resize", [e.ins[0], empty, scales, sizes], **attrs)


def _build_conv_transpose(e: Emit, p: Params) -> None:
    c = e.shapes[0].dims[1]
    shape = (c, p["out_channels"] // p["group"], *p["kernel_shape"])
    ins = [e.ins[0], e.weight("W", shape, 1 / math.sqrt(c // p["group"] * math.prod(p["kernel_shape"])))]
    if p["bias"]:
        ins.append(e.weight("B", (p["out_channels"],), 0.1))
    keys = ("kernel_shape", "strides", "pads", "dilations", "output_padding", "group")
    e.node("ConvTranspose", ins, **{k: p[k] for k in keys if k in p})


def _build_layer_norm(e: Emit, p: Params) -> None:
    shape = e.shapes[0].dims[p["axis"]:]
    ins = [e.ins[0], e.weight("scale", shape, low=0.5)] + ([e.weight("B", shape, 0.1)] if p["bias"] else [])
    e.node("LayerNormalization", ins, axis=p["axis"], epsilon=p["epsilon"])


def _build_instance_norm(e: Emit, p: Params) -> None:
    c = e.shapes[0].dims[1]
    e.node("InstanceNormalization", [e.ins[0], e.weight("scale", (c,), low=0.5), e.weight("B", (c,), 0.1)],
           epsilon=p["epsilon"])


def _build_group_norm(e: Emit, p: Params) -> None:
    """GroupNormalization-21: scale and bias per channel (what PyTorch computes).  -18 took them per group;
    ORT 1.31 runs both forms as their specs say (checked against the formula, per group and per channel),
    but onnx 1.23's checker rejects -18 at opsets 18 to 20 ("Op registered for GroupNormalization is
    deprecated"), so the kind starts at opset 21."""
    c = e.shapes[0].dims[1]
    e.node("GroupNormalization", [e.ins[0], e.weight("scale", (c,), low=0.5), e.weight("B", (c,), 0.1)],
           num_groups=p["num_groups"], epsilon=p["epsilon"])


def _build_erf_gelu(e: Emit, p: Params) -> None:
    """GELU as PyTorch exports it below opset 20: x * 0.5 * (1 + Erf(x / sqrt(2)))."""
    scaled = e.node("Div", [e.ins[0], e.scalar("sqrt2", math.sqrt(2))], e.tmp("scaled"))
    erf = e.node("Erf", [scaled], e.tmp("erf"))
    shifted = e.node("Add", [erf, e.scalar("one", 1.0)], e.tmp("shifted"))
    product = e.node("Mul", [e.ins[0], shifted], e.tmp("product"))
    e.node("Mul", [product, e.scalar("half", 0.5)])


def _build_where(e: Emit, p: Params) -> None:
    """Where(x > t, x, t) (max(x, t); with Less, min): a bool condition computed in the graph, and a value
    continuous in x, so a rounding difference upstream never flips a branch into a different value."""
    threshold = e.scalar("threshold", p["threshold"])
    op = p["compare"] + ("OrEqual" if p["or_equal"] else "")
    condition = e.node(op, [e.ins[0], threshold], e.tmp("condition"))
    e.node("Where", [condition, e.ins[0], threshold])


def _build_cast(e: Emit, p: Params) -> None:
    """To another type and back: float precision lost, or (int64) a rounding towards zero."""
    from onnx import helper

    there = e.node("Cast", [e.ins[0]], e.tmp("cast"), to=helper.np_dtype_to_tensor_dtype(np.dtype(p["to"])))
    e.node("Cast", [there], to=e.elem)


def _build_clip(e: Emit, p: Params) -> None:
    bounds = [e.scalar(k, p[k]) if k in p else "" for k in ("min", "max")]
    e.node("Clip", [e.ins[0], *bounds] if "max" in p else [e.ins[0], bounds[0]])


def _build_prelu(e: Emit, p: Params) -> None:
    """The slope as PyTorch writes it: one value, or one per channel shaped (C, 1, ...) to broadcast."""
    x = e.shapes[0]
    shape = (1,) if p["slope"] == "scalar" else (x.dims[1],) + (1,) * (x.rank - 2)
    e.node("PRelu", [e.ins[0], e.const("slope", e.rng.uniform(0.05, 0.3, shape), e.dtype)])


def _build_div(e: Emit, p: Params) -> None:
    e.node("Div", [e.ins[0], e.scalar("divisor", p["divisor"])])


def _build_pow(e: Emit, p: Params) -> None:
    """A whole positive exponent takes x; any other takes |x| + 1 (Emit.positive), so no NaN or inf."""
    whole = p["exponent"] >= 1 and p["exponent"].is_integer()
    base = e.ins[0] if whole else e.positive(1.0)
    e.node("Pow", [base, e.scalar("exponent", p["exponent"])])


def _build_dropout(e: Emit, p: Params) -> None:
    """Dropout at inference (an identity): the ratio an attribute before opset 12, an input from 12."""
    if e.opset >= 12:
        e.node("Dropout", [e.ins[0], e.const("ratio", p["ratio"], np.float32)])
    else:
        e.node("Dropout", [e.ins[0]], ratio=p["ratio"])


def _build_einsum(e: Emit, p: Params) -> None:
    ins = [e.ins[0]]
    x_letters, rest = p["equation"].split("->")[0], p["equation"].split(",")[1:]
    if rest:
        sizes = einsum_sizes(p, e.shapes[0])
        weight, out = rest[0].split("->")
        summed = math.prod(sizes[c] for c in weight if c in x_letters and c not in out)
        ins.append(e.weight("W", tuple(sizes[c] for c in weight), 1 / math.sqrt(summed)))
    e.node("Einsum", ins, equation=p["equation"])


def recurrent_op(op: str) -> Build:
    """LSTM or GRU as exporters write a batch-first one: Transpose to (seq, batch, features), the layer
    (ORT's CPU kernels take no layout=1), Y (seq, dirs, batch, hidden) back to (batch, seq, dirs * hidden)
    by Squeeze, or Transpose and Reshape when bidirectional."""
    gates = {"LSTM": 4, "GRU": 3}[op]

    def build(e: Emit, p: Params) -> None:
        features, h = e.shapes[0].dims[2], p["hidden_size"]
        dirs = 2 if p["direction"] == "bidirectional" else 1
        ins = [e.node("Transpose", [e.ins[0]], e.tmp("seq_first"), perm=(1, 0, 2)),
               e.weight("W", (dirs, gates * h, features), 1 / math.sqrt(features)),
               e.weight("R", (dirs, gates * h, h), 1 / math.sqrt(h))]
        if p["bias"]:
            ins.append(e.weight("B", (dirs, 2 * gates * h), 0.1))
        attrs = {"hidden_size": h, "direction": p["direction"]} | ({} if op == "LSTM" else
                                                                 {"linear_before_reset": p["linear_before_reset"]})
        y = e.node(op, ins, e.tmp("Y"), **attrs)
        if dirs == 1:
            y = e.axes("Squeeze", [y], (1,), e.tmp("Y_squeezed"))
        else:
            y = e.node("Transpose", [y], e.tmp("Y_seq_batch"), perm=(0, 2, 1, 3))
            y = e.node("Reshape", [y, e.const("shape", (0, 0, -1))], e.tmp("Y_joined"))
        e.node("Transpose", [y], perm=(1, 0, 2))
    return build


# ---- the table --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphOp:
    """A node kind: its parameters (name -> check and default), shape function, builder, whether it reads an
    earlier tensor too, the element types ORT's CPU kernels take, parameters that need a newer opset, and the
    opset the kind needs."""

    shape: Callable[[Params, Sequence[TensorShape]], TensorShape]
    params: dict[str, tuple[Check, Any]]
    build: Build
    binary: bool = False
    dtypes: tuple[str, ...] = DTYPES
    since: dict[str, int] = field(default_factory=dict)
    opset: int = 11  # the first opset that defines the op in the form its builder writes
    dtype_since: dict[str, int] = field(default_factory=dict)  # element types the op takes from a later opset

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
_COORDINATES = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel")
_REDUCE = {"axes": _req(int_list()), "keepdims": (one_of(1, 0), 1)}
_ARG = {"axis": (any_int, 0), "keepdims": (one_of(1, 0), 1), "select_last_index": (one_of(0, 1), None)}
_RECURRENT = {"hidden_size": _req(int_at_least(1)),
              "direction": (one_of("forward", "reverse", "bidirectional"), "forward"), "bias": (boolean, True)}

GRAPH_OPS: dict[str, GraphOp] = {
    "Conv": GraphOp(conv, {**_WINDOW, "dilations": (int_list(1), None), "out_channels": _req(int_at_least(1)),
                           "group": (int_at_least(1), 1), "bias": (boolean, True)}, _build_conv, dtypes=_NO_DOUBLE),
    "MaxPool": GraphOp(pool, {**_WINDOW, "dilations": (int_list(1), None), **_CEIL},
                       plain("MaxPool", "kernel_shape", "strides", "pads", "dilations", "ceil_mode")),
    "AveragePool": GraphOp(pool, {**_WINDOW, **_CEIL, "count_include_pad": (one_of(0, 1), 0)},
                           plain("AveragePool", "kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad"),
                           dtypes=_NO_DOUBLE),
    "BatchNormalization": GraphOp(batch_norm, {"epsilon": (finite, 1e-5)}, _build_batch_norm),
    "Flatten": GraphOp(flatten, {"axis": (any_int, 1)}, plain("Flatten", "axis")),
    "Reshape": GraphOp(reshape, {"shape": _req(int_list(-1))}, _build_reshape),
    "Slice": GraphOp(slice_, {k: _req(int_list(nonzero=k == "steps")) for k in ("starts", "ends", "axes", "steps")},
                     _build_slice),
    "Transpose": GraphOp(transpose, {"perm": _req(int_list(0))}, plain("Transpose", "perm")),
    "Squeeze": GraphOp(squeeze, {"axes": _req(int_list())}, lambda e, p: e.axes("Squeeze", [e.ins[0]], p["axes"])),
    "Unsqueeze": GraphOp(unsqueeze, {"axes": _req(int_list())},
                         lambda e, p: e.axes("Unsqueeze", [e.ins[0]], p["axes"])),
    "Gather": GraphOp(gather, {"axis": (any_int, 0), "indices": _req(indices)}, _build_gather),
    "Pad": GraphOp(pad, {"pads": _req(int_list(0)), "mode": (one_of("constant", "reflect", "edge"), "constant"),
                         "value": (finite, 0.0), "axes": OPTIONAL}, _build_pad, since={"axes": 18}),
    "Concat": GraphOp(concat, {"axis": _req(any_int)}, plain("Concat", "axis"), binary=True),
    "Add": GraphOp(elementwise, {}, plain("Add"), binary=True),
    "Mul": GraphOp(elementwise, {}, plain("Mul"), binary=True),
    "Gemm": GraphOp(gemm, {"units": _req(int_at_least(1)), "transA": (boolean, False), "transB": (boolean, False),
                           "bias": (boolean, True)}, _build_gemm),
    "MatMul": GraphOp(matmul, {"units": _req(int_at_least(1)), "lead": (int_list(1), None)}, _build_matmul),
    "Relu": GraphOp(same, {}, plain("Relu")),
    "Sigmoid": GraphOp(same, {}, plain("Sigmoid")),
    "Softmax": GraphOp(softmax, {"axis": _req(any_int)}, plain("Softmax", "axis")),
    # ---- elementwise, one input ----
    "Tanh": GraphOp(same, {}, plain("Tanh")),
    "Exp": GraphOp(same, {}, plain("Exp")),
    "Abs": GraphOp(same, {}, plain("Abs")),
    "Neg": GraphOp(same, {}, plain("Neg")),
    "Identity": GraphOp(same, {}, plain("Identity")),
    "Softsign": GraphOp(same, {}, plain("Softsign"), dtypes=_NO_DOUBLE),
    "Softplus": GraphOp(same, {}, plain("Softplus"), dtypes=_NO_DOUBLE),
    "Selu": GraphOp(same, {}, plain("Selu"), dtypes=_NO_DOUBLE),
    "Elu": GraphOp(same, {"alpha": (finite, 1.0)}, plain("Elu", "alpha"), dtypes=_NO_DOUBLE),
    "LeakyRelu": GraphOp(same, {"alpha": (finite, 0.01)}, plain("LeakyRelu", "alpha"), dtypes=_NO_DOUBLE),
    "HardSigmoid": GraphOp(same, {"alpha": (finite, 0.2), "beta": (finite, 0.5)},
                           plain("HardSigmoid", "alpha", "beta"), dtypes=_NO_DOUBLE),
    "HardSwish": GraphOp(same, {}, plain("HardSwish"), dtypes=_NO_DOUBLE, opset=14),
    "Mish": GraphOp(same, {}, plain("Mish"), dtypes=_NO_DOUBLE, opset=18),
    "Erf": GraphOp(same, {}, plain("Erf"), dtypes=_NO_DOUBLE),
    "Gelu": GraphOp(same, {"approximate": (one_of("none", "tanh"), "none")}, plain("Gelu", "approximate"),
                    dtypes=_NO_DOUBLE, opset=20),
    "ErfGelu": GraphOp(same, {}, _build_erf_gelu, dtypes=_NO_DOUBLE),
    "Floor": GraphOp(same, {}, plain("Floor"), dtypes=_STEPS),
    "Ceil": GraphOp(same, {}, plain("Ceil"), dtypes=_STEPS),
    "Round": GraphOp(same, {}, plain("Round"), dtypes=_STEPS),
    "Sign": GraphOp(same, {}, plain("Sign"), dtypes=_STEPS),
    "Sqrt": GraphOp(same, {"offset": (positive, 1.0)}, unary("Sqrt", offset=True)),
    "Log": GraphOp(same, {"offset": (positive, 1.0)}, unary("Log", offset=True)),
    "Reciprocal": GraphOp(same, {"offset": (positive, 1.0)}, unary("Reciprocal", offset=True)),
    "Pow": GraphOp(same, {"exponent": _req(finite)}, _build_pow),
    "Div": GraphOp(same, {"divisor": _req(divisor)}, _build_div),
    "Clip": GraphOp(clip, {"min": (finite, None), "max": (finite, None)}, _build_clip, dtypes=_NO_DOUBLE_CLIP),
    "PRelu": GraphOp(prelu, {"slope": (one_of("scalar", "channel"), "scalar")}, _build_prelu, dtypes=_NO_DOUBLE),
    "Where": GraphOp(same, {"compare": (one_of("Greater", "Less"), "Greater"), "or_equal": (boolean, False),
                            "threshold": (finite, 0.0)}, _build_where, since={"or_equal": 12}),
    "Cast": GraphOp(same, {"to": _req(one_of(*DTYPES, "int64"))}, _build_cast),
    "Dropout": GraphOp(same, {"ratio": (number(0.0, 0.9), 0.5)}, _build_dropout),
    # ---- elementwise, two inputs ----
    "Sub": GraphOp(elementwise, {}, plain("Sub"), binary=True),
    "Max": GraphOp(elementwise, {}, plain("Max"), binary=True),
    "Min": GraphOp(elementwise, {}, plain("Min"), binary=True),
    "Sum": GraphOp(elementwise, {}, plain("Sum"), binary=True),
    "Mean": GraphOp(elementwise, {}, plain("Mean"), binary=True, dtypes=_NO_DOUBLE),
    # ---- along an axis ----
    "LogSoftmax": GraphOp(softmax, {"axis": _req(any_int)}, plain("LogSoftmax", "axis")),
    "LpNormalization": GraphOp(along, {"axis": (any_int, -1), "p": (one_of(2, 1), 2)},
                               plain("LpNormalization", "axis", "p")),
    "CumSum": GraphOp(along, {"axis": _req(any_int), "exclusive": (one_of(0, 1), 0), "reverse": (one_of(0, 1), 0)},
                      _build_cum_sum, dtype_since={"float16": 14}),
    "TopK": GraphOp(top_k, {"axis": (any_int, -1), "k": _req(int_at_least(1)), "largest": (one_of(1, 0), 1)},
                    _build_top_k),
    "ArgMax": GraphOp(arg_reduce, _ARG, arg_reduce_op("ArgMax"), dtypes=_STEPS, since={"select_last_index": 12}),
    "ArgMin": GraphOp(arg_reduce, _ARG, arg_reduce_op("ArgMin"), dtypes=_STEPS, since={"select_last_index": 12}),
    **{op: GraphOp(reduce, _REDUCE, reduce_op(op))
       for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                  "ReduceSumSquare", "ReduceLogSumExp")},
    "ReduceLogSum": GraphOp(reduce, {**_REDUCE, "offset": (positive, 1.0)}, reduce_op("ReduceLogSum", offset=True)),
    # ---- shape plumbing ----
    "DynamicReshape": GraphOp(dynamic_reshape, {"read": _req(int_list()), "shape": _req(int_list(-1))},
                              _build_dynamic_reshape),
    "Expand": GraphOp(expand, {"shape": _req(int_list(1))}, lambda e, p: e.node("Expand", [
        e.ins[0], e.const("shape", p["shape"])])),
    "Tile": GraphOp(tile, {"repeats": _req(int_list(1))}, lambda e, p: e.node("Tile", [
        e.ins[0], e.const("repeats", p["repeats"])])),
    "Split": GraphOp(split, {"axis": (any_int, 0), "split": _req(int_list(1)), "take": (int_at_least(-1), 0),
                             "num_outputs": (boolean, False)}, _build_split, since={"num_outputs": 18}),
    "DepthToSpace": GraphOp(depth_to_space, {"blocksize": _req(int_at_least(1)),
                                             "mode": (one_of("DCR", "CRD"), "DCR")},
                            plain("DepthToSpace", "blocksize", "mode")),
    "SpaceToDepth": GraphOp(space_to_depth, {"blocksize": _req(int_at_least(1))},
                            plain("SpaceToDepth", "blocksize")),
    "Resize": GraphOp(resize, {
        "mode": (one_of("nearest", "linear", "cubic"), "nearest"), "scales": (float_list, None),
        "sizes": (int_list(1), None),
        "coordinate_transformation_mode": (one_of(*_COORDINATES), "half_pixel"),
        "nearest_mode": (one_of("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"), "round_prefer_floor"),
        "antialias": (boolean, False), "axes": (boolean, False)}, _build_resize, dtypes=_NO_DOUBLE,
        since={"antialias": 18, "axes": 18}),
    # ---- with weights ----
    "ConvTranspose": GraphOp(conv_transpose, {
        **_WINDOW, "dilations": (int_list(1), None), "output_padding": (int_list(0), None),
        "out_channels": _req(int_at_least(1)), "group": (int_at_least(1), 1), "bias": (boolean, True)},
        _build_conv_transpose, dtypes=_NO_DOUBLE),
    "LayerNormalization": GraphOp(layer_norm, {"axis": (any_int, -1), "epsilon": (finite, 1e-5),
                                               "bias": (boolean, True)}, _build_layer_norm, dtypes=_NOT_HALF_NORM,
                                  opset=17),
    "InstanceNormalization": GraphOp(nchw(3, 5), {"epsilon": (finite, 1e-5)}, _build_instance_norm,
                                     dtypes=("float32",)),
    "GroupNormalization": GraphOp(group_norm, {"num_groups": _req(int_at_least(1)), "epsilon": (finite, 1e-5)},
                                  _build_group_norm, dtypes=_NOT_HALF_NORM, opset=21),
    "GlobalAveragePool": GraphOp(global_pool, {}, plain("GlobalAveragePool"), dtypes=_NO_DOUBLE),
    "GlobalMaxPool": GraphOp(global_pool, {}, plain("GlobalMaxPool"), dtypes=_NO_DOUBLE),
    "Einsum": GraphOp(einsum, {"equation": _req(text), "units": (int_at_least(1), 1)}, _build_einsum, opset=12),
    "LSTM": GraphOp(recurrent, _RECURRENT, recurrent_op("LSTM"), dtypes=_NO_DOUBLE),
    "GRU": GraphOp(recurrent, {**_RECURRENT, "linear_before_reset": (one_of(0, 1), 0)}, recurrent_op("GRU"),
                   dtypes=_NO_DOUBLE),
}


# ---- the spec ---------------------------------------------------------------------------------------------
def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list | tuple) else value


def _thaw(value: Any) -> Any:
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class NodeSpec:
    """One node: its kind, its parameters and, for Concat, Add and Mul, the index of the earlier tensor it
    also reads (0 is the graph input, k the output of node k)."""

    kind: str
    params: tuple[tuple[str, Value], ...] = ()
    other: int | None = None

    @staticmethod
    def make(kind: str, other: int | None = None, **params: Any) -> NodeSpec:
        return NodeSpec(kind, tuple(sorted((k, _freeze(v)) for k, v in params.items())), other)

    @property
    def p(self) -> dict[str, Value]:
        return dict(self.params)


@dataclass(frozen=True)
class GraphSpec:
    """An ONNX graph: one input of shape (N, *input_shape), nodes in a chain, opset, element type, seed.

    `seed` drives the weights (one generator per node) and the input values."""

    input_shape: tuple[int, ...]
    nodes: tuple[NodeSpec, ...]
    opset: int = 13
    dtype: str = "float32"
    seed: int = 0
    _shapes: tuple[TensorShape, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shapes", _infer(self))

    # ---- shapes -------------------------------------------------------------------------------------
    @property
    def shapes(self) -> tuple[TensorShape, ...]:
        """The shape of every tensor: the input first, then each node's output."""
        return self._shapes

    def output_shape(self, batch: int) -> tuple[int, ...]:
        return self._shapes[-1].at(batch)

    def names(self) -> list[str]:
        """ONNX tensor names: "input", "v1", ..., and "output" for the last node's."""
        return ["input"] + [f"v{k}" for k in range(1, len(self.nodes))] + ["output"] * bool(self.nodes)

    # ---- text forms ---------------------------------------------------------------------------------
    def pretty(self) -> str:
        """One SSA line per tensor, each with its shape (the batch symbolic)."""
        names = self.names()
        lines = [(f"input = Input({self.dtype}, opset={self.opset}, seed={self.seed})", self._shapes[0])]
        for k, node in enumerate(self.nodes, 1):
            args = ", ".join(f"{key}={_thaw(v)!r}" for key, v in node.params)
            ins = names[k - 1] + ("" if node.other is None else f", {names[node.other]}")
            lines.append((f"{names[k]} = {node.kind}({args})({ins})", self._shapes[k]))
        width = max(len(code) for code, _ in lines)
        return "\n".join(f"{code.ljust(width)}   # {_shape_text(s.declared())}" for code, s in lines)

    def to_dict(self) -> dict[str, Any]:
        nodes = [{"kind": n.kind, "params": {k: _thaw(v) for k, v in n.params},
                  **({} if n.other is None else {"other": n.other})} for n in self.nodes]
        return {"schema": GRAPH_SCHEMA_VERSION, "input_shape": list(self.input_shape), "nodes": nodes,
                "opset": self.opset, "dtype": self.dtype, "seed": self.seed}

    def to_json(self) -> str:
        """JSON with one node per line (stable key order, so equal specs give equal text)."""
        data = self.to_dict()
        rows = ",\n    ".join(json.dumps(n, sort_keys=True) for n in data.pop("nodes"))
        head = ",\n".join(f'  "{k}": {json.dumps(v)}' for k, v in sorted(data.items()))
        return "{\n" + head + (f',\n  "nodes": [\n    {rows}\n  ]' if rows else ',\n  "nodes": []') + "\n}\n"

    @staticmethod
    def from_json(text: str) -> GraphSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError("graph", f"not JSON ({e})") from None
        return GraphSpec.from_dict(data)

    @staticmethod
    def from_dict(data: Any) -> GraphSpec:
        return _parse(data)

    # ---- ONNX ---------------------------------------------------------------------------------------
    def to_onnx(self) -> onnx.ModelProto:
        """The graph as ONNX: input "input", output "output", batch dim "N", the lowest IR version for the
        opset, weights from the seed (the same on every call)."""
        from onnx import helper

        elem = helper.np_dtype_to_tensor_dtype(np.dtype(self.dtype))
        names, nodes, inits = self.names(), [], []
        for k, node in enumerate(self.nodes, 1):
            entry = GRAPH_OPS[node.kind]
            others = () if node.other is None else (node.other,)
            emit = Emit(names[k], tuple(names[i] for i in (k - 1, *others)),
                        tuple(self._shapes[i] for i in (k - 1, *others)), self.opset, np.dtype(self.dtype),
                        np.random.default_rng([self.seed, k]))
            entry.build(emit, entry.check_params(node.p, self.opset, f"nodes[{k - 1}].params"))
            nodes += emit.nodes
            inits += emit.inits
        if not nodes:
            nodes.append(helper.make_node("Identity", ["input"], ["output"], name="output"))
        graph = helper.make_graph(
            nodes, "roundtrip",
            [helper.make_tensor_value_info("input", elem, ("N", *self.input_shape))],
            [helper.make_tensor_value_info("output", elem, self._shapes[-1].declared())],
            initializer=inits,
        )
        opsets = [helper.make_opsetid("", self.opset)]
        return helper.make_model(graph, opset_imports=opsets, producer_name="roundtrip",
                                 ir_version=helper.find_min_ir_version_for(opsets))

    def make_inputs(self, batch: int) -> list[np.ndarray]:
        """The one input array, `(batch, *input_shape)`: standard normal values from the seed and the batch."""
        if not _is_int(batch) or batch < 1:
            raise ValueError(f"batch={batch!r} must be an int >= 1")
        rng = np.random.default_rng([self.seed, 0, batch, *self.input_shape])
        return [rng.standard_normal((batch, *self.input_shape)).astype(self.dtype)]


def _shape_text(dims: tuple[int | str, ...]) -> str:
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(map(str, dims))})"


def _infer(spec: GraphSpec) -> tuple[TensorShape, ...]:
    if not isinstance(spec.opset, int) or spec.opset not in OPSETS:
        raise SpecError("opset", f"want one of {list(OPSETS)}, got {spec.opset!r}")
    if not _is_int(spec.seed) or not 0 <= spec.seed < 2**64:
        raise SpecError("seed", f"want an integer in [0, 2**64), got {spec.seed!r}")
    if spec.dtype not in DTYPES:
        raise SpecError("dtype", f"want one of {list(DTYPES)}, got {spec.dtype!r}")
    shape = spec.input_shape
    if not 1 <= len(shape) <= 4 or any(not _is_int(d) or d < 1 for d in shape):
        raise SpecError("input_shape", f"want 1 to 4 positive integers, got {shown(shape)}")
    shapes = [TensorShape((1, *shape), 0)]
    for k, node in enumerate(spec.nodes):
        where = f"nodes[{k}]"
        entry = GRAPH_OPS.get(node.kind)
        if entry is None:
            raise SpecError(f"{where}.kind", f"unknown op {node.kind!r}")
        if spec.opset < entry.opset:
            raise SpecError(f"{where}.kind", f"{node.kind} needs opset >= {entry.opset}, the graph has {spec.opset}")
        if spec.opset < entry.dtype_since.get(spec.dtype, 0):
            raise SpecError(f"{where}.kind", f"{node.kind} takes {spec.dtype} from opset "
                                             f"{entry.dtype_since[spec.dtype]}, the graph has {spec.opset}")
        if spec.dtype not in entry.dtypes:
            raise SpecError(f"{where}.kind", f"{node.kind} takes {list(entry.dtypes)}, the graph is {spec.dtype}")
        if entry.binary != (node.other is not None):
            raise SpecError(f"{where}.other", f"{node.kind} {'needs' if entry.binary else 'takes no'} other input")
        if node.other is not None and not (_is_int(node.other) and 0 <= node.other <= k):
            raise SpecError(f"{where}.other", f"want a tensor index in 0..{k}, got {node.other!r}")
        params = entry.check_params(node.p, spec.opset, f"{where}.params")
        ins = [shapes[k]] + ([] if node.other is None else [shapes[node.other]])
        try:
            shapes.append(entry.shape(params, ins))
        except ShapeError as e:
            raise SpecError(where, f"{node.kind} is invalid on {[x.declared() for x in ins]}: {e}") from None
    return tuple(shapes)


def _parse(data: Any) -> GraphSpec:
    obj = _want(data, dict, "graph")
    if obj.get("schema") != GRAPH_SCHEMA_VERSION:
        raise SpecError("schema", f"unsupported schema version {obj.get('schema')!r} "
                                  f"(this build reads {GRAPH_SCHEMA_VERSION})")
    _no_extra(obj, {"schema", "input_shape", "nodes", "opset", "dtype", "seed"}, "graph")
    shape = _want(obj.get("input_shape"), list, "input_shape")
    for j, d in enumerate(shape):
        _want(d, int, f"input_shape[{j}]")
    nodes = []
    for k, raw in enumerate(_want(obj.get("nodes"), list, "nodes")):
        where = f"nodes[{k}]"
        item = _want(raw, dict, where)
        _no_extra(item, {"kind", "params", "other"}, where)
        other = item.get("other")
        nodes.append(NodeSpec.make(_want(item.get("kind"), str, f"{where}.kind"),
                                   None if other is None else _want(other, int, f"{where}.other"),
                                   **_want(item.get("params", {}), dict, f"{where}.params")))
    return GraphSpec(tuple(shape), tuple(nodes), _want(obj.get("opset", 13), int, "opset"),
                     _want(obj.get("dtype", "float32"), str, "dtype"), _want(obj.get("seed", 0), int, "seed"))


def _want(value: Any, kind: type, path: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(path, f"want {kind.__name__}, got {value!r}")
    return value


def _no_extra(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise SpecError(f"{path}.{extra[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
