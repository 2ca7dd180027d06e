"""Planted-fault converters: tf2onnx's from_function with a bug put in on purpose, to test the tester.

Each is named to the harness as `tests.planted:<function>`; the worker imports it by that name."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from roundtrip.convert.converters import from_function
from roundtrip.spec.model import ModelSpec


def bake_batch(model: Any, spec: ModelSpec, opset: int) -> Any:
    """Bakes the batch into every constant Reshape target: [-1, ...] becomes [1, ...]."""
    proto = from_function(model, spec, opset)
    constants = {t.name: t for t in proto.graph.initializer}
    for node in proto.graph.node:
        target = constants.get(node.input[1]) if node.op_type == "Reshape" else None
        if target is not None:
            shape = numpy_helper.to_array(target).copy()
            if shape.size and shape[0] == -1:
                shape[0] = 1
                target.CopyFrom(numpy_helper.from_array(shape.astype(np.int64), target.name))
    return proto


def drop_transpose(model: Any, spec: ModelSpec, opset: int) -> Any:
    """Flattens channels-first, as a converter does that lost the NHWC -> NCHW transpose before a Reshape."""
    proto = from_function(model, spec, opset)
    ranks = _ranks(proto)
    nodes = []
    for node in proto.graph.node:
        rank = ranks.get(node.input[0], 0) if node.op_type == "Reshape" else 0
        if rank >= 3:
            moved = node.input[0] + "__planted_nchw"
            perm = [0, rank - 1, *range(1, rank - 1)]
            nodes.append(helper.make_node("Transpose", [node.input[0]], [moved], perm=perm))
            node.input[0] = moved
        nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return proto


def _ranks(proto: Any) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(proto)
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {i.name: len(i.type.tensor_type.shape.dim) for i in infos if i.type.tensor_type.HasField("shape")}


def segfault_on_permute(model: Any, spec: ModelSpec, opset: int) -> Any:
    """Dies of SIGSEGV whenever the model holds a Permute."""
    if any(layer.kind == "Permute" for layer in spec.layers):
        os.kill(os.getpid(), signal.SIGSEGV)
    return from_function(model, spec, opset)


def hang_on_dropout(model: Any, spec: ModelSpec, opset: int) -> Any:
    """Never returns whenever the model holds a Dropout."""
    if any(layer.kind == "Dropout" for layer in spec.layers):
        time.sleep(10**6)
    return from_function(model, spec, opset)



def batch_one_outputs(model: Any, spec: ModelSpec, opset: int) -> Any:
    """Reshapes each output to batch 1 in a graph that holds a Sigmoid (its other axes reversed: a wrong shape
    at batch 1 unless they read the same reversed, a failure to run at any other batch) or a Relu (its other
    axes as they are: right at batch 1, a failure at any other): one fault of the Sigmoid's conversion that
    shows as a mismatch or a run failure by the sizes, as tf2onnx's TimeDistributed does."""
    proto = from_function(model, spec, opset)
    ops = {node.op_type for node in proto.graph.node}
    if not ops & {"Sigmoid", "Relu"}:
        return proto
    for k, out in enumerate(proto.graph.output):
        rest = [int(d) for d in model.outputs[k].shape[1:]]
        shape = [1, *(rest[::-1] if "Sigmoid" in ops else rest)]
        inner, target = f"{out.name}__planted", f"{out.name}__planted_shape"
        for node in proto.graph.node:
            node.output[:] = [inner if o == out.name else o for o in node.output]
            node.input[:] = [inner if i == out.name else i for i in node.input]
        proto.graph.initializer.append(numpy_helper.from_array(np.array(shape, np.int64), target))
        proto.graph.node.append(helper.make_node("Reshape", [inner, target], [out.name]))
        for j, dim in enumerate(out.type.tensor_type.shape.dim):
            dim.Clear()
            dim.dim_param = f"planted_{j}"
    return proto

# ---- ONNX -> Keras: onnx2keras with a bug put in (named to the harness as the ONNX -> Keras converter) ----
def _onnx2keras(model: Any, input_names: list[str]) -> Any:
    from onnx2keras import onnx_to_keras

    return onnx_to_keras(model, input_names, verbose=False, change_ordering=False)


def _ops(model: Any) -> set[str]:
    return {node.op_type for node in model.graph.node}


def shift_after_softmax(model: Any, input_names: list[str]) -> Any:
    """Adds 0.5 to every output of a graph that holds a Softmax: wrong values, the shapes right."""
    import keras

    converted = _onnx2keras(model, input_names)
    if "Softmax" not in _ops(model):
        return converted
    outputs = converted.outputs if isinstance(converted.outputs, list) else [converted.outputs]
    return keras.Model(converted.inputs, [keras.ops.add(o, 0.5) for o in outputs])


def first_example_only(model: Any, input_names: list[str]) -> Any:
    """Keeps only the first example of the batch in a graph that holds a Transpose: a batch baked in."""
    import keras

    converted = _onnx2keras(model, input_names)
    if "Transpose" not in _ops(model):
        return converted
    outputs = converted.outputs if isinstance(converted.outputs, list) else [converted.outputs]
    return keras.Model(converted.inputs, [keras.ops.take(o, [0], axis=0) for o in outputs])


def segfault_on_gather(model: Any, input_names: list[str]) -> Any:
    """Dies of SIGSEGV on a graph that holds a Gather."""
    if "Gather" in _ops(model):
        os.kill(os.getpid(), signal.SIGSEGV)
    return _onnx2keras(model, input_names)


def sigmoid_made_hard(model: Any, spec: ModelSpec, opset: int) -> Any:
    """Turns every Sigmoid into a HardSigmoid: wrong values from one layer kind, whatever surrounds it."""
    proto = from_function(model, spec, opset)
    for node in proto.graph.node:
        if node.op_type == "Sigmoid":
            node.op_type = "HardSigmoid"
    return proto


