"""An ONNX -> Keras converter served to another interpreter: `python remote_server.py CONVERTER`.

Self-contained on purpose: it runs under the converter's own virtual environment (other versions of
TensorFlow, numpy and onnx), so it imports only the standard library, numpy, onnx and the converter's
packages, never `roundtrip`.  `roundtrip/convert/remote.py` is the other end.

The protocol is JSON lines.  Requests come on stdin, responses go to the stdout the process started with
(kept on a private fd); fd 1 is then pointed at stderr (the client's log file) and fd 0 at /dev/null before
the converter is imported, so whatever TensorFlow prints cannot corrupt the channel.  No pickles: arrays
travel as .npz files, models as .onnx files, in the folder a request names.

    server, once imported:  {"ready": true, "converter": ..., "pid": ..., "versions": {...}}
    client:  {"id": 1, "folder": DIR, "model": "model.onnx", "cases": ["case-0.npz", ...], "export": true,
              "opset": 15}
    server:  {"id": 1, "load_error": null, "inputs_nhwc": [true], "outputs_nhwc": [false],
              "cases": [{"outputs": "outputs-0.npz"}, {"error": ERROR}, ...],
              "export": {"model": "back.onnx"} or {"error": ERROR} or null}
    server, for a request it cannot read or serve (the suite's bug):  {"id": 1, "request_error": ERROR}

An ERROR is {"type", "message", "traceback"}.  Case files hold the inputs as arr_0, arr_1, ... in the ONNX
model's layout (NCHW); output files hold the outputs the same way, in the ONNX model's output order.  For a
converter that builds a channels-last model the server moves axes on the way in and out, and says which
tensors it moved (`inputs_nhwc`, `outputs_nhwc`): the exported ONNX model takes and gives the Keras model's
layout.  The server stops at end of input or on {"quit": true}.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLEAR_SESSION_EVERY = 25  # requests between two Keras session clears (memory stays flat)


def open_channel() -> tuple[Any, Any]:
    """The protocol's own streams (the original stdin and stdout), with fd 0 reading /dev/null and fd 1
    writing where fd 2 does, so nothing the converter prints can reach the channel."""
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    responses = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return requests, responses


def distributions(names: tuple[str, ...]) -> dict[str, str]:
    """The installed version of each distribution that is installed."""
    from importlib import metadata

    found = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def error_value(error: BaseException) -> dict[str, str]:
    return {"type": type(error).__name__, "message": str(error) or repr(error),
            "traceback": "".join(traceback.format_exception(error))}


# ---- layouts -----------------------------------------------------------------------------------------------
def channels_last(array: Any) -> Any:
    import numpy as np

    return np.moveaxis(array, 1, -1)


def channels_first(array: Any) -> Any:
    import numpy as np

    return np.moveaxis(array, -1, 1)


def rank(shape: Any) -> int:
    return len(tuple(shape))


class ServerError(RuntimeError):
    """The server itself cannot do its job (not the converter's failure): answered as a request error."""


# ---- converters --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loaded:
    """A converted model, and for each input and output whether it is channels-last (its axis 1 moved to
    the end) where the ONNX model has it NCHW."""

    model: Any
    inputs_nhwc: tuple[bool, ...]
    outputs_nhwc: tuple[bool, ...]


def graph_inputs(model: Any) -> list[Any]:
    """The ONNX graph inputs that are fed (not initializers), in order."""
    weights = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in weights]


def input_rank(value_info: Any) -> int:
    return len(value_info.type.tensor_type.shape.dim)


class Keras3:
    """onnx2keras (Keras 3): `change_ordering` False gives an NCHW model, True an NHWC one, every tensor of
    rank >= 3 with its axis 1 moved to the end (the way roundtrip/convert/back.py compares them)."""

    packages = ("onnx2keras", "keras", "tensorflow-cpu", "tf2onnx")

    def __init__(self, change_ordering: bool) -> None:
        import keras
        import onnx2keras  # noqa: F401 - imported once, here

        self.keras = keras
        self.change_ordering = change_ordering
        self.config = keras.config.image_data_format(), keras.config.floatx()

    def load(self, path: str, folder: str) -> Loaded:
        import onnx
        from onnx2keras import onnx_to_keras

        proto = onnx.load(path)
        names = [i.name for i in graph_inputs(proto)]
        model = onnx_to_keras(proto, names, verbose=False, change_ordering=self.change_ordering)
        flip = self.change_ordering
        return Loaded(model, tuple(flip and rank(i.shape) >= 3 for i in model.inputs),
                      tuple(flip and rank(o.shape) >= 3 for o in model.outputs))

    def run(self, model: Any, arrays: list[Any]) -> list[Any]:
        return call_model(model, arrays)

    def finish(self, count: int) -> None:
        """After each request: onnx2keras switches Keras to channels_first for the whole process."""
        self.keras.config.set_image_data_format(self.config[0])
        self.keras.config.set_floatx(self.config[1])
        if count % CLEAR_SESSION_EVERY == 0:
            self.keras.backend.clear_session()


