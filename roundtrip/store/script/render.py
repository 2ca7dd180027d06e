"""repro.py for a corpus entry, from the entry's files alone.

Two shapes of script:
- Keras -> ONNX (direction keras-onnx): the Keras model, its weights, the inputs, the conversion by the
  entry's path, then as far as the finding's stage: onnx.checker, an ONNX Runtime session, its run, the
  comparison with Keras.
- ONNX -> Keras (a round trip's way back, and the ONNX -> Keras -> ONNX direction): the ONNX graph the
  converter was given (model.onnx) as parser text, the inputs, the conversion by the ONNX -> Keras converter,
  its Keras model's run, the comparison with ONNX Runtime on the graph (and, for a failure of the way back to
  ONNX, tf2onnx on the Keras model that came back).  A round trip's repro needs no TensorFlow model of ours:
  the bug is the ONNX -> Keras converter's, on that graph.
The last statement raises while the bug shows (the converter's own exception, or an AssertionError that
prints expected against actual), so the script exits 1; once fixed it ends quietly with 0.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from roundtrip import registry
from roundtrip.convert.back import ONNX_TO_KERAS, repro_lines
from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.finding.identity import operator_of
from roundtrip.spec.graph import GraphSpec
from roundtrip.spec.model import ModelSpec
from roundtrip.store.script import keras_text, onnx_text
from roundtrip.store.script.arrays import standard_normal, token_ids
from roundtrip.store.script.verdict import expected_exception

ORDER = (Stage.BUILD, Stage.CONVERT, Stage.CHECK, Stage.LOAD, Stage.RUN, Stage.COMPARE)
KERAS_TO_ONNX_DIRECTION = "keras-onnx"
ROUND_TRIP_DIRECTION = "keras-onnx-keras"


@dataclass(frozen=True)
class Source:
    """What a script is made from: an entry's data (`roundtrip.store.corpus.Entry` has all of it)."""

    spec: ModelSpec | GraphSpec
    meta: dict[str, Any]
    weights: dict[str, np.ndarray]
    onnx: Any  # the ONNX model the finding was made on (None when the conversion failed)

    @property
    def finding(self) -> Finding:
        return Finding.from_dict(self.meta["finding"])

    @property
    def direction(self) -> str:
        return str(self.meta.get("direction", KERAS_TO_ONNX_DIRECTION))

    @property
    def batch(self) -> int:
        return int((self.meta.get("case") or {}).get("batch", 1))

    @property
    def sizes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v) for k, v in ((self.meta.get("case") or {}).get("sizes") or {}).items()}


def source_of(folder: Path, spec: ModelSpec | GraphSpec, meta: dict[str, Any]) -> Source:
    import onnx

    weights = dict(np.load(folder / "weights.npz")) if (folder / "weights.npz").is_file() else {}
    model = onnx.load(str(folder / "model.onnx")) if (folder / "model.onnx").is_file() else None
    if model is None and isinstance(spec, GraphSpec):
        model = spec.to_onnx()
    return Source(spec, meta, weights, model)


def render(src: Source, *, tidy: bool = True, in_text: bool = True) -> str:
    """The text of repro.py.  `tidy`: the ONNX graph with short names (see `onnx_text.tidy`); `in_text`:
    its small initializers in the parser text (see `onnx_text.source`).  `src.onnx` may be a part of the
    graph the finding was made on (see `smaller_graphs`)."""
    if runtime_alone(src):
        body = runtime_lines(src, tidy, in_text)
    elif src.direction == KERAS_TO_ONNX_DIRECTION:
        body = keras_to_onnx(src)
    else:
        body = onnx_to_keras(src, tidy, in_text)
    return "\n".join([*header(src, "\n".join(body)), "", *body]) + "\n"


def node_kind(finding: Finding) -> str:
    """The ONNX node kind the finding names: where an exception was raised, or the first that differs."""
    if finding.kind.startswith("unsupported-op:"):
        return finding.kind.split(":", 1)[1]
    return operator_of(finding.where) or culprit(finding)


