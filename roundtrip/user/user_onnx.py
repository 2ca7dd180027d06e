"""A user's own ONNX model (`roundtrip check MODEL.onnx`): loaded, described, checked through an ONNX -> Keras
converter (and back to ONNX through a Keras -> ONNX path), cut at a node.

The checks are `roundtrip.oracle.graph_check`'s legs: ONNX Runtime on the graph gives the expected outputs (onnx's
ReferenceEvaluator where ONNX Runtime cannot run the graph, an opset-6 BatchNormalization say: `Checked.expected_by`
says which), the converter's Keras model is compared with them, then the ONNX made again from that model.  What
differs from a drawn graph is where the graph comes from and how its first wrong node is found: a copy of the graph that
outputs every node's tensors, else a bisection over the graph cut after each node (`onnx.utils.Extractor`, as
Polygraphy's `debug reduce` moves the outputs).  A cut keeps the graph up to a node's outputs, or (`alone`) that
node alone, its inputs fed with the values the whole graph computes for them.  Runs in a worker process.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from roundtrip.finding.findings import Finding, Stage
from roundtrip.oracle.layouts import taken
from roundtrip.oracle.margins import spread, worst_error
from roundtrip.oracle.outcome import REFERENCE, RUNTIME, Case, GraphJob, Outcome, Report, UserFile
from roundtrip.run.runners import OrtSession, fed_inputs, run_reference
from roundtrip.user.cuts import Cuts, Written
from roundtrip.user.user_model import SPATIAL, BadInput, arrays_in

BATCHES = (1, 3)


@dataclass
class Described:
    problem: str = ""
    inputs: list[tuple[str, tuple[int | None, ...], str]] = field(default_factory=list)
    outputs: int = 0
    nodes: list[tuple[str, str]] = field(default_factory=list)  # (name, op_type) in graph order
    params: int = 0  # initializer elements
    opset: int = 0


@dataclass
class Checked:
    outcome: Outcome
    worst: tuple[float, float] | None = None
    layer: str = ""  # the name of the first node whose own output differs
    described: Described | None = None
    spread: float | None = None  # margins.spread
    expected_by: str = RUNTIME  # what ran the graph for the expected outputs: RUNTIME, or REFERENCE
    refused: str = ""  # with REFERENCE: why ONNX Runtime could not run the graph (its error's first line)


# ---- loading --------------------------------------------------------------------------------------------------
def load_graph(path: str) -> Any:
    """The graph, each node named (a node without a name gets `<op>_<k>`); BadInput when onnx cannot read it or
    its checker rejects it."""
    import onnx

    try:
        model = onnx.load(path)
    except Exception as e:  # noqa: BLE001
        raise BadInput(f"{path}: not an ONNX model onnx can read ({type(e).__name__})") from None
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001
        raise BadInput(f"{path}: onnx.checker rejects it ({str(e).splitlines()[0][:200]})") from None
    if not fed_inputs(model):
        raise BadInput(f"{path}: the graph has no inputs")
    for k, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{k}"
    return model


def opset_of(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def dims_of(value: Any) -> tuple[int | None, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim)


def dtype_of(value: Any) -> np.dtype:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))


def describe(model: Any) -> Described:
    inputs = [(i.name, dims_of(i), dtype_of(i).name) for i in fed_inputs(model)]
    for name, _, dtype in inputs:
        if dtype not in ("float16", "float32", "float64", "int32", "int64"):
            return Described(problem=f"input {name!r} is {dtype}: float and integer inputs are checked")
    return Described(inputs=inputs, outputs=len(model.graph.output),
                     nodes=[(n.name, n.op_type) for n in model.graph.node],
                     params=int(sum(np.prod(t.dims) for t in model.graph.initializer)), opset=opset_of(model))


# ---- cases ------------------------------------------------------------------------------------------------------
def plan_cases(model: Any, inputs_file: str) -> tuple[list[Case], str, str]:
    """Batch 1 and 3 where the first dim is unknown (else its own size, once), SPATIAL for every other unknown
    dim; or the arrays of `inputs_file`.  Expected: ONNX Runtime on the graph, else onnx's ReferenceEvaluator;
    BadInput when neither can run it.  Returns the cases, which of the two ran them, and why ONNX Runtime
    could not ("" when it could)."""
    inputs = fed_inputs(model)
    if inputs_file:
        plans = [_read(inputs_file, inputs)]
    else:
        batches = BATCHES if any(dims_of(i)[:1] == (None,) for i in inputs) else (0,)
        plans = [[_draw(i, k, batch) for k, i in enumerate(inputs)] for batch in batches]
    return expected_on(model, [Case(int(arrays[0].shape[0]) if arrays[0].ndim else 1, {}, arrays, [])
                               for arrays in plans])


def expected_on(model: Any, cases: list[Case]) -> tuple[list[Case], str, str]:
    """The cases with their expected outputs from ONNX Runtime on `model`, else from onnx's ReferenceEvaluator;
    which of the two gave them, and why ONNX Runtime could not ("" when it could).  BadInput when neither can."""
    refused = ""
    for by in (RUNTIME, REFERENCE):
        try:
            return [replace(c, expected=run_graph(by, model, c.inputs)) for c in cases], by, refused
        except Exception as e:  # noqa: BLE001 - the next way, else no expected outputs
            why = _first_line(e)
            refused = refused or why
    raise BadInput(f"neither ONNX Runtime ({refused}) nor onnx's ReferenceEvaluator ({why}) can run the graph")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def run_graph(by: str, model: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The graph's outputs on `arrays` (its fed inputs in order), computed by `by` (RUNTIME or REFERENCE)."""
    if by == REFERENCE:
        return run_reference(model, arrays)
    return OrtSession.load(model.SerializeToString()).run(arrays)


