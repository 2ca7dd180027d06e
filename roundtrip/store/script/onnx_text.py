"""An ONNX model as source a maintainer reads: `onnx.parser` text, tensors renamed short, big weights drawn.

`tidy` renames every tensor but the graph's inputs and outputs after the node that makes it (`conv1`,
`transpose2`; initializers `c1`, `c2`, ...), drops node names, doc strings, intermediate value_info and the
producer fields.  `source` prints the model with `onnx.printer` and takes the float initializers of more
than `arrays.INLINE_LIMIT` values out of the text: the script adds them back drawn from a seeded generator
(`Graph.draws`).  A converter may depend on what `tidy` drops (a node name that becomes a layer name): the
renderer checks that the script still shows the bug and falls back to the model as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from roundtrip.store.script.arrays import INLINE_LIMIT, drawn, literal


@dataclass(frozen=True)
class Graph:
    text: str  # for onnx.parser.parse_model: the nodes, without initializers
    initializers: tuple[tuple[str, Any], ...]  # (name, array): written out, or drawn when big (`arrays.literal`)
    inputs: tuple[tuple[str, tuple[int | str, ...], str], ...]  # (name, dims, numpy dtype) fed by the script
    outputs: tuple[str, ...]


def tidy(model: Any) -> Any:
    """A copy of `model` with short tensor names (in its subgraphs too), plain names for the graph's inputs
    and outputs and their symbolic dims (no `unk__`, no `:0`), and without names, docs and annotations
    nobody needs."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    names = end_names(graph)
    counts: dict[str, int] = {}

    def fresh(stem: str) -> str:
        counts[stem] = counts.get(stem, 0) + 1
        return f"{stem}{counts[stem]}"

    _rename(graph, names, fresh, outer=True)
    _plain_dims(out)
    graph.name = "graph"
    for field in ("producer_name", "producer_version", "doc_string"):
        out.ClearField(field)
    del out.metadata_props[:]
    used = {node.domain for node in graph.node}
    kept = [o for o in out.opset_import if o.domain in used | {""}]
    del out.opset_import[:]
    out.opset_import.extend(kept)
    return out


def plain(name: str) -> bool:
    return name.isidentifier() and not name.startswith("unk__")


def end_names(graph: Any) -> dict[str, str]:
    """New names for the graph's inputs and outputs that are not plain: `input`, `output` (numbered when
    there are more)."""
    weights = {t.name for t in graph.initializer}
    fed = [v.name for v in graph.input if v.name not in weights]
    shown = [v.name for v in graph.output]
    taken = set(fed) | set(shown)
    names: dict[str, str] = {}
    for stem, ends in (("input", fed), ("output", shown)):
        for k, name in enumerate(ends):
            if not plain(name) and name not in names:
                new = stem if len(ends) == 1 else f"{stem}{k + 1}"
                while new in taken:
                    new += "_"
                names[name], taken = new, taken | {new}
    return names


def _rename(graph: Any, names: dict[str, str], fresh: Any, *, outer: bool) -> None:
    """Renames the tensors of `graph` (and of its nodes' subgraphs) in place: initializers `c1`, `c2`, ...;
    a node's outputs after its kind; a subgraph's inputs `arg1`, ...  The outer graph's inputs and outputs
    keep the names in `names` (or their own)."""
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} if outer else set()
    for init in graph.initializer:
        if init.name not in keep:
            names[init.name] = fresh("c")
    for value in graph.input if not outer else []:
        names[value.name] = fresh("arg")
    for node in graph.node:
        for k, name in enumerate(node.output):
            if name and name not in keep:
                first = names.get(node.output[0], node.output[0])  # a graph output keeps its name
                names[name] = fresh(node.op_type.lower()) if k == 0 else f"{first}_{k}"
    for value in [*graph.initializer, *graph.input, *graph.output]:
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.name = ""
        node.doc_string = ""
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
        for attribute in node.attribute:
            for sub in [attribute.g] if attribute.type == onnx_attribute_graph() else list(attribute.graphs):
                _rename(sub, names, fresh, outer=False)
                sub.name = f"{node.op_type.lower()}_body"
    del graph.value_info[:]
    graph.doc_string = ""


def onnx_attribute_graph() -> int:
    from onnx import AttributeProto

    return int(AttributeProto.GRAPH)


