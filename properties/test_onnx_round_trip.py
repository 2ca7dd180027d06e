"""ONNX -> Keras -> ONNX: graphs drawn the way exporters write them, converted to Keras by each ONNX ->
Keras converter and to ONNX again by each Keras -> ONNX path, compared with ONNX Runtime on the graph.

A finding of the Keras model itself is filed under `onnx>BACK` whatever the way back, so the pairs share
it; the way back's own findings under `onnx>BACK>PATH`."""

from __future__ import annotations

import pytest
from hypothesis import given

import strategies
from roundtrip.convert.back import ONNX_TO_KERAS, missing_environment
from roundtrip.convert.converters import KERAS_TO_ONNX
from roundtrip.search.harness import Harness
from roundtrip.spec.graph import GraphSpec

# The converter in an environment of its own makes ONNX again with what that environment has (from_keras).
PAIRS = [(back, path) for back in ONNX_TO_KERAS for path in KERAS_TO_ONNX
         if not ONNX_TO_KERAS[back].remote or path == "tf2onnx-keras"]


def available(back: str) -> None:
    """Skips a converter whose environment of its own is absent, saying how to make it."""
    missing = missing_environment(back)
    if missing:
        pytest.skip(missing)


@pytest.mark.parametrize(("back", "path"), PAIRS, ids=[f"onnx>{b}>{p}" for b, p in PAIRS])
def test_onnx_round_trip(harness: Harness, back: str, path: str) -> None:
    available(back)

    @given(graph=strategies.onnx_graphs())
    def run(graph: GraphSpec) -> None:
        harness.check_graph(graph, back, path)

    harness.explore(run)
