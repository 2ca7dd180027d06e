"""What an ONNX -> Keras converter made of a graph: plain data, made in this process (roundtrip.convert.back)
or in a converter's environment of its own (roundtrip.convert.remote)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from roundtrip.finding.findings import Error, Finding


@dataclass
class BackRun:
    """What an ONNX -> Keras converter made of a graph: the conversion's error, or each case's outputs
    (in the graph's layout) or error; and the ONNX made again from the Keras model, or that error."""

    load_error: Error | None = None
    outputs: list[list[np.ndarray] | Error] = field(default_factory=list)
    onnx_back: bytes | None = None
    export_error: Error | None = None
    # For a converter that decides per tensor (onnx2tf): which inputs and outputs its Keras model holds
    # channels-last, as {"inputs_nhwc": [...], "outputs_nhwc": [...]}; repro.py replays the same transposes.
    # For a converter whose outputs count in any axis order, also the order each output was taken in, where it
    # was not as laid: {"outputs_axes": [[0, 2, 1] or None, ...]} (`oracle.layouts.taken`).
    layouts: dict[str, list[Any]] | None = None

    def noted(self, findings: list[Finding]) -> list[Finding]:
        """`findings` with the layouts in their details, when the converter chose any."""
        if self.layouts is None:
            return findings
        return [replace(f, details={**f.details, "layouts": self.layouts}) for f in findings]
