"""ONNX graph specs and their strategy: JSON, the checker, ORT against the spec's shapes and the reference
evaluator, table coverage, validated options, shrink quality."""

from __future__ import annotations

import collections
import pathlib
import random
import re
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import find, given, settings
from hypothesis.errors import InvalidArgument
from onnx.reference import ReferenceEvaluator

from roundtrip.graphs import GRAPH_OPS, INT64_MAX, GraphSpec, NodeSpec
from roundtrip.spec import SpecError
from strategies import graphs as graph_strategies
from strategies.graphs import GRAPH_STRATEGIES, onnx_graphs


def minimal(strategy, condition):  # noqa: ANN001, ANN201
    """The shrunk example, as Hypothesis' own tests get it: from a fixed random seed, so the same every run."""
    return find(strategy, condition, settings=settings(database=None, max_examples=2000, derandomize=False),
                random=random.Random(0))


# ---- the one runner every property uses ---------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    batches: tuple[int, ...] = (1, 3)
    compare: bool = True  # float32 values: ORT against the reference evaluator


def reference_disagrees(spec: GraphSpec) -> str | None:
    """Why onnx's ReferenceEvaluator (1.23.2) computes something else than ORT for this graph, if it does
    (each reason is shown to hold in test_known_reference_evaluator_bugs)."""
    for k, node in enumerate(spec.nodes):
        p = node.p
        if node.kind == "BatchNormalization" and spec.opset < 14:
            return "BatchNormalization-9 in the reference uses batch statistics (momentum is always set)"
        if node.kind == "Softmax" and spec.opset < 13 and p["axis"] % spec.shapes[k].rank != spec.shapes[k].rank - 1:
            return "Softmax-1/11 in the reference ignores the coerce-to-2D semantics"
        if node.kind == "MaxPool" and any(p["pads"]) and {*p["strides"], *p["dilations"]} == {1}:  # type: ignore
            return "MaxPool in the reference mis-pads when strides and dilations are all 1 (its CommonPool path)"
        if node.kind in ("Squeeze", "Unsqueeze") and spec.opset < 13 and len(p["axes"]) > 1 and min(p["axes"]) < 0:  # type: ignore
            return f"{node.kind}-11 in the reference takes several axes one by one, misplacing negative ones"
    return None


def run(spec: GraphSpec, options: Run = Run()) -> str | None:
    """Check, run in ORT at each batch and compare with the spec's shapes (and the reference evaluator's
    values).  Returns the known reference disagreement that skipped the value comparison, if any."""
    model = spec.to_onnx()
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    known = reference_disagrees(spec)
    for batch in options.batches:
        (x,) = spec.make_inputs(batch)
        (got,) = session.run(None, {"input": x})
        where = f"output 0 at batch {batch}, {got.shape} {got.dtype}:\n{spec.pretty()}"
        assert got.shape == spec.output_shape(batch), where
        assert got.dtype == np.dtype(spec.dtype), where
        if options.compare and spec.dtype == "float32" and known is None:
            (want,) = ReferenceEvaluator(model).run(None, {"input": x})
            scale = max(1.0, float(np.abs(want).max()))
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale, err_msg=where)
    return known


# ---- the table and the strategies ---------------------------------------------------------------------------
def test_every_graph_op_has_a_strategy() -> None:
    assert set(GRAPH_STRATEGIES) == set(GRAPH_OPS)
    assert set(graph_strategies.FOCUS) <= set(GRAPH_OPS)


@pytest.mark.parametrize("kind", sorted(GRAPH_OPS))
def test_each_kind_alone_gives_graphs_that_use_it_and_run(kind: str) -> None:
    seen = []

    @settings(max_examples=12)
    @given(onnx_graphs(ops=[kind], max_nodes=3))
    def check(spec: GraphSpec) -> None:
        run(spec)
        seen.extend(node.kind for node in spec.nodes)

    check()
    assert kind in seen


def test_200_drawn_graphs_round_trip_through_json() -> None:
    @settings(max_examples=200)
    @given(onnx_graphs())
    def check(spec: GraphSpec) -> None:
        text = spec.to_json()
        assert GraphSpec.from_json(text) == spec
        assert GraphSpec.from_json(text).to_json() == text

    check()


