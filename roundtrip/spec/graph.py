"""Graph specs: plain, frozen data describing an ONNX graph the way PyTorch and other exporters write it.

A `GraphSpec` is one input (batch first, the batch a symbolic dim "N"), a chain of nodes each reading the
previous tensor (and, for Concat, Add and Mul, an earlier one), an opset, an element type and a seed.  Each
node's kind is an entry of `roundtrip.spec.ops.GRAPH_OPS` (its parameters and shape function), and
`roundtrip.spec.onnx_build` writes the graph as ONNX.  Nothing here imports ONNX until a graph is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from roundtrip.spec.onnx_build import onnx_model
from roundtrip.spec.ops import DTYPES, GRAPH_OPS, OPSETS, TensorShape
from roundtrip.spec.parse import JsonForm, choice, document, records, shape_text, want, want_list
from roundtrip.spec.values import ShapeError, SpecError, Value, frozen_params, is_int, shown, thaw, thawed_params

if TYPE_CHECKING:
    import onnx

GRAPH_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class NodeSpec:
    """One node: its kind, its parameters and, for Concat, Add and Mul, the index of the earlier tensor it
    also reads (0 is the graph input, k the output of node k)."""

    kind: str
    params: tuple[tuple[str, Value], ...] = ()
    other: int | None = None

    @staticmethod
    def make(kind: str, other: int | None = None, **params: Any) -> NodeSpec:
        return NodeSpec(kind, frozen_params(params), other)

    @property
    def p(self) -> dict[str, Value]:
        return dict(self.params)


@dataclass(frozen=True)
class GraphSpec(JsonForm):
    """An ONNX graph: one input of shape (N, *input_shape), nodes in a chain, opset, element type, seed.

    `seed` drives the weights (one generator per node) and the input values."""

    input_shape: tuple[int, ...]
    nodes: tuple[NodeSpec, ...]
    opset: int = 13
    dtype: str = "float32"
    seed: int = 0
    _shapes: tuple[TensorShape, ...] = field(default=(), init=False, repr=False, compare=False)
    DOCUMENT: ClassVar[str] = "graph"
    LAST: ClassVar[str | None] = "nodes"

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
            args = ", ".join(f"{key}={thaw(v)!r}" for key, v in node.params)
            ins = names[k - 1] + ("" if node.other is None else f", {names[node.other]}")
            lines.append((f"{names[k]} = {node.kind}({args})({ins})", self._shapes[k]))
        width = max(len(code) for code, _ in lines)
        return "\n".join(f"{code.ljust(width)}   # {shape_text(s.declared())}" for code, s in lines)

    def to_dict(self) -> dict[str, Any]:
        nodes = [{"kind": n.kind, "params": thawed_params(n.params),
                  **({} if n.other is None else {"other": n.other})} for n in self.nodes]
        return {"schema": GRAPH_SCHEMA_VERSION, "input_shape": list(self.input_shape), "nodes": nodes,
                "opset": self.opset, "dtype": self.dtype, "seed": self.seed}

    @classmethod
    def from_dict(cls, data: Any) -> GraphSpec:
        return _parse(data)

    # ---- ONNX ---------------------------------------------------------------------------------------
    def to_onnx(self) -> onnx.ModelProto:
        """The graph as ONNX (`roundtrip.spec.onnx_build.onnx_model`)."""
        return onnx_model(self)

    def make_inputs(self, batch: int) -> list[np.ndarray]:
        """The one input array, `(batch, *input_shape)`: standard normal values from the seed and the batch."""
        if not is_int(batch) or batch < 1:
            raise ValueError(f"batch={batch!r} must be an int >= 1")
        rng = np.random.default_rng([self.seed, 0, batch, *self.input_shape])
        return [rng.standard_normal((batch, *self.input_shape)).astype(self.dtype)]


def _infer(spec: GraphSpec) -> tuple[TensorShape, ...]:
    choice(spec.opset, OPSETS, "opset")
    if not is_int(spec.seed) or not 0 <= spec.seed < 2**64:
        raise SpecError("seed", f"want an integer in [0, 2**64), got {spec.seed!r}")
    choice(spec.dtype, DTYPES, "dtype")
    shape = spec.input_shape
    if not 1 <= len(shape) <= 4 or any(not is_int(d) or d < 1 for d in shape):
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
        if node.other is not None and not (is_int(node.other) and 0 <= node.other <= k):
            raise SpecError(f"{where}.other", f"want a tensor index in 0..{k}, got {node.other!r}")
        params = entry.check_params(node.p, spec.opset, f"{where}.params")
        ins = [shapes[k]] + ([] if node.other is None else [shapes[node.other]])
        try:
            shapes.append(entry.shape(params, ins))
        except ShapeError as e:
            raise SpecError(where, f"{node.kind} is invalid on {[x.declared() for x in ins]}: {e}") from None
    return tuple(shapes)


def _parse(data: Any) -> GraphSpec:
    obj = document(data, "graph", GRAPH_SCHEMA_VERSION, {"schema", "input_shape", "nodes", "opset", "dtype", "seed"})
    shape = tuple(want_list(obj.get("input_shape"), int, "input_shape"))
    nodes = []
    for where, item in records(obj.get("nodes"), "nodes", {"kind", "params", "other"}):
        other = item.get("other")
        nodes.append(NodeSpec.make(want(item.get("kind"), str, f"{where}.kind"),
                                   None if other is None else want(other, int, f"{where}.other"),
                                   **want(item.get("params", {}), dict, f"{where}.params")))
    return GraphSpec(shape, tuple(nodes), want(obj.get("opset", 13), int, "opset"),
                     want(obj.get("dtype", "float32"), str, "dtype"), want(obj.get("seed", 0), int, "seed"))
