"""Running an ONNX model: ONNX Runtime on CPU (with its C++ warnings captured) and onnx's
ReferenceEvaluator, the third opinion when Keras and ONNX Runtime disagree."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ORT's two warnings about declared shapes (both from C++, on fd 2): at session load when shape
# inference contradicts a declared output, and at run time when an output has other dims than declared.
SHAPE_WARNINGS = re.compile(r"(MergeShapeInfo|VerifyOutputSizes)\] (.*)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Everything written to file descriptor 2 (C++ code included) while inside, as lines."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(_ANSI.sub("", tmp.read().decode("utf-8", "replace")).splitlines())


def shape_warnings(lines: list[str]) -> list[tuple[str, str]]:
    """(where, text) of each ORT warning about a declared shape."""
    return [(m.group(1), m.group(2).strip()) for line in lines if (m := SHAPE_WARNINGS.search(line))]


@dataclass
class OrtSession:
    """An ONNX Runtime CPU session; `warnings` collects the shape warnings of loading and of each run."""

    session: Any
    input_names: list[str]
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @staticmethod
    def load(model_bytes: bytes) -> OrtSession:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 2  # warnings: the level that shows declared-shape mismatches
        with captured_stderr() as lines:
            session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        return OrtSession(session, [i.name for i in session.get_inputs()], shape_warnings(lines))

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        try:
            with captured_stderr() as lines:
                outputs = self.session.run(None, self.feeds(arrays))
        finally:
            self.warnings.extend(shape_warnings(lines))
        return [np.asarray(o) for o in outputs]

    def feeds(self, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The arrays by input name.  A graph that asks for more inputs than the model has (a converter that made
        a constant an input) gets those it has: ONNX Runtime's own error then names the missing ones."""
        if len(arrays) > len(self.input_names):
            raise ValueError(f"the graph takes {len(self.input_names)} inputs, the model {len(arrays)}")
        return dict(zip(self.input_names, arrays, strict=False))


def run_reference(model: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """onnx's pure-Python ReferenceEvaluator on the same feeds."""
    from onnx.reference import ReferenceEvaluator

    names = [i.name for i in fed_inputs(model)]
    return [np.asarray(o) for o in ReferenceEvaluator(model).run(None, dict(zip(names, arrays, strict=True)))]


def fed_inputs(model: Any) -> list[Any]:
    """The graph's inputs a caller feeds (those that are not initializers), in order."""
    weights = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in weights]


def declared_dims(model: Any) -> list[tuple[int | None, ...] | None]:
    """Each graph output's declared dims (None for a symbolic or missing dim), or None with no shape."""
    result: list[tuple[int | None, ...] | None] = []
    for out in model.graph.output:
        tensor = out.type.tensor_type
        if not tensor.HasField("shape"):
            result.append(None)
            continue
        result.append(tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim))
    return result
