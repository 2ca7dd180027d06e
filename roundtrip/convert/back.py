"""ONNX -> Keras converters: one small function each, in one table, like `roundtrip.convert.converters`.

A converter takes an `onnx.ModelProto` and returns a Keras model, plus how arrays cross between the two
layouts: `to_keras(array)` for an input, `from_keras(array)` for an output.  onnx2keras with
`change_ordering=True` reads every tensor of rank >= 3 as NCHW and gives a channels-last model, so the
comparison moves axis 1 to the end on the way in and back on the way out.  What the suite knows of it besides
the call (its package, its environment, the text its repro.py writes: `repro_lines`) is its row in `roundtrip.registry`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from roundtrip import registry
from roundtrip.convert.made import BackRun
from roundtrip.finding.findings import Error, headline
from roundtrip.finding.identity import package_of


def identity(array: np.ndarray) -> np.ndarray:
    return array


def channels_last(array: np.ndarray) -> np.ndarray:
    """NCHW... -> NHWC...: axis 1 moves to the end (ranks below 3 are left alone)."""
    return np.moveaxis(array, 1, -1) if array.ndim >= 3 else array


def channels_first(array: np.ndarray) -> np.ndarray:
    return np.moveaxis(array, -1, 1) if array.ndim >= 3 else array


@dataclass(frozen=True)
class OnnxToKeras:
    name: str
    convert: Callable[[Any, list[str]], Any]
    to_keras: Callable[[np.ndarray], np.ndarray]
    from_keras: Callable[[np.ndarray], np.ndarray]
    remote: bool = False  # runs in an environment of its own, behind roundtrip.convert.remote

    # ONNX made again from the Keras model that came back keeps that model's layout.
    @property
    def to_back(self) -> Callable[[np.ndarray], np.ndarray]:
        return self.to_keras

    @property
    def from_back(self) -> Callable[[np.ndarray], np.ndarray]:
        return self.from_keras


def onnx2keras_plain(model: Any, input_names: list[str]) -> Any:
    from onnx2keras import onnx_to_keras

    return onnx_to_keras(model, input_names, verbose=False, change_ordering=False)


def onnx2keras_nhwc(model: Any, input_names: list[str]) -> Any:
    from onnx2keras import onnx_to_keras

    return onnx_to_keras(model, input_names, verbose=False, change_ordering=True)


def in_its_environment(model: Any, input_names: list[str]) -> Any:
    raise RuntimeError("this converter runs in an environment of its own: roundtrip.convert.remote calls it")


def repro_lines(name: str, input_dims: Sequence[Sequence[Any]], inputs: str, *, qualified: bool = False,
                own: str = "the suite's own") -> tuple[list[str], list[str]]:
    """The imports and the lines with which a script converts `onnx_model` (numpy imported as np) to `keras_model`
    by the ONNX -> Keras converter `name`, as its registry row says.  `input_dims` are the graph inputs' dims (an
    int where static), `inputs` the text of their names; `qualified`: a converter that is a function called by
    its module's name (`import m`, `m.f(...)`), else imported by its own; `own` says whose a `module:function`
    converter is.  Where the converter may download sample images (every input 4-D with a static batch of at
    most 20: see SAMPLE_IMAGES in roundtrip/convert/remote_server.py, which says why no option avoids it), the script
    writes the server's own sample images into a folder of its own and makes it the working folder, where the
    converter reads them: offline."""
    row = registry.converter(name)
    if row is None:
        module, _, function = name.partition(":")
        return ([f"from {module} import {function}  # a converter of {own}"],
                [f"keras_model = {function}(onnx_model, {inputs})"])
    if row.function:
        module, _, function = row.function.rpartition(".")
        called = f"{module}.{function}" if qualified else function
        imported = f"import {module}" if qualified else f"from {module} import {function}"
        arguments = ", ".join(a for a in ("onnx_model", inputs, row.arguments) if a)
        return [imported], [f"keras_model = {called}({arguments})"]
    imports, lines = list(row.imports), list(row.call)
    if row.downloads_images and input_dims and all(len(d) == 4 and isinstance(d[0], int) and 0 < d[0] <= 20
                                                   for d in input_dims):
        from roundtrip.convert.remote_server import SAMPLE_IMAGES, SAMPLE_IMAGES_TEXT

        imports.append("import os")
        lines[-1:-1] = [f"# {row.package} downloads sample images for 4-D inputs unless they are in its working "
                        "folder: offline",
                        f'np.save(os.path.join(work, "{SAMPLE_IMAGES}"), {SAMPLE_IMAGES_TEXT})',
                        "os.chdir(work)"]
    return imports, lines


def onnx2tf_script(input_dims: Sequence[Sequence[Any]]) -> tuple[list[str], list[str]]:
    """The imports and the lines with which a script converts `onnx_model` by onnx2tf as the suite's server does."""
    return repro_lines("onnx2tf", input_dims, "")


ONNX_TO_KERAS: dict[str, OnnxToKeras] = {
    "onnx2keras": OnnxToKeras("onnx2keras", onnx2keras_plain, identity, identity),
    "onnx2keras-nhwc": OnnxToKeras("onnx2keras-nhwc", onnx2keras_nhwc, channels_last, channels_first),
    # onnx2tf (TensorFlow 2.19, tf_keras) in .venv-onnx2tf: the server gives outputs, and the ONNX made again
    # by tf2onnx from_keras, in the graph's own layout (see roundtrip/convert/remote.py).
    "onnx2tf": OnnxToKeras("onnx2tf", in_its_environment, identity, identity, remote=True),
}


