"""repro.py for an ONNX -> Keras -> ONNX finding: a standalone script that imports only numpy, onnx,
onnxruntime, the converter under test (onnx2keras; tf2onnx for the way back) and TensorFlow.

The graph is in the script, in ONNX's own text format (`onnx.printer` / `onnx.parser`, exact for every
graph the strategies draw), so a bug report can paste it; the inputs are read from test_data_set_0/, and
ONNX Runtime on the graph gives the expected outputs.  The stages, the comparison and the exit codes are
the other repros' (1: the bug shows, 0: fixed, 2: something else), pieces pasted from roundtrip.repro.
"""

from __future__ import annotations

import inspect
from typing import Any

from roundtrip.back import ONNX_TO_KERAS
from roundtrip.converters import KERAS_TO_ONNX
from roundtrip.findings import Finding, Stage, Symptom, headline, plain_text
from roundtrip.graphs import GraphSpec
from roundtrip.repro import (
    _CATEGORY,
    _MAIN,
    _PROBLEMS,
    _TIMEOUT_SECONDS,
    _VERDICT,
    _convert_back,
    _environment_note,
    _text,
)

_SHOULD = {
    Stage.LOAD: "the ONNX graph converts to Keras",
    Stage.RUN: "the Keras model that came back runs on the recorded inputs",
    Stage.COMPARE: "the Keras model's outputs match ONNX Runtime's on the graph: count, shapes, dtypes, values",
}
_SHOULD_BACK = {
    Stage.CONVERT: "the Keras model that came back converts to ONNX again",
    Stage.CHECK: "onnx.checker.check_model (in full) passes on the ONNX made again",
    Stage.LOAD: "onnxruntime.InferenceSession loads the ONNX made again",
    Stage.RUN: "session.run succeeds on the ONNX made again",
    Stage.COMPARE: "the ONNX made again gives ONNX Runtime's outputs on the graph: count, shapes, dtypes, values",
}


def render_graph_repro(spec: GraphSpec, back: str, path: str, finding: Finding, case: dict[str, Any]) -> str:
    """The text of repro.py for `finding`, seen on the graph `spec` converted to Keras by `back` (and, for
    a finding of the second leg, `onnx>back>path`, to ONNX again by `path`)."""
    import onnx

    second = finding.path.count(">") == 2
    imports = ["importlib.metadata", "multiprocessing", "os", "pathlib", "platform", "re", "signal", "sys",
               "traceback", *(["tempfile"] if second or "tempfile" in _repro_of(back) else [])]
    upstream = back in ONNX_TO_KERAS
    package = [back.split("-")[0]] if upstream else []  # onnx2keras-nhwc is onnx2keras, change_ordering=True
    third_party = sorted(["numpy as np", "onnx", *package, "onnxruntime as ort", "tensorflow as tf",
                          *(["tf2onnx"] if second else [])])
    parts = [
        _header(spec, back, path if second else "", finding, case),
        "".join(f"import {m}\n" for m in sorted(imports))
        + '\nos.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")\n\n'
        + "".join(f"import {m}\n" for m in third_party) + "from onnx import numpy_helper\n",
        _constants(spec, back, path if second else "", finding),
        f'GRAPH = """\n{onnx.printer.to_text(spec.to_onnx())}\n"""',
        _LOAD,
        _convert_back(back, finding.details.get("layouts")),
        *([_convert(path)] if second else []),
        inspect.getsource(headline),
        _CATEGORY,
        _PROBLEMS,
        _REPRODUCE,
        _MAIN.split("\ndef main(")[0],
        _VERDICT,
        _GRAPH_MAIN,
        'if __name__ == "__main__":\n    sys.exit(main())',
    ]
    return "\n\n\n".join(part.strip("\n") for part in parts) + "\n"


def _repro_of(back: str) -> str:
    return ONNX_TO_KERAS[back].repro if back in ONNX_TO_KERAS else ""


def _header(spec: GraphSpec, back: str, path: str, finding: Finding, case: dict[str, Any]) -> str:
    where = f", output {finding.output}" if finding.output is not None else ""
    message = (plain_text(finding.message).strip().splitlines() or [""])[:30]
    lines = [
        "Reproduces a roundtrip finding (ONNX -> Keras" + (" -> ONNX" if path else "") + "), standalone.",
        "",
        f"  ONNX -> Keras:  {back}" + (f", then back to ONNX by {path}" if path else ""),
        f"  graph opset:    {spec.opset}, {spec.dtype}",
        f"  finding:        {finding.stage}/{finding.symptom}{where}: {finding.kind}   (blame: {finding.blame})",
        f"  message:        {message[0]}",
        *(f"                  {line}" for line in message[1:]),
        f"  case:           {', '.join(f'{k}={v!r}' for k, v in case.items()) or '-'}",
        "",
        "The graph (batch N):",
        *(f"  {line}" for line in spec.pretty().splitlines()),
        "",
        "Run:  python repro.py   (the graph is model.onnx in this folder; with --text: GRAPH below, parsed)",
        *_environment_note(back),
        "Exit: 1 while the bug shows, 0 once it is fixed, 2 when something else goes wrong.",
    ]
    return "\n".join(f"# {line}".rstrip() for line in lines)


