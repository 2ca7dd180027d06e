"""ONNX -> Keras converters: one small function each, in one table, like `roundtrip.converters`.

A converter takes an `onnx.ModelProto` and returns a Keras model, plus how arrays cross between the two
layouts: `to_keras(array)` for an input, `from_keras(array)` for an output.  onnx2keras with
`change_ordering=True` reads every tensor of rank >= 3 as NCHW and gives a channels-last model, so the
comparison moves axis 1 to the end on the way in and back on the way out.  Its `repro` is the same
conversion in plain upstream code, for repro.py (`onnx_model` and `input_names` are defined there).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


def identity(array: np.ndarray) -> np.ndarray:
    return array


def channels_last(array: np.ndarray) -> np.ndarray:
    """NCHW... -> NHWC...: axis 1 moves to the end (ranks below 3 are left alone)."""
    return np.moveaxis(array, 1, -1) if array.ndim >= 3 else array


def channels_first(array: np.ndarray) -> np.ndarray:
    return np.moveaxis(array, -1, 1) if array.ndim >= 3 else array


@dataclass(frozen=True)
class OnnxToKeras:
    name: str
    convert: Callable[[Any, list[str]], Any]
    to_keras: Callable[[np.ndarray], np.ndarray]
    from_keras: Callable[[np.ndarray], np.ndarray]
    repro: str


def onnx2keras_plain(model: Any, input_names: list[str]) -> Any:
    from onnx2keras import onnx_to_keras

    return onnx_to_keras(model, input_names, verbose=False, change_ordering=False)


def onnx2keras_nhwc(model: Any, input_names: list[str]) -> Any:
    from onnx2keras import onnx_to_keras

    return onnx_to_keras(model, input_names, verbose=False, change_ordering=True)


ONNX_TO_KERAS: dict[str, OnnxToKeras] = {
    "onnx2keras": OnnxToKeras(
        "onnx2keras", onnx2keras_plain, identity, identity,
        "keras_model = onnx2keras.onnx_to_keras(onnx_model, input_names, verbose=False, change_ordering=False)\n"),
    "onnx2keras-nhwc": OnnxToKeras(
        "onnx2keras-nhwc", onnx2keras_nhwc, channels_last, channels_first,
        "keras_model = onnx2keras.onnx_to_keras(onnx_model, input_names, verbose=False, change_ordering=True)\n"),
}


def resolve_back(name: str) -> OnnxToKeras:
    if name not in ONNX_TO_KERAS:
        raise KeyError(f"unknown ONNX -> Keras converter {name!r} (known: {', '.join(ONNX_TO_KERAS)})")
    return ONNX_TO_KERAS[name]


@contextlib.contextmanager
def keras_config_restored() -> Iterator[None]:
    """Keras' global image data format and float type as they were before, and a cleared session:
    onnx2keras switches the whole process to channels_first, which would change every Keras model built
    after it."""
    import keras

    data_format, floatx = keras.config.image_data_format(), keras.config.floatx()
    try:
        yield
    finally:
        keras.config.set_image_data_format(data_format)
        keras.config.set_floatx(floatx)
        keras.backend.clear_session()  # and the layers and names it made: results must not depend on order


def category(error: BaseException, model: Any) -> str:
    """The named failure kind of an ONNX -> Keras conversion: an unsupported operator (which one), a
    missing attribute (opset skew: an attribute later opsets made optional), or the exception type."""
    ops = {node.op_type for node in model.graph.node}
    if isinstance(error, KeyError) and error.args and error.args[0] in ops:
        return f"unsupported-op:{error.args[0]}"
    if isinstance(error, KeyError) and error.args and isinstance(error.args[0], str):
        return f"missing-attribute:{error.args[0]}"
    if re.search(r"dtype|data type|float16|float64|double", str(error), re.I):
        return f"dtype:{type(error).__name__}"
    return type(error).__name__
