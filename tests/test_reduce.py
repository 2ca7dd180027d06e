"""The reducer: structural and parameter steps over hand-written specs, reduction to a 1-minimal fixpoint,
the budget, determinism, and (over drawn specs) that every candidate is valid and no bigger."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from hypothesis import given, settings

import strategies
from roundtrip.search.reduce import Spec, parameter_steps, reduce, single_steps
from roundtrip.spec.graph import GraphSpec, NodeSpec
from roundtrip.spec.model import InputSpec, LayerSpec, ModelSpec
from roundtrip.store.corpus import size_of

# in0 (8, 8, 3) -> Conv2D -> Cropping2D -> Flatten -> Dense, as a Sequential model
CHAIN = ModelSpec(
    inputs=(InputSpec("in0", (8, 8, 3)),),
    layers=(LayerSpec.make("x1", "Conv2D", "in0", filters=4, kernel_size=(3, 3), strides=(1, 1), padding="valid",
                           dilation_rate=(1, 1)),
            LayerSpec.make("x2", "Cropping2D", "x1", cropping=((1, 2), (0, 1))),
            LayerSpec.make("x3", "Flatten", "x2"),
            LayerSpec.make("x4", "Dense", "x3", units=5)),
    outputs=("x4",),
    seed=3,
    sequential=True,
)

# two branches from one input, one output each
TWO_OUTPUTS = ModelSpec(
    inputs=(InputSpec("in0", (4, 4, 2)),),
    layers=(LayerSpec.make("a1", "Flatten", "in0"),
            LayerSpec.make("a2", "Dense", "a1", units=3),
            LayerSpec.make("b1", "Cropping2D", "in0", cropping=((1, 1), (0, 0))),
            LayerSpec.make("b2", "Flatten", "b1")),
    outputs=("a2", "b2"),
)

# (N, 3, 8, 8) -> Conv -> Relu -> Softmax -> Flatten -> Gemm
GRAPH = GraphSpec((3, 8, 8), (NodeSpec.make("Conv", kernel_shape=(3, 3), out_channels=4), NodeSpec.make("Relu"),
                              NodeSpec.make("Softmax", axis=1), NodeSpec.make("Flatten"),
                              NodeSpec.make("Gemm", units=5)))

# tensors: 0 input, 1 Relu, 2 Sigmoid, 3 Add(2, 2), 4 Relu, 5 Mul(4, 1)
BINARY_GRAPH = GraphSpec((4,), (NodeSpec.make("Relu"), NodeSpec.make("Sigmoid"), NodeSpec.make("Add", other=2),
                                NodeSpec.make("Relu"), NodeSpec.make("Mul", other=1)))


def kinds(spec: Spec) -> list[str]:
    return [la.kind for la in spec.layers] if isinstance(spec, ModelSpec) else [n.kind for n in spec.nodes]


def has(kind: str) -> Callable[[Spec], bool]:
    return lambda spec: kind in kinds(spec)


def assert_one_minimal(spec: Spec, holds: Callable[[Spec], bool]) -> None:
    assert not [c.to_json() for c in single_steps(spec) if holds(c)]


def assert_valid_and_smaller(spec: Spec) -> None:
    """Every candidate rebuilds from its JSON (so it validates), structural ones are strictly smaller, parameter
    ones have no more layers and input elements, none is the spec itself or repeated, seeds are kept."""
    parse = ModelSpec.from_json if isinstance(spec, ModelSpec) else GraphSpec.from_json
    structural, params = single_steps(spec), parameter_steps(spec)
    for candidates in (structural, params):
        texts = [c.to_json() for c in candidates]
        assert len(set(texts)) == len(texts) and spec.to_json() not in texts
        for c in candidates:
            assert type(c) is type(spec) and parse(c.to_json()) == c and c.seed == spec.seed
    assert all(size_of(c) < size_of(spec) for c in structural)
    assert all(size_of(c)[:2] <= size_of(spec)[:2] for c in params)
    if isinstance(spec, ModelSpec):
        assert all(c.sequential == spec.sequential for c in structural + params)  # type: ignore[union-attr]
    else:
        assert all(c.opset == spec.opset for c in structural + params)  # type: ignore[union-attr]
        assert all(c.dtype == spec.dtype for c in structural)  # type: ignore[union-attr]
        assert all(c.dtype in (spec.dtype, "float32") for c in params)  # type: ignore[union-attr]


# ---- reductions --------------------------------------------------------------------------------------------
def test_a_chain_reduces_to_its_one_cropping_layer_at_the_smallest_params_and_dims() -> None:
    result = reduce(CHAIN, has("Cropping2D"))
    expected = ModelSpec((InputSpec("in0", (1, 1, 1)),),
                         (LayerSpec.make("x2", "Cropping2D", "in0", cropping=((0, 0), (0, 0))),), ("x2",),
                         seed=3, sequential=True)
    assert result.spec == expected and result.spec.to_json() == expected.to_json()
    assert not result.exhausted and result.accepted >= 3 + 2  # three bypasses, then params and dims
    assert_one_minimal(result.spec, has("Cropping2D"))


def test_dims_shrink_only_as_far_as_the_predicate_allows() -> None:
    def crops_the_top(spec: Spec) -> bool:
        assert isinstance(spec, ModelSpec)
        return any(la.kind == "Cropping2D" and la.p["cropping"][0][0] >= 1 for la in spec.layers)  # type: ignore

    result = reduce(CHAIN, crops_the_top)
    (layer,) = result.spec.layers  # type: ignore[union-attr]
    assert layer.p["cropping"] == ((1, 0), (0, 0))
    assert result.spec.inputs[0].shape == (2, 1, 1)  # type: ignore[union-attr]  # 1 row cropped, 1 left
    assert not result.exhausted
    assert_one_minimal(result.spec, crops_the_top)


def test_two_outputs_reduce_to_the_one_whose_branch_matters() -> None:
    drop_b, drop_a = single_steps(TWO_OUTPUTS)[:2]
    assert (drop_b.outputs, [la.name for la in drop_b.layers]) == (("b2",), ["b1", "b2"])  # type: ignore
    assert (drop_a.outputs, [la.name for la in drop_a.layers]) == (("a2",), ["a1", "a2"])  # type: ignore
    result = reduce(TWO_OUTPUTS, has("Dense"))
    expected = ModelSpec((InputSpec("in0", (1,)),), (LayerSpec.make("a2", "Dense", "in0", units=1),), ("a2",))
    assert result.spec == expected and not result.exhausted
    assert_one_minimal(result.spec, has("Dense"))


def test_bypassing_a_two_input_layer_gives_one_candidate_per_input_and_prunes_the_unread_input() -> None:
    spec = ModelSpec((InputSpec("in0", (3,)), InputSpec("in1", (3,))),
                     (LayerSpec.make("x1", "Add", ("in0", "in1")), LayerSpec.make("x2", "Dense", "x1", units=2)),
                     ("x2",))
    shapes = [([i.name for i in c.inputs], [(la.name, la.inputs) for la in c.layers], c.outputs)  # type: ignore
              for c in single_steps(spec)]
    assert shapes == [(["in0"], [("x2", ("in0",))], ("x2",)),
                      (["in1"], [("x2", ("in1",))], ("x2",)),
                      (["in0", "in1"], [("x1", ("in0", "in1"))], ("x1",))]
    result = reduce(spec, has("Dense"))
    assert result.spec == ModelSpec((InputSpec("in0", (1,)),), (LayerSpec.make("x2", "Dense", "in0", units=1),),
                                    ("x2",))


def test_a_graph_chain_reduces_to_its_softmax_node_on_the_smallest_input() -> None:
    result = reduce(GRAPH, has("Softmax"))
    assert result.spec == GraphSpec((1,), (NodeSpec.make("Softmax", axis=0),))
    assert isinstance(result.spec, GraphSpec)
    assert (result.spec.opset, result.spec.dtype, result.spec.seed) == (13, "float32", 0)
    assert not result.exhausted
    assert_one_minimal(result.spec, has("Softmax"))


def test_removing_a_graph_node_reindexes_later_others_and_a_binary_node_can_be_cut_to_its_other() -> None:
    steps = [[(n.kind, n.other) for n in c.nodes] for c in single_steps(BINARY_GRAPH)]  # type: ignore
    assert steps == [
        [("Sigmoid", None), ("Add", 1), ("Relu", None), ("Mul", 0)],  # Relu gone: tensor 1 -> 0, 2 -> 1
        [("Relu", None), ("Add", 1), ("Relu", None), ("Mul", 1)],  # Sigmoid gone: tensor 2 -> 1
        [("Relu", None), ("Sigmoid", None), ("Relu", None), ("Mul", 1)],
        [("Relu", None), ("Sigmoid", None), ("Add", 2), ("Mul", 1)],
        [("Relu", None), ("Sigmoid", None), ("Add", 2), ("Relu", None)],
        [("Relu", None)],  # Mul's output wired to its other input, tensor 1: nodes 1..4 cut
        [("Relu", None), ("Relu", None), ("Add", 2), ("Relu", None), ("Mul", 1)],  # Sigmoid stood in for by Relu
    ]
    result = reduce(BINARY_GRAPH, has("Mul"))
    assert result.spec == GraphSpec((1,), (NodeSpec.make("Mul", other=0),))
    assert_one_minimal(result.spec, has("Mul"))


def test_a_first_node_goes_with_the_input_shaped_as_its_output_where_bypassing_it_cannot() -> None:
    """Bypassing the Squeeze gives the Pad a rank-5 input its eight pads do not fit: the step that drops the
    Squeeze and feeds the Pad an input of the Squeeze's output shape is the one that reaches a lone Pad."""
    pad = NodeSpec.make("Pad", pads=[0, 0, 0, 0, 0, 1, 0, 0])
    spec = GraphSpec((1, 1, 1, 1), (NodeSpec.make("Squeeze", axes=[1]), pad), 17)
    assert GraphSpec((1, 1, 1), (pad,), 17) in single_steps(spec)
    result = reduce(spec, has("Pad"))
    assert [n.kind for n in result.spec.nodes] == ["Pad"] and len(result.spec.input_shape) == 3  # type: ignore
    assert_one_minimal(result.spec, has("Pad"))


