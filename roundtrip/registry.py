"""What the suite knows of each converter, each package it can blame and each environment: one row each.

A converter row is a configuration of the suite (`tf2onnx-function`, `onnx2keras-nhwc`): the package that owns
its bugs, the call a maintainer knows it by, the environment it runs in, how it lays out tensors, which of its
outputs count as right (as laid out only, or in any axis order), and the text its repro.py imports and calls.
A package row is what a maintainer owns: where its bugs are filed, the modules its frames live in, where it
is installed.  The code that names, renders, files and reports reads the
rows and never says a converter's name; the calls themselves are the adapters'
(`roundtrip.convert.converters` for Keras -> ONNX, `roundtrip.convert.back` for ONNX -> Keras), each table
asserted against these rows (tests/test_registry.py).
A new converter is its row and its adapter (and a pin file when it needs an environment of its own).
A converter of the caller's own (a test's planted one) is registered (`register`) with its package's row, its
adapter named by its row (`Converter.adapter`): the suite then reads it as one of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

KERAS_TO_ONNX = "keras-onnx"  # a converter row's side: it takes a Keras model and gives ONNX
ONNX_TO_KERAS = "onnx-keras"  # it takes an ONNX graph and gives a Keras model

# How an ONNX -> Keras converter's Keras model lays out its tensors.
AS_THE_GRAPH = "as-the-graph"  # as the ONNX graph does
CHANNELS_LAST = "channels-last"  # every tensor of rank >= 3 with its axis 1 moved to the end
RECORDED = "recorded"  # per tensor, as the converter said it chose (the finding's details["layouts"])

# Which of a converter's outputs count as right (`oracle.layouts.taken`), after its layout is undone.
AS_LAID = "as-laid"  # one equal to the expected output as its layout gives it
ANY_ORDER = "any-axis-order"  # one equal to the expected output with its axes in some order: the converter's own
# accuracy check accepts that (onnx2tf's `onnx_tf_tensor_validation` tries every axis permutation that gives the
# expected shape), so its maintainer takes a transposed output for a layout choice, not a bug


@dataclass(frozen=True)
class Package:
    """A package the suite can blame (or whose version it reports): `name` is its distribution name, the
    name an identity says; `environment` None when it is installed in the main environment."""

    name: str
    tracker: str = ""  # where its bugs are filed
    frames: tuple[str, ...] = ()  # the modules its frames live in, in a traceback's paths (default: its name)
    aliases: tuple[str, ...] = ()  # other distributions of it, whose versions are reported too
    environment: str | None = None
    tag: str = ""  # its short name in a replay's versions tag (default: its name)
    gap_unit: str = "ONNX operator"  # what a feature gap of it is missing
    gap_verb: str = "does not convert"
    op_modules: str = ""  # a module of it with one submodule per operator: a frame there names the node kind

    @property
    def modules(self) -> tuple[str, ...]:
        return self.frames or (self.name,)


@dataclass(frozen=True)
class Converter:
    """A converter configuration.  Its repro.py text: `imports` and the `call` lines, which may say {opset},
    {model_call} (the model called on the signature's tensors) and {given} (the signature, where the model
    is subclassed) for Keras -> ONNX, {inputs} (the graph's input names) for ONNX -> Keras; or, for an ONNX ->
    Keras converter called as `function(onnx_model, input_names, arguments)`, `function` and `arguments`."""

    name: str
    package: str  # the package that owns its bugs
    side: str  # KERAS_TO_ONNX or ONNX_TO_KERAS
    api: str  # the call a maintainer knows it by (a Keras -> ONNX title names it)
    environment: str | None = None  # None: the main environment
    layout: str = AS_THE_GRAPH
    orders: str = AS_LAID  # which outputs count as right: AS_LAID or ANY_ORDER
    imports: tuple[str, ...] = ()
    call: tuple[str, ...] = ()
    function: str = ""  # dotted: module.function
    arguments: str = ""
    states: tuple[str, ...] = ()  # the packages whose versions its repro.py states, in order
    loads: tuple[str, ...] = ()  # what importing its package loads that its maintainer asks the version of
    signed: bool = True  # takes the input signature for every model (else a subclassed model's only)
    called_first: str = ""  # why a script calls the model before converting it ("": it need not)
    filing: str = ""  # issue.md's word on where to file, when a bug met through it is its package's
    downloads_images: bool = False  # fetches sample images for 4-D inputs unless its working folder holds them
    typed_initializers_last: bool = False  # reads initializers right only when stored as raw bytes
    again: tuple[str, ...] = ()  # lines making `onnx_again` from `keras_model` (the Keras model that came back)
    again_imports: tuple[str, ...] = ()
    # Builds its Keras Input from the graph inputs' static dims (`dim_value`, 0 for a symbolic dim): every failure
    # a symbolic input dim causes is that one bug, whichever op the 0 reaches first.  Else (False) a converter
    # keeps a symbolic dim symbolic, and a failure only it causes is the code of the op it shows on
    # (roundtrip.oracle.symbolic).
    static_input_dims: bool = False
    # `module:function` of its adapter, for a registered Keras -> ONNX converter of the caller's own (the suite's
    # own are in the adapters' table): called as the table's are, `function(model, spec, opset)`
    adapter: str = ""


@dataclass(frozen=True)
class Environment:
    """A virtual environment of its own, made from the pin file envs/<name>.txt."""

    name: str
    variable: str  # names its interpreter, when set
    folder: str  # its venv, in the project's root
    make: str  # the command that makes it
    packages: tuple[str, ...]  # what a script run there imports: the versions its entries state


_TRACKER = "https://github.com/{}/issues"

PACKAGES = (
    Package("tensorflow", aliases=("tensorflow-cpu",), tag="tf"),
    Package("keras", _TRACKER.format("keras-team/keras")),
    Package("tf_keras", environment="onnx2tf"),
    Package("tf2onnx", _TRACKER.format("onnx/tensorflow-onnx"), gap_unit="TensorFlow op"),  # converts TF's ops
    Package("onnx"),
    Package("onnxruntime", _TRACKER.format("microsoft/onnxruntime"), tag="ort", gap_verb="has no kernel for"),
    Package("onnx2keras", _TRACKER.format("gmalivenko/onnx2keras")),
    Package("onnx2tf", _TRACKER.format("PINTO0309/onnx2tf"), environment="onnx2tf", op_modules="onnx2tf.ops"),
)

ENVIRONMENTS = (
    Environment("onnx2tf", "ROUNDTRIP_ONNX2TF_PYTHON", ".venv-onnx2tf", "make onnx2tf-env",
                ("onnx2tf", "tensorflow", "tf_keras", "tf2onnx", "onnx", "onnxruntime", "numpy")),
)

_KERAS_TO_ONNX_STATES = ("tf2onnx", "tensorflow", "keras", "onnx", "onnxruntime", "numpy")
_ONNX2KERAS_STATES = ("onnx2keras", "keras", "tensorflow", "onnx", "onnxruntime", "numpy")
_ONNX2TF_CALL = ("keras_model = onnx2tf.convert(onnx_graph=onnx_model, output_folder_path=work, "
                 'disable_model_save=True, not_use_onnxsim=True, non_verbose=True, verbosity="error")')

# Keras' own ONNX export goes through tf2onnx (keras pull request 20710): its conversion bugs are tf2onnx's.
CONVERTERS = (
    Converter(
        "tf2onnx-function", "tf2onnx", KERAS_TO_ONNX, "tf2onnx.convert.from_function",
        imports=("import tf2onnx",),
        call=("function = tf.function(lambda *xs: {model_call})",
              "onnx_model, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset={opset})"),
        states=_KERAS_TO_ONNX_STATES),
    Converter(
        "tf2onnx-keras", "tf2onnx", KERAS_TO_ONNX, "tf2onnx.convert.from_keras",
        imports=("import tf2onnx",),
        call=("onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset={opset})",),
        states=_KERAS_TO_ONNX_STATES,
        again=('signature = [tf.TensorSpec(i.shape, i.dtype, name=i.name.split(":")[0]) for i in keras_model.inputs]',
               "onnx_again, _ = tf2onnx.convert.from_keras(keras_model, input_signature=signature, opset={opset})"),
        again_imports=("import tensorflow as tf", "import tf2onnx")),
    Converter(
        "keras-export", "tf2onnx", KERAS_TO_ONNX, 'Keras model.export(format="onnx")',
        imports=("import os", "import tempfile", "import onnx"),
        call=('path = os.path.join(tempfile.mkdtemp(), "model.onnx")',
              'model.export(path, format="onnx", opset_version={opset}, verbose=False{given})',
              "onnx_model = onnx.load(path)"),
        states=_KERAS_TO_ONNX_STATES, signed=False, called_first="Keras' export takes a model that has been called",
        filing="Keras' `export(format=\"onnx\")` runs tf2onnx inside (keras pull request 20710), and the failure "
               "is in tf2onnx's code, so it is tf2onnx's to fix."),
    Converter(
        "onnx2keras", "onnx2keras", ONNX_TO_KERAS, "onnx2keras.onnx_to_keras",
        function="onnx2keras.onnx_to_keras", arguments="verbose=False, change_ordering=False",
        states=_ONNX2KERAS_STATES, typed_initializers_last=True, static_input_dims=True,
        loads=("tensorflow", "keras")),
    Converter(
        "onnx2keras-nhwc", "onnx2keras", ONNX_TO_KERAS, "onnx2keras.onnx_to_keras(change_ordering=True)",
        layout=CHANNELS_LAST, function="onnx2keras.onnx_to_keras", arguments="verbose=False, change_ordering=True",
        states=_ONNX2KERAS_STATES, typed_initializers_last=True, static_input_dims=True,
        loads=("tensorflow", "keras")),
    Converter(
        "onnx2tf", "onnx2tf", ONNX_TO_KERAS, "onnx2tf.convert", environment="onnx2tf", layout=RECORDED,
        orders=ANY_ORDER, imports=("import tempfile", "import onnx2tf"),
        call=("work = tempfile.mkdtemp()", _ONNX2TF_CALL),
        states=("onnx2tf", "tensorflow", "tf_keras", "onnx", "onnxruntime", "numpy"), downloads_images=True,
        loads=("tensorflow", "tf_keras")),
    Converter(  # served only (roundtrip/convert/remote_server.py), as onnx2tf's command line runs by default
        "onnx2tf-onnxsim", "onnx2tf", ONNX_TO_KERAS, "onnx2tf.convert (after onnxsim)", environment="onnx2tf",
        layout=RECORDED, orders=ANY_ORDER),
)

AGAIN = "tf2onnx-keras"  # how a script makes ONNX again of the Keras model an ONNX -> Keras converter gave

_BY_NAME = {c.name: c for c in CONVERTERS}
_PACKAGE = {p.name: p for p in PACKAGES}
_ENVIRONMENT = {e.name: e for e in ENVIRONMENTS}
TRACKERS = {p.name: p.tracker for p in PACKAGES if p.tracker}
CONVERTER_ENVIRONMENTS = {c.name: c.environment for c in CONVERTERS if c.environment}  # converter -> its environment


def converter(name: str) -> Converter | None:
    """The row of a converter, None for one of the caller's own (`module:function`)."""
    return _BY_NAME.get(name)


def again() -> Converter:
    return _BY_NAME[AGAIN]


def package(name: str) -> Package:
    """The row of a package; a plain row (its tracker unknown) for one the suite has none of."""
    return _PACKAGE.get(name) or Package(name)


def environment(name: str) -> Environment | None:
    return _ENVIRONMENT.get(name)


def side(name: str) -> tuple[Converter, ...]:
    return tuple(c for c in _BY_NAME.values() if c.side == name)


def states(name: str, direction: str) -> tuple[str, ...]:
    """The packages whose versions a script through the converter `name` states: its row's, else (a converter
    of the caller's own) those of the first converter of its side."""
    row = converter(name)
    return row.states if row is not None else side(direction)[0].states


def main_packages() -> tuple[str, ...]:
    """The packages of the main environment, in order."""
    return tuple(p.name for p in PACKAGES if p.environment is None)


def distributions() -> tuple[str, ...]:
    """Every package's distributions, aliases included, in order."""
    return tuple(name for p in PACKAGES for name in (p.name, *p.aliases))


_ADDED: list[Converter | Package] = []  # the rows registered, in order


def register(*rows: Converter | Package) -> Callable[[], None]:
    """Adds the rows of a converter of the caller's own and of the package it blames: the code that names,
    renders, files and reports reads them as it reads the suite's own (a worker process is started with them:
    `added`).  A name the registry knows already is refused.  Returns the undo, which takes them out again."""
    for row in rows:
        known = _BY_NAME if isinstance(row, Converter) else _PACKAGE
        if row.name in known:
            raise ValueError(f"the registry has a row named {row.name!r} already")
    for row in rows:
        _file(row)
        _ADDED.append(row)

    def undo() -> None:
        for row in rows:
            if row in _ADDED:
                _ADDED.remove(row)
                _unfile(row)

    return undo


def added() -> tuple[Converter | Package, ...]:
    """The rows registered beyond the suite's own (`register`), in order."""
    return tuple(_ADDED)


def _file(row: Converter | Package) -> None:
    if isinstance(row, Converter):
        _BY_NAME[row.name] = row
        if row.environment:
            CONVERTER_ENVIRONMENTS[row.name] = row.environment
    else:
        _PACKAGE[row.name] = row
        if row.tracker:
            TRACKERS[row.name] = row.tracker


def _unfile(row: Converter | Package) -> None:
    for table in ((_BY_NAME, CONVERTER_ENVIRONMENTS) if isinstance(row, Converter) else (_PACKAGE, TRACKERS)):
        table.pop(row.name, None)


def bound_names(imports: tuple[str, ...] | list[str]) -> set[str]:
    """The top-level names `import` lines bind (`import tensorflow as tf` -> tf, `from a import b` -> b)."""
    found = set()
    for line in imports:
        words = re.split(r"[\s,]+", line.split("#", 1)[0].strip())
        found.add(words[-1] if "as" in words or words[0] == "from" else words[1].split(".")[0])
    return found
