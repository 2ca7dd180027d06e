"""Crash-and-hang isolation: each way a worker can fail becomes a Failure at the stage it reported,
the pool replaces the worker, and the next job runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roundtrip.finding.findings import Stage, Symptom
from roundtrip.run.worker import Limits, Pool, Worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    opened = Pool(task="tests.workload:misbehave", limits=Limits(timeout=3.0, memory=1 << 30, recycle_after=5))
    yield opened
    opened.close()


def test_a_job_answers(pool: Pool) -> None:
    status, result = pool.call("k", {"do": "nothing", "echo": [1, 2]})
    assert status == "done" and result["echo"] == [1, 2]


@pytest.mark.parametrize(("action", "symptom", "kind"), [
    ("segfault", Symptom.CRASH, "SIGSEGV"),
    ("abort", Symptom.CRASH, "SIGABRT"),
    ("hang", Symptom.TIMEOUT, "timeout"),
    ("eat", Symptom.CRASH, "memory"),
])
def test_a_failing_worker_is_a_failure_and_is_replaced(pool: Pool, action: str, symptom: Symptom, kind: str) -> None:
    before = pool.call("k", {"do": "nothing"})[1]["pid"]
    status, failure = pool.call("k", {"do": action})
    assert status == "failed"
    assert (failure.symptom, failure.stage, failure.kind) == (symptom, Stage.CONVERT, kind)
    finding = failure.finding("some-path")
    assert finding.signature.startswith(f"some-path|convert|{symptom}|{kind}|")
    after = pool.call("k", {"do": "nothing"})[1]["pid"]
    assert after != before


def test_an_exception_in_a_job_is_the_suites_error_not_a_finding(pool: Pool) -> None:
    status, text = pool.call("k", {"do": "raise"})
    assert status == "error" and "ValueError: a bug of the suite itself" in text
    assert pool.call("k", {"do": "nothing"})[0] == "done"  # the worker survives it


def test_workers_are_recycled_after_so_many_jobs(pool: Pool) -> None:
    pids = {pool.call("r", {"do": "nothing"})[1]["pid"] for _ in range(12)}
    assert len(pids) == 3  # 5 jobs each


def test_keys_get_their_own_workers(pool: Pool) -> None:
    assert pool.call("a", {"do": "nothing"})[1]["pid"] != pool.call("b", {"do": "nothing"})[1]["pid"]


def test_a_worker_that_cannot_start_says_why() -> None:
    from roundtrip.run.worker import SuiteError

    worker = Worker.start("tests.workload:no_such_task")
    with pytest.raises(SuiteError, match="no_such_task"):
        worker.wait_ready(60)
    worker.kill()


def test_workers_are_forked_from_one_server_that_imported_tensorflow_and_start_fresh(pool: Pool) -> None:
    """A fresh worker (a bug's confirmation) is a fork of the server that imported TensorFlow and ran no job:
    it has TensorFlow loaded without importing it, and nothing an earlier worker did."""
    import os

    used = pool.call("m", {"do": "remember"})[1]
    assert used["remembered"] == "yes" and pool.call("m", {"do": "nothing"})[1]["remembered"] == "yes"
    status, fresh = pool.call_fresh({"do": "nothing"})
    assert status == "done" and fresh["remembered"] is None and fresh["pid"] != used["pid"]
    assert fresh["tensorflow_loaded"]  # the server imported it: the task's module does not
    assert fresh["parent"] == used["parent"] != os.getpid()  # both forked by the one server
