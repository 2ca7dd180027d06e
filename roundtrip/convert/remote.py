"""ONNX -> Keras converters that run under another interpreter: a `roundtrip/convert/remote_server.py` process
in the converter's own virtual environment (onnx2tf pins TensorFlow 2.19 and numpy 1.26), spoken to in
JSON lines, with arrays in .npz files and models in .onnx files (no pickles; the protocol is described in
remote_server.py).

    remote = Remote.start(environment(converter), converter)
    result = remote.call(proto.SerializeToString(), [inputs_at_batch_1, inputs_at_batch_3], export_opset=15)
    remote.close()

A server that dies, or does not answer within the timeout (it is then killed), raises `RemoteDied` with
the tail of its log; what the converter raises comes back as values (`RemoteError`).  For the checks,
`server(converter)` keeps one server per converter in the process, and `call_environment` answers the way
`roundtrip.convert.back.run_back` does.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roundtrip import registry
from roundtrip.registry import CONVERTER_ENVIRONMENTS
from roundtrip.run.lifetime import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).resolve().parent / "remote_server.py"


class EnvironmentMissing(RuntimeError):
    """A converter's own virtual environment is not there (the message says how to make it)."""


class RemoteDied(RuntimeError):
    """The server exited, or was killed, before it answered; `log` is the tail of what it printed."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(f"{message}\n--- server log (tail) ---\n{log}" if log else message)
        self.log = log


class RemoteTimeout(RemoteDied):
    """The server did not answer in time, and was killed."""


class RemoteProtocolError(RuntimeError):
    """The server could not read or serve a request, or said something that is not JSON: a bug of the
    client or the server, not of the converter."""


def environment(name: str) -> str:
    """The interpreter of an environment (or of a converter's), as its registry row says: $VARIABLE if set
    ($ROUNDTRIP_ONNX2TF_PYTHON), else <project>/FOLDER/bin/python; EnvironmentMissing when it is not there."""
    name = CONVERTER_ENVIRONMENTS.get(name, name)
    env = registry.environment(name)
    if env is None:
        raise KeyError(f"unknown environment {name!r} (known: {', '.join(e.name for e in registry.ENVIRONMENTS)})")
    python = os.environ.get(env.variable) or str(ROOT / env.folder / "bin" / "python")
    if not os.access(python, os.X_OK):
        raise EnvironmentMissing(f"no {name} environment: {python} is missing (set it up with `{env.make}` "
                                 f"in {ROOT}, or point ${env.variable} at one)")
    return python


def environment_versions(converter: str) -> dict[str, str]:
    """The versions installed in the environment of `converter` (asked of its interpreter, once a process) of the
    packages a script run there imports; EnvironmentMissing when it is absent."""
    name = CONVERTER_ENVIRONMENTS.get(converter, converter)
    python = environment(name)  # KeyError for a name that has no environment
    env = registry.environment(name)
    assert env is not None
    return dict(_installed(python, env.packages))


@functools.cache
def _installed(python: str, packages: tuple[str, ...]) -> dict[str, str]:
    from roundtrip.convert.envs import versions_in

    return versions_in(python, packages)


@dataclass(frozen=True)
class RemoteError:
    """An exception raised in the server, as a value."""

    type: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


Outputs = list[np.ndarray]


@dataclass(frozen=True)
class RemoteResult:
    """One call's outcome: the load error, or per case its outputs (ONNX layout, ONNX output order) or its
    run error, and (when asked) the Keras model back in ONNX or the export's error.  `inputs_nhwc` and
    `outputs_nhwc` say which tensors the Keras model holds channels-last: the exported model's layout."""

    load_error: RemoteError | None
    cases: tuple[Outputs | RemoteError, ...] = ()
    onnx_back: bytes | None = None
    export_error: RemoteError | None = None
    inputs_nhwc: tuple[bool, ...] = ()
    outputs_nhwc: tuple[bool, ...] = ()


def _error(value: dict[str, Any] | None) -> RemoteError | None:
    return None if value is None else RemoteError(value["type"], value["message"], value.get("traceback", ""))


def _save_arrays(path: Path, arrays: Sequence[np.ndarray]) -> None:
    np.savez(path, *[np.asarray(a) for a in arrays])


def _load_arrays(path: Path) -> Outputs:
    with np.load(path, allow_pickle=False) as data:
        return [data[f"arr_{k}"] for k in range(len(data.files))]


@dataclass
class Remote:
    """One server process: a converter imported once, answering calls one at a time."""

    converter: str
    process: subprocess.Popen[bytes]
    folder: Path  # the server's cwd and TMPDIR; its log and each call's files; removed by close()
    timeout: float = 120.0
    versions: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    _buffer: bytes = b""

    @staticmethod
    def start(python: str, converter: str, timeout: float = 120.0, start_timeout: float = 180.0) -> Remote:
        """A server for `converter` under `python`, ready (its imports done); RemoteDied if it is not."""
        folder = Path(tempfile.mkdtemp(prefix="roundtrip-remote-"))
        with open(folder / "server.log", "wb") as log:
            process = subprocess.Popen(
                [python, str(SERVER), converter], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=folder, env={**os.environ, "TMPDIR": str(folder), "PYTHONUNBUFFERED": "1"},
                start_new_session=True, preexec_fn=die_with_parent())
        remote = Remote(converter, process, folder, timeout)
        try:
            ready = remote._receive(start_timeout, "start-up")
        except BaseException:
            remote.close()
            raise
        remote.versions = ready.get("versions", {})
        return remote

    def call(self, onnx_bytes: bytes, cases: Sequence[Sequence[np.ndarray]],
             export_opset: int | None = None) -> RemoteResult:
        """Convert the model, run every case (a list of input arrays, ONNX layout), and with `export_opset`
        convert the Keras model back to ONNX.  RemoteDied if the server dies or times out meanwhile."""
        self.calls += 1
        work = self.folder / f"call-{self.calls}"
        work.mkdir()
        try:
            (work / "model.onnx").write_bytes(onnx_bytes)
            names = []
            for k, arrays in enumerate(cases):
                names.append(f"case-{k}.npz")
                _save_arrays(work / names[-1], arrays)
            request = {"id": self.calls, "folder": str(work), "model": "model.onnx", "cases": names,
                       "export": export_opset is not None, "opset": export_opset}
            self._send(request, f"call {self.calls}")
            response = self._receive(self.timeout, f"call {self.calls}")
            return self._result(work, response)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _result(self, work: Path, response: dict[str, Any]) -> RemoteResult:
        if "request_error" in response:
            error = response["request_error"]
            raise RemoteProtocolError(f"the {self.converter} server could not serve call {self.calls}: "
                                      f"{_error(error)}\n{error.get('traceback', '')}")
        cases: list[Outputs | RemoteError] = []
        for case in response["cases"]:
            error = _error(case.get("error"))
            cases.append(error if error is not None else _load_arrays(work / case["outputs"]))
        exported = response.get("export") or {}
        onnx_back = (work / exported["model"]).read_bytes() if "model" in exported else None
        return RemoteResult(_error(response["load_error"]), tuple(cases), onnx_back, _error(exported.get("error")),
                            tuple(response["inputs_nhwc"]), tuple(response["outputs_nhwc"]))

    # ---- the channel ------------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any], during: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self._died(during)

    def _receive(self, timeout: float, during: str) -> dict[str, Any]:
        """The next line from the server, as JSON."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise RemoteTimeout(f"the {self.converter} server gave no answer in {timeout:.0f} s during {during}; "
                                    "killed", self.log())
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self._died(during)
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            raise RemoteProtocolError(f"the {self.converter} server said {line[:200]!r} during {during}") from None
        return message

    def _died(self, during: str) -> None:
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit {code}"
        raise RemoteDied(f"the {self.converter} server died ({how}) during {during}", self.log())

    def log(self, tail: int = 4000) -> str:
        """The last `tail` characters the server printed (TensorFlow's chatter, tracebacks)."""
        try:
            return (self.folder / "server.log").read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """The server and anything it started (its own session), at once.  Only while the server is not yet
        reaped: its pid is then still its own, and so is the process group it leads."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def close(self, grace: float = 1.0) -> None:
        """End of input for the server (an idle one exits), then a kill after `grace` seconds; its folder
        (log, call files, whatever it wrote to TMPDIR) is removed."""
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- one server per converter, for the checks -------------------------------------------------------------------
_SERVERS: dict[str, Remote] = {}


def server(converter: str) -> Remote:
    """The server of `converter` in its environment, started on first use and again after it died."""
    remote = _SERVERS.get(converter)
    if remote is None or not remote.alive:
        if remote is not None:
            remote.close()
        remote = _SERVERS[converter] = Remote.start(environment(converter), converter)
    return remote


@atexit.register
def close_servers() -> None:
    for remote in _SERVERS.values():
        remote.close()
    _SERVERS.clear()


def call_environment(converter: str, onnx_bytes: bytes, cases: Sequence[Sequence[np.ndarray]],
                     export_opset: int | None = None) -> Any:
    """`roundtrip.convert.back.run_back` for a converter in an environment of its own: a `BackRun` whose exported
    model is wrapped in Transposes (`in_onnx_layout`), so it takes and gives the graph's layout like the
    outputs do.  RemoteDied (a crash or a hang of the converter) propagates.  The errors come back as the
    converter's; run_back then refuses those of the machine (`roundtrip.convert.environmental`)."""
    from roundtrip.convert.made import BackRun
    from roundtrip.finding.findings import Error

    def error(e: RemoteError | None) -> Error | None:
        return None if e is None else Error(e.type, e.message, e.traceback)

    result = server(converter).call(onnx_bytes, cases, export_opset)
    outputs = [Error(c.type, c.message, c.traceback) if isinstance(c, RemoteError) else c for c in result.cases]
    onnx_back = None
    if result.onnx_back is not None:
        onnx_back = in_onnx_layout(result.onnx_back, result.inputs_nhwc, result.outputs_nhwc)
    layouts = {"inputs_nhwc": list(result.inputs_nhwc), "outputs_nhwc": list(result.outputs_nhwc)}
    return BackRun(error(result.load_error), outputs, onnx_back, error(result.export_error),
                   layouts if result.load_error is None else None)


def in_onnx_layout(onnx_bytes: bytes, inputs_nhwc: Sequence[bool], outputs_nhwc: Sequence[bool]) -> bytes:
    """An ONNX model made from a channels-last Keras model, with a Transpose after each input and before
    each output that the flags mark: it then takes and gives axis 1 where the original graph has it.
    Names and everything else stay."""
    import onnx
    from onnx import helper

    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    weights = {t.name for t in graph.initializer}
    fed = [i for i in graph.input if i.name not in weights]
    head, tail = [], []
    for value, flag in zip(fed, inputs_nhwc, strict=False):
        if flag:
            r = _rename(graph, value)
            perm = [0, *range(2, r), 1]
            head.append(helper.make_node("Transpose", [value.name], [value.name + "__nhwc"], perm=perm))
    for value, flag in zip(graph.output, outputs_nhwc, strict=False):
        if flag:
            r = _rename(graph, value)
            perm = [0, r - 1, *range(1, r - 1)]
            tail.append(helper.make_node("Transpose", [value.name + "__nhwc"], [value.name], perm=perm))
    nodes = [*head, *graph.node, *tail]
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


def _rename(graph: Any, value: Any) -> int:
    """Every use of the graph input or output `value` inside the graph renamed NAME__nhwc; its declared
    dims put in NCHW order (from NHWC).  Returns its rank."""
    name, inner = value.name, value.name + "__nhwc"
    for node in graph.node:
        node.input[:] = [inner if x == name else x for x in node.input]
        node.output[:] = [inner if x == name else x for x in node.output]
    for info in graph.value_info:
        if info.name == name:
            info.name = inner
    dims = value.type.tensor_type.shape.dim
    r = len(dims)
    order = [dims[k] for k in (0, r - 1, *range(1, r - 1))]
    copies = [type(d)() for d in order]
    for copy, d in zip(copies, order, strict=True):
        copy.CopyFrom(d)
    del dims[:]
    dims.extend(copies)
    return r