def test_at_a_fixpoint_no_single_step_holds_for_a_predicate_on_the_count() -> None:
    def dense_and_another(spec: Spec) -> bool:
        return "Dense" in kinds(spec) and len(kinds(spec)) >= 2

    result = reduce(CHAIN, dense_and_another)
    assert len(kinds(result.spec)) == 2 and "Dense" in kinds(result.spec) and not result.exhausted
    assert_one_minimal(result.spec, dense_and_another)


def test_a_predicate_that_never_holds_checks_every_candidate_once_and_keeps_the_spec() -> None:
    result = reduce(CHAIN, lambda spec: False)
    assert result.spec is CHAIN and result.accepted == 0 and not result.exhausted
    assert result.tries == len(single_steps(CHAIN)) + len(parameter_steps(CHAIN))


# ---- steps -------------------------------------------------------------------------------------------------
def test_a_one_layer_or_one_node_spec_has_no_structural_step() -> None:
    one = ModelSpec((InputSpec("in0", (4, 4, 2)),), (LayerSpec.make("x1", "Flatten", "in0"),), ("x1",))
    assert single_steps(one) == []  # bypassing x1 would output the input
    assert single_steps(ModelSpec(one.inputs, one.layers, one.outputs, sequential=True)) == []
    assert single_steps(GraphSpec((4,), (NodeSpec.make("Relu"),))) == []  # a graph keeps a node