# onnx2tf 1.29's convert() calls `download_test_image_data` whenever every input of the model it makes is 4-D,
# its batch static and at most 20, its height and width static and its last dim 3 (an ONNX [N, 3, H, W] input
# becomes [N, H, W, 3]): it fetches SAMPLE_IMAGES from GitHub for its ONNX dummy inference and, without a
# network, raises requests' ConnectionError.  No option skips that call (`custom_input_op_name_np_data_path`
# feeds the dummy inference, but the download comes before it, unconditionally); the function reads the file
# from the working folder instead when it is there.  So onnx2tf runs offline the way a user can: with
# sample images of its own in the working folder.  Those are SAMPLE_IMAGES_TEXT (uniform in [0, 1), like
# onnx2tf's normalised MS-COCO images); roundtrip.convert.back's script text writes the very same array.
SAMPLE_IMAGES = "calibration_image_sample_data_20x128x128x3_float32.npy"
SAMPLE_IMAGES_TEXT = "np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)"


def sample_images() -> Any:
    import numpy as np

    return np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)


def offline_sample_images(folder: str) -> str:
    """SAMPLE_IMAGES written in `folder` (once): onnx2tf run with `folder` as its working folder reads it and
    does not go to the network."""
    import numpy as np

    path = os.path.join(folder, SAMPLE_IMAGES)
    if not os.path.isfile(path):
        np.save(path, sample_images())
    return path


class Onnx2tf:
    """onnx2tf.convert to a tf_keras model, nothing saved, offline (its sample images given in the working
    folder: see SAMPLE_IMAGES).  Inputs of rank 3 to 5 become channels-last
    (onnx2tf's Input op moves axis 1 to the end; rank 6 and up stay as they are).  Outputs are in whatever
    layout onnx2tf left them: it records, per tensor, whether the tensor is "transposed" against ONNX
    (`before_op_output_shape_trans`, its own judgement, from comparing shapes: with all dims equal it
    guesses transposed), and an output it says is transposed (rank >= 3) is moved back from channels-last.
    That record is read from the `tf_layers_dict` onnx2tf hands to `get_tf_model_outputs`.  The model's
    `onnx_output_layouts` is not used: it marks only tensors downstream of a Conv-like op, so a Relu on the
    input, say, is channels-last but marked False.  `simplify` runs onnx-simplifier first, as the onnx2tf
    command line does by default (three `onnxsim` subprocesses: about 2.5 s a model)."""

    packages = ("onnx2tf", "tf_keras", "tensorflow", "onnxsim", "tf2onnx")

    def __init__(self, simplify: bool) -> None:
        import onnx2tf  # noqa: F401 - imported once, here
        import tf_keras

        self.tf_keras = tf_keras
        self.simplify = simplify
        self.layers: dict[str, Any] | None = None
        module: Any = sys.modules["onnx2tf.onnx2tf"]
        outputs_of = module.get_tf_model_outputs

        def recorded(**kwargs: Any) -> Any:
            self.layers = kwargs.get("tf_layers_dict")
            return outputs_of(**kwargs)

        module.get_tf_model_outputs = recorded
        offline_sample_images(os.getcwd())  # the server's own folder, its working folder throughout
        if simplify:  # onnx2tf finds `onnxsim` on PATH, and silently skips it when it is not there
            bin_dir = os.path.dirname(sys.executable)
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

    def load(self, path: str, folder: str) -> Loaded:
        import onnx
        import onnx2tf

        proto = onnx.load(path)
        nhwc_inputs = tuple(3 <= input_rank(i) <= 5 for i in graph_inputs(proto))
        outputs = [o.name for o in proto.graph.output]
        options = {"output_folder_path": os.path.join(folder, "onnx2tf-out"),  # made even when nothing is saved
                   "disable_model_save": True, "non_verbose": True, "verbosity": "error"}
        self.layers = None
        if self.simplify:
            model = onnx2tf.convert(input_onnx_file_path=path, **options)  # it simplifies the file in place
        else:
            model = onnx2tf.convert(onnx_graph=proto, not_use_onnxsim=True, **options)
        if self.layers is None:
            raise ServerError("onnx2tf did not call get_tf_model_outputs: cannot tell which outputs it transposed")
        ranks = [rank(o.shape) for o in model.outputs]
        moved = tuple(k < len(ranks) and ranks[k] >= 3 and self.transposed(name) for k, name in enumerate(outputs))
        return Loaded(model, nhwc_inputs, moved)

    def transposed(self, name: str) -> bool:
        assert self.layers is not None
        entry = self.layers.get(name) or self.layers.get(name.replace(":", "__")) or {}
        return bool(entry.get("before_op_output_shape_trans", False))

    def run(self, model: Any, arrays: list[Any]) -> list[Any]:
        return call_model(model, arrays)

    def finish(self, count: int) -> None:
        self.layers = None
        if count % CLEAR_SESSION_EVERY == 0:
            self.tf_keras.backend.clear_session()


CONVERTERS: dict[str, Callable[[], Any]] = {
    "onnx2keras": lambda: Keras3(change_ordering=False),
    "onnx2keras-nhwc": lambda: Keras3(change_ordering=True),
    "onnx2tf": lambda: Onnx2tf(simplify=False),
    "onnx2tf-onnxsim": lambda: Onnx2tf(simplify=True),
}