def test_200_drawn_graphs_pass_the_checker_and_run_in_ort_as_the_spec_says() -> None:
    specs: list[GraphSpec] = []
    known: collections.Counter[str | None] = collections.Counter()

    @settings(max_examples=200)
    @given(onnx_graphs())
    def check(spec: GraphSpec) -> None:
        known[run(spec)] += 1
        specs.append(spec)

    check()
    kinds = collections.Counter(node.kind for spec in specs for node in spec.nodes)
    assert set(kinds) == set(GRAPH_OPS), set(GRAPH_OPS) - set(kinds)
    assert len({spec.opset for spec in specs}) >= 6, collections.Counter(spec.opset for spec in specs)
    dtypes = collections.Counter(spec.dtype for spec in specs)
    assert dtypes["float32"] > len(specs) / 2 and dtypes["float16"] and dtypes["float64"], dtypes
    assert known[None] > len(specs) / 2, known  # most float32 graphs are compared value by value


def test_graphs_at_opsets_11_and_12_run_too() -> None:
    """Before opset 13 Squeeze and Unsqueeze take `axes` as an attribute, and Softmax flattens to 2-D."""
    kinds: collections.Counter[str] = collections.Counter()

    @settings(max_examples=60)
    @given(onnx_graphs(opsets=(11, 12), ops=["Squeeze", "Unsqueeze", "Softmax", "Slice", "Pad", "Flatten"]))
    def check(spec: GraphSpec) -> None:
        run(spec)
        kinds.update(node.kind for node in spec.nodes)

    check()
    assert kinds["Squeeze"] and kinds["Unsqueeze"], kinds


def test_drawn_graphs_keep_to_the_budget_and_options() -> None:
    @settings(max_examples=100)
    @given(onnx_graphs(max_elements=64, opsets=(12, 17), dtypes=("float64",), input_ranks=(3,), max_nodes=4))
    def check(spec: GraphSpec) -> None:
        assert all(s.size <= 64 for s in spec.shapes), spec.pretty()
        assert spec.opset in (12, 17) and spec.dtype == "float64" and len(spec.input_shape) == 2
        assert 1 <= len(spec.nodes) <= 4

    check()


# ---- options -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"min_nodes": 0}, "min_nodes=0"),
        ({"min_nodes": 3, "max_nodes": 2}, "max_nodes=2"),
        ({"ops": ["Conv3D"]}, "ops=['Conv3D']"),
        ({"ops": []}, "ops=[]"),
        ({"opsets": (10,)}, "opsets=(10,)"),
        ({"opsets": ()}, "opsets=()"),
        ({"dtypes": ("bfloat16",)}, "dtypes=('bfloat16',)"),
        ({"dtypes": ("float32", "float32")}, "dtypes=('float32', 'float32')"),
        ({"input_ranks": (1,)}, "input_ranks=(1,)"),
        ({"max_elements": 3}, "max_elements=3"),
        ({"max_dim": 0}, "max_dim=0"),
    ],
)
def test_bad_options_raise_naming_the_argument(options: dict, named: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(named)):
        onnx_graphs(**options)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        onnx_graphs(1, 3)  # type: ignore[misc]


# ---- shrink quality --------------------------------------------------------------------------------------------
def _follows(spec: GraphSpec, first: str, then: str) -> bool:
    return any(node.kind == then and k and spec.nodes[k - 1].kind == first for k, node in enumerate(spec.nodes))


def test_minimal_flatten_after_slice_is_input_slice_flatten_at_the_smallest_dims() -> None:
    spec = minimal(onnx_graphs(), lambda s: _follows(s, "Slice", "Flatten"))
    assert spec == GraphSpec((1,), (NodeSpec.make("Slice", starts=(0,), ends=(1,), axes=(1,), steps=(1,)),
                                    NodeSpec.make("Flatten", axis=1)), opset=13, dtype="float32", seed=0)


def test_minimal_softmax_takes_the_first_opset_and_dtype_given() -> None:
    spec = minimal(onnx_graphs(opsets=(16, 11), dtypes=("float64", "float32")),
                   lambda s: any(node.kind == "Softmax" for node in s.nodes))
    assert spec == GraphSpec((1,), (NodeSpec.make("Softmax", axis=1),), opset=16, dtype="float64", seed=0)


