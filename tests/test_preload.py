"""Scripts run in forks of a preloaded server end as they end in a process of their own: the same exit status,
output and verdict; a crash, a hang and a server that is gone are answered too."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.run.preload import Preloaded, imports_of, plain_run
from roundtrip.store.script import verdict


@pytest.fixture
def preloaded(tmp_path: Path) -> Iterator[Preloaded]:
    server = Preloaded(sys.executable, ("json", "numpy"), folder=tmp_path / "server")
    server.folder.mkdir()
    yield server
    server.close()


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


COMPARISON = """import numpy as np
import sys
print("isolated", sys.flags.isolated, __name__)
np.testing.assert_allclose(np.zeros(3), np.ones(3), err_msg="output y [3]")
"""


def test_a_failing_comparison_ends_as_in_a_process_of_its_own(tmp_path: Path, preloaded: Preloaded) -> None:
    path = script(tmp_path, "repro.py", COMPARISON)
    code, out, err = preloaded.run(path, tmp_path, 60)
    plain = plain_run(path, sys.executable, tmp_path, 60)
    assert (code, out) == (plain[0], plain[1]) == (1, "isolated 1 __main__\n")
    assert "AssertionError" in err and "output y [3]" in err
    finding = Finding("tf2onnx-function", Stage.COMPARE, Symptom.VALUE, "value", "differs")
    ours, theirs = (verdict.run(path, sys.executable, finding, via=via) for via in (preloaded, None))
    assert ours.shows and theirs.shows and ours.why == theirs.why == "raised AssertionError"


def test_each_run_is_a_fork_of_the_one_server(tmp_path: Path, preloaded: Preloaded) -> None:
    path = script(tmp_path, "ids.py", "import os\nprint(os.getpid(), os.getppid(), os.getcwd())\n")
    answers = [preloaded.run(path, tmp_path, 60)[1].split() for _ in range(2)]
    assert preloaded.process is not None
    server = str(preloaded.process.pid)
    assert answers[0][1] == answers[1][1] == server  # forked by the server
    assert answers[0][0] != answers[1][0] and server not in (answers[0][0], answers[1][0])
    assert answers[0][2] == str(tmp_path.resolve())
    assert preloaded.runs == 2 and preloaded.restarts == 0


def test_exit_statuses_signals_and_the_timeout(tmp_path: Path, preloaded: Preloaded) -> None:
    assert preloaded.run(script(tmp_path, "a.py", "raise SystemExit(3)\n"), tmp_path, 60)[0] == 3
    assert preloaded.run(script(tmp_path, "b.py", "raise SystemExit('bye')\n"), tmp_path, 60)[:3:2] == (1, "bye\n")
    assert preloaded.run(script(tmp_path, "c.py", "print('fine')\n"), tmp_path, 60)[:2] == (0, "fine\n")
    crash = script(tmp_path, "d.py", f"import os\nos.kill(os.getpid(), {int(signal.SIGSEGV)})\n")
    assert preloaded.run(crash, tmp_path, 60)[0] == -signal.SIGSEGV
    hang = script(tmp_path, "e.py", "import time\ntime.sleep(600)\n")
    assert preloaded.run(hang, tmp_path, 1.0)[0] is None
    assert preloaded.run(script(tmp_path, "f.py", "print(1)\n"), tmp_path, 60)[:2] == (0, "1\n")  # still serving


def test_a_server_that_is_gone_is_started_again(tmp_path: Path, preloaded: Preloaded) -> None:
    path = script(tmp_path, "ok.py", "print('ok')\n")
    assert preloaded.run(path, tmp_path, 60)[:2] == (0, "ok\n")
    assert preloaded.process is not None
    os.kill(preloaded.process.pid, signal.SIGKILL)
    preloaded.process.wait()
    assert preloaded.run(path, tmp_path, 60)[:2] == (0, "ok\n")
    assert preloaded.restarts == 1


def test_the_modules_a_script_imports() -> None:
    text = "import numpy as np\nimport onnx.helper, os\nfrom tf2onnx import convert\nfrom . import x\n" \
           "def f():\n    import keras\n"
    assert imports_of(text) == ["numpy", "onnx.helper", "os", "tf2onnx"]
    assert imports_of("def (:") == []


def test_a_process_keeps_a_few_servers_and_stops_the_least_recently_used(tmp_path: Path) -> None:
    from roundtrip.run import preload

    try:
        first = preload.shared(sys.executable, ("json",))
        assert preload.shared(sys.executable, ("json",)) is first
        path = script(tmp_path, "ok.py", "print('ok')\n")
        assert first.run(path, tmp_path, 60)[:2] == (0, "ok\n") and first.process is not None
        others = [preload.shared(sys.executable, (name,)) for name in ("csv", "string")][:preload.SHARED_MOST]
        assert first.process is None and not first.folder.exists()  # stopped: the least recently used
        assert all(s in preload._SHARED.values() for s in others)
    finally:
        preload.close_shared()
    assert not preload._SHARED
