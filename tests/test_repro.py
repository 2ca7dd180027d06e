"""repro.py: a standalone script that builds bitwise the same model as the suite, and shows the finding."""

from __future__ import annotations

import ast
import itertools
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings

import strategies
from roundtrip import LAYERS, InputSpec, LayerSpec, ModelSpec, build_keras
from roundtrip.back import ONNX_TO_KERAS, category
from roundtrip.build import run_keras
from roundtrip.converters import KERAS_TO_ONNX
from roundtrip.findings import Finding, Stage, Symptom
from roundtrip.repro import render_repro

VALUE = Finding("tf2onnx-function", Stage.COMPARE, Symptom.VALUE, "value@Dense", "values differ", output=0)
IMPORTS = re.compile(r"^\s*(import|from)\s+(roundtrip|strategies)\b", re.MULTILINE)
BUILT = [0]  # models built by the drawn tests, to clear the Keras session every 20


def write_entry(folder: Path, spec: ModelSpec, text: str, model: Any = None, onnx_model: Any = None,
                batch: int = 2) -> Path:
    """A corpus entry as the corpus writer lays it out: repro.py, spec.json, weights.npz, test_data_set_0/."""
    from onnx import numpy_helper

    model = build_keras(spec) if model is None else model
    folder.mkdir(parents=True, exist_ok=True)
    weights = {f"{la.name}/{i}": w for la in spec.layers for i, w in enumerate(model.get_layer(la.name).get_weights())}
    np.savez(folder / "weights.npz", **weights)
    data = folder / "test_data_set_0"
    data.mkdir(exist_ok=True)
    inputs = strategies.inputs_for(spec, batch=batch)
    for k, x in enumerate(inputs):
        (data / f"input_{k}.pb").write_bytes(numpy_helper.from_array(x, spec.inputs[k].name).SerializeToString())
    for k, y in enumerate(run_keras(model, inputs)):
        (data / f"output_{k}.pb").write_bytes(numpy_helper.from_array(y, f"output_{k}").SerializeToString())
    (folder / "spec.json").write_text(spec.to_json())
    if onnx_model is not None:
        (folder / "model.onnx").write_bytes(onnx_model.SerializeToString())
    (folder / "repro.py").write_text(text)
    return folder / "repro.py"


