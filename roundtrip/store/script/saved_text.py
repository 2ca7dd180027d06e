"""A saved functional Keras model as the code a user writes: an Input per input, a constructor line per layer
(only the settings that differ from the layer's defaults), `keras.Model`, the weights set inline.

For a model entry's script (`roundtrip.store.model_entry`) whose model is made of Keras' own layers but with
settings the spec vocabulary does not draw (a Normalization given its mean and variance): shorter to read than
the model's JSON config.  Whether the code shows the bug is the script's run to say, as for every script.
"""

from __future__ import annotations

import json
from typing import Any

from roundtrip.store.script.arrays import INLINE_LIMIT, literal

MAX_LINE = 2000  # characters of one constructor line


def layer_lines(model: Any) -> list[str]:
    """Statements that make `model` (the same layers, settings, names and weights); [] when it is not a functional
    model of Keras' own layers each called once on tensors the code names, or its weights are too big to write."""
    import keras

    if type(model).__name__ != "Functional" or any(w.size > INLINE_LIMIT for w in model.get_weights()):
        return []
    names: dict[int, str] = {}
    lines = []
    for k, tensor in enumerate(model.inputs):
        names[id(tensor)] = f"in{k}"
        dtype = "" if str(tensor.dtype) == "float32" else f", dtype={code(str(tensor.dtype))}"
        source_name = tensor._keras_history[0].name
        lines.append(f"in{k} = keras.Input(shape={tuple(tensor.shape[1:])!r}{dtype}, name={code(source_name)})")
    for k, layer in enumerate(la for la in model.layers if type(la).__name__ != "InputLayer"):
        made = call_line(keras, layer, names, f"x{k + 1}")
        if made is None:
            return []
        lines.append(made)
    try:
        outs = [names[id(t)] for t in model.outputs]
        ins = [names[id(t)] for t in model.inputs]
    except KeyError:
        return []
    lines.append(f"model = keras.Model({one_or_list(ins)}, {one_or_list(outs)}, name={code(model.name)})")
    for layer in model.layers:
        if layer.get_weights():
            values = ", ".join(literal(w) for w in layer.get_weights())
            lines.append(f"model.get_layer({code(layer.name)}).set_weights([{values}])")
    return lines


def call_line(keras: Any, layer: Any, names: dict[int, str], var: str) -> str | None:
    """`var = keras.layers.Kind(settings)(inputs)` for `layer`; None when it cannot be written so."""
    kind = type(layer).__name__
    if getattr(keras.layers, kind, None) is not type(layer) or len(layer._inbound_nodes) != 1:
        return None
    node = layer._inbound_nodes[0]
    sources = [names.get(id(t)) for t in node.input_tensors]
    if None in sources or any(v is not None for v in node.arguments.kwargs.values()):
        return None
    outputs = keras.tree.flatten(layer.output)
    if len(outputs) != 1:
        return None
    settings = changed_settings(type(layer), layer.get_config())
    if settings is None:
        return None
    args = ", ".join([*(f"{key}={code(value)}" for key, value in settings.items()), f"name={code(layer.name)}"])
    line = f"{var} = keras.layers.{kind}({args})({one_or_list([s for s in sources if s])})"
    names[id(outputs[0])] = var
    return line if len(line) <= MAX_LINE else None


def changed_settings(cls: Any, config: dict[str, Any]) -> dict[str, Any] | None:
    """The settings of `config` that a layer of class `cls` made with its required arguments alone does not have
    (those, and its dtype policy by name when not float32); None when a setting to write is not plain data."""
    import inspect

    required = [name for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self"
                and p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    try:
        default = cls(**{name: config[name] for name in required}).get_config()
    except Exception:  # noqa: BLE001 - a layer that cannot be made so: every setting is written
        default = {}
    default = {k: v for k, v in default.items() if k not in required}
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("name", "trainable") or default.get(key) == value and key in default:
            continue
        if key == "dtype":
            policy = value.get("config", {}).get("name") if isinstance(value, dict) else value
            if policy != "float32":
                out[key] = policy
            continue
        if not plain(value):
            return None
        out[key] = value
    return out


def plain(value: Any) -> bool:
    """Whether `value` is data whose repr is its Python literal (no objects, no serialized Keras config)."""
    if isinstance(value, dict):
        return "class_name" not in value and all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def code(value: Any) -> str:
    """A plain value as a Python literal, strings in double quotes (as the rest of a script writes them)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{code(k)}: {code(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(code(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(code(v) for v in value) + "]"
    return repr(value)


def one_or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"
