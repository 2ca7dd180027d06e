"""A planted ONNX -> Keras converter for graphs ONNX Runtime cannot run (old opsets): onnx2keras on the graph
with each BatchNormalization's epsilon made 1, so its Keras model is wrong from the first BatchNormalization on."""

from __future__ import annotations

from typing import Any


def epsilon_made_one(model: Any, input_names: list[str]) -> Any:
    from onnx import helper
    from onnx2keras import onnx_to_keras

    changed = type(model)()
    changed.CopyFrom(model)
    for node in changed.graph.node:
        if node.op_type == "BatchNormalization":
            kept = [a for a in node.attribute if a.name != "epsilon"]
            del node.attribute[:]
            node.attribute.extend([*kept, helper.make_attribute("epsilon", 1.0)])
    return onnx_to_keras(changed, input_names, verbose=False, change_ordering=False)
