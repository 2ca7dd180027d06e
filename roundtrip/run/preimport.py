"""Imported by the fork server that workers are forked from (`roundtrip.run.worker`): the main environment's
packages (TensorFlow, Keras, the converters, ONNX Runtime), imported once with fds 1 and 2 on /dev/null, so that
what TensorFlow prints while it loads does not reach the terminal of the process that started the server (a
worker points its own fds at its log).  Importing this module is its whole job."""

from __future__ import annotations

import contextlib
import importlib
import os

from roundtrip import registry


def _quietly_import(names: tuple[str, ...]) -> None:
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        for name in names:
            with contextlib.suppress(Exception):  # one that fails is the worker's to fail on, in its log
                importlib.import_module(name)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


_quietly_import(registry.main_packages())
