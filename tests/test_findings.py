"""Findings: signatures are stable across runs and tell different bugs apart."""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import replace
from pathlib import Path

import pytest

from roundtrip.finding.findings import REFUSALS, Blame, Finding, Stage, Symptom, normalise


def test_normalise_removes_what_changes_from_run_to_run() -> None:
    a = ("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Reshape node. "
         "Name:'roundtrip_1/x4_1/Reshape' Status Message: /onnxruntime_src/core/reshape_helper.h:91 "
         "Input shape:{3,60}, requested shape:{1,60}")
    b = a.replace("roundtrip_1/x4_1", "roundtrip_7/x2_3").replace("{3,60}", "{3,12}").replace("{1,60}", "{1,12}")
    assert normalise(a) == normalise(b)
    assert normalise("'keras_tensor_2'") == normalise("'keras_tensor_117'") == "'keras_tensor_N'"
    assert normalise('File "/work/x/tf2onnx/convert.py", line 529') == 'File "<file>", line N'
    # ONNX Runtime names the inputs fed: a user's model's own names, or in0 for a layer cut out of it
    assert normalise("Required inputs (['f_1/n_1/Sub/y:0']) are missing from input feed (['image']).") == \
        normalise("Required inputs (['f_1/n_1/Sub/y:0']) are missing from input feed (['in0', 'in1']).")
    # tf2onnx numbers the nodes it makes per process: Conv__23 in a fresh one is Conv__417 in a long-lived one
    assert normalise("[ShapeInferenceError] (op_type:Conv, node name: Conv__23): W has unsupported type") == \
        normalise("[ShapeInferenceError] (op_type:Conv, node name: Conv__417): W has unsupported type") == \
        "[ShapeInferenceError] (op_type:<op>, node name: <name>): W has unsupported type"
    # onnx names the op a wrong input type reached first: one wrong dtype is one bug whichever op it meets
    assert normalise("(op_type:Mul, node name: a/b): B has inconsistent type tensor(bfloat16)") == \
        normalise("(op_type:Greater, node name: c): B has inconsistent type tensor(bfloat16)")


def test_normalise_keeps_what_tells_bugs_apart() -> None:
    assert normalise("KeyError: 'axis'") != normalise("KeyError: 'keras_tensor_3'")
    assert normalise("Opset 19 is not supported yet") == "Opset N is not supported yet"


def test_signature_fields() -> None:
    crash = Finding("p", Stage.CONVERT, Symptom.CRASH, "SIGSEGV", "the worker died (SIGSEGV) during convert")
    value = Finding("p", Stage.COMPARE, Symptom.VALUE, "value@Flatten", "output 0 (batch 1): 3 of 4 differ", output=0)
    assert crash.signature == "p|convert|crash|SIGSEGV|the worker died (SIGSEGV) during convert"
    assert value.signature == "p|compare|mismatch|Flatten"  # a comparison's message is not part of it
    shape = Finding("p", Stage.COMPARE, Symptom.SHAPE, "shape:dims@Flatten", "output 0: (1, 3), (3, 1)", output=0)
    assert shape.signature == value.signature  # wrong shapes or wrong values of one culprit: one bug
    other = Finding("p", Stage.COMPARE, Symptom.VALUE, "value@Flatten", "output 1 (batch 3): 1 of 9 differ", output=1)
    assert value.signature == other.signature and value.key == other.key


def test_round_trip_and_slug() -> None:
    f = Finding("tests.planted:bake_batch", Stage.RUN, Symptom.EXCEPTION, "Fail", "x", Blame.UNKNOWN, None, {"a": 1})
    assert Finding.from_dict(f.to_dict()) == f
    assert f.slug == f"tests-run-exception-fail-{f.key}"  # the package, not the route
    assert len(f.key) == 10


