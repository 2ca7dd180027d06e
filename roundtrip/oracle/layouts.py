"""An output of a converter that chooses each tensor's layout itself, taken in the layout where it is right.

onnx2tf makes tensors of rank 3 to 5 channels-last as it sees fit and records, per tensor, whether it
transposed it; the suite moves each output back by that record.  The record is onnx2tf's bookkeeping, not a
documented output layout, and onnx2tf's own output check accepts a TensorFlow output in any axis order: an
output the graph's values as the graph has it, or channels-last, is a right output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from roundtrip.convert.back import channels_first, channels_last
from roundtrip.convert.made import BackRun
from roundtrip.finding.findings import Error
from roundtrip.oracle.compare import close


def either_layout(run: BackRun, expected: Sequence[Sequence[np.ndarray]]) -> BackRun:
    """`run` of a converter that chooses each tensor's layout itself (onnx2tf: `run.layouts`), each output of
    rank >= 3 that differs from `expected` (per case) taken in the other layout where that one equals it: an
    output left as the graph has it or made channels-last is a right output either way.  onnx2tf's own
    output check (`onnx_tf_tensor_validation`) accepts a TensorFlow output in any axis order; its record of
    which tensors it transposed (which `run` followed) is its bookkeeping, not a documented output layout.
    The layouts record says what was taken, so repro.py replays it.  Other runs come back as they are."""
    if run.layouts is None or run.load_error is not None:
        return run
    flags = list(run.layouts.get("outputs_nhwc", []))
    outputs = [list(o) if not isinstance(o, Error) else o for o in run.outputs]
    switched = set()
    for got, want in zip(outputs, expected, strict=False):
        if isinstance(got, Error):
            continue
        for k, (a, e) in enumerate(zip(got, want, strict=False)):
            if a.ndim < 3 or (a.shape == e.shape and close(a, e).all()):
                continue
            other = channels_last(a) if k < len(flags) and flags[k] else channels_first(a)
            if other.shape == e.shape and close(other, e).all():
                got[k] = other
                switched.add(k)
    flags = [not flag if k in switched else flag for k, flag in enumerate(flags)]
    return replace(run, outputs=outputs, layouts={**run.layouts, "outputs_nhwc": flags})
