"""Keras -> ONNX: each converter path is its own property over drawn models and opsets.

A finding whose signature is already in corpus/ is counted; a new one fails the property in the gate, and
is reduced and written to corpus/ in a writing run (see roundtrip.search.harness)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import strategies
from roundtrip import ModelSpec
from roundtrip.convert.converters import KERAS_TO_ONNX, MIN_OPSET
from roundtrip.search.harness import Harness


def opsets(path: str) -> st.SearchStrategy[int]:
    """Opsets from 13 to the highest the path supports; shrinks towards 13."""
    return st.integers(MIN_OPSET, KERAS_TO_ONNX[path].max_opset)


@pytest.mark.parametrize("path", KERAS_TO_ONNX)
def test_keras_to_onnx(harness: Harness, path: str) -> None:
    @given(spec=strategies.keras_models(), opset=opsets(path))
    def one_way(spec: ModelSpec, opset: int) -> None:
        harness.check(spec, path, opset)

    harness.explore(one_way)