def smaller_graphs(src: Source) -> list[Source]:
    """For an ONNX -> Keras script: the graph cut after each node of the kind the finding names (the
    converter fails there, or its output is the first to differ), smallest first.  Each is a guess that
    the script, run, confirms or not."""
    if src.direction == KERAS_TO_ONNX_DIRECTION or src.onnx is None or way_back_failed(src.finding):
        return []
    if src.finding.symptom == Symptom.COUNT or not node_kind(src.finding):
        return []
    return [replace(src, onnx=graph, meta=src.meta | {"finding": src.meta["finding"] | {"output": 0}})
            for graph in onnx_text.cuts(src.onnx, node_kind(src.finding))]


def way_back_failed(finding: Finding) -> bool:
    """Whether an ONNX -> Keras finding is of the way back to ONNX: the Keras model that came back, converted again."""
    return finding.package == registry.again().package


def reaches(finding: Finding, stage: Stage) -> bool:
    return ORDER.index(finding.stage) >= ORDER.index(stage)


# ---- Keras -> ONNX --------------------------------------------------------------------------------------
def keras_to_onnx(src: Source) -> list[str]:
    spec, finding = src.spec, src.finding
    assert isinstance(spec, ModelSpec)
    path, opset = str(src.meta["path"]), int(src.meta["opset"])
    if traced_alone(finding):
        path = TRACE_ALONE
    row = registry.converter(path)
    upstream = row is not None or path == TRACE_ALONE
    imports = ["import numpy as np"]
    needs_tf = row is None or row.signed or spec.subclassed or keras_text.uses_custom_layer(spec)
    imports += ["import tensorflow as tf"] if needs_tf else []
    imports += ["import keras", *(row.imports if row else ())]
    imports += ["import onnx"] if finding.stage == Stage.CHECK else []
    imports += ["import onnxruntime as ort"] if reaches(finding, Stage.LOAD) else []
    if not upstream:
        module, _, function = path.partition("@")[0].partition(":")
        imports += [f"from {module} import {function}  # a converter of the suite's own",
                    "from roundtrip.spec.model import ModelSpec"]
    lines = [*sorted_imports(imports), ""]
    if keras_text.uses_custom_layer(spec):
        lines += [custom_layer(keras_text.custom_names(spec)), "", ""]
    lines += keras_text.model_lines(spec) + keras_text.weight_lines(spec, src.weights)
    names = [keras_text.var(f"x_{i.name}") if len(spec.inputs) > 1 else "x" for i in spec.inputs]
    called_first = row.called_first if row else ""
    runs = (finding.stage in (Stage.BUILD, Stage.RUN, Stage.COMPARE) or bool(called_first)
            or finding.symptom in (Symptom.CRASH, Symptom.TIMEOUT))
    for k, (name, i) in enumerate(zip(names, spec.inputs, strict=True) if runs else []):
        size = src.sizes.get(i.name, i.shape)
        seed, shape = [spec.seed, 1 + k, src.batch, *size], (src.batch, *size)
        lines.append(f"{name} = {token_ids(seed, shape, i.ids) if i.ids else standard_normal(seed, shape, 'float32')}")
    fed = keras_text.one_or_list(names)
    many_out = len(spec.outputs) > 1
    k_out = finding.output or 0
    if finding.stage == Stage.BUILD or finding.stage == Stage.COMPARE and finding.symptom != Symptom.COUNT:
        lines.append(f"expected = np.asarray(model({fed}, training=False){f'[{k_out}]' if many_out else ''})")
    if finding.stage == Stage.BUILD:
        return lines
    if called_first and not lines[-1].startswith("expected ="):
        lines.append(f"model({fed})  # {called_first}")
    lines.append("")
    lines += conversion(spec, path, opset, upstream)
    if finding.stage == Stage.CONVERT:
        return lines
    if finding.stage == Stage.CHECK:
        return lines + check_lines(finding)
    lines.append('session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])')
    if finding.stage == Stage.LOAD:
        return lines
    feeds = ", ".join(f"{keras_text.text(i.name)}: {n}" for i, n in zip(spec.inputs, names, strict=True))
    pick = "" if finding.symptom == Symptom.COUNT else f"[{k_out}]"
    lines.append(f"actual = session.run(None, {{{feeds}}}){pick}")
    if finding.stage == Stage.RUN:
        return lines + (declared_lines(k_out) if finding.symptom == Symptom.DECLARED_SHAPE else [])
    count = str(len(spec.outputs)) if spec.subclassed else "len(model.outputs)"  # a subclassed model has none
    return lines + compare_lines(finding, KERAS_MODEL, ONNX_RUNTIME_CONVERTED, half=False, count=count)


