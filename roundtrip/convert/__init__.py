"""The converters: Keras -> ONNX paths, ONNX -> Keras converters, and the environments they run in."""
