"""The oracle's comparisons: fixed order, every output, messages naming index, shape and dtype."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from roundtrip.finding.findings import Stage, Symptom
from roundtrip.oracle.compare import close, compare, graph_findings


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
    An output wrong in both layouts stays wrong, and a run of a converter that chooses no layouts is left."""
    from roundtrip.convert.back import channels_first
    from roundtrip.convert.made import BackRun
    from roundtrip.finding.findings import Error
    from roundtrip.oracle.layouts import either_layout

    graph_out = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    wrong = graph_out + 1
    run = BackRun(outputs=[[channels_first(graph_out), channels_first(wrong)], Error("E", "m")],
                  layouts={"inputs_nhwc": [False], "outputs_nhwc": [True, True]})
    taken = either_layout(run, [[graph_out, graph_out], [graph_out, graph_out]])
    first = taken.outputs[0]
    assert not isinstance(first, Error)
    np.testing.assert_array_equal(first[0], graph_out)
    assert not close(first[1], graph_out).all()
    assert taken.layouts == {"inputs_nhwc": [False], "outputs_nhwc": [False, True]}
    assert isinstance(taken.outputs[1], Error)
    plain = BackRun(outputs=[[channels_first(graph_out)]])
    assert either_layout(plain, [[graph_out]]) is plain
