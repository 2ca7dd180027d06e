"""Crash-and-hang isolation: checks run in worker processes that import TensorFlow once and are reused.

A worker that dies (a signal, an abort, memory past the limit) or does not answer in time becomes a
finding (symptom crash or timeout) at the stage it had reported last; it is replaced by a fresh one,
and the run goes on.  Workers clear the Keras session every few dozen models and are recycled after a
few hundred, or when their memory grows past a bound, so memory stays flat over long runs.  A converter
that patches libraries for its whole process (Keras' ONNX export) gets a worker of its own.  A worker starts
with the registry rows its parent registered (a converter of the caller's own: `roundtrip.registry.register`).
Workers are forked from a server process that imported TensorFlow, Keras and the converters once and never
ran a check (multiprocessing's fork server, `roundtrip.run.preimport`): a fresh worker, as a bug's
confirmation asks for, costs a fork, not an import.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from roundtrip import registry
from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.run.lifetime import exit_when_orphaned

CLEAR_SESSION_EVERY = 25


@dataclass(frozen=True)
class Limits:
    timeout: float = 120.0  # seconds for one check
    memory: int = 8 << 30  # bytes of resident memory for one worker
    recycle_after: int = 300  # checks before a worker is replaced
    recycle_memory: int = 3 << 30  # a worker past this, between checks, is replaced


class SuiteError(RuntimeError):
    """The suite itself is broken (not a converter): a check raised where it never should."""


@dataclass
class Failure:
    """What the parent saw when a worker did not answer: a finding-to-be."""

    symptom: Symptom
    stage: Stage
    kind: str
    message: str
    log: str = ""

    def finding(self, path: str) -> Finding:
        return Finding(path, self.stage, self.symptom, self.kind, self.message, details={"log": self.log[-4000:]})


def _serve(conn: Connection, log_path: str, task: str, rows: tuple[registry.Converter | registry.Package, ...] = ()
           ) -> None:
    """The worker's loop: registers its parent's `rows`, imports once, then answers jobs until told to stop (or
    its parent is gone)."""
    exit_when_orphaned()
    registry.register(*rows)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)  # TensorFlow's and the converters' C++ chatter goes to the log, not the terminal
    os.dup2(fd, 1)
    module, _, name = task.partition(":")
    run: Callable[..., Any] = getattr(__import__(module, fromlist=[name]), name)
    import keras

    conn.send(("ready", os.getpid()))
    done = 0
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            result = run(job, lambda stage: conn.send(("stage", str(stage))))
            conn.send(("done", result))
        except BaseException:  # noqa: BLE001 - anything a check raises is the suite's own bug
            conn.send(("error", traceback.format_exc()))
        done += 1
        if done % CLEAR_SESSION_EVERY == 0:
            keras.backend.clear_session()


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# Imported once by the process workers are forked from (multiprocessing's fork server), before any of them
# runs a check there: a worker then starts in a fraction of a second and is as fresh as one that imported
# them itself.  Where the fork server cannot start (no fork), workers are spawned.
PRELOAD = "roundtrip.run.preimport"  # the main environment's packages, imported quietly


def _context(task: str) -> Any:
    """Workers forked from a server that imported PRELOAD and the task's module (`spawn` where no fork)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD, task.partition(":")[0]])
    return context


@dataclass
class Worker:
    process: Any
    conn: Connection
    log_path: str
    jobs: int = 0

    @staticmethod
    def start(task: str) -> Worker:
        context = _context(task)
        parent, child = context.Pipe()
        fd, log = tempfile.mkstemp(prefix="roundtrip-worker-", suffix=".log")
        os.close(fd)
        process = context.Process(target=_serve, args=(child, log, task, registry.added()), daemon=True)
        process.start()
        child.close()
        return Worker(process, parent, log)

    def wait_ready(self, timeout: float) -> None:
        try:
            message = self.conn.recv() if self.conn.poll(timeout) else ("silent",)
        except (EOFError, OSError):
            self.process.join(timeout=5)
            message = ("died", self.process.exitcode)
        if message[0] != "ready":
            raise SuiteError(f"a worker did not start ({message!r}, waited up to {timeout:.0f} s); "
                             f"its log:\n{self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-20000:]
        except OSError:
            return ""

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(timeout=5)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=10)
        self.conn.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)

    def call(self, job: Any, limits: Limits) -> tuple[str, Any]:
        """('done', result), ('error', traceback) or ('failed', Failure)."""
        self.jobs += 1
        self.conn.send(job)
        stage = Stage.BUILD
        deadline = time.monotonic() + limits.timeout
        while True:
            try:
                ready = self.conn.poll(0.25)
                message = self.conn.recv() if ready else None
            except (EOFError, OSError):
                message = None
            if message is not None:
                if message[0] == "stage":
                    stage = Stage(message[1])
                    continue
                return message[0], message[1]
            if not self.process.is_alive():
                return "failed", self._death(stage)
            if time.monotonic() > deadline:
                log = self.log()
                self.kill()
                return "failed", Failure(Symptom.TIMEOUT, stage, "timeout",
                                         f"no answer in {limits.timeout:.0f} s during {stage}", log)
            if _rss(self.process.pid) > limits.memory:
                log = self.log()
                self.kill()
                return "failed", Failure(Symptom.CRASH, stage, "memory",
                                         f"resident memory past {limits.memory >> 20} MiB during {stage}", log)

    def _death(self, stage: Stage) -> Failure:
        self.process.join(timeout=5)
        code = self.process.exitcode
        log = self.log()
        kind = signal.Signals(-code).name if code is not None and code < 0 else f"exit {code}"
        return Failure(Symptom.CRASH, stage, kind, f"the worker died ({kind}) during {stage}", log)


@dataclass
class Pool:
    """Workers by key: one shared by the converters that leave their process as they found it, one per
    converter that does not.  A warm spare stands by, so a crash or a hang costs no start-up wait."""

    task: str = "roundtrip.oracle.check:run_job"
    limits: Limits = field(default_factory=Limits)
    start_timeout: float = 180.0
    workers: dict[str, Worker] = field(default_factory=dict)
    spare: Worker | None = None
    started: int = 0

    def _take(self) -> Worker:
        worker = self.spare or Worker.start(self.task)
        self.started += self.spare is None
        worker.wait_ready(self.start_timeout)
        self.spare = Worker.start(self.task)
        self.started += 1
        return worker

    def worker(self, key: str) -> Worker:
        worker = self.workers.get(key)
        if worker is not None and (not worker.process.is_alive() or worker.jobs >= self.limits.recycle_after
                                   or _rss(worker.process.pid) > self.limits.recycle_memory):
            worker.stop()
            worker = None
        if worker is None:
            worker = self.workers[key] = self._take()
        return worker

    def call(self, key: str, job: Any) -> tuple[str, Any]:
        worker = self.worker(key)
        status, result = worker.call(job, self.limits)
        if status == "failed":
            worker.kill()
            del self.workers[key]
        return status, result

    def call_fresh(self, job: Any) -> tuple[str, Any]:
        """The job in a worker of its own, started for it and stopped after: nothing earlier jobs left
        behind in a process can change the answer."""
        worker = Worker.start(self.task)
        try:
            worker.wait_ready(self.start_timeout)
            return worker.call(job, self.limits)
        finally:
            worker.stop()

    def close(self) -> None:
        for worker in [*self.workers.values(), *([self.spare] if self.spare else [])]:
            worker.stop()
        self.workers.clear()
        self.spare = None
