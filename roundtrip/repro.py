"""repro.py for a corpus entry: a standalone script that shows one finding with plain upstream code.

The script imports only numpy, tensorflow, keras, tf2onnx, onnx, onnxruntime (and onnx2keras, for a round
trip) and the standard library.  It builds the model one Keras line per layer, sets the weights from
`weights.npz` next to it, reads the inputs (and the Keras outputs recorded at finding time) from
`test_data_set_0/`, converts with the path's own `repro` snippet, then runs the stages up to the finding's
and reports.  Exit status: 1 while the bug shows, 0 once it is fixed, 2 when something else goes wrong.

A round trip (`back`: an ONNX -> Keras converter of `roundtrip.back`) converts the ONNX model back with
that converter's `repro` snippet (`convert_back`), moves arrays across layouts with its own functions
(`to_keras`, `from_keras`, pasted), runs the Keras model that came back and compares it with the original:
its `reproduce` is `_ROUND_TRIP` instead of `_ONE_WAY`.  A first conversion that fails is not the finding
(exit 2): the one-way check files it.

Only the header, the constants, `build_model`, `convert` (and `convert_back` with the layout functions)
depend on the finding; the rest of the script is fixed text below.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import keyword
from pathlib import Path
from typing import Any

from roundtrip.back import ONNX_TO_KERAS, channels_first, channels_last, resolve_back
from roundtrip.converters import KERAS_TO_ONNX
from roundtrip.findings import Finding, Stage, Symptom, headline, plain_text
from roundtrip.layers import LAYERS
from roundtrip.spec import LayerSpec, ModelSpec

# What passing each stage means, printed by the script as "expected".
_SHOULD = {
    Stage.BUILD: "the Keras model builds and runs on the recorded inputs",
    Stage.CONVERT: "the conversion succeeds",
    Stage.CHECK: "onnx.checker.check_model (in full) and strict shape inference pass, agreeing with the declared dims",
    Stage.LOAD: "onnxruntime.InferenceSession loads the model without warning about declared output shapes",
    Stage.RUN: "session.run succeeds without warning about declared output shapes",
    Stage.COMPARE: "ONNX Runtime's outputs match Keras': count, shapes, dtypes, declared dims, values within tolerance",
}
_SHOULD_BACK = {  # on a round trip
    Stage.CONVERT: "the first conversion (Keras -> ONNX) succeeds",
    Stage.LOAD: "the ONNX model converts back to Keras",
    Stage.RUN: "the Keras model that came back runs on the recorded inputs",
    Stage.COMPARE: "the round trip's outputs match the original Keras': count, shapes, dtypes, values within tolerance",
}
_TIMEOUT_SECONDS = 60  # for crash and timeout findings, whose stages run in a child process
# Names the script itself uses at the top level or in build_model: a tensor named so gets a trailing "_".
_TAKEN = {"keras", "tf", "np", "onnx", "ort", "tf2onnx", "model", "CenterCropReshape", "set_weights", "Any"}


def render_repro(spec: ModelSpec, path: str, opset: int, finding: Finding, case: dict[str, Any], back: str = "") -> str:
    """The text of repro.py for `finding`, seen on `spec` converted by `path` at `opset` (and, for a round
    trip, back to Keras by `back`).

    `case` (the batch, the input sizes, ...) is shown in the header only: the arrays themselves are
    read from test_data_set_0/ at run time."""
    custom = any(layer.kind == "CenterCropReshape" for layer in spec.layers)
    imports = "".join(f"import {module}\n" for module in (_STDLIB_BACK if back else _STDLIB))
    third_party, main = _THIRD_PARTY, _MAIN
    if back:
        package = back.split("-")[0]  # onnx2keras-nhwc is onnx2keras with change_ordering=True
        third_party = _insert(third_party, "import onnx\n", f"import {package}\n")
        main = _insert(main, 'f"numpy {np.__version__}', f", {package} {{importlib.metadata.version('{package}')}}")
        main = _insert(main, "(path {PATH}", ">{BACK}")  # the finding's path: "<path>><back>"
    parts = [
        _header(spec, path, opset, finding, case, back),
        imports + ("from typing import Any\n" if custom else "") + third_party,
        _constants(path, opset, finding, back),
        *([_custom_layer_source()] if custom else []),
        _build_model(spec),
        _HELPERS,
        _convert(spec, path),
        *([_convert_back(back, finding.details.get("layouts"))] if back else []),
        *([inspect.getsource(headline), _CATEGORY] if back else []),
        _PROBLEMS,
        _ROUND_TRIP if back else _ONE_WAY,
        _VERDICT,
        main,
        'if __name__ == "__main__":\n    sys.exit(main())',
    ]
    return "\n\n\n".join(part.strip("\n") for part in parts) + "\n"


# ---- the parts that depend on the finding ----------------------------------------------------------
def _insert(text: str, anchor: str, addition: str) -> str:
    """`text` with `addition` right after the first `anchor`."""
    assert anchor in text, anchor
    return text.replace(anchor, anchor + addition, 1)


def _header(spec: ModelSpec, path: str, opset: int, finding: Finding, case: dict[str, Any], back: str = "") -> str:
    where = f", output {finding.output}" if finding.output is not None else ""
    message = plain_text(finding.message).strip().splitlines() or [""]
    if len(message) > 30:
        message = message[:30] + [f"... ({len(message) - 30} more lines)"]
    lines = [
        "Reproduces one finding of roundtrip (a Keras -> ONNX fuzzer) with plain upstream code.",
        f"Needs numpy, tensorflow, keras, tf2onnx, onnx, onnxruntime{', onnx2keras' if back else ''}, "
        "and weights.npz and test_data_set_0/ next to it.",
        "",
        f"  converter path: {path}" + (f", then back to Keras by {back} (a round trip)" if back else ""),
        f"  opset:          {opset}",
        f"  finding:        {finding.stage}/{finding.symptom}{where}: {finding.kind}   (blame: {finding.blame})",
        f"  message:        {message[0]}",
        *(f"                  {line}" for line in message[1:]),
        f"  case:           {', '.join(f'{k}={v!r}' for k, v in case.items()) or '-'}",
        "",
        "The model (declared shapes; the drawn ones where they differ):",
        *(f"  {line}" for line in spec.pretty().splitlines()),
        "",
        "Run:  python repro.py   (with --saved: runs model.onnx from this folder instead of converting)",
        *_environment_note(back),
        "Exit: 1 while the bug shows, 0 once it is fixed, 2 when something else goes wrong.",
    ]
    return "\n".join(f"# {line}".rstrip() for line in lines)


def _environment_note(back: str) -> list[str]:
    """For a converter with an environment of its own: where this script runs."""
    if not back or back not in ONNX_TO_KERAS or not ONNX_TO_KERAS[back].remote:
        return []
    return [f"      {back} pins its own TensorFlow and numpy: run this with the Python of its environment",
            "      (in roundtrip, `make onnx2tf-env`, then .venv-onnx2tf/bin/python repro.py)."]


def _constants(path: str, opset: int, finding: Finding, back: str = "") -> str:
    should = (_SHOULD_BACK if back else _SHOULD).get(finding.stage, _SHOULD[finding.stage])
    if finding.symptom in (Symptom.CRASH, Symptom.TIMEOUT):
        should += f", and the process neither dies nor takes longer than {_TIMEOUT_SECONDS} s"
    first_line = headline(finding.message)[:300]
    return "\n".join([
        'HERE = pathlib.Path(__file__).resolve().parent',
        f"PATH = {_text(path)}",
        f"UPSTREAM = {path in KERAS_TO_ONNX}  # False: a converter of the suite's own, not pasted here",
        f"OPSET = {opset}",
        *([f"BACK = {_text(back)}  # the ONNX -> Keras converter of the round trip"] if back else []),
        f"STAGE, SYMPTOM, KIND, OUTPUT = {_text(str(finding.stage))}, {_text(str(finding.symptom))}, "
        f"{_text(finding.kind)}, {finding.output!r}",
        f"MESSAGE = {_text(first_line)}",
        f"EXPECTED = {_text(should)}",
        f"TIMEOUT_SECONDS = {_TIMEOUT_SECONDS}",
    ])


def _custom_layer_source() -> str:
    """CenterCropReshape's class statement, read from roundtrip/custom.py's text (importing the module would
    import TensorFlow), under the registration decorator."""
    found = importlib.util.find_spec("roundtrip.custom")
    assert found is not None and found.origin is not None, "roundtrip.custom is missing"
    text = Path(found.origin).read_text()
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "CenterCropReshape")
    source = ast.get_source_segment(text, node)  # from the `class` line: decorators are not part of it
    assert source is not None
    return '@keras.saving.register_keras_serializable(package="roundtrip")\n' + source


def _build_model(spec: ModelSpec) -> str:
    lines = ["def build_model():", '    """The Keras model of the finding, with its weights from weights.npz."""']
    if spec.sequential:
        first = spec.inputs[0]
        lines.append("    model = keras.Sequential([")
        lines.append(f"        keras.Input(shape={first.declared!r}, name={_text(first.name)}),")
        lines += [f"        {_layer(layer, k)}," for k, layer in enumerate(spec.layers)]
        lines.append('    ], name="roundtrip")')
    else:
        for i in spec.inputs:
            lines.append(f"    {_var(i.name)} = keras.Input(shape={i.declared!r}, name={_text(i.name)})")
        for k, layer in enumerate(spec.layers):
            args = _one_or_list([_var(name) for name in layer.inputs])
            lines.append(f"    {_var(layer.name)} = {_layer(layer, k)}({args})")
        ins = _one_or_list([_var(i.name) for i in spec.inputs])
        outs = _one_or_list([_var(o) for o in spec.outputs])
        lines.append(f'    model = keras.Model({ins}, {outs}, name="roundtrip")')
    lines += ["    set_weights(model)", "    return model"]
    return "\n".join(lines)


def _layer(layer: LayerSpec, index: int) -> str:
    """The Keras layer, as `roundtrip.layers.build_layer` makes it."""
    params = LAYERS[layer.kind].check_params(layer.p, f"layers[{index}].params")
    name = f"name={_text(layer.name)}"
    if layer.kind == "Activation":
        if params["activation"] == "softmax":
            return f"keras.layers.Softmax(axis={params['axis']!r}, {name})"
        return f"keras.layers.Activation({_text(params['activation'])}, {name})"
    if layer.kind == "CenterCropReshape":
        return f"CenterCropReshape(height={params['height']!r}, width={params['width']!r}, {name})"
    if LAYERS[layer.kind].build is not None:
        raise ValueError(f"{layer.kind} has a builder of its own that repro.py does not know how to write")
    args = "".join(f"{key}={_text(value)}, " for key, value in params.items())
    return f"keras.layers.{layer.kind}({args}{name})"


def _convert(spec: ModelSpec, path: str) -> str:
    lines = ["def convert(model):"]
    if path not in KERAS_TO_ONNX:
        lines += ['    """PATH is a converter of the suite\'s own, not upstream code: nothing to paste here."""',
                  f"    raise NotImplementedError({path!r} + ' is not an upstream converter')"]
        return "\n".join(lines)
    signature = ", ".join(f"tf.TensorSpec({(None, *i.declared)!r}, tf.float32, name={_text(i.name)})"
                          for i in spec.inputs)
    lines += [f'    """The conversion, as users of the converter write it (path {path})."""',
              f"    signature = [{signature}]"]
    lines += [f"    {line}" for line in KERAS_TO_ONNX[path].repro.strip("\n").splitlines()]
    lines.append("    return onnx_model")
    return "\n".join(lines)


