"""Hypothesis strategies of model specs (plain data, never Keras objects)."""

from strategies.layers import FOCUS, STRATEGIES
from strategies.models import inputs_for, keras_models

__all__ = ["FOCUS", "STRATEGIES", "inputs_for", "keras_models"]
