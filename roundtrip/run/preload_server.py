"""Scripts run in forks of one process that imported their modules once: `python preload_server.py MODULE...`.

Self-contained on purpose: it runs under any environment's interpreter (the onnx2tf one too) with `-I`, so it
imports only the standard library and the modules it is told to, never `roundtrip`.  `roundtrip/run/preload.py`
is the other end.

It imports each MODULE (one that fails to import is left for the script to fail on), then answers JSON lines:

    server, once imported:  {"ready": true, "pid": ..., "imported": [...]}
    client:  {"script": PATH, "cwd": DIR, "out": FILE, "err": FILE, "timeout": SECONDS}
    server:  {"code": STATUS}   (as subprocess gives it: negative for a signal; null when killed at the timeout)

Each script runs in a child forked for it, in a session of its own, with fd 0 on /dev/null and fds 1 and 2 on
the files named, as `python -I SCRIPT` would run it: `__name__ == "__main__"`, an uncaught exception printed
with its traceback and status 1, SystemExit as Python reads it.  The child is killed with its group at the
timeout.  Nothing the script does reaches this process: it forks before any TensorFlow op ran here, so every
child starts as a fresh interpreter that had imported those modules.  The server stops at end of input.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import runpy
import signal
import sys
import time
import traceback
from typing import Any

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.01


def open_channel() -> tuple[Any, Any]:
    """The protocol's streams (the original stdin and stdout); fd 0 then reads /dev/null and fd 1 writes where
    fd 2 does, so nothing an import prints reaches the channel."""
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    responses = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return requests, responses


def imported(modules: list[str]) -> list[str]:
    done = []
    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
            done.append(name)
    return done


def exit_status(error: BaseException) -> int:
    """The status Python exits with when `error` ends the main module, having printed what Python prints."""
    if isinstance(error, SystemExit):
        if error.code is None:
            return 0
        if isinstance(error.code, int):
            return error.code
        print(error.code, file=sys.stderr)
        return 1
    traceback.print_exception(error)
    return 1


def child(request: dict[str, Any]) -> None:
    """In the forked child: the script run as a main module; never returns."""
    status = 1
    try:
        os.setsid()
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.chdir(request["cwd"])
        for fd, name in ((1, request["out"]), (2, request["err"])):
            handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(handle, fd)
            os.close(handle)
        sys.argv = [request["script"]]
        try:
            runpy.run_path(request["script"], run_name="__main__")
            status = 0
        except BaseException as error:  # noqa: BLE001 - what ends the script is its exit status
            status = exit_status(error)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


def run(request: dict[str, Any]) -> int | None:
    """The script run in a fork; its exit status, None when it ran past the timeout."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(request)
    deadline = time.monotonic() + float(request["timeout"])
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            with contextlib.suppress(OSError):  # what the script started and left behind
                os.killpg(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(POLL_SECONDS)


def main(modules: list[str]) -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    requests, responses = open_channel()
    responses.write(json.dumps({"ready": True, "pid": os.getpid(), "imported": imported(modules)}) + "\n")
    responses.flush()
    for line in requests:
        if line.strip():
            responses.write(json.dumps({"code": run(json.loads(line))}) + "\n")
            responses.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
