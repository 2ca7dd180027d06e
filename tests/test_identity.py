"""Bug identity: a finding is named by the package at fault and the place in it, never by the route that
reached it or by what shrinking changes around it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings

import strategies
from roundtrip import InputSpec, LayerSpec, ModelSpec
from roundtrip.convert.converters import KERAS_TO_ONNX
from roundtrip.finding.findings import Blame, Error, Finding, Stage, Symptom
from roundtrip.finding.identity import converter_under_test, deepest, frames, module_of, package_of, place
from roundtrip.run.worker import Limits
from roundtrip.search.harness import Harness
from roundtrip.search.plan import Plan
from roundtrip.store import corpus

TRACE = '''Traceback (most recent call last):
  File "/work/main/roundtrip/convert/back.py", line 203, in run_back
    model = back.convert(proto, names)
  File "/x/.venv/lib/python3.11/site-packages/onnx2keras/converter.py", line 309, in onnx_to_keras
    AVAILABLE_CONVERTERS[node_type](
  File "/x/.venv/lib/python3.11/site-packages/onnx2keras/operation_layers.py", line 120, in convert_gather
    axis = params['axis']
  File "/x/.venv/lib/python3.11/site-packages/keras/src/ops/core.py", line 12, in take
    raise KeyError('axis')
KeyError: 'axis'
'''


def test_frames_and_modules() -> None:
    assert module_of("/a/.venv/lib/python3.11/site-packages/tf2onnx/onnx_opset/nn.py") == "tf2onnx.onnx_opset.nn"
    assert module_of("/a/site-packages/onnx2keras/__init__.py") == "onnx2keras"
    assert module_of("/root/.pyenv/versions/3.11.7/lib/python3.11/inspect.py") == "inspect"  # no machine path
    assert frames(TRACE)[0] == ("work.main.roundtrip.convert.back", "run_back")
    assert frames(TRACE)[-1] == ("keras.src.ops.core", "take")


def test_the_deepest_frame_of_the_package_at_fault() -> None:
    assert deepest(TRACE, ("onnx2keras",)) == "onnx2keras.operation_layers:convert_gather"
    assert deepest(TRACE, ("keras", "onnx2keras")) == "keras.src.ops.core:take"
    assert deepest(TRACE, ("tf2onnx",)) == ""
    assert place(TRACE, ("onnx2keras",), "Gather") == "onnx2keras.operation_layers:convert_gather[Gather]"
    assert deepest(TRACE, ("roundtrip",)) == "roundtrip.convert.back:run_back"


def test_the_converter_under_test_and_its_package() -> None:
    assert [converter_under_test(p) for p in ("keras-export", "tf2onnx-keras>onnx2tf", "onnx>onnx2keras",
                                              "onnx>onnx2keras-nhwc>tf2onnx-function")] == [
        "keras-export", "onnx2tf", "onnx2keras", "tf2onnx-function"]
    assert {package_of(p) for p in KERAS_TO_ONNX} == {"tf2onnx"}  # Keras' export goes through tf2onnx
    assert package_of("onnx2keras-nhwc") == "onnx2keras"
    assert package_of("tests.planted:bake_batch") == "tests"


def test_the_route_is_not_part_of_the_identity() -> None:
    """The same onnx2keras failure met through two Keras -> ONNX paths and on a drawn graph is one bug."""
    error = Error("KeyError", "'axis'", TRACE, node="Gather")
    found = [error.finding(route, Stage.LOAD, kind="missing-attribute:axis")
             for route in ("tf2onnx-function>onnx2keras", "keras-export>onnx2keras-nhwc", "onnx>onnx2keras")]
    assert len({f.signature for f in found}) == 1
    assert found[0].signature == "onnx2keras|load|exception|missing-attribute:axis|keras.src.ops.core:take: 'axis'"
    assert found[0].op == "Gather" and found[0].where == "onnx2keras.operation_layers:convert_gather[Gather]"


def test_the_root_cause_names_the_bug_not_the_op_it_was_met_on() -> None:
    """Where it was raised and its message with names and sizes taken out: one bug on any op kind (`op` says
    which); another message at the same place is another bug."""
    a = Error("KeyError", "'x1'", TRACE, node="Gather").finding("onnx>onnx2keras", Stage.LOAD)
    b = Error("KeyError", "'x2'", TRACE, node="Tile").finding("onnx>onnx2keras", Stage.LOAD)
    c = Error("KeyError", "'axis'", TRACE, node="Gather").finding("onnx>onnx2keras", Stage.LOAD)
    assert a.signature == b.signature != c.signature
    assert (a.op, b.op) == ("Gather", "Tile")


def test_without_a_frame_of_the_package_the_message_decides() -> None:
    ort = "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : padding values must be non-negative"
    one = Finding("tf2onnx-function", Stage.RUN, Symptom.EXCEPTION, "RuntimeException", ort)
    two = Finding("keras-export", Stage.RUN, Symptom.EXCEPTION, "RuntimeException", ort.replace("6", "7"))
    other = Finding("keras-export", Stage.RUN, Symptom.EXCEPTION, "RuntimeException", "Reshape: 3 != 4")
    assert one.signature == two.signature != other.signature
    assert one.package == "tf2onnx"


def test_mismatches_are_named_by_package_blame_and_first_layer() -> None:
    def value(path: str, blame: Blame, culprit: str) -> Finding:
        return Finding(path, Stage.COMPARE, Symptom.VALUE, f"value@{culprit}", "output 0: ...", blame, 0)

    assert value("tf2onnx-function", Blame.KERAS, "Conv2D").signature == value("keras-export", Blame.KERAS,
                                                                               "Conv2D").signature
    assert value("tf2onnx-function", Blame.KERAS, "Conv2D").package == "keras"
    assert value("tf2onnx-function", Blame.RUNTIME, "Conv2D").package == "onnxruntime"
    assert value("tf2onnx-keras", Blame.CONVERTER, "Conv2D").signature != value("tf2onnx-keras", Blame.CONVERTER,
                                                                                "Dense").signature


def test_flaky_is_an_identity_of_its_own() -> None:
    base = Finding("tf2onnx-function", Stage.COMPARE, Symptom.SHAPE, "shape:rank@MaxPooling2D", "x", output=0)
    flaky = Finding.from_dict(Finding("tf2onnx-function", Stage.COMPARE, Symptom.SHAPE, "shape:rank@MaxPooling2D",
                                      "x", output=0, flaky=True, details={"rate": "2/7"}).to_dict())
    assert flaky.flaky and flaky.signature == base.signature + "|flaky"
    assert "flaky" in flaky.slug and "2/7" in flaky.describe()


# ---- planted faults: one entry per bug ---------------------------------------------------------------
@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    opened = Harness.open(tmp_path_factory.mktemp("identity") / "corpus", Limits(timeout=60.0), plan=Plan(writes=True))
    yield opened
    opened.close()


def chain(*layers: tuple[str, dict[str, object]], shape: tuple[int, ...] = (3, 4)) -> ModelSpec:
    made, previous = [], "in0"
    for k, (kind, params) in enumerate(layers, 1):
        made.append(LayerSpec.make(f"x{k}", kind, previous, **params))
        previous = f"x{k}"
    return ModelSpec((InputSpec("in0", shape),), tuple(made), (previous,), seed=1)


@pytest.mark.slow
def test_a_value_fault_in_one_layer_kind_is_named_after_it_and_reduced_to_it(harness: Harness) -> None:
    """A planted fault in the middle of a ten-layer chain names the faulty layer, not the output's, and the
    entry written is that layer alone."""
    sigmoid = ("Activation", {"activation": "sigmoid", "axis": -1})
    spec = chain(("Dense", {"units": 4}), ("Activation", {"activation": "relu", "axis": -1}), ("Dense", {"units": 5}),
                 ("Dropout", {"rate": 0.5}), sigmoid, ("Dense", {"units": 3}), ("Reshape", {"target_shape": (-1,)}),
                 ("Dense", {"units": 2}), ("Activation", {"activation": "tanh", "axis": -1}), ("Dense", {"units": 2}))
    harness.explore(lambda: harness.check(spec, "tests.planted:sigmoid_made_hard", 13))
    assert [s for s in harness.met if s.endswith("|mismatch|Activation")]
    [entry] = [e for e in corpus.entries(harness.root) if e.meta["path"] == "tests.planted:sigmoid_made_hard"]
    assert entry.finding.kind == "value@Activation"
    assert [(la.kind, la.p["activation"]) for la in entry.spec.layers] == [("Activation", "sigmoid")]
    assert entry.meta["shrink"]["one_minimal"] is True


@pytest.mark.slow
def test_an_onnx_to_keras_fault_met_through_every_keras_to_onnx_path_is_one_entry(harness: Harness) -> None:
    back = "tests.planted:refuse_matmul"

    def hunt(path: str) -> None:
        @settings(max_examples=6, database=None, derandomize=True)
        @given(spec=strategies.keras_models(max_layers=2, layers=["Dense"], input_ranks=(2,)))
        def round_trip(spec: ModelSpec) -> None:
            harness.check(spec, path, 13, back=back)

        harness.explore(round_trip)  # the first path writes; the others meet it known

    for path in KERAS_TO_ONNX:
        hunt(path)
    found = [e for e in corpus.entries(harness.root) if e.meta.get("back") == back]
    assert len(found) == 1, [e.folder.name for e in found]
    assert found[0].signature.startswith("tests|load|exception|NotImplementedError|tests.planted:refuse_matmul")
    assert [la.kind for la in found[0].spec.layers] == ["Dense"]
    assert harness.known_hits[found[0].signature] >= 2  # the two later paths met it as known


def test_keras_traceback_wrapper_is_no_place() -> None:
    trace = TRACE.replace("keras/src/ops/core.py", "keras/src/utils/traceback_utils.py")
    assert deepest(trace, ("keras",)) == ""


def test_a_keras_layer_failing_while_traced_is_one_keras_bug_whichever_path_traced_it() -> None:
    from roundtrip.oracle.check import _exception

    message = ("Exception encountered when calling UpSampling2D.call().\n\nUsing a symbolic `tf.Tensor` as a "
               "Python `bool` is not allowed.")

    def raised() -> BaseException:
        try:
            raise TypeError(message)
        except TypeError as e:
            return e

    found = [_exception(path, Stage.CONVERT, raised()) for path in KERAS_TO_ONNX]
    assert {f.signature for f in found} == {
        "keras|convert|exception|TypeError|keras:UpSampling2D.call: Exception encountered when calling "
        "<layer>.call(). Using a symbolic `tf.Tensor` as a Python `bool` is not allowed."}
    assert all(f.blame is Blame.KERAS for f in found)


def _slice_mismatch(path: str, **details: str) -> Finding:
    return Finding(path, Stage.COMPARE, Symptom.SHAPE, "shape:dims@Slice", "shapes differ",
                   details={"culprit": "Slice", **details})


def test_a_node_culprit_of_a_models_converted_graph_has_its_layers_case_not_a_graph_nodes(tmp_path: Path) -> None:
    """One mismatch signature (onnx2tf's Slice) met on a graph spec's Slice node and on the Slice tf2onnx makes of
    a Keras CenterCropReshape (check.run_failure: `details.layer`) is two param cases, so two bugs; two models
    of that layer in one case are one; another case of the layer is another."""
    from roundtrip.search.recorder import Recorder, case_key, case_of
    from roundtrip.spec.graph import GraphSpec, NodeSpec

    graph = GraphSpec((2,), (NodeSpec.make("Slice", starts=[0], ends=[1], axes=[-1], steps=[1]),))
    def model(height: int, width: int, side: int = 2) -> ModelSpec:
        return ModelSpec((InputSpec("in0", (side, side, 2)),),
                         (LayerSpec.make("x2", "CenterCropReshape", "in0", height=height, width=width),), ("x2",))

    from_graph = _slice_mismatch("onnx2tf")
    from_model = _slice_mismatch("tf2onnx-keras>onnx2tf", layer="CenterCropReshape")
    assert from_graph.signature == from_model.signature == "onnx2tf|compare|mismatch|Slice"
    graph_case, model_case = case_of(graph, from_graph), case_of(model(1, 1), from_model)
    assert graph_case == case_key(graph, "Slice") and graph_case.startswith('{"axes"')
    assert model_case == '{"layer":"CenterCropReshape","params":{"height":"1","width":"1"}}'
    assert graph_case != model_case
    assert case_of(model(1, 1, side=3), from_model) == model_case  # the same layer and case: one bug
    assert case_of(model(2, 1), from_model) != model_case  # another case of the layer: another
    assert case_of(model(1, 1), _slice_mismatch("tf2onnx-keras>onnx2tf")) == ""  # no layer named: as before
    # The recorder tells the two apart among known entries: the model's case is not the graph entry's.
    entries = []
    for name, spec, finding in (("g", graph, from_graph), ("m", model(1, 1), from_model)):
        (tmp_path / name).mkdir()
        meta = {"signature": finding.signature, "finding": finding.to_dict()}
        entries.append(corpus.Entry(tmp_path / name, meta, spec))
    recorder = Recorder(tmp_path, run=lambda *a, **k: None)
    recorder.known = {"g": entries[0], "m": entries[1]}
    assert recorder.known_cases("onnx2tf|compare|mismatch|Slice") == {graph_case, model_case}
    assert recorder.known_cases("onnx2tf|compare|mismatch|Slice", besides=tmp_path / "g") == {model_case}
