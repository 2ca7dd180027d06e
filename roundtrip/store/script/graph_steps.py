"""Steps that make a repro script's ONNX graph smaller, each giving a graph that is still valid.

A step is a pure function of a model that returns a smaller or plainer model, or None where it does not
apply.  `runs` is the rule every step's result must pass before a script is run on it: onnx.checker with
strict shape and type inference, and a run of ONNX Runtime (CPUExecutionProvider) on the script's inputs.
A graph the checker accepts and no runtime runs (a Reshape of 1 element to [1, 1, 2]) shows some other bug,
if any, and a maintainer would send it back.

The steps:
- `bypassed` / `output_bypassed` (onnx_text, here): a node removed, its consumers (or the graph output it
  made, as declared first, then as inferred) reading one of its inputs instead; `body_bypassed`: the same
  for a node of a Loop's or an If's body;
- `folded`: a tensor that a node reads as a side input (not its first input) replaced by an initializer
  holding its value on the script's inputs (`values`), and the chain of nodes that made it removed;
- `simpler_initializer`: a small float initializer made all ones, or its values rounded to one decimal;
- `only_output`: one graph output kept (what feeds only the others goes);
- `without_unused_inputs`: graph inputs that no node reads dropped;
- `carried_dropped` / `carried_made_constant` / `scan_dropped`: a Loop's carried value (or one its body passes on
  unchanged, read as a constant then) and scan outputs dropped;
- `input_axis_dropped` / `unit_axis_dropped`: the graph a rank lower at its input.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from roundtrip.store.script.arrays import INLINE_LIMIT
from roundtrip.store.script.onnx_text import (
    bypassed,
    checked,
    cut_after,
    pruned,
    pruned_graph,
    retyped,
    subgraph_reads,
    valid,
)


def runs(model: Any, feeds: dict[str, np.ndarray]) -> bool:
    """Whether the full checker accepts `model` and ONNX Runtime runs it on `feeds` (those of its inputs)."""
    if not valid(model):
        return False
    try:
        outputs_of(model, feeds)
    except Exception:  # noqa: BLE001 - any failure to load or run
        return False
    return True


def outputs_of(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ONNX Runtime's outputs of `model` on the feeds it takes, by output name."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # a graph that fails here is a rejected step, not news
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    results = session.run(None, {k: v for k, v in feeds.items() if k in wanted})
    return {o.name: np.asarray(r) for o, r in zip(session.get_outputs(), results, strict=True)}


def values(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The value of every tensor a node of the main graph makes, on `feeds` (ONNX Runtime, one run);
    empty when shape inference or the run fails."""
    import onnx
    from onnx import helper

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - no values then
        return {}
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info if v.type.HasField("tensor_type")}
    shown = {o.name for o in model.graph.output}
    extra = [n for node in model.graph.node for n in node.output if n and n not in shown and types.get(n)]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_tensor_value_info(n, types[n], None) for n in extra)
    try:
        return outputs_of(probe, feeds)
    except Exception:  # noqa: BLE001 - no values then
        return {}


def side_inputs(model: Any) -> list[str]:
    """Tensors made by a node and read by another as a side input (not its first), each once, in order."""
    made = {n for node in model.graph.node for n in node.output if n}
    shown = {o.name for o in model.graph.output}
    names = [n for node in model.graph.node for n in node.input[1:] if n in made and n not in shown]
    return list(dict.fromkeys(names))


def folded(model: Any, name: str, value: np.ndarray) -> Any:
    """`model` with tensor `name` replaced by an initializer holding `value`, and without the nodes that
    then feed nothing."""
    import onnx
    from onnx import numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    taken = {n for node in out.graph.node for n in [*node.input, *node.output]} | {
        t.name for t in out.graph.initializer} | {v.name for v in out.graph.input}
    constant = fresh_name(f"{name}_value", taken)
    for node in out.graph.node:
        node.input[:] = [constant if n == name else n for n in node.input]
    out.graph.initializer.append(numpy_helper.from_array(np.asarray(value), constant))
    return pruned(out)


def fresh_name(stem: str, taken: set[str]) -> str:
    name, k = stem, 1
    while name in taken:
        k += 1
        name = f"{stem}{k}"
    return name


