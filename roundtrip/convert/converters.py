"""Keras -> ONNX converter paths: one small function each, in one table.

A converter takes the built Keras model, its spec and an opset, and returns an `onnx.ModelProto`.  What the
suite knows of it besides the call (its package, the text its repro.py writes) is its row in
`roundtrip.registry`.  Besides the table, a path may be named `module:function` (a converter of the caller's
own, such as the planted faults of the suite's tests).
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from roundtrip.spec.model import ModelSpec

Convert = Callable[[Any, ModelSpec, int], Any]

MIN_OPSET = 13


@dataclass(frozen=True)
class KerasToOnnx:
    name: str
    convert: Convert
    max_opset: int
    own_process: bool = False  # patches libraries for its whole process: never share a worker


def signature(spec: ModelSpec) -> list[Any]:
    """One `tf.TensorSpec` per input, batch None, dynamic spatial dims None, named after the input; float32,
    int32 for token ids."""
    import tensorflow as tf

    return [tf.TensorSpec((None, *i.declared), tf.int32 if i.ids else tf.float32, name=i.name) for i in spec.inputs]


def from_function(model: Any, spec: ModelSpec, opset: int) -> Any:
    import tensorflow as tf
    import tf2onnx

    many = len(spec.inputs) > 1
    function = tf.function(lambda *xs: model(list(xs) if many else xs[0], training=False))
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature(spec), opset=opset)
    return proto


def from_keras(model: Any, spec: ModelSpec, opset: int) -> Any:
    import tf2onnx

    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature(spec), opset=opset)
    return proto


def keras_export(model: Any, spec: ModelSpec, opset: int) -> Any:
    import onnx

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        # A subclassed model knows only the shapes it was first called with: its dynamic dims are said
        extra = {"input_signature": signature(spec)} if spec.subclassed else {}
        model.export(path, format="onnx", opset_version=opset, verbose=False, **extra)
        return onnx.load(path)


# tf2onnx 1.17.0 refuses opsets above 18 ("Opset 19 is not supported yet"); Keras' export goes through it.
KERAS_TO_ONNX: dict[str, KerasToOnnx] = {
    "tf2onnx-function": KerasToOnnx("tf2onnx-function", from_function, 18),
    "tf2onnx-keras": KerasToOnnx("tf2onnx-keras", from_keras, 18),
    "keras-export": KerasToOnnx("keras-export", keras_export, 18, own_process=True),
}


def resolve(name: str) -> KerasToOnnx:
    """A path of the table, or `module:function` (optionally `module:function@max_opset`)."""
    if name in KERAS_TO_ONNX:
        return KERAS_TO_ONNX[name]
    if ":" not in name:
        raise KeyError(f"unknown converter path {name!r} (known: {', '.join(KERAS_TO_ONNX)}; "
                       "or name one as module:function)")
    target, _, most = name.partition("@")
    module, _, function = target.partition(":")
    convert = getattr(importlib.import_module(module), function)
    return KerasToOnnx(name, convert, int(most) if most else 18, own_process=True)
