"""The oracle's comparisons: fixed order, every output, messages naming index, shape and dtype."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import permutations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from roundtrip.convert.made import BackRun
from roundtrip.finding.findings import Error, Finding, Stage, Symptom
from roundtrip.oracle.compare import close, compare, describe, graph_findings


def test_tolerance_is_relative_to_the_outputs_scale() -> None:
    big = np.array([1000.0, 0.0], np.float32)
    assert close(big + np.float32(0.05), big).all()  # 5e-5 of the scale
    assert not close(big + np.float32(0.5), big).all()
    small = np.array([1e-3], np.float32)
    assert close(small + np.float32(5e-5), small).all()  # judged against a scale of at least 1
    assert not close(small + np.float32(1e-3), small).all()
    assert close(np.array([np.nan]), np.array([np.nan])).all()
    assert not close(np.array([np.nan]), np.array([0.0])).all()


def test_compare_checks_every_output_in_order() -> None:
    e = [np.zeros((3, 4), np.float32), np.ones((3, 2), np.float32), np.ones((3,), np.float32)]
    a = [np.zeros((1, 12), np.float32), np.full((3, 2), 2.0, np.float32), np.ones((3,), np.float64)]
    found = compare("p", "batch 3", e, a, [(None, 12), (5, 2), None])
    assert [(f.output, f.symptom, f.kind) for f in found] == [
        (0, Symptom.SHAPE, "shape:batch"),
        (1, Symptom.DECLARED_SHAPE, "declared-dims"),
        (1, Symptom.VALUE, "value"),
        (2, Symptom.DTYPE, "dtype:float32->float64"),
    ]
    assert found[0].message == "output 0 (batch 3): Keras (3, 4) float32, runtime (1, 12) float32"
    assert "the graph declares (5, 2)" in found[1].message
    assert "6 of 6 values differ" in found[2].message and "Keras 1, runtime 2" in found[2].message
    assert all(f.stage is Stage.COMPARE for f in found)


def test_compare_counts_outputs() -> None:
    found = compare("p", "batch 1", [np.zeros(1)], [np.zeros(1), np.zeros(1)], [None, None])
    assert [f.symptom for f in found] == [Symptom.COUNT]


def _identity(declared: list[int]) -> onnx.ModelProto:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, declared)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_graph_findings_compare_strict_inference_with_declared_dims() -> None:
    assert graph_findings("p", _identity([None, 4])) == []
    (finding,) = graph_findings("p", _identity([None, 5]))
    assert (finding.stage, finding.symptom, finding.kind) == (Stage.CHECK, Symptom.DECLARED_SHAPE,
                                                              "inferred-vs-declared")
    assert finding.message == "output 0: declared dims (?, 5), shape inference gives (?, 4)"


def test_graph_findings_report_checker_errors() -> None:
    broken = _identity([None, 4])
    broken.graph.node[0].input[0] = "nowhere"
    (finding,) = graph_findings("p", broken)
    assert (finding.stage, finding.symptom) == (Stage.CHECK, Symptom.EXCEPTION)


def test_tolerance_follows_the_lower_precision_of_the_two_sides() -> None:
    import ml_dtypes

    expected = np.array([1.0, 2.0, 4.0], np.float32)
    off = expected * (1 + 5e-3)  # 0.5%: beyond float32's tolerance, within float16's and bfloat16's
    assert not close(off, expected).all()
    assert close(off.astype(np.float16), expected).all()
    assert close(off.astype(ml_dtypes.bfloat16), expected.astype(ml_dtypes.bfloat16)).all()
    far = expected * 1.05  # 5%: beyond float16's, within bfloat16's
    assert not close(far.astype(np.float16), expected).all()
    assert close(far.astype(ml_dtypes.bfloat16), expected).all()
    assert not close((expected * 1.5).astype(ml_dtypes.bfloat16), expected).all()


def test_an_onnx2tf_output_counts_in_either_layout_and_the_record_follows() -> None:
    """onnx2tf says it transposed a Reshape's 4-D output that it left as the graph has it: moved back, the
    values differ; as it is, they are the graph's.  That output is right, and repro.py is told not to move it.
    An output wrong in every axis order stays wrong, and a run of a converter whose row counts only the
    layout it gives (onnx2keras) is left."""
    from roundtrip.convert.back import channels_first
    from roundtrip.convert.made import BackRun
    from roundtrip.finding.findings import Error
    from roundtrip.oracle.layouts import taken

    graph_out = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    wrong = graph_out + 1
    run = BackRun(outputs=[[channels_first(graph_out), channels_first(wrong)], Error("E", "m")],
                  layouts={"inputs_nhwc": [False], "outputs_nhwc": [True, True]})
    took = taken("onnx2tf", run, [[graph_out, graph_out], [graph_out, graph_out]])
    first = took.outputs[0]
    assert not isinstance(first, Error)
    np.testing.assert_array_equal(first[0], graph_out)
    assert not close(first[1], graph_out).all()
    assert took.layouts == {"inputs_nhwc": [False], "outputs_nhwc": [False, True]}
    assert isinstance(took.outputs[1], Error)
    plain = BackRun(outputs=[[channels_first(graph_out)]])
    assert taken("onnx2keras", plain, [[graph_out]]) is plain


# ---- which outputs count as right: a fact of the converter's row ----------------------------------------------
ANY = "tests-any-order"  # rows of converters of the tests' own, told apart by `orders` alone
LAID = "tests-as-laid"


@pytest.fixture
def rows() -> Iterator[None]:
    from roundtrip import registry

    undo = registry.register(
        registry.Converter(ANY, "acme", registry.ONNX_TO_KERAS, "acme.load", orders=registry.ANY_ORDER,
                           adapter="tests.planted:relu_axes_moved"),
        registry.Converter(LAID, "acme", registry.ONNX_TO_KERAS, "acme.load", adapter="tests.planted:relu_axes_moved"),
        registry.Converter(ANY + "-shifted", "acme", registry.ONNX_TO_KERAS, "acme.load",
                           orders=registry.ANY_ORDER, adapter="tests.planted:relu_axes_moved_and_shifted"))
    try:
        yield
    finally:
        undo()


def _compared(back: str, got: np.ndarray, want: np.ndarray) -> tuple[list[Finding], BackRun]:
    """The findings of one case whose one output is `got`, taken as the row of `back` says, against `want`."""
    from roundtrip.oracle.layouts import taken

    run = taken(back, BackRun(outputs=[[got]]), [[want]])
    outputs = run.outputs[0]
    assert not isinstance(outputs, Error)
    return compare("p", "batch 1", [want], outputs, [None]), run


@pytest.mark.parametrize("axes", [(0, 2, 3, 1), (3, 1, 0, 2), (1, 0, 2, 3), (2, 3, 1, 0)])
def test_an_output_in_another_axis_order_is_right_for_a_row_of_any_order_alone(rows: None,
                                                                               axes: tuple[int, ...]) -> None:
    """Moved to any axis order, the right values are no finding for a converter whose row counts any order, and
    the record says the order that gives them back; for a row that counts its layout alone, a wrong shape or
    wrong values are found (the move of two equal axes keeps the shape)."""
    want = np.random.default_rng(0).standard_normal((1, 3, 3, 4)).astype(np.float32)
    got = np.transpose(want, axes)
    found, run = _compared(ANY, got, want)
    assert found == []
    assert run.layouts is not None
    back = run.layouts["outputs_axes"][0]
    np.testing.assert_array_equal(np.transpose(got, back), want)
    found, run = _compared(LAID, got, want)
    assert [f.symptom for f in found] == [Symptom.SHAPE if got.shape != want.shape else Symptom.VALUE]
    assert run.layouts is None


def test_wrong_values_are_found_in_every_axis_order() -> None:
    """Values that no axis order makes right (one value changed; all of them shifted; the right values
    reshaped, not transposed) are found under a row that counts any order, as the converter gave them."""
    want = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    moved = np.transpose(want, (0, 3, 1, 2))
    one_off = moved.copy()
    one_off[0, 1, 1, 1] += 3.0
    for got, symptom in ((one_off, Symptom.SHAPE), (moved + 0.5, Symptom.SHAPE),
                         (want.reshape(1, 4, 3, 2), Symptom.SHAPE), (want + 0.5, Symptom.VALUE)):
        found, run = _compared("onnx2tf", got, want)
        assert [f.symptom for f in found] == [symptom]
        assert f"Keras {describe(want)}, runtime {describe(got)}" in found[0].message
        assert run.layouts is None


def test_the_orders_tried_are_those_that_give_the_expected_shape_once_each() -> None:
    """Axes of size 1 are placed one way only, axes of one size in every order, the identity never; dims that
    are not the same in some order give none; and at most MOST_ORDERS are made."""
    from roundtrip.oracle.layouts import MOST_ORDERS, orders

    assert list(orders((1, 3, 2, 1), (1, 3, 1, 2))) == [(0, 1, 3, 2)]  # onnx2tf's Unsqueeze
    assert list(orders((2, 1), (1, 2))) == [(1, 0)]  # its Gather
    assert list(orders((1, 1, 10, 2), (1, 2, 10, 1))) == [(0, 3, 2, 1)]  # its Conv after a Reshape
    assert list(orders((1, 1, 1, 4), (1, 4, 1, 1))) == [(0, 3, 1, 2)]
    assert sorted(orders((2, 2, 2), (2, 2, 2))) == sorted(set(permutations(range(3))) - {(0, 1, 2)})
    assert list(orders((3, 4), (3, 4))) == [] and list(orders((3, 4), (4, 5))) == []
    assert len(list(orders((2,) * 8, (2,) * 8))) == MOST_ORDERS


def test_a_graph_check_takes_a_converters_output_in_the_order_its_row_allows(rows: None) -> None:
    """Through the whole ONNX -> Keras check: a Keras model whose output is the graph's in another axis order,
    (batch, d1, d2) as (d1, d2, batch), is no finding under a row of any order, and a wrong shape at every
    batch under a row of its layout alone; the same model with its values shifted is found under any order."""
    from roundtrip import GraphSpec
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import GraphJob
    from roundtrip.spec.graph import NodeSpec

    graph = GraphSpec((2, 4), (NodeSpec.make("Relu"),)).to_json()
    assert run_job(GraphJob(graph, ANY)).findings == []
    laid = run_job(GraphJob(graph, LAID)).findings
    assert [(f.symptom, f.details["case"]) for f in laid] == [(Symptom.SHAPE, "batch 1")]  # one of each kind
    assert "Keras model (2, 4, 1) float32" in laid[0].message
    [shifted] = run_job(GraphJob(graph, ANY + "-shifted")).findings
    assert shifted.symptom is Symptom.SHAPE and "Keras model (2, 4, 1) float32" in shifted.message
