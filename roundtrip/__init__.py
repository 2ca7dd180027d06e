"""roundtrip: property-based fuzzing of Keras <-> ONNX converters (the engine)."""

from __future__ import annotations

import os
from typing import Any

from roundtrip.spec.graph import GRAPH_OPS, GraphSpec, NodeSpec
from roundtrip.spec.inputs import make_inputs
from roundtrip.spec.layers import LAYERS
from roundtrip.spec.model import SCHEMA_VERSION, InputSpec, LayerSpec, ModelSpec, ShapeError, SpecError

# Nothing above imports TensorFlow; quieten its C++ logging before anything does.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns oneDNN on or off by what it detects of the CPU, and without it its CPU kernels refuse
# NCHW convolutions and pooling (which onnx2keras builds): one setting everywhere, so that a finding does not
# depend on the machine.  Workers, converter environments and repro.py runs inherit it.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__all__ = [
    "GRAPH_OPS", "LAYERS", "SCHEMA_VERSION", "CenterCropReshape", "GraphSpec", "InputSpec", "LayerSpec",
    "ModelSpec", "NodeSpec", "ShapeError",
    "SpecError", "build_keras", "make_inputs",
]


def __getattr__(name: str) -> Any:
    # Keras and TensorFlow load only when a model is built, so specs and strategies stay light.
    if name == "build_keras":
        from roundtrip.build.keras import build_keras

        return build_keras
    if name == "CenterCropReshape":
        from roundtrip.spec.custom import CenterCropReshape

        return CenterCropReshape
    raise AttributeError(name)
