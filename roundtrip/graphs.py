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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from roundtrip.layers import REQUIRED, Check, boolean, int_at_least, one_of
from roundtrip.values import ShapeError, SpecError, shown

if TYPE_CHECKING:
    import onnx

GRAPH_SCHEMA_VERSION = 1
OPSETS = tuple(range(11, 19))
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
    x = xs[0]
    if x.rank < 2:
        raise ShapeError(f"needs rank >= 2, got {x.rank}")
    _static(x, [x.rank - 1], "MatMul's inner dim")
    return TensorShape(x.dims[:-1] + (p["units"],), x.batch)


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
        from onnx import numpy_helper

        name = f"{self.out}_{suffix}"
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def weight(self, suffix: str, shape: tuple[int, ...], scale: float = 1.0, low: float | None = None) -> str:
        values = self.rng.uniform(low, 1.5, shape) if low is not None else self.rng.standard_normal(shape) * scale
        return self.const(suffix, values, self.dtype)

    def node(self, op: str, inputs: Sequence[str], **attrs: Any) -> None:
        from onnx import helper

        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()}
        self.nodes.append(helper.make_node(op, list(inputs), [self.out], name=self.out, **attrs))

    def axes(self, op: str, inputs: list[str], axes: tuple[int, ...]) -> None:
        """Squeeze and Unsqueeze: `axes` an attribute before opset 13, an input from 13."""
        if self.opset >= 13:
            self.node(op, [*inputs, self.const("axes", axes)])
        else:
            self.node(op, inputs, axes=axes)


Build = Callable[[Emit, Params], None]


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
    k = e.shapes[0].dims[-1]
    e.node("MatMul", [e.ins[0], e.weight("B", (k, p["units"]), 1 / math.sqrt(k))])


# ---- the table --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphOp:
    """A node kind: its parameters (name -> check and default), shape function, builder, whether it reads an
    earlier tensor too, the element types ORT's CPU kernels take, and parameters that need a newer opset."""

    shape: Callable[[Params, Sequence[TensorShape]], TensorShape]
    params: dict[str, tuple[Check, Any]]
    build: Build
    binary: bool = False
    dtypes: tuple[str, ...] = DTYPES
    since: dict[str, int] = field(default_factory=dict)

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
_NO_DOUBLE = ("float32", "float16")  # ORT 1.31's CPU Conv and AveragePool have no float64 kernel

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
    "MatMul": GraphOp(matmul, {"units": _req(int_at_least(1))}, _build_matmul),
    "Relu": GraphOp(same, {}, plain("Relu")),
    "Sigmoid": GraphOp(same, {}, plain("Sigmoid")),
    "Softmax": GraphOp(softmax, {"axis": _req(any_int)}, plain("Softmax", "axis")),
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
