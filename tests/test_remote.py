"""The remote converter protocol (roundtrip/convert/remote.py <-> roundtrip/convert/remote_server.py): with
this interpreter and onnx2keras (both orderings), and with onnx2tf in .venv-onnx2tf (skipped, saying how to
make it, while that is absent).  Each server imports TensorFlow once per module; the tests that kill one
start their own."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from roundtrip import GraphSpec, NodeSpec
from roundtrip.convert.remote import (
    EnvironmentMissing,
    Remote,
    RemoteDied,
    RemoteError,
    RemoteProtocolError,
    RemoteResult,
    RemoteTimeout,
    call_environment,
    close_servers,
    environment,
    in_onnx_layout,
    server,
)
from roundtrip.oracle.compare import close

CONV = GraphSpec((3, 6, 6), (NodeSpec.make("Conv", kernel_shape=(3, 3), out_channels=4, pads=(1, 1, 1, 1)),
                             NodeSpec.make("Relu")))
FLATTEN = GraphSpec((3, 4, 5), (NodeSpec.make("Flatten", axis=1),))
TRANSPOSE = GraphSpec((3, 4, 5), (NodeSpec.make("Transpose", perm=(0, 2, 3, 1)),))
GEMM = GraphSpec((6,), (NodeSpec.make("Gemm", units=3), NodeSpec.make("Sigmoid")))
SOFTMAX = GraphSpec((3, 4, 5), (NodeSpec.make("Softmax", axis=1),))
GRAPHS = {"conv": CONV, "flatten": FLATTEN, "transpose": TRANSPOSE, "gemm": GEMM, "softmax": SOFTMAX}


def leftovers(folder: Path | None = None) -> set[str]:
    """The servers' folders in `folder` (this test's own TMPDIR by default: tests/conftest.py)."""
    return {name for name in os.listdir(folder or tempfile.gettempdir()) if name.startswith("roundtrip-remote-")}


def ort_outputs(proto: onnx.ModelProto | bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    data = proto if isinstance(proto, bytes) else proto.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)})


def assert_same(got: list[np.ndarray] | RemoteError, want: list[np.ndarray], where: str) -> None:
    assert isinstance(got, list), f"{where}: {got}\n{getattr(got, 'traceback', '')}"
    assert len(got) == len(want), where
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        what = f"{where}, output {k}: {g.shape} {g.dtype} (want {w.shape} {w.dtype})"
        assert g.shape == w.shape and g.dtype == w.dtype, what
        assert close(g, w).all(), f"{where}, output {k}: max error {np.abs(g - w).max()}"


def check_against_ort(remote: Remote, spec: GraphSpec, export: bool = False) -> RemoteResult:
    """The remote's outputs at batch 1 and 3 equal ONNX Runtime's on the same graph (and so do the exported
    model's, fed and read in the Keras model's layout)."""
    proto = spec.to_onnx()
    cases = [spec.make_inputs(1), spec.make_inputs(3)]
    result = remote.call(proto.SerializeToString(), cases, export_opset=15 if export else None)
    assert result.load_error is None, f"{result.load_error}\n{result.load_error.traceback}"
    assert len(result.cases) == len(cases)
    for inputs, got in zip(cases, result.cases, strict=True):
        assert_same(got, ort_outputs(proto, inputs), f"{remote.converter} at batch {len(inputs[0])}")
    if export:
        assert result.export_error is None, f"{result.export_error}\n{result.export_error.traceback}"
        assert result.onnx_back is not None
        for inputs in cases:
            fed = [np.moveaxis(x, 1, -1) if nhwc else x for x, nhwc in zip(inputs, result.inputs_nhwc, strict=True)]
            back = ort_outputs(result.onnx_back, fed)
            back = [np.moveaxis(y, -1, 1) if nhwc else y for y, nhwc in zip(back, result.outputs_nhwc, strict=True)]
            assert_same(back, ort_outputs(proto, inputs), f"{remote.converter} exported, batch {len(inputs[0])}")
            wrapped = in_onnx_layout(result.onnx_back, result.inputs_nhwc, result.outputs_nhwc)
            assert_same(ort_outputs(wrapped, inputs), ort_outputs(proto, inputs), f"{remote.converter} exported, "
                        f"in the graph's layout, batch {len(inputs[0])}")
    else:
        assert result.onnx_back is None and result.export_error is None
    return result


# ---- this interpreter, onnx2keras ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Remote]]:
    """Two servers whose folders are made in a TMPDIR of their own (nothing else writes there)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("servers-tmpdir")
        patch.setenv("TMPDIR", str(folder))
        patch.setattr(tempfile, "tempdir", str(folder))
        started = {name: Remote.start(sys.executable, name) for name in ("onnx2keras", "onnx2keras-nhwc")}
    yield started
    for remote in started.values():
        remote.close()