def exec_script(script: Path) -> dict[str, Any]:
    """The script's namespace, run as an imported module would be (so main() does not run)."""
    import keras

    from roundtrip.custom import CenterCropReshape

    namespace: dict[str, Any] = {"__file__": str(script), "__name__": "repro"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    # The script registers its own CenterCropReshape under the suite's name: give the name back.
    keras.saving.register_keras_serializable(package="roundtrip")(CenterCropReshape)
    return namespace


def assert_builds_the_same_model(spec: ModelSpec) -> None:
    import keras

    model = build_keras(spec)
    with tempfile.TemporaryDirectory() as folder:
        script = write_entry(Path(folder), spec, render_repro(spec, VALUE.path, 15, VALUE, {"batch": 2}), model)
        copy = exec_script(script)["build_model"]()
    assert copy.name == "roundtrip" and isinstance(copy, keras.Sequential) == spec.sequential
    assert [w.shape for w in copy.weights] == [w.shape for w in model.weights]
    inputs = strategies.inputs_for(spec, batch=2)
    for ours, theirs in zip(run_keras(model, inputs), run_keras(copy, inputs), strict=True):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    BUILT[0] += 2
    if BUILT[0] % 20 < 2:
        keras.backend.clear_session()


# ---- the script builds the same model ----------------------------------------------------------------
@pytest.mark.usefixtures("keras_session")
@settings(max_examples=20)
@given(strategies.keras_models())
def test_the_script_builds_bitwise_the_same_model(spec: ModelSpec) -> None:
    assert_builds_the_same_model(spec)


def _one(strategy: Any, condition: Callable[[ModelSpec], bool]) -> ModelSpec:
    """The first drawn spec that satisfies `condition` (not shrunk: the parameters stay varied)."""
    spec: ModelSpec = find(strategy, condition, settings=settings(max_examples=1000, phases=[Phase.generate]))
    return spec


def _uses(kind: str) -> Callable[[ModelSpec], bool]:
    return lambda spec: any(layer.kind == kind for layer in spec.layers)


def _softmax(spec: ModelSpec) -> bool:
    return any(la.kind == "Activation" and la.p.get("activation") == "softmax" and la.p.get("axis", -1) != -1
               for la in spec.layers)


SPECIAL: dict[str, tuple[Any, Callable[[ModelSpec], bool]]] = {
    "softmax": (strategies.keras_models(layers=["Activation"], max_layers=2), _softmax),
    "sequential": (strategies.keras_models(layers=["Cropping2D", "Flatten", "CenterCropReshape", "Dense"]),
                   lambda spec: spec.sequential and len(spec.layers) >= 3),
    "dynamic-crop": (strategies.keras_models(layers=["CenterCropReshape", "Cropping2D"], dynamic_spatial=True),
                     lambda spec: _uses("CenterCropReshape")(spec) and _uses("Cropping2D")(spec)),
    "two-inputs-two-outputs": (strategies.keras_models(max_inputs=2),
                               lambda spec: len(spec.inputs) == 2 and len(spec.outputs) == 2),
}


@pytest.mark.usefixtures("keras_session")
@pytest.mark.parametrize("kind", [*sorted(LAYERS), *SPECIAL])
def test_every_kind_builds_bitwise_the_same_model(kind: str) -> None:
    if kind in SPECIAL:
        strategy, condition = SPECIAL[kind]
    else:
        strategy, condition = strategies.keras_models(layers=[kind], max_layers=3), _uses(kind)
    assert_builds_the_same_model(_one(strategy, condition))


# ---- the text ------------------------------------------------------------------------------------------
CROP = ModelSpec((InputSpec("in0", (6, 6, 3)),),
                 (LayerSpec.make("x1", "Cropping2D", "in0", cropping=((1, 0), (0, 2))),
                  LayerSpec.make("x2", "Flatten", "x1")), ("x2",), seed=3, sequential=True)
CUSTOM = ModelSpec((InputSpec("in0", (7, 7, 3), dynamic=True), InputSpec("in1", (7, 7, 3), dynamic=True)),
                   (LayerSpec.make("x1", "Add", ("in0", "in1")),
                    LayerSpec.make("x2", "CenterCropReshape", "x1", height=3, width=4)), ("x1", "x2"))
DENSE = ModelSpec((InputSpec("in0", (4, 3)),), (LayerSpec.make("x1", "Dense", "in0", units=5),), ("x1",), seed=1)
# tf2onnx turns Flatten after a convolution into Shape -> Gather -> ...: onnx2keras 0.0.25's convert_gather
# reads params['axis'], which tf2onnx leaves out (it is optional, default 0): KeyError: 'axis'.
CONV_FLATTEN = ModelSpec((InputSpec("in0", (6, 6, 3)),),
                         (LayerSpec.make("x1", "Conv2D", "in0", filters=2, kernel_size=(3, 3), padding="valid",
                                         strides=(1, 1), dilation_rate=(1, 1)),
                          LayerSpec.make("x2", "Flatten", "x1")), ("x2",), seed=3)
DENSE_4 = ModelSpec((InputSpec("in0", (4,)),), (LayerSpec.make("x1", "Dense", "in0", units=5),), ("x1",), seed=1)
THIRD_PARTY = {"numpy", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"}


def imported(text: str) -> set[str]:
    """The top-level packages the script imports (anywhere in it)."""
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", [*KERAS_TO_ONNX, "tests.planted:drop_output"])
def test_the_text_is_a_standalone_script(path: str) -> None:
    message = "line one\n'''\"\"\" \\ line two"
    for stage, symptom, spec in itertools.product(Stage, Symptom, (CROP, CUSTOM)):
        finding = Finding(path, stage, symptom, "KeyError", message, output=0)
        text = render_repro(spec, path, 13, finding, {"batch": 2, "sizes": {"in0": (7, 7, 3)}})
        assert not IMPORTS.search(text), IMPORTS.search(text)
        assert imported(text) - set(sys.stdlib_module_names) <= THIRD_PARTY
        compile(text, "repro.py", "exec")
        for name in ("build_model", "load_case", "convert", "main"):
            assert re.search(rf"^def {name}\(", text, re.MULTILINE), name
        assert text.endswith('if __name__ == "__main__":\n    sys.exit(main())\n')
        assert f"#   {spec.pretty().splitlines()[1]}" in text and f"{stage}/{symptom}" in text
        assert ("class CenterCropReshape(keras.layers.Layer)" in text) == (spec is CUSTOM)
        assert ('@keras.saving.register_keras_serializable(package="roundtrip")' in text) == (spec is CUSTOM)


@pytest.mark.parametrize("back", ONNX_TO_KERAS)
def test_the_round_trip_text_is_a_standalone_script(back: str) -> None:
    message = "line one\n'''\"\"\" \\ line two"
    package = back.split("-")[0]  # onnx2keras-nhwc is onnx2keras
    for stage, symptom, spec in itertools.product(Stage, Symptom, (CROP, CUSTOM)):
        finding = Finding(f"tf2onnx-function>{back}", stage, symptom, "missing-attribute:axis", message, output=0)
        text = render_repro(spec, "tf2onnx-function", 13, finding, {"batch": 2}, back=back)
        assert not IMPORTS.search(text), IMPORTS.search(text)
        assert imported(text) - set(sys.stdlib_module_names) == THIRD_PARTY | {package}
        compile(text, "repro.py", "exec")
        for name in ("build_model", "load_case", "convert", "convert_back", "to_keras", "from_keras", "inputs_in",
                     "outputs_back", "category", "reproduce", "main"):
            assert re.search(rf"^(def {name}\(|.*\b{name}\b.* = )", text, re.MULTILINE), name
        assert ONNX_TO_KERAS[back].repro.strip() in text and f'BACK = "{back}"' in text
        assert f"{package} {{importlib.metadata.version('{package}')}}" in text and "(path {PATH}>{BACK}" in text
        assert text.endswith('if __name__ == "__main__":\n    sys.exit(main())\n')
    assert "import onnx2keras" not in render_repro(CROP, "tf2onnx-function", 13, VALUE, {})


def test_the_round_trip_script_names_failures_as_the_suite_does() -> None:
    """Its `category` (pasted, not imported) agrees with roundtrip.back.category."""
    import onnx

    text = render_repro(DENSE, "tf2onnx-function", 13, VALUE, {}, back="onnx2keras")
    nodes = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name in ("category", "headline")]
    namespace: dict[str, Any] = {"re": re}
    exec(compile(ast.Module(nodes, []), "repro.py", "exec"), namespace)
    graph = onnx.helper.make_graph([onnx.helper.make_node("Gather", ["x", "i"], ["y"])], "g", [], [])
    model = onnx.helper.make_model(graph)
    for error in (KeyError("Gather"), KeyError("axis"), KeyError(3), TypeError("unsupported data type"),
                  ValueError("float64 is not float32"), TypeError("int() argument"), ValueError(),
                  ValueError("Exception encountered when calling Reshape.call().\n\nsize differs\n\n"
                             "Arguments received: dtype=float32")):
        assert namespace["category"](error, model) == category(error, model), error


@pytest.mark.parametrize("back", ONNX_TO_KERAS)
def test_the_round_trip_pastes_the_layout_functions(back: str) -> None:
    text = render_repro(DENSE, "tf2onnx-function", 13, VALUE, {}, back=back)
    start = text.index("def convert_back(")
    namespace: dict[str, Any] = {"np": np}
    exec(text[text.index("\n\n\n", start) + 3:text.index("\n\n\n", text.index("to_keras, from_keras = "))],
         namespace)
    entry, array = ONNX_TO_KERAS[back], np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    for ours, theirs in ((namespace["to_keras"], entry.to_keras), (namespace["from_keras"], entry.from_keras)):
        for x in (array, array[0, 0]):
            assert np.array_equal(ours(x), theirs(x)) and ours(x).shape == theirs(x).shape


def test_the_text_builds_the_model_one_line_per_layer() -> None:
    text = render_repro(CROP, "tf2onnx-keras", 15, VALUE, {})
    assert '        keras.layers.Cropping2D(cropping=((1, 0), (0, 2)), name="x1"),\n' in text
    assert 'keras.Input(shape=(6, 6, 3), name="in0")' in text and "keras.Sequential([" in text
    assert 'signature = [tf.TensorSpec((None, 6, 6, 3), tf.float32, name="in0")]' in text
    assert "OPSET = 15\n" in text and KERAS_TO_ONNX["tf2onnx-keras"].repro.strip() in text
    text = render_repro(CUSTOM, "tf2onnx-function", 15, VALUE, {})
    assert '    in1 = keras.Input(shape=(None, None, 3), name="in1")\n' in text
    assert '    x1 = keras.layers.Add(name="x1")([in0, in1])\n' in text
    assert '    x2 = CenterCropReshape(height=3, width=4, name="x2")(x1)\n' in text
    assert '    model = keras.Model([in0, in1], [x1, x2], name="roundtrip")\n' in text
    assert "tolerance" in text and "float32" in text


# ---- running it ----------------------------------------------------------------------------------------
@pytest.mark.usefixtures("keras_session")
def test_a_path_of_the_suites_own_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    finding = Finding("tests.planted:drop_output", Stage.COMPARE, Symptom.COUNT, "count", "1 output, not 2")
    script = write_entry(tmp_path, DENSE, render_repro(DENSE, finding.path, 15, finding, {}))
    assert exec_script(script)["main"]([]) == 2
    assert "tests.planted:drop_output is not an upstream converter" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.usefixtures("keras_session")
def test_a_value_bug_shows_in_the_saved_model_and_not_in_a_fresh_conversion(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from onnx import numpy_helper

    model = build_keras(DENSE)
    broken = KERAS_TO_ONNX["tf2onnx-function"].convert(model, DENSE, 15)
    kernel = next(t for t in broken.graph.initializer if tuple(t.dims) == (3, 5))
    values = numpy_helper.to_array(kernel).copy()
    values[0, 0] += 1.0
    kernel.CopyFrom(numpy_helper.from_array(values, kernel.name))
    script = write_entry(tmp_path, DENSE, render_repro(DENSE, VALUE.path, 15, VALUE, {"batch": 2}), model, broken)
    main = exec_script(script)["main"]
    assert main(["--saved"]) == 1
    out = capsys.readouterr().out
    assert "output 0: Keras (2, 4, 5) float32, ONNX Runtime (2, 4, 5) float32: 8 of 40 values differ" in out
    assert "RESULT: the bug shows (compare/value, output 0: value@Dense)" in out
    assert main([]) == 0
    assert "RESULT: fixed" in capsys.readouterr().out


def run_script(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "repro.py"], cwd=script.parent, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
@pytest.mark.usefixtures("keras_session")
def test_end_to_end_the_sequential_keyerror_of_tf2onnx_from_keras_shows(tmp_path: Path) -> None:
    finding = Finding("tf2onnx-keras", Stage.CONVERT, Symptom.EXCEPTION, "KeyError", "'keras_tensor_2'")
    script = write_entry(tmp_path, CROP, render_repro(CROP, "tf2onnx-keras", 15, finding, {"batch": 2}))
    result = run_script(script)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "convert: raised KeyError: 'keras_tensor_" in result.stdout
    assert "reverse_lookup[out]" in result.stdout  # the traceback, down to tf2onnx's line
    assert "tf2onnx 1.17.0" in result.stdout and "RESULT: the bug shows" in result.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("keras_session")
def test_end_to_end_a_value_finding_that_does_not_show_exits_0(tmp_path: Path) -> None:
    script = write_entry(tmp_path, DENSE, render_repro(DENSE, VALUE.path, 15, VALUE, {"batch": 2}))
    result = run_script(script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "output 0: Keras (2, 4, 5) float32, ONNX Runtime (2, 4, 5) float32" in result.stdout
    assert "RESULT: fixed: every stage up to compare passes" in result.stdout


# ---- running a round trip ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("keras_session")
def test_end_to_end_onnx2keras_missing_gather_axis_shows(tmp_path: Path) -> None:
    finding = Finding("tf2onnx-function>onnx2keras", Stage.LOAD, Symptom.EXCEPTION, "missing-attribute:axis", "'axis'")
    text = render_repro(CONV_FLATTEN, "tf2onnx-function", 13, finding, {"batch": 2}, back="onnx2keras")
    result = run_script(write_entry(tmp_path, CONV_FLATTEN, text))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "load: raised KeyError: 'axis'" in result.stdout
    assert "in convert_gather" in result.stdout  # the traceback, down to onnx2keras' line
    assert "onnx2keras 0.0.25" in result.stdout and "(path tf2onnx-function>onnx2keras, opset 13)" in result.stdout
    assert "RESULT: the bug shows (load/exception: missing-attribute:axis)" in result.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("keras_session")
def test_end_to_end_a_round_trip_value_finding_that_does_not_show_exits_0(tmp_path: Path) -> None:
    finding = Finding("tf2onnx-function>onnx2keras", Stage.COMPARE, Symptom.VALUE, "value@Dense", "differ", output=0)
    text = render_repro(DENSE_4, "tf2onnx-function", 13, finding, {"batch": 2}, back="onnx2keras")
    result = run_script(write_entry(tmp_path, DENSE_4, text))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "output 0: Keras (2, 5) float32, the round trip (2, 5) float32" in result.stdout
    assert "RESULT: fixed: every stage up to compare passes" in result.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("keras_session")
def test_a_round_trip_whose_first_conversion_fails_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    finding = Finding("tf2onnx-keras>onnx2keras", Stage.LOAD, Symptom.EXCEPTION, "KeyError", "'x'")
    script = write_entry(tmp_path, CROP, render_repro(CROP, "tf2onnx-keras", 15, finding, {}, back="onnx2keras"))
    assert exec_script(script)["main"]([]) == 2
    out = capsys.readouterr().out
    assert "the first conversion fails: not this finding; convert: raised KeyError" in out
    assert "RESULT: something else went wrong: convert/first-conversion: KeyError" in out


# ---- ONNX -> Keras -> ONNX ------------------------------------------------------------------------------
def _graph_text(path: str, leg: str) -> str:
    from roundtrip import GraphSpec, NodeSpec
    from roundtrip.graph_repro import render_graph_repro

    graph = GraphSpec((3, 4, 4), (NodeSpec.make("Relu"), NodeSpec.make("Flatten", axis=2)), 12, seed=5)
    finding = Finding(leg, Stage.COMPARE, Symptom.VALUE, "value@Flatten", "output 0 (batch 3): ...", output=0)
    return render_graph_repro(graph, "onnx2keras-nhwc", path, finding, {"batch": 3})


@pytest.mark.parametrize("leg", ["onnx>onnx2keras-nhwc", "onnx>onnx2keras-nhwc>tf2onnx-function"])
def test_the_graph_script_holds_the_graph_and_imports_only_upstream(leg: str) -> None:
    import onnx

    from roundtrip import GraphSpec, NodeSpec

    text = _graph_text("tf2onnx-function", leg)
    tree = ast.parse(text)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    assert imported - set(sys.stdlib_module_names) == (
        {"numpy", "onnx", "onnx2keras", "onnxruntime", "tensorflow"} | ({"tf2onnx"} if leg.count(">") == 2 else set()))
    graph_text = text.split('GRAPH = """\n', 1)[1].split('\n"""', 1)[0]
    graph = GraphSpec((3, 4, 4), (NodeSpec.make("Relu"), NodeSpec.make("Flatten", axis=2)), 12, seed=5).to_onnx()
    assert onnx.parser.parse_model(graph_text).SerializeToString() == onnx.parser.parse_model(
        onnx.printer.to_text(graph)).SerializeToString()
    assert ('PATH = "tf2onnx-function"' in text) == (leg.count(">") == 2)
    assert "to_keras, from_keras = channels_last, channels_first" in text
