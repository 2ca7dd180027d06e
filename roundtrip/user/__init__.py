"""Checking a user's own Keras model or ONNX graph."""
