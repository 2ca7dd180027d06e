"""Many runs of scripts that import the same heavy modules (a repro.py reduced step by step imports TensorFlow
and a converter at each step): a `preload_server.py` process imports them once under the scripts' own
interpreter and runs each script in a fork of itself, as `python -I SCRIPT` would, for the cost of the
script's own work.  `Preloaded.run` answers as `subprocess` would (exit status, stdout, stderr); a server
that is gone is started again once, else the run is a plain process of its own.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from roundtrip.run.lifetime import die_with_parent

SERVER = Path(__file__).resolve().parent / "preload_server.py"
START_SECONDS = 180.0


class PreloadFailed(RuntimeError):
    """The server did not start or stopped answering."""


def imports_of(text: str) -> list[str]:
    """The modules a script imports at its top level, in order (`import a.b` and `from a.b import c` give a.b)."""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return []
    names: list[str] = []
    for node in body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return list(dict.fromkeys(names))


def script_env(isolated: bool = True) -> dict[str, str]:
    """The environment a script runs in: this one, without PYTHONPATH when `isolated` (nothing of the suite
    importable)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" or not isolated}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    return env


@dataclass
class Preloaded:
    """A server under `python` that imported `modules`; `run` runs a script in a fork of it."""

    python: str
    modules: tuple[str, ...]
    process: subprocess.Popen[str] | None = None
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="roundtrip-preload-")))
    runs: int = 0
    restarts: int = 0

    def start(self) -> None:
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - the server's stderr, for its lifetime
        with log:
            self.process = subprocess.Popen(
                [self.python, "-I", str(SERVER), *self.modules], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, text=True, cwd=self.folder, env=script_env(), start_new_session=True,
                preexec_fn=die_with_parent())
        ready = self._answer(START_SECONDS)
        if not ready.get("ready"):
            raise PreloadFailed(f"the preload server did not start: {ready}")

    def _answer(self, timeout: float) -> dict[str, object]:
        assert self.process is not None and self.process.stdout is not None
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise PreloadFailed(f"the preload server did not answer in {timeout:.0f} s")
        line = self.process.stdout.readline()
        if not line:
            raise PreloadFailed(f"the preload server is gone (status {self.process.poll()})")
        answer: dict[str, object] = json.loads(line)
        return answer

    def run(self, script: Path, cwd: Path, timeout: float) -> tuple[int | None, str, str]:
        """(exit status, None past the timeout; stdout; stderr) of the script run in a fork of the server."""
        for attempt in range(2):
            try:
                return self._run(script, cwd, timeout)
            except (PreloadFailed, OSError, ValueError):
                self.stop()
                self.restarts += 1
                if attempt:
                    break
        return plain_run(script, self.python, cwd, timeout)

    def _run(self, script: Path, cwd: Path, timeout: float) -> tuple[int | None, str, str]:
        if self.process is not None and self.process.poll() is not None:  # gone since its last run
            self.stop()
            self.restarts += 1
        if self.process is None:
            self.start()
        assert self.process is not None and self.process.stdin is not None
        self.runs += 1
        out, err = self.folder / f"out-{self.runs}", self.folder / f"err-{self.runs}"
        request = {"script": str(script.resolve()), "cwd": str(cwd), "out": str(out), "err": str(err),
                   "timeout": timeout}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        code = self._answer(timeout + 30.0)["code"]
        texts = [path.read_text(errors="replace") if path.exists() else "" for path in (out, err)]
        for path in (out, err):
            path.unlink(missing_ok=True)
        return (code if isinstance(code, int) else None), texts[0], texts[1]

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError, ValueError):
                if self.process.stdin is not None:
                    self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Preloaded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plain_run(script: Path, python: str, cwd: Path, timeout: float, isolated: bool = True
              ) -> tuple[int | None, str, str]:
    """The script in a process of its own (-I unless not `isolated`: a script that imports the suite), in a
    session of its own, killed whole at the timeout."""
    import signal

    command = [python, *(["-I"] if isolated else []), str(script.resolve())]
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace", env=script_env(isolated),
                          start_new_session=True, preexec_fn=die_with_parent()) as process:
        try:
            out, err = process.communicate(timeout=timeout)
            return process.returncode, out, err
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            return None, out, err


# ---- servers kept for a process's whole life (a campaign writes many entries whose scripts import alike) -----
SHARED_MOST = 2  # servers kept at once: each holds TensorFlow in memory
_SHARED: dict[tuple[str, tuple[str, ...]], Preloaded] = {}


def shared(python: str, modules: list[str] | tuple[str, ...]) -> Preloaded:
    """The server of this process for `python` and `modules`, started on first use (lazily: at its first
    run); the least recently used is stopped when more than SHARED_MOST would be kept."""
    key = (python, tuple(modules))
    server = _SHARED.pop(key, None) or Preloaded(*key)
    _SHARED[key] = server  # most recently used last
    while len(_SHARED) > SHARED_MOST:
        _SHARED.pop(next(iter(_SHARED))).close()
    return server


@atexit.register
def close_shared() -> None:
    for server in _SHARED.values():
        server.close()
    _SHARED.clear()
