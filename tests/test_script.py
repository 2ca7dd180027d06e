"""repro.py as the bug and nothing else (roundtrip.store.script): literals that read back exactly, ONNX graphs as
parser text that parse back to the same graph, Keras code that builds the suite's model, and the verdict
read from how a script ended."""

from __future__ import annotations

import ast
import shutil
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies
from roundtrip import ModelSpec, build_keras
from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.spec.inputs import make_inputs
from roundtrip.store import corpus
from roundtrip.store.script import arrays, issue, onnx_text, scrub, verdict
from roundtrip.store.script.entry import write_repro
from roundtrip.store.script.render import KERAS_TO_ONNX_DIRECTION, Source, render, source_of

ROOT = Path(__file__).resolve().parent.parent / "corpus"


# ---- literals ------------------------------------------------------------------------------------------
@given(st.sampled_from([("float16", 16), ("float32", 32), ("float64", 64)]).flatmap(
    lambda d: st.tuples(st.just(d[0]), st.lists(st.floats(width=d[1]), min_size=1, max_size=8))))
def test_a_literal_reads_back_to_the_same_values(drawn: tuple[str, list[float]]) -> None:
    dtype, values = drawn
    array = np.array(values, dtype)
    back = eval(arrays.literal(array), {"np": np})  # noqa: S307 - the literal is ours
    assert back.dtype == array.dtype and np.array_equal(back, array, equal_nan=True)


def test_big_arrays_are_drawn_not_written() -> None:
    assert arrays.fits_inline([np.zeros(arrays.INLINE_LIMIT)]) and not arrays.fits_inline([np.zeros(65)])
    rng = np.random.default_rng(0)
    drawn = eval(arrays.drawn((3, 4), "float32"), {"rng": rng})  # noqa: S307
    assert drawn.shape == (3, 4) and drawn.dtype == np.float32 and (drawn > 0).all()


# ---- ONNX graphs as parser text ----------------------------------------------------------------------------
def graph_model(lines: list[str]) -> Any:
    import onnx

    namespace: dict[str, Any] = {"np": np, "onnx": onnx}
    exec("import onnx.parser\nimport onnx.numpy_helper\n" + "\n".join(lines), namespace)  # noqa: S102
    return namespace["onnx_model"]


@settings(max_examples=40)
@given(strategies.onnx_graphs())
def test_a_graph_as_parser_text_is_the_same_graph(spec: Any) -> None:
    tidy = onnx_text.tidy(spec.to_onnx())
    graph = onnx_text.source(tidy)
    back = graph_model(onnx_text.lines(graph))
    if graph.initializers and any(a.dtype.kind == "f" and a.size > arrays.INLINE_LIMIT for _, a in graph.initializers):
        assert [n.op_type for n in back.graph.node] == [n.op_type for n in tidy.graph.node]
    else:
        assert onnx_text.same_graph(back, tidy)
    assert [i.name for i in back.graph.input] == [v.name for v in tidy.graph.input]


def test_a_node_whose_first_output_is_the_graph_output_keeps_its_name_and_numbers_the_others() -> None:
    from roundtrip.spec.graph import GraphSpec, NodeSpec

    tidy = onnx_text.tidy(GraphSpec((3, 4), (NodeSpec.make("TopK", k=2),)).to_onnx())
    assert list(tidy.graph.node[0].output) == ["output", "output_1"]
    assert onnx_text.same_graph(graph_model(onnx_text.lines(onnx_text.source(tidy))), tidy)


