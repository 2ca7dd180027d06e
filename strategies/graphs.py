"""`onnx_graphs`: a strategy of GraphSpec (ONNX graphs as exporters write them), valid by construction.

One entry per node kind of `roundtrip.spec.graph.GRAPH_OPS`: when it applies to the current tensor, how its
parameters are drawn to fit that tensor's shape (never filtered), and a bound on its output's magnitude.  The
batch axis is symbolic, so no entry slices, pads or convolves along it; Gather across it takes only the first
or last item.  Values stay finite by construction: ops defined on positive values take |x| + offset (see
`Emit.positive`), divisors are constants away from 0, and ops that could outgrow the element type (Exp, Pow,
Mul, sums and products of many values) apply only where the bound says they fit (see `Entry`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from roundtrip.spec.graph import (
    DTYPES,
    GRAPH_OPS,
    INT64_MAX,
    OPSETS,
    GraphOp,
    GraphSpec,
    NodeSpec,
    TensorShape,
    even_split,
    window_out,
)
from strategies.layers import Draw, upto

SEEDS = st.integers(0, 2**32 - 1)
SKIP, STOP = "skip", "stop"
MAX_RANK = 6
INPUT_BOUND = 5.0  # standard normal inputs: |x| > 5 once in ~2 million values
# The largest magnitude a tensor may reach: a tenth of float16's largest value (65504), and far below
# float32's and float64's (where an op's intermediate, a square or an exp, must fit too).
LIMITS = {"float16": 6e3, "float32": 1e15, "float64": 1e15}


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
      is not used; where none fits (or none runs on the drawn dtype and opset), a Relu is drawn instead.
    - opsets: the opsets to draw from (a subset of OPSETS); a kind is drawn only at opsets that define it.
    - dtypes: element types, the first drawn most often (8 times in 10 with the default three).
    - input_ranks: ranks of the input, the batch axis included (2..5).
    - max_elements: the most elements any tensor has at batch 1.
    - max_dim: the largest dim of the input (its channel axis, axis 1 of rank >= 3, at most 4).

    Examples shrink towards fewer nodes (a zeroed step is deleted, even from the middle), smaller input
    ranks and dims, kinds nearer the front of GRAPH_STRATEGIES (elementwise ops first, recurrent ones last),
    each node's simplest parameters (no pads, stride and dilation 1, one sliced or reduced axis, full ranges,
    defaults left out), opset 13 (or the first given that defines the kinds), the first dtype and seed 0.
    """
    kinds = tuple(GRAPH_OPS) if ops is None else tuple(ops)
    _check(isinstance(min_nodes, int) and min_nodes >= 1, f"min_nodes={min_nodes!r} must be an int >= 1")
    _check(isinstance(max_nodes, int) and max_nodes >= min_nodes,
           f"max_nodes={max_nodes!r} must be an int >= min_nodes={min_nodes!r}")
    _check(bool(kinds) and all(k in GRAPH_OPS for k in kinds),
           f"ops={list(kinds)!r} must be a non-empty subset of {sorted(GRAPH_OPS)}")
    _check(bool(opsets) and all(o in OPSETS for o in opsets),
           f"opsets={opsets!r} must be a non-empty subset of {OPSETS[0]}..{OPSETS[-1]}")
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
    pool, bounds = [TensorShape((1, *shape), 0)], [INPUT_BOUND]
    nodes: list[NodeSpec] = []
    steps = 2 * options.max_nodes
    for step in range(steps):
        must = options.min_nodes - len(nodes) >= steps - step  # every step left must add a node
        site = Site(tuple(pool), tuple(bounds), options.max_elements, opset, dtype, tuple(nodes))
        node = draw(_steps(options, site, must, len(nodes) >= options.min_nodes, len(nodes) == options.max_nodes))
        if node is STOP:
            break
        if isinstance(node, NodeSpec):
            nodes.append(node)
            pool.append(_shape_of(node, pool, opset))
            bounds.append(GRAPH_STRATEGIES[node.kind].bound(site, node.p, node.other))
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
def _steps(draw: Draw, options: Options, site: Site, must: bool, may_stop: bool, full: bool) -> NodeSpec | str:
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
    fits = [k for k in kinds[start:] + kinds[:start] if _defined(GRAPH_OPS[k], site)
            and GRAPH_STRATEGIES[k].applies(site)]
    kind = fits[0] if fits else "Relu"
    params, other = GRAPH_STRATEGIES[kind].draw(draw, site)
    return NodeSpec.make(kind, other, **params)


# Kinds whose value jumps (a step): after one, values sit on a grid, and a later op that is not exact (an
# Exp, a LogSoftmax) leaves equal values a rounding apart, which differs between ORT and any other
# implementation; a second step then jumps on some of them (an ArgMax picks another of the tied values, a
# Floor of 3 +- 1 ulp gives 2 or 3).  So a graph has one step at most.
STEPS = ("Floor", "Ceil", "Round", "Sign", "ArgMax", "ArgMin")


# Kinds whose builder writes a Transpose.
TRANSPOSING = ("Transpose", "LSTM", "GRU")


def _is_step(node: NodeSpec) -> bool:
    return node.kind in STEPS or (node.kind == "Cast" and node.p["to"] == "int64")


