"""`roundtrip check MODEL`: a user's own model through the converters, a planted fault reduced to the layer that
holds it, custom layers by registered name, bad input in one line, two keras.applications architectures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roundtrip.report import reports
from roundtrip.store import corpus
from roundtrip.user.user_check import Options, check_model
from roundtrip.user.user_model import BadInput

ROOT = Path(__file__).resolve().parent.parent

# A registered custom layer of a user's own module (not roundtrip's): saved with it, loadable only with it.
USER_MODULE = '''
import keras


@keras.saving.register_keras_serializable(package="mine")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2.0
'''


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "roundtrip.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


# ---- bad input: one line, exit 2, nothing written (no worker starts) ------------------------------------------
def test_a_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"nope\.keras: no such file"):
        check_model(Options(tmp_path / "nope.keras", corpus=tmp_path / "corpus"))
    assert not (tmp_path / "corpus").exists()


def test_the_command_says_a_missing_file_in_one_line_and_nothing_else(tmp_path: Path) -> None:
    done = cli("check", "nope.keras", "--corpus", "out", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "roundtrip: nope.keras: no such file or folder\n")
    assert list(tmp_path.iterdir()) == []


def test_a_keras_file_that_is_not_an_archive_is_bad_input(tmp_path: Path) -> None:
    model = tmp_path / "broken.keras"
    model.write_text("not a zip")
    with pytest.raises(BadInput, match=r"broken\.keras: not a \.keras archive"):
        check_model(Options(model, corpus=tmp_path / "corpus"))


def test_an_unknown_direction_is_bad_input(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    with pytest.raises(BadInput, match="--path tf2onnx-function: unknown for a onnx model"):
        check_model(Options(model, paths=("tf2onnx-function",), corpus=tmp_path / "corpus"))


# ---- custom layers ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_an_unknown_custom_layer_is_one_line_and_its_module_makes_it_load(tmp_path: Path, keras_session) -> None:
    keras = keras_session
    (tmp_path / "mylayers.py").write_text(USER_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        import mylayers
    finally:
        sys.path.remove(str(tmp_path))
    x = keras.Input((4,))
    keras.Model(x, keras.layers.Dense(2)(mylayers.Doubler()(x))).save(tmp_path / "doubler.keras")

    refused = cli("check", "doubler.keras", "--path", "tf2onnx-function", "--corpus", "out", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert lines == [lines[-1]] and "doubler.keras: unknown custom layer 'mine>Doubler'" in lines[0], refused.stderr
    assert not (tmp_path / "out").exists()

    loaded = cli("check", "doubler.keras", "--custom-objects", "mylayers", "--path", "tf2onnx-function",
                 "--corpus", "out", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "not a spec: layer 'doubler' (Doubler): not in the vocabulary" in loaded.stdout
    assert "│ tf2onnx-function │ clean" in loaded.stdout


@pytest.mark.slow
def test_a_model_with_the_custom_cropping_layer_loads_and_checks(tmp_path: Path, keras_session) -> None:
    keras = keras_session
    from roundtrip.spec.custom import CenterCropReshape

    x = keras.Input((6, 6, 2), name="image")
    h = keras.layers.Conv2D(3, 3, padding="same")(x)
    keras.Model(x, keras.layers.Dense(4)(CenterCropReshape(2, 2)(h))).save(tmp_path / "crop.keras")

    result = check_model(Options(tmp_path / "crop.keras", custom="roundtrip.spec.custom", paths=("tf2onnx-function",),
                                 corpus=tmp_path / "corpus", reduce=False))
    assert [kind for _, kind in result.described.layers] == ["Conv2D", "CenterCropReshape", "Dense"]
    assert result.described.spec, result.described.not_spec  # every layer is in the vocabulary
    [row] = result.rows
    assert row.verdict == "clean" and row.worst is not None and row.worst[0] <= row.worst[1]

    with pytest.raises(BadInput, match=r"crop\.keras: unknown custom layer 'roundtrip>CenterCropReshape'"):
        check_model(Options(tmp_path / "crop.keras", paths=("tf2onnx-function",), corpus=tmp_path / "corpus"))


# ---- reduction -------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_planted_fault_in_a_twelve_layer_model_reduces_to_its_layer(tmp_path: Path, keras_session) -> None:
    keras = keras_session
    layers = keras.layers
    model = keras.Sequential([keras.Input((6,)), layers.Dense(8), layers.Activation("relu"), layers.Dense(8),
                              layers.LayerNormalization(), layers.Activation("tanh"), layers.Dense(8),
                              layers.Activation("sigmoid"),  # the planted fault turns every Sigmoid hard
                              layers.Dense(8), layers.Activation("relu"), layers.Dense(8), layers.Activation("elu"),
                              layers.Dense(3)])
    assert len(model.layers) == 12
    model.save(tmp_path / "deep.keras")

    result = check_model(Options(tmp_path / "deep.keras", paths=("tests.planted:sigmoid_made_hard",),
                                 corpus=tmp_path / "corpus", reduce_seconds=30.0))
    [row] = result.rows
    assert [f.kind for f in row.findings] == ["value@Activation"]
    assert row.where == model.layers[6].name
    [written] = row.entries.values()
    assert written.folder is not None, written.note
    entry = corpus.load(written.folder)
    assert [layer.kind for layer in entry.spec.layers] == ["Activation"]
    assert entry.spec.layers[0].p["activation"] == "sigmoid"
    assert json.loads((written.folder / "meta.json").read_text())["weights"] == "given"


@pytest.mark.slow
def test_an_onnx_model_is_cut_to_the_node_its_converter_refuses(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    weights = [helper.make_tensor("W", TensorProto.FLOAT, [4, 3, 3, 3], rng.standard_normal(108).astype("float32")),
               helper.make_tensor("G", TensorProto.FLOAT, [64, 5], rng.standard_normal(320).astype("float32"))]
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], axis=1, name="flat"),
             helper.make_node("MatMul", ["f", "G"], ["g"], name="mm"),
             helper.make_node("Softmax", ["g"], ["y"], axis=-1, name="soft")]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
              tmp_path / "small.onnx")

    result = check_model(Options(tmp_path / "small.onnx", paths=("onnx2keras", "onnx2keras-nhwc"),
                                 corpus=tmp_path / "corpus"))
    plain, nhwc = result.rows
    assert plain.verdict == "clean" and plain.worst is not None and plain.worst[0] <= plain.worst[1]
    [finding] = nhwc.findings
    assert (finding.stage, finding.where) == ("load", "onnx2keras.converter:onnx_to_keras[Softmax]")
    [written] = nhwc.entries.values()
    assert written.folder is not None, written.note
    cut = onnx.load(written.folder / "model.onnx")
    assert [n.op_type for n in cut.graph.node] == ["Softmax"]
    assert {"repro.py", "issue.md", "err.log", "meta.json"} <= {p.name for p in written.folder.iterdir()}
    assert corpus.entries(tmp_path / "corpus") == []  # a model entry: the corpus' readers leave it out
    assert reports.load_entries(tmp_path / "corpus") == ([], [])
    shown = cli("repro", written.folder.name, "--corpus", "corpus", cwd=tmp_path)  # its script is its replay
    assert shown.returncode == 1 and "repro.py: raised" in shown.stdout, shown.stdout + shown.stderr


# ---- keras.applications ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs", [("MobileNet", {"alpha": 0.25}), ("MobileNetV2", {"alpha": 0.35})])
def test_a_keras_application_checks_clean_through_tf2onnx(name: str, kwargs: dict[str, float], tmp_path: Path,
                                                          keras_session) -> None:
    from bench.applications import live

    keras = keras_session
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10, **kwargs)
    assert live(model) > 10  # untrained, its outputs are the same for every input: the check would see nothing
    model.save(tmp_path / "app.keras")
    result = check_model(Options(tmp_path / "app.keras", paths=("tf2onnx-function",), corpus=tmp_path / "corpus",
                                 reduce=False))
    [row] = result.rows
    assert row.verdict == "clean", [f.describe() for f in row.findings]
    assert row.worst is not None and row.worst[0] <= row.worst[1]
    assert row.spread is not None and row.spread > 100  # a constant in place of the model would have been found


# ---- what a check can see ------------------------------------------------------------------------------------------
def test_the_spread_tells_outputs_that_follow_the_inputs_from_constant_ones() -> None:
    import numpy as np

    from roundtrip.oracle.margins import spread, worst_error
    from roundtrip.oracle.outcome import Case

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    follows = Case(3, {}, [x], [np.tanh(x)], [np.tanh(x) + np.float32(2e-5)])
    constant = Case(3, {}, [x], [np.full((3, 4), 0.1, np.float32) + 1e-9 * x], [np.full((3, 4), 0.1, np.float32)])
    alone = Case(1, {}, [x[:1]], [np.tanh(x[:1])], [np.tanh(x[:1])])
    assert spread([follows]) is not None and spread([follows]) > 100
    assert spread([constant]) is not None and spread([constant]) < 1
    assert spread([alone]) is None  # one example: nothing to tell
    worst = worst_error([follows])
    assert worst is not None and worst[0] == pytest.approx(2e-5, rel=0.05) and worst[0] < worst[1]
    off = worst_error([Case(3, {}, [x], [x], [x + np.float32(1)])])
    assert off is not None and off[0] == pytest.approx(1.0) and off[0] > 1000 * off[1]


@pytest.mark.slow
def test_the_rounding_slack_is_what_keras_float32_is_off_from_the_same_model_in_float64(keras_session) -> None:
    import numpy as np

    from roundtrip.oracle.margins import ROUNDING, float64_twin, rounding_slack

    keras = keras_session
    keras.utils.set_random_seed(0)
    x = keras.Input((8,))
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(16, activation="tanh")(x)))
    twin = float64_twin(model)
    assert twin is not None and {str(w.dtype) for w in twin.weights} == {"float64"}
    inputs = [np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)]
    expected = [np.asarray(model(inputs[0]))]
    slack = rounding_slack(twin, inputs, expected)
    gap = np.abs(expected[0].astype(np.float64) - np.asarray(twin(inputs[0].astype(np.float64)))).max()
    assert slack == [pytest.approx(ROUNDING * gap)] and 0 < slack[0] < 1e-5  # float32's rounding, nothing like a bug


# ---- a graph ONNX Runtime cannot run: the reference evaluator's outputs are expected --------------------------------
def opset_6_graph() -> tuple[object, dict[str, object]]:
    """BatchNormalization-6, Relu, Add-6 (ONNX Runtime 1.31 has no BatchNormalization-6 kernel), and its weights."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"s": rng.standard_normal(3), "b": rng.standard_normal(3), "m": rng.standard_normal(3),
               "v": rng.random(3) + 0.5}
    weights = {k: v.astype("float32") for k, v in weights.items()}
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], epsilon=1e-5, is_test=1,
                              name="bn"),
             helper.make_node("Relu", ["bn"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "x"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "opset6", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4, 4])],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)], ir_version=4), weights


