"""Keras -> ONNX -> Keras: every Keras -> ONNX path with every ONNX -> Keras converter, the model that
comes back compared with the original (through the layout transposes where the converter reorders)."""

from __future__ import annotations

import pytest
from hypothesis import given

import strategies
from properties.test_keras_to_onnx import opsets
from properties.test_onnx_round_trip import available
from roundtrip import ModelSpec
from roundtrip.convert.back import ONNX_TO_KERAS
from roundtrip.convert.converters import KERAS_TO_ONNX
from roundtrip.search.harness import Harness

PAIRS = [(path, back) for path in KERAS_TO_ONNX for back in ONNX_TO_KERAS]


@pytest.mark.parametrize(("path", "back"), PAIRS, ids=[f"{p}>{b}" for p, b in PAIRS])
def test_round_trip(harness: Harness, path: str, back: str) -> None:
    available(back)

    @given(spec=strategies.keras_models(), opset=opsets(path))
    def round_trip(spec: ModelSpec, opset: int) -> None:
        harness.check(spec, path, opset, back=back)

    harness.explore(round_trip)