def _defined(op: GraphOp, site: Site) -> bool:
    """Whether the op exists at the site's opset and takes its element type there (in ORT too)."""
    return site.dtype in op.dtypes and site.opset >= max(op.opset, op.dtype_since.get(site.dtype, 0))


def _shape_of(node: NodeSpec, pool: list[TensorShape], opset: int) -> TensorShape:
    entry = GRAPH_OPS[node.kind]
    ins = [pool[-1]] + ([] if node.other is None else [pool[node.other]])
    return entry.shape(entry.check_params(node.p, opset, node.kind), ins)


# ---- sites and entries ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    """Where a node goes: every tensor so far (it reads the last) and a bound on its values (see `Entry`), the
    element budget, the opset, the element type and the nodes so far."""

    pool: tuple[TensorShape, ...]
    bounds: tuple[float, ...]
    max_elements: int
    opset: int
    dtype: str
    nodes: tuple[NodeSpec, ...] = ()  # the nodes so far

    @property
    def stepped(self) -> bool:
        """Whether a node so far is a step (see STEPS)."""
        return any(_is_step(node) for node in self.nodes)

    @property
    def transposed(self) -> bool:
        """Whether a node so far writes a Transpose (see pad)."""
        return any(node.kind in TRANSPOSING for node in self.nodes)

    @property
    def padded_by_axes(self) -> bool:
        """Whether a node so far is a Pad with an `axes` input (see pad)."""
        return any(node.kind == "Pad" and "axes" in node.p for node in self.nodes)

    @property
    def x(self) -> TensorShape:
        return self.pool[-1]

    @property
    def b(self) -> float:
        return self.bounds[-1]

    def fits(self, value: float) -> bool:
        """Whether a value this large is safe in the graph's element type (see LIMITS)."""
        return value <= LIMITS[self.dtype]

    def squares_fit(self, count: int) -> bool:
        """Whether an op summing `count` squares of (x - mean) stays finite: the reference evaluator sums
        them in the graph's element type."""
        return count * (2 * self.b) ** 2 <= 10 * LIMITS[self.dtype]

    def count(self, axes: Sequence[int]) -> int:
        """How many elements reducing `axes` combines, at batch 3 (the largest batch the suite runs)."""
        return math.prod(self.x.at(3)[a] for a in axes)

    def static_axes(self) -> list[int]:
        return [a for a in range(self.x.rank) if self.x.static(a)]


Params = dict[str, Any]
Drawn = tuple[Params, int | None]


Bound = Callable[[Site, Params, "int | None"], float]


def keep(site: Site, p: Params, other: int | None) -> float:
    return site.b


def to(value: float) -> Bound:
    return lambda site, p, other: value


def grown(f: Callable[[float], float]) -> Bound:
    return lambda site, p, other: f(site.b)


@dataclass(frozen=True)
class Entry:
    """A kind's strategy: whether it applies at a site, how its params (and other input) are drawn, and a
    bound on its output's magnitude from the bound on its input's.

    Bounds keep values finite by construction: the input is standard normal (INPUT_BOUND), and a kind whose
    output could outgrow the element type (Exp, Pow, Mul, sums and products of many values, a cast to
    float16) applies only, or draws only params, where the bound stays within LIMITS.  The bounds are an
    estimate, not a proof: a weighted sum (Conv, Gemm, MatMul) counts as doubling, as its weights are scaled
    by 1 / sqrt(fan-in)."""

    applies: Callable[[Site], bool]
    draw: Callable[[Draw, Site], Drawn]  # params, index of the other input
    bound: Bound = keep


def unary(applies: Callable[[Site], bool], bound: Bound = keep,
          ) -> Callable[[Callable[[Draw, Site], Params]], Entry]:
    def wrap(fn: Callable[[Draw, Site], Params]) -> Entry:
        return Entry(applies, lambda draw, site: (fn(draw, site), None), bound)
    return wrap


def always(site: Site) -> bool:
    return True


def form(draw: Draw, axis: int, rank: int) -> int:
    """An axis as exporters write it: non-negative, or (drawn) counted from the end."""
    return axis - rank if draw(st.booleans()) else axis


def subset(draw: Draw, axes: list[int], most: int) -> list[int]:
    """1 to `most` of `axes` (of 0..MAX_RANK - 1), shrinking to the first one.  The order is a permutation of
    every possible axis, so the draw takes as many choices whatever the rank: lowering the input's rank
    leaves the draws after it in place."""
    order = [a for a in draw(st.permutations(range(MAX_RANK))) if a in axes]
    return sorted(order[:upto(draw, 1, min(most, len(axes)))])


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
    """Flatten at any axis, 1 first; counted from the end sometimes (the draw made for axis = rank too, so
    moving to a smaller axis leaves the later draws in place)."""
    r = site.x.rank
    axis = draw(st.sampled_from(sorted(range(r + 1), key=lambda a: a != 1)))
    counted = form(draw, axis, r)
    return {"axis": counted if axis < r else axis}


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