def test_an_output_never_becomes_an_input_and_outputs_that_meet_are_kept_once() -> None:
    spec = ModelSpec((InputSpec("in0", (3,)),),
                     (LayerSpec.make("x1", "Dense", "in0", units=2), LayerSpec.make("x2", "Dense", "x1", units=2)),
                     ("x1", "x2"))
    steps = [(c.outputs, [la.name for la in c.layers]) for c in single_steps(spec)]  # type: ignore[union-attr]
    # drop x1 (x2 still reads it), drop x2 (pruned); bypassing x2 gives outputs (x1, x1), kept once: the same
    # spec as dropping x2; bypassing x1 would output the input in0: refused
    assert steps == [(("x2",), ["x1", "x2"]), (("x1",), ["x1"])]


def test_every_structural_and_parameter_step_of_the_hand_written_specs_validates_and_is_smaller() -> None:
    for spec in (CHAIN, TWO_OUTPUTS, GRAPH, BINARY_GRAPH):
        assert single_steps(spec) and parameter_steps(spec)
        assert_valid_and_smaller(spec)


def test_parameter_steps_move_one_param_element_or_one_dim_at_a_time() -> None:
    spec = ModelSpec((InputSpec("in0", (5, 5, 2)),),
                     (LayerSpec.make("x1", "Cropping2D", "in0", cropping=((1, 2), (0, 1))),), ("x1",))
    moves = [(c.inputs[0].shape, c.layers[0].p["cropping"]) for c in parameter_steps(spec)]  # type: ignore
    crop = ((1, 2), (0, 1))
    assert moves == [
        ((5, 5, 2), ((0, 2), (0, 1))), ((5, 5, 2), ((1, 0), (0, 1))), ((5, 5, 2), ((1, 1), (0, 1))),
        ((5, 5, 2), ((1, 2), (0, 0))),
        # dims to 1, d // 2, d - 1 where the crop still leaves something: (1 | 2, 5, 2) and (5, 1, 2) do not
        ((4, 5, 2), crop), ((5, 2, 2), crop), ((5, 4, 2), crop), ((5, 5, 1), crop),
    ]