def test_minimal_reshape_copying_a_dim_is_reshape_0_on_the_batch() -> None:
    spec = minimal(onnx_graphs(), lambda s: any(node.kind == "Reshape" and 0 in node.p["shape"] for node in s.nodes))
    assert spec == GraphSpec((1,), (NodeSpec.make("Reshape", shape=(0,)),), opset=13, dtype="float32", seed=0)


# ---- the spec itself -------------------------------------------------------------------------------------------
EXAMPLE = GraphSpec(
    (3, 6),
    (
        NodeSpec.make("Conv", kernel_shape=(3,), strides=(1,), pads=(1, 0), dilations=(1,), out_channels=4),
        NodeSpec.make("Slice", starts=(1, -1), ends=(INT64_MAX, -INT64_MAX), axes=(-1, 1), steps=(2, -1)),
        NodeSpec.make("Concat", other=1, axis=2),
        NodeSpec.make("Reshape", shape=(0, -1)),
        NodeSpec.make("Gather", axis=0, indices=-1),
        NodeSpec.make("Unsqueeze", axes=(0,)),
        NodeSpec.make("Flatten", axis=0),
        NodeSpec.make("Gemm", units=2, transB=True),
    ),
    opset=12,
    seed=7,
)


def test_pretty_prints_one_line_per_tensor_with_its_symbolic_shape() -> None:
    assert EXAMPLE.pretty() + "\n" == """\
input = Input(float32, opset=12, seed=7)                                                                        # (N, 3, 6)
v1 = Conv(dilations=[1], kernel_shape=[3], out_channels=4, pads=[1, 0], strides=[1])(input)                     # (N, 4, 5)
v2 = Slice(axes=[-1, 1], ends=[9223372036854775807, -9223372036854775807], starts=[1, -1], steps=[2, -1])(v1)   # (N, 4, 2)
v3 = Concat(axis=2)(v2, v1)                                                                                     # (N, 4, 7)
v4 = Reshape(shape=[0, -1])(v3)                                                                                 # (N, 28)
v5 = Gather(axis=0, indices=-1)(v4)                                                                             # (28,)
v6 = Unsqueeze(axes=[0])(v5)                                                                                    # (1, 28)
v7 = Flatten(axis=0)(v6)                                                                                        # (1, 28)
output = Gemm(transB=True, units=2)(v7)                                                                         # (1, 2)
"""  # noqa: E501


def test_example_runs_and_builds_the_same_model_every_time() -> None:
    assert run(EXAMPLE) is None
    model = EXAMPLE.to_onnx()
    assert model.SerializeToString() == EXAMPLE.to_onnx().SerializeToString()
    assert model.opset_import[0].version == 12 and model.ir_version == 7
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, 6]
    assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == ["output"]


def test_batch_carrying_dims_are_declared_with_their_multiple() -> None:
    spec = GraphSpec((2, 3), (NodeSpec.make("Flatten", axis=0), NodeSpec.make("Transpose", perm=(1, 0))))
    assert spec.shapes[-1].declared() == ("N*6", 1)
    assert spec.output_shape(3) == (18, 1)
    assert run(spec) is None


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d.update(schema=2), "schema"),
        (lambda d: d.update(opset=19), "opset"),
        (lambda d: d.update(dtype="int8"), "dtype"),
        (lambda d: d.update(input_shape=[3, 0]), "input_shape"),
        (lambda d: d.update(seed=-1), "seed"),
        (lambda d: d.update(colour="red"), "graph.colour"),
        (lambda d: d["nodes"][0].update(kind="Conv3D"), "nodes[0].kind"),
        (lambda d: d["nodes"][0]["params"].update(kernel_shape=[9]), "nodes[0]"),
        (lambda d: d["nodes"][0]["params"].update(strides="1"), "nodes[0].params.strides"),
        (lambda d: d["nodes"][0]["params"].update(stride=[1]), "nodes[0].params.stride"),
        (lambda d: d["nodes"][2].update(other=5), "nodes[2].other"),
        (lambda d: d["nodes"][3].update(other=0), "nodes[3].other"),
        (lambda d: d["nodes"][4]["params"].update(indices=3), "nodes[4]"),
    ],
)
def test_invalid_json_names_the_field(change, path: str) -> None:  # noqa: ANN001
    data = EXAMPLE.to_dict()
    change(data)
    with pytest.raises(SpecError) as e:
        GraphSpec.from_dict(data)
    assert e.value.path == path, str(e.value)