def test_the_reference_evaluator_runs_the_opset_6_graph_onnxruntime_cannot() -> None:
    import numpy as np
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    from roundtrip.oracle.compare import close
    from roundtrip.oracle.outcome import REFERENCE
    from roundtrip.user.user_onnx import plan_cases

    model, w = opset_6_graph()
    with pytest.raises(Exception, match="BatchNormalization"):
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    cases, by, refused = plan_cases(model, "")
    assert by == REFERENCE and "BatchNormalization(6)" in refused and [c.batch for c in cases] == [1, 3]
    for case in cases:  # the expected outputs are the graph's meaning, computed here by hand
        x = case.inputs[0]
        s, b, m, v = (w[k].reshape(1, 3, 1, 1) for k in "sbmv")
        want = np.maximum((x - m) / np.sqrt(v + 1e-5) * s + b, 0) + x
        assert close(case.expected[0], want).all()
        assert np.array_equal(case.expected[0], ReferenceEvaluator(model).run(None, {"x": x})[0])


@pytest.mark.slow
def test_an_opset_6_graph_is_checked_against_the_reference_evaluator(tmp_path: Path) -> None:
    """onnx2keras converts it right: clean; a planted fault (BatchNormalization's epsilon made 1) is found at that
    node, and written as a model entry of that node alone (which ONNX Runtime cannot run either) whose script takes
    the reference evaluator's outputs, and shows the fault."""
    import onnx

    model, _ = opset_6_graph()
    onnx.save(model, tmp_path / "opset6.onnx")
    planted = "tests.planted_reference:epsilon_made_one"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "400"}  # a row a line
    shown = subprocess.run([sys.executable, "-m", "roundtrip.cli", "check", "opset6.onnx", "--path", "onnx2keras",
                            "--path", planted, "--corpus", "corpus"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2:] for line in shown.stdout.splitlines() if "│ onnx>" in line}
    against = " (expected: onnx's ReferenceEvaluator; ONNX Runtime cannot run the graph)"
    assert rows["onnx>onnx2keras"][0].strip() == "clean" + against, shown.stdout
    assert rows[f"onnx>{planted}"][0].strip() == "compare/value" + against, shown.stdout
    assert rows[f"onnx>{planted}"][3].strip() == "bn", shown.stdout  # the first wrong node
    [folder] = [p for p in (tmp_path / "corpus").iterdir() if not p.name.startswith(".")]
    assert [n.op_type for n in onnx.load(folder / "model.onnx").graph.node] == ["BatchNormalization"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["expected_by"] == "onnx's ReferenceEvaluator" and "BatchNormalization(6)" in meta["runtime_refused"]
    script = (folder / "repro.py").read_text()
    assert "ReferenceEvaluator(onnx_model).run(" in script and "import onnxruntime" not in script
    assert "desired: onnx's ReferenceEvaluator" in script
    err_log = (folder / "err.log").read_text()
    assert "onnx's ReferenceEvaluator on the graph" in err_log and "ONNX Runtime on the graph" not in err_log
    assert "**Expected outputs:** onnx's ReferenceEvaluator" in (folder / "issue.md").read_text()
    replayed = cli("repro", folder.name, "--corpus", "corpus", cwd=tmp_path)
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr


# ---- Constant nodes are never culprits ----------------------------------------------------------------------------
def constant_graph() -> object:
    """A Constant used by an Add and a Mul: Constant, Add, Relu, Mul, Sigmoid (five nodes)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    k = numpy_helper.from_array(np.random.default_rng(0).standard_normal((1, 3, 1, 1)).astype("float32"), "kv")
    nodes = [helper.make_node("Constant", [], ["k"], value=k, name="const"),
             helper.make_node("Add", ["x", "k"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["r"], name="relu"),
             helper.make_node("Mul", ["r", "k"], ["m"], name="mul"),
             helper.make_node("Sigmoid", ["m"], ["y"], name="sig")]
    x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, 4, 4]) for n in "xy")
    graph = helper.make_graph(nodes, "constant", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@pytest.mark.slow
def test_a_constant_read_wrong_is_blamed_on_the_node_that_uses_it(tmp_path: Path) -> None:
    """The converter reads the Constant wrong: the first node whose output differs and which computes is the Add;
    the entry is the graph cut after it (the Add alone, fed the constant's value, converts right)."""
    import onnx

    onnx.save(constant_graph(), tmp_path / "constant.onnx")
    result = check_model(Options(tmp_path / "constant.onnx", paths=("tests.planted_reference:constant_read_wrong",),
                                 corpus=tmp_path / "corpus"))
    [row] = result.rows
    assert row.where == "add" and [f.kind for f in row.findings] == ["value@Add"], row
    [written] = row.entries.values()
    assert written.folder is not None, written.note
    cut = onnx.load(written.folder / "model.onnx")
    assert [n.op_type for n in cut.graph.node] == ["Constant", "Add"]
    assert "at a Add layer" in (written.folder / "repro.py").read_text().splitlines()[0]


@pytest.mark.slow
def test_onnx2tf_giving_a_constant_channels_last_names_no_culprit() -> None:
    """onnx2tf converts the graph right, but a Constant's output made a graph output (as the probe that finds the
    first wrong node makes it) comes back channels-last, (1, 1, 1, 3) for (1, 3, 1, 1): that is no wrong node."""
    import numpy as np

    from roundtrip.convert.back import run_back
    from roundtrip.convert.remote import EnvironmentMissing, environment
    from roundtrip.user.user_onnx import first_wrong_node, plan_cases, run_graph, with_outputs

    try:
        environment("onnx2tf")
    except EnvironmentMissing as e:
        pytest.skip(str(e))
    model = constant_graph()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # a static batch, as onnx2tf reads best
    cases, _, _ = plan_cases(model, "")
    probe = with_outputs(model, ["k", "y"])
    [outputs] = run_back("onnx2tf", probe, [cases[0].inputs]).outputs
    assert isinstance(outputs, list) and outputs[0].shape == (1, 1, 1, 3)  # what made the Constant a culprit
    want = run_graph("ONNX Runtime", probe, cases[0].inputs)[1]
    assert np.allclose(outputs[1], want, atol=1e-5)
    assert first_wrong_node("onnx2tf", model, cases[0]) is None


@pytest.mark.slow
def test_an_onnx2tf_output_left_as_the_graph_has_it_is_no_mismatch(tmp_path: Path) -> None:
    """onnx2tf reshapes (N, 8) to (N, 2, 2, 2) right but records the output as transposed: counted in either
    layout, as a campaign counts it, the check is clean (taken in the recorded layout, it was a value finding)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from roundtrip.convert.remote import EnvironmentMissing, environment

    try:
        environment("onnx2tf")
    except EnvironmentMissing as e:
        pytest.skip(str(e))
    shape = numpy_helper.from_array(np.array([-1, 2, 2, 2], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 2, 2])], [shape])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
              tmp_path / "reshape.onnx")
    result = check_model(Options(tmp_path / "reshape.onnx", paths=("onnx2tf",), corpus=tmp_path / "corpus"))
    [row] = result.rows
    assert row.verdict == "clean", [f.describe() for f in row.findings]


# ---- onnx2tf offline -----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_static_batch_image_graph_is_checked_through_onnx2tf_offline(tmp_path: Path) -> None:
    """Every input 4-D, 3 channels, batch 1: onnx2tf would download sample images (this machine has no network);
    the check runs it with its own and gets a verdict against ONNX Runtime."""
    import onnx

    from roundtrip.convert.remote import EnvironmentMissing, environment
    from tests.test_offline import image_graph

    try:
        environment("onnx2tf")
    except EnvironmentMissing as e:
        pytest.skip(str(e))
    onnx.save(image_graph(), tmp_path / "image.onnx")
    result = check_model(Options(tmp_path / "image.onnx", paths=("onnx2tf",), corpus=tmp_path / "corpus"))
    [row] = result.rows
    assert row.verdict == "clean" and row.shown == "clean", [f.describe() for f in row.findings]
    assert row.worst is not None and row.worst[0] <= row.worst[1]
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").iterdir())


@pytest.mark.slow
def test_a_keras_model_entry_reads_no_file_where_its_model_is_written_inline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The committed EfficientNetV2B0 entry (cut to its Normalization layer) written again: its model as a
    constructor line per layer, its inputs drawn, no file read; it still shows, and its title names the call a
    maintainer knows and the model's layers."""
    import shutil

    from roundtrip.store.model_entry import rewrite

    monkeypatch.setenv("ROUNDTRIP_CHECK_REPROS", "1")  # the script is run: the form that shows is kept
    folder = tmp_path / "tf2onnx-run-exception-valueerror-1bd416ae63"
    shutil.copytree(ROOT / "corpus" / folder.name, folder)
    (folder / "repro.py").unlink()
    rewrite(folder)
    script = (folder / "repro.py").read_text()
    assert "Reads no file." in script and "keras.layers.Normalization(" in script and "pathlib" not in script
    assert "model_from_json" not in script
    assert script.startswith("# tf2onnx.convert.from_function writes a graph ONNX Runtime fails to run (ValueError) "
                             "(functional model: Normalization)\n")
    assert json.loads((folder / "meta.json").read_text())["repro"]["shows"]
    assert folder.name in (folder / "issue.md").read_text()