def _convert_back(back: str, layouts: dict[str, list[bool]] | None = None) -> str:
    """`convert_back`, from the converter's `repro` snippet, and its layout functions, pasted from roundtrip.back
    (plain numpy) under the names the script calls them by.  `layouts`: the tensors a converter that decides
    per tensor (onnx2tf) made channels-last when the finding was made; the script transposes the same ones."""
    entry = resolve_back(back)
    lines = ["def convert_back(onnx_model):",
             f'    """The ONNX model back to Keras, as users of the converter write it ({back})."""',
             "    initializers = {t.name for t in onnx_model.graph.initializer}",
             "    input_names = [i.name for i in onnx_model.graph.input if i.name not in initializers]"]
    lines += [f"    {line}" for line in entry.repro.strip("\n").splitlines()]
    lines.append("    return keras_model")
    if layouts is not None:
        return "\n\n\n".join([
            "\n".join(lines),
            *(inspect.getsource(function).strip("\n") for function in (channels_last, channels_first)),
            f"# Which inputs and outputs {back}'s Keras model held channels-last when the finding was made.\n"
            f"INPUTS_NHWC, OUTPUTS_NHWC = {layouts['inputs_nhwc']!r}, {layouts['outputs_nhwc']!r}",
            "def inputs_in(xs):\n    return [channels_last(x) if nhwc else x for x, nhwc in zip(xs, INPUTS_NHWC)]",
            "def outputs_back(ys):\n    return [channels_first(y) if nhwc else y for y, nhwc in zip(ys, OUTPUTS_NHWC)]",
        ])
    layout = list(dict.fromkeys([entry.to_keras, entry.from_keras]))  # once each: both may be `identity`
    return "\n\n\n".join([
        "\n".join(lines),
        *(inspect.getsource(function).strip("\n") for function in layout),
        "# How arrays cross from ONNX's layout to the Keras model's that came back, and back again.\n"
        f"to_keras, from_keras = {entry.to_keras.__name__}, {entry.from_keras.__name__}",
        "def inputs_in(xs):\n    return [to_keras(x) for x in xs]",
        "def outputs_back(ys):\n    return [from_keras(y) for y in ys]",
    ])


