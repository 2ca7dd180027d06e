"""Findings are the converters' own: onnx2tf runs offline (its sample images given in its working folder, both
in the suite's server and in the scripts the suite writes), and an error of the machine (no network, a file a
download should have left) met while a converter runs is no finding: the check raises EnvironmentFailure, the
harness reports it and writes nothing.  This machine has no network, so the onnx2tf tests are real ones."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from roundtrip import GraphSpec, NodeSpec
from roundtrip.convert.back import onnx2tf_script, run_back
from roundtrip.convert.environmental import EnvironmentFailure, environmental, raise_if_environmental
from roundtrip.convert.remote import EnvironmentMissing, Remote, close_servers, environment, server
from roundtrip.convert.remote_server import SAMPLE_IMAGES, SAMPLE_IMAGES_TEXT, sample_images
from roundtrip.oracle.compare import close
from roundtrip.run.worker import Limits, SuiteError
from roundtrip.search import pending
from roundtrip.search.harness import Harness
from roundtrip.search.plan import Plan
from tests.planted_environment import OFFLINE_MESSAGE

# What onnx2tf 1.29.24 raised on this machine before it was given its sample images (its traceback's last line).
ONNX2TF_OFFLINE = ("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='github.com', port=443): Max retries "
                   "exceeded with url: /PINTO0309/onnx2tf/releases/download/1.20.4/calibration_image_sample_data_20x128"
                   "x128x3_float32.npy (Caused by NameResolutionError(\"HTTPSConnection(host='github.com', port=443): "
                   "Failed to resolve 'github.com' ([Errno -2] Name or service not known)\"))")


def image_graph() -> onnx.ModelProto:
    """Conv and Relu on a static [1, 3, 8, 8] input: every input 4-D, 3 channels, a static batch of at most 20,
    the case in which onnx2tf fetches its sample images."""
    rng = np.random.default_rng(0)
    weights = helper.make_tensor("W", TensorProto.FLOAT, [4, 3, 3, 3], rng.standard_normal(108).astype("float32"))
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "image", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [weights])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def onnx2tf_python() -> str:
    try:
        return environment("onnx2tf")
    except EnvironmentMissing as e:
        pytest.skip(str(e))


# ---- the predicate ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error_type, message, trace", [
    ("ConnectionError", OFFLINE_MESSAGE, ""),
    ("requests.exceptions.ConnectionError", "anything", ""),
    ("URLError", "<urlopen error [Errno -3] Temporary failure in name resolution>", ""),
    ("gaierror", "[Errno -2] Name or service not known", ""),
    ("RuntimeError", "could not fetch the weights", f"Traceback (most recent call last):\n{ONNX2TF_OFFLINE}\n\n"
     "The above exception was the direct cause of the following exception:\n\nRuntimeError: could not fetch"),
    ("FileNotFoundError", "[Errno 2] No such file or directory: 'sample.npy'",
     'Traceback (most recent call last):\n  File "/x/conv.py", line 3, in download_sample\n    open(p)\n'
     "FileNotFoundError: [Errno 2] No such file or directory: 'sample.npy'"),
])
def test_network_failures_and_missing_downloads_are_the_environments(error_type: str, message: str,
                                                                     trace: str) -> None:
    assert environmental(error_type, message, trace)


@pytest.mark.parametrize("error_type, message, trace", [
    ("KeyError", "'Less'", 'Traceback (most recent call last):\n  File "/o/converter.py", line 9, in onnx_to_keras\n'
     "KeyError: 'Less'"),
    ("FileNotFoundError", "[Errno 2] No such file or directory: 'op_table.json'",
     'Traceback (most recent call last):\n  File "/o/ops.py", line 3, in load_table\n    open(p)\n'
     "FileNotFoundError: [Errno 2] No such file or directory: 'op_table.json'"),
    ("ValueError", "Cannot reshape a tensor with 1 elements to shape [1,1,2]", ""),
    ("TimeoutError", "the converter's own lock was not released", ""),
])
def test_a_converters_own_errors_are_not_the_environments(error_type: str, message: str, trace: str) -> None:
    assert not environmental(error_type, message, trace)


# ---- ONNX -> Keras: an environmental error raises, a converter's own stays its finding ----------------------------
RELU = GraphSpec((3, 4), (NodeSpec.make("Relu"),))


@pytest.mark.parametrize("planted", ["fetch_without_network", "read_what_was_not_downloaded"])
def test_run_back_refuses_an_error_of_the_machine(planted: str) -> None:
    with pytest.raises(EnvironmentFailure, match="a reason of this machine"):
        run_back(f"tests.planted_environment:{planted}", RELU.to_onnx(), [RELU.make_inputs(1)])


def test_a_caught_exception_of_the_machine_raises_and_a_converters_own_does_not() -> None:
    with pytest.raises(EnvironmentFailure, match="tf2onnx failed for a reason of this machine") as raised:
        raise_if_environmental(ConnectionError(OFFLINE_MESSAGE), "tf2onnx")
    assert isinstance(raised.value.__cause__, ConnectionError)
    raise_if_environmental(KeyError("Less"), "onnx2keras")  # returns: the converter's own


def test_a_converters_own_missing_file_is_still_its_error() -> None:
    run = run_back("tests.planted_environment:read_its_own_missing_table", RELU.to_onnx(), [RELU.make_inputs(1)])
    assert run.load_error is not None and run.load_error.type == "FileNotFoundError"


@pytest.mark.slow
def test_the_harness_reports_a_converter_offline_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    harness = Harness.open(root, Limits(timeout=60.0), plan=Plan(writes=True, reduce=5.0))
    try:
        with pytest.raises(SuiteError, match="a reason of this machine") as raised:
            harness.check_graph(RELU, "tests.planted_environment:fetch_without_network")
        assert "ConnectionError" in str(raised.value)
        own = "tests.planted_environment:read_its_own_missing_table"
        harness.check_graph(RELU, own)  # the control: the converter's own missing file is a finding
        assert [item.job.back for item in pending.items(root)] == [own]
    finally:
        harness.close()
    assert not [p for p in root.iterdir() if not p.name.startswith(".")]


# ---- onnx2tf offline --------------------------------------------------------------------------------------------
def test_the_scripts_sample_images_are_the_servers() -> None:
    written = eval(SAMPLE_IMAGES_TEXT, {"np": np})  # noqa: S307 - the suite's own constant text
    assert written.shape == (20, 128, 128, 3) and written.dtype == np.float32
    assert np.array_equal(written, sample_images())
    imports, lines = onnx2tf_script([(1, 3, 8, 8)])
    assert "import os" in imports and any(SAMPLE_IMAGES in line for line in lines) and "os.chdir(work)" in lines
    plain = (["import tempfile", "import onnx2tf"], ["work = tempfile.mkdtemp()", lines[-1]])
    # onnx2tf downloads nothing for an input of another rank, or whose batch is not static
    assert onnx2tf_script([(1, 8)]) == onnx2tf_script([("N", 3, 8, 8)]) == onnx2tf_script([(None, 3, 8, 8)]) == plain
    assert onnx2tf_script([(1, 3, 8, 8), (1, 8)]) == plain


@pytest.mark.slow
def test_onnx2tf_converts_an_image_graph_offline(tmp_path: Path) -> None:
    proto = image_graph()
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with Remote.start(onnx2tf_python(), "onnx2tf") as remote:
        result = remote.call(proto.SerializeToString(), [[x]])
    assert result.load_error is None, f"{result.load_error}\n{result.load_error.traceback}"
    [got] = result.cases
    assert isinstance(got, list) and got[0].shape == want[0].shape and close(got[0], want[0]).all()


@pytest.mark.slow
def test_onnx2tf_without_its_sample_images_is_refused_as_the_machines_failure() -> None:
    """The server's sample images taken away: onnx2tf itself goes to the network, fails, and run_back says so
    instead of returning its error (this machine has no network)."""
    onnx2tf_python()
    remote = server("onnx2tf")
    try:
        (remote.folder / SAMPLE_IMAGES).unlink()
        proto = image_graph()
        with pytest.raises(EnvironmentFailure, match="onnx2tf failed for a reason of this machine") as raised:
            run_back("onnx2tf", proto, [[np.zeros((1, 3, 8, 8), np.float32)]])
        assert "ConnectionError" in str(raised.value)
    finally:
        close_servers()


@pytest.mark.slow
def test_the_scripts_onnx2tf_call_runs_offline(tmp_path: Path) -> None:
    """The text the suite's scripts hold, run alone in onnx2tf's environment from a folder of its own: it
    converts, the outputs equal ONNX Runtime's, and it leaves nothing in the folder it was started in."""
    onnx.save(image_graph(), tmp_path / "model.onnx")
    imports, lines = onnx2tf_script([(1, 3, 8, 8)])
    script = "\n".join(["import numpy as np", "import onnx", "import onnxruntime as ort", *imports, "",
                        f"onnx_model = onnx.load({str(tmp_path / 'model.onnx')!r})",
                        "x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)",
                        "expected = ort.InferenceSession(onnx_model.SerializeToString()).run(None, {'x': x})[0]",
                        *lines,
                        "actual = np.moveaxis(np.asarray(keras_model(np.moveaxis(x, 1, -1))), -1, 1)",
                        "np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)"])
    (tmp_path / "repro.py").write_text(script + "\n")
    started = tmp_path / "started"
    started.mkdir()
    done = subprocess.run([onnx2tf_python(), str(tmp_path / "repro.py")], cwd=started, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert "ConnectionError" not in done.stderr, textwrap.shorten(done.stderr[-2000:], 2000)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(started.iterdir()) == []


# ---- the versions an entry states: those its script runs with ------------------------------------------------------
def asked_of_onnx2tf_environment() -> dict[str, str]:
    """The modules' own __version__ in onnx2tf's environment (another way than the suite's metadata query)."""
    code = ("import json, numpy, onnx, onnx2tf, onnxruntime, tensorflow, tf_keras\n"
            "print(json.dumps({m.__name__: m.__version__ for m in (onnx2tf, tensorflow, tf_keras, onnx, onnxruntime, "
            "numpy)}))")
    done = subprocess.run([onnx2tf_python(), "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_onnx2tf_entries_state_onnx2tf_environments_versions(tmp_path: Path) -> None:
    from roundtrip.finding.findings import Finding, Stage, Symptom
    from roundtrip.oracle.outcome import Case, GraphJob, Outcome
    from roundtrip.store import corpus
    from roundtrip.store.script.render import script_versions, source_of

    want = asked_of_onnx2tf_environment()
    assert want["tensorflow"] != corpus.versions()["tensorflow"]  # the two environments differ here
    found = corpus.versions("onnx2tf")
    assert {k: found[k] for k in want} == want
    assert corpus.versions("onnx2keras") == corpus.versions()
    # an entry written now records them in meta.json; its script's header and issue.md say them
    finding = Finding("onnx>onnx2tf", Stage.LOAD, Symptom.EXCEPTION, "ValueError", "planted", where="onnx2tf.ops.Relu")
    x = RELU.make_inputs(1)
    outcome = Outcome([finding], [Case(1, {}, x, [np.maximum(x[0], 0)])], RELU.to_onnx().SerializeToString())
    folder = corpus.write(tmp_path, finding, RELU, GraphJob(RELU.to_json(), "onnx2tf"), outcome, {},
                          lambda folder, spec, meta: {"checked": False})
    meta = json.loads((folder / "meta.json").read_text())
    assert {k: meta["versions"][k] for k in want} == want
    src = source_of(folder, RELU, meta)
    script = "import numpy as np\nimport onnx\nimport onnx2tf\nimport onnxruntime as ort\n"  # what it imports
    imported = {k: want[k] for k in ("onnx2tf", "numpy", "onnx", "onnxruntime")}
    imported |= {k: found[k] for k in ("tensorflow", "tf_keras")}  # what importing onnx2tf loads (its row's loads)
    assert script_versions(src, script) == imported and list(script_versions(src, script))[0] == "onnx2tf"
    # an entry recorded with this interpreter's versions (the corpus before this rule) states them too
    meta["versions"] = corpus.versions()
    assert script_versions(source_of(folder, RELU, meta), script) == imported
