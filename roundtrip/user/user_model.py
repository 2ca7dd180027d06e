"""A user's own Keras model (`roundtrip check MODEL`): loaded, described, checked through a converter path (and
back), cut at a layer, and made a spec when every layer is in the vocabulary.

Everything here runs in a worker process (`run_user_job` is the task of the pool `roundtrip check` starts), so a
converter that crashes or hangs on the user's model is a finding, not the end of the command.  The checks are
the engine's own (`roundtrip.oracle.check.keras_to_onnx` and `round_trip`): the same oracle, blame and names; what
differs is where the model comes from (the user's file, never changed) and how the first layer that goes wrong
is found (a copy of the model that outputs every layer, else a bisection over cut models, as Polygraphy's
`debug reduce` moves the graph's outputs).

Loading is Keras' safe mode: custom layers by their registered name, from the module the user names
(`--custom-objects`); a Lambda layer is refused, nothing is unpickled.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roundtrip.finding.findings import Stage
from roundtrip.oracle.outcome import Case, Job, Outcome, Report
from roundtrip.spec.model import InputSpec, LayerSpec, ModelSpec, SpecError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
SPATIAL = 32  # the size of an unknown (None) dim that is not the batch, when no --inputs are given
OTHER_SPATIAL = 33  # the size of the case at other spatial sizes (the other parity: some bugs show at one only)


class BadInput(ValueError):
    """The model given cannot be checked: the message is one line naming the file and the problem."""


@dataclass
class Described:
    """What the user's model is: its inputs, its layers in order (name, class), its size, and its spec when every
    layer is in the vocabulary.  `problem` is a bad input's one line (the rest is then empty)."""

    problem: str = ""
    inputs: list[tuple[str, tuple[int | None, ...], str]] = field(default_factory=list)
    outputs: int = 0
    layers: list[tuple[str, str]] = field(default_factory=list)
    params: int = 0
    spec: str = ""  # ModelSpec JSON, "" when some layer is not in the vocabulary
    not_spec: str = ""  # why not


@dataclass
class Checked:
    """A check of the user's model: the engine's Outcome, the worst error against the tolerance over every
    output and case that ran, the layer each mismatch was named after, what a `describe` gives when the job
    asked for it (`save`), and how far the inputs move the outputs against the tolerance (`margins.spread`)."""

    outcome: Outcome
    worst: tuple[float, float] | None = None  # (|actual - expected|, its tolerance) where their ratio is largest
    layer: str = ""  # the name of the first layer whose own output differs, when a mismatch found one
    described: Described | None = None
    spread: float | None = None


# ---- loading ------------------------------------------------------------------------------------------------
def kind_of(path: Path) -> str:
    """"keras" (a .keras, .h5 or SavedModel folder) or "onnx"; BadInput for anything else."""
    if not path.exists():
        raise BadInput(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "keras"
        raise BadInput(f"{path}: a folder without saved_model.pb (not a SavedModel)")
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix in KERAS_SUFFIXES:
        return "keras"
    raise BadInput(f"{path}: not a .keras, .h5, .onnx file or a SavedModel folder")


def check_readable(path: Path) -> None:
    """BadInput when the file cannot be read or is not what its name says (a .keras is a zip, a .h5 HDF5)."""
    if path.is_dir():
        return
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise BadInput(f"{path}: unreadable ({e.strerror})") from None
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise BadInput(f"{path}: not a .keras archive (not a zip file)")
    if path.suffix in (".h5", ".hdf5") and head != b"\x89HDF\r\n\x1a\n":
        raise BadInput(f"{path}: not an HDF5 file")


def import_custom(name: str) -> Any:
    """The module of custom objects the user names: a module name importable from here, or a .py file.
    Importing it registers its layers (`keras.saving.register_keras_serializable`)."""
    if not name:
        return None
    try:
        if name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(name).stem, name)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            return module
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - the user's module: whatever it raises is a bad input
        raise BadInput(f"--custom-objects {name}: cannot import it ({type(e).__name__}: {e})") from None


_CACHE: dict[tuple[str, str, float], Any] = {}