TRACE_ALONE = "tf.function"  # what a script runs instead of a converter for a failure of Keras alone


def traced_alone(finding: Finding) -> bool:
    """Whether a conversion failure showed without the converter: Keras raised while a plain `tf.function`
    traced the model (check.keras_alone); its script has no converter, its title blames Keras."""
    return finding.stage == Stage.CONVERT and bool(finding.details.get("alone"))


def conversion(spec: ModelSpec, path: str, opset: int, upstream: bool) -> list[str]:
    """The lines converting `model` to `onnx_model` by the path's registry row (its `call`, after the input
    signature where it takes one), by a plain `tf.function` for TRACE_ALONE, or by a converter of the suite's own."""
    signature = ", ".join(f"tf.TensorSpec({(None, *i.declared)!r}, tf.{'int32' if i.ids else 'float32'}, "
                          f"name={keras_text.text(i.name)})" for i in spec.inputs)
    lines = [f"signature = [{signature}]"]
    call = "model(list(xs), training=False)" if len(spec.inputs) > 1 else "model(xs[0], training=False)"
    row = registry.converter(path)
    if row is not None and row.call:  # a subclassed model knows only the shapes it was first called with
        given = ", input_signature=signature" if spec.subclassed else ""
        text = [line.format(opset=opset, model_call=call, given=given) for line in row.call]
        return (lines if row.signed or spec.subclassed else []) + text
    if path == TRACE_ALONE:  # no converter: Keras raises while TensorFlow traces the model
        lines += [f"function = tf.function(lambda *xs: {call})", "function.get_concrete_function(*signature)"]
    elif not upstream:
        function = path.partition("@")[0].partition(":")[2]
        lines = [f"spec = ModelSpec.from_json({spec.to_json()!r})",
                 f"onnx_model = {function}(model, spec, {opset})"]
    else:
        raise ValueError(f"no conversion written for path {path!r}")
    return lines


def custom_layer(names: Sequence[str] = ("CenterCropReshape",)) -> str:
    """The custom objects' source, annotations dropped (the script imports no typing)."""
    tree = ast.parse(keras_text.custom_layer_source(names))
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            node.annotation = None
        if isinstance(node, ast.FunctionDef):
            node.returns = None
    return ast.unparse(tree)


# ---- ONNX Runtime alone ----------------------------------------------------------------------------------
def runtime_alone(src: Source) -> bool:
    """Whether the script is the converted graph and ONNX Runtime alone: a load or run failure blamed on ONNX
    Runtime (onnx's ReferenceEvaluator runs the graph to Keras' values, or a release of ONNX Runtime brought
    it), whose maintainers want neither Keras nor a converter in the repro."""
    finding = src.finding
    return (src.direction == KERAS_TO_ONNX_DIRECTION and src.onnx is not None and finding.package == "onnxruntime"
            and finding.stage in (Stage.LOAD, Stage.RUN) and finding.symptom == Symptom.EXCEPTION)


def runtime_lines(src: Source, tidy: bool, in_text: bool) -> list[str]:
    """The graph as parser text, the inputs the suite fed it, an ONNX Runtime session and its run."""
    model = onnx_text.tidy(src.onnx) if tidy else src.onnx
    graph = onnx_text.source(model, in_text=in_text)
    lines = [*sorted_imports(["import numpy as np", "import onnx", "import onnxruntime as ort"]), "",
             *onnx_text.lines(graph)]
    lines.append('session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])')
    if src.finding.stage == Stage.LOAD:
        return lines
    names, feeds = graph_feeds(graph)
    return [*lines, *input_lines(src, graph, names), f"session.run(None, {{{feeds}}})"]


