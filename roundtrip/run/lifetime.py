"""Child processes that end with their parent: nothing a campaign, a worker pool or a script run started
outlives it, even when it is killed with SIGKILL and cannot clean up.

Two ways, for the two kinds of child: `die_with_parent` is a `preexec_fn` for `subprocess.Popen` (Linux's
PR_SET_PDEATHSIG: the kernel signals the child when the thread that started it ends, so start children
from a thread that lives as long as they should); `exit_when_orphaned` is for a Python child we run code
in (a worker): a thread that exits the process once its parent is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `preexec_fn` that has the child sent `sig` when its parent goes (None off Linux: no such call)."""
    if sys.platform != "linux":
        return None

    def set_death_signal() -> None:
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)

    return set_death_signal


def exit_when_orphaned(interval: float = 1.0) -> None:
    """Starts a daemon thread that ends this process (status 70) once its parent process is gone."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="exit-when-orphaned", daemon=True).start()