def resolve_back(name: str) -> OnnxToKeras:
    """A converter of the table, a registered row's adapter (`roundtrip.registry.register`), or
    `module:function` (one of the caller's own, such as the planted faults of the suite's tests: it takes the
    model and the input names, like the table's)."""
    if name in ONNX_TO_KERAS:
        return ONNX_TO_KERAS[name]
    row = registry.converter(name)
    target = row.adapter if row is not None and row.side == registry.ONNX_TO_KERAS and row.adapter else name
    if ":" not in target:
        raise KeyError(f"unknown ONNX -> Keras converter {name!r} (known: {', '.join(ONNX_TO_KERAS)}; "
                       "or name one as module:function)")
    import importlib

    module, _, function = target.partition(":")
    convert = getattr(importlib.import_module(module), function)
    return OnnxToKeras(name, convert, identity, identity)


def python_for(name: str) -> str:
    """The interpreter a converter runs under: this one, or its own environment's (raises
    roundtrip.convert.remote.EnvironmentMissing, which says how to make it, when that is absent)."""
    import sys

    if name not in ONNX_TO_KERAS or not ONNX_TO_KERAS[name].remote:
        return sys.executable
    from roundtrip.convert.remote import environment

    return environment(name)


def missing_environment(name: str) -> str | None:
    """Why the converter `name` cannot run here (its environment of its own is absent), or None."""
    from roundtrip.convert.remote import EnvironmentMissing

    try:
        python_for(name)
    except EnvironmentMissing as e:
        return str(e)
    return None


@contextlib.contextmanager
def keras_config_restored() -> Iterator[None]:
    """Keras' global image data format and float type as they were before, and a cleared session:
    onnx2keras switches the whole process to channels_first, which would change every Keras model built
    after it."""
    import keras

    data_format, floatx = keras.config.image_data_format(), keras.config.floatx()
    try:
        yield
    finally:
        keras.config.set_image_data_format(data_format)
        keras.config.set_floatx(floatx)
        keras.backend.clear_session()  # and the layers and names it made: results must not depend on order


def category(error: Any, model: Any) -> str:
    """The named failure kind of an ONNX -> Keras conversion: an unsupported operator (which one), a
    missing attribute (opset skew: an attribute later opsets made optional), or the exception type.
    `error` is an exception, or a `findings.Error` (its `type` and `message`) from another process."""
    if isinstance(error, BaseException):
        name, message = type(error).__name__, str(error)
    else:
        name, message = error.type, error.message
    ops = {node.op_type for node in model.graph.node}
    key = re.fullmatch(r"'([^']*)'", message.strip()) if name == "KeyError" else None
    if key and key.group(1) in ops:
        return f"unsupported-op:{key.group(1)}"
    if key:
        return f"missing-attribute:{key.group(1)}"
    if re.search(r"dtype|data type|float16|float64|double", headline(message), re.I):
        return f"dtype:{name}"
    return name


def back_opset(opset: int) -> int:
    """The opset the way back to ONNX asks for: the graph's, within what the Keras -> ONNX paths take."""
    from roundtrip.convert.converters import MIN_OPSET

    return min(max(opset, MIN_OPSET), 18)


def run_back(back_name: str, proto: Any, cases: list[list[np.ndarray]], path: str = "", opset: int = 13) -> BackRun:
    """The ONNX -> Keras converter `back_name` on `proto`, its Keras model on each case's inputs (arrays
    in the ONNX layout both ways), and (with `path`) that model converted to ONNX again at `opset`: in this
    process, or behind `roundtrip.convert.remote` for a converter with an environment of its own.  An error of the
    machine rather than the code (no network: `roundtrip.convert.environmental`) raises EnvironmentFailure instead of
    coming back as the converter's error: it is never a finding."""
    from roundtrip.convert.environmental import refuse_environmental

    return refuse_environmental(_run_back(back_name, proto, cases, path, opset), back_name)


def _run_back(back_name: str, proto: Any, cases: list[list[np.ndarray]], path: str, opset: int) -> BackRun:
    back = resolve_back(back_name)
    if back.remote:
        from roundtrip.convert.remote import RemoteDied, RemoteTimeout, call_environment

        try:
            return call_environment(back_name, proto.SerializeToString(), cases, opset if path else None)
        except RemoteDied as e:  # the converter crashed or hung its server: a finding, like a worker's death
            return BackRun(Error("timeout" if isinstance(e, RemoteTimeout) else "crash", str(e), e.log))
    names = [i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    with keras_config_restored():  # what the converter leaves behind must not leak into the next check
        try:
            model = back.convert(proto, names)
        except Exception as e:  # noqa: BLE001 - the converter's exception is the finding
            return BackRun(Error.of(e, (package_of(back_name),)))
        run = BackRun(outputs=[_run_keras(model, back, inputs, back_name) for inputs in cases])
        if path:
            try:
                run.onnx_back = _to_onnx(model, path, opset).SerializeToString()
            except Exception as e:  # noqa: BLE001
                run.export_error = Error.of(e, (package_of(path), "keras"))
    return run


def _run_keras(model: Any, back: Any, inputs: list[np.ndarray], back_name: str) -> list[np.ndarray] | Error:
    from roundtrip.build.keras import run_keras

    try:
        return [back.from_keras(a) for a in run_keras(model, [back.to_keras(x) for x in inputs])]
    except Exception as e:  # noqa: BLE001
        return Error.of(e, (package_of(back_name),))


def _to_onnx(model: Any, path: str, opset: int) -> Any:
    """The Keras model that came back, through a Keras -> ONNX path, its inputs as the model has them."""
    from roundtrip.convert.converters import resolve
    from roundtrip.spec.model import InputSpec, ModelSpec

    inputs = tuple(InputSpec(t.name, tuple(int(d) for d in t.shape[1:])) for t in model.inputs)
    return resolve(path).convert(model, ModelSpec(inputs, (), tuple(i.name for i in inputs)), opset)