def test_parameter_steps_remove_defaults_make_inputs_static_and_keep_the_seed() -> None:
    spec = ModelSpec((InputSpec("in0", (3, 4), dynamic=True),),
                     (LayerSpec.make("x1", "Activation", "in0", activation="softmax", axis=-2),
                      LayerSpec.make("x2", "GlobalAveragePooling1D", "x1", keepdims=True)),
                     ("x2",), seed=11, sequential=True)
    steps = parameter_steps(spec)
    texts = [c.to_json() for c in steps]
    assert ModelSpec(spec.inputs, (LayerSpec.make("x1", "Activation", "in0", activation="softmax"), spec.layers[1]),
                     spec.outputs, 11, True) in steps  # axis -2 -> its default -1, written by leaving it out
    assert ModelSpec(spec.inputs, (spec.layers[0], LayerSpec.make("x2", "GlobalAveragePooling1D", "x1")),
                     spec.outputs, 11, True) in steps  # keepdims True -> its default False
    assert ModelSpec((InputSpec("in0", (3, 4)),), spec.layers, spec.outputs, 11, True) in steps  # static
    assert all('"activation": "softmax"' in t for t in texts)  # a required string stays
    assert all(c.seed == 11 and c.sequential for c in steps)  # type: ignore[union-attr]
    assert_valid_and_smaller(spec)


def test_graph_parameter_steps_remove_optional_params_and_shrink_ints() -> None:
    spec = GraphSpec((2, 6, 6), (NodeSpec.make("MaxPool", kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),),
                     opset=12, dtype="float16", seed=5)
    nodes = [c.nodes[0].p for c in parameter_steps(spec)]  # type: ignore[union-attr]
    assert {"kernel_shape": (3, 3), "strides": (2, 2)} in nodes  # optional pads removed
    assert {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)} in nodes  # optional strides removed
    assert {"kernel_shape": (1, 3), "strides": (2, 2), "pads": (0, 1, 0, 1)} not in nodes  # one element at once
    assert {"kernel_shape": (2, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)} in nodes
    assert {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (0, 1, 1, 1)} in nodes
    assert {"kernel_shape": (1, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)} not in nodes  # pads >= kernel: invalid
    assert_valid_and_smaller(spec)


def test_a_float16_graph_moves_to_float32_when_the_bug_does_not_need_float16() -> None:
    spec = GraphSpec((1, 2), (NodeSpec.make("MatMul", units=1),), opset=12, dtype="float16", seed=33700)
    moved = [c for c in parameter_steps(spec) if c.dtype == "float32"]  # type: ignore[union-attr]
    assert moved == [GraphSpec((1, 2), spec.nodes, opset=12, dtype="float32", seed=33700)]
    result = reduce(spec, has("MatMul"))
    assert result.spec.dtype == "float32" and result.spec.opset == 12  # type: ignore[union-attr]
    kept = reduce(spec, lambda c: has("MatMul")(c) and c.dtype == "float16")  # type: ignore[union-attr]
    assert kept.spec.dtype == "float16"  # type: ignore[union-attr]
    assert_valid_and_smaller(spec)


# ---- budget and determinism --------------------------------------------------------------------------------
def test_max_tries_stops_the_reduction_and_says_so() -> None:
    calls: list[str] = []

    def holds(spec: Spec) -> bool:
        calls.append(spec.to_json())
        return has("Cropping2D")(spec)

    result = reduce(CHAIN, holds, max_tries=3)
    assert result.exhausted and result.tries == 3 and len(calls) == 3
    assert "Cropping2D" in kinds(result.spec) and size_of(result.spec) < size_of(CHAIN)


def test_a_past_deadline_stops_before_the_first_try() -> None:
    result = reduce(CHAIN, has("Cropping2D"), deadline=time.monotonic() - 1)
    assert (result.spec, result.tries, result.accepted, result.exhausted) == (CHAIN, 0, 0, True)