def output_bypassed(model: Any, index: int, via: int = 0, declared: bool = False) -> Any | None:
    """The graph without node `index`, which makes a graph output: the node's input `via` becomes that
    output (its maker writes it under the output's name), typed as shape inference types that input, or
    with `declared` as the output was declared (a converter may read the declared shape: onnx2tf 1.29
    converts a Concat whose output is declared `float[d1,d2,4]` otherwise than one declared `float[1,1,4]`);
    None where that input is a graph input or an initializer, is read elsewhere, or the type cannot be had
    (shape inference cannot type it; the declared type is not valid for it)."""
    import onnx

    node = model.graph.node[index]
    shown = {o.name: k for k, o in enumerate(model.graph.output)}
    made_here = [n for n in node.output if n in shown]
    if len(made_here) != 1 or via >= len(node.input) or not node.input[via]:
        return None
    source, target = node.input[via], made_here[0]
    makers = [k for k, other in enumerate(model.graph.node) if source in other.output]
    readers = [other for k, other in enumerate(model.graph.node) if k != index and source in other.input]
    if not makers or readers or source in shown or any(n in shown for n in node.output if n != target):
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    maker = out.graph.node[makers[0]]
    maker.output[:] = [target if n == source else n for n in maker.output]
    if not declared:
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - cannot type the new output
            return None
        typed = {v.name: v for v in inferred.graph.value_info}
        if source not in typed:
            return None
        out.graph.output[shown[target]].type.CopyFrom(typed[source].type)
    del out.graph.node[index]
    kept = pruned(out)
    return kept if not declared or valid(kept) else None


def bypasses(model: Any, index: int) -> Iterator[Any]:
    """Each way to bypass node `index`: its consumers (or the graph output it makes) read one of its inputs.
    A graph output made so keeps its declared type first, then takes the inferred one (when that differs)."""
    node = model.graph.node[index]
    shown = {o.name for o in model.graph.output}
    for via, name in enumerate(node.input):
        if not name or name in node.input[:via]:
            continue
        if not shown & set(node.output):
            graph = bypassed(model, index, via)
            if graph is not None:
                yield graph
            continue
        kept = output_bypassed(model, index, via, declared=True)
        if kept is not None:
            yield kept
        typed = output_bypassed(model, index, via)
        if typed is not None and (kept is None or typed.graph.output != kept.graph.output):
            yield typed


def simpler_initializer(model: Any, name: str) -> Iterator[Any]:
    """`model` with the small float initializer `name` all ones, then rounded to one decimal (each only
    where it differs from what is there)."""
    import onnx
    from onnx import numpy_helper

    found = [k for k, t in enumerate(model.graph.initializer) if t.name == name]
    if not found:
        return
    array = numpy_helper.to_array(model.graph.initializer[found[0]])
    if array.dtype.kind != "f" or array.size > INLINE_LIMIT:
        return
    for simpler in (np.ones_like(array), np.round(array, 1).astype(array.dtype)):
        if np.array_equal(simpler, array, equal_nan=True):
            continue
        out = onnx.ModelProto()
        out.CopyFrom(model)
        out.graph.initializer[found[0]].CopyFrom(numpy_helper.from_array(simpler, name))
        yield out


def only_output(model: Any, k: int) -> Any | None:
    """`model` with graph output `k` alone, without what fed only the others; None for a single output."""
    import onnx

    if len(model.graph.output) < 2:
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    kept = onnx.ValueInfoProto()
    kept.CopyFrom(out.graph.output[k])
    del out.graph.output[:]
    out.graph.output.append(kept)
    return pruned(out)


def without_unused_inputs(model: Any) -> Any | None:
    """`model` without the graph inputs that no node (nor a subgraph of one) reads; None when all are read."""
    import onnx

    read = {n for node in model.graph.node for n in [*node.input, *subgraph_reads(node)]}
    shown = {o.name for o in model.graph.output}
    kept = [v for v in model.graph.input if v.name in read or v.name in shown]
    if len(kept) == len(model.graph.input):
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.input[:]
    out.graph.input.extend(kept)
    return out