@unary(lambda s: s.x.rank >= 2 and not s.padded_by_axes)
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
    """Constant, reflect or edge padding of static axes; from opset 18 sometimes with an `axes` input, where
    no Transpose came before: ORT 1.31's transpose optimizer, moving a Transpose through such a Pad, permutes
    its pads as if there were two per axis of the tensor, and the run fails ("Gather ... indices element out of
    data bounds"); the kinds that write a Transpose do not follow such a Pad either."""
    x = site.x
    mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
    with_axes = draw(st.booleans()) and site.opset >= 18 and not site.transposed
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


nothing_nchw = Entry(_nchw(3, 5), lambda draw, site: ({}, None))


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


# ---- bounds of the kinds above ---------------------------------------------------------------------------
def _weighted(site: Site, p: Params, other: int | None) -> float:
    return 2 * site.b + 1


def _sum_of(site: Site, p: Params, other: int | None) -> float:
    return site.b + site.bounds[other if other is not None else -1]


def _larger(site: Site, p: Params, other: int | None) -> float:
    return max(site.b, site.bounds[other if other is not None else -1])


def _product(site: Site, p: Params, other: int | None) -> float:
    return site.b * site.bounds[other if other is not None else -1]


def _mul_partners(site: Site) -> list[int]:
    return [i for i in _same(site) if site.fits(site.b * site.bounds[i])]


def _mul(draw: Draw, site: Site) -> Drawn:
    return {}, draw(st.sampled_from(_mul_partners(site)))


def _binary(bound: Bound) -> Entry:
    return Entry(lambda s: bool(_same(s)), _elementwise, bound)


def _pick(draw: Draw, options: Sequence[Any], default: Any = None) -> Any:
    """One of `options` (shrinking to the first); None when it is `default`, so the param is left out."""
    value = draw(st.sampled_from(list(options)))
    return None if value == default else value


def _axis_param(draw: Draw, axis: int, rank: int, default: int) -> int | None:
    """An axis param as exporters write it (see `form`), or None where it is the default (left out); the
    sign is drawn either way, so a change of axis leaves the later draws in place."""
    written = form(draw, axis, rank)
    return None if axis == default % rank else written


def _given(**params: Any) -> Params:
    return {k: v for k, v in params.items() if v is not None}


def plain_entry(bound: Bound = keep) -> Entry:
    return Entry(always, lambda draw, site: ({}, None), bound)


def first_step(site: Site) -> bool:
    return not site.stepped


def step_entry(bound: Bound) -> Entry:
    """A step with no params, where it is the graph's first (see STEPS)."""
    return Entry(first_step, lambda draw, site: ({}, None), bound)


# ---- elementwise, one input -----------------------------------------------------------------------------
@unary(always)
def leaky_relu(draw: Draw, site: Site) -> Params:
    return _given(alpha=_pick(draw, [0.01, 0.2, 0.1], 0.01))


@unary(always, lambda site, p, other: max(site.b, p.get("alpha", 1.0)))
def elu(draw: Draw, site: Site) -> Params:
    return _given(alpha=_pick(draw, [1.0, 0.5, 2.0], 1.0))


@unary(always, to(1.0))
def hard_sigmoid(draw: Draw, site: Site) -> Params:
    alpha = _pick(draw, [0.2, 1 / 6], 0.2)  # ONNX's default, and PyTorch's Hardsigmoid
    return _given(alpha=alpha)


@unary(always)
def gelu(draw: Draw, site: Site) -> Params:
    return _given(approximate=_pick(draw, ["none", "tanh"], "none"))


def _exp_fits(site: Site) -> bool:
    return site.b <= math.log(LIMITS[site.dtype])


def _offset_bound(f: Callable[[float, float], float]) -> Bound:
    return lambda site, p, other: f(site.b, p.get("offset", 1.0))


@st.composite
def _offset(draw: Draw) -> Params:
    """The constant added to |x| before an op defined on positive values; at least 0.5, so the op's slope
    there (1 / offset for Log, 1 / offset**2 for Reciprocal) magnifies an upstream rounding at most 4 times."""
    return _given(offset=_pick(draw, [1.0, 0.5], 1.0))


def _offset_entry(bound: Callable[[float, float], float]) -> Entry:
    return Entry(always, lambda draw, site: (draw(_offset()), None), _offset_bound(bound))


def _pow_bound(b: float, e: float) -> float:
    if e >= 1 and e.is_integer():
        return math.exp(min(700.0, e * math.log(max(b, 1.0))))
    return (b + 1) ** e if e > 0 else 1.0


@unary(always, lambda site, p, other: _pow_bound(site.b, p["exponent"]))
def pow_(draw: Draw, site: Site) -> Params:
    """x ** 2 and x ** 3 where they stay within LIMITS; fractional and negative exponents on |x| + 1."""
    exponents = [e for e in (2.0, 0.5, 3.0, -1.0, 1.5, -0.5) if site.fits(_pow_bound(site.b, e))]
    return {"exponent": draw(st.sampled_from(exponents))}


@unary(always, lambda site, p, other: site.b / abs(p["divisor"]))
def div(draw: Draw, site: Site) -> Params:
    return {"divisor": draw(st.sampled_from([2.0, 0.5, -4.0, 8.0]))}