def test_reduction_is_deterministic_and_never_checks_a_spec_twice() -> None:
    calls: list[str] = []

    def holds(spec: Spec) -> bool:
        calls.append(spec.to_json())
        return has("Dense")(spec)

    first, second = reduce(TWO_OUTPUTS, holds), reduce(TWO_OUTPUTS, has("Dense"))
    assert first.spec.to_json() == second.spec.to_json()
    assert (first.tries, first.accepted) == (second.tries, second.accepted) == (len(calls), first.accepted)
    assert len(set(calls)) == len(calls) and TWO_OUTPUTS.to_json() not in calls


# ---- over drawn specs --------------------------------------------------------------------------------------
@settings(max_examples=60)
@given(strategies.keras_models())
def test_drawn_models_steps_are_valid_and_reduction_reaches_a_fixpoint(spec: ModelSpec) -> None:
    assert_valid_and_smaller(spec)
    holds = has(kinds(spec)[-1])
    result = reduce(spec, holds, max_tries=10_000)
    assert not result.exhausted and holds(result.spec)
    assert_one_minimal(result.spec, holds)


@settings(max_examples=60)
@given(strategies.onnx_graphs())
def test_drawn_graphs_steps_are_valid_and_reduction_reaches_a_fixpoint(spec: GraphSpec) -> None:
    assert_valid_and_smaller(spec)
    if not spec.nodes:
        return
    holds = has(spec.nodes[0].kind)
    result = reduce(spec, holds, max_tries=10_000)
    assert not result.exhausted and holds(result.spec)
    assert_one_minimal(result.spec, holds)


