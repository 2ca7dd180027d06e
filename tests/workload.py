"""Worker tasks for tests/test_worker.py: tiny jobs that misbehave on request (no TensorFlow needed)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any


def misbehave(job: dict[str, Any], report: Callable[[str], None]) -> Any:
    report("convert")
    action = job["do"]
    if action == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if action == "abort":
        os.abort()
    if action == "hang":
        time.sleep(10**6)
    if action == "eat":
        hoard = [bytearray(b"\x01") * (64 << 20) for _ in range(64)]  # 4 GiB, every page written (a zeroed
        # bytearray is calloc'd: its pages stay out of the resident set until written, and the timeout came first)
        return len(hoard)
    if action == "remember":  # state a later job of the same process would see
        os.environ["ROUNDTRIP_TEST_REMEMBERED"] = "yes"
    if action == "raise":
        raise ValueError("a bug of the suite itself")
    report("run")
    return {"pid": os.getpid(), "parent": os.getppid(), "echo": job.get("echo"),
            "remembered": os.environ.get("ROUNDTRIP_TEST_REMEMBERED"),
            "tensorflow_loaded": "tensorflow" in __import__("sys").modules}
