"""Warm processes (roundtrip.search.warm): a campaign's runs are pytest sessions served one after the other by
a process started once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from roundtrip.search import warm as warm_module
from roundtrip.search.warm import WARM_ENV, Warm, shared_pool, tree_cpu

SLICE = """
    import os

    def test_slice():
        with open(os.environ["SLICE_OUT"], "a") as out:
            out.write(f"{os.getpid()} {os.environ['SLICE']}\\n")
        if os.environ["SLICE"] == "die":
            os._exit(3)
        assert os.environ["SLICE"] != "fail"
"""


def _result(warm: Warm) -> tuple[int, float]:
    for _ in range(2400):  # a bound, not a timing: the slice is one small test
        ended = warm.result()
        if ended is not None:
            return ended
        time.sleep(0.05)
    raise AssertionError("the slice never ended")


@pytest.fixture
def slice_file(tmp_path: Path) -> Path:
    path = tmp_path / "slices" / "test_slice.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(SLICE))
    return path


def _send(warm: Warm, slice_file: Path, name: str, out: Path) -> None:
    warm.send([str(slice_file), "-q", "-p", "no:cacheprovider"], {"SLICE": name, "SLICE_OUT": str(out)},
              slice_file.parent / f"done-{name}.json")


def test_a_warm_process_runs_slice_after_slice_in_itself_each_with_its_environment(
        tmp_path: Path, slice_file: Path) -> None:
    out = tmp_path / "out.txt"
    warm = Warm.start(dict(os.environ), tmp_path / "warm.log")
    try:
        codes = []
        for name in ("one", "fail", "two"):
            assert warm.idle
            _send(warm, slice_file, name, out)
            assert not warm.idle
            codes.append(_result(warm)[0])
        assert codes == [0, 1, 0]
        lines = [line.split() for line in out.read_text().splitlines()]
        assert [name for _, name in lines] == ["one", "fail", "two"]
        assert {pid for pid, _ in lines} == {str(warm.process.pid)}
        assert warm.served == 3 and warm.alive
    finally:
        warm.stop()
    assert not warm.alive and not warm.idle


def test_a_warm_process_that_dies_ends_its_slice_with_its_status(tmp_path: Path, slice_file: Path) -> None:
    warm = Warm.start(dict(os.environ), tmp_path / "warm.log")
    try:
        _send(warm, slice_file, "die", tmp_path / "out.txt")
        code, cpu = _result(warm)
    finally:
        warm.stop()
    assert code == 3 and cpu >= 0.0
    assert not warm.alive and not warm.idle  # the campaign starts another one


def test_a_warm_process_serves_a_bounded_number_of_slices(tmp_path: Path, slice_file: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_module, "WARM_RUNS", 1)
    warm = Warm.start(dict(os.environ), tmp_path / "warm.log")
    try:
        _send(warm, slice_file, "one", tmp_path / "out.txt")
        assert _result(warm)[0] == 0
        assert warm.alive and not warm.idle
    finally:
        warm.stop()


def test_the_pool_is_shared_only_in_a_warm_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WARM_ENV, raising=False)
    assert shared_pool() is None
    monkeypatch.setenv(WARM_ENV, "1")
    monkeypatch.setattr(warm_module, "_POOL", [])
    first = shared_pool()
    assert first is not None and shared_pool() is first


# The child works (more than its parent's own start-up) and says its CPU; the parent waits for it and says it.
CHILD = ("import resource; sum(range(30_000_000)); u = resource.getrusage(resource.RUSAGE_SELF); "
         "print(u.ru_utime + u.ru_stime)")
PARENT = (f"import subprocess, sys; print(subprocess.run([sys.executable, '-c', {CHILD!r}], capture_output=True, "
          "text=True).stdout, flush=True); input()")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_cpu_of_a_process_tree_counts_the_children_it_waited_for() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout is not None
        child_cpu = float(parent.stdout.readline())  # the child ended and was waited for
        assert tree_cpu(parent.pid) >= child_cpu - 0.02  # a clock tick of rounding each
    finally:
        parent.communicate("\n")
