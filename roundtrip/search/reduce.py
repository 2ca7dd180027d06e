"""A deterministic reducer over specs, applied after Hypothesis' shrinking, so that every corpus entry is
1-minimal: no single structural step (dropping an output, bypassing a layer or node) keeps the bug.

Hypothesis shrinks the choices behind a spec, which leaves specs that are small but not always minimal: a
layer that could be bypassed, an output nothing needs, a crop that could be 0.  `reduce` takes a spec and a
predicate (`holds`: does the same bug still show?) and takes greedy steps to a fixpoint.  Every candidate is
a valid spec (it is built, and building validates) no bigger by `parts.size_of`; `seed`, `sequential` and
`opset` are never changed, since they can be what the bug is about (a dtype policy or a graph's dtype goes
to float32 and a subclassed model to a functional one only when the bug stays).

Nothing here imports TensorFlow, Keras or ONNX: the predicate does the expensive work (in production, in a
worker process).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

from roundtrip.spec.graph import GraphSpec, NodeSpec
from roundtrip.spec.layers import LAYERS, REQUIRED
from roundtrip.spec.model import InputSpec, LayerSpec, ModelSpec, SpecError, Value
from roundtrip.spec.ops import GRAPH_OPS, TensorShape
from roundtrip.spec.parts import model_with, rebuilt, size_of
from roundtrip.spec.values import frozen_params

Spec: TypeAlias = ModelSpec | GraphSpec
Params = tuple[tuple[str, Value], ...]


# ---- structural steps -------------------------------------------------------------------------------------
def single_steps(spec: Spec) -> list[Spec]:
    """Every valid spec one structural step smaller, in a deterministic order.

    ModelSpec: first the spec with its dead layers and unread inputs pruned (only when it has any); then,
    with more than one output, each output dropped (and what no remaining output depends on pruned); then
    each layer bypassed: removed, its consumers and any output naming it wired to one of its inputs (one
    candidate per distinct input; a multi-input layer's other branches are pruned when nothing else reads
    them).  A candidate whose output would become an input name, or that would have no layer, is left out;
    outputs that became equal are kept once.  A Sequential chain stays a chain.  Then, with more than one
    input, each output dropped with every input kept (`_kept_inputs`: a bug of how a model takes several
    inputs needs them all); last, the first layer removed and its input shaped as its output
    (`_model_headless`).

    GraphSpec: each node k removed (the next node reads node k's input; later `other` indices re-indexed);
    for a binary node whose `other` is an earlier tensor o, also the cut that wires its consumer to o
    (nodes o..k removed: the chain has no other way to skip to `other`); last, the first node removed and the
    input shaped as its output (`_headless`); then each node that keeps its input's shape replaced by a
    stand-in, Identity, else Relu (`_stand_in`: a bug of any op is then shown on the plainest one).  A graph
    keeps at least one node.

    Invalid candidates (SpecError) are left out, as are duplicates."""
    steps = _model_steps(spec) if isinstance(spec, ModelSpec) else _graph_steps(spec)
    return _distinct(spec, steps)


def _model_steps(spec: ModelSpec) -> Iterator[ModelSpec | None]:
    yield rebuilt(spec, spec.layers, spec.outputs)
    if len(spec.outputs) > 1:
        for j in range(len(spec.outputs)):
            yield rebuilt(spec, spec.layers, spec.outputs[:j] + spec.outputs[j + 1:])
    for k, layer in enumerate(spec.layers):
        for source in dict.fromkeys(layer.inputs):
            yield _bypass(spec, k, source)
    if len(spec.inputs) > 1 and len(spec.outputs) > 1:
        for j in range(len(spec.outputs)):
            yield _kept_inputs(spec, spec.outputs[:j] + spec.outputs[j + 1:])
    yield _model_headless(spec)


def _kept_inputs(spec: ModelSpec, outputs: tuple[str, ...]) -> ModelSpec | None:
    """The layers these outputs need, every input of `spec` kept (read or not): `rebuilt` prunes an input
    nothing reads, and a subclassed model called with fewer tensors no longer shows a bug of how it takes
    several (tf2onnx's `model(*args)`).  `_unread_wired` then gives the unread input a reader."""
    smaller = rebuilt(spec, spec.layers, outputs)
    return None if smaller is None else model_with(spec, spec.inputs, smaller.layers, smaller.outputs)


def _model_headless(spec: ModelSpec) -> ModelSpec | None:
    """The first layer removed and the input it read shaped as its output was (the model analogue of
    `_headless`): its readers read that input, of the rank and sizes they read before.  None when the first
    layer cannot go so (`_head_goes`) or its output's shape is not concrete."""
    if not _head_goes(spec):
        return None
    first = spec.layers[0]
    source = next(i for i in spec.inputs if i.name == first.inputs[0])
    shape = spec.concrete_shape(first.name)[1:]
    if any(not isinstance(d, int) for d in shape):
        return None
    made = InputSpec(source.name, tuple(d for d in shape if isinstance(d, int)), source.dynamic)
    inputs = tuple(made if i.name == source.name else i for i in spec.inputs)

    def wire(tensor: str) -> str:
        return source.name if tensor == first.name else tensor

    layers = tuple(LayerSpec(la.name, la.kind, tuple(wire(t) for t in la.inputs), la.params)
                   for la in spec.layers[1:])
    return model_with(spec, inputs, layers, spec.outputs)


def _head_goes(spec: ModelSpec) -> bool:
    """Whether the first layer can go with its input shaped as its output: the model has another layer, the
    first reads one input (not token ids) that no other layer reads and no output names, nor does an output
    name the first layer."""
    if len(spec.layers) < 2:
        return False
    first = spec.layers[0]
    names = {i.name: i for i in spec.inputs}
    if len(set(first.inputs)) != 1 or first.inputs[0] not in names or first.name in spec.outputs:
        return False
    source = names[first.inputs[0]]
    return not (source.ids or source.name in spec.outputs or any(source.name in la.inputs for la in spec.layers[1:]))


def _bypass(spec: ModelSpec, k: int, source: str) -> ModelSpec | None:
    """Layer k removed, every reader of its tensor (layers and outputs) reading `source` instead."""
    name = spec.layers[k].name

    def wire(tensor: str) -> str:
        return source if tensor == name else tensor

    layers = tuple(LayerSpec(la.name, la.kind, tuple(wire(s) for s in la.inputs), la.params)
                   for j, la in enumerate(spec.layers) if j != k)
    return rebuilt(spec, layers, tuple(wire(o) for o in spec.outputs))


def _graph_steps(spec: GraphSpec) -> Iterator[GraphSpec | None]:
    for k, node in enumerate(spec.nodes):
        yield _cut(spec, k, k)
        if node.other is not None and node.other < k:
            yield _cut(spec, node.other, k)
    yield _headless(spec)
    for k in range(len(spec.nodes)):
        for kind in STAND_INS:
            yield _stand_in(spec, k, kind)


STAND_INS = ("Identity", "Relu")  # the plainest ops, each keeping its input's shape and element type


def _stand_in(spec: GraphSpec, k: int, kind: str) -> GraphSpec | None:
    """Node k replaced by a node of `kind` (a stand-in of STAND_INS), when node k reads one tensor and keeps
    its shape: a bug that shows on any op (a dtype every node loses) is then shown on the plainest one.  None
    for a node that already is a stand-in or reads two tensors, and when the spec would not be smaller by
    `size_of` (its JSON shorter: a Sigmoid is stood in for by Relu, not by Identity)."""
    node = spec.nodes[k]
    if node.kind in STAND_INS or node.other is not None or spec.shapes[k] != spec.shapes[k + 1]:
        return None
    made = _graph(spec, spec.input_shape, spec.nodes[:k] + (NodeSpec(kind),) + spec.nodes[k + 1:])
    return made if made is not None and size_of(made) < size_of(spec) else None


def _headless(spec: GraphSpec) -> GraphSpec | None:
    """The first node removed and the graph input shaped as its output was: the next node reads a tensor of
    the rank and sizes it read before (bypassing a Squeeze changes what a Pad after it may pad).  None when
    that output is not (N, ...) with the batch on its first axis, or a later node reads the old input."""
    if len(spec.nodes) < 2:
        return None
    made = spec.shapes[1]
    if made.batch != 0 or made.dims[0] != 1 or any(n.other == 0 for n in spec.nodes[1:]):
        return None
    nodes = tuple(n if n.other is None else NodeSpec(n.kind, n.params, n.other - 1) for n in spec.nodes[1:])
    return _graph(spec, made.dims[1:], nodes)


def _cut(spec: GraphSpec, first: int, last: int) -> GraphSpec | None:
    """Nodes first..last removed (tensors first+1..last+1): whatever read one of those tensors reads tensor
    `first` (node `first`'s input), later tensors move down.  None when no node would be left."""
    gone = last - first + 1
    if gone >= len(spec.nodes):
        return None

    def index(t: int) -> int:
        return t if t <= first else first if t <= last + 1 else t - gone

    nodes = tuple(n if n.other is None else NodeSpec(n.kind, n.params, index(n.other))
                  for j, n in enumerate(spec.nodes) if not first <= j <= last)
    return _graph(spec, spec.input_shape, nodes)


# ---- parameter steps --------------------------------------------------------------------------------------
def parameter_steps(spec: Spec) -> list[Spec]:
    """Every valid spec with one parameter moved towards its default or towards smaller values, in a
    deterministic order: each layer's (node's) params in order, then the input.

    - a param that has a default (any default, None too for GraphSpec's optional ones) is removed, which
      is what writing its default means (and what the strategies write);
    - an int moves to 0, 1, |v| // 2, |v| - 1 in magnitude, keeping its sign (only strictly smaller
      magnitudes; a value equal to the default is left to the removal above); validation decides what the
      param's check allows;
    - a tuple (nested too) moves one int element at a time, likewise;
    - a float that is not 0.0 moves to 0.0; strings and booleans move only to their default;
    - an input (ModelSpec InputSpec.shape, GraphSpec.input_shape) loses one dim, when the layers (nodes)
      still validate at the lower rank, and each dim moves to 1, d // 2, d - 1;
    - an input loses a size-1 dim with every layer (node) rewritten for it by its kind's `drop_axis` hook
      (`_lower_rank`, `_model_lower_rank`: an Einsum's letter, a Softmax's axis...), the same model a rank
      lower;
    - an input no layer reads is wired into a layer's slot that repeats a tensor (`_unread_wired`);
    - a dynamic input becomes not dynamic.
    - a wrapper's inner layer is stood in for by the plainest (`_wrapped_stand_in`: TimeDistributed(ReLU));
    - a model's dtype policy moves to float32 (the bug then is not the policy's); a subclassed model
      becomes a functional one; a graph's dtype moves to float32 (`_graph_float32`).
    `seed`, `sequential` and `opset` are left alone.  Only candidates that validate, each
    once, never the spec itself."""
    steps = _model_params(spec) if isinstance(spec, ModelSpec) else _graph_params(spec)
    return _distinct(spec, steps)


def _model_params(spec: ModelSpec) -> Iterator[ModelSpec | None]:
    def with_layer(k: int, layer: LayerSpec) -> ModelSpec | None:
        return model_with(spec, spec.inputs, spec.layers[:k] + (layer,) + spec.layers[k + 1:], spec.outputs)

    def with_input(j: int, given: InputSpec) -> ModelSpec | None:
        return model_with(spec, spec.inputs[:j] + (given,) + spec.inputs[j + 1:], spec.layers, spec.outputs)

    for k, la in enumerate(spec.layers):
        entry = LAYERS.get(la.kind)
        for params in _param_moves(la.params, entry.params if entry else {}):
            yield with_layer(k, LayerSpec(la.name, la.kind, la.inputs, params))
    yield from _unread_wired(spec)
    for k in range(len(spec.layers)):
        yield _wrapped_stand_in(spec, k)
    if spec.dtype != "float32":
        yield ModelSpec(spec.inputs, spec.layers, spec.outputs, spec.seed, spec.sequential,
                        subclassed=spec.subclassed)
    if spec.subclassed:
        yield ModelSpec(spec.inputs, spec.layers, spec.outputs, spec.seed, False, spec.dtype)
    for j, i in enumerate(spec.inputs):
        if i.dynamic:
            yield with_input(j, InputSpec(i.name, i.shape, False, i.ids))
        for shape in _dim_moves(i.shape):
            yield with_input(j, InputSpec(i.name, shape, i.dynamic, i.ids))
    for j, i in enumerate(spec.inputs):
        for axis in range(1, len(i.shape) + 1):
            yield _model_lower_rank(spec, j, axis)


def _model_lower_rank(spec: ModelSpec, j: int, axis: int) -> ModelSpec | None:
    """Input j's size-1 `axis` (1.., the batch is 0) dropped and every layer that sees it rewritten by its
    kind's `drop_axis` hook (a BatchNormalization's axis -2 becomes -1 when the last axis goes): the same model
    a rank lower, as `_lower_rank` does for a graph.  None when the dim is not 1, the input would have no dim
    left, a layer that sees the axis has no hook or cannot do without it, a multi-input layer's tensors hold it
    at other places, or some tensor would not have its old shape less the axis."""
    given = spec.inputs[j]
    if len(given.shape) < 2 or given.shape[axis - 1] != 1 or given.ids:
        return None
    where: dict[str, int | None] = {i.name: (axis if i.name == given.name else None) for i in spec.inputs}
    layers = []
    for la in spec.layers:
        ats = {where[t] for t in la.inputs}
        if len(ats) != 1:
            return None
        at = ats.pop()
        if at is None:
            layers.append(la)
            where[la.name] = None
            continue
        entry = LAYERS[la.kind]
        rank = len(spec.concrete_shape(la.inputs[0]))
        dropped = entry.drop_axis(entry.check_params(la.p, ""), at, rank) if entry.drop_axis is not None else None
        if dropped is None:
            return None
        params, out = dropped
        layers.append(LayerSpec(la.name, la.kind, la.inputs, _written(la.p, params, entry.params)))
        where[la.name] = out
    shape = given.shape[:axis - 1] + given.shape[axis:]
    inputs = spec.inputs[:j] + (InputSpec(given.name, shape, given.dynamic, given.ids),) + spec.inputs[j + 1:]
    lower = model_with(spec, inputs, tuple(layers), spec.outputs)
    if lower is None:
        return None
    for name, at in where.items():
        old = spec.concrete_shape(name)
        if lower.concrete_shape(name) != (old if at is None else old[:at] + old[at + 1:]):
            return None
    return lower


# A wrapper's params for its plainest inner layer (no weights, its input's shape kept), by the wrapper's kind.
WRAPPED_STAND_INS: dict[str, Params] = {"TimeDistributed": (("layer", "ReLU"),)}


def _wrapped_stand_in(spec: ModelSpec, k: int) -> ModelSpec | None:
    """Layer k, a wrapper (TimeDistributed(Dense)), wrapping its stand-in instead (TimeDistributed(ReLU)): a bug of
    the wrapper then shows without the wrapped layer's weights (the analogue of a graph's `_stand_in`).  None for
    another kind, or a wrapper that wraps its stand-in already."""
    layer = spec.layers[k]
    params = WRAPPED_STAND_INS.get(layer.kind)
    if params is None or layer.params == params:
        return None
    made = LayerSpec(layer.name, layer.kind, layer.inputs, params)
    return model_with(spec, spec.inputs, spec.layers[:k] + (made,) + spec.layers[k + 1:], spec.outputs)


def _unread_wired(spec: ModelSpec) -> Iterator[ModelSpec | None]:
    """Each input no layer reads (left by `_kept_inputs`) wired into a layer's input slot that repeats a
    tensor the layer reads before, of the same shape: Maximum([in0, in0]) with in1 unread becomes
    Maximum([in0, in1]), a model that reads all it takes."""
    read = {t for la in spec.layers for t in la.inputs}
    unread = [i for i in spec.inputs if i.name not in read and not i.ids and i.name not in spec.outputs]
    for k, la in enumerate(spec.layers):
        for slot, tensor in enumerate(la.inputs):
            if tensor not in la.inputs[:slot]:
                continue
            for given in unread:
                if spec.concrete_shape(given.name) == spec.concrete_shape(tensor):
                    inputs = la.inputs[:slot] + (given.name,) + la.inputs[slot + 1:]
                    layer = LayerSpec(la.name, la.kind, inputs, la.params)
                    yield model_with(spec, spec.inputs, spec.layers[:k] + (layer,) + spec.layers[k + 1:],
                                     spec.outputs)


def _graph_params(spec: GraphSpec) -> Iterator[GraphSpec | None]:
    for k, node in enumerate(spec.nodes):
        entry = GRAPH_OPS.get(node.kind)
        for params in _param_moves(node.params, entry.params if entry else {}):
            nodes = spec.nodes[:k] + (NodeSpec(node.kind, params, node.other),) + spec.nodes[k + 1:]
            yield _graph(spec, spec.input_shape, nodes)
    for shape in _dim_moves(spec.input_shape):
        yield _graph(spec, shape, spec.nodes)
    for axis in range(1, len(spec.input_shape) + 1):
        yield _lower_rank(spec, axis)
    yield _graph_float32(spec)


def _graph_float32(spec: GraphSpec) -> GraphSpec | None:
    """The graph in float32, the plainest dtype (a bug float16 was not needed for then shows on the dtype a
    maintainer tries first); None for a graph that is float32 already or has no float32 form."""
    if spec.dtype == "float32":
        return None
    try:
        return GraphSpec(spec.input_shape, spec.nodes, spec.opset, "float32", spec.seed)
    except SpecError:
        return None


def _lower_rank(spec: GraphSpec, axis: int) -> GraphSpec | None:
    """The input's size-1 `axis` (1.., the batch is 0) dropped and every node rewritten for it by its op's
    `drop_axis` hook (an Einsum loses the axis' letter, a Softmax's axis moves down, ...): the same graph a
    rank lower.  None when the dim is not 1, the input would have no dim left, a node that sees the axis has
    no hook or cannot do without it, a binary node's two tensors hold it at other places, or some tensor
    would not have its old shape less the axis."""
    if len(spec.input_shape) < 2 or spec.input_shape[axis - 1] != 1:
        return None
    where: list[int | None] = [axis]  # where each tensor holds the axis (None: no longer)
    nodes = []
    for k, node in enumerate(spec.nodes):
        at = where[k]
        if node.other is not None and where[node.other] != at:
            return None
        if at is None:
            nodes.append(node)
            where.append(None)
            continue
        entry = GRAPH_OPS[node.kind]
        dropped = entry.drop_axis(entry.check_params(node.p, spec.opset, ""), at, spec.shapes[k].rank) \
            if entry.drop_axis is not None else None
        if dropped is None:
            return None
        params, out = dropped
        nodes.append(NodeSpec(node.kind, _written(node.p, params, entry.params), node.other))
        where.append(out)
    lower = _graph(spec, spec.input_shape[:axis - 1] + spec.input_shape[axis:], tuple(nodes))
    if lower is None or any(new != _without(old, at) for old, new, at in zip(spec.shapes, lower.shapes, where,
                                                                                strict=True)):
        return None
    return lower


def _written(given: dict[str, Value], params: dict[str, Any], table: dict[str, tuple[Any, Any]]) -> Params:
    """`params` (defaults filled in) as a spec writes them: a param given before, or one off its default."""
    return frozen_params({key: value for key, value in params.items()
                          if key in given or not _same(value, table[key][1])})


def _without(shape: TensorShape, axis: int | None) -> TensorShape:
    """`shape` less `axis` (as it is when axis is None), the batch axis renumbered."""
    if axis is None:
        return shape
    dims = shape.dims[:axis] + shape.dims[axis + 1:]
    batch = None if shape.batch is None else shape.batch - (shape.batch > axis)
    return TensorShape(dims, batch)


def _param_moves(params: Params, table: dict[str, tuple[Any, Any]]) -> Iterator[Params]:
    """One param moved: removed when it has a default, else (or then) its value made smaller."""
    for i, (key, value) in enumerate(params):
        default = table[key][1] if key in table else REQUIRED
        if default is not REQUIRED:
            yield params[:i] + params[i + 1:]
        for moved in _value_moves(value):
            if default is REQUIRED or not _same(moved, default):
                yield params[:i] + ((key, moved),) + params[i + 1:]


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (so 0 is not False)."""
    return type(a) is type(b) and a == b


def _value_moves(value: Value) -> list[Value]:
    if value is None or isinstance(value, bool | str):  # None: an unknown dim (EinsumDense's output_shape)
        return []
    if isinstance(value, int):
        return list(_int_moves(value))
    if isinstance(value, float):
        return [0.0] if value != 0.0 else []
    return list(_tuple_moves(value))


def _int_moves(v: int, low: int = 0) -> list[int]:
    """Strictly smaller magnitudes, largest jump first: 0, 1, |v| // 2, then (for |v| > 64) |v| less a
    quarter, an eighth, ... of itself, and |v| - 1 (those >= `low`), signed: a bug that needs a large value
    (past 2**31, say) comes down to its edge in a few dozen steps, not one at a time."""
    m, sign = abs(v), (1 if v > 0 else -1)
    out: list[int] = []
    steps = [m - m // 2**k for k in range(2, m.bit_length()) if m // 2**k > 1] if m > 64 else []
    for x in (0, 1, m // 2, *steps, m - 1):
        if low <= x < m and x not in out:
            out.append(x)
    return [sign * x for x in out]


def _tuple_moves(value: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    for i, x in enumerate(value):
        for moved in _value_moves(x):
            yield value[:i] + (moved,) + value[i + 1:]


def _dim_moves(shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """Each dim dropped (a rank fewer: layers that take any rank then read a smaller tensor), then each dim
    made smaller."""
    if len(shape) > 1:
        for i in range(len(shape)):
            yield shape[:i] + shape[i + 1:]
    for i, d in enumerate(shape):
        for moved in _int_moves(d, low=1):
            yield shape[:i] + (moved,) + shape[i + 1:]


# ---- helpers ----------------------------------------------------------------------------------------------
def _graph(spec: GraphSpec, input_shape: tuple[int, ...], nodes: tuple[NodeSpec, ...]) -> GraphSpec | None:
    """`spec` with this input shape and these nodes (its opset, dtype and seed kept), or None when that is
    invalid (building it raised SpecError)."""
    try:
        return GraphSpec(input_shape, nodes, spec.opset, spec.dtype, spec.seed)
    except SpecError:
        return None


def _distinct(spec: Spec, candidates: Iterable[Spec | None]) -> list[Spec]:
    """The valid candidates, each once (by JSON), without `spec` itself, in order."""
    seen = {spec.to_json()}
    out: list[Spec] = []
    for c in candidates:
        if c is not None and (text := c.to_json()) not in seen:
            seen.add(text)
            out.append(c)
    return out


# ---- the reducer ------------------------------------------------------------------------------------------
@dataclass
class Reduction:
    """What `reduce` did."""

    spec: Spec  # the reduced spec
    tries: int  # how many candidates were checked (calls of `holds`)
    accepted: int  # how many steps were taken
    exhausted: bool  # True when the budget ran out before a fixpoint (the result may not be 1-minimal)


def reduce(spec: Spec, holds: Callable[[Spec], bool], *, max_tries: int = 200,
           deadline: float | None = None) -> Reduction:
    """Greedy to a fixpoint: take the first candidate (single_steps first, then parameter_steps) for which
    `holds(candidate)` is True, restart from it; stop when no candidate holds, or when `max_tries` checks were
    made or `time.monotonic()` passed `deadline` before the next one (then `exhausted`).

    `spec` itself is assumed to hold and is never checked.  A structural candidate is checked only when it is
    strictly smaller than the current spec by `parts.size_of` (they always are); a parameter candidate (a
    param moved to its default or to a smaller magnitude, a dim made smaller, an input made static) when it
    has no more layers (nodes) and input elements: its JSON may be a character longer, as `"dynamic": false`
    is than `true`.  Each candidate is checked once: every spec checked or visited is remembered by its JSON,
    so there is no cycle and no repeated check.  At a fixpoint no single step holds (1-minimal, for a
    deterministic `holds`); a parameter step back to a spec visited before is not checked again."""
    current, size = spec, size_of(spec)
    seen = {spec.to_json()}
    tries = accepted = 0
    while True:
        for candidate, structural in _candidates(current):
            text = candidate.to_json()
            if text in seen:
                continue
            new_size = size_of(candidate)
            if not (new_size < size if structural else new_size[:2] <= size[:2]):
                continue
            if tries >= max_tries or (deadline is not None and time.monotonic() >= deadline):
                return Reduction(current, tries, accepted, exhausted=True)
            seen.add(text)
            tries += 1
            if holds(candidate):
                current, size = candidate, new_size
                accepted += 1
                break
        else:
            return Reduction(current, tries, accepted, exhausted=False)


def _candidates(spec: Spec) -> Iterator[tuple[Spec, bool]]:
    """(candidate, structural): the parameter steps are computed only once every structural one failed."""
    for c in single_steps(spec):
        yield c, True
    for c in parameter_steps(spec):
        yield c, False