def load(path: str, custom: str, fresh: bool = False) -> Any:
    """The user's model as a Keras model (a SavedModel wrapped in a functional model); BadInput when it does
    not load.  Kept per worker unless `fresh` (a cut changes the model's layers: it gets a fresh copy)."""
    file = Path(path)
    key = (str(file.resolve()), custom, file.stat().st_mtime if file.exists() else 0.0)
    if not fresh and key in _CACHE:
        return _CACHE[key]
    kind_of(file)
    check_readable(file)
    import_custom(custom)
    model = _saved_model(file) if file.is_dir() else _one_node_each(_keras_file(file, custom))
    if not getattr(model, "inputs", None):
        raise BadInput(f"{file}: the model has no inputs (a subclassed model saved before it was built?)")
    if not fresh:
        _CACHE.clear()
        _CACHE[key] = model
    return model


def _keras_file(file: Path, custom: str) -> Any:
    import keras

    lambdas = _classes_in(file) & {"Lambda"}
    if lambdas:
        raise BadInput(f"{file}: holds a Lambda layer (Python code in the file: refused; use a registered layer)")
    try:
        return keras.saving.load_model(str(file), compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - Keras' own error, read for the one line it means
        unknown = _unknown_classes(file)
        if unknown:
            hint = f" (--custom-objects {custom} does not register it)" if custom else \
                " (give --custom-objects MODULE that registers it)"
            raise BadInput(f"{file}: unknown custom layer {', '.join(repr(u) for u in unknown)}{hint}") from None
        raise BadInput(f"{file}: Keras cannot load it ({type(e).__name__}: {_first_line(str(e))})") from None


def _one_node_each(model: Any) -> Any:
    """The model, or for a Sequential whose layers hold several nodes its clone with the same weights.  Keras
    (3.15) loads a Sequential by adding its layers one at a time, rebuilding at each: every layer then holds a
    node per rebuild, only the last of them in the model's graph, and its `output` is its first."""
    import keras

    if not isinstance(model, keras.Sequential) or all(len(la._inbound_nodes) <= 1 for la in layers_of(model)):
        return model
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _saved_model(folder: Path) -> Any:
    """A SavedModel as a functional model around keras.layers.TFSMLayer (Keras 3 loads no SavedModel as a
    model): its `serve` endpoint (Keras' export), else `serving_default`, with one input."""
    import keras
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(folder))
    except Exception as e:  # noqa: BLE001
        raise BadInput(f"{folder}: TensorFlow cannot load the SavedModel ({_first_line(str(e))})") from None
    endpoint = "serve" if hasattr(loaded, "serve") else "serving_default"
    function = loaded.serve if endpoint == "serve" else loaded.signatures.get("serving_default")
    if function is None:
        raise BadInput(f"{folder}: the SavedModel has neither a `serve` endpoint nor a serving_default signature")
    args, kwargs = function.structured_input_signature if hasattr(function, "structured_input_signature") else \
        ((), {})
    specs = list(args) + list(kwargs.values())
    if len(specs) != 1:
        raise BadInput(f"{folder}: the SavedModel's {endpoint} takes {len(specs)} inputs (one is supported)")
    spec = specs[0]
    x = keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype.name, name="input")
    layer = keras.layers.TFSMLayer(str(folder), call_endpoint=endpoint)
    try:
        return keras.Model(x, layer(x) if endpoint == "serve" else _only(layer(x)))
    except Exception as e:  # noqa: BLE001
        raise BadInput(f"{folder}: its {endpoint} endpoint cannot be called on one tensor ({_first_line(str(e))})") \
            from None


def _only(out: Any) -> Any:
    return next(iter(out.values())) if isinstance(out, dict) and len(out) == 1 else out


def _config(file: Path) -> Any:
    """The model's config (the JSON of a .keras archive, or the model_config attribute of an .h5)."""
    try:
        if file.suffix == ".keras":
            with zipfile.ZipFile(file) as archive:
                return json.loads(archive.read("config.json"))
        import h5py

        with h5py.File(file, "r") as h5:
            text = h5.attrs.get("model_config")
            return json.loads(text) if text else {}
    except Exception:  # noqa: BLE001 - no config to read: Keras' own message stands
        return {}


def _layer_configs(config: Any) -> list[dict[str, Any]]:
    """Every layer config inside a model config, nested models' too."""
    found = []
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item and isinstance(item.get("config"), dict):
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _classes_in(file: Path) -> set[str]:
    return {str(c["class_name"]) for c in _layer_configs(_config(file))}