_CLIPS = ({"min": 0.0, "max": 6.0}, {"min": -1.0, "max": 1.0}, {"min": 0.0}, {"max": 0.5})


def _clip_bound(site: Site, p: Params, other: int | None) -> float:
    return min(site.b, max(abs(p["min"]), abs(p["max"]))) if "min" in p and "max" in p else site.b


@unary(always, _clip_bound)
def clip(draw: Draw, site: Site) -> Params:
    """ReLU6 as exporters write it, a symmetric clip, and each bound alone."""
    return dict(draw(st.sampled_from(_CLIPS)))


@unary(always)
def prelu(draw: Draw, site: Site) -> Params:
    channel = draw(st.booleans())
    return {"slope": "channel"} if channel and site.x.rank >= 2 and site.x.static(1) else {}


@unary(always, lambda site, p, other: max(site.b, abs(p.get("threshold", 0.0))))
def where(draw: Draw, site: Site) -> Params:
    return _given(compare=_pick(draw, ["Greater", "Less"], "Greater"),
                  or_equal=True if site.opset >= 12 and draw(st.booleans()) else None,
                  threshold=_pick(draw, [0.0, 0.5, -1.0], 0.0))


def _casts(site: Site) -> list[str]:
    """The types a cast goes to and back from: float32 or float64 (a float64 graph rounds to float32, 6e-8,
    far within the oracle's tolerance), and int64 (a rounding towards zero) but from float16 and after a step
    (see STEPS).  Not float16 from float32 or float64: values a kernel's rounding apart upstream land on
    either side of a float16 rounding one time in 10**4, 1e-3 apart, ten times the float32 oracle's
    tolerance; nor int64 from float16, where ORT and the reference evaluator are a float16 rounding apart."""
    floats = [d for d in DTYPES if d not in (site.dtype, "float16")]
    return floats + ["int64"] * (site.dtype != "float16" and not site.stepped)


@unary(always, grown(lambda b: b + 1))
def cast(draw: Draw, site: Site) -> Params:
    return {"to": draw(st.sampled_from(_casts(site)))}


@unary(always)
def dropout(draw: Draw, site: Site) -> Params:
    return _given(ratio=_pick(draw, [0.5, 0.1], 0.5))


# ---- along an axis -----------------------------------------------------------------------------------------
def _log_softmax_fits(site: Site) -> bool:
    """The reference evaluator takes the log of Softmax: its smallest value, at least e**-(2b) / n, must not
    round to 0 (under 6e-8 in float16, 1e-45 in float32)."""
    return 2 * site.b + math.log(max(site.x.at(3))) <= (16 if site.dtype == "float16" else 80)


@unary(_log_softmax_fits, lambda site, p, other: 2 * site.b + math.log(max(site.x.at(3))))
def log_softmax(draw: Draw, site: Site) -> Params:
    return {"axis": form(draw, draw(st.sampled_from(range(site.x.rank)[::-1])), site.x.rank)}


def _lp_axes(site: Site) -> list[int]:
    """Axes of 2 values or more at batch 1 (over one value, x / |x| is a step: the sign)."""
    return [a for a in range(site.x.rank)[::-1] if site.x.dims[a] >= 2]


@unary(lambda s: bool(_lp_axes(s)), to(1.0))
def lp_normalization(draw: Draw, site: Site) -> Params:
    """p = 2 where the sum of squares fits the element type, else p = 1."""
    axis = draw(st.sampled_from(_lp_axes(site)))
    ps = [2, 1] if site.squares_fit(site.count([axis])) else [1]
    return _given(axis=_axis_param(draw, axis, site.x.rank, -1), p=_pick(draw, ps, 2))


def _summable(site: Site) -> list[int]:
    """Axes whose sum stays within LIMITS."""
    return [a for a in range(site.x.rank) if site.fits(site.count([a]) * site.b)]


@unary(lambda s: bool(_summable(s)), lambda site, p, other: site.count([p["axis"]]) * site.b)
def cum_sum(draw: Draw, site: Site) -> Params:
    axis = draw(st.sampled_from(_summable(site)[::-1]))
    return _given(axis=form(draw, axis, site.x.rank), exclusive=1 if draw(st.booleans()) else None,
                  reverse=1 if draw(st.booleans()) else None)


@unary(lambda s: bool(s.static_axes()))
def top_k(draw: Draw, site: Site) -> Params:
    """The values of the k largest (or smallest) along a static axis, sorted (the default)."""
    axis = draw(st.sampled_from(site.static_axes()[::-1]))
    return _given(axis=_axis_param(draw, axis, site.x.rank, -1), k=upto(draw, 1, site.x.dims[axis]),
                  largest=0 if draw(st.booleans()) else None)


@unary(first_step, lambda site, p, other: site.x.at(3)[p.get("axis", 0)] + 1.0)
def arg_reduce(draw: Draw, site: Site) -> Params:
    axis = draw(st.sampled_from(range(site.x.rank)))
    keepdims = 0 if draw(st.booleans()) and site.x.rank > 1 else None
    last = 1 if site.opset >= 12 and draw(st.booleans()) else None
    return _given(axis=_axis_param(draw, axis, site.x.rank, 0), keepdims=keepdims, select_last_index=last)