def graph_feeds(graph: onnx_text.Graph) -> tuple[list[str], str]:
    """The script's names of the graph's inputs (x, or x0, x1...) and the feed dict's text that maps them."""
    names = ["x"] if len(graph.inputs) == 1 else [f"x{k}" for k in range(len(graph.inputs))]
    return names, ", ".join(f"{keras_text.text(n)}: {x}" for (n, _, _), x in zip(graph.inputs, names, strict=True))


def input_lines(src: Source, graph: onnx_text.Graph, names: list[str]) -> list[str]:
    """Each input drawn as the suite drew it (see `input_seed`)."""
    return [f"{name} = {standard_normal(*input_seed(src, k, dims), dtype)}"
            for k, (name, (_, dims, dtype)) in enumerate(zip(names, graph.inputs, strict=True))]


# ---- ONNX -> Keras ---------------------------------------------------------------------------------------
def onnx_to_keras(src: Source, tidy: bool, in_text: bool) -> list[str]:
    finding, back = src.finding, str(src.meta["back"])
    model = onnx_text.tidy(src.onnx) if tidy else src.onnx
    graph = onnx_text.source(model, in_text=in_text)
    way_back = way_back_failed(finding)  # the Keras model that came back, to ONNX again
    input_names = ", ".join(keras_text.text(n) for n, _, _ in graph.inputs)
    converting, converted = repro_lines(back, [dims for _, dims, _ in graph.inputs], f"[{input_names}]")
    imports = ["import numpy as np", "import onnx"]
    imports += ["import onnxruntime as ort"] if finding.stage == Stage.COMPARE and not way_back else []
    imports += converting
    if way_back:
        imports += registry.again().again_imports
    lines = [*sorted_imports(imports), "", *onnx_text.lines(graph)]
    names, feeds = graph_feeds(graph)
    if finding.stage in (Stage.RUN, Stage.COMPARE) and not way_back:
        lines += input_lines(src, graph, names)
    k_out = finding.output or 0
    pick = "" if finding.symptom == Symptom.COUNT else f"[{k_out}]"
    if finding.stage == Stage.COMPARE and not way_back:
        lines.append(f"expected = ort.InferenceSession(onnx_model.SerializeToString()).run(None, {{{feeds}}}){pick}")
    lines.append("")
    lines += converted
    if finding.stage == Stage.LOAD and not way_back:
        return lines
    if way_back:
        return lines + way_back_lines(finding, int(src.meta["opset"]))
    nhwc_in, nhwc_out = layouts(src, back, graph)
    args = [f"np.moveaxis({x}, 1, -1)" if flag else x for x, flag in zip(names, nhwc_in, strict=True)]
    call = f"keras_model({keras_text.one_or_list(args)}, training=False)"
    if finding.symptom == Symptom.COUNT:
        return lines + compare_lines(finding, "the graph", keras_made_by(back), half=False,
                                     count="len(onnx_model.graph.output)", actual="len(keras_model.outputs)")
    else:
        many = len(graph.outputs) > 1
        got = f"np.asarray({call}{f'[{k_out}]' if many else ''})"
        if k_out < len(nhwc_out) and nhwc_out[k_out]:
            got = f"np.moveaxis({got}, -1, 1)"
        lines.append(f"actual = {got}")
    if finding.stage == Stage.RUN:
        return lines
    half = "float16" in {d for _, _, d in graph.inputs}
    return lines + compare_lines(finding, ONNX_RUNTIME_GIVEN, keras_made_by(back), half=half)