def _unknown_classes(file: Path) -> list[str]:
    """The custom layers of the file's config that nothing registered (by registered name, else class name)."""
    import keras

    unknown = []
    for c in _layer_configs(_config(file)):
        name = c.get("registered_name") or c["class_name"]
        module = str(c.get("module") or "")
        if module.startswith("keras") or name in ("Functional", "Sequential") or name.startswith("__"):
            continue
        if keras.saving.get_registered_object(name) is None and name not in unknown:
            unknown.append(str(name))
    return unknown


def _first_line(text: str) -> str:
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if line.strip()]
    return lines[0][:200] if lines else "no message"


# ---- describing -----------------------------------------------------------------------------------------------
def layers_of(model: Any) -> list[Any]:
    """The model's layers in order, inputs left out."""
    return [la for la in model.layers if type(la).__name__ != "InputLayer"]


def describe(model: Any) -> Described:
    spec, why = as_spec(model)
    try:
        names = [i.name for i in input_specs(model)]
    except BadInput as e:
        return Described(problem=str(e))
    return Described(inputs=[(n, tuple(t.shape[1:]), str(t.dtype)) for n, t in zip(names, model.inputs, strict=True)],
                     outputs=len(model.outputs), layers=[(la.name, type(la).__name__) for la in layers_of(model)],
                     params=int(model.count_params()), spec=spec.to_json() if spec else "", not_spec=why)


def _input_name(tensor: Any, k: int) -> str:
    """An identifier for input k (the tensor's name where it is one)."""
    name = re.sub(r"\W", "_", str(getattr(tensor, "name", "") or "").split(":")[0])
    return name if name.isidentifier() and not name.startswith("keras_tensor") else f"in{k}"


def input_specs(model: Any) -> tuple[InputSpec, ...]:
    """One InputSpec per model input: its declared dims, unknown ones at SPATIAL.  An input with an unknown dim
    is dynamic (every spatial dim then declared None to the converters: what most models with one unknown dim
    have).  BadInput for an input that is not float."""
    specs = []
    for k, t in enumerate(model.inputs):
        name = _input_name(t, k)
        if "float" not in str(t.dtype):
            raise BadInput(f"input {name!r} is {t.dtype}: only float inputs are checked")
        dims = tuple(t.shape[1:])
        if not dims:
            raise BadInput(f"input {name!r} has no dims besides the batch")
        shape = tuple(SPATIAL if d is None else int(d) for d in dims)
        specs.append(InputSpec(name, shape, dynamic=any(d is None for d in dims) and len(dims) >= 2))
    names = [s.name for s in specs]
    if len(set(names)) < len(names):
        specs = [InputSpec(f"in{k}", s.shape, s.dynamic) for k, s in enumerate(specs)]
    return tuple(specs)


def shape_spec_of(described: Described) -> ModelSpec:
    """shape_spec of the model `described` describes."""
    inputs = tuple(InputSpec(name, tuple(SPATIAL if d is None else d for d in dims),
                             dynamic=any(d is None for d in dims) and len(dims) >= 2)
                   for name, dims, _ in described.inputs)
    return ModelSpec(inputs, (), (inputs[0].name,))


def shape_spec(model: Any) -> ModelSpec:
    """A spec of the model's inputs only (no layers): what a converter path reads of a spec (the signature)."""
    inputs = input_specs(model)
    return ModelSpec(inputs, (), (inputs[0].name,))


# ---- the vocabulary -----------------------------------------------------------------------------------------------
def as_spec(model: Any) -> tuple[ModelSpec | None, str]:
    """The model as a ModelSpec when it is a functional (or Sequential) model of layers of the vocabulary, each
    called once with its vocabulary parameters and every other setting at its default (a layer the table builds
    from those parameters has the same config); else None and why not."""
    import keras

    if not isinstance(model, keras.Sequential) and type(model).__name__ != "Functional":
        return None, f"a {type(model).__name__} (not functional or Sequential)"
    try:
        inputs = input_specs(model)
    except BadInput as e:
        return None, str(e)
    names: dict[int, str] = {id(t): i.name for t, i in zip(model.inputs, inputs, strict=True)}
    taken = set(names.values())
    layers = []
    for k, layer in enumerate(layers_of(model)):
        made = _layer_spec(layer, names, taken, k)
        if isinstance(made, str):
            return None, f"layer {layer.name!r} ({type(layer).__name__}): {made}"
        layers.append(made)
    try:
        outputs = tuple(names[id(t)] for t in model.outputs)
        policy = model.dtype_policy.name
        spec = ModelSpec(inputs, tuple(layers), outputs, sequential=isinstance(model, keras.Sequential), dtype=policy)
    except (KeyError, SpecError) as e:
        return None, f"not a spec ({e})"
    declared = [tuple(t.shape) for t in model.outputs]
    if [spec.declared_shape(o) for o in spec.outputs] != declared:
        return None, "its spec declares other output shapes"
    return spec, ""