@pytest.mark.parametrize("graph", ["conv", "flatten"])
@pytest.mark.parametrize("converter", ["onnx2keras", "onnx2keras-nhwc"])
def test_outputs_equal_onnxruntime(servers: dict[str, Remote], converter: str, graph: str) -> None:
    result = check_against_ort(servers[converter], GRAPHS[graph])
    nhwc = converter == "onnx2keras-nhwc"
    assert result.inputs_nhwc == (nhwc,)
    assert result.outputs_nhwc == (nhwc and graph == "conv",)  # Flatten's output is rank 2


@pytest.mark.parametrize("converter", ["onnx2keras", "onnx2keras-nhwc"])
def test_export_gives_an_onnx_model_equal_to_the_original(servers: dict[str, Remote], converter: str) -> None:
    check_against_ort(servers[converter], CONV, export=True)


def test_a_load_error_comes_back_as_a_value_naming_its_type(servers: dict[str, Remote]) -> None:
    node = helper.make_node("GlobalMaxPool", ["input"], ["output"])
    x = helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ("N", 2, 3, 3))
    y = helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, ("N", 2, 1, 1))
    graph = helper.make_graph([node], "g", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    remote = servers["onnx2keras"]
    result = remote.call(proto.SerializeToString(), [[np.zeros((1, 2, 3, 3), np.float32)]], export_opset=15)
    assert result.load_error is not None
    assert (result.load_error.type, result.load_error.message) == ("KeyError", "'GlobalMaxPool'")
    assert "Traceback" in result.load_error.traceback and str(result.load_error) == "KeyError: 'GlobalMaxPool'"
    assert result.cases == () and result.onnx_back is None and result.export_error is None
    garbage = remote.call(b"not an onnx model", [])
    assert garbage.load_error is not None and garbage.load_error.type == "DecodeError"
    check_against_ort(remote, FLATTEN)  # and the server goes on


def test_a_run_error_is_that_cases_alone(servers: dict[str, Remote]) -> None:
    wrong = [np.zeros((2, 5, 6, 6), np.float32)]  # 5 channels where the model takes 3
    right = CONV.make_inputs(2)
    result = servers["onnx2keras-nhwc"].call(CONV.to_onnx().SerializeToString(), [wrong, right, wrong])
    assert result.load_error is None
    first, second, third = result.cases
    assert isinstance(first, RemoteError) and first.type == "ValueError" and "Traceback" in first.traceback
    assert_same(second, ort_outputs(CONV.to_onnx(), right), "the good case")
    assert isinstance(third, RemoteError)


def test_a_request_the_server_cannot_serve_is_a_protocol_error(servers: dict[str, Remote]) -> None:
    remote = servers["onnx2keras"]
    remote._send({"id": 0, "folder": "/nonexistent", "model": "model.onnx", "cases": []}, "a bad request")
    with pytest.raises(RemoteProtocolError, match="FileNotFoundError: the request names /nonexistent/model.onnx"):
        remote._result(Path("/nonexistent"), remote._receive(10, "a bad request"))
    check_against_ort(remote, FLATTEN)  # and the server goes on


def test_calls_leave_no_files_behind(servers: dict[str, Remote]) -> None:
    remote = servers["onnx2keras"]
    check_against_ort(remote, CONV, export=True)  # TensorFlow writes __autograph_generated_file*.py to TMPDIR
    assert not [name for name in os.listdir(remote.folder) if name.startswith("call-")]
    # The server's TMPDIR is its folder: beside the two servers' folders their TMPDIR holds nothing, and the calls
    # wrote nothing to this test's own.
    assert sorted(os.listdir(remote.folder.parent)) == sorted(r.folder.name for r in servers.values())
    assert os.listdir(tempfile.gettempdir()) == []


# ---- servers that die -----------------------------------------------------------------------------------------
def test_a_server_killed_mid_call_raises_remote_died_promptly(monkeypatch: pytest.MonkeyPatch) -> None:
    remote = Remote.start(sys.executable, "onnx2keras", timeout=60)
    send = remote._send

    def send_then_kill(message: dict[str, object], during: str) -> None:
        send(message, during)
        os.kill(remote.process.pid, signal.SIGKILL)

    monkeypatch.setattr(remote, "_send", send_then_kill)
    with pytest.raises(RemoteDied, match="onnx2keras server died \\(signal SIGKILL\\) during call 1") as died:
        remote.call(CONV.to_onnx().SerializeToString(), [CONV.make_inputs(1)])
    assert not isinstance(died.value, RemoteTimeout) and not remote.alive  # told of the death, not the 60 s timeout
    assert not [name for name in os.listdir(remote.folder) if name.startswith("call-")]
    remote.close()
    assert not remote.folder.exists()


def test_a_server_that_does_not_answer_is_killed_after_the_timeout() -> None:
    remote = Remote.start(sys.executable, "onnx2keras", timeout=1)
    os.kill(remote.process.pid, signal.SIGSTOP)
    began = time.monotonic()
    with pytest.raises(RemoteTimeout, match="no answer in 1 s during call 1; killed"):
        remote.call(CONV.to_onnx().SerializeToString(), [CONV.make_inputs(1)])
    assert time.monotonic() - began >= 1  # not before the timeout (a busy machine only makes it later)
    assert not remote.alive
    remote.close()
    assert not remote.folder.exists()


def test_a_server_that_cannot_start_raises_remote_died_with_its_log() -> None:
    with pytest.raises(RemoteDied, match="exit 2\\) during start-up") as died:
        Remote.start(sys.executable, "no-such-converter")
    assert "unknown converter 'no-such-converter'" in died.value.log
    assert leftovers() == set()  # its folder is gone from this test's own TMPDIR


# ---- environments ---------------------------------------------------------------------------------------------
def test_environment_is_the_variable_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUNDTRIP_ONNX2TF_PYTHON", sys.executable)
    assert environment("onnx2tf") == sys.executable


def test_a_missing_environment_says_where_and_how_to_make_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUNDTRIP_ONNX2TF_PYTHON", "/nonexistent/bin/python")
    with pytest.raises(EnvironmentMissing, match="/nonexistent/bin/python is missing .*`make onnx2tf-env`"):
        environment("onnx2tf")
    monkeypatch.delenv("ROUNDTRIP_ONNX2TF_PYTHON")
    default = Path(__file__).resolve().parent.parent / ".venv-onnx2tf" / "bin" / "python"
    try:
        assert environment("onnx2tf") == str(default)
    except EnvironmentMissing as e:
        assert str(default) in str(e)


# ---- onnx2tf in its own environment ----------------------------------------------------------------------------
def onnx2tf_python() -> str:
    try:
        return environment("onnx2tf")
    except EnvironmentMissing as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def onnx2tf() -> Iterator[Remote]:
    onnx2tf_python()
    yield server("onnx2tf")  # the one call_environment uses
    close_servers()


def test_onnx2tf_runs_in_its_own_environment(onnx2tf: Remote) -> None:
    assert onnx2tf.versions["onnx2tf"] == "1.29.24" and onnx2tf.versions["numpy"].startswith("1.26")


@pytest.mark.parametrize("graph, outputs_nhwc", [("conv", True), ("softmax", True), ("transpose", False),
                                                  ("gemm", False)])
def test_onnx2tf_outputs_equal_onnxruntime(onnx2tf: Remote, graph: str, outputs_nhwc: bool) -> None:
    """onnx2tf makes every input of rank 3 to 5 channels-last; an output is channels-last when onnx2tf
    says it transposed it (after Conv, Relu, a Softmax on the input), not after a Transpose (or at rank 2).
    onnx2tf's `model.onnx_output_layouts` would say False for the Softmax."""
    result = check_against_ort(onnx2tf, GRAPHS[graph], export=True)
    assert result.inputs_nhwc == (GRAPHS[graph].shapes[0].rank >= 3,)
    assert result.outputs_nhwc == (outputs_nhwc,)


def test_onnx2tf_load_error_is_a_value(onnx2tf: Remote) -> None:
    result = onnx2tf.call(b"not an onnx model", [[np.zeros((1, 6), np.float32)]])
    assert result.load_error is not None and result.load_error.type == "DecodeError"
    check_against_ort(onnx2tf, GEMM)


def test_onnx2tf_with_onnxsim_as_its_command_line_runs_it() -> None:
    with Remote.start(onnx2tf_python(), "onnx2tf-onnxsim") as remote:
        assert "onnxsim" in remote.versions
        check_against_ort(remote, CONV)


def test_call_environment_gives_a_back_run_in_the_graphs_layout(onnx2tf: Remote) -> None:
    cases = [CONV.make_inputs(1), CONV.make_inputs(3)]
    run = call_environment("onnx2tf", CONV.to_onnx().SerializeToString(), cases, export_opset=15)
    assert server("onnx2tf") is onnx2tf and run.load_error is None and run.export_error is None
    assert run.onnx_back is not None
    for inputs, got in zip(cases, run.outputs, strict=True):
        want = ort_outputs(CONV.to_onnx(), inputs)
        assert_same(got, want, "call_environment")
        assert_same(ort_outputs(run.onnx_back, inputs), want, "call_environment, exported")
    failed = call_environment("onnx2tf", CONV.to_onnx().SerializeToString(), [[np.zeros((1, 5, 6, 6), np.float32)]])
    assert failed.onnx_back is None and len(failed.outputs) == 1 and failed.outputs[0].type == "ValueError"