def input_seed(src: Source, k: int, dims: tuple[int | str, ...]) -> tuple[list[int], tuple[int, ...]]:
    """The seed list and shape the suite drew input `k` from (see roundtrip.spec.inputs and GraphSpec.make_inputs).
    A graph input of concrete `dims` (past the batch) that the spec's input does not have (the graph lost its
    first node: the input is what that node made) is drawn at those dims, from the same kind of seed."""
    spec = src.spec
    made = _made_input(src, k, dims)
    if made is not None:
        return [spec.seed, 1 + k, src.batch, *made], (src.batch, *made)
    if isinstance(spec, GraphSpec):
        return [spec.seed, 0, src.batch, *spec.input_shape], (src.batch, *spec.input_shape)
    i = spec.inputs[k]
    size = src.sizes.get(i.name, i.shape)
    return [spec.seed, 1 + k, src.batch, *size], (src.batch, *size)


def _made_input(src: Source, k: int, dims: tuple[int | str, ...]) -> tuple[int, ...] | None:
    """The dims past the batch of graph input `k` when they are all concrete and not the spec's input's."""
    rest = dims[1:]
    if not dims or not all(isinstance(d, int) for d in rest):
        return None
    spec = src.spec
    size = spec.input_shape if isinstance(spec, GraphSpec) else src.sizes.get(spec.inputs[k].name, spec.inputs[k].shape)
    return None if tuple(rest) == tuple(size) else tuple(int(d) for d in rest)


def layouts(src: Source, back: str, graph: onnx_text.Graph) -> tuple[list[bool], list[bool]]:
    """Which inputs the converter's Keras model takes channels-last and which outputs it gives so."""
    ranks_in = [len(dims) for _, dims, _ in graph.inputs]
    row = registry.converter(back)
    layout = row.layout if row else registry.AS_THE_GRAPH
    if layout == registry.CHANNELS_LAST:
        out_ranks = [len(d) for d in output_dims(src.onnx)]
        return [r >= 3 for r in ranks_in], [r >= 3 for r in out_ranks]
    if layout == registry.RECORDED:  # as it chose on the graph it was given; by rank on a graph that lost some
        recorded = src.finding.details.get("layouts") or {}
        nhwc_in = list(recorded.get("inputs_nhwc", []))
        nhwc_out = list(recorded.get("outputs_nhwc", []))
        out_ranks = [len(d) for d in output_dims(src.onnx)]
        if len(nhwc_in) != len(ranks_in):
            nhwc_in = [3 <= r <= 5 for r in ranks_in]
        if nhwc_out and len(nhwc_out) != len(out_ranks):
            nhwc_out = [3 <= r <= 5 for r in out_ranks]
        return nhwc_in, nhwc_out
    return [False] * len(ranks_in), []


def output_dims(model: Any) -> list[tuple[int, ...]]:
    return [tuple(d.dim_value for d in v.type.tensor_type.shape.dim) for v in model.graph.output]


def way_back_lines(finding: Finding, opset: int) -> list[str]:
    """The Keras model that came back, to ONNX again, as roundtrip's server does it (registry.AGAIN)."""
    lines = [line.format(opset=opset) for line in registry.again().again]
    if finding.stage == Stage.CHECK:
        lines.append("onnx.checker.check_model(onnx_again, full_check=True)")
    return lines


def converter_name(back: str) -> str:
    """What a title calls an ONNX -> Keras converter: its package (a converter of the caller's own: its name)."""
    row = registry.converter(back)
    return row.package if row is not None and back in ONNX_TO_KERAS else back


# What each side of a comparison is, as the assertion's message names it.
KERAS_MODEL = "the Keras model"
ONNX_RUNTIME_CONVERTED = "ONNX Runtime on the converted graph"
ONNX_RUNTIME_GIVEN = "ONNX Runtime on the graph"


def keras_made_by(back: str) -> str:
    return f"the Keras model {converter_name(back)} makes"