def bodies(model: Any) -> list[tuple[str, str]]:
    """(the first output of a node of the main graph, the name of its graph attribute) for every subgraph
    that a main graph node holds."""
    from onnx import AttributeProto

    return [(node.output[0], a.name) for node in model.graph.node for a in node.attribute
            if a.type == AttributeProto.GRAPH and node.output]


def body_of(model: Any, holder: str, attribute: str) -> Any | None:
    """The subgraph `attribute` of the node whose first output is `holder` (in `model`, not a copy)."""
    for node in model.graph.node:
        if node.output[:1] == [holder]:
            return next((a.g for a in node.attribute if a.name == attribute), None)
    return None


def body_bypassed(model: Any, holder: str, attribute: str, made: str, via: int) -> Any | None:
    """`model` without the node of that subgraph whose first output is `made`, its consumers in the
    subgraph reading its input `via` instead, and without what then feeds none of the subgraph's outputs;
    None where that node makes a subgraph output or has no such input."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    body = body_of(out, holder, attribute)
    found = [k for k, n in enumerate(body.node) if n.output[:1] == [made]] if body is not None else []
    if body is None or not found:
        return None
    node = body.node[found[0]]
    shown = {o.name for o in body.output}
    if via >= len(node.input) or not node.input[via] or shown & set(node.output):
        return None
    source, gone = node.input[via], set(node.output)
    del body.node[found[0]]
    for other in body.node:
        other.input[:] = [source if name in gone else name for name in other.input]
    pruned_graph(body)
    return out


VARIADIC = ("Concat", "Sum", "Max", "Min", "Mean")  # ops that read any number of inputs alike


def input_dropped(model: Any, index: int, k: int) -> Any | None:
    """The graph with input `k` of node `index` (of a VARIADIC kind, with more than one input) dropped,
    and what then feeds nothing (`checked`: the graph outputs typed again where they changed).  None for another
    node, or when the graph left is not valid."""
    import onnx

    node = model.graph.node[index]
    if node.op_type not in VARIADIC or node.domain or len(node.input) < 2 or k >= len(node.input):
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[index].input[k]
    return checked(pruned(out))


def pair_bypassed(model: Any, first: int, second: int) -> Any | None:
    """The graph without nodes `first` and `second`, the readers of each reading its first input instead
    (a Squeeze and the Unsqueeze that undoes it, with a node between them, go together where neither can
    alone), and what then feeds nothing (`checked`: the graph outputs typed again where they changed).
    None where either makes a graph output or has no input, or when the graph left is not valid."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    if not _two_removed(out.graph, first, second):
        return None
    return checked(pruned(out))


def _two_removed(graph: Any, first: int, second: int) -> bool:
    """`graph` (in place) without nodes `first` and `second`, the readers of each reading its first input;
    False (and `graph` as it was) where either makes an output of `graph` or has no input."""
    nodes = graph.node
    shown = {o.name for o in graph.output}
    if any(not nodes[k].input or not nodes[k].input[0] or shown & set(nodes[k].output) for k in (first, second)):
        return False
    for k in sorted((first, second), reverse=True):
        node = graph.node[k]
        source, gone = node.input[0], set(node.output)
        del graph.node[k]
        for other in graph.node:
            other.input[:] = [source if name in gone else name for name in other.input]
    return True


def body_pair_bypassed(model: Any, holder: str, attribute: str, first: int, second: int) -> Any | None:
    """`model` without nodes `first` and `second` of that subgraph (as `pair_bypassed` does in the main
    graph: two Casts a Less reads go together), and what then feeds none of the subgraph's outputs."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    body = body_of(out, holder, attribute)
    if body is None or not _two_removed(body, first, second):
        return None
    pruned_graph(body)
    return checked(out)


def downstream_pairs(model: Any) -> list[tuple[int, int]]:
    """(first, second) node indices where `second` reads, through any nodes, what `first` makes; in order."""
    return graph_pairs(model.graph, downstream=True)


def graph_pairs(graph: Any, downstream: bool) -> list[tuple[int, int]]:
    """(first, second) node indices of `graph`, first < second; with `downstream`, only those where `second`
    reads, through any nodes, what `first` makes."""
    nodes = graph.node
    reaches: list[set[str]] = []  # the tensors each node depends on
    made = {n: k for k, node in enumerate(nodes) for n in node.output if n}
    for node in nodes:
        deps = set(node.input) | subgraph_reads(node)
        reaches.append(deps | {d for n in deps if n in made for d in reaches[made[n]]})
    return [(a, b) for b in range(len(nodes)) for a in range(b)
            if not downstream or any(n in reaches[b] for n in nodes[a].output if n)]


def node_index(model: Any, name: str) -> int | None:
    """The index of the main graph's node whose first output is `name` (None: no such node)."""
    return next((k for k, node in enumerate(model.graph.node) if node.output[:1] == [name]), None)