def _plain_dims(model: Any) -> None:
    """Symbolic dims that are not plain names (`unk__16`, `N*2`) named again: `N` for the first met as a
    first dim, then `d1`, `d2`, ...; one name keeps one name."""
    values = _ends(model.graph)
    taken = {d.dim_param for v in values for d in v.type.tensor_type.shape.dim if plain(d.dim_param)}
    names: dict[str, str] = {}
    for value in values:
        for axis, d in enumerate(value.type.tensor_type.shape.dim):
            if not d.dim_param or plain(d.dim_param):
                continue
            if d.dim_param not in names:
                new = "N" if axis == 0 and "N" not in taken else f"d{sum(v != 'N' for v in names.values()) + 1}"
                while new in taken:
                    new += "_"
                names[d.dim_param], taken = new, taken | {new}
            d.dim_param = names[d.dim_param]


def _ends(graph: Any) -> list[Any]:
    """The inputs and outputs of `graph` and of every subgraph in it."""
    found = [*graph.input, *graph.output]
    for node in graph.node:
        for attribute in node.attribute:
            for sub in [attribute.g] if attribute.type == onnx_attribute_graph() else list(attribute.graphs):
                found += _ends(sub)
    return found


def source(model: Any, *, in_text: bool = True) -> Graph:
    """`model` as parser text.  `in_text`: the small initializers written in the text (the parser stores
    them as typed fields); else every initializer added by the script as exporters write them
    (`numpy_helper.from_array`: raw bytes; some converters read a tensor's fields by position).  Big float
    initializers are always added by the script, drawn."""
    import onnx
    from onnx import numpy_helper

    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    weights = {t.name for t in model.graph.initializer}

    def in_script(t: Any) -> bool:
        array = numpy_helper.to_array(t)
        return not in_text or array.dtype.kind == "f" and array.size > INLINE_LIMIT

    initializers = tuple((t.name, numpy_helper.to_array(t)) for t in bare.graph.initializer if in_script(t))
    kept = [t for t in bare.graph.initializer if not in_script(t)]
    fed = [v for v in bare.graph.input if v.name not in weights]
    del bare.graph.input[:]
    bare.graph.input.extend(fed)
    del bare.graph.initializer[:]
    bare.graph.initializer.extend(kept)
    _plain_dim_names(bare)
    inputs = tuple((v.name, _dims(v), dtype_of(v)) for v in model.graph.input if v.name not in weights)
    text = onnx.printer.to_text(bare).replace('[""] ', "")  # nodes without names
    return Graph(text, initializers, inputs, tuple(v.name for v in model.graph.output))


def _plain_dim_names(model: Any) -> None:
    """Symbolic dims the parser reads: "N*2" becomes "N_2" (the name of a symbolic dim carries no meaning)."""
    for value in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param and not d.dim_param.isidentifier():
                d.dim_param = "".join(c if c.isalnum() or c == "_" else "_" for c in d.dim_param).strip("_") or "d"


def dims_of(value: Any) -> tuple[int | str, ...]:
    """A graph input's (or output's) dims: a name for a symbolic one, "?" for one unknown."""
    return _dims(value)


def _dims(value: Any) -> tuple[int | str, ...]:
    return tuple(d.dim_param or (d.dim_value if d.HasField("dim_value") else "?")
                 for d in value.type.tensor_type.shape.dim)


def dtype_of(value: Any) -> str:
    """The numpy dtype name of a graph input or output."""
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)).name


def lines(graph: Graph) -> list[str]:
    """The statements that make `onnx_model` in the script."""
    text = graph.text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    out = [f'onnx_model = onnx.parser.parse_model("""\n{text.strip()}\n""")']
    if not graph.initializers:
        return out
    values = []
    for name, array in graph.initializers:
        big = array.dtype.kind == "f" and array.size > INLINE_LIMIT
        values.append(f"    ({drawn(tuple(int(d) for d in array.shape), array.dtype.name) if big else literal(array)}, "
                      f"{text_of(name)}),")
    if any(line.lstrip("( ").startswith("rng.") for line in values):
        out.append("rng = np.random.default_rng(0)  # the bigger weights: any values show the bug")
    return [*out, "for array, name in [", *values, "]:",
            "    onnx_model.graph.initializer.append(onnx.numpy_helper.from_array(array, name))"]


def text_of(name: str) -> str:
    return f'"{name}"' if '"' not in name and "\\" not in name else repr(name)


