"""Planted ONNX -> Keras converters for `roundtrip check` on an ONNX model: one for graphs ONNX Runtime cannot run
(old opsets), onnx2keras on the graph with each BatchNormalization's epsilon made 1, so its Keras model is wrong
from the first BatchNormalization on; one that reads Constant nodes wrong."""

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


def constant_read_wrong(model: Any, input_names: list[str]) -> Any:
    """onnx2keras on the graph with each Constant node's value made one more: the converter reads constants
    wrong, which shows at the nodes that use them."""
    from onnx import numpy_helper
    from onnx2keras import onnx_to_keras

    changed = type(model)()
    changed.CopyFrom(model)
    for node in changed.graph.node:
        for attribute in node.attribute if node.op_type == "Constant" else []:
            if attribute.name == "value":
                attribute.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attribute.t) + 1, attribute.t.name))
    return onnx_to_keras(changed, input_names, verbose=False, change_ordering=False)