# Each Reduce op's bound from its input's bound b and the count c of values it combines.
REDUCED: dict[str, Callable[[float, int], float]] = {
    "ReduceMean": lambda b, c: b,
    "ReduceMax": lambda b, c: b,
    "ReduceMin": lambda b, c: b,
    "ReduceSum": lambda b, c: c * b,
    "ReduceL1": lambda b, c: c * b,
    "ReduceL2": lambda b, c: math.sqrt(c) * b,
    "ReduceSumSquare": lambda b, c: c * b * b,
    "ReduceProd": lambda b, c: math.exp(min(700.0, c * math.log(max(b, 1.0)))),
    "ReduceLogSumExp": lambda b, c: b + math.log(c),
    "ReduceLogSum": lambda b, c: abs(math.log(c * (b + 1))) + math.log(2),  # |x| + offset >= 0.5
}


def _reduce_fits(op: str, site: Site, count: int) -> bool:
    squares = op not in ("ReduceL2", "ReduceSumSquare") or site.squares_fit(count)
    return squares and site.fits(REDUCED[op](site.b, count))


def reduce(op: str) -> Entry:
    """Axes added in a drawn order while the op's bound fits (at least one fits where it applies); keepdims
    0 when an axis is left."""
    def draw_params(draw: Draw, site: Site) -> Drawn:
        x, chosen = site.x, list[int]()
        most = upto(draw, 1, x.rank)
        for a in draw(st.permutations(range(x.rank))):
            if len(chosen) < most and _reduce_fits(op, site, site.count([*chosen, a])):
                chosen.append(a)
        params: Params = {"axes": tuple(form(draw, a, x.rank) for a in sorted(chosen))}
        if draw(st.booleans()) and len(chosen) < x.rank:
            params["keepdims"] = 0
        if op == "ReduceLogSum":
            params |= draw(_offset())
        return params, None

    def bound(site: Site, p: Params, other: int | None) -> float:
        return REDUCED[op](site.b, site.count([a % site.x.rank for a in p["axes"]]))
    return Entry(lambda s: any(_reduce_fits(op, s, s.count([a])) for a in range(s.x.rank)), draw_params, bound)


# ---- shape plumbing ----------------------------------------------------------------------------------------
def _factors(draw: Draw, size: int, most: int) -> list[int]:
    """1 to `most` dims whose product is `size`."""
    dims: list[int] = []
    for _ in range(upto(draw, 1, most) - 1):
        dims.append(draw(st.sampled_from(divisors(size))))
        size //= dims[-1]
    return [*dims, size]


