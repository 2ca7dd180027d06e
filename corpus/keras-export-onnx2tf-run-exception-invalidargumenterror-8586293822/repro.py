# Reproduces one finding of roundtrip (a Keras -> ONNX fuzzer) with plain upstream code.
# Needs numpy, tensorflow, keras, tf2onnx, onnx, onnxruntime, onnx2keras, and weights.npz and test_data_set_0/ next to it.
#
#   converter path: keras-export, then back to Keras by onnx2tf (a round trip)
#   opset:          14
#   finding:        run/exception: InvalidArgumentError   (blame: converter)
#   message:        Exception encountered when calling layer 'Identity__0' (type TFOpLambda).
#
#                   {{function_node __wrapped__Reshape_device_/job:localhost/replica:0/task:0/device:CPU:0}} Input to reshape is a tensor with 2 values, but the requested shape requires a multiple of 3 [Op:Reshape]
#
#                   Call arguments received by layer 'Identity__0' (type TFOpLambda):
#                     • tensor=tf.Tensor(shape=(1, 2, 1, 1), dtype=float32)
#                     • shape=['-1', '3']
#                     • name='roundtrip_1/x1_1/Reshape'
#   case:           batch=1, sizes={}
#
# The model (declared shapes; the drawn ones where they differ):
#   in0 = Input(shape=(3, 3, 3))                                    # (None, 3, 3, 3)
#   in1 = Input(shape=(2, 1, 3))                                    # (None, 2, 1, 3)
#   x1 = CenterCropReshape(height=1, width=1)(in1)                  # (None, 3)
#   x2 = UpSampling2D(interpolation='bilinear', size=(1, 3))(in1)   # (None, 2, 3, 3)
#   x3 = Flatten()(x2)                                              # (None, 18)
#   x4 = BatchNormalization()(x3)                                   # (None, 18)
#   x5 = Flatten()(in0)                                             # (None, 27)
#   x6 = Cropping2D(cropping=((1, 0), (1, 0)))(x2)                  # (None, 1, 2, 3)
#   Model(outputs=[x1, x4, x5, x6])                                 # seed=2126750171
#
# Run:  python repro.py   (with --saved: runs model.onnx from this folder instead of converting)
#       onnx2tf pins its own TensorFlow and numpy: run this with the Python of its environment
#       (in roundtrip, `make onnx2tf-env`, then .venv-onnx2tf/bin/python repro.py).
# Exit: 1 while the bug shows, 0 once it is fixed, 2 when something else goes wrong.


import importlib.metadata
import multiprocessing
import os
import pathlib
import platform
import re
import signal
import sys
import tempfile
import traceback
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import onnx
import onnx2tf
import onnxruntime as ort
import tensorflow as tf
import tf2onnx
from onnx import numpy_helper


HERE = pathlib.Path(__file__).resolve().parent
PATH = "keras-export"
UPSTREAM = True  # False: a converter of the suite's own, not pasted here
OPSET = 14
BACK = "onnx2tf"  # the ONNX -> Keras converter of the round trip
STAGE, SYMPTOM, KIND, OUTPUT = "run", "exception", "InvalidArgumentError", None
MESSAGE = "Exception encountered when calling layer 'Identity__0' (type TFOpLambda). {{function_node __wrapped__Reshape_device_/job:localhost/replica:0/task:0/device:CPU:0}} Input to reshape is a tensor with 2 values, but the requested shape requires a multiple of 3 [Op:Reshape]"
EXPECTED = "the Keras model that came back runs on the recorded inputs"
TIMEOUT_SECONDS = 60


