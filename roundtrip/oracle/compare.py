"""The oracle: what is checked, in a fixed order, and the findings it gives.

Graph checks first (onnx.checker in full, strict shape inference against the declared outputs); then,
for each run, the output count and, for every output (never stopping at the first), its shape, its
declared static dims, its dtype and its values.  Every message names the output index, its shape and
its dtype.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.run.runners import declared_dims

# float32 keeps 24 significant bits (eps = 1.2e-7).  A converter may reorder a reduction (a convolution,
# a matmul, a mean) over up to about a thousand terms here, and each reordered addition can move the sum
# by eps of the running magnitude: about 1e3 * eps = 1.2e-4 of the terms' magnitude in the worst case.
# So a value passes within RTOL of itself plus ATOL of its output's scale (its largest magnitude, at
# least 1), which judges near-zero results of cancellation by the size of what cancelled.  Real bugs
# (a wrong layout, padding or interpolation) are off by a large fraction of the scale, not by 1e-4.
RTOL = 1e-4
ATOL = 1e-4
# float16 keeps 11 bits (eps = 9.8e-4) and rounds after every node of a graph, where float32 would not:
# ten of its eps is the same margin over rounding that 1e-4 is for float32 reductions, still far below
# the size of a real bug.
RTOL16 = ATOL16 = 1e-2
# bfloat16 keeps 8 bits (eps = 7.8e-3): ten of its eps, likewise.
RTOL_BF16 = ATOL_BF16 = 8e-2
# The tolerance follows the lower precision of the two sides (a float16 model's outputs against float32 ones
# are judged as float16).
TOLERANCES = {"bfloat16": (RTOL_BF16, ATOL_BF16), "float16": (RTOL16, ATOL16)}


def close(actual: np.ndarray, expected: np.ndarray, slack: float = 0.0) -> np.ndarray:
    """Elementwise: within tolerance, plus `slack` (what rounding alone may move a user's model's output by:
    `roundtrip.oracle.margins`); NaN only matches NaN."""
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    rtol, atol = _tolerances(actual, expected)
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    return np.isclose(a, e, rtol=rtol, atol=atol * scale + slack, equal_nan=True)  # type: ignore[no-any-return]


def _tolerances(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    names = {actual.dtype.name, expected.dtype.name}
    return next((TOLERANCES[n] for n in TOLERANCES if n in names), (RTOL, ATOL))


def tolerance(actual: np.ndarray, expected: np.ndarray, slack: float = 0.0) -> np.ndarray:
    """Elementwise, how far `actual` may be from `expected`: RTOL of each value plus ATOL of the output's scale
    (its largest finite magnitude, at least 1), at the lower precision of the two sides; plus `slack`."""
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    rtol, atol = _tolerances(actual, expected)
    return atol * scale + slack + rtol * np.abs(expected.astype(np.float64))  # type: ignore[no-any-return]


def describe(array: np.ndarray) -> str:
    return f"{tuple(array.shape)} {array.dtype}"


def graph_findings(path: str, model: Any) -> list[Finding]:
    """onnx.checker (structure), strict shape inference with the outputs' declared shapes cleared
    compared with what the graph declares, then onnx.checker's full check."""
    import onnx

    def failed(e: Exception) -> list[Finding]:
        return [Finding(path, Stage.CHECK, Symptom.EXCEPTION, type(e).__name__, str(e))]

    try:
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 - every checker failure is a finding
        return failed(e)
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    for out in bare.graph.output:
        out.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(bare, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001
        return failed(e)
    findings = []
    for k, (declared, derived) in enumerate(zip(declared_dims(model), declared_dims(inferred), strict=True)):
        if declared is None or derived is None:
            continue
        if len(declared) != len(derived) or any(a is not None and b is not None and a != b
                                                for a, b in zip(declared, derived, strict=False)):
            findings.append(Finding(path, Stage.CHECK, Symptom.DECLARED_SHAPE, "inferred-vs-declared",
                                    f"output {k}: declared dims {_dims(declared)}, shape inference gives "
                                    f"{_dims(derived)}", output=k))
    if findings:
        return findings
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001
        return failed(e)
    return []


def _dims(dims: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def shape_kind(expected: tuple[int, ...], actual: tuple[int, ...]) -> str:
    if len(expected) != len(actual):
        return "shape:rank"
    return "shape:batch" if expected[:1] != actual[:1] else "shape:dims"


def compare(path: str, label: str, expected: list[np.ndarray], actual: list[np.ndarray],
            declared: list[tuple[int | None, ...] | None], sides: tuple[str, str] = ("Keras", "runtime"),
            slack: list[float] | None = None) -> list[Finding]:
    """Keras' outputs against the runtime's, for one run (`label` says which: batch and sizes).  `sides`
    names what gave the expected and the actual outputs, for the messages; `slack` is each output's allowance
    for rounding on top of the tolerance (a user's own model's: `roundtrip.oracle.margins`)."""
    findings = []
    want, got = sides
    if len(actual) != len(expected):
        findings.append(Finding(path, Stage.COMPARE, Symptom.COUNT, "count",
                                f"{label}: {want} gives {len(expected)} outputs, {got} {len(actual)}"))
    for k, (e, a) in enumerate(zip(expected, actual, strict=False)):
        head = f"output {k} ({label}): {want} {describe(e)}, {got} {describe(a)}"
        if e.shape != a.shape:
            findings.append(Finding(path, Stage.COMPARE, Symptom.SHAPE, shape_kind(e.shape, a.shape), head, output=k))
        dims = declared[k] if k < len(declared) else None
        if dims is not None and (len(dims) != a.ndim or any(d is not None and d != n for d, n in zip(dims, a.shape,
                                                                                                 strict=False))):
            findings.append(Finding(path, Stage.COMPARE, Symptom.DECLARED_SHAPE, "declared-dims",
                                    f"{head}; the graph declares {_dims(dims)}", output=k))
        if e.dtype != a.dtype:
            findings.append(Finding(path, Stage.COMPARE, Symptom.DTYPE, f"dtype:{e.dtype}->{a.dtype}", head, output=k))
        if e.shape == a.shape and e.size:
            ok = close(a, e, slack[k] if slack and k < len(slack) else 0.0)
            if not ok.all():
                worst = np.unravel_index(int(np.nanargmax(np.where(ok, 0, np.abs(a.astype(np.float64) - e)))), e.shape)
                findings.append(Finding(
                    path, Stage.COMPARE, Symptom.VALUE, "value",
                    f"{head}; {int((~ok).sum())} of {e.size} values differ, worst at {tuple(map(int, worst))}: "
                    f"{want} {float(e[worst]):.6g}, {got} {float(a[worst]):.6g}", output=k,
                    details={"max_abs_diff": float(np.nanmax(np.abs(a.astype(np.float64) - e)))}))
    # Each finding says which run showed it, so that its entry's repro runs that one.
    return [replace(f, details={**f.details, "case": label}) for f in findings]
