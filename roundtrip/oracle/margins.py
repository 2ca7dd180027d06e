"""The margins of a check of a user's own model (`roundtrip check`): what rounding alone may move its outputs by,
the worst error a converted model made against the tolerance, and how far the inputs move the outputs at all.

Rounding: the oracle's tolerance (`roundtrip.oracle.compare`) is relative to each output's own scale, which fits the
small models the suite draws.  A deep network can carry rounding far beyond it: ResNet50's logits (up to 33)
differ by 3e-3 between Keras and ONNX Runtime, 1e-4 of their scale and within tolerance, and its softmax turns
that into 4e-4 on outputs of scale 1, past it.  Keras itself, in float32, is that far from the same model in
float64: so each output is allowed ROUNDING times the largest distance between the two (the model's own
rounding, measured on the case's inputs) on top of the tolerance.  A real bug (a wrong layout, padding,
interpolation) is off by a large fraction of the outputs, not by a few roundings.

Spread: a model whose outputs hardly depend on its inputs (an untrained network whose activations fade layer
after layer to zero, say) passes any converter that gives the same constant; its spread says so, where a clean
verdict alone would not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from roundtrip.oracle.outcome import Case

ROUNDING = 10.0  # ONNX Runtime was 0.3-1.5 times Keras float32's own distance from float64 on ResNet50


def rounding_slack(twin: Any, inputs: list[np.ndarray], expected: list[np.ndarray]) -> list[float] | None:
    """Per output, ROUNDING times the largest |Keras float32 - `twin`| on `inputs`, where `expected` are the
    float32 model's outputs and `twin` its `float64_twin`; None without a twin."""
    if twin is None:
        return None
    from roundtrip.build.keras import run_keras

    try:
        exact = run_keras(twin, [x.astype(np.float64) for x in inputs])
    except Exception:  # noqa: BLE001 - a layer that cannot run in float64: no allowance
        return None
    slack = []
    for e, x in zip(expected, exact, strict=True):
        if e.shape != x.shape or e.dtype.kind not in "fV":
            slack.append(0.0)
            continue
        gap = np.abs(e.astype(np.float64) - x.astype(np.float64))
        slack.append(ROUNDING * float(gap[np.isfinite(gap)].max(initial=0.0)))
    return slack


def float64_twin(model: Any) -> Any:
    """The model rebuilt with every layer in float64 and the same weights; None when it cannot be (a layer
    whose config takes no dtype, a nested model, a layer that refuses float64 weights)."""
    import keras

    def in_float64(layer: Any) -> Any:
        if isinstance(layer, keras.Model):
            raise TypeError("a nested model")
        return type(layer).from_config({**layer.get_config(), "dtype": "float64"})

    try:
        twin = keras.models.clone_model(model, clone_function=in_float64)
        for mine, theirs in zip(twin.layers, model.layers, strict=True):
            mine.set_weights([np.asarray(w).astype(v.dtype) for w, v in zip(theirs.get_weights(), mine.weights,
                                                                              strict=True)])
    except Exception:  # noqa: BLE001 - any failure: no twin, the tolerance alone
        return None
    return twin


def worst_error(cases: list[Case]) -> tuple[float, float] | None:
    """(|actual - expected|, its tolerance with the rounding slack) at the value where their ratio is largest,
    over every case that ran and every output of the same shape; None when no value was compared."""
    from roundtrip.oracle.compare import close, tolerance

    worst: tuple[float, float] | None = None
    for case in cases:
        for k, (e, a) in enumerate(zip(case.expected, case.actual or [], strict=False)):
            if e.shape != a.shape or not e.size:
                continue
            diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
            diff = np.where(np.isfinite(diff), diff, np.where(close(a, e), 0.0, np.inf))  # inf or NaN alike: 0
            allowed = np.maximum(tolerance(a, e, case.allowance(k)), np.finfo(np.float64).tiny)
            ratio = np.nan_to_num(diff / allowed, nan=0.0, posinf=np.inf)
            j = int(np.argmax(ratio))
            here = (float(diff.flat[j]), float(allowed.flat[j]))
            if worst is None or here[0] / here[1] > worst[0] / worst[1]:
                worst = here
    return worst


def spread(cases: list[Case]) -> float | None:
    """How far the inputs move the outputs, against the tolerance (with the rounding slack): over every case of
    more than one example and every float output, the largest (max - min over the examples) / tolerance at one
    position.  Below 1, outputs that do not depend on the inputs would pass the oracle as well: a clean verdict
    then says little.  None when no case has two examples."""
    from roundtrip.oracle.compare import tolerance

    found: float | None = None
    for case in cases:
        for k, e in enumerate(case.expected):
            if e.ndim == 0 or e.shape[0] < 2 or e.dtype.kind not in "fV":
                continue
            values = e.astype(np.float64)
            moved = np.where(np.isfinite(values).all(axis=0), np.ptp(values, axis=0), 0.0)
            allowed = np.maximum(tolerance(e, e, case.allowance(k)).max(axis=0), np.finfo(np.float64).tiny)
            ratio = float((moved / allowed).max()) if moved.size else 0.0
            found = ratio if found is None else max(found, ratio)
    return found
