"""`onnx_graphs`: a strategy of GraphSpec (ONNX graphs as exporters write them), valid by construction.

One entry per node kind of `roundtrip.graphs.GRAPH_OPS`: when it applies to the current tensor, and how its
parameters are drawn to fit that tensor's shape (never filtered).  The batch axis is symbolic, so no entry
slices, pads or convolves along it; Gather across it takes only the first or last item.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from roundtrip.graphs import DTYPES, GRAPH_OPS, INT64_MAX, OPSETS, GraphSpec, NodeSpec, TensorShape, window_out
from strategies.layers import Draw, upto

SEEDS = st.integers(0, 2**32 - 1)
SKIP, STOP = "skip", "stop"
MAX_RANK = 6


@dataclass(frozen=True)
class Options:
    min_nodes: int
    max_nodes: int
    ops: tuple[str, ...]
    opsets: tuple[int, ...]
    dtypes: tuple[str, ...]
    input_ranks: tuple[int, ...]
    max_elements: int
    max_dim: int


def onnx_graphs(
    *,
    min_nodes: int = 1,
    max_nodes: int = 6,
    ops: Sequence[str] | None = None,
    opsets: Sequence[int] = OPSETS,
    dtypes: Sequence[str] = DTYPES,
    input_ranks: Sequence[int] = (2, 3, 4, 5),
    max_elements: int = 1024,
    max_dim: int = 8,
) -> st.SearchStrategy[GraphSpec]:
    """Specs of ONNX graphs: one input (batch "N" first), a chain of nodes, an opset, an element type.

    - min_nodes, max_nodes: how many nodes (1 <= min_nodes <= max_nodes).
    - ops: the kinds to draw from (default: all of `GRAPH_OPS`).  A kind that fits no tensor of a drawn graph
      is not used; where none fits (or none runs on the drawn dtype), a Relu is drawn instead.
    - opsets: the opsets to draw from (a subset of 11..18).
    - dtypes: element types, the first drawn most often (8 times in 10 with the default three).
    - input_ranks: ranks of the input, the batch axis included (2..5).
    - max_elements: the most elements any tensor has at batch 1.
    - max_dim: the largest dim of the input (its channel axis, axis 1 of rank >= 3, at most 4).

    Examples shrink towards fewer nodes (a zeroed step is deleted, even from the middle), smaller input
    ranks and dims, each node's simplest parameters (no pads, stride and dilation 1, one sliced axis, full
    ranges), opset 13 (or the first given), the first dtype and seed 0.
    """
    kinds = tuple(GRAPH_OPS) if ops is None else tuple(ops)
    _check(isinstance(min_nodes, int) and min_nodes >= 1, f"min_nodes={min_nodes!r} must be an int >= 1")
    _check(isinstance(max_nodes, int) and max_nodes >= min_nodes,
           f"max_nodes={max_nodes!r} must be an int >= min_nodes={min_nodes!r}")
    _check(bool(kinds) and all(k in GRAPH_OPS for k in kinds),
           f"ops={list(kinds)!r} must be a non-empty subset of {sorted(GRAPH_OPS)}")
    _check(bool(opsets) and all(o in OPSETS for o in opsets), f"opsets={opsets!r} must be a non-empty subset of 11..18")
    _check(bool(dtypes) and len(set(dtypes)) == len(dtypes) and all(d in DTYPES for d in dtypes),
           f"dtypes={dtypes!r} must be distinct names from {list(DTYPES)}")
    _check(bool(input_ranks) and all(r in (2, 3, 4, 5) for r in input_ranks),
           f"input_ranks={input_ranks!r} must be a non-empty subset of (2, 3, 4, 5)")
    _check(isinstance(max_dim, int) and max_dim >= 1, f"max_dim={max_dim!r} must be an int >= 1")
    low = 2 ** (max(input_ranks) - 1)
    _check(isinstance(max_elements, int) and max_elements >= low,
           f"max_elements={max_elements!r} must be an int >= {low} for input_ranks={input_ranks!r}")
    order = [k for k in GRAPH_STRATEGIES if k in kinds]  # simplest kinds first: what a kind shrinks to
    return _graphs(Options(min_nodes, max_nodes, tuple(order), tuple(opsets), tuple(dtypes), tuple(input_ranks),
                           max_elements, max_dim))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidArgument(message)


@st.composite
def _graphs(draw: Draw, options: Options) -> GraphSpec:
    opsets = sorted(options.opsets, key=lambda o: o != 13) if 13 in options.opsets else list(options.opsets)
    opset = draw(st.sampled_from(opsets))
    dtype = draw(st.sampled_from([options.dtypes[0]] * 7 + list(options.dtypes)))
    shape = _draw_shape(draw, options)
    pool = [TensorShape((1, *shape), 0)]
    nodes: list[NodeSpec] = []
    steps = 2 * options.max_nodes
    for step in range(steps):
        must = options.min_nodes - len(nodes) >= steps - step  # every step left must add a node
        node = draw(_steps(options, Site(tuple(pool), options.max_elements, opset), dtype, must,
                           len(nodes) >= options.min_nodes, len(nodes) == options.max_nodes))
        if node is STOP:
            break
        if isinstance(node, NodeSpec):
            nodes.append(node)
            pool.append(_shape_of(node, pool, opset))
    return GraphSpec(shape, tuple(nodes), opset, dtype, draw(SEEDS))


def _draw_shape(draw: Draw, options: Options) -> tuple[int, ...]:
    """The rank, then dims for the largest rank (so lowering the rank misaligns no later draw), of which the
    first rank - 1 are kept.  Dim 0 is the channel axis of NCHW inputs."""
    rank = draw(st.sampled_from(sorted(options.input_ranks))) - 1
    most = max(options.input_ranks) - 1
    dims: list[int] = []
    for axis in range(most):
        high = 4 if axis == 0 and most >= 2 else options.max_dim
        dims.append(upto(draw, 1, min(high, options.max_elements // math.prod(dims) // 2 ** (most - axis - 1))))
    return tuple(dims[:rank])


@st.composite
def _steps(draw: Draw, options: Options, site: Site, dtype: str, must: bool, may_stop: bool, full: bool,
           ) -> NodeSpec | str:
    """One step: a node, SKIP or STOP.  A step whose draws are all zero is SKIP, so the shrinker's pass that
    zeroes a span deletes a node from the middle of a graph; lowering a step's flag to 1 cuts the graph there.
    Once the graph is `full` a step is only SKIP or STOP, but it still draws its flag: a graph never ends by
    running out of room, so deleting a node never leaves the next draws short."""
    flag = draw(st.integers(0, 7))
    if full or (not must and flag == 0):
        return STOP if flag == 1 else SKIP
    if not must and flag == 1 and may_stop:
        return STOP
    # The kind is drawn from a list fixed per strategy (so a smaller input shrinks without re-indexing every
    # later kind); a kind that does not fit gives way to the next one that does.
    kinds = list(options.ops) + [k for k in options.ops if k in FOCUS for _ in range(2)]
    start = draw(st.integers(0, len(kinds) - 1))
    fits = [k for k in kinds[start:] + kinds[:start] if dtype in GRAPH_OPS[k].dtypes
            and GRAPH_STRATEGIES[k].applies(site)]
    kind = fits[0] if fits else "Relu"
    params, other = GRAPH_STRATEGIES[kind].draw(draw, site)
    return NodeSpec.make(kind, other, **params)


def _shape_of(node: NodeSpec, pool: list[TensorShape], opset: int) -> TensorShape:
    entry = GRAPH_OPS[node.kind]
    ins = [pool[-1]] + ([] if node.other is None else [pool[node.other]])
    return entry.shape(entry.check_params(node.p, opset, node.kind), ins)


# ---- sites and entries ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    """Where a node goes: every tensor so far (it reads the last), the element budget and the opset."""

    pool: tuple[TensorShape, ...]
    max_elements: int
    opset: int

    @property
    def x(self) -> TensorShape:
        return self.pool[-1]

    def static_axes(self) -> list[int]:
        return [a for a in range(self.x.rank) if self.x.static(a)]


Params = dict[str, Any]
Drawn = tuple[Params, int | None]


@dataclass(frozen=True)
class Entry:
    applies: Callable[[Site], bool]
    draw: Callable[[Draw, Site], Drawn]  # params, index of the other input


def unary(applies: Callable[[Site], bool]) -> Callable[[Callable[[Draw, Site], Params]], Entry]:
    def wrap(fn: Callable[[Draw, Site], Params]) -> Entry:
        return Entry(applies, lambda draw, site: (fn(draw, site), None))
    return wrap


def always(site: Site) -> bool:
    return True


def form(draw: Draw, axis: int, rank: int) -> int:
    """An axis as exporters write it: non-negative, or (drawn) counted from the end."""
    return axis - rank if draw(st.booleans()) else axis


def subset(draw: Draw, axes: list[int], most: int) -> list[int]:
    """1 to `most` of `axes`, shrinking to the first one."""
    return sorted(draw(st.permutations(axes))[:upto(draw, 1, min(most, len(axes)))])


def divisors(n: int, cap: int = 16) -> list[int]:
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


@unary(always)
def nothing(draw: Draw, site: Site) -> Params:
    return {}


@unary(always)
def softmax(draw: Draw, site: Site) -> Params:
    return {"axis": form(draw, draw(st.sampled_from(range(site.x.rank)[::-1])), site.x.rank)}


@unary(always)
def flatten(draw: Draw, site: Site) -> Params:
    r = site.x.rank
    axis = draw(st.sampled_from(sorted(range(r + 1), key=lambda a: a != 1)))
    return {"axis": form(draw, axis, r) if axis < r else axis}


@unary(always)
def reshape(draw: Draw, site: Site) -> Params:
    """A factorisation of the elements into 1 to 4 dims; the batch lands in a -1 (or is copied by a 0 at its
    own axis), and static dims are sometimes copied with 0 too."""
    x, rank = site.x, upto(draw, 1, 4)
    left, dims = x.size, []
    for _ in range(rank - 1):
        dims.append(draw(st.sampled_from(divisors(left))))
        left //= dims[-1]
    dims.append(left)
    target = list(dims)
    if x.batch is not None:
        j = upto(draw, 0, rank - 1)
        copy = j == x.batch and dims[j] == x.dims[j] and draw(st.booleans())
        target[j] = 0 if copy else -1
        if copy and rank > 1 and draw(st.booleans()):
            target[draw(st.sampled_from([i for i in range(rank) if i != j]))] = -1
    elif draw(st.booleans()):
        target[upto(draw, 0, rank - 1)] = -1
    for i in range(min(rank, x.rank)):
        if i != x.batch and target[i] == x.dims[i] and draw(st.booleans()):
            target[i] = 0
    return {"shape": tuple(target)}


@unary(lambda s: bool(s.static_axes()))
def slice_(draw: Draw, site: Site) -> Params:
    """Cropping of 1 to 3 static axes: ends past the dim written as INT64_MAX, negative starts and ends,
    steps of 2, and reversal (step -1 down to -INT64_MAX), as PyTorch exports `x[..., a:b:c]` and flips."""
    x, rows = site.x, []
    for a in subset(draw, site.static_axes(), 3):
        d, step = x.dims[a], draw(st.sampled_from([1, 2, -1]))
        if step > 0:  # s < e <= d; shrinks to the whole axis
            s = upto(draw, 0, d - 1)
            e = d - upto(draw, 0, d - 1 - s)
            end = draw(st.sampled_from([d, INT64_MAX])) if e == d else e - d * draw(st.booleans())
        else:  # d > s > e >= -1; shrinks to the whole axis reversed
            s = d - 1 - upto(draw, 0, d - 1)
            e = upto(draw, -1, s - 1)
            end = draw(st.sampled_from([-INT64_MAX, -d - 1])) if e == -1 else e - d * draw(st.booleans())
        rows.append((s - d * draw(st.booleans()), end, form(draw, a, x.rank), step))
    return {key: tuple(row[i] for row in rows) for i, key in enumerate(("starts", "ends", "axes", "steps"))}


@unary(lambda s: s.x.rank >= 2)
def transpose(draw: Draw, site: Site) -> Params:
    return {"perm": tuple(draw(st.permutations(range(site.x.rank))))}


def _ones(site: Site) -> list[int]:
    return [a for a in site.static_axes() if site.x.dims[a] == 1]


@unary(lambda s: bool(_ones(s)) and (s.x.batch is not None or s.x.rank > 1))
def squeeze(draw: Draw, site: Site) -> Params:
    most = len(_ones(site)) - (site.x.batch is None and len(_ones(site)) == site.x.rank)
    return {"axes": tuple(form(draw, a, site.x.rank) for a in subset(draw, _ones(site), most))}


@unary(lambda s: s.x.rank < MAX_RANK)
def unsqueeze(draw: Draw, site: Site) -> Params:
    rank = site.x.rank + upto(draw, 1, min(2, MAX_RANK - site.x.rank))
    axes = sorted(draw(st.permutations(range(rank)))[:rank - site.x.rank])
    return {"axes": tuple(form(draw, a, rank) for a in axes)}


@unary(always)
def gather(draw: Draw, site: Site) -> Params:
    """Gather along any axis: a scalar index drops the axis, a vector keeps it; across the batch only the
    first and last items (0 and -1) exist for every N."""
    x = site.x
    axis = draw(st.sampled_from(range(x.rank)))
    d = x.dims[axis]
    values = st.sampled_from([0, -1]) if axis == x.batch else st.integers(-d, d - 1)
    if x.rank >= 2 and not draw(st.booleans()):
        indices: int | tuple[int, ...] = draw(values)
    else:
        most = site.max_elements // (x.size // d)
        indices = tuple(draw(values) for _ in range(upto(draw, 1, min(3, most))))
    return {"axis": form(draw, axis, x.rank), "indices": indices}


@unary(lambda s: bool(s.static_axes()))
def pad(draw: Draw, site: Site) -> Params:
    """Constant, reflect or edge padding of static axes; from opset 18 sometimes with an `axes` input."""
    x = site.x
    mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
    with_axes = site.opset >= 18 and draw(st.booleans())
    axes = subset(draw, site.static_axes(), x.rank) if with_axes else list(range(x.rank))
    lo, hi, dims = [], [], list(x.dims)
    for a in axes:
        room = site.max_elements // (math.prod(dims) // dims[a]) - dims[a] if x.static(a) else 0
        cap = min(2, room, x.dims[a] - 1 if mode == "reflect" else 2)
        lo.append(upto(draw, 0, cap))
        hi.append(upto(draw, 0, min(cap, room - lo[-1])))
        dims[a] += lo[-1] + hi[-1]
    params: Params = {"pads": tuple(lo + hi), "mode": mode}
    value = draw(st.sampled_from([0.0, 1.0, -0.5])) if mode == "constant" else 0.0
    if value:
        params["value"] = value
    if with_axes:
        params["axes"] = tuple(form(draw, a, x.rank) for a in axes)
    return params


def _fits(kind: str, params: Params, site: Site) -> bool:
    entry = GRAPH_OPS[kind]
    return entry.shape(entry.check_params(params, site.opset, kind), [site.x]).size <= site.max_elements


def _nchw(low: int, high: int) -> Callable[[Site], bool]:
    return lambda s: low <= s.x.rank <= high and all(s.x.static(a) for a in range(1, s.x.rank))


def _window(draw: Draw, site: Site, kind: str) -> Params:
    """Kernel, strides, pads (and dilations) for every spatial axis: kernels fit the unpadded dim; pool pads
    stay below the kernel; pads fall back to 0 where the output would exceed the budget."""
    x, n = site.x, site.x.rank - 2
    dil = tuple(upto(draw, 1, 2) if kind != "AveragePool" else 1 for _ in range(n))
    strides = tuple(upto(draw, 1, 2) for _ in range(n))
    kernel = tuple(upto(draw, 1, min(3, (x.dims[2 + i] - 1) // dil[i] + 1)) for i in range(n))
    cap = [2 if kind == "Conv" else kernel[i % n] - 1 for i in range(2 * n)]
    pads = tuple(upto(draw, 0, min(2, c)) for c in cap)
    out = [window_out(x.dims[2 + i], kernel[i], strides[i], pads[i], pads[n + i], dil[i]) for i in range(n)]
    if math.prod(out) * x.dims[0] * x.dims[1] > site.max_elements:
        pads = (0,) * 2 * n
    params: Params = {"kernel_shape": kernel, "strides": strides, "pads": pads}
    if kind != "AveragePool":
        params["dilations"] = dil
    return params


def _ceil_agrees(x: TensorShape, p: Params) -> bool:
    """ONNX shape inference (1.23) counts a ceil-mode window that starts in the end padding; ORT, the
    reference evaluator and PyTorch drop it.  Ceil mode is drawn only where they agree."""
    n, k, s, pads = x.rank - 2, p["kernel_shape"], p["strides"], p["pads"]
    dil = p.get("dilations", (1,) * n)
    for i in range(n):
        room = x.dims[2 + i] + pads[i] + pads[n + i] - dil[i] * (k[i] - 1) - 1
        if (-(-room // s[i])) * s[i] >= x.dims[2 + i] + pads[i]:
            return False
    return True


@unary(_nchw(3, 4))
def conv(draw: Draw, site: Site) -> Params:
    x = site.x
    params = _window(draw, site, "Conv")
    n = x.rank - 2
    per = x.dims[0] * math.prod(window_out(x.dims[2 + i], params["kernel_shape"][i], params["strides"][i],
                                           params["pads"][i], params["pads"][n + i], params["dilations"][i])
                                for i in range(n))
    group = draw(st.sampled_from([g for g in divisors(x.dims[1]) if g * per <= site.max_elements] or [1]))
    params["out_channels"] = group * upto(draw, 1, min(4, site.max_elements // (per * group)))
    if group > 1:
        params["group"] = group
    if draw(st.booleans()):
        params["bias"] = False
    return params


def pool(kind: str) -> Entry:
    @unary(_nchw(3, 5))
    def entry(draw: Draw, site: Site) -> Params:
        params = _window(draw, site, kind)
        if draw(st.booleans()) and _ceil_agrees(site.x, params) and _fits(kind, {**params, "ceil_mode": 1}, site):
            params["ceil_mode"] = 1
        if kind == "AveragePool" and draw(st.booleans()):
            params["count_include_pad"] = 1
        return params
    return entry


@unary(_nchw(2, MAX_RANK))
def batch_norm(draw: Draw, site: Site) -> Params:
    epsilon = draw(st.sampled_from([1e-5, 1e-3]))
    return {"epsilon": epsilon} if epsilon != 1e-5 else {}


def _partners(site: Site, fits: Callable[[TensorShape], bool]) -> list[int]:
    """Indices of tensors that can join the current one, itself first (so merges shrink to x with x)."""
    return [i for i in range(len(site.pool) - 1, -1, -1) if fits(site.pool[i])]


def _concat_fits(site: Site, axis: int) -> Callable[[TensorShape], bool]:
    x = site.x

    def fits(y: TensorShape) -> bool:
        if y.rank != x.rank or y.batch != x.batch or x.size + y.size > site.max_elements:
            return False
        return all(x.dims[i] == y.dims[i] for i in range(x.rank) if i != axis)
    return fits


def _concat_axes(site: Site) -> list[int]:
    return [a for a in range(site.x.rank) if _partners(site, _concat_fits(site, a))]


def _concat(draw: Draw, site: Site) -> Drawn:
    axis = draw(st.sampled_from(_concat_axes(site)[::-1]))
    return {"axis": form(draw, axis, site.x.rank)}, draw(st.sampled_from(_partners(site, _concat_fits(site, axis))))


def _same(site: Site) -> list[int]:
    return _partners(site, lambda y: y == site.x)


def _elementwise(draw: Draw, site: Site) -> Drawn:
    return {}, draw(st.sampled_from(_same(site)))


def _inner(site: Site) -> list[bool]:
    """Gemm's transA values whose inner dim is static."""
    return [t for t in (False, True) if site.x.rank == 2 and site.x.static(0 if t else 1)]