def _layer_spec(layer: Any, names: dict[int, str], taken: set[str], k: int) -> LayerSpec | str:
    from roundtrip.spec.layers import LAYERS, build_layer
    from roundtrip.spec.values import freeze

    kind = type(layer).__name__
    entry = LAYERS.get(kind)
    if entry is None:
        return "not in the vocabulary"
    if len(layer._inbound_nodes) != 1 or not isinstance(layer.output, _keras_tensor()):
        return "called more than once, or with several outputs"
    node = layer._inbound_nodes[0]
    sources = [names.get(id(t)) for t in node.input_tensors]
    if None in sources or any(v is not None for v in node.arguments.kwargs.values()):  # mask=None is no input
        return "reads a tensor the spec cannot name"
    config = layer.get_config()
    params = {key: freeze(config[key]) for key in entry.params if key in config}
    try:
        checked = entry.check_params(params, kind)
        made = build_layer(kind, checked, layer.name)
    except (SpecError, TypeError, ValueError) as e:
        return f"its parameters are not the vocabulary's ({e})"
    if type(made) is not type(layer) or _plain_config(made) != _plain_config(layer):
        return "a setting the vocabulary does not draw"
    name = layer.name if layer.name.isidentifier() and layer.name not in taken else f"x{k + 1}"
    while name in taken:
        name += "_"
    taken.add(name)
    names[id(layer.output)] = name
    return LayerSpec.make(name, kind, tuple(sources), **{key: params[key] for key in params})  # type: ignore[arg-type]


def _keras_tensor() -> type:
    import keras

    return keras.KerasTensor  # type: ignore[no-any-return]


def _plain_config(layer: Any) -> str:
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "trainable")}
    return json.dumps(config, sort_keys=True, default=str)


# ---- cutting --------------------------------------------------------------------------------------------------
def cut(model: Any, name: str, alone: bool) -> Any:
    """The model up to layer `name`'s output (its unread inputs left out), or that layer alone on new Inputs
    shaped like the tensors it reads (its weights the same)."""
    import keras

    layer = model.get_layer(name)
    if not alone:
        return _needed_inputs(model.inputs, layer.output)
    node = layer._inbound_nodes[0]
    fresh = {id(t): keras.Input(tuple(t.shape[1:]), dtype=t.dtype, name=f"in{k}")
             for k, t in enumerate(node.input_tensors)}
    args, kwargs = keras.tree.map_structure(
        lambda t: fresh.get(id(t), t), (node.arguments.args, node.arguments.kwargs))
    copy = keras.layers.deserialize(keras.layers.serialize(layer))  # a layer of its own, called once
    model = keras.Model(list(fresh.values()), copy(*args, **kwargs))
    copy.set_weights(layer.get_weights())
    return model


def _needed_inputs(inputs: list[Any], output: Any) -> Any:
    """keras.Model(inputs, output) without the inputs `output` does not read (Keras keeps them otherwise)."""
    import keras

    kept = list(inputs)
    for tensor in list(inputs):
        if len(kept) == 1:
            break
        fewer = [t for t in kept if t is not tensor]
        try:
            keras.Model(fewer, output)
        except ValueError:
            continue
        kept = fewer
    return keras.Model(kept, output)