def _constants(spec: GraphSpec, back: str, path: str, finding: Finding) -> str:
    should = (_SHOULD_BACK if path else _SHOULD).get(finding.stage, "the stage passes")
    if finding.symptom in (Symptom.CRASH, Symptom.TIMEOUT):
        should += f", and the process neither dies nor takes longer than {_TIMEOUT_SECONDS} s"
    from roundtrip.graph_check import back_opset

    return "\n".join([
        "HERE = pathlib.Path(__file__).resolve().parent",
        f"BACK = {_text(back)}  # the ONNX -> Keras converter",
        f"UPSTREAM = {back in ONNX_TO_KERAS}  # False: a converter of the suite's own, not pasted here",
        f"PATH = {_text(path)}  # the Keras -> ONNX path of the way back (empty: the finding is the Keras model's)",
        f"OPSET = {back_opset(spec.opset)}  # for the way back",
        f"STAGE, SYMPTOM, KIND, OUTPUT = {_text(str(finding.stage))}, {_text(str(finding.symptom))}, "
        f"{_text(finding.kind)}, {finding.output!r}",
        f"MESSAGE = {_text(headline(finding.message)[:300])}",
        f"EXPECTED = {_text(should)}",
        f"TIMEOUT_SECONDS = {_TIMEOUT_SECONDS}",
    ])


def _convert(path: str) -> str:
    lines = ["def convert(model):",
             f'    """The Keras model that came back, to ONNX again, as users of {path} write it."""',
             "    signature = [tf.TensorSpec((None, *t.shape[1:]), t.dtype, name=t.name) for t in model.inputs]"]
    lines += [f"    {line}" for line in KERAS_TO_ONNX[path].repro.strip("\n").splitlines()]
    lines.append("    return onnx_model")
    return "\n".join(lines)


_LOAD = r'''
def load_graph(text):
    """model.onnx, the exact bytes the finding was made on (onnx2keras reads initializers field by field, so
    the same graph encoded otherwise can fail otherwise); with --text, GRAPH above, parsed."""
    return onnx.parser.parse_model(GRAPH) if text else onnx.load(str(HERE / "model.onnx"))


def load_inputs():
    folder = HERE / "test_data_set_0"
    inputs = []
    while (folder / f"input_{len(inputs)}.pb").exists():
        inputs.append(numpy_helper.to_array(onnx.load_tensor(str(folder / f"input_{len(inputs)}.pb"))))
    return inputs


def run_onnx(onnx_model, inputs):
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return [np.asarray(o) for o in session.run(None, dict(zip(names, inputs)))]


def run_keras(model, inputs):
    outputs = model(inputs[0] if len(inputs) == 1 else inputs, training=False)
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
'''

_REPRODUCE = r'''
def keras_leg(text):
    """The graph, its outputs in ONNX Runtime (expected), and the Keras model BACK makes of it; returns the
    problems of the first stage that has any, the model, the inputs and the expected outputs."""
    print("build: the graph in ONNX Runtime, on the recorded inputs" + (" (GRAPH, parsed)" if text else ""))
    try:
        onnx_model = load_graph(text)
        inputs = load_inputs()
        expected = run_onnx(onnx_model, inputs)
    except Exception as error:
        return [raised("build", error)], None, None, None
    for k, y in enumerate(expected):
        print(f"  output {k}: {y.shape} {y.dtype}")
    print(f"load: {BACK}, the graph to Keras (convert_back)")
    try:
        keras_model = convert_back(onnx_model)
    except Exception as error:
        problem = raised("load", error)
        problem.kind = category(error, onnx_model)
        return [problem], None, None, None
    print("run: the Keras model, on the recorded inputs (inputs_in, outputs_back: the layouts)")
    try:
        got = outputs_back(run_keras(keras_model, inputs_in(inputs)))
    except Exception as error:
        return [raised("run", error)], None, None, None
    problems = compare(expected, got, who="the Keras model", ref="ONNX Runtime on the graph")
    return problems, keras_model, inputs, expected


def reproduce(text):
    problems, keras_model, inputs, expected = keras_leg(text)
    if not PATH or problems:
        if PATH:  # the Keras model is already wrong: the first leg's finding, not this one
            return [Problem("keras-" + p.stage, p.symptom, p.kind, "the Keras model already fails: " + p.text)
                    for p in problems]
        return problems
    print(f"convert: {PATH}, the Keras model to ONNX again, opset {OPSET}")
    try:
        onnx_again = convert(keras_model)
    except Exception as error:
        return [raised("convert", error)]
    print("check: onnx.checker.check_model, full")
    try:
        onnx.checker.check_model(onnx_again, full_check=True)
    except Exception as error:
        return [raised("check", error)]
    print("load and run: ONNX Runtime on the ONNX made again (in the Keras model's layout)")
    try:
        session = ort.InferenceSession(onnx_again.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as error:
        return [raised("load", error)]
    names = [i.name for i in session.get_inputs()]
    try:
        got = outputs_back([np.asarray(y) for y in session.run(None, dict(zip(names, inputs_in(inputs))))])
    except Exception as error:
        return [raised("run", error)]
    return compare(expected, got, who="the ONNX made again", ref="ONNX Runtime on the graph")
'''

_GRAPH_MAIN = r'''
def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    text = "--text" in args
    print(f"python {platform.python_version()}, tensorflow {tf.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}, "
          + (f"{BACK} {importlib.metadata.version(BACK.split('-')[0])}, " if UPSTREAM else "") +
          f"numpy {np.__version__}" + (f", tf2onnx {importlib.metadata.version('tf2onnx')}" if PATH else ""))
    finding = Problem(STAGE, SYMPTOM, KIND, MESSAGE, OUTPUT)
    print(f"finding: {finding}: {MESSAGE}  (onnx>{BACK}" + (f">{PATH}" if PATH else "") + ")")
    print(f"expected: {EXPECTED}\n")
    if not UPSTREAM:
        print(f"{BACK} is not an upstream converter: this script cannot convert")
        return 2
    return verdict(in_child_process(text) if SYMPTOM in ("crash", "timeout") else reproduce(text), finding)
'''
