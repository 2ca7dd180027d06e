"""Warm processes: a campaign's slices run in processes that import TensorFlow, the converters and the
properties once, and keep their check workers (and those workers' converter servers) from one slice to the
next, as a fork server spares a fuzzer its target's start-up.

A warm process (`python -m roundtrip.search.warm`) reads one request a line on its stdin: the pytest
arguments of a slice (a property's node and its `--hypothesis-seed`), the environment that slice differs
by (its events file, its plan), and a file to write its exit status to.  It runs the slice with
`pytest.main` in itself: Hypothesis runs here with the seed, database and settings a pytest process would
have.  Every slice's harness shares the process's one worker pool (`shared_pool`), so checks are as
isolated as before (each in a worker, a crash or hang is a finding) while a slice costs its checks only.

The campaign's side is `Warm`: start, send a slice, read its status, the CPU the process and its workers
used, stop.  A warm process that dies is replaced; one that served WARM_RUNS slices too (what a long-lived
process accumulates stays bounded).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from roundtrip.run.lifetime import die_with_parent
from roundtrip.run.worker import Pool

ROOT = Path(__file__).resolve().parents[2]
WARM_ENV = "ROUNDTRIP_WARM"  # "1" in a warm process: the properties' harness takes the shared pool
WARM_RUNS = 50  # slices a warm process serves before the campaign replaces it

_POOL: list[Pool] = []


def shared_pool() -> Pool | None:
    """In a warm process, the worker pool every slice's harness uses (made at the first call); elsewhere
    None (the harness makes its own and closes it when its session ends)."""
    if os.environ.get(WARM_ENV) != "1":
        return None
    if not _POOL:
        _POOL.append(Pool())
    return _POOL[0]


# ---- the warm process ------------------------------------------------------------------------------
def serve(requests: IO[str]) -> None:
    """Runs each requested slice in this process, one after the other, until `requests` ends."""
    import pytest  # here, not at the top: the campaign's side never needs it

    for line in requests:
        request = json.loads(line)
        os.environ.update(request["env"])
        code = int(pytest.main(request["args"]))
        sys.stdout.flush()
        _write(Path(request["done"]), {"exit": code})


def _write(path: Path, data: dict[str, Any]) -> None:
    """Written whole or not at all: the campaign reads it as soon as it exists."""
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data))
    part.replace(path)


# ---- the campaign's side -----------------------------------------------------------------------------
@dataclass
class Warm:
    """One warm process as the campaign sees it: idle, or running one slice (`done` names its status file)."""

    process: subprocess.Popen[bytes]
    served: int = 0
    done: Path | None = None
    cpu_at: float = 0.0  # the process tree's CPU seconds when the slice now running was sent
    exit: int | None = None  # the process's own exit status once it ended
    cpu_end: float = 0.0  # its CPU seconds (itself and the children it waited for) once it ended

    @staticmethod
    def start(env: dict[str, str], log: Path) -> Warm:
        """A warm process in its own session (stopping it stops its workers); SIGTERM from the kernel if the
        campaign dies without stopping it."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "roundtrip.search.warm"], cwd=ROOT, env={**env, WARM_ENV: "1"},
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM))
        return Warm(process)

    @property
    def idle(self) -> bool:
        return self.done is None and self.alive and self.served < WARM_RUNS

    @property
    def alive(self) -> bool:
        return self._ended() is None

    def send(self, args: list[str], env: dict[str, str], done: Path) -> None:
        """Starts a slice: pytest `args` with `env` added to the process's environment; its exit status is
        written to `done`."""
        assert self.process.stdin is not None and self.idle
        self.done, self.cpu_at = done, tree_cpu(self.process.pid)
        self.served += 1
        self.process.stdin.write((json.dumps({"args": args, "env": env, "done": str(done)}) + "\n").encode())
        self.process.stdin.flush()

    def result(self) -> tuple[int, float] | None:
        """The slice's exit status and the CPU seconds it took (the process and its workers), once it ended
        (None while it runs).  A process that died ends its slice with the process's status."""
        if self.done is None:
            return None
        if self.done.exists():
            code = int(json.loads(self.done.read_text())["exit"])
            cpu, self.done = tree_cpu(self.process.pid) - self.cpu_at, None
            return code, max(cpu, 0.0)
        ended = self._ended()
        if ended is None:
            return None
        self.done = None
        return ended, max(self.cpu_end - self.cpu_at, 0.0)

    def _ended(self) -> int | None:
        if self.exit is not None:
            return self.exit
        try:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
        except ChildProcessError:
            return self.process.poll()
        if not pid:
            return None
        self.exit = self.process.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_end = usage.ru_utime + usage.ru_stime
        return self.exit

    def stop(self) -> None:
        """Ends the process and its workers (their own session): SIGTERM, then SIGKILL after 10 s."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 60.0)):
            if self._ended() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            end = time.time() + wait
            while time.time() < end and self._ended() is None:
                time.sleep(0.05)


def tree_cpu(pid: int) -> float:
    """CPU seconds of process `pid` and its live descendants, each with the children it waited for (Linux's
    /proc; 0.0 elsewhere).  The difference of two readings is what the tree used between them."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    tree, grown = {pid}, True
    while grown:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    serve(sys.stdin)