@keras.saving.register_keras_serializable(package="roundtrip")
class CenterCropReshape(keras.layers.Layer):
    """Crops the two spatial dims of an NHWC tensor to `height` x `width` around the centre, working
    the offsets out with `tf.shape` at run time, then reshapes to `[-1, height * width * channels]`.

    This is the pattern behind many "2-D output has the wrong dims after ONNX export" reports: the
    crop offsets are dynamic, the reshape target is static apart from its -1."""

    def __init__(self, height: int, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.height = height
        self.width = width

    def call(self, x: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(x)
        top = (shape[1] - self.height) // 2
        left = (shape[2] - self.width) // 2
        x = x[:, top : top + self.height, left : left + self.width, :]
        return tf.reshape(x, [-1, self.height * self.width * x.shape[-1]])

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        channels = input_shape[-1]
        assert channels is not None, "CenterCropReshape needs a known channel dim"
        return (input_shape[0], self.height * self.width * channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}


def build_model():
    """The Keras model of the finding, with its weights from weights.npz."""
    in0 = keras.Input(shape=(3, 3, 3), name="in0")
    in1 = keras.Input(shape=(2, 1, 3), name="in1")
    x1 = CenterCropReshape(height=1, width=1, name="x1")(in1)
    x2 = keras.layers.UpSampling2D(size=(1, 3), interpolation="bilinear", name="x2")(in1)
    x3 = keras.layers.Flatten(name="x3")(x2)
    x4 = keras.layers.BatchNormalization(axis=-1, name="x4")(x3)
    x5 = keras.layers.Flatten(name="x5")(in0)
    x6 = keras.layers.Cropping2D(cropping=((1, 0), (1, 0)), name="x6")(x2)
    model = keras.Model([in0, in1], [x1, x4, x5, x6], name="roundtrip")
    set_weights(model)
    return model


def set_weights(model):
    """Every layer's weights from weights.npz, saved as "<layer name>/<index>" in get_weights() order."""
    layers = [layer for layer in model.layers if layer.weights]
    if layers:
        with np.load(HERE / "weights.npz") as saved:
            for layer in layers:
                layer.set_weights([saved[f"{layer.name}/{i}"] for i in range(len(layer.weights))])


def load_case():
    """The input arrays, and the Keras outputs recorded when the finding was made (test_data_set_0/)."""
    folder = HERE / "test_data_set_0"

    def read(prefix):
        arrays = []
        while (folder / f"{prefix}_{len(arrays)}.pb").exists():
            arrays.append(numpy_helper.to_array(onnx.load_tensor(str(folder / f"{prefix}_{len(arrays)}.pb"))))
        return arrays

    return read("input"), read("output")


def run_keras(model, inputs):
    outputs = model(inputs[0] if len(inputs) == 1 else inputs, training=False)
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def build_stage():
    """The Keras model, the recorded inputs, and the model's outputs on them today (raises what goes wrong)."""
    print("build: the Keras model, on the recorded inputs")
    model = build_model()
    inputs, recorded = load_case()
    if len(inputs) != len(model.inputs):
        raise FileNotFoundError(f"test_data_set_0/ has {len(inputs)} input_*.pb for {len(model.inputs)} inputs")
    expected = run_keras(model, inputs)
    for k, (x, y) in enumerate(zip(inputs, expected)):
        print(f"  input {k}: {x.shape} {x.dtype}; Keras output {k}: {y.shape} {y.dtype}")
    if recorded and (len(recorded) != len(expected) or not all(
            a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in zip(recorded, expected))):
        print("  note: Keras' outputs now differ from those recorded at finding time (the reference is today's)")
    return model, inputs, expected


def convert(model):
    """The conversion, as users of the converter write it (path keras-export)."""
    signature = [tf.TensorSpec((None, 3, 3, 3), tf.float32, name="in0"), tf.TensorSpec((None, 2, 1, 3), tf.float32, name="in1")]
    exported = os.path.join(tempfile.mkdtemp(), 'model.onnx')
    model.export(exported, format='onnx', opset_version=OPSET, verbose=False)
    onnx_model = onnx.load(exported)
    return onnx_model


def convert_back(onnx_model):
    """The ONNX model back to Keras, as users of the converter write it (onnx2tf)."""
    initializers = {t.name for t in onnx_model.graph.initializer}
    input_names = [i.name for i in onnx_model.graph.input if i.name not in initializers]
    keras_model = onnx2tf.convert(onnx_graph=onnx_model, disable_model_save=True, not_use_onnxsim=True, output_folder_path=tempfile.mkdtemp(), verbosity='error')
    return keras_model


def channels_last(array: np.ndarray) -> np.ndarray:
    """NCHW... -> NHWC...: axis 1 moves to the end (ranks below 3 are left alone)."""
    return np.moveaxis(array, 1, -1) if array.ndim >= 3 else array


def channels_first(array: np.ndarray) -> np.ndarray:
    return np.moveaxis(array, -1, 1) if array.ndim >= 3 else array


# Which inputs and outputs onnx2tf's Keras model held channels-last when the finding was made.
INPUTS_NHWC, OUTPUTS_NHWC = [True, True], [False, False, False, True]


def inputs_in(xs):
    return [channels_last(x) if nhwc else x for x, nhwc in zip(xs, INPUTS_NHWC)]


def outputs_back(ys):
    return [channels_first(y) if nhwc else y for y, nhwc in zip(ys, OUTPUTS_NHWC)]


def headline(message: str) -> str:
    """The line of a message that says what went wrong: the first that names an error, else the first.
    (TensorFlow's errors start with "in user code:" and a stack before the line that matters; Keras'
    "Exception encountered when calling X.call()." says what on the line after, which is kept too.)"""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", message)  # terminal colours (Keras bolds its messages)
    lines = [line.strip() for line in plain.strip().splitlines() if line.strip()]
    named = [k for k, line in enumerate(lines)
             if re.search(r"(Error|Exception)\b", line) and not line.startswith("File ")]
    k = named[0] if named else 0
    if k + 1 < len(lines) and lines[k].startswith("Exception encountered when calling"):
        return f"{lines[k]} {lines[k + 1]}"  # Keras' wrapper: what went wrong is on the next line
    return lines[k] if lines else ""


def category(error, onnx_model):
    """The kind of a failure to convert back, named as roundtrip names it: an unsupported operator (which one),
    a missing attribute (opset skew: an attribute later opsets made optional), a dtype (said in the error's
    headline), or the exception type."""
    ops = {node.op_type for node in onnx_model.graph.node}
    if isinstance(error, KeyError) and error.args and error.args[0] in ops:
        return f"unsupported-op:{error.args[0]}"
    if isinstance(error, KeyError) and error.args and isinstance(error.args[0], str):
        return f"missing-attribute:{error.args[0]}"
    if re.search(r"dtype|data type|float16|float64|double", headline(str(error)), re.IGNORECASE):
        return f"dtype:{type(error).__name__}"
    return type(error).__name__


class Problem:
    """Something wrong at a stage, named as the finding names it (stage/symptom, kind), with text for people."""

    def __init__(self, stage, symptom, kind, text, output=None):
        self.stage, self.symptom, self.kind, self.text, self.output = stage, symptom, kind, text, output

    def __str__(self):
        return f"{self.stage}/{self.symptom}{'' if self.output is None else f', output {self.output}'}: {self.kind}"

    def is_the_finding(self):
        if (self.stage, self.symptom) != (STAGE, SYMPTOM):
            return False
        if SYMPTOM == "exception":  # the same exception type (by its name, qualified or not)
            return KIND in (self.kind, self.kind.rsplit(".", 1)[-1]) or self.kind.endswith("." + KIND)
        return OUTPUT is None or self.output is None or self.output == OUTPUT


def raised(stage, error):
    kind = type(error).__qualname__
    if type(error).__module__ != "builtins":
        kind = f"{type(error).__module__}.{kind}"
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return Problem(stage, "exception", kind, f"{stage}: raised {type(error).__name__}: {error}\n{trace}")


def agree(declared, actual):
    return len(declared) == len(actual) and all(d is None or a is None or d == a for d, a in zip(declared, actual))


def compare(expected, got, declared=None, who="ONNX Runtime", ref="Keras"):
    """Every output, never stopping at the first problem: its shape, declared dims (`declared`, one entry per
    output; None on a round trip, which has no graph to declare them), dtype, then values.  `ref` gave the
    expected outputs, `who` the others."""
    print(f"compare: {who}'s outputs against {ref}'s")
    problems = []
    if len(got) != len(expected):
        problems.append(Problem("compare", "count", "count",
                                f"compare: {ref} gives {len(expected)} outputs, {who} {len(got)}"))
    for k, (want, have, dims) in enumerate(zip(expected, got, [None] * len(got) if declared is None else declared)):
        line = f"output {k}: {ref} {want.shape} {want.dtype}, {who} {have.shape} {have.dtype}"
        print(f"  {line}" + ("" if declared is None else f"; the graph declares {dims}"))
        if have.shape != want.shape:
            problems.append(Problem("compare", "shape", "shape", "compare: " + line, k))
        if dims is not None and not agree(dims, have.shape):
            problems.append(Problem("compare", "declared-shape", "declared-dims",
                                    f"compare: {line}, but the graph declares {dims}", k))
        if have.dtype != want.dtype:
            problems.append(Problem("compare", "dtype", f"dtype:{want.dtype}->{have.dtype}", "compare: " + line, k))
        if have.shape != want.shape or not want.size:
            continue
        # |ort - keras| <= 1e-4 * max(1, max|keras|) + 1e-4 * |keras|: the bound on float32 reductions
        # (convolutions, matmuls, means) summed in another order; a real bug is far past it.  float16,
        # rounded after every node, gets 1e-2.
        w, h = want.astype(np.float64), have.astype(np.float64)
        finite = np.abs(w[np.isfinite(w)])
        tol = 1e-2 if np.float16 in (want.dtype, have.dtype) else 1e-4
        tolerance = tol * max(1.0, float(finite.max(initial=0.0))) + tol * np.abs(w)
        with np.errstate(invalid="ignore"):
            close = (h == w) | (np.abs(h - w) <= tolerance) | (np.isnan(h) & np.isnan(w))
        if not close.all():
            worst = np.unravel_index(np.argmax(np.where(close, -1.0, np.nan_to_num(np.abs(h - w), nan=np.inf))),
                                     w.shape)
            at = tuple(int(i) for i in worst)
            problems.append(Problem("compare", "value", "value", (
                f"compare: {line}: {int((~close).sum())} of {close.size} values differ beyond the tolerance; "
                f"the worst at {at}: {ref} {want[worst]!s}, {who} {have[worst]!s} "
                f"(tolerance {tolerance[worst]:.3g})"), k))
    return problems


def reproduce(saved):
    """Runs the round trip's stages up to the finding's: Keras -> ONNX (PATH) -> Keras (BACK), then the model
    that came back against the original.  Returns the problems of the first stage that has any (none: every
    stage passed).  The first conversion failing is not this finding: the one-way check files it."""
    try:
        model, inputs, expected = build_stage()
    except Exception as error:
        return [raised("build", error)]
    if STAGE == "build":
        return []

    print(f"convert: {PATH}, opset {OPSET}" + (" (model.onnx from this folder)" if saved else ""))
    try:
        onnx_model = onnx.load(str(HERE / "model.onnx")) if saved else convert(model)
    except Exception as error:
        problem = raised("convert", error)
        return [Problem("convert", "first-conversion", problem.kind,
                        "the first conversion fails: not this finding; " + problem.text)]
    if STAGE == "convert":
        return []

    print(f"load: {BACK}, the ONNX model back to Keras (convert_back)")
    try:
        keras_model = convert_back(onnx_model)
    except Exception as error:
        problem = raised("load", error)
        problem.kind = category(error, onnx_model)
        return [problem]
    if STAGE == "load":
        return []

    print("run: the Keras model that came back, on the recorded inputs (inputs_in, outputs_back: the layouts)")
    try:
        got = outputs_back(run_keras(keras_model, inputs_in(inputs)))
    except Exception as error:
        return [raised("run", error)]
    if STAGE == "run":
        for k, y in enumerate(got):
            print(f"  output {k}: {y.shape} {y.dtype}")
        return []
    return compare(expected, got, who="the round trip")


def verdict(problems, finding):
    """Prints the problems and the result; the exit status: 1 the bug shows, 2 something else, 0 fixed."""
    print()
    for problem in problems:
        print(problem.text)
    if any(problem.is_the_finding() for problem in problems):
        print(f"RESULT: the bug shows ({finding})")
        return 1
    if problems:
        print(f"RESULT: something else went wrong: {problems[0]}, not the finding's {finding}")
        return 2
    print(f"RESULT: fixed: every stage up to {STAGE} passes")
    return 0


def child(saved):
    sys.stdout.reconfigure(line_buffering=True)  # what it printed survives a crash
    problems = reproduce(saved)
    for problem in problems:
        print(problem.text)
    sys.exit(3 if problems else 0)


def in_child_process(saved):
    """The stages in a spawned child process: a crash kills the child, not this script."""
    process = multiprocessing.get_context("spawn").Process(target=child, args=(saved,))
    process.start()
    process.join(TIMEOUT_SECONDS)
    if process.is_alive():
        process.kill()
        process.join()
        return [Problem(STAGE, "timeout", "timeout", f"the stages up to {STAGE} took more than {TIMEOUT_SECONDS} s")]
    code = process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        return [Problem(STAGE, "crash", name, f"the process running the stages up to {STAGE} died of {name}")]
    if code:
        return [Problem(STAGE, "failed", str(code), "the child process stopped at another problem (printed above)")]
    return []


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    saved = "--saved" in args
    print(f"python {platform.python_version()}, tensorflow {tf.__version__}, keras {keras.__version__}, "
          f"tf2onnx {tf2onnx.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}, "
          f"numpy {np.__version__}, onnx2tf {importlib.metadata.version('onnx2tf')}")
    finding = Problem(STAGE, SYMPTOM, KIND, MESSAGE, OUTPUT)
    print(f"finding: {finding}: {MESSAGE}  (path {PATH}>{BACK}, opset {OPSET})")
    print(f"expected: {EXPECTED}\n")
    if saved and not (HERE / "model.onnx").exists():
        print("--saved: there is no model.onnx in this folder (a convert-stage finding keeps none)")
        return 2
    if not UPSTREAM and not saved:
        print(f"{PATH} is not an upstream converter: this script cannot convert (try --saved)")
        return 2
    return verdict(in_child_process(saved) if SYMPTOM in ("crash", "timeout") else reproduce(saved), finding)


if __name__ == "__main__":
    sys.exit(main())