def test_importing_the_reducer_loads_no_tensorflow_keras_or_onnx() -> None:
    code = ("import sys, roundtrip.search.reduce; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'onnx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- stand-ins, lower rank, headless models, kept inputs ----------------------------------------------------
def test_a_node_that_keeps_its_shape_is_stood_in_for_by_identity_then_relu() -> None:
    spec = GraphSpec((1,), (NodeSpec.make("Softmax", axis=0),), 17, "float16", 8420)
    assert single_steps(spec) == [GraphSpec((1,), (NodeSpec.make("Identity"),), 17, "float16", 8420),
                                  GraphSpec((1,), (NodeSpec.make("Relu"),), 17, "float16", 8420)]
    assert single_steps(GraphSpec((4,), (NodeSpec.make("Relu"),))) == []  # a stand-in stays as it is
    # a node that changes the shape (or reads two tensors) has no stand-in
    flat = GraphSpec((2, 3), (NodeSpec.make("Flatten"),))
    assert single_steps(flat) == []


def test_an_einsum_loses_a_unit_axis_and_its_letter_the_letters_renamed() -> None:
    spec = GraphSpec((1, 1, 2, 1), (NodeSpec.make("Einsum", equation="abcde->ac"),), 13, seed=32)
    lower = [c for c in parameter_steps(spec) if len(c.input_shape) == 3]  # type: ignore[union-attr]
    assert GraphSpec((1, 2, 1), (NodeSpec.make("Einsum", equation="abcd->ab"),), 13, seed=32) in lower
    assert GraphSpec((1, 1, 2), (NodeSpec.make("Einsum", equation="abcd->ac"),), 13, seed=32) in lower
    # the second axis of size 1 goes too; axis 3 (size 2) never does
    assert GraphSpec((1, 2, 1), (NodeSpec.make("Einsum", equation="abcd->a"),), 13, seed=32) in lower


def test_a_lower_rank_moves_each_node_s_axis_params_and_keeps_a_binary_node_s_tensors_alike() -> None:
    # tensors (N, 2, 1, 3): Softmax over -1, Transpose, ReduceSum over axis 1 without keepdims, Add of 3 and 3
    spec = GraphSpec((2, 1, 3), (NodeSpec.make("Softmax", axis=-1), NodeSpec.make("Transpose", perm=(0, 3, 2, 1)),
                                 NodeSpec.make("ReduceSum", axes=(1,), keepdims=0), NodeSpec.make("Add", other=3)))
    lower = GraphSpec((2, 3), (NodeSpec.make("Softmax", axis=-1), NodeSpec.make("Transpose", perm=(0, 2, 1)),
                               NodeSpec.make("ReduceSum", axes=(1,), keepdims=0), NodeSpec.make("Add", other=3)))
    assert lower in parameter_steps(spec)
    # a Softmax along the unit axis cannot do without it
    along = GraphSpec((2, 1), (NodeSpec.make("Softmax", axis=2),))
    assert all(len(c.input_shape) == 2 or c.nodes[0].p["axis"] != 2 for c in parameter_steps(along))  # type: ignore


def test_a_model_s_first_layer_goes_with_its_input_shaped_as_its_output() -> None:
    spec = ModelSpec((InputSpec("in0", (2, 1)),),
                     (LayerSpec.make("x1", "Reshape", "in0", target_shape=(1, 1, 2)),
                      LayerSpec.make("x2", "MaxPooling2D", "x1", pool_size=(1, 1), strides=(1, 2), padding="same")),
                     ("x2",))
    headless = ModelSpec((InputSpec("in0", (1, 1, 2)),),
                         (LayerSpec.make("x2", "MaxPooling2D", "in0", pool_size=(1, 1), strides=(1, 2),
                                         padding="same"),), ("x2",))
    assert single_steps(spec)[-1] == headless
    assert headless in single_steps(spec)


def test_an_output_goes_with_every_input_kept_and_the_unread_input_is_wired_into_a_repeated_slot() -> None:
    spec = ModelSpec((InputSpec("in0", (1,)), InputSpec("in1", (1,))),
                     (LayerSpec.make("x3", "ReLU", "in1"), LayerSpec.make("x4", "Maximum", ("in0", "in0"))),
                     ("x3", "x4"), seed=2623, subclassed=True)
    kept = ModelSpec(spec.inputs, spec.layers[1:], ("x4",), seed=2623, subclassed=True)
    steps = single_steps(spec)
    assert steps[2:] == [kept, ModelSpec(spec.inputs, spec.layers[:1], ("x3",), seed=2623, subclassed=True)]
    wired = ModelSpec(spec.inputs, (LayerSpec.make("x4", "Maximum", ("in0", "in1")),), ("x4",), seed=2623,
                      subclassed=True)
    assert parameter_steps(kept)[0] == wired
    holds = lambda s: s.subclassed and len(s.inputs) == 2 and "Maximum" in kinds(s)  # type: ignore[union-attr]  # noqa: E731
    assert reduce(spec, holds).spec == wired


def test_a_model_input_loses_a_unit_axis_and_a_batch_normalization_s_axis_follows() -> None:
    spec = ModelSpec((InputSpec("in1", (1, 2, 3, 1)),), (LayerSpec.make("x1", "BatchNormalization", "in1", axis=-2),),
                     ("x1",), seed=39569)
    lower = [c for c in parameter_steps(spec) if c.inputs[0].shape in ((1, 2, 3), (2, 3, 1))]  # type: ignore
    assert [(c.inputs[0].shape, c.layers[0].p) for c in lower] == [  # type: ignore[union-attr]
        ((2, 3, 1), {"axis": -2}), ((1, 2, 3), {"axis": -2}),  # a dim dropped, the axis as it was
        ((1, 2, 3), {"axis": -1})]  # the last axis dropped, the axis moved with it
    # a layer with no hook (a Dense) gives no lower rank: only the plain dim moves
    dense = ModelSpec((InputSpec("in0", (2, 1)),), (LayerSpec.make("x1", "Dense", "in0", units=1),), ("x1",))
    assert [c.inputs[0].shape for c in parameter_steps(dense) if c.layers == dense.layers] == [  # type: ignore
        (1,), (2,), (1, 1)]


def test_a_time_distributed_dense_is_stood_in_for_by_a_time_distributed_relu_when_the_bug_stays() -> None:
    spec = ModelSpec((InputSpec("in0", (2, 1), dynamic=True),),
                     (LayerSpec.make("x4", "TimeDistributed", "in0", units=1),), ("x4",), seed=268435455)
    relu = ModelSpec(spec.inputs, (LayerSpec.make("x4", "TimeDistributed", "in0", layer="ReLU"),), ("x4",),
                     seed=268435455)
    assert relu in parameter_steps(spec) and relu.concrete_shape("x4") == spec.concrete_shape("x4")
    assert not parameter_steps(relu) or all(c.layers[0].p.get("layer") == "ReLU"  # type: ignore[union-attr]
                                            for c in parameter_steps(relu))
    result = reduce(spec, has("TimeDistributed"))
    assert result.spec.layers[0].p == {"layer": "ReLU"}  # type: ignore[union-attr]
    wrapped_dense = reduce(spec, lambda c: has("TimeDistributed")(c) and "units" in c.layers[0].p)  # type: ignore
    assert wrapped_dense.spec.layers[0].p == {"units": 1}  # type: ignore[union-attr]
    assert_valid_and_smaller(spec)