def test_a_checker_failure_is_met_on_the_op_onnx_names() -> None:
    message = "[ShapeInferenceError] (op_type:MatMul, node name: x/y): B has inconsistent type tensor(bfloat16)"
    finding = Finding("tf2onnx-function", Stage.CHECK, Symptom.EXCEPTION, "InferenceError", message)
    assert finding.op == "MatMul"
    assert "MatMul" not in finding.signature


def test_a_case_a_package_refuses_in_its_own_words_is_a_feature_gap() -> None:
    where = "keras.src.backend.tensorflow.nn:_adaptive_max_pool2d"
    refused = Finding("tf2onnx-function", Stage.CONVERT, Symptom.EXCEPTION, "ValueError",
                      "Input spatial dimensions must be statically known for adaptive pooling", where=where,
                      origin=where, details={"node": "AdaptiveMaxPooling2D"})
    assert refused.gap == "AdaptiveMaxPooling2D" and refused.package == "keras"
    wrong = replace(refused, message="Negative dimension size caused by subtracting 2 from 1")
    assert wrong.gap == ""
    elsewhere = replace(refused, origin="tensorflow.python.framework.ops:raise_from_not_ok_status")
    assert elsewhere.gap == ""  # a refusal counts only where the package at fault raised it


@pytest.mark.parametrize(("pattern", "example"), REFUSALS)
def test_each_refusal_pattern_matches_the_message_it_is_there_for(pattern: str, example: str) -> None:
    assert re.search(pattern, example, re.I)
    assert _refused(example).gap in ("Unsqueeze", "Conv(11)")  # ONNX Runtime's names the op and opset


def _refused(message: str, kind: str = "AttributeError") -> Finding:
    """onnx2keras raising `message` in its own code, on an Unsqueeze node."""
    where = "onnx2keras.reshape_layers:convert_unsqueeze"
    return Finding("onnx>onnx2keras", Stage.LOAD, Symptom.EXCEPTION, kind, message, where=f"{where}[Unsqueeze]",
                   origin=where)


# What onnx2keras 0.0.25 raises in its own words that is no refusal of a case: a lookup of its own that went
# wrong (the input of a node it did not register), and a ValueError it catches itself (its Add's fallback).
NOT_REFUSALS = {"Current node is not in weights / model inputs / layers.", "Operands are different."}


def _raised_in_words(package: str) -> list[tuple[str, str]]:
    """Each `raise E("words")` of an installed package's source: (E, the words, a `%s` filled in)."""
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        pytest.skip(f"{package} is not installed here")
    raised = []
    for source in sorted(Path(next(iter(found.submodule_search_locations))).glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                words = node.exc.args[0]
                words = words.left if isinstance(words, ast.BinOp) else words
                if isinstance(words, ast.Constant) and isinstance(node.exc.func, ast.Name):
                    raised.append((node.exc.func.id, str(words.value).replace("%s", "x")))
    return raised


def test_every_refusal_onnx2keras_raises_in_its_own_words_is_a_feature_gap() -> None:
    """Every message onnx2keras raises on purpose (its source, read) is a refusal, a feature gap, but the two
    that are not: a new one in a later onnx2keras fails here until it is read and placed."""
    raised = _raised_in_words("onnx2keras")
    assert len(raised) >= 30, raised  # onnx2keras 0.0.25 has 34
    for kind, words in raised:
        if words in NOT_REFUSALS:
            assert _refused(words, kind).gap == "", words
        else:
            assert _refused(words, kind).gap == "Unsqueeze", (kind, words)
    assert _refused("Number of axes is not equal 1. Cannot unsqueeze").gap == "Unsqueeze"
    # Not a refusal where another package raised it, nor a message of another kind.
    elsewhere = replace(_refused("Unknown padding"), origin="keras.src.layers.core:call")
    assert elsewhere.gap == ""
    assert _refused("index 7 is out of bounds for axis 0 with size 4", "IndexError").gap == ""
    assert _refused("cannot reshape array of size 6 into shape (2,4)", "ValueError").gap == ""  # numpy's