def refuse_matmul(model: Any, input_names: list[str]) -> Any:
    """onnx2keras that refuses any graph holding a MatMul (Keras' Dense, through every Keras -> ONNX path)."""
    if "MatMul" in _ops(model):
        raise NotImplementedError("planted: no MatMul")
    return _onnx2keras(model, input_names)


# ---- bug identity: one fault on many op kinds, two faults on one op kind ----------------------------------
def _shared_check(node: Any) -> None:
    """One fault in code every converter function shares: raises the same on Relu, Sigmoid and Tanh."""
    if node.op_type in ("Relu", "Sigmoid", "Tanh"):
        raise ValueError("planted: the shared shape helper cannot place this output")


def shared_fault(model: Any, input_names: list[str]) -> Any:
    """onnx2keras with one fault in a helper called for every node: one bug met on three op kinds."""
    for node in model.graph.node:
        _shared_check(node)
    return _onnx2keras(model, input_names)


def _transpose_cases(node: Any) -> None:
    perm = list(next((a.ints for a in node.attribute if a.name == "perm"), []))
    if perm and perm == list(range(len(perm))):
        raise ValueError("planted: an identity perm is dropped before its shape is read")
    if perm and perm[0] != 0:
        raise IndexError("planted: a perm that moves the batch axis reads past its list")


def two_transpose_faults(model: Any, input_names: list[str]) -> Any:
    """onnx2keras with two faults of one op kind, Transpose: one for an identity perm, one for a perm that
    moves axis 0.  Two bugs."""
    for node in model.graph.node:
        if node.op_type == "Transpose":
            _transpose_cases(node)
    return _onnx2keras(model, input_names)


def relu_after_transpose(model: Any, input_names: list[str]) -> Any:
    """A fault that needs two nodes: a Relu that reads a Transpose's output fails to convert."""
    produced = {o: n.op_type for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        if node.op_type == "Relu" and produced.get(node.input[0]) == "Transpose":
            raise ValueError("planted: a Relu after a Transpose has no layout")
    return _onnx2keras(model, input_names)


def softmax_two_cases(model: Any, input_names: list[str]) -> Any:
    """Wrong values from two faults of one op kind, Softmax: one over the last axis (axis=-1), one over
    axis 1.  Both show as wrong values first at the Softmax: two bugs all the same."""
    import keras

    converted = _onnx2keras(model, input_names)
    axes = [next((a.i for a in n.attribute if a.name == "axis"), None) for n in model.graph.node
            if n.op_type == "Softmax"]
    shift = 0.5 if -1 in axes else 0.25 if 1 in axes else 0.0
    if not shift:
        return converted
    outputs = converted.outputs if isinstance(converted.outputs, list) else [converted.outputs]
    return keras.Model(converted.inputs, [keras.ops.add(o, shift) for o in outputs])


def softmax_batch_one(model: Any, input_names: list[str]) -> Any:
    """Reshapes each output of a graph that holds a Softmax to the batch-1 shape with its other axes
    reversed: a wrong shape at batch 1, and a failure to run at any other batch."""
    import keras

    converted = _onnx2keras(model, input_names)
    if "Softmax" not in _ops(model):
        return converted
    outputs = converted.outputs if isinstance(converted.outputs, list) else [converted.outputs]
    return keras.Model(converted.inputs, [keras.ops.reshape(o, (1, *o.shape[1:][::-1])) for o in outputs])


# ---- a cause rule: a symbolic input dim (roundtrip.oracle.symbolic) ------------------------------------------
def _zero_dim_check(node: Any) -> None:
    """Each op converter meets the 0 in its own words, as onnx2keras' do when it reads a symbolic dim as 0."""
    if node.op_type == "Flatten":
        raise ValueError("planted: Flatten cannot flatten a 0-sized axis")
    if node.op_type == "Reshape":
        raise IndexError("planted: the Reshape target reads past a 0-sized shape")
    if node.op_type == "Relu":
        raise TypeError("planted: Relu takes the 0-sized batch for no shape at all")


def symbolic_batch_as_zero(model: Any, input_names: list[str]) -> Any:
    """onnx2keras reading the input's batch by `dim_value` (0 for a symbolic "N"): a Flatten, a Reshape and a
    Relu fail on it, each in its own words; the same graph with the batch fixed converts.  A Transpose with an
    identity perm fails whatever the batch (another bug)."""
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    for node in model.graph.node:
        if not batch.dim_value:
            _zero_dim_check(node)
        _transpose_cases(node)
    return _onnx2keras(model, input_names)


# ---- ONNX -> Keras without a converter: a Keras model built for a graph of Relu nodes alone ----
# The axis order the planted model gives its output in: (batch, d1, d2) comes out as (d1, d2, batch).
AXES_MOVED = (1, 2, 0)


def _relu_model(model: Any, shift: float) -> Any:
    """The Keras model of a graph of one input of rank 3 and Relu nodes: relu(x), its axes in the order
    `AXES_MOVED`, plus `shift`."""
    import keras

    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = keras.Input(tuple(dims))
    return keras.Model(x, keras.ops.add(keras.ops.transpose(keras.ops.relu(x), AXES_MOVED), shift))


def relu_axes_moved(model: Any, input_names: list[str]) -> Any:
    """The graph's values, right, with the axes of its output in another order (`AXES_MOVED`)."""
    return _relu_model(model, 0.0)


def relu_axes_moved_and_shifted(model: Any, input_names: list[str]) -> Any:
    """The output of `relu_axes_moved` plus 0.5: wrong values in every axis order."""
    return _relu_model(model, 0.5)