def test_symbolic_dims_that_the_parser_cannot_read_are_renamed() -> None:
    from onnx import helper

    node = helper.make_node("Concat", ["x", "x"], ["y"], axis=0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, ["N"])],
                              [helper.make_tensor_value_info("y", 1, ["N*2"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    back = graph_model(onnx_text.lines(onnx_text.source(model)))
    assert back.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N_2"


# ---- Keras models as plain code ----------------------------------------------------------------------------
def keras_source(spec: ModelSpec, weights: dict[str, np.ndarray]) -> Source:
    finding = Finding("tf2onnx-function", Stage.COMPARE, Symptom.VALUE, "value@Dense", "values differ", output=0)
    meta = {"finding": finding.to_dict(), "direction": KERAS_TO_ONNX_DIRECTION, "path": "tf2onnx-function",
            "opset": 13, "case": {"batch": 2, "sizes": {}}, "versions": {}}
    return Source(spec, meta, weights, None)


def run_until_conversion(text: str) -> dict[str, Any]:
    """The script's statements before the conversion: the model, its weights, the inputs, Keras' outputs."""
    import keras
    import tensorflow as tf

    from roundtrip.spec.custom import CenterCropReshape

    body = text.split("\nsignature = ", 1)[0]
    keras.config.set_dtype_policy("float32")  # as in a fresh interpreter: an earlier float16 script set it
    namespace: dict[str, Any] = {"keras": keras, "np": np, "tf": tf, "CenterCropReshape": CenterCropReshape}
    exec("\n".join(line for line in body.splitlines() if not line.startswith(("import ", "from "))),  # noqa: S102
         namespace)
    return namespace


@settings(max_examples=10, deadline=None)
@given(strategies.keras_models(max_layers=3))
def test_the_script_builds_the_suites_model(spec: ModelSpec) -> None:
    import keras

    keras.backend.clear_session()
    model = build_keras(spec)
    weights = {f"{la.name}/{i}": w for la in spec.layers for i, w in enumerate(model.get_layer(la.name).get_weights())}
    text = render(keras_source(spec, weights))
    ast.parse(text)
    namespace = run_until_conversion(text)
    built = namespace["model"]
    # by class name: the script defines the suite's custom classes itself
    assert ([type(built.get_layer(la.name)).__name__ for la in spec.layers]
            == [type(model.get_layer(la.name)).__name__ for la in spec.layers])
    for layer in spec.layers:
        mine = [w for k, w in sorted(weights.items()) if k.split("/")[0] == layer.name]
        theirs = built.get_layer(layer.name).get_weights()
        assert [w.shape for w in theirs] == [w.shape for w in mine]
        if arrays.fits_inline(mine):
            assert all(np.array_equal(a, b) for a, b in zip(theirs, mine, strict=True)), layer.name
    from roundtrip.store.script.keras_text import var

    inputs = [namespace["x"]] if len(spec.inputs) == 1 else [namespace[var(f"x_{i.name}")] for i in spec.inputs]
    assert all(np.array_equal(a, b) for a, b in zip(inputs, make_inputs(spec, 2), strict=True))
    assert (type(built).__name__ == "Net") == spec.subclassed and ("class Net(keras.Model)" in text) == spec.subclassed


def test_a_subclassed_model_is_written_as_a_class_whose_call_applies_the_layers() -> None:
    from roundtrip import InputSpec, LayerSpec
    from roundtrip.build.keras import run_keras

    spec = ModelSpec((InputSpec("in0", (3,)), InputSpec("in1", (2,))),
                     (LayerSpec.make("x1", "Dense", "in0", units=2), LayerSpec.make("x2", "Add", ("x1", "in1")),
                      LayerSpec.make("x3", "Dense", "x2", units=1)), ("x3", "x1"), seed=5, subclassed=True)
    model = build_keras(spec)
    weights = {f"{la.name}/{i}": w for la in spec.layers for i, w in enumerate(model.get_layer(la.name).get_weights())}
    text = render(keras_source(spec, weights))
    assert "class Net(keras.Model):" in text and "    def call(self, inputs):" in text
    assert "        in0, in1 = inputs" in text and "        return [x3, x1]" in text
    assert "model = Net()" in text and "model([np.zeros((1, 3), np.float32), np.zeros((1, 2), np.float32)])" in text
    namespace = run_until_conversion(text)
    built, inputs = namespace["model"], make_inputs(spec, 2)
    for a, b in zip(run_keras(built, inputs), run_keras(model, inputs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


SPECIAL_FORMS = ModelSpec.from_dict({
    "schema": 1, "seed": 3, "sequential": False,
    "inputs": [{"name": "in0", "shape": [4, 6], "dynamic": False}],
    "layers": [
        {"name": "x1", "kind": "Activation", "inputs": ["in0"], "params": {"activation": "gelu_approximate"}},
        {"name": "x2", "kind": "MultiHeadAttention", "inputs": ["x1", "in0"], "params": {"num_heads": 2, "key_dim": 3}},
        {"name": "x3", "kind": "LSTM", "inputs": ["x2"], "params": {"units": 3, "state": 2, "go_backwards": True}},
        {"name": "x4", "kind": "Bidirectional", "inputs": ["x2"], "params": {"layer": "GRU", "units": 2,
                                                                            "merge_mode": "sum"}},
        {"name": "x5", "kind": "Activation", "inputs": ["x4"], "params": {"activation": "threshold"}},
        {"name": "x6", "kind": "EinsumDense", "inputs": ["x2"], "params": {"output_shape": [4, 2], "bias": True}},
    ],
    "outputs": ["x3", "x5", "x6"],
})


def test_the_script_writes_picked_outputs_positional_calls_and_custom_activations() -> None:
    import keras

    keras.backend.clear_session()
    model = build_keras(SPECIAL_FORMS)
    weights = {f"{la.name}/{i}": w for la in SPECIAL_FORMS.layers
               for i, w in enumerate(model.get_layer(la.name).get_weights())}
    text = render(keras_source(SPECIAL_FORMS, weights))
    assert "def gelu_approximate(" in text and "def threshold_half(" in text and "CenterCropReshape" not in text
    assert "(x1, in0)" in text and "(x2)[2]" in text
    namespace = run_until_conversion(text)
    built = namespace["model"]
    for layer in SPECIAL_FORMS.layers:  # weights too big to write out are drawn: copy the suite's
        built.get_layer(layer.name).set_weights(model.get_layer(layer.name).get_weights())
    x = make_inputs(SPECIAL_FORMS, 2)[0]
    for mine, theirs in zip(model(x), built(x), strict=True):
        assert np.array_equal(np.asarray(mine), np.asarray(theirs))


def test_no_script_reads_a_file_beside_it() -> None:
    for entry in corpus.entries(ROOT):
        text = (entry.folder / "repro.py").read_text()
        assert not any(word in text for word in ("__file__", "np.load", "weights.npz", "test_data_set", "open(")), \
            entry.folder.name


# ---- the verdict ---------------------------------------------------------------------------------------------
KEYERROR = Finding("tf2onnx-keras", Stage.CONVERT, Symptom.EXCEPTION, "KeyError", "'x'")
UNSUPPORTED = Finding("onnx>onnx2keras", Stage.LOAD, Symptom.EXCEPTION, "unsupported-op:Tile", "'Tile'")
VALUE = Finding("onnx>onnx2keras", Stage.COMPARE, Symptom.VALUE, "value@MaxPool", "differ")
CRASH = Finding("onnx>onnx2keras", Stage.LOAD, Symptom.CRASH, "SIGSEGV", "died")
HANG = Finding("onnx>onnx2keras", Stage.LOAD, Symptom.TIMEOUT, "timeout", "hung")
CHAINED = """Traceback (most recent call last):
  File "a.py", line 1, in <module>
TypeError: first

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "a.py", line 3, in <module>
    raise thing
tensorflow.python.framework.errors_impl.InvalidArgumentError: Exception encountered
  when calling layer: shapes differ
"""


def test_the_exception_a_traceback_ends_with_is_read_without_its_module() -> None:
    assert verdict.raised(CHAINED) == "InvalidArgumentError"
    assert verdict.raised("no traceback here") is None


def test_a_keras_layer_that_raised_while_traced_is_read_from_keras_own_words() -> None:
    traced = Finding("tf2onnx-function", Stage.CONVERT, Symptom.EXCEPTION, "OperatorNotAllowedInGraphError", "x",
                     where="keras:UpSampling2D.call")
    said = ("Traceback (most recent call last):\n  File \"repro.py\", line 9, in <module>\n"
            "tensorflow.python.framework.errors_impl.OperatorNotAllowedInGraphError: Exception encountered when "
            "calling UpSampling2D.call().\n")
    assert verdict.read(traced, 1, said).status == verdict.SHOWS
    assert verdict.read(traced, 1, said.replace("UpSampling2D", "Conv2D")).status == verdict.OTHER


@pytest.mark.parametrize(("finding", "code", "stderr", "status"), [
    (KEYERROR, 1, "Traceback (most recent call last):\nKeyError: 'x'", verdict.SHOWS),
    (KEYERROR, 1, "Traceback (most recent call last):\nValueError: no", verdict.OTHER),
    (UNSUPPORTED, 1, "Traceback (most recent call last):\nKeyError: 'Tile'", verdict.SHOWS),
    (VALUE, 1, "Traceback (most recent call last):\nAssertionError: \nNot equal", verdict.SHOWS),
    (VALUE, 0, "", verdict.FIXED),
    (VALUE, -signal.SIGSEGV, "", verdict.OTHER),
    (CRASH, -signal.SIGSEGV, "", verdict.SHOWS),
    (CRASH, 0, "", verdict.FIXED),
    (HANG, None, "", verdict.SHOWS),
    (VALUE, None, "", verdict.OTHER),
    (KEYERROR, 3, "", verdict.OTHER),
])
def test_how_a_script_ended_is_read_as_shows_fixed_or_other(finding: Finding, code: int | None, stderr: str,
                                                            status: int) -> None:
    assert verdict.read(finding, code, stderr).status == status


@pytest.mark.parametrize(("body", "finding", "status", "why"), [
    ("raise KeyError('x')", KEYERROR, verdict.SHOWS, "raised KeyError"),
    ("raise ValueError('x')", KEYERROR, verdict.OTHER, "raised ValueError, the finding is KeyError"),
    ("print('fine')", KEYERROR, verdict.FIXED, "fixed"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", CRASH, verdict.SHOWS, "died by SIGSEGV"),
    ("import time\ntime.sleep(30)", HANG, verdict.SHOWS, "ran past the timeout"),
])
def test_a_script_runs_in_a_process_of_its_own(tmp_path: Path, body: str, finding: Finding, status: int,
                                               why: str) -> None:
    script = tmp_path / "repro.py"
    script.write_text(body + "\n")
    result = verdict.run(script, sys.executable, finding, timeout=3)
    assert result.status == status and why in result.why


# ---- written and checked -----------------------------------------------------------------------------------------
def test_an_entry_s_repro_is_written_checked_and_recorded(tmp_path: Path) -> None:
    """The committed from_keras KeyError entry, its repro.py removed, written again and run once (about 8 s)."""
    entry = next(e for e in corpus.entries(ROOT) if e.meta["path"] == "tf2onnx-keras" and e.finding.kind == "KeyError")
    folder = tmp_path / entry.folder.name
    shutil.copytree(entry.folder, folder)
    (folder / "repro.py").unlink()
    written = write_repro(folder, entry.spec, entry.meta)
    record = written.record()
    assert record.items() >= {"checked": True, "shows": True, "why": "raised KeyError"}.items()
    assert record["output"].splitlines()[-1].startswith("KeyError: ") and str(tmp_path) not in record["output"]
    src = source_of(folder, entry.spec, entry.meta | {"repro": record})
    said = issue.markdown(src, folder.name, "", "", "Python 3")
    assert f"**Actual:** it raises KeyError:\n\n```\n{record['output'].splitlines()[-1]}\n```" in said
    text = (folder / "repro.py").read_text()
    assert text == (entry.folder / "repro.py").read_text() and len(text.splitlines()) <= 20


def test_a_graph_cut_after_a_node_keeps_only_what_feeds_it() -> None:
    from onnx import helper, numpy_helper

    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Add", ["a", "w"], ["b"]),
             helper.make_node("Sigmoid", ["x"], ["c"]), helper.make_node("Mul", ["b", "c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, ["N", 3])],
                              [helper.make_tensor_value_info("y", 1, ["N", 3])],
                              initializer=[numpy_helper.from_array(np.ones(3, np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    cut = onnx_text.cut_after(model, 1)
    assert [n.op_type for n in cut.graph.node] == ["Relu", "Add"] and [o.name for o in cut.graph.output] == ["b"]
    assert [t.name for t in cut.graph.initializer] == ["w"] and [i.name for i in cut.graph.input] == ["x"]
    assert [len(g.graph.node) for g in onnx_text.cuts(model, "Add")] == [2]
    assert onnx_text.cuts(model, "Mul") == []  # the graph ends there already


def test_a_bypassed_node_hands_its_input_to_its_consumers() -> None:
    from onnx import helper

    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
             helper.make_node("Sigmoid", ["b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, ["N", 3])],
                              [helper.make_tensor_value_info("y", 1, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    smaller = onnx_text.bypassed(model, 1)
    assert [(n.op_type, list(n.input)) for n in smaller.graph.node] == [("Relu", ["x"]), ("Sigmoid", ["a"])]
    assert onnx_text.bypassed(model, 2) is None  # it makes the graph's output


def test_an_exception_counts_only_from_the_function_the_identity_names() -> None:
    finding = Finding("onnx>onnx2tf", Stage.LOAD, Symptom.EXCEPTION, "TypeError", "types differ",
                      where="onnx2tf.ops.Concat:make_node")
    there = ('Traceback (most recent call last):\n  File "/v/site-packages/onnx2tf/ops/Concat.py", line 369, in '
             "make_node\n    tf.concat(\nTypeError: types differ")
    elsewhere = there.replace("Concat.py", "Div.py")
    assert verdict.read(finding, 1, there).status == verdict.SHOWS
    assert verdict.read(finding, 1, elsewhere).why == "raised TypeError, but not in onnx2tf.ops.Concat:make_node"


def test_a_function_traced_by_tensorflow_counts_from_its_in_user_code_frame() -> None:
    """TensorFlow re-raises an error met while tracing a tf.function with the user's frames in its message,
    each marked `*`; the frame of the function the identity names is one of them."""
    finding = Finding("tf2onnx-keras", Stage.CONVERT, Symptom.EXCEPTION, "TypeError", "too many positional arguments",
                      where="tf2onnx.convert:model_fn")
    traced = ('Traceback (most recent call last):\n  File "/tmp/__autograph_generated_file1.py", line 13, in '
              "tf__model_fn\n    retval_ = ag__.converted_call()\nTypeError: in user code:\n\n"
              '    File "/v/site-packages/tf2onnx/convert.py", line 473, in model_fn  *\n'
              "        return model(*args, training=False)\n\n    TypeError: too many positional arguments\n")
    assert verdict.read(finding, 1, traced).status == verdict.SHOWS
    elsewhere = traced.replace("in model_fn  *", "in other_fn  *")
    assert verdict.read(finding, 1, elsewhere).why == "raised TypeError, but not in tf2onnx.convert:model_fn"


# ---- text fit for an entry's files ---------------------------------------------------------------------------
HARNESS_TRACE = """Traceback (most recent call last):
  File "/work/main/roundtrip/oracle/check.py", line 141, in keras_to_onnx
    onnx_model = convert(model)
                 ^^^^^^^^^^^^^^
  File "/tmp/ci/roundtrip/convert/converters.py", line 46, in convert
    return tf2onnx.convert.from_keras(model)
  File "/work/main/.venv/lib/python3.11/site-packages/tf2onnx/convert.py", line 473, in model_fn
    return model(*args, training=False)
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/inspect.py", line 3212, in bind
    return self._bind(args, kwargs)
TypeError: \x1b[1mtoo many positional arguments\x1b[0m (see /tmp/tmpab12/model.onnx, node /conv1/Conv,
https://github.com/onnx/tensorflow-onnx/issues)
"""


def test_paths_colours_and_the_suites_frames_are_taken_out_of_a_text() -> None:
    text = scrub.scrubbed(HARNESS_TRACE)
    assert text.splitlines() == [
        "Traceback (most recent call last):",
        f"  {scrub.HARNESS_NOTE}",
        '  File ".../site-packages/tf2onnx/convert.py", line 473, in model_fn',
        "    return model(*args, training=False)",
        '  File ".../python3.11/inspect.py", line 3212, in bind',
        "    return self._bind(args, kwargs)",
        "TypeError: too many positional arguments (see .../model.onnx, node /conv1/Conv,",
        "https://github.com/onnx/tensorflow-onnx/issues)"]
    assert scrub.scrubbed(text) == text
    assert scrub.scrubbed('File "venv/lib/python3.12/site-packages/onnx2tf/x.py"') == \
        'File ".../site-packages/onnx2tf/x.py"'


def test_err_log_holds_no_path_of_the_machine_nor_a_frame_of_the_suite() -> None:
    finding = replace(KEYERROR, message="\x1b[1m'x'\x1b[0m", details={"traceback": HARNESS_TRACE})
    text = corpus._err_log(finding, next(e.spec for e in corpus.entries(ROOT)))
    assert "/work/" not in text and "/root/" not in text and "/tmp/" not in text and "\x1b" not in text
    assert "roundtrip/" not in text and scrub.HARNESS_NOTE in text and ".../site-packages/tf2onnx/" in text


def test_a_scripts_output_is_kept_without_the_machines_paths(tmp_path: Path) -> None:
    script = tmp_path / "repro.py"
    script.write_text("import json\nraise KeyError(json.__file__)\n")
    result = verdict.run(script, sys.executable, KEYERROR, timeout=30)
    assert result.shows and str(tmp_path) not in result.output and sys.prefix not in result.output
    assert 'File ".../repro.py", line 2' in result.output and "KeyError: '.../python3." in result.output


def _compared_entries() -> list[corpus.Entry]:
    """One committed comparison entry of each direction, converter and symptom."""
    chosen: dict[tuple[str, str, str], corpus.Entry] = {}
    for entry in corpus.entries(ROOT):
        if entry.finding.stage == Stage.COMPARE and entry.finding.symptom != Symptom.DECLARED_SHAPE:
            chosen.setdefault((entry.meta["direction"], entry.meta["back"], entry.finding.symptom), entry)
    return list(chosen.values())


@pytest.mark.parametrize("entry", _compared_entries(), ids=lambda e: e.folder.name)
def test_a_comparison_names_what_gave_each_side(entry: corpus.Entry) -> None:
    """`expected` is Keras' for a Keras -> ONNX script and ONNX Runtime's on the graph for an ONNX -> Keras
    one; the failing assertion's message says so, and names the converter's Keras model as the other side."""
    src = source_of(entry.folder, entry.spec, entry.meta)
    text = render(src)
    last = text[text.rindex("\nexpected = ") if "\nexpected = " in text else 0:]
    keras_first = src.direction == KERAS_TO_ONNX_DIRECTION
    want, got = (("the Keras model", "ONNX Runtime on the converted graph") if keras_first else
                 ("ONNX Runtime on the graph", f"the Keras model {entry.meta['back'].split('-')[0]} makes"))
    if entry.finding.symptom == Symptom.COUNT:
        want = want if keras_first else "the graph"
    else:
        assert last.startswith("\nexpected = " + ("np.asarray(model(" if keras_first else "ort.InferenceSession("))
    said = text.rstrip().splitlines()[-1]
    if entry.finding.symptom == Symptom.VALUE:
        assert f'err_msg="actual: {got}, desired: {want}")' in said
    else:
        assert f"{got} gives" in said and f"; {want}, {{" in said


def _with_record(entry: corpus.Entry, record: dict[str, Any], **finding: Any) -> Source:
    meta = entry.meta | {"repro": record, "finding": entry.meta["finding"] | finding}
    return source_of(entry.folder, entry.spec, meta)


def test_actual_is_what_the_script_printed_or_says_it_did_not_run() -> None:
    entry = next(e for e in corpus.entries(ROOT) if e.meta["path"] == "tf2onnx-keras" and e.finding.kind == "KeyError")
    printed = ("2026-12-07 W tensorflow: some log line\nTraceback (most recent call last):\n"
               '  File ".../repro.py", line 9, in <module>\n    boom()\nKeyError: \'dense\'\n')
    shown = issue.actual(_with_record(entry, {"checked": True, "shows": True, "why": "raised KeyError",
                                              "output": printed}))
    assert shown == "it raises KeyError:\n\n```\nKeyError: 'dense'\n```"
    flaky = issue.actual(_with_record(entry, {"checked": True, "shows": True, "why": "raised KeyError",
                                              "output": printed}, flaky=True))
    assert flaky == shown  # a flaky script is run until it shows, and shows what it printed then
    planted = source_of(entry.folder, entry.spec, entry.meta | {"repro": {"checked": False},
                                                                 "path": "tests.planted:convert"})
    assert issue.actual(planted).endswith("(it calls a converter of the suite's own).")
    other = issue.actual(_with_record(entry, {"checked": True, "shows": False, "why": "raised ValueError, the "
                                              "finding is KeyError", "output": "ValueError: no"}))
    assert other.startswith("the script, run when this report was written, did not show the bug (raised ValueError")


def test_a_traceback_the_script_did_not_print_is_said_to_be_the_fuzzers() -> None:
    entry = next(e for e in corpus.entries(ROOT) if e.meta["path"] == "tf2onnx-keras" and e.finding.kind == "KeyError")
    err_log = "Traceback:\n" + HARNESS_TRACE.replace("TypeError", "KeyError")
    said = issue.markdown(_with_record(entry, {"checked": False}, flaky=True), entry.folder.name, "", err_log, "Py")
    assert "<summary>Traceback (tf2onnx's frames, as the fuzzer met them)</summary>" in said
    assert "/work/" not in said and "roundtrip/" not in said and ".../site-packages/tf2onnx/convert.py" in said


def test_a_runtime_failure_is_written_as_the_graph_and_onnx_runtime_alone(tmp_path: Path) -> None:
    """The committed ONNX Runtime entry (a MaxPool graph Keras' export writes), its repro.py written again:
    no Keras, no converter, the graph made smaller while the full checker accepts it and the runtime still
    raises (about 25 s)."""
    entry = next(e for e in corpus.entries(ROOT) if e.folder.name.startswith("onnxruntime-run-"))
    folder = tmp_path / entry.folder.name
    shutil.copytree(entry.folder, folder)
    (folder / "repro.py").unlink()
    written = write_repro(folder, entry.spec, entry.meta)
    assert written.record().items() >= {"checked": True, "shows": True}.items()
    text = (folder / "repro.py").read_text()
    imported = {line.split()[1] for line in text.splitlines() if line.startswith("import ")}
    assert imported == {"numpy", "onnx", "onnxruntime"}, imported
    model = graph_model([line for line in text.splitlines() if not line.startswith(("import ", "session", "x = "))])
    assert onnx_text.valid(model) and len(model.graph.node) < len(source_of(entry.folder, entry.spec, entry.meta)
                                                                      .onnx.graph.node)
    assert text.splitlines()[0] == "# ONNX Runtime raises RuntimeException running a valid graph of a MaxPool node " \
                                   "(opset 13)"