def call_model(model: Any, arrays: list[Any]) -> list[Any]:
    """Inference, one array per output (numeric: anything else cannot travel without a pickle)."""
    import numpy as np

    result = model(arrays[0] if len(arrays) == 1 else list(arrays), training=False)
    outputs = [np.asarray(o) for o in (result if isinstance(result, list | tuple) else [result])]
    for k, o in enumerate(outputs):
        if o.dtype.hasobject:
            raise TypeError(f"output {k} is not numeric (dtype {o.dtype})")
    return outputs


# ---- one request -------------------------------------------------------------------------------------------
def moved(arrays: list[Any], flags: tuple[bool, ...], move: Callable[[Any], Any]) -> list[Any]:
    """Each array moved where its flag says so; arrays past the flags (a model with more outputs than the
    ONNX graph: the comparison's to report) as they are."""
    return [move(a) if k < len(flags) and flags[k] else a for k, a in enumerate(arrays)]


def load_arrays(path: str) -> list[Any]:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return [data[f"arr_{k}"] for k in range(len(data.files))]


def run_case(converter: Any, loaded: Loaded, folder: str, name: str, k: int) -> dict[str, Any]:
    import numpy as np

    try:
        inputs = moved(load_arrays(os.path.join(folder, name)), loaded.inputs_nhwc, channels_last)
        outputs = moved(converter.run(loaded.model, inputs), loaded.outputs_nhwc, channels_first)
    except Exception as e:  # noqa: BLE001 - the converted model's exception is the case's outcome
        return {"error": error_value(e)}
    out = f"outputs-{k}.npz"
    np.savez(os.path.join(folder, out), *outputs)
    return {"outputs": out}


def export(loaded: Loaded, folder: str, opset: int) -> dict[str, Any]:
    """The Keras model back to ONNX with tf2onnx (its own layout: see `inputs_nhwc`)."""
    try:
        import tensorflow as tf
        import tf2onnx

        signature = [tf.TensorSpec(tuple(i.shape), i.dtype, name=i.name.split(":")[0]) for i in loaded.model.inputs]
        proto, _ = tf2onnx.convert.from_keras(loaded.model, input_signature=signature, opset=opset)
    except Exception as e:  # noqa: BLE001 - tf2onnx's exception is the outcome
        return {"error": error_value(e)}
    with open(os.path.join(folder, "back.onnx"), "wb") as f:
        f.write(proto.SerializeToString())
    return {"model": "back.onnx"}


def handle(converter: Any, request: dict[str, Any]) -> dict[str, Any]:
    folder = request["folder"]
    for name in [request["model"], *request["cases"]]:  # a file missing is the client's bug, not a load error
        if not os.path.isfile(os.path.join(folder, name)):
            raise FileNotFoundError(f"the request names {os.path.join(folder, name)}, which is not there")
    response: dict[str, Any] = {"id": request.get("id"), "load_error": None, "inputs_nhwc": [],
                                "outputs_nhwc": [], "cases": [], "export": None}
    try:
        loaded = converter.load(os.path.join(folder, request["model"]), folder)
    except ServerError:
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001 - onnx2tf calls sys.exit(1) on some errors
        response["load_error"] = error_value(e)
        return response
    response["inputs_nhwc"], response["outputs_nhwc"] = list(loaded.inputs_nhwc), list(loaded.outputs_nhwc)
    response["cases"] = [run_case(converter, loaded, folder, name, k) for k, name in enumerate(request["cases"])]
    if request.get("export"):
        response["export"] = export(loaded, folder, int(request["opset"]))
    return response


def serve(name: str) -> int:
    requests, responses = open_channel()

    def send(message: dict[str, Any]) -> None:
        responses.write(json.dumps(message) + "\n")
        responses.flush()

    if name not in CONVERTERS:
        print(f"unknown converter {name!r} (known: {', '.join(CONVERTERS)})", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as roundtrip/__init__.py sets it: machine-independent
    converter = CONVERTERS[name]()
    versions = {"python": sys.version.split()[0]} | distributions(("numpy", "onnx", *converter.packages))
    send({"ready": True, "converter": name, "pid": os.getpid(), "versions": versions})
    count = 0
    for line in requests:
        if not line.strip():
            continue
        request: dict[str, Any] = {}
        try:
            request = json.loads(line)
            if request.get("quit"):
                break
            response = handle(converter, request)
        except Exception as e:  # noqa: BLE001 - a request the server cannot read: the client's bug
            response = {"id": request.get("id"), "request_error": error_value(e)}
        count += 1
        try:
            converter.finish(count)
        except Exception:  # noqa: BLE001 - tidying up must not lose the answer
            traceback.print_exc()
        send(response)
    return 0


if __name__ == "__main__":
    # This file's folder (roundtrip/convert/) holds modules (envs, remote...) that must not shadow the converter's.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} CONVERTER (one of {', '.join(CONVERTERS)})", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(sys.argv[1]))