def test_pad_axes_need_opset_18() -> None:
    node = NodeSpec.make("Pad", pads=(1, 1), axes=(-1,))
    assert GraphSpec((2, 3), (node,), opset=18).output_shape(1) == (1, 2, 5)
    with pytest.raises(SpecError, match=r"nodes\[0\].params.axes: needs opset >= 18"):
        GraphSpec((2, 3), (node,), opset=17)


# ---- what ORT, the reference evaluator and onnx's shape inference disagree on ---------------------------------
def _both(spec: GraphSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    model = spec.to_onnx()
    (x,) = spec.make_inputs(2)
    (got,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    (want,) = ReferenceEvaluator(model).run(None, {"input": x})
    return x, got, want


def test_known_reference_evaluator_bugs() -> None:
    """Each reason `reference_disagrees` skips: ORT gives the ONNX semantics, the reference does not."""
    x, got, want = _both(GraphSpec((3, 4), (NodeSpec.make("Softmax", axis=1),), opset=11))
    flat = np.exp(x.reshape(2, -1) - x.reshape(2, -1).max(1, keepdims=True))
    np.testing.assert_allclose(got, (flat / flat.sum(1, keepdims=True)).reshape(x.shape), rtol=1e-5)
    assert not np.allclose(got, want, rtol=1e-3)

    spec = GraphSpec((3, 4), (NodeSpec.make("BatchNormalization"),), opset=13)
    x, got, want = _both(spec)
    w = {i.name: onnx.numpy_helper.to_array(i)[:, None] for i in spec.to_onnx().graph.initializer}
    expected = (x - w["output_mean"]) / np.sqrt(w["output_var"] + 1e-5) * w["output_scale"] + w["output_B"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, want, rtol=1e-3)

    spec = GraphSpec((1, 5), (NodeSpec.make("MaxPool", kernel_shape=(2,), strides=(1,), dilations=(1,), pads=(0, 1)),))
    x, got, want = _both(spec)
    assert got.shape == spec.output_shape(2) == (2, 1, 5) and want.shape == (2, 1, 4)
    np.testing.assert_array_equal(got[..., :4], np.maximum(x[..., :4], x[..., 1:]))

    with pytest.raises(Exception, match="size not equal to one"):
        _both(GraphSpec((1, 1, 4), (NodeSpec.make("Squeeze", axes=(-3, -2)),), opset=11))
    _, got, want = _both(GraphSpec((1,), (NodeSpec.make("Unsqueeze", axes=(-3, 2)),), opset=11))
    assert got.shape == (2, 1, 1, 1) and want.shape == (1, 2, 1, 1)


def test_ceil_mode_drops_a_window_starting_in_the_end_padding_but_onnx_shape_inference_does_not() -> None:
    spec = GraphSpec((3, 5), (NodeSpec.make("MaxPool", kernel_shape=(2,), strides=(2,), pads=(1, 1), ceil_mode=1),))
    _, got, want = _both(spec)
    assert spec.output_shape(2) == got.shape == want.shape == (2, 3, 3)
    with pytest.raises(onnx.shape_inference.InferenceError, match=r"\(4\) vs \(3\)"):
        onnx.checker.check_model(spec.to_onnx(), full_check=True)


# ---- randomness ---------------------------------------------------------------------------------------------
def test_graph_strategies_draw_all_randomness_through_hypothesis() -> None:
    text = pathlib.Path(graph_strategies.__file__).read_text()
    assert not re.search(r"^\s*(import random|from random)|np\.random|numpy\.random", text, re.M)


def test_weights_and_inputs_come_from_the_seed() -> None:
    a, b = EXAMPLE, GraphSpec(EXAMPLE.input_shape, EXAMPLE.nodes, EXAMPLE.opset, seed=8)
    assert np.array_equal(a.make_inputs(3)[0], a.make_inputs(3)[0])
    assert not np.array_equal(a.make_inputs(3)[0], b.make_inputs(3)[0])
    assert a.to_onnx().graph.initializer[0] != b.to_onnx().graph.initializer[0]
