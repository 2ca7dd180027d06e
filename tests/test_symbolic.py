"""The symbolic input dim cause rule (roundtrip.oracle.symbolic): what it reads of a graph, what it costs, and how
its finding is named.  No converter runs here: the conversion of the graph with its dims fixed is a stand-in
that records what it was given (the planted converters' tests, tests/test_planted_identity.py, run real ones)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from roundtrip import registry
from roundtrip.convert.made import BackRun
from roundtrip.finding.findings import Error, Stage
from roundtrip.oracle import symbolic
from roundtrip.oracle.outcome import Case
from roundtrip.run.runners import fed_inputs
from roundtrip.store.script.verdict import expected_exception


def relu_graph(*dims: int | str) -> Any:
    """A Relu of one input of `dims` (a str is a symbolic dim), with a weight input that is no graph input."""
    value = helper.make_tensor_value_info("input", TensorProto.FLOAT, list(dims))
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, list(dims))
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "g", [value], [out], [weight])
    graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [1]))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def case(batch: int, width: int = 3) -> Case:
    x = np.arange(batch * width, dtype=np.float32).reshape(batch, width) - 1
    return Case(batch, {}, [x], [np.maximum(x, 0)])


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The graphs the rule converts, each run right (the Relu's outputs) by a stand-in of `run_back`."""
    given: list[Any] = []

    def run_back(back: str, proto: Any, cases: list[list[np.ndarray]]) -> BackRun:
        given.append(proto)
        return BackRun(outputs=[[np.maximum(inputs[0], 0)] for inputs in cases])

    monkeypatch.setattr(symbolic, "run_back", run_back)
    return given


def test_the_inputs_symbolic_dims_are_fixed_to_the_cases_and_nothing_else_changes() -> None:
    proto = relu_graph("N", 3)
    assert symbolic.has_symbolic_dims(proto) and not symbolic.has_symbolic_dims(relu_graph(2, 3))
    assert [v.name for v in fed_inputs(proto)] == ["input"]  # the weight is no input fed
    fixed = symbolic.fixed_dims(proto, case(2).inputs)
    assert symbolic.dims_text(proto) == "input (N, 3)" and symbolic.dims_text(fixed) == "input (2, 3)"
    assert fixed.graph.output == proto.graph.output and fixed.graph.node == proto.graph.node
    assert symbolic.dims_text(proto) == "input (N, 3)"  # the graph checked is left as it was


def test_a_graph_without_symbolic_dims_or_a_check_without_a_failure_converts_nothing_more(
        conversions: list[Any]) -> None:
    assert symbolic.fixed_runs_right("onnx2keras", relu_graph(2, 3), [case(2)]) is None
    assert symbolic.fixed_runs_right("onnx2keras", relu_graph("N", 3), []) is None
    assert conversions == []


def test_the_fixed_graph_is_converted_once_per_failing_case_and_the_row_says_whether_one_cause(
        conversions: list[Any]) -> None:
    fixed = symbolic.fixed_runs_right("onnx2keras", relu_graph("N", 3), [case(1), case(3)])
    assert fixed == symbolic.Fixed("input (1, 3)", one_cause=True)
    assert [symbolic.dims_text(p) for p in conversions] == ["input (1, 3)", "input (3, 3)"]
    row = registry.converter("onnx2tf")
    assert row is not None and not row.static_input_dims
    assert symbolic.fixed_runs_right("onnx2tf", relu_graph("N", 3), [case(1)]) == symbolic.Fixed("input (1, 3)", False)
    assert symbolic.fixed_runs_right("tests.planted:bad_back", relu_graph("N", 3), [case(1)]).one_cause is False


def test_a_fixed_graph_that_still_fails_or_differs_is_no_symbolic_dims(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = iter([BackRun(Error("ValueError", "still")), BackRun(outputs=[Error("ValueError", "at run")]),
                 BackRun(outputs=[[np.zeros((1, 3), np.float32) + 7]])])
    monkeypatch.setattr(symbolic, "run_back", lambda *args: next(runs))
    for _ in range(3):
        assert symbolic.fixed_runs_right("onnx2keras", relu_graph("N", 3), [case(1)]) is None


@pytest.mark.parametrize(("one_cause", "signature"), [
    (True, "onnx2keras|load|exception|symbolic-dim"), (False, "onnx2keras|load|exception|symbolic-dim[Conv]")])
def test_a_symbolic_dims_finding_is_one_bug_per_converter_or_per_op_as_its_row_says(
        one_cause: bool, signature: str) -> None:
    """Whatever the stage, the exception and (for one cause) the op: the cause is the identity."""
    proto = relu_graph("N", 3)
    fixed = symbolic.Fixed("input (1, 3)", one_cause)
    raised = [Error("ValueError", "expected shape=(None, 0, 1)", node="Conv"), Error("IndexError", "out", node="Conv")]
    found = [symbolic.symbolic_finding(raised[0], "onnx>onnx2keras", Stage.RUN, proto, fixed, "batch 1"),
             symbolic.symbolic_finding(raised[1], "keras-export>onnx2keras", Stage.LOAD, proto, fixed)]
    assert {f.signature for f in found} == {signature}
    assert [(f.raised, expected_exception(f), f.op, f.gap) for f in found] == [
        ("ValueError", "ValueError", "Conv", ""), ("IndexError", "IndexError", "Conv", "")]
    said = found[0].details
    assert (said["symbolic_dims"], said["fixed_dims"]) == ("input (N, 3)", "input (1, 3)")
    assert said["evidence"] == ("the graph with its input dims as declared (input (N, 3)) fails to run; the same graph "
                                "with them fixed (input (1, 3)) converts and runs right")
