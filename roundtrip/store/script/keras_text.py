"""A Keras model spec as the plain Keras code a user writes, its weights set inline or drawn."""

from __future__ import annotations

import ast
import importlib.util
import keyword
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from roundtrip.registry import KERAS_TO_ONNX, bound_names, side
from roundtrip.spec.layers import LAYERS, named
from roundtrip.spec.layers import literal as text
from roundtrip.spec.model import LayerSpec, ModelSpec
from roundtrip.store.script.arrays import drawn, fits_inline, literal

# Names the script uses at its top level: a tensor named so gets a trailing "_" (as does one named as what a
# converter's imports bind: `taken`).
TAKEN = {"keras", "tf", "np", "onnx", "ort", "model", "onnx_model", "session", "expected", "actual",
         "signature", "function", "rng", "x", "CenterCropReshape", "os", "tempfile", "path", "layer",
         "gelu_approximate", "threshold_half", "MergeAxes", "StridedLast", "ResizeBy", "GatherAxis", "KeepAbove",
         "Net", "self", "inputs"}


def taken() -> set[str]:
    """TAKEN and the names the Keras -> ONNX converters' imports bind (a registered row's too, when it is
    registered: read at each call, not at import)."""
    return TAKEN | bound_names([line for c in side(KERAS_TO_ONNX) for line in c.imports])
# roundtrip.spec.custom's objects, in the order repro.py defines them.
CUSTOM = ("CenterCropReshape", "MergeAxes", "StridedLast", "ResizeBy", "GatherAxis", "KeepAbove", "gelu_approximate",
          "threshold_half")


def model_lines(spec: ModelSpec) -> list[str]:
    """Statements that make `model` (under the spec's dtype policy, when it is not float32)."""
    policy = [f"keras.config.set_dtype_policy({text(spec.dtype)})"] if spec.dtype != "float32" else []
    return policy + _model_lines(spec)


def _model_lines(spec: ModelSpec) -> list[str]:
    if spec.subclassed:
        return subclass_lines(spec) + ["", "", "model = Net()", build_call(spec)]
    if spec.sequential:
        first = spec.inputs[0]
        layers = [f"keras.Input(shape={first.declared!r}, {_dtype_arg(first.ids)}name={text(first.name)})"]
        layers += [layer_call(layer, k) for k, layer in enumerate(spec.layers)]
        if sum(len(item) for item in layers) < 80:
            return [f"model = keras.Sequential([{', '.join(layers)}])"]
        return ["model = keras.Sequential([", *(f"    {item}," for item in layers), "])"]
    lines = [f"{var(i.name)} = keras.Input(shape={i.declared!r}, {_dtype_arg(i.ids)}name={text(i.name)})"
             for i in spec.inputs]
    lines += [call_line(layer, k) for k, layer in enumerate(spec.layers)]
    ins = one_or_list([var(i.name) for i in spec.inputs])
    outs = one_or_list([var(o) for o in spec.outputs])
    return [*lines, f"model = keras.Model({ins}, {outs})"]


def _dtype_arg(ids: int) -> str:
    return 'dtype="int32", ' if ids else ""


# keras.Model attributes a layer attribute must not take: such a layer is stored under its name and "_".
MODEL_ATTRIBUTES = {"name", "layers", "weights", "inputs", "outputs", "input", "output", "trainable", "dtype", "built",
                    "call", "build", "losses", "metrics", "variables", "optimizer", "compiled"}


def subclass_lines(spec: ModelSpec) -> list[str]:
    """`class Net(keras.Model)`: each layer made in `__init__` (an attribute named after it), applied in
    `call` as `roundtrip.build.keras.apply` applies it; `roundtrip.build.keras` makes a subclassed model from this
    text."""
    attribute = {la.name: la.name + "_" if la.name in MODEL_ATTRIBUTES else la.name for la in spec.layers}
    ins = [var(i.name) for i in spec.inputs]
    lines = ["class Net(keras.Model):", "    def __init__(self):", '        super().__init__(name="roundtrip")']
    lines += [f"        self.{attribute[la.name]} = {layer_call(la, k)}" for k, la in enumerate(spec.layers)]
    lines += ["", f"    def call(self, {ins[0] if len(ins) == 1 else 'inputs'}):"]
    if len(ins) > 1:
        lines.append(f"        {', '.join(ins)} = inputs")
    for k, la in enumerate(spec.layers):
        entry = LAYERS[la.kind]
        names = [var(name) for name in la.inputs]
        args = ", ".join(names) if entry.positional else one_or_list(names)
        pick = entry.pick(entry.check_params(la.p, f"layers[{k}].params"))
        picked = "" if pick is None else f"[{pick}]"
        lines.append(f"        {var(la.name)} = self.{attribute[la.name]}({args}){picked}")
    return [*lines, f"        return {one_or_list([var(o) for o in spec.outputs])}"]


def build_call(spec: ModelSpec) -> str:
    """The first call, on zeros at the drawn sizes, that makes a subclassed model's weights."""
    zeros = one_or_list([f"np.zeros({(1, *i.shape)!r}, np.{'int32' if i.ids else 'float32'})" for i in spec.inputs])
    return f"model({zeros})  # a subclassed model makes its weights on its first call"


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
    """The Keras layer, as `roundtrip.spec.layers.build_layer` makes it (the same expression)."""
    entry = LAYERS[layer.kind]
    return named(entry.expression(layer.kind, entry.check_params(layer.p, f"layers[{index}].params")), layer.name)


def call_line(layer: LayerSpec, index: int) -> str:
    """`x = Layer(...)(inputs)` as `roundtrip.build.keras.apply` calls it."""
    entry = LAYERS[layer.kind]
    names = [var(name) for name in layer.inputs]
    args = ", ".join(names) if entry.positional else one_or_list(names)
    pick = entry.pick(entry.check_params(layer.p, f"layers[{index}].params"))
    return f"{var(layer.name)} = {layer_call(layer, index)}({args})" + ("" if pick is None else f"[{pick}]")


def custom_names(spec: ModelSpec) -> list[str]:
    """The suite's custom objects (roundtrip.spec.custom) that the spec's layer expressions name, in file order."""
    words = set(re.findall(r"\w+", " ".join(layer_call(la, k) for k, la in enumerate(spec.layers))))
    return [name for name in CUSTOM if name in words]


def uses_custom_layer(spec: ModelSpec) -> bool:
    return bool(custom_names(spec))


def custom_layer_source(names: Sequence[str] = ("CenterCropReshape",)) -> str:
    """The named classes and functions of roundtrip/spec/custom.py, read from its text (importing the module
    would import TensorFlow), each under its registration decorator."""
    found = importlib.util.find_spec("roundtrip.spec.custom")
    assert found is not None and found.origin is not None, "roundtrip.spec.custom is missing"
    source_text = Path(found.origin).read_text()
    parts = []
    for node in ast.parse(source_text).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in names:
            segment = ast.get_source_segment(source_text, node)  # from `class`/`def`: decorators are not part of it
            assert segment is not None
            parts.append('@keras.saving.register_keras_serializable(package="roundtrip")\n' + segment)
    return "\n\n\n".join(parts)




def var(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) or name in taken() else name


def one_or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"
