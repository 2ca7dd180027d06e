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
class MergeAxes(keras.layers.Layer):
    """Merges axis `axis` (1 is the first after the batch) with the next one: a reshape whose target is
    computed from `tf.shape` (slices of the shape, a product, a concat), as dynamic-shape code writes it."""

    def __init__(self, axis: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, x: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(x)
        a = self.axis
        target = tf.concat([shape[:a], [shape[a] * shape[a + 1]], shape[a + 2:]], axis=0)
        merged = tf.reshape(x, target)
        merged.set_shape(self.compute_output_shape(tuple(x.shape)))  # as users write: the dims Keras declared
        return merged

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        a = self.axis
        first, second = input_shape[a], input_shape[a + 1]
        merged = None if first is None or second is None else first * second
        return (*input_shape[:a], merged, *input_shape[a + 2:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


@keras.saving.register_keras_serializable(package="roundtrip")
class StridedLast(keras.layers.Layer):
    """`x[..., begin::step, tf.newaxis]`: a strided slice of the last axis, with an ellipsis and a new axis."""

    def __init__(self, begin: int, step: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.begin = begin
        self.step = step

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x[..., self.begin::self.step, tf.newaxis]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        last = input_shape[-1]
        kept = None if last is None else -(-(last - self.begin) // self.step)
        return (*input_shape[:-1], kept, 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "begin": self.begin, "step": self.step}


@keras.saving.register_keras_serializable(package="roundtrip")
class ResizeBy(keras.layers.Layer):
    """`tf.image.resize` of an NHWC tensor to `scale` times its height and width, the size computed from
    `tf.shape`; the result cast back to the input's dtype (tf.image.resize returns float32)."""

    def __init__(self, scale: int, method: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = scale
        self.method = method

    def call(self, x: tf.Tensor) -> tf.Tensor:
        size = tf.shape(x)[1:3] * self.scale
        resized = tf.cast(tf.image.resize(x, size, method=self.method), x.dtype)
        resized.set_shape(self.compute_output_shape(tuple(x.shape)))
        return resized

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height * self.scale,
                None if width is None else width * self.scale, channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "method": self.method}


@keras.saving.register_keras_serializable(package="roundtrip")
class GatherAxis(keras.layers.Layer):
    """`tf.gather(x, indices, axis=axis)` with constant indices (repeats allowed), axis 1 the first after
    the batch."""

    def __init__(self, indices: list[int], axis: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.indices = list(indices)
        self.axis = axis

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.gather(x, self.indices, axis=self.axis)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        a = self.axis
        return (*input_shape[:a], len(self.indices), *input_shape[a + 1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "indices": self.indices, "axis": self.axis}


@keras.saving.register_keras_serializable(package="roundtrip")
class KeepAbove(keras.layers.Layer):
    """`tf.where(x > threshold, x, tf.zeros_like(x))`: a comparison, a bool tensor and a select."""

    def __init__(self, threshold: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.where(x > self.threshold, x, tf.zeros_like(x))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="roundtrip")
def gelu_approximate(x: tf.Tensor) -> tf.Tensor:
    """GELU by its tanh approximation (keras.activations.gelu with approximate=True)."""
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="roundtrip")
def threshold_half(x: tf.Tensor) -> tf.Tensor:
    """keras.activations.threshold at 0.5: x where x > 0.5, else 0."""
    return keras.activations.threshold(x, 0.5, 0.0)


# What a layer expression of roundtrip.spec.layers may name besides `keras`.
OBJECTS = {"CenterCropReshape": CenterCropReshape, "MergeAxes": MergeAxes, "StridedLast": StridedLast,
           "ResizeBy": ResizeBy, "GatherAxis": GatherAxis, "KeepAbove": KeepAbove,
           "gelu_approximate": gelu_approximate, "threshold_half": threshold_half}
LAYER_CLASSES = ("CenterCropReshape", "MergeAxes", "StridedLast", "ResizeBy", "GatherAxis", "KeepAbove")