# ---- the last lines: what the finding is -------------------------------------------------------------------
def compare_lines(finding: Finding, want: str, got: str, *, half: bool, count: str = "len(expected)",
                  actual: str = "len(actual)") -> list[str]:
    """The assertion that fails while the bug shows.  `want` and `got` name what gave `expected` and
    `actual` (see KERAS_MODEL and the others); `count` and `actual`: the output counts compared."""
    if finding.symptom == Symptom.COUNT:
        return [f'assert {actual} == {count}, f"{got} gives {{{actual}}} outputs; {want}, {{{count}}}"']
    if finding.symptom == Symptom.SHAPE:
        message = f"{got} gives shape {{actual.shape}}; {want}, {{expected.shape}}"
        return [f'assert actual.shape == expected.shape, f"{message}"']
    if finding.symptom == Symptom.DTYPE:
        message = f"{got} gives {{actual.dtype}}; {want}, {{expected.dtype}}"
        return [f'assert actual.dtype == expected.dtype, f"{message}"']
    if finding.symptom == Symptom.DECLARED_SHAPE:
        return declared_lines(finding.output or 0)
    tol = "1e-2" if half else "1e-4"
    scale = "max(1.0, np.abs(expected).max())"
    return [f"np.testing.assert_allclose(actual, expected, rtol={tol}, atol={tol} * {scale},",
            f'                           err_msg="actual: {got}, desired: {want}")']


def declared_lines(k: int) -> list[str]:
    return [f"declared = [d.dim_value or None for d in onnx_model.graph.output[{k}].type.tensor_type.shape.dim]",
            "assert len(declared) == actual.ndim and all(d in (None, n) for d, n in zip(declared, actual.shape)), "
            'f"the graph declares {declared}, ONNX Runtime gives {actual.shape}"']


def check_lines(finding: Finding) -> list[str]:
    if finding.symptom == Symptom.DECLARED_SHAPE:
        k = finding.output or 0
        return ["inferred = onnx.shape_inference.infer_shapes(onnx_model, strict_mode=True, data_prop=True)",
                f"declared, derived = (m.graph.output[{k}].type.tensor_type.shape "
                "for m in (onnx_model, inferred))",
                'assert declared == derived, f"the graph declares {declared}, shape inference gives {derived}"']
    return ["onnx.checker.check_model(onnx_model, full_check=True)"]


# ---- the header -----------------------------------------------------------------------------------------------
def header(src: Source, body: str) -> list[str]:
    """The script's first lines: its title, the versions of what `body` (the script's code) imports, its exit
    status."""
    finding = src.finding
    return [f"# {title(src)}",
            f"# {versions_line(src, body)}.",
            "# Exits 1 while the bug shows" + (FLAKY if finding.flaky else "") + ", 0 once it is fixed."]


FLAKY = " (in some runs only: the converter is not deterministic)"
HEADER_LINES = 3  # what `header` writes


def reheaded(src: Source, script: str) -> str:
    """`script` (a repro.py `render` wrote) with its header written again from its own code: the title from the
    graph it holds, the versions from what it imports.  Its code is left as it is (the graph it was reduced to)."""
    lines = script.splitlines()
    body = lines[HEADER_LINES:]
    return "\n".join([*header(shipped(src, script), "\n".join(body)), *body]) + "\n"