@unary(lambda s: bool(_inner(s)))
def gemm(draw: Draw, site: Site) -> Params:
    trans_a = draw(st.sampled_from(_inner(site)))
    rows = site.x.dims[1 if trans_a else 0]
    params: Params = {"units": upto(draw, 1, min(8, site.max_elements // rows))}
    for key, value in (("transA", trans_a), ("transB", draw(st.booleans())), ("bias", not draw(st.booleans()))):
        if value != GRAPH_OPS["Gemm"].params[key][1]:
            params[key] = value
    return params


@unary(lambda s: s.x.rank >= 2 and s.x.static(s.x.rank - 1))
def matmul(draw: Draw, site: Site) -> Params:
    return {"units": upto(draw, 1, min(8, site.max_elements // (site.x.size // site.x.dims[-1])))}


# Simplest kinds first: a node's kind shrinks towards the front of this table.
GRAPH_STRATEGIES: dict[str, Entry] = {
    "Relu": nothing,
    "Sigmoid": nothing,
    "Softmax": softmax,
    "Flatten": flatten,
    "Reshape": reshape,
    "Slice": slice_,
    "Transpose": transpose,
    "Squeeze": squeeze,
    "Unsqueeze": unsqueeze,
    "Gather": gather,
    "Pad": pad,
    "Concat": Entry(lambda s: bool(_concat_axes(s)), _concat),
    "Add": Entry(lambda s: bool(_same(s)), _elementwise),
    "Mul": Entry(lambda s: bool(_same(s)), _elementwise),
    "BatchNormalization": batch_norm,
    "MatMul": matmul,
    "Gemm": gemm,
    "MaxPool": pool("MaxPool"),
    "AveragePool": pool("AveragePool"),
    "Conv": conv,
}

# The kinds the suite exists for (shape plumbing): drawn 3 times as often as the rest where they fit.
FOCUS = ("Flatten", "Reshape", "Slice")

assert set(GRAPH_STRATEGIES) == set(GRAPH_OPS), set(GRAPH_STRATEGIES) ^ set(GRAPH_OPS)
