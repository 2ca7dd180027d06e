"""spec -> Keras model, with weights that depend on the spec's seed alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from roundtrip.spec.layers import LAYERS, build_layer
from roundtrip.spec.model import InputSpec, ModelSpec


def build_keras(spec: ModelSpec) -> Any:
    """A `keras.Model` (a `keras.Sequential`, or a subclass of `keras.Model`, when the spec says so) for `spec`.

    The batch dim is always None; spatial dims are None on dynamic inputs.  Every weight is set from
    `spec.seed` and the layer's position, so the same spec builds bitwise the same model."""
    with dtype_policy(spec.dtype):
        model = _build(spec)
    _set_weights(spec, model)
    return model


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy set to `name` while layers are made (a worker builds many models: it
    is put back after)."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def _build(spec: ModelSpec) -> Any:
    import keras

    if spec.subclassed:
        return _subclassed(spec)
    if spec.sequential:
        model = keras.Sequential([_input(spec.inputs[0])]
                                 + [_layer(layer) for layer in spec.layers], name="roundtrip")
    else:
        tensors = {i.name: _input(i) for i in spec.inputs}
        for layer in spec.layers:
            tensors[layer.name] = apply(layer, _layer(layer), [tensors[name] for name in layer.inputs])
        model = keras.Model(_one_or_list([tensors[i.name] for i in spec.inputs]),
                            _one_or_list([tensors[o] for o in spec.outputs]), name="roundtrip")
    return model


def _subclassed(spec: ModelSpec) -> Any:
    """The `Net` class that repro.py writes (roundtrip.store.script.keras_text.subclass_lines), made from that very
    text, then called once on zeros at the drawn sizes (a subclassed model makes its weights then)."""
    import keras

    from roundtrip.spec import custom
    from roundtrip.store.script.keras_text import subclass_lines

    scope: dict[str, Any] = {"keras": keras, **custom.OBJECTS}
    exec("\n".join(subclass_lines(spec)), scope)  # noqa: S102 - the suite's own text, made from a validated spec
    model = scope["Net"]()
    model(_one_or_list([np.zeros((1, *i.shape), np.int32 if i.ids else np.float32) for i in spec.inputs]),
          training=False)
    return model


def _input(given: InputSpec) -> Any:
    """keras.Input: float32 (the default), int32 for token ids."""
    import keras

    return keras.Input(given.declared, name=given.name, **({"dtype": "int32"} if given.ids else {}))


def _one_or_list(items: list[Any]) -> Any:
    """Keras' own convention: a single tensor where there is one, else a list."""
    return items[0] if len(items) == 1 else items


def run_keras(model: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Inference on `arrays` (one per input, in spec order); one array per output, in spec order."""
    outputs = model(_one_or_list(arrays), training=False)
    return [np.asarray(o) for o in (outputs if isinstance(outputs, list | tuple) else [outputs])]


def apply(layer: Any, keras_layer: Any, args: list[Any]) -> Any:
    """Calls the layer as its table entry says: one tensor, a list, or separate arguments; then picks the
    output the spec names when the layer gives several."""
    entry = LAYERS[layer.kind]
    ins = args if entry.positional else [args[0] if len(args) == 1 else args]
    out = keras_layer(*ins)
    pick = entry.pick(entry.check_params(layer.p, layer.name))
    return out if pick is None else out[pick]


def _layer(layer: Any) -> Any:
    params = LAYERS[layer.kind].check_params(layer.p, layer.name)
    return build_layer(layer.kind, params, layer.name)


def _set_weights(spec: ModelSpec, model: Any) -> None:
    for index, layer in enumerate(spec.layers):
        keras_layer = model.get_layer(layer.name)
        if not keras_layer.weights:
            continue
        rng = np.random.default_rng([spec.seed, index])
        keras_layer.set_weights([_weight(rng, w.name, tuple(w.shape)) for w in keras_layer.weights])


def _weight(rng: np.random.Generator, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Values that keep activations near unit scale, so deep chains neither vanish nor overflow."""
    if name in ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel"):
        fan_in = int(np.prod(shape[:2])) if name == "depthwise_kernel" else int(np.prod(shape[:-1]))
        limit = np.sqrt(3.0 / max(fan_in, 1))
        values = rng.uniform(-limit, limit, shape)
    elif name in ("gamma", "scale"):
        values = rng.uniform(0.5, 1.5, shape)
    elif name == "alpha":  # PReLU's slopes
        values = rng.uniform(0.0, 0.5, shape)
    elif name in ("moving_variance", "variance"):
        values = rng.uniform(0.5, 2.0, shape)
    elif name == "embeddings":
        values = rng.standard_normal(shape)
    elif name in ("moving_mean", "mean"):
        values = rng.normal(0.0, 0.5, shape)
    else:  # bias, beta
        values = rng.normal(0.0, 0.1, shape)
    return values.astype(np.float32)


def shape_mismatches(spec: ModelSpec, model: Any, batch: int) -> list[str]:
    """Where the Keras model disagrees with the spec's shapes: declared output shapes, then the shapes
    of a run at the drawn sizes.  Each line names the output."""
    from roundtrip.spec.inputs import make_inputs

    problems = []
    actual = [a.shape for a in run_keras(model, make_inputs(spec, batch))]
    declared = None if spec.subclassed else model.output_shape if len(spec.outputs) > 1 else [model.output_shape]
    for k, name in enumerate(spec.outputs):
        if declared is not None and tuple(declared[k]) != spec.declared_shape(name):
            problems.append(f"output {k} ({name}): Keras declares {tuple(declared[k])}, "
                            f"the spec {spec.declared_shape(name)}")
        if actual[k] != spec.concrete_shape(name, batch):
            problems.append(f"output {k} ({name}): Keras returns {actual[k]}, "
                            f"the spec says {spec.concrete_shape(name, batch)}")
    return problems
