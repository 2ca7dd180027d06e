# tf2onnx.convert.from_function writes a graph onnx.checker rejects (Sequential model: ReLU)
# tf2onnx 1.17.0, tensorflow 2.21.0, keras 3.15.1, onnx 1.23.2, onnxruntime 1.31.1, numpy 2.4.6.
# Exits 1 while the bug shows, 0 once it is fixed.

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx

keras.config.set_dtype_policy("bfloat16")
model = keras.Sequential([keras.Input(shape=(1,), name="in0"), keras.layers.ReLU(threshold=0.5, name="x1")])

signature = [tf.TensorSpec((None, 1), tf.float32, name="in0")]
function = tf.function(lambda *xs: model(xs[0], training=False))
onnx_model, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=17)
onnx.checker.check_model(onnx_model, full_check=True)