def loop_nodes(model: Any) -> list[int]:
    """The indices of the main graph's Loop nodes."""
    return [k for k, node in enumerate(model.graph.node) if node.op_type == "Loop" and not node.domain]


def loop_at(model: Any, ordinal: int) -> int | None:
    """The index of the main graph's Loop number `ordinal` (None: it has fewer Loops)."""
    loops = loop_nodes(model)
    return loops[ordinal] if ordinal < len(loops) else None


def _loop(model: Any, index: int) -> tuple[Any, Any, int]:
    """(the Loop node, its body, how many values it carries)."""
    node = model.graph.node[index]
    body = next(a.g for a in node.attribute if a.name == "body")
    return node, body, len(node.input) - 2


def carried_count(model: Any, index: int) -> int:
    return _loop(model, index)[2]


def scan_count(model: Any, index: int) -> int:
    node, _, carried = _loop(model, index)
    return len(node.output) - carried


def _unused(model: Any, name: str) -> bool:
    """Whether no node of the main graph (nor a subgraph) reads `name` and no graph output is it."""
    return not name or (name not in {o.name for o in model.graph.output}
                        and all(name not in node.input and name not in subgraph_reads(node)
                                for node in model.graph.node))


def carried_dropped(model: Any, index: int, j: int) -> Any | None:
    """Loop `index` without its carried value `j` (its input, the body's input and output for it, and its
    final value), and what then feeds nothing in the body and the graph; None where the main graph reads that
    final value, a body node reads the value, or the graph left is not valid."""
    import onnx

    node, body, carried = _loop(model, index)
    if j >= carried or not _unused(model, node.output[j]):
        return None
    value = body.input[2 + j].name
    if any(value in inner.input or value in subgraph_reads(inner) for inner in body.node):
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    node, body, _ = _loop(out, index)
    return _without_carried(out, node, body, j)


def _without_carried(out: Any, node: Any, body: Any, j: int) -> Any | None:
    """`out` (whose Loop is `node`, its body `body`) without carried value `j`: its initial value, final value,
    body input and body output, and what then feeds nothing; None where the graph left is not valid."""
    del node.input[2 + j]
    del node.output[j]
    del body.input[2 + j]
    del body.output[1 + j]
    pruned_graph(body)
    return checked(pruned(out))


def carried_made_constant(model: Any, index: int, j: int) -> Any | None:
    """Loop `index` without its carried value `j`, one the body passes on unchanged (a limit a Less reads): the body
    reads a constant of the body holding its initial value (a main graph initializer) instead, and the value is
    dropped as `carried_dropped` drops it.  None where the body changes the value, a subgraph of the body reads
    it, its initial value is not an initializer, the main graph reads its final value, or the graph left is not
    valid."""
    import onnx

    node, body, carried = _loop(model, index)
    if j >= carried or not _unused(model, node.output[j]):
        return None
    value, initial = body.input[2 + j].name, node.input[2 + j]
    start = [t for t in model.graph.initializer if t.name == initial]
    if body.output[1 + j].name != value or not start or any(value in subgraph_reads(n) for n in body.node):
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    node, body, _ = _loop(out, index)
    taken = {n for g in (out.graph, body) for inner in g.node for n in [*inner.input, *inner.output]} | {
        t.name for g in (out.graph, body) for t in g.initializer} | {v.name for v in [*out.graph.input, *body.input]}
    constant = body.initializer.add()
    constant.CopyFrom(start[0])
    constant.name = fresh_name(f"{value}_value", taken)
    for inner in body.node:
        inner.input[:] = [constant.name if n == value else n for n in inner.input]
    return _without_carried(out, node, body, j)