# ---- inputs and cases ------------------------------------------------------------------------------------------
def plan_cases(model: Any, spec: ModelSpec, inputs_file: str) -> list[Case]:
    """Batch 1 and 3 at SPATIAL for every unknown dim, and for a model with unknown dims batch 2 at OTHER_SPATIAL;
    or the arrays of `inputs_file` (and their first example alone, when they hold more).  Each case allows what
    rounding moves the model's outputs by (`margins.rounding_slack`)."""
    from roundtrip.build.keras import run_keras
    from roundtrip.oracle.margins import float64_twin, rounding_slack

    if inputs_file:
        given = read_inputs(inputs_file, model, spec)
        plans = [given] + ([[a[:1] for a in given]] if given[0].shape[0] > 1 else [])
        sizes: list[dict[str, tuple[int, ...]]] = [{} for _ in plans]
    else:
        plans, sizes = [], []
        for batch, size in [(1, SPATIAL), (3, SPATIAL)] + ([(2, OTHER_SPATIAL)] if spec.dynamic else []):
            shapes = [tuple(size if d is None else int(d) for d in t.shape[1:]) for t in model.inputs]
            plans.append([np.random.default_rng([0, 1 + k, batch, *s]).standard_normal((batch, *s)).astype(np.float32)
                          for k, s in enumerate(shapes)])
            sizes.append({i.name: s for i, s in zip(spec.inputs, shapes, strict=True)} if size != SPATIAL else {})
    twin = float64_twin(model)
    cases = []
    for arrays, named in zip(plans, sizes, strict=True):
        expected = run_keras(model, arrays)
        cases.append(Case(int(arrays[0].shape[0]), named, arrays, expected,
                          slack=rounding_slack(twin, arrays, expected)))
    return cases


