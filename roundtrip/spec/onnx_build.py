"""A graph spec written as ONNX: the nodes each node kind of `roundtrip.spec.ops.GRAPH_OPS` becomes, the way
PyTorch and other exporters write them, with weights drawn from the spec's seed.

A kind missing from `BUILDERS` is one node of its name, its parameters as attributes (Relu, Transpose, MaxPool);
the others have a builder here (composites such as ErfGelu, weights, constants as inputs, forms that change
with the opset).  ONNX is imported when a graph is built, not before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from roundtrip.spec.ops import GRAPH_OPS, REDUCE_OPS, Params, TensorShape, einsum_sizes

if TYPE_CHECKING:
    import onnx

    from roundtrip.spec.graph import GraphSpec


def onnx_model(spec: GraphSpec) -> onnx.ModelProto:
    """The graph as ONNX: input "input", output "output", batch dim "N", the lowest IR version for the
    opset, weights from the seed (the same on every call)."""
    from onnx import helper

    elem = helper.np_dtype_to_tensor_dtype(np.dtype(spec.dtype))
    names, shapes, nodes, inits = spec.names(), spec.shapes, [], []
    for k, node in enumerate(spec.nodes, 1):
        others = () if node.other is None else (node.other,)
        emit = Emit(names[k], tuple(names[i] for i in (k - 1, *others)), tuple(shapes[i] for i in (k - 1, *others)),
                    spec.opset, np.dtype(spec.dtype), np.random.default_rng([spec.seed, k]))
        builder(node.kind)(emit, GRAPH_OPS[node.kind].check_params(node.p, spec.opset, f"nodes[{k - 1}].params"))
        nodes += emit.nodes
        inits += emit.inits
    if not nodes:
        nodes.append(helper.make_node("Identity", ["input"], ["output"], name="output"))
    graph = helper.make_graph(
        nodes, "roundtrip",
        [helper.make_tensor_value_info("input", elem, ("N", *spec.input_shape))],
        [helper.make_tensor_value_info("output", elem, shapes[-1].declared())],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", spec.opset)]
    return helper.make_model(graph, opset_imports=opsets, producer_name="roundtrip",
                             ir_version=helper.find_min_ir_version_for(opsets))


def builder(kind: str) -> Build:
    """How a node kind is written: its entry of `BUILDERS`, or one node of its name with its parameters."""
    return BUILDERS.get(kind) or plain(kind, *GRAPH_OPS[kind].params)


# ---- what a builder writes into -------------------------------------------------------------------------
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


# ---- one builder per kind that is not one node of its name --------------------------------------------------
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


# ---- the table ----------------------------------------------------------------------------------------------
BUILDERS: dict[str, Build] = {
    "Conv": _build_conv,
    "BatchNormalization": _build_batch_norm,
    "Reshape": _build_reshape,
    "Slice": _build_slice,
    "Squeeze": lambda e, p: e.axes("Squeeze", [e.ins[0]], p["axes"]),
    "Unsqueeze": lambda e, p: e.axes("Unsqueeze", [e.ins[0]], p["axes"]),
    "Gather": _build_gather,
    "Pad": _build_pad,
    "Gemm": _build_gemm,
    "MatMul": _build_matmul,
    "ErfGelu": _build_erf_gelu,
    "Sqrt": unary("Sqrt", offset=True),
    "Log": unary("Log", offset=True),
    "Reciprocal": unary("Reciprocal", offset=True),
    "Pow": _build_pow,
    "Div": _build_div,
    "Clip": _build_clip,
    "PRelu": _build_prelu,
    "Where": _build_where,
    "Cast": _build_cast,
    "Dropout": _build_dropout,
    "CumSum": _build_cum_sum,
    "TopK": _build_top_k,
    "ArgMax": arg_reduce_op("ArgMax"),
    "ArgMin": arg_reduce_op("ArgMin"),
    **{op: reduce_op(op) for op in REDUCE_OPS},
    "ReduceLogSum": reduce_op("ReduceLogSum", offset=True),
    "DynamicReshape": _build_dynamic_reshape,
    "Expand": lambda e, p: e.node("Expand", [e.ins[0], e.const("shape", p["shape"])]),
    "Tile": lambda e, p: e.node("Tile", [e.ins[0], e.const("repeats", p["repeats"])]),
    "Split": _build_split,
    "Resize": _build_resize,
    "ConvTranspose": _build_conv_transpose,
    "LayerNormalization": _build_layer_norm,
    "InstanceNormalization": _build_instance_norm,
    "GroupNormalization": _build_group_norm,
    "Einsum": _build_einsum,
    "LSTM": recurrent_op("LSTM"),
    "GRU": recurrent_op("GRU"),
}
assert set(BUILDERS) <= set(GRAPH_OPS), set(BUILDERS) - set(GRAPH_OPS)