def title(src: Source) -> str:
    """One line that says what breaks, for repro.py's first line and issue.md's title."""
    finding, back = src.finding, str(src.meta.get("back", ""))
    if src.direction == KERAS_TO_ONNX_DIRECTION:
        path = str(src.meta["path"])
        row = registry.converter(path)
        who = row.api if row is not None and row.side == registry.KERAS_TO_ONNX else path
        model = layer_kinds(src.spec)
        if traced_alone(finding):
            return f"Keras raises {finding.kind} when a plain tf.function traces the model, no converter ({model})"
        if runtime_alone(src):  # the node ONNX Runtime names (the script's graph may be smaller than the entry's)
            named = re.search(r"while running (\w+) node", finding.message)
            node = named.group(1) if named else src.onnx.graph.node[-1].op_type if src.onnx.graph.node else ""
            verb = "cannot load" if finding.stage == Stage.LOAD else f"raises {finding.kind} running"
            return f"ONNX Runtime {verb} a valid graph of {a_or_an(node)} {node} node (opset {opset_of(src.onnx)})"
        what = {Stage.CONVERT: f"{who} raises {finding.kind}",
                Stage.CHECK: f"{who} writes a graph onnx.checker rejects",
                Stage.LOAD: f"ONNX Runtime cannot load what {who} writes",
                Stage.RUN: f"ONNX Runtime fails running what {who} writes",
                Stage.BUILD: f"Keras fails on {model}"}.get(finding.stage, "")
        if finding.stage == Stage.COMPARE:
            what = f"{who}: ONNX Runtime's {symptom_words(finding)} differ from Keras'"
        return f"{what} ({model})" if finding.stage != Stage.BUILD else what
    who = converter_name(back)
    if finding.symbolic_dim:
        return symbolic_title(finding, who)
    node = title_node(src)
    on = f" on {a_or_an(node)} {node} node" if node else ""
    if way_back_failed(finding):
        what = ("writes a graph onnx.checker rejects" if finding.stage == Stage.CHECK
                else f"raises {expected_exception(finding)}")
        return f"{registry.again().api} {what}, given the Keras model {who} makes"
    what = {Stage.LOAD: f"{who} raises {expected_exception(finding)} converting the graph{on}",
            Stage.RUN: f"the Keras model {who} makes raises {expected_exception(finding)}{on}"}.get(finding.stage, "")
    if finding.stage == Stage.COMPARE:
        what = f"{who}'s Keras model gives other {symptom_words(finding)} than ONNX Runtime{on}"
    if finding.symptom in (Symptom.CRASH, Symptom.TIMEOUT):
        what = f"{who} {'crashes' if finding.symptom == Symptom.CRASH else 'hangs'} ({finding.stage}){on}"
    return what


def symbolic_title(finding: Finding, who: str) -> str:
    """The title of a failure the symbolic input dims cause: the graph as declared fails (on the node its
    kind names, where that node's code is at fault), the same graph with them fixed converts and runs."""
    node = re.search(r"\[(\w+)\]:", finding.kind)
    on = f" on {a_or_an(node.group(1))} {node.group(1)} node" if node else ""
    graph, raises = "a graph whose input has a symbolic dim", f"raises {expected_exception(finding)}{on}"
    fails = (f"{who} {raises} converting {graph}" if finding.stage == Stage.LOAD
             else f"the Keras model {who} makes of {graph} {raises}")
    return f"{fails}; with the dim fixed, the same graph converts and runs"


def title_node(src: Source) -> str:
    """The op type an ONNX -> Keras title names, a node of the graph the script ships: the node the converter
    raised on (where it says), else the culprit the finding names when the graph has a node of that kind, else
    (a Keras layer's kind, met on a round trip; a run failure or a dtype no node is named for) the node that
    makes the graph output the finding is about; "" when none is known."""
    finding = src.finding
    named = node_kind(finding)
    if finding.where:
        return named
    kinds = {n.op_type for n in src.onnx.graph.node} if src.onnx is not None else set()
    if named and named in kinds and src.direction != ROUND_TRIP_DIRECTION:
        return named
    if finding.stage not in (Stage.RUN, Stage.COMPARE) or finding.symptom == Symptom.COUNT:
        return named if named in kinds else ""
    return output_node(src.onnx, finding.output or 0) if src.onnx is not None else ""


def shipped(src: Source, script: str) -> Source:
    """`src` with the graph `script` holds as parser text as its graph (the one a maintainer gets: a script's graph
    may be a part of the entry's), None when it holds none (a script that converts a Keras model); `src` for no
    script."""
    return replace(src, onnx=script_graph(script)) if script else src


def script_graph(script: str) -> Any | None:
    """The ONNX model the script's `onnx.parser.parse_model` call parses (its nodes; initializers the script
    adds after it are left out); None when it has none."""
    import onnx

    try:
        tree = ast.parse(script)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and ast.unparse(node.func) == "onnx.parser.parse_model" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            try:
                return onnx.parser.parse_model(node.args[0].value)
            except Exception:  # noqa: BLE001 - text the parser refuses: no graph to read
                return None
    return None


