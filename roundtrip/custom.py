"""Custom layers of the vocabulary, registered for safe-mode loading (never a Lambda)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="roundtrip")
class CenterCropReshape(keras.layers.Layer):
    """Crops the two spatial dims of an NHWC tensor to `height` x `width` around the centre, working
    the offsets out with `tf.shape` at run time, then reshapes to `[-1, height * width * channels]`.

    This is the pattern behind many "2-D output has the wrong dims after ONNX export" reports: the
    crop offsets are dynamic, the reshape target is static apart from its -1."""

    def __init__(self, height: int, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.height = height
        self.width = width

    def call(self, x: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(x)
        top = (shape[1] - self.height) // 2
        left = (shape[2] - self.width) // 2
        x = x[:, top : top + self.height, left : left + self.width, :]
        return tf.reshape(x, [-1, self.height * self.width * x.shape[-1]])

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        channels = input_shape[-1]
        assert channels is not None, "CenterCropReshape needs a known channel dim"
        return (input_shape[0], self.height * self.width * channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="roundtrip")
def gelu_approximate(x: tf.Tensor) -> tf.Tensor:
    """GELU by its tanh approximation (keras.activations.gelu with approximate=True)."""
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="roundtrip")
def threshold_half(x: tf.Tensor) -> tf.Tensor:
    """keras.activations.threshold at 0.5: x where x > 0.5, else 0."""
    return keras.activations.threshold(x, 0.5, 0.0)


# What a layer expression of roundtrip.layers may name besides `keras`.
OBJECTS = {"CenterCropReshape": CenterCropReshape, "gelu_approximate": gelu_approximate,
           "threshold_half": threshold_half}