def _text(value: Any) -> str:
    """A Python literal: repr, with plain strings in double quotes."""
    if isinstance(value, str) and '"' not in value and "\\" not in repr(value):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "(" + ", ".join(_text(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _var(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) or name in _TAKEN else name


def _one_or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


# ---- the fixed text -------------------------------------------------------------------------------
_STDLIB = ("contextlib", "multiprocessing", "os", "pathlib", "platform", "re", "signal", "sys", "tempfile", "traceback")
# A round trip has no ONNX Runtime log to capture (contextlib), and names onnx2keras' version.
_STDLIB_BACK = tuple(sorted({*_STDLIB, "importlib.metadata"} - {"contextlib"}))

_THIRD_PARTY = """
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx
from onnx import numpy_helper
"""

_HELPERS = r'''
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
'''

_PROBLEMS = r'''
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
'''

# The stages of a Keras -> ONNX finding.
_ONE_WAY = r'''
@contextlib.contextmanager
def captured_fd2():
    """Lines written to file descriptor 2 while inside: ONNX Runtime logs from C++, past sys.stderr."""
    lines = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(re.sub(r"\x1b\[[0-9;]*m", "", tmp.read().decode("utf-8", "replace")).splitlines())


def shape_warnings(stage, lines):
    """ONNX Runtime's warnings about declared output shapes: MergeShapeInfo (at load), VerifyOutputSizes (at run)."""
    problems = []
    for line in lines:
        found = re.search(r"(MergeShapeInfo|VerifyOutputSizes)\] (.*)", line)
        if found:
            print(f"  ONNX Runtime warned: {found.group(1)}: {found.group(2)}")
            problems.append(Problem(stage, "declared-shape", "ort-warning:" + found.group(1),
                                    f"{stage}: ONNX Runtime warned: {found.group(1)}: {found.group(2)}"))
    return problems


def declared_dims(onnx_model):
    """Each graph output's declared dims (None for a symbolic dim), or None when it declares no shape."""
    dims = []
    for out in onnx_model.graph.output:
        tensor = out.type.tensor_type
        shape = tensor.shape if tensor.HasField("shape") else None
        dims.append(None if shape is None else tuple(d.dim_value if d.HasField("dim_value") else None
                                                     for d in shape.dim))
    return dims


def check(onnx_model):
    """The structure, then strict inference on a copy whose outputs declare no shape against what the graph
    declares, then the full check.  (On the model itself, a declared dim that contradicts inference makes
    strict inference raise InferenceError, which would hide which output is wrong.)"""
    print("check: onnx.checker.check_model, strict shape inference (check_type, strict_mode, data_prop)")
    try:
        onnx.checker.check_model(onnx_model)
        cleared = onnx.ModelProto()
        cleared.CopyFrom(onnx_model)
        for out in cleared.graph.output:
            out.type.tensor_type.ClearField("shape")
        inferred = onnx.shape_inference.infer_shapes(cleared, check_type=True, strict_mode=True, data_prop=True)
    except Exception as error:
        return [raised("check", error)]
    problems = []
    for k, (out, declared, got) in enumerate(zip(onnx_model.graph.output, declared_dims(onnx_model),
                                                 declared_dims(inferred))):
        line = f"output {k} ({out.name}): the graph declares {declared}, strict inference gives {got}"
        print("  " + line)
        if declared is not None and got is not None and not agree(declared, got):
            problems.append(Problem("check", "declared-shape", "inferred-vs-declared", "check: " + line, k))
    if problems:
        return problems
    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except Exception as error:
        return [raised("check", error)]
    return []


def reproduce(saved):
    """Runs the stages up to the finding's.  Returns the problems of the first stage that has any (none: every
    stage passed).  Stages before the finding's are checked for exceptions only."""
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
        return [raised("convert", error)]
    if STAGE == "convert":
        return []
    if STAGE == "check":
        return check(onnx_model)

    print("load: onnxruntime.InferenceSession on CPU, log_severity_level=2")
    options = ort.SessionOptions()
    options.log_severity_level = 2  # warnings: the level that shows declared-shape mismatches
    try:
        with captured_fd2() as log:
            session = ort.InferenceSession(onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        return [raised("load", error)]
    warned = shape_warnings("load", log)
    if STAGE == "load":
        return warned

    print("run: session.run on the recorded inputs")
    names = [i.name for i in session.get_inputs()]
    try:
        with captured_fd2() as log:
            got = [np.asarray(o) for o in session.run(None, dict(zip(names, inputs)))]
    except Exception as error:
        return [raised("run", error)]
    warned = shape_warnings("run", log)
    if STAGE == "run":
        for k, (out, declared) in enumerate(zip(onnx_model.graph.output, declared_dims(onnx_model))):
            shape = f"{got[k].shape} {got[k].dtype}" if k < len(got) else "missing"
            print(f"  output {k} ({out.name}): the graph declares {declared}, ONNX Runtime gives {shape}")
        return warned
    return compare(expected, got, declared_dims(onnx_model))
'''

# The stages of a round trip's finding: Keras -> ONNX -> Keras.
_CATEGORY = r'''
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
'''

_ROUND_TRIP = r'''


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
'''

_MAIN = r'''
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
          f"numpy {np.__version__}")
    finding = Problem(STAGE, SYMPTOM, KIND, MESSAGE, OUTPUT)
    print(f"finding: {finding}: {MESSAGE}  (path {PATH}, opset {OPSET})")
    print(f"expected: {EXPECTED}\n")
    if saved and not (HERE / "model.onnx").exists():
        print("--saved: there is no model.onnx in this folder (a convert-stage finding keeps none)")
        return 2
    if not UPSTREAM and not saved:
        print(f"{PATH} is not an upstream converter: this script cannot convert (try --saved)")
        return 2
    return verdict(in_child_process(saved) if SYMPTOM in ("crash", "timeout") else reproduce(saved), finding)
'''

_VERDICT = r'''
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
'''