@unary(always)
def dynamic_reshape(draw: Draw, site: Site) -> Params:
    """The batch read at run time (as `x.size(0)`), sometimes another dim too, then constant dims for the
    rest, often one of them -1 (PyTorch's `x.view(x.size(0), -1)` shrinks to that)."""
    x = site.x
    others = [a for a in range(x.rank) if a != x.batch]
    read = [] if x.batch is None else [x.batch]
    if (draw(st.booleans()) or not read) and others:
        read.append(draw(st.sampled_from(others)))
    tail = _factors(draw, x.size // math.prod(x.dims[a] for a in read), 3)
    if draw(st.booleans()) or len(tail) == 1:
        tail[upto(draw, 0, len(tail) - 1)] = -1
    return {"read": tuple(read), "shape": tuple(tail)}


@unary(always)
def expand(draw: Draw, site: Site) -> Params:
    """Broadcast: static dims of 1 grow (within the budget), other dims are written as 1 or as themselves;
    sometimes a new leading dim."""
    x, size, target = site.x, site.x.size, []
    for a, d in enumerate(x.dims):
        if d == 1 and x.static(a):
            target.append(upto(draw, 1, min(4, site.max_elements // size)))
            size *= target[-1]
        else:
            target.append(d if draw(st.booleans()) and x.static(a) else 1)
    if draw(st.booleans()) and x.rank < MAX_RANK:
        target.insert(0, upto(draw, 1, min(3, site.max_elements // size)))
    return {"shape": tuple(target)}


@unary(always)
def tile(draw: Draw, site: Site) -> Params:
    """Repeats of 1 to 3 per axis within the budget (the batch axis too: it becomes N * r)."""
    size, repeats = site.x.size, []
    for _ in range(site.x.rank):
        repeats.append(upto(draw, 1, min(3, site.max_elements // size)))
        size *= repeats[-1]
    return {"repeats": tuple(repeats)}


def _splittable(site: Site) -> list[int]:
    return [a for a in site.static_axes() if site.x.dims[a] >= 2]


@unary(lambda s: bool(_splittable(s)))
def split(draw: Draw, site: Site) -> Params:
    """2 or 3 parts of a static axis (from opset 18 sometimes as num_outputs, ceil-sized parts); one part
    goes on, or all are concatenated in reverse (take -1)."""
    x = site.x
    axis = draw(st.sampled_from(_splittable(site)[::-1]))
    d = x.dims[axis]
    n = upto(draw, 2, min(3, d))
    even = even_split(d, n)
    by_count = draw(st.booleans()) and site.opset >= 18 and min(even) >= 1
    parts = list(even)
    if not by_count:
        parts = []
        for i in range(n - 1):
            parts.append(upto(draw, 1, d - sum(parts) - (n - 1 - i)))
        parts.append(d - sum(parts))
    take = draw(st.sampled_from([*range(n), -1]))
    return _given(axis=_axis_param(draw, axis, x.rank, 0), split=tuple(parts), take=take or None,
                  num_outputs=True if by_count else None)


def _blocks(site: Site) -> list[int]:
    """DepthToSpace block sizes: b >= 2 with b * b dividing the channels."""
    return [b for b in (2, 3) if site.x.rank == 4 and _nchw(4, 4)(site) and site.x.dims[1] % (b * b) == 0]


def _cells(site: Site) -> list[int]:
    """SpaceToDepth block sizes: b >= 2 dividing both spatial dims."""
    x = site.x
    return [b for b in (2, 3) if x.rank == 4 and _nchw(4, 4)(site) and x.dims[2] % b == 0 and x.dims[3] % b == 0]


@unary(lambda s: bool(_blocks(s)))
def depth_to_space(draw: Draw, site: Site) -> Params:
    return _given(blocksize=draw(st.sampled_from(_blocks(site))), mode=_pick(draw, ["DCR", "CRD"], "DCR"))


@unary(lambda s: bool(_cells(s)))
def space_to_depth(draw: Draw, site: Site) -> Params:
    return {"blocksize": draw(st.sampled_from(_cells(site)))}


SCALES = (2.0, 0.5, 1.5, 3.0, 0.75, 1.25, 1.0)  # exact in binary, so floor(d * s) is the same everywhere


def _scales_to(d: int, scale: float, room: int) -> bool:
    """Whether the scale gives d a new length within the room.  A scale other than 1 that keeps the length
    (3 * 1.25 -> 3) is left out: ORT 1.31 copies such an axis, where the spec interpolates at x / scale."""
    out = math.floor(d * scale)
    return 1 <= out <= room and (out != d or scale == 1.0)


@unary(_nchw(3, 5), lambda site, p, other: site.b * (1.5 if p.get("mode") == "cubic" else 1.0))
def resize(draw: Draw, site: Site) -> Params:
    """Nearest, linear or (2 spatial axes: ORT's kernel) cubic, by scales or by sizes, each axis within the
    budget; from opset 18 sometimes with `axes` and (linear, cubic) antialias."""
    x = site.x
    mode = draw(st.sampled_from(["nearest", "linear"] + ["cubic"] * (x.rank == 4)))
    by_sizes, out, given = draw(st.booleans()), list[int](), list[Any]()
    for d in x.dims[2:]:
        room = site.max_elements // (x.dims[0] * x.dims[1] * math.prod(out))
        if by_sizes:
            given.append(upto(draw, 1, min(2 * d, room)))
        else:
            given.append(draw(st.sampled_from([s for s in SCALES if _scales_to(d, s, room)] or [1.0])))
        out.append(math.floor(d * given[-1]))
    params: Params = {"mode": mode, ("sizes" if by_sizes else "scales"): tuple(given)}
    return params | _given(
        coordinate_transformation_mode=_pick(draw, _COORDINATES, "half_pixel"),
        nearest_mode=_pick(draw, _NEAREST, "round_prefer_floor") if mode == "nearest" else None,
        antialias=True if mode != "nearest" and site.opset >= 18 and draw(st.booleans()) else None,
        axes=True if site.opset >= 18 and draw(st.booleans()) else None)


_COORDINATES = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


# ---- with weights ------------------------------------------------------------------------------------------
def _normalized(count: int) -> float:
    """The bound of a normalization's output: sqrt(count) standard deviations, times a scale up to 1.5."""
    return 1.5 * math.sqrt(count) + 1


@unary(_nchw(3, 4), _weighted)
def conv_transpose(draw: Draw, site: Site) -> Params:
    """Kernel, strides, dilations, pads and output padding (smaller than the stride) per spatial
    axis; all back to 1 and 0 when the output would exceed the budget."""
    x, n = site.x, site.x.rank - 2
    kernel = tuple(upto(draw, 1, 3) for _ in range(n))
    strides = tuple(upto(draw, 1, 2) for _ in range(n))
    dil = tuple(upto(draw, 1, 2) for _ in range(n))
    extra = tuple(upto(draw, 0, strides[i] - 1) for i in range(n))
    full = [strides[i] * (x.dims[2 + i] - 1) + extra[i] + dil[i] * (kernel[i] - 1) + 1 for i in range(n)]
    pads = tuple(upto(draw, 0, min(1, (full[i % n] - 1) // 2)) for i in range(2 * n))
    out = tuple(full[i] - pads[i] - pads[n + i] for i in range(n))
    if x.dims[0] * math.prod(out) > site.max_elements:
        kernel, strides, dil, extra, pads, out = (1,) * n, (1,) * n, (1,) * n, (0,) * n, (0,) * 2 * n, x.dims[2:]
    per = x.dims[0] * math.prod(out)
    group = draw(st.sampled_from([g for g in divisors(x.dims[1]) if g * per <= site.max_elements] or [1]))
    params: Params = {"kernel_shape": kernel, "strides": strides, "pads": pads, "dilations": dil,
                      "out_channels": group * upto(draw, 1, min(4, site.max_elements // (per * group)))}
    return params | _given(output_padding=extra if any(extra) else None, group=group if group > 1 else None,
                           bias=False if draw(st.booleans()) else None)


def _normalizes(site: Site, count: int) -> bool:
    """Whether a normalization over `count` values is well posed here: at least 2 of them, their sum of
    squares within the limits, and values under NORMALIZED_BOUND (ORT computes the variance as
    E[x**2] - E[x]**2, or a fused x * a + b, whose rounding grows with the values' magnitude)."""
    return count >= 2 and site.squares_fit(count) and site.b <= NORMALIZED_BOUND


NORMALIZED_BOUND = 1e3


def _norm_axes(site: Site) -> list[int]:
    """LayerNormalization axes: all axes from it on static, normalizing a well-posed count (_normalizes)."""
    x = site.x
    return [a for a in range(x.rank)[::-1] if all(x.static(i) for i in range(a, x.rank))
            and _normalizes(site, site.count(range(a, x.rank)))]


@unary(lambda s: bool(_norm_axes(s)), lambda site, p, other: _normalized(site.count(range(p["axis"] % site.x.rank,
                                                                                           site.x.rank))))
def layer_norm(draw: Draw, site: Site) -> Params:
    axis = draw(st.sampled_from(_norm_axes(site)))
    return {"axis": form(draw, axis, site.x.rank)} | _given(
        epsilon=_pick(draw, [1e-5, 1e-3], 1e-5), bias=False if draw(st.booleans()) else None)


def _spatial(site: Site) -> int:
    return math.prod(site.x.dims[2:])


@unary(lambda s: _nchw(3, 5)(s) and _normalizes(s, _spatial(s)), lambda site, p, other: _normalized(_spatial(site)))
def instance_norm(draw: Draw, site: Site) -> Params:
    return _given(epsilon=_pick(draw, [1e-5, 1e-3], 1e-5))


def _groups(site: Site) -> list[int]:
    if not _nchw(3, 5)(site):
        return []
    c = site.x.dims[1]
    return [g for g in divisors(c) if _normalizes(site, c // g * _spatial(site))]


@unary(lambda s: bool(_groups(s)),
       lambda site, p, other: _normalized(site.x.dims[1] // p["num_groups"] * _spatial(site)))
def group_norm(draw: Draw, site: Site) -> Params:
    return {"num_groups": draw(st.sampled_from(_groups(site)[::-1]))} | _given(
        epsilon=_pick(draw, [1e-5, 1e-3], 1e-5))


@unary(lambda s: s.x.rank >= 2 and s.x.static(s.x.rank - 1), _weighted)
def matmul(draw: Draw, site: Site) -> Params:
    """x @ W, W of rank 2, or (drawn) of rank 3 or 4: its leading dims broadcast against x's (1 against the
    batch, 1 or the dim elsewhere) or come before them."""
    x = site.x
    rows = x.size // x.dims[-1]
    params: Params = {"units": upto(draw, 1, min(8, site.max_elements // rows))}
    if not draw(st.booleans()):
        return params
    size, lead = rows * params["units"], list[int]()
    for j in range(upto(draw, 1, 2)):
        a = x.rank - 3 - j  # the axis of x this leading dim lines up with (< 0: none)
        if a < 0:
            lead.insert(0, upto(draw, 1, min(3, site.max_elements // size)))
            size *= lead[0]
        else:
            lead.insert(0, x.dims[a] if draw(st.booleans()) and x.static(a) else 1)
    return params | {"lead": tuple(lead)}


LETTERS = "abcdefgh"


def _einsum_bound(site: Site, p: Params, other: int | None) -> float:
    ins, out = p["equation"].split("->")
    if "," in ins:
        return _weighted(site, p, other)
    return site.count([a for a, c in enumerate(ins) if c not in out]) * site.b


@unary(always, _einsum_bound)
def einsum(draw: Draw, site: Site) -> Params:
    """x's axes lettered a, b, ...: a permutation of them with static ones summed out, or a contraction of a
    static axis with a weight that brings a new axis z ("abc,cz->abz"), its output letters permuted."""
    x = site.x
    ins = LETTERS[:x.rank]
    static = site.static_axes()
    if draw(st.booleans()) and static:
        k = draw(st.sampled_from(static[::-1]))
        units = upto(draw, 1, min(8, site.max_elements // (x.size // x.dims[k])))
        out = list(draw(st.permutations([c for c in ins if c != ins[k]] + ["z"])))
        return {"equation": f"{ins},{ins[k]}z->{''.join(out)}", "units": units}
    summed = [a for a in static if draw(st.booleans()) and site.fits(site.count([a]) * site.b)][:x.rank - 1]
    out = list(draw(st.permutations([c for a, c in enumerate(ins) if a not in summed])))
    return {"equation": f"{ins}->{''.join(out)}"}


def _recurrent_fits(site: Site) -> bool:
    """(batch, seq, features) with static features; not after a Pad with axes (see pad: the layer's builder
    writes Transposes)."""
    return site.x.rank == 3 and site.x.static(2) and not site.padded_by_axes


def recurrent(op: str) -> Entry:
    """Hidden size within the budget, direction (bidirectional doubles the output), bias or not; GRU's
    linear_before_reset (PyTorch writes 1)."""
    @unary(_recurrent_fits, to(1.0))
    def entry(draw: Draw, site: Site) -> Params:
        x = site.x
        both = 2 * x.dims[0] * x.dims[1] <= site.max_elements
        direction = _pick(draw, ["forward", "reverse"] + ["bidirectional"] * both, "forward")
        dirs = 2 if direction == "bidirectional" else 1
        hidden = upto(draw, 1, min(8, site.max_elements // (x.dims[0] * x.dims[1] * dirs)))
        params = {"hidden_size": hidden} | _given(direction=direction, bias=False if draw(st.booleans()) else None)
        if op == "GRU":
            params |= _given(linear_before_reset=1 if draw(st.booleans()) else None)
        return params
    return entry


# Simplest kinds first: a node's kind shrinks towards the front of this table.
GRAPH_STRATEGIES: dict[str, Entry] = {
    "Relu": nothing,
    "Sigmoid": plain_entry(to(1.0)),
    "Tanh": plain_entry(to(1.0)),
    "Abs": nothing,
    "Neg": nothing,
    "Identity": nothing,
    "Exp": Entry(_exp_fits, nothing.draw, grown(lambda b: math.exp(min(b, 700.0)))),
    "Softsign": plain_entry(to(1.0)),
    "Softplus": plain_entry(grown(lambda b: b + 1)),
    "Elu": elu,
    "Selu": plain_entry(grown(lambda b: 1.06 * b + 1.76)),
    "LeakyRelu": leaky_relu,
    "HardSigmoid": hard_sigmoid,
    "HardSwish": nothing,
    "Mish": nothing,
    "Erf": plain_entry(to(1.0)),
    "Gelu": gelu,
    "ErfGelu": nothing,
    "Floor": step_entry(grown(lambda b: b + 1)),
    "Ceil": step_entry(grown(lambda b: b + 1)),
    "Round": step_entry(grown(lambda b: b + 1)),
    "Sign": step_entry(to(1.0)),
    "Sqrt": _offset_entry(lambda b, offset: math.sqrt(b + offset)),
    "Log": _offset_entry(lambda b, offset: max(math.log(b + offset), -math.log(offset))),
    "Reciprocal": _offset_entry(lambda b, offset: 1 / offset),
    "Pow": pow_,
    "Div": div,
    "Clip": clip,
    "PRelu": prelu,
    "Where": where,
    "Cast": cast,
    "Dropout": dropout,
    "Softmax": Entry(always, softmax.draw, to(1.0)),
    "LogSoftmax": log_softmax,
    "Flatten": flatten,
    "Reshape": reshape,
    "DynamicReshape": dynamic_reshape,
    "Slice": slice_,
    "Transpose": transpose,
    "Squeeze": squeeze,
    "Unsqueeze": unsqueeze,
    "Gather": gather,
    "Pad": Entry(pad.applies, pad.draw, lambda site, p, other: max(site.b, abs(p.get("value", 0.0)))),
    "Expand": expand,
    "Tile": tile,
    "Split": split,
    "Concat": Entry(lambda s: bool(_concat_axes(s)), _concat, _larger),
    "Add": _binary(_sum_of),
    "Sub": _binary(_sum_of),
    "Mul": Entry(lambda s: bool(_mul_partners(s)), _mul, _product),
    "Max": _binary(_larger),
    "Min": _binary(_larger),
    "Sum": _binary(_sum_of),
    "Mean": _binary(_larger),
    **{op: reduce(op) for op in REDUCED},
    "ArgMax": arg_reduce,
    "ArgMin": arg_reduce,
    "TopK": top_k,
    "CumSum": cum_sum,
    "LpNormalization": lp_normalization,
    "BatchNormalization": Entry(batch_norm.applies, batch_norm.draw, grown(lambda b: 3 * b + 1)),
    "LayerNormalization": layer_norm,
    "InstanceNormalization": instance_norm,
    "GroupNormalization": group_norm,
    "MatMul": matmul,
    "Gemm": Entry(gemm.applies, gemm.draw, _weighted),
    "Einsum": einsum,
    "MaxPool": pool("MaxPool"),
    "AveragePool": pool("AveragePool"),
    "GlobalAveragePool": nothing_nchw,
    "GlobalMaxPool": nothing_nchw,
    "Conv": Entry(conv.applies, conv.draw, _weighted),
    "ConvTranspose": conv_transpose,
    "Resize": resize,
    "DepthToSpace": depth_to_space,
    "SpaceToDepth": space_to_depth,
    "LSTM": recurrent("LSTM"),
    "GRU": recurrent("GRU"),
}

# The kinds the suite exists for (shape plumbing): drawn 3 times as often as the rest where they fit.
FOCUS = ("Flatten", "Reshape", "Slice")

assert set(GRAPH_STRATEGIES) == set(GRAPH_OPS), set(GRAPH_STRATEGIES) ^ set(GRAPH_OPS)