def _draw(value: Any, k: int, batch: int) -> np.ndarray:
    dims = dims_of(value)
    shape = tuple((batch if j == 0 and batch else SPATIAL) if d is None else d for j, d in enumerate(dims))
    rng = np.random.default_rng([0, 1 + k, batch, *shape])
    dtype = dtype_of(value)
    if dtype.kind == "i":
        return rng.integers(0, 2, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _read(path: str, inputs: list[Any]) -> list[np.ndarray]:
    arrays = arrays_in(path)
    found = []
    for k, value in enumerate(inputs):
        array = arrays.get(value.name, arrays.get(f"arr_{k}"))
        dims = dims_of(value)
        if array is None or array.ndim != len(dims) or any(d is not None and d != n
                                                            for d, n in zip(dims, array.shape, strict=True)):
            raise BadInput(f"--inputs {path}: no array of shape {dims} for input {value.name!r} (nor arr_{k})")
        found.append(array.astype(dtype_of(value)))
    return found


# ---- cutting ------------------------------------------------------------------------------------------------------
def typed(model: Any) -> dict[str, Any]:
    """Every tensor's ValueInfo that shape inference can type, by name."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {i.name: i for i in infos if i.type.tensor_type.elem_type}


def with_outputs(model: Any, names: list[str]) -> Any:
    """A copy of the graph whose outputs are `names` (typed by shape inference; their dims left unknown)."""
    from onnx import helper

    types = typed(model)
    copy = type(model)()
    copy.CopyFrom(model)
    del copy.graph.output[:]
    copy.graph.output.extend(helper.make_tensor_value_info(n, types[n].type.tensor_type.elem_type, None)
                             for n in names)
    return copy


def cut_graph(model: Any, node_name: str, alone: bool, cases: list[Case], by: str = RUNTIME) -> tuple[Any, list[Case]]:
    """The graph up to node `node_name`'s outputs, or that node alone on inputs `in0`, `in1`... fed with the values
    the whole graph computes for them; and the cases on it (expected: `by` on the cut)."""
    from onnx import helper

    node = next(n for n in model.graph.node if n.name == node_name)
    types = typed(model)
    outputs = [o for o in node.output if o and o in types]
    if not alone:
        cut = up_to(model, outputs)
        names = [i.name for i in fed_inputs(cut)]
        original = [i.name for i in fed_inputs(model)]
        feeds = [[case.inputs[original.index(n)] for n in names] for case in cases]
    else:
        weights = {t.name: t for t in model.graph.initializer}
        fed = [name for name in dict.fromkeys(node.input) if name and name not in weights]
        rename = {name: f"in{k}" for k, name in enumerate(fed)}
        single = helper.make_node(node.op_type, [rename.get(n, n) for n in node.input], list(node.output),
                                  name=node.name, domain=node.domain)
        single.attribute.extend(node.attribute)
        graph = helper.make_graph(
            [single], "cut", [helper.make_tensor_value_info(rename[n], types[n].type.tensor_type.elem_type,
                                                            list(dims_of(types[n]))) for n in fed],
            [helper.make_tensor_value_info(o, types[o].type.tensor_type.elem_type, None) for o in outputs],
            [weights[n] for n in dict.fromkeys(node.input) if n in weights])
        cut = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
        whole = with_outputs(model, fed)
        feeds = [run_graph(by, whole, case.inputs) for case in cases]
    return cut, [Case(case.batch, case.sizes, ins, run_graph(by, cut, ins))
                 for case, ins in zip(cases, feeds, strict=True)]


def up_to(model: Any, outputs: list[str]) -> Any:
    """The graph that computes `outputs` (typed, their dims unknown): the nodes they need, the inputs and
    initializers those read (onnx.utils.Extractor's cut, without its need of every tensor's shape)."""
    needed, kept = set(outputs), []
    for node in reversed(model.graph.node):
        if needed & set(node.output):
            kept.append(node)
            needed.update(n for n in node.input if n)
    cut = with_outputs(model, outputs)
    del cut.graph.node[:]
    cut.graph.node.extend(reversed(kept))
    weights = [t for t in model.graph.initializer if t.name in needed]
    del cut.graph.initializer[:]
    cut.graph.initializer.extend(weights)
    inputs = [i for i in model.graph.input if i.name in needed]
    del cut.graph.input[:]
    cut.graph.input.extend(inputs)
    del cut.graph.value_info[:]
    return cut


# ---- locating the first node that goes wrong ----------------------------------------------------------------------
def first_wrong_node(back: str, model: Any, case: Case, by: str = RUNTIME) -> Any:
    """The first computing node (in graph order) one of whose outputs differs between `by` and the converter's
    Keras model: the graph with every typed node output as an output; when that copy does not convert or run, a
    bisection over the graph cut after each node.  None when neither finds one.  Constant nodes are left out: a
    constant made a graph output is not what the converter is asked to convert (onnx2tf gives one channels-last
    without saying so), and a constant it reads wrong shows at the node that uses it."""
    types = typed(model)
    tensors = [(node, o) for node in computing(model) for o in node.output if o and o in types]
    if not tensors:
        return None
    found = _differing(back, with_outputs(model, [o for _, o in tensors]), case.inputs, by)
    if found is not None:
        return tensors[found][0] if found >= 0 else None
    nodes = list(dict.fromkeys(node.name for node, _ in tensors))
    low, high = 0, len(nodes) - 1
    while low < high:
        middle = (low + high) // 2
        try:
            cut, cut_cases = cut_graph(model, nodes[middle], False, [case], by)
        except Exception:  # noqa: BLE001 - a cut that cannot be made or run: look further on
            low = middle + 1
            continue
        shown = _differing(back, cut, cut_cases[0].inputs, by)
        if shown is not None and shown >= 0:
            high = middle
        else:
            low = middle + 1
    return next(node for node in model.graph.node if node.name == nodes[low])


def computing(model: Any) -> list[Any]:
    """The nodes that compute (all but Constant nodes), in graph order."""
    return [node for node in model.graph.node if node.op_type != "Constant"]


def _differing(back: str, probe: Any, inputs: list[np.ndarray], by: str) -> int | None:
    """The index of the first output of `probe` the converter's Keras model gets wrong (against `by` on it), -1
    when none, None when the probe does not convert or run."""
    from roundtrip.convert.back import run_back
    from roundtrip.finding.findings import Error
    from roundtrip.oracle.compare import close

    try:
        expected = run_graph(by, probe, inputs)
        outputs = taken(back, run_back(back, probe, [inputs]), [expected]).outputs
    except Exception:  # noqa: BLE001
        return None
    if not outputs or isinstance(outputs[0], Error):
        return None
    for k, (e, a) in enumerate(zip(expected, outputs[0], strict=False)):
        if e.shape != a.shape or not close(a, e).all():
            return k
    return -1


# ---- the worker's task -------------------------------------------------------------------------------------------
def run_onnx_job(job: GraphJob, report: Report = lambda stage: None) -> Described | Checked:
    """Describes the user's graph (a job without a converter) or checks it; a bad input is a Described with its
    problem."""
    report(Stage.BUILD)
    try:
        model = load_graph(job.user.model)
        described = describe(model)
        if described.problem or not job.back:
            return described
        return check(job, model, report)
    except BadInput as e:
        return Described(problem=str(e))


def check(job: GraphJob, model: Any, report: Report) -> Checked:
    from roundtrip.convert.back import back_opset, category, run_back
    from roundtrip.oracle.graph_check import first_leg, second_leg
    from roundtrip.oracle.outcome import first_of_each

    file = job.user
    cases, by, refused = plan_cases(model, file.inputs)
    if file.cut:
        model, cases = cut_graph(model, file.cut, file.alone, cases, by)
        if by == REFERENCE:  # ONNX Runtime may run the part it could not run the whole of
            cases, by, refused = expected_on(model, cases)
    outcome = Outcome([], cases, model.SerializeToString())
    found: list[str] = []

    def locate(case: Case) -> str | None:
        node = first_wrong_node(job.back, model, case, by) if file.locate else (computing(model) or [None])[-1]
        found.append(node.name if node is not None else "")
        return node.op_type if node is not None else None

    report(Stage.LOAD)
    run = run_back(job.back, model, [c.inputs for c in cases], job.path, back_opset(opset_of(model)))
    run = taken(job.back, run, [c.expected for c in cases])  # in any axis order, where its row says so
    if run.load_error is not None:
        outcome.findings.append(run.load_error.finding(job.leg, Stage.LOAD, kind=category(run.load_error, model)))
    else:
        report(Stage.COMPARE)
        agreed = first_leg(job.leg, locate, run, outcome)
        if job.path:
            report(Stage.CONVERT)
            second_leg(job.name, job.back, run, outcome, agreed)
    outcome.findings = run.noted(first_of_each([named_expected(f, by) for f in outcome.findings]))
    described = describe(model)
    if file.save:
        import onnx

        os.makedirs(file.save, exist_ok=True)
        onnx.save(model, os.path.join(file.save, "model.onnx"))
    return Checked(outcome, worst_error(cases), next((n for n in found if n), ""), described, spread(cases), by,
                   refused)


_GRAPH_SIDE = re.compile(r"ONNX Runtime on the graph(?! made again)")  # graph_check's name of the expected side


def named_expected(finding: Finding, by: str) -> Finding:
    """A comparison's finding naming what computed the expected outputs, where that is not ONNX Runtime."""
    if by == RUNTIME or finding.stage != Stage.COMPARE:
        return finding
    return replace(finding, message=_GRAPH_SIDE.sub(f"{by} on the graph", finding.message))


# ---- reducing (in the parent) ---------------------------------------------------------------------------------------
def reduce_onnx(pool: Any, harness: Any, options: Any, result: Any, row: Any, finding: Finding) -> Written:
    """The smallest graph that still shows `finding` (the node that goes wrong alone, else the graph cut after it,
    else the graph as it is), written as a model entry by the harness' recorder."""
    import tempfile

    from roundtrip.store.model_entry import onnx_model

    _, back, *rest = row.direction.split(">")
    job = GraphJob("", back, rest[0] if rest else "",
                   UserFile(str(options.model.resolve()), inputs=options.inputs, opset=result.described.opset))
    names = [name for name, _ in result.described.nodes]
    with tempfile.TemporaryDirectory(prefix="roundtrip-check-") as scratch:
        cuts = Cuts(pool, "shared", job, finding, Path(scratch), Checked)
        shows = cuts.shows
        found = None
        for name in _named_nodes(result.described.nodes, finding)[:3]:  # the node kind an exception names, alone
            found = shows(name, True)
            if found is not None:
                break
        node = row.where if row.where in names else "" if found else \
            cuts.first_showing(names)
        for cut, alone in ([(node, True), (node, False)] if node else []) + [("", False)]:
            if found is not None:
                break
            found = shows(cut, alone)
        if found is None:
            return Written(None, "not written: it did not show again on the graph or any cut of it")
        checked, folder, attempt = found
        shown = next(f for f in checked.outcome.findings if f.signature == finding.signature)
        body, repro = onnx_model(shown, attempt, checked, folder / "model.onnx")
        entry = harness.recorder.record_model(shown, body, attempt, checked.outcome, repro)
        assert checked.described is not None
        nodes = len(checked.described.nodes)
        cut = attempt.user.cut
        how = f", the node {cut!r} alone" if attempt.user.alone else f", cut after {cut!r}" if cut else ""
        return Written(entry, f"{nodes} node{'s' * (nodes != 1)}{how}, a model entry (model.onnx and repro.py)")


def _named_nodes(nodes: list[tuple[str, str]], finding: Finding) -> list[str]:
    """The nodes of the kind an exception's place names (`module:function[Kind]`), in graph order."""
    kind = finding.where.rsplit("[", 1)[1].rstrip("]") if finding.where.endswith("]") else ""
    return [name for name, op in nodes if op == kind] if kind else []
