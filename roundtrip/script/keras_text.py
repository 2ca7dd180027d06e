"""A Keras model spec as the plain Keras code a user writes, its weights set inline or drawn."""

from __future__ import annotations

import ast
import importlib.util
import keyword
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from roundtrip.layers import LAYERS
from roundtrip.script.arrays import drawn, fits_inline, literal
from roundtrip.spec import LayerSpec, ModelSpec

# Names the script uses at its top level: a tensor named so gets a trailing "_".
TAKEN = {"keras", "tf", "np", "onnx", "ort", "tf2onnx", "model", "onnx_model", "session", "expected", "actual",
         "signature", "function", "rng", "x", "CenterCropReshape", "os", "tempfile", "path", "layer"}


def model_lines(spec: ModelSpec) -> list[str]:
    """Statements that make `model`."""
    if spec.sequential:
        first = spec.inputs[0]
        layers = [f"keras.Input(shape={first.declared!r}, name={text(first.name)})"]
        layers += [layer_call(layer, k) for k, layer in enumerate(spec.layers)]
        if sum(len(item) for item in layers) < 80:
            return [f"model = keras.Sequential([{', '.join(layers)}])"]
        return ["model = keras.Sequential([", *(f"    {item}," for item in layers), "])"]
    lines = [f"{var(i.name)} = keras.Input(shape={i.declared!r}, name={text(i.name)})" for i in spec.inputs]
    for k, layer in enumerate(spec.layers):
        args = one_or_list([var(name) for name in layer.inputs])
        lines.append(f"{var(layer.name)} = {layer_call(layer, k)}({args})")
    ins = one_or_list([var(i.name) for i in spec.inputs])
    outs = one_or_list([var(o) for o in spec.outputs])
    return [*lines, f"model = keras.Model({ins}, {outs})"]


def weight_lines(spec: ModelSpec, weights: Mapping[str, np.ndarray]) -> list[str]:
    """`set_weights` for each layer that has weights: written out when small, else drawn (seeded)."""
    lines: list[str] = []
    for layer in spec.layers:
        arrays = [weights[key] for key in sorted((k for k in weights if k.split("/")[0] == layer.name),
                                                  key=lambda k: int(k.split("/")[1]))]
        if not arrays:
            continue
        if fits_inline(arrays):
            values = ", ".join(literal(a) for a in arrays)
            lines.append(f"model.get_layer({text(layer.name)}).set_weights([{values}])")
            continue
        if not any(line.startswith("rng =") for line in lines):
            lines.append("rng = np.random.default_rng(0)  # the bigger weights: any values show the bug")
        values = ", ".join(drawn(tuple(a.shape), a.dtype.name) for a in arrays)
        lines.append(f"model.get_layer({text(layer.name)}).set_weights([{values}])")
    return lines


def layer_call(layer: LayerSpec, index: int) -> str:
    """The Keras layer, as `roundtrip.layers.build_layer` makes it."""
    params = LAYERS[layer.kind].check_params(layer.p, f"layers[{index}].params")
    name = f"name={text(layer.name)}"
    if layer.kind == "Activation":
        if params["activation"] == "softmax":
            return f"keras.layers.Softmax(axis={params['axis']!r}, {name})"
        return f"keras.layers.Activation({text(params['activation'])}, {name})"
    if layer.kind == "CenterCropReshape":
        return f"CenterCropReshape(height={params['height']!r}, width={params['width']!r}, {name})"
    if LAYERS[layer.kind].build is not None:
        raise ValueError(f"{layer.kind} has a builder of its own that repro.py does not know how to write")
    args = "".join(f"{key}={text(value)}, " for key, value in params.items())
    return f"keras.layers.{layer.kind}({args}{name})"


def uses_custom_layer(spec: ModelSpec) -> bool:
    return any(layer.kind == "CenterCropReshape" for layer in spec.layers)


def custom_layer_source() -> str:
    """CenterCropReshape's class statement, read from roundtrip/custom.py's text (importing the module would
    import TensorFlow), under the registration decorator."""
    found = importlib.util.find_spec("roundtrip.custom")
    assert found is not None and found.origin is not None, "roundtrip.custom is missing"
    source_text = Path(found.origin).read_text()
    node = next(n for n in ast.parse(source_text).body if isinstance(n, ast.ClassDef) and n.name == "CenterCropReshape")
    segment = ast.get_source_segment(source_text, node)  # from the `class` line: decorators are not part of it
    assert segment is not None
    return '@keras.saving.register_keras_serializable(package="roundtrip")\n' + segment


def text(value: Any) -> str:
    """A Python literal: repr, with plain strings in double quotes."""
    if isinstance(value, str) and '"' not in value and "\\" not in repr(value):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "(" + ", ".join(text(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def var(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) or name in TAKEN else name


def one_or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"
