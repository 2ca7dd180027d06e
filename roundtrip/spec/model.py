"""Model specs: plain, frozen data describing a DAG of Keras layers.

A spec is what Hypothesis draws and shrinks, what the corpus stores as JSON, and what
`roundtrip.build_keras` turns into a Keras model.  Shapes are computed here, from the layer
table in `roundtrip.spec.layers`, without importing Keras.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roundtrip.spec.layers import LAYERS
from roundtrip.spec.values import Dim, Shape, ShapeError, SpecError, Value, _freeze, _thaw, numel, shown

__all__ = ["SCHEMA_VERSION", "Dim", "InputSpec", "LayerSpec", "ModelSpec", "Shape", "ShapeError", "SpecError",
           "Value", "numel", "shown"]

SCHEMA_VERSION = 1
# Keras dtype policies a model is drawn with (float32 first: examples shrink to it).
DTYPES = ("float32", "float16", "bfloat16", "mixed_float16", "float64")

@dataclass(frozen=True)
class InputSpec:
    """One model input.  `shape` excludes the batch axis and is always concrete: it is the size the
    strategy drew parameters for.  With `dynamic`, every spatial axis (all but the last, for rank >= 3
    with the batch) is declared None in Keras.  `ids` > 0 makes it an int32 input of token ids in
    [0, ids), read only by Embedding layers; 0 is a float32 input."""

    name: str
    shape: tuple[int, ...]
    dynamic: bool = False
    ids: int = 0

    @property
    def declared(self) -> Shape:
        if not self.dynamic or len(self.shape) < 2:
            return self.shape
        return (None,) * (len(self.shape) - 1) + (self.shape[-1],)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: `name` is both its output tensor's name and the Keras layer's name."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    params: tuple[tuple[str, Value], ...] = ()

    @staticmethod
    def make(name: str, kind: str, inputs: tuple[str, ...] | str, **params: Any) -> LayerSpec:
        ins = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        return LayerSpec(name, kind, ins, tuple(sorted((k, _freeze(v)) for k, v in params.items())))

    @property
    def p(self) -> dict[str, Value]:
        return dict(self.params)

    def call_text(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        ins = ", ".join(self.inputs)
        ins = f"[{ins}]" if len(self.inputs) > 1 else ins
        return f"{self.kind}({args})({ins})"


@dataclass(frozen=True)
class ModelSpec:
    """A model: inputs, layers in topological order, and the names of the output tensors.

    `seed` drives the weights and the input values.  `sequential` asks for a `keras.Sequential`
    (only valid for a single-input, single-output chain); `subclassed` for a subclass of `keras.Model`
    whose `call` applies the layers (built by calling it once; it has no symbolic inputs or outputs).
    `dtype` is the model's Keras dtype policy (one of DTYPES): every layer computes in it; the inputs stay
    float32 and are cast by the layers."""

    inputs: tuple[InputSpec, ...]
    layers: tuple[LayerSpec, ...]
    outputs: tuple[str, ...]
    seed: int = 0
    sequential: bool = False
    dtype: str = "float32"
    subclassed: bool = False
    _shapes: dict[str, tuple[Shape, Shape]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shapes", _infer(self))

    # ---- shapes ----------------------------------------------------------------------------
    def declared_shape(self, name: str) -> Shape:
        """The shape Keras declares for tensor `name`, batch first (None)."""
        return (None,) + self._shapes[name][0]

    def concrete_shape(self, name: str, batch: int | None = None) -> Shape:
        """The shape tensor `name` has when the inputs have their drawn sizes."""
        return (batch,) + self._shapes[name][1]

    def shapes_at(self, sizes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """Concrete shapes (without batch) of every tensor for other input sizes.  Raises SpecError
        when a layer is invalid at those sizes."""
        inputs = tuple(InputSpec(i.name, tuple(sizes.get(i.name, i.shape)), False, i.ids) for i in self.inputs)
        spec = ModelSpec(inputs, self.layers, self.outputs, self.seed, self.sequential, self.dtype, self.subclassed)
        return {name: c for name, (_, c) in spec._shapes.items()}  # type: ignore[misc]

    @property
    def dynamic(self) -> bool:
        return any(i.dynamic and len(i.shape) >= 2 for i in self.inputs)

    # ---- text forms ------------------------------------------------------------------------
    def pretty(self) -> str:
        """One line per tensor, each with its declared shape (and its drawn shape where they differ)."""
        lines = []
        for i in self.inputs:
            ids = f", int32 ids < {i.ids}" if i.ids else ""
            lines.append(f"{i.name} = Input(shape={_shape_text(i.declared)}{ids})" + self._comment(i.name))
        for layer in self.layers:
            lines.append(f"{layer.name} = {layer.call_text()}" + self._comment(layer.name))
        kind = "Sequential" if self.sequential else "subclassed Model" if self.subclassed else "Model"
        policy = f", dtype policy {self.dtype}" if self.dtype != "float32" else ""
        lines.append(f"{kind}(outputs=[{', '.join(self.outputs)}])   # seed={self.seed}{policy}")
        width = max(len(line.split("   #")[0]) for line in lines)
        return "\n".join(_align(line, width) for line in lines)

    def _comment(self, name: str) -> str:
        declared, concrete = self.declared_shape(name), self.concrete_shape(name)
        text = f"   # {_shape_text(declared)}"
        if declared != concrete:
            text += f" at {_shape_text(concrete)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        policy = {"dtype": self.dtype} if self.dtype != "float32" else {}  # older entries read the same
        form = {"subclassed": True} if self.subclassed else {}
        return policy | form | {
            "schema": SCHEMA_VERSION,
            "seed": self.seed,
            "sequential": self.sequential,
            "inputs": [{"name": i.name, "shape": list(i.shape), "dynamic": i.dynamic}
                       | ({"ids": i.ids} if i.ids else {}) for i in self.inputs],
            "layers": [
                {"name": la.name, "kind": la.kind, "inputs": list(la.inputs),
                 "params": {k: _thaw(v) for k, v in la.params}}
                for la in self.layers
            ],
            "outputs": list(self.outputs),
        }

    def to_json(self) -> str:
        """JSON with one input or layer per line (stable key order, so equal specs give equal text)."""
        parts = []
        for key, value in sorted(self.to_dict().items()):
            if isinstance(value, list) and value and isinstance(value[0], dict):
                rows = ",\n    ".join(json.dumps(v, sort_keys=True) for v in value)
                parts.append(f'  "{key}": [\n    {rows}\n  ]')
            else:
                parts.append(f'  "{key}": {json.dumps(value)}')
        return "{\n" + ",\n".join(parts) + "\n}\n"

    @staticmethod
    def from_json(text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError("spec", f"not JSON ({e})") from None
        return ModelSpec.from_dict(data)

    @staticmethod
    def from_dict(data: Any) -> ModelSpec:
        return _parse(data)


# ---- shape inference ------------------------------------------------------------------------
def _infer(spec: ModelSpec) -> dict[str, tuple[Shape, Shape]]:
    shapes: dict[str, tuple[Shape, Shape]] = {}
    for k, i in enumerate(spec.inputs):
        where = f"inputs[{k}]"
        _check_name(i.name, shapes, f"{where}.name")
        if not i.shape or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in i.shape):
            raise SpecError(f"{where}.shape", f"want positive integers, got {list(i.shape)!r}")
        if not isinstance(i.ids, int) or isinstance(i.ids, bool) or i.ids < 0:
            raise SpecError(f"{where}.ids", f"want an integer >= 0 (0: not token ids), got {i.ids!r}")
        shapes[i.name] = (i.declared, i.shape)
    ids = {i.name: i.ids for i in spec.inputs if i.ids}
    for k, layer in enumerate(spec.layers):
        where = f"layers[{k}]"
        _check_name(layer.name, shapes, f"{where}.name")
        entry = LAYERS.get(layer.kind)
        if entry is None:
            raise SpecError(f"{where}.kind", f"unknown layer {layer.kind!r}")
        if len(layer.inputs) not in entry.arity:
            raise SpecError(f"{where}.inputs", f"{layer.kind} takes {entry.arity} inputs, got {len(layer.inputs)}")
        for j, src in enumerate(layer.inputs):
            if src not in shapes:
                raise SpecError(f"{where}.inputs[{j}]", f"no tensor named {src!r} before this layer")
        params = entry.check_params(layer.p, f"{where}.params")
        _check_ids(layer, params, ids, where)
        declared = [shapes[s][0] for s in layer.inputs]
        concrete = [shapes[s][1] for s in layer.inputs]
        try:
            shapes[layer.name] = (entry.shape(params, declared), entry.shape(params, concrete))
        except ShapeError as e:
            shown = concrete[0] if len(concrete) == 1 else concrete
            raise SpecError(where, f"{layer.call_text()} is invalid on {shown}: {e}") from None
    if spec.dtype not in DTYPES:
        raise SpecError("dtype", f"want one of {list(DTYPES)}, got {spec.dtype!r}")
    if not spec.outputs:
        raise SpecError("outputs", "a model needs at least one output")
    for j, out in enumerate(spec.outputs):
        if out not in shapes:
            raise SpecError(f"outputs[{j}]", f"no tensor named {out!r}")
    for j, out in enumerate(spec.outputs):
        if out in ids:
            raise SpecError(f"outputs[{j}]", f"{out!r} holds token ids: only an Embedding reads it")
    if spec.sequential:
        _check_chain(spec)
    if spec.sequential and spec.subclassed:
        raise SpecError("subclassed", "a model is Sequential or subclassed, not both")
    return shapes


def _check_ids(layer: LayerSpec, params: dict[str, Any], ids: Mapping[str, int], where: str) -> None:
    """An input of token ids is read by Embedding layers only, each with room for every id; an Embedding
    reads nothing else."""
    reads = [s for s in layer.inputs if s in ids]
    if layer.kind != "Embedding" and reads:
        raise SpecError(f"{where}.inputs", f"{reads[0]!r} holds token ids: only an Embedding reads it")
    if layer.kind == "Embedding" and not reads:
        raise SpecError(f"{where}.inputs", "an Embedding reads an input of token ids")
    if layer.kind == "Embedding" and params["input_dim"] < ids[reads[0]]:
        raise SpecError(f"{where}.params.input_dim", f"want at least {ids[reads[0]]} (the ids of {reads[0]!r}), "
                                                     f"got {params['input_dim']}")


def _check_name(name: Any, taken: Mapping[str, Any], path: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise SpecError(path, f"want an identifier, got {name!r}")
    if name in taken:
        raise SpecError(path, f"duplicate tensor name {name!r}")


def _check_chain(spec: ModelSpec) -> None:
    if len(spec.inputs) != 1 or len(spec.outputs) != 1:
        raise SpecError("sequential", "a Sequential model has one input and one output")
    previous = spec.inputs[0].name
    for k, layer in enumerate(spec.layers):
        if layer.inputs != (previous,):
            raise SpecError(f"layers[{k}].inputs", f"a Sequential model is a chain; expected [{previous!r}]")
        entry = LAYERS[layer.kind]
        if entry.pick(entry.check_params(layer.p, f"layers[{k}].params")) is not None:
            raise SpecError(f"layers[{k}]", f"a Sequential model cannot pick one of {layer.kind}'s outputs")
        previous = layer.name
    if spec.outputs[0] != previous:
        raise SpecError("outputs[0]", f"a Sequential model outputs its last layer {previous!r}")


# ---- JSON parsing with field paths ----------------------------------------------------------
def _parse(data: Any) -> ModelSpec:
    obj = _want(data, dict, "spec")
    version = obj.get("schema")
    if version != SCHEMA_VERSION:
        raise SpecError("schema", f"unsupported schema version {version!r} (this build reads {SCHEMA_VERSION})")
    _no_extra(obj, {"schema", "seed", "sequential", "subclassed", "dtype", "inputs", "layers", "outputs"}, "spec")
    seed = _want(obj.get("seed", 0), int, "seed")
    sequential = _want(obj.get("sequential", False), bool, "sequential")
    inputs = []
    for k, raw in enumerate(_want(obj.get("inputs"), list, "inputs")):
        where = f"inputs[{k}]"
        item = _want(raw, dict, where)
        _no_extra(item, {"name", "shape", "dynamic", "ids"}, where)
        shape = _want(item.get("shape"), list, f"{where}.shape")
        for j, d in enumerate(shape):
            _want(d, int, f"{where}.shape[{j}]")
        inputs.append(InputSpec(_want(item.get("name"), str, f"{where}.name"), tuple(shape),
                                _want(item.get("dynamic", False), bool, f"{where}.dynamic"),
                                _want(item.get("ids", 0), int, f"{where}.ids")))
    layers = []
    for k, raw in enumerate(_want(obj.get("layers"), list, "layers")):
        where = f"layers[{k}]"
        item = _want(raw, dict, where)
        _no_extra(item, {"name", "kind", "inputs", "params"}, where)
        ins = _want(item.get("inputs"), list, f"{where}.inputs")
        for j, s in enumerate(ins):
            _want(s, str, f"{where}.inputs[{j}]")
        params = _want(item.get("params", {}), dict, f"{where}.params")
        layers.append(LayerSpec.make(_want(item.get("name"), str, f"{where}.name"),
                                     _want(item.get("kind"), str, f"{where}.kind"), tuple(ins), **params))
    outputs = _want(obj.get("outputs"), list, "outputs")
    for j, s in enumerate(outputs):
        _want(s, str, f"outputs[{j}]")
    dtype = _want(obj.get("dtype", "float32"), str, "dtype")
    subclassed = _want(obj.get("subclassed", False), bool, "subclassed")
    return ModelSpec(tuple(inputs), tuple(layers), tuple(outputs), seed, sequential, dtype, subclassed)


def _want(value: Any, kind: type, path: str) -> Any:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise SpecError(path, f"want {kind.__name__}, got {value!r}")
    return value


def _no_extra(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise SpecError(f"{path}.{extra[0]}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


# ---- printing helpers -----------------------------------------------------------------------
def _shape_text(shape: Shape) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _align(line: str, width: int) -> str:
    if "   #" not in line:
        return line
    code, comment = line.split("   #", 1)
    return code.ljust(width) + "   #" + comment
