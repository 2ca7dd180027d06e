"""Parts of a spec and how big a spec is: what the oracle cuts out to localise a fault, what the reducer
keeps, and the size every smaller-replaces-larger rule compares."""

from __future__ import annotations

import numpy as np

from roundtrip.spec.graph import GraphSpec
from roundtrip.spec.model import InputSpec, LayerSpec, ModelSpec, SpecError


def size_of(spec: ModelSpec | GraphSpec) -> list[int]:
    """How big a repro is: layers (or nodes), then input elements, then spec text.  Smaller replaces larger."""
    if isinstance(spec, GraphSpec):
        return [len(spec.nodes), int(np.prod(spec.input_shape)), len(spec.to_json())]
    return [len(spec.layers), sum(int(np.prod(i.shape)) for i in spec.inputs), len(spec.to_json())]


def sub_model(spec: ModelSpec, outputs: tuple[str, ...]) -> ModelSpec | None:
    """The part of `spec` that computes `outputs`: their ancestors and the inputs they read (None when
    that is invalid)."""
    return rebuilt(spec, spec.layers, outputs)


def rebuilt(spec: ModelSpec, layers: tuple[LayerSpec, ...], outputs: tuple[str, ...]) -> ModelSpec | None:
    """A model from `spec`'s inputs with these layers and outputs: outputs kept once each, layers no output
    depends on and inputs nothing reads pruned.  None when it is invalid, has no layer, or outputs an input
    `spec` did not already output."""
    outputs = tuple(dict.fromkeys(outputs))
    inputs = {i.name for i in spec.inputs}
    if any(o in inputs and o not in spec.outputs for o in outputs):
        return None
    needed = set(outputs)
    for layer in reversed(layers):
        if layer.name in needed:
            needed.update(layer.inputs)
    kept = tuple(la for la in layers if la.name in needed)
    if not kept:
        return None
    return model_with(spec, tuple(i for i in spec.inputs if i.name in needed), kept, outputs)


def model_with(spec: ModelSpec, inputs: tuple[InputSpec, ...], layers: tuple[LayerSpec, ...],
               outputs: tuple[str, ...]) -> ModelSpec | None:
    """`spec` with these inputs, layers and outputs (its seed and `sequential` kept), or None when that is
    invalid (building it raised SpecError)."""
    try:
        return ModelSpec(inputs, layers, outputs, spec.seed, spec.sequential, spec.dtype, spec.subclassed)
    except SpecError:
        return None