def scan_dropped(model: Any, index: int, k: int) -> Any | None:
    """Loop `index` without its scan output `k` (the body's output for it too), and what then feeds nothing.
    Where that scan output is a graph output, a final value of the Loop nobody reads takes its place
    (`_scan_output_replaced`).  None where the main graph reads it, or the graph left is not valid."""
    node, _, carried = _loop(model, index)
    if carried + k >= len(node.output):
        return None
    name = node.output[carried + k]
    if name in {o.name for o in model.graph.output}:
        return _scan_output_replaced(model, index, k)
    return checked(pruned(_without_scan(model, index, k))) if _unused(model, name) else None


def _without_scan(model: Any, index: int, k: int) -> Any:
    """A copy of `model` whose Loop `index` no longer makes scan output `k` (nor its body the value for it)."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    node, body, carried = _loop(out, index)
    del node.output[carried + k]
    del body.output[1 + carried + k]
    pruned_graph(body)
    return out


def _scan_output_replaced(model: Any, index: int, k: int) -> Any | None:
    """Loop `index` without scan output `k`, a graph output: the first final value of the Loop nobody reads
    that makes a valid graph takes its name (typed again, `_typed`).  None where a node reads the scan
    output or no final value will do."""
    node, _, carried = _loop(model, index)
    name = node.output[carried + k]
    if any(name in n.input or name in subgraph_reads(n) for n in model.graph.node):
        return None
    for j in range(carried):
        if not _unused(model, node.output[j]):
            continue
        out = _without_scan(model, index, k)
        loop = out.graph.node[index]
        loop.output[j] = name
        found = _typed(pruned(out), name, loop.input[2 + j])
        if found is not None:
            return found
    return None


def _typed(model: Any, name: str, initial: str) -> Any | None:
    """`model` with its outputs typed again (`retyped`), output `name`, a Loop's final value whose shape
    inference leaves unknown, shaped as its `initial` value (an initializer); None when that is not valid."""
    from onnx import helper

    typed = retyped(model)
    if typed is None:
        return None
    value = next(o for o in typed.graph.output if o.name == name)
    start = [t for t in typed.graph.initializer if t.name == initial]
    if not value.type.tensor_type.HasField("shape") and start:
        value.type.CopyFrom(helper.make_tensor_type_proto(value.type.tensor_type.elem_type, list(start[0].dims)))
    return typed if valid(typed) else None


def headless(model: Any, feeds: dict[str, np.ndarray]) -> Any | None:
    """The graph without its first node, the graph input it read now holding what it made (the graph analogue
    of the spec reducer's `_headless`): the input keeps its name and its first (batch) dim, its other dims
    those of the node's output on `feeds`, concrete.  None unless the first node can go so (`_head_goes`)
    and what it makes keeps the input's batch, or when the graph left is not valid."""
    import onnx
    from onnx import helper

    if not _head_goes(model):
        return None
    first = model.graph.node[0]
    source, made = first.input[0], first.output[0]
    value = _first_value(model, feeds)
    if value is None or value.ndim < 1 or value.shape[0] != feeds[source].shape[0]:
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[0]
    for node in out.graph.node:
        node.input[:] = [source if n == made else n for n in node.input]
    old = next(v for v in out.graph.input if v.name == source)
    batch = old.type.tensor_type.shape.dim[0]
    dims = [batch.dim_param or batch.dim_value, *value.shape[1:]]
    old.type.CopyFrom(helper.make_tensor_type_proto(helper.np_dtype_to_tensor_dtype(value.dtype), dims))
    return checked(pruned(out))


def _head_goes(model: Any) -> bool:
    """Whether the graph's first node can go with its input holding what it made: the graph has another node,
    the first reads a fed graph input no other node reads (its other inputs are initializers) and makes one
    tensor, not a graph output."""
    graph = model.graph
    if len(graph.node) < 2:
        return False
    first = graph.node[0]
    inits = {t.name for t in graph.initializer}
    fed = {v.name for v in graph.input} - inits
    made = [n for n in first.output if n]
    if not first.input or first.input[0] not in fed or len(made) != 1 or made[0] in {o.name for o in graph.output}:
        return False
    if any(n and n not in inits for n in first.input[1:]):
        return False
    source = first.input[0]
    return not any(source in n.input or source in subgraph_reads(n) for n in graph.node[1:])


def _first_value(model: Any, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
    """What the first node makes on `feeds` (ONNX Runtime, the graph cut after it), None when that fails."""
    cut = cut_after(model, 0)
    if cut is None:
        return None
    try:
        return next(iter(outputs_of(cut, feeds).values()))
    except Exception:  # noqa: BLE001 - no value then
        return None


# Ops of each element alone, or of tensors that broadcast: a size-1 axis can go from all their tensors at once.
ELEMENTWISE = ("Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow", "Relu", "Sigmoid", "Tanh", "Exp",
               "Log", "Abs", "Neg", "Identity", "Sqrt", "Reciprocal", "Erf", "Floor", "Ceil", "Cast")


def unit_axis_dropped(model: Any, axis: int) -> Any | None:
    """The graph a rank lower: size-1 `axis` (past the batch) gone from its one fed input, from each initializer
    that spans it (broadcasting aligns ranks from the right) and from its outputs, for a graph of ELEMENTWISE
    nodes alone (a Mul of [N, 1, 2, 3, 1] by [1, 1, 1, 3, 1] becomes one of [N, 1, 2, 3] by [1, 1, 1, 3]).
    None for another graph, a dim that is not 1, or when the graph left is not valid."""
    import onnx
    from onnx import numpy_helper

    inits = {t.name for t in model.graph.initializer}
    fed = [v for v in model.graph.input if v.name not in inits]
    if len(fed) != 1 or any(n.op_type not in ELEMENTWISE or n.domain for n in model.graph.node):
        return None
    dims = fed[0].type.tensor_type.shape.dim
    rank = len(dims)
    if not 1 <= axis < rank or rank < 3 or dims[axis].dim_value != 1:
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for value in [*(v for v in out.graph.input if v.name not in inits), *out.graph.output]:
        shape = value.type.tensor_type.shape
        if len(shape.dim) != rank or shape.dim[axis].dim_value != 1:
            return None
        del shape.dim[axis]
    for k, tensor in enumerate(out.graph.initializer):
        array = numpy_helper.to_array(tensor)
        at = axis - (rank - array.ndim)
        if at >= 0:
            if array.shape[at] != 1:
                return None
            out.graph.initializer[k].CopyFrom(numpy_helper.from_array(np.squeeze(array, at), tensor.name))
    del out.graph.value_info[:]
    return checked(out)


# Ops with an int input holding one entry per axis of their first input: (op, which input).
PER_AXIS = {"Tile": 1}


def input_axis_dropped(model: Any, axis: int) -> Any | None:
    """The graph a rank lower at its fed input, for any nodes (where `unit_axis_dropped` needs elementwise ones):
    size-1 `axis` (past the batch) gone from the one fed input, a PER_AXIS initializer of a node that reads that
    input losing its entry for the axis (a Tile's repeats), the graph outputs typed as inference types them now.
    A Reshape to a fixed shape, a Shape or a Conv after a Reshape then read a smaller input (`float[N,1,2]` ->
    `float[N,2]`); the step keeps only graphs that are valid (`checked`).  None for a graph with more than one fed
    input, a dim that is not 1, or an input of rank 1."""
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    fed = [v for v in model.graph.input if v.name not in inits]
    if len(fed) != 1:
        return None
    dims = fed[0].type.tensor_type.shape.dim
    if not 1 <= axis < len(dims) or dims[axis].dim_value != 1:
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    source = next(v for v in out.graph.input if v.name == fed[0].name)
    del source.type.tensor_type.shape.dim[axis]
    del out.graph.value_info[:]
    for node in out.graph.node:
        at = PER_AXIS.get(node.op_type) if not node.domain and node.input[:1] == [source.name] else None
        if at is None or at >= len(node.input) or node.input[at] not in inits:
            continue
        if sum(node.input[at] in other.input for other in out.graph.node) > 1:
            return None
        tensor = next(t for t in out.graph.initializer if t.name == node.input[at])
        array = numpy_helper.to_array(tensor)
        if array.shape != (len(dims),):
            return None
        tensor.CopyFrom(numpy_helper.from_array(np.delete(array, axis), tensor.name))
    return checked(out)