def same_graph(a: Any, b: Any) -> bool:
    """Whether two models hold the same nodes (kinds, wiring, attributes) and initializers, bit for bit."""
    from onnx import numpy_helper

    def inits(m: Any) -> dict[str, np.ndarray]:
        return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}

    ia, ib = inits(a), inits(b)
    if ia.keys() != ib.keys() or any(ia[k].dtype != ib[k].dtype or not np.array_equal(ia[k], ib[k], equal_nan=True)
                                     for k in ia):
        return False
    nodes = [(n.op_type, list(n.input), list(n.output), sorted(x.SerializeToString() for x in n.attribute))
             for n in a.graph.node]
    return nodes == [(n.op_type, list(n.input), list(n.output), sorted(x.SerializeToString() for x in n.attribute))
                     for n in b.graph.node]


def cut_after(model: Any, index: int) -> Any | None:
    """The graph up to node `index`, its first output the only graph output (typed by shape inference),
    without the nodes and initializers that no longer feed it; None when inference cannot type it."""
    import onnx

    target = model.graph.node[index].output[0]
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - a graph inference rejects cannot be cut this way
        return None
    typed = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    if target not in typed or not typed[target].type.tensor_type.elem_type:
        return None
    needed, kept = {target}, []
    for node in reversed(model.graph.node[: index + 1]):
        if needed & set(node.output):
            kept.append(node)
            needed |= set(node.input)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(reversed(kept))
    inits = [t for t in out.graph.initializer if t.name in needed]
    del out.graph.initializer[:]
    out.graph.initializer.extend(inits)
    del out.graph.output[:]
    out.graph.output.append(typed[target])
    return out


def cuts(model: Any, kind: str) -> list[Any]:
    """The graph cut after each node of `kind`, smallest first; none when the graph ends at such a node."""
    found = [k for k, node in enumerate(model.graph.node) if node.op_type == kind and k < len(model.graph.node) - 1]
    graphs = [g for g in (cut_after(model, k) for k in found) if g is not None and valid(g)]
    return sorted(graphs, key=lambda g: len(g.graph.node))


def valid(model: Any) -> bool:
    """Whether onnx.checker, with strict shape and type inference, accepts `model`: a smaller graph that it
    rejects shows some other bug, if any."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception:  # noqa: BLE001 - any rejection
        return False
    return True


def bypassed(model: Any, index: int, via: int = 0) -> Any | None:
    """The graph without node `index`, its consumers reading the node's input `via` instead, and without
    what then feeds nothing; None for a node that makes a graph output or has no such input, or when the
    graph that is left is not valid."""
    import onnx

    node = model.graph.node[index]
    outputs = {o.name for o in model.graph.output}
    if via >= len(node.input) or not node.input[via] or outputs & set(node.output):
        return None
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    source, gone = node.input[via], set(node.output)
    del graph.node[index]
    for other in graph.node:
        other.input[:] = [source if name in gone else name for name in other.input]
    return checked(pruned(out))


def checked(model: Any) -> Any | None:
    """`model` when it is valid, else (a step changed an output's shape: a Concat lost an input) `model` with its
    graph outputs typed as inference types them now when that is valid, else None."""
    if valid(model):
        return model
    typed = retyped(model)
    return typed if typed is not None and valid(typed) else None


def retyped(model: Any) -> Any | None:
    """A copy of `model` with each graph output's type (element type and shape) what shape inference gives it
    now, so that a step that changes an output (an input of the Concat that makes it dropped, a Loop's value
    made the output) leaves a valid graph; None when inference fails or cannot type an output."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for value in probe.graph.output:
        value.type.Clear()
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, strict_mode=True)
    except Exception:  # noqa: BLE001 - no type then
        return None
    typed = {v.name: v.type for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for value in out.graph.output:
        found = typed.get(value.name)
        if found is None or not found.tensor_type.elem_type:
            return None
        value.type.CopyFrom(found)
    return out


def pruned(model: Any) -> Any:
    """`model` without the nodes and initializers that no graph output depends on (in place)."""
    pruned_graph(model.graph)
    return model


def pruned_graph(graph: Any) -> None:
    """`graph` (a model's, or a subgraph) without the nodes and initializers no output of it depends on."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if needed & set(node.output):
            kept.append(node)
            needed |= set(node.input) | subgraph_reads(node)
    nodes = list(reversed(kept))
    del graph.node[:]
    graph.node.extend(nodes)
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def subgraph_reads(node: Any) -> set[str]:
    """Every tensor name the subgraphs of `node` (a Loop's body, an If's branches) read."""
    from onnx import AttributeProto

    read: set[str] = set()
    for attribute in node.attribute:
        for sub in [attribute.g] if attribute.type == AttributeProto.GRAPH else list(attribute.graphs):
            for inner in sub.node:
                read |= set(inner.input) | subgraph_reads(inner)
    return read