def arrays_in(path: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz file given with --inputs, by name; BadInput when it cannot be read."""
    try:
        with np.load(path) as data:
            return dict(data)
    except Exception as e:  # noqa: BLE001
        raise BadInput(f"--inputs {path}: unreadable ({_first_line(str(e))})") from None


def read_inputs(path: str, model: Any, spec: ModelSpec) -> list[np.ndarray]:
    """The arrays of an .npz, one per model input: by input name, else arr_0, arr_1... in order.  BadInput when
    one is missing or does not fit the input's declared dims."""
    arrays = arrays_in(path)
    found = []
    for k, (given, tensor) in enumerate(zip(spec.inputs, model.inputs, strict=True)):
        array = arrays.get(given.name, arrays.get(f"arr_{k}"))
        if array is None:
            raise BadInput(f"--inputs {path}: no array for input {given.name!r} (nor arr_{k})")
        dims = tuple(tensor.shape[1:])
        if array.ndim != len(dims) + 1 or any(d is not None and d != n for d, n in zip(dims, array.shape[1:],
                                                                                       strict=True)):
            raise BadInput(f"--inputs {path}: {given.name!r} has shape {array.shape}, the model takes "
                           f"{(None, *dims)}")
        found.append(array.astype(np.float32))
    if len({a.shape[0] for a in found}) > 1:
        raise BadInput(f"--inputs {path}: the arrays have different batch sizes")
    return found


# ---- locating the first layer that goes wrong -----------------------------------------------------------------
def probe_layers(model: Any) -> list[Any]:
    """The layers whose own output a copy of the model can give: called once, one output."""
    return [la for la in layers_of(model) if len(la._inbound_nodes) == 1 and isinstance(la.output, _keras_tensor())]


def first_wrong(model: Any, inputs: list[np.ndarray], run: Any) -> Any:
    """The first layer (in the model's order) whose own output differs between Keras and `run(model, arrays)`
    (the converted model, run): a copy of the model that outputs every layer; when that copy does not convert or
    run, a bisection over the model cut at each layer (the first cut that differs, taking a cut past the first
    wrong layer to differ too).  None when neither finds one."""
    import keras

    from roundtrip.build.keras import run_keras
    from roundtrip.oracle.compare import close

    layers = probe_layers(model)
    if not layers:
        return None

    def differs(outputs: list[Any], probe: Any) -> int | None:
        try:
            ins = [inputs[model.inputs.index(t)] for t in probe.inputs]
            expected, actual = run_keras(probe, ins), run(probe, ins)
        except Exception:  # noqa: BLE001 - a probe that does not convert or run says nothing
            return None
        for k, (e, a) in enumerate(zip(expected, actual, strict=False)):
            if e.shape != a.shape or not close(a, e).all():
                return k
        return -1

    try:
        whole = keras.Model(model.inputs, [la.output for la in layers])
    except ValueError:
        whole = None
    k = differs(layers, whole) if whole is not None else None
    if k is not None:
        return layers[k] if k >= 0 else None
    low, high = 0, len(layers) - 1  # the last layer's cut is the model itself, which differs
    while low < high:
        middle = (low + high) // 2
        shown = differs([layers[middle]], _needed_inputs(model.inputs, layers[middle].output))
        if shown is not None and shown >= 0:
            high = middle
        else:
            low = middle + 1
    return layers[low]


# ---- the worker's task ------------------------------------------------------------------------------------------
def run_user_job(job: Job, report: Report = lambda stage: None) -> Described | Checked:
    """Describes the user's model (a job without a path) or checks it; a bad input is a Described with its
    problem."""
    report(Stage.BUILD)
    file = job.user
    try:
        model = load(file.model, file.custom, fresh=bool(file.cut))
        if file.cut:
            model = cut(model, file.cut, file.alone)
        if not job.path:
            return describe(model)
        return check(job, model, report)
    except BadInput as e:
        return Described(problem=str(e))


def check(job: Job, model: Any, report: Report) -> Checked:
    from roundtrip.convert.converters import resolve
    from roundtrip.oracle.check import Blamer, keras_to_onnx, round_trip
    from roundtrip.oracle.margins import spread, worst_error

    spec = shape_spec(model)
    cases = plan_cases(model, spec, job.user.inputs)
    outcome = Outcome([], cases)
    converter = resolve(job.path)
    found: list[str] = []

    def locate(case: Case) -> str | None:
        if not job.user.locate:
            return None
        layer = first_wrong(model, case.inputs, _runner(job, converter))
        found.append(layer.name if layer is not None else "")
        return type(layer).__name__ if layer is not None else None

    producers = tuple(_producer(model, t) for t in model.outputs)
    blamer = Blamer(locate, spec, producers)
    if job.back:
        outcome = round_trip(Job(spec.to_json(), job.path, job.opset, job.back), converter.convert, model, spec,
                             outcome, blamer, report)
    else:
        outcome = keras_to_onnx(job.path, converter.convert, model, spec, job.opset, outcome, blamer, report)
    outcome.weights = _weights(model)
    described = _save(model, job.user.save) if job.user.save else None
    layer = next((name for name in found if name), "")
    return Checked(outcome, worst_error(outcome.cases), layer, described, spread(outcome.cases))


def _runner(job: Job, converter: Any) -> Any:
    """How a probe runs converted: through the path to ONNX Runtime, or (a round trip) back to Keras."""
    from roundtrip.convert.back import run_back
    from roundtrip.finding.findings import Error
    from roundtrip.run.runners import OrtSession

    def run(probe: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
        proto = converter.convert(probe, shape_spec(probe), job.opset)
        if not job.back:
            return OrtSession.load(proto.SerializeToString()).run(arrays)
        back = run_back(job.back, proto, [arrays])
        if back.load_error is not None or isinstance(back.outputs[0], Error):
            raise RuntimeError("the probe did not come back")
        return back.outputs[0]

    return run


def _producer(model: Any, tensor: Any) -> str:
    history = getattr(tensor, "_keras_history", None)
    return type(history.operation).__name__ if history is not None else "Input"


def _weights(model: Any) -> dict[str, np.ndarray]:
    from roundtrip.oracle.check import plain

    return {f"{la.name}/{i}": plain(np.asarray(w)) for la in layers_of(model) for i, w in enumerate(la.get_weights())}


def _save(model: Any, folder: str) -> Described:
    """The model saved as folder/model.keras; its spec as folder/spec.json with its weights (by the spec's layer
    names) as folder/weights.npz, when it has one."""
    described = describe(model)
    os.makedirs(folder, exist_ok=True)
    model.save(os.path.join(folder, "model.keras"))
    if described.spec:
        spec = ModelSpec.from_json(described.spec)
        named = {la.name: s.name for la, s in zip(layers_of(model), spec.layers, strict=True)}
        weights = {f"{named[key.split('/')[0]]}/{key.split('/')[1]}": a for key, a in _weights(model).items()}
        np.savez(os.path.join(folder, "weights.npz"), **weights)  # type: ignore[arg-type]
        Path(folder, "spec.json").write_text(described.spec)
    return described
