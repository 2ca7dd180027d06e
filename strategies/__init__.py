"""Hypothesis strategies of model specs (plain data, never Keras objects)."""

from strategies.graphs import GRAPH_STRATEGIES, onnx_graphs
from strategies.layers import FOCUS, STRATEGIES
from strategies.models import inputs_for, keras_models

__all__ = ["FOCUS", "GRAPH_STRATEGIES", "STRATEGIES", "inputs_for", "keras_models", "onnx_graphs"]