def output_node(model: Any, k: int) -> str:
    """The op type of the node that makes graph output `k` ("" for an output no node makes)."""
    if k >= len(model.graph.output):
        return ""
    name = model.graph.output[k].name
    return next((n.op_type for n in model.graph.node if name in n.output), "")


def opset_of(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def culprit(finding: Finding) -> str:
    return finding.kind.split("@", 1)[1] if "@" in finding.kind else ""


def symptom_words(finding: Finding) -> str:
    return {Symptom.SHAPE: "output shapes", Symptom.VALUE: "output values", Symptom.DTYPE: "output dtypes",
            Symptom.COUNT: "output counts", Symptom.DECLARED_SHAPE: "declared shapes"}.get(finding.symptom, "outputs")


def a_or_an(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def layer_kinds(spec: ModelSpec | GraphSpec) -> str:
    if isinstance(spec, GraphSpec):
        return ", ".join(dict.fromkeys(n.kind for n in spec.nodes)) or "Identity"
    kinds = list(dict.fromkeys(layer.kind for layer in spec.layers))
    form = "Sequential" if spec.sequential else "subclassed" if spec.subclassed else "functional"
    return f"{form} model: {', '.join(kinds)}" if kinds else f"{form} model without layers"


def versions_line(src: Source, script: str) -> str:
    """"numpy 2.4.6, onnx 1.23.2, ..., Python 3.11.7": the versions of the packages `script` imports, then
    Python's."""
    said = [f"{k} {v}" for k, v in script_versions(src, script).items()]
    python = src.meta.get("python")
    return ", ".join([*said, *([f"Python {python}"] if python else [])])


def script_versions(src: Source, script: str) -> dict[str, str]:
    """The versions of the packages the script's code imports (`imported_packages`), of the converter it runs
    and of what a converter it imports loads (its row's `loads`: TensorFlow under onnx2keras and onnx2tf),
    the one at fault first, then in its import order, where
    it runs: as the entry recorded them, or (an entry of a converter with an environment of its own, recorded
    with this interpreter's versions) as that environment has them.  A package neither records is left out
    (the suite's own code, a user's module of custom layers)."""
    keras_to_onnx = src.direction == KERAS_TO_ONNX_DIRECTION
    name = str(src.meta.get("path", "")) if keras_to_onnx else str(src.meta.get("back", ""))
    found = dict(src.meta.get("versions", {}))
    row = registry.converter(name)
    if not keras_to_onnx and row is not None and row.environment is not None and row.package not in found:
        from roundtrip.convert.remote import environment_versions

        found = environment_versions(name)
    called = [row.package] if keras_to_onnx and row is not None and calls_converter(src) else []  # keras' export
    imported = [*imported_packages(script), *called]
    loaded = [p for c in registry.CONVERTERS if c.package in imported for p in c.loads]  # TensorFlow, under onnx2tf
    wanted = sorted(dict.fromkeys([*imported, *loaded]), key=lambda k: k != src.finding.package)
    return {k: found[k] for k in wanted if k in found and found[k] != "absent"}


def calls_converter(src: Source) -> bool:
    """Whether a Keras -> ONNX script runs its converter (which Keras' export runs inside, not imported)."""
    return src.finding.stage != Stage.BUILD and not traced_alone(src.finding) and not runtime_alone(src)


def imported_packages(script: str) -> list[str]:
    """The top-level packages a script's code imports (`import onnx2tf`, `from onnx import helper`), in the
    order it imports them, the standard library's left out."""
    try:
        tree = ast.parse(script)
    except SyntaxError:
        return []
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module.split(".")[0])
    return [name for name in dict.fromkeys(found) if name not in sys.stdlib_module_names]


def sorted_imports(imports: list[str]) -> list[str]:
    """The standard library's first, then the rest; plain `import`s before `from` imports; each once."""
    def key(line: str) -> tuple[bool, bool, str]:
        module = line.split()[1].split(".")[0]
        return module not in sys.stdlib_module_names, line.startswith("from "), line
    return sorted(dict.fromkeys(imports), key=key)
