"""One Keras -> ONNX check, as a worker process runs it: build, convert, check the graph, load, run each
case, compare with Keras, and blame.  Returns an Outcome: the findings in oracle order and what a
corpus entry needs (the ONNX bytes, the weights, each case's inputs and outputs)."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from roundtrip.build.keras import build_keras, run_keras
from roundtrip.convert.back import category, run_back
from roundtrip.convert.converters import resolve
from roundtrip.convert.environmental import raise_if_environmental
from roundtrip.finding.findings import Blame, Error, Finding, Stage, Symptom, plain_text
from roundtrip.finding.identity import node_kind, operator_of, package_of, place, raised_at
from roundtrip.oracle.compare import close, compare, graph_findings
from roundtrip.oracle.layouts import taken
from roundtrip.oracle.outcome import Case, Job, Outcome, Report, first_of_each
from roundtrip.oracle.symbolic import fixed_runs_right, symbolic_finding
from roundtrip.run.runners import OrtSession, declared_dims, fed_inputs, run_reference
from roundtrip.spec.inputs import make_inputs
from roundtrip.spec.model import ModelSpec, SpecError
from roundtrip.spec.parts import sub_model


def run_job(job: Any, report: Report = lambda stage: None) -> Outcome:
    """The worker's task: one check of any kind (a `Job`, or a `graph_check.GraphJob`)."""
    if not isinstance(job, Job):
        from roundtrip.oracle.graph_check import check_graph

        return check_graph(job, report)
    return check_round_trip(job, report) if job.back else check_keras_to_onnx(job, report)


def plan_cases(spec: ModelSpec) -> list[tuple[int, dict[str, tuple[int, ...]]]]:
    """Batch 1 and batch 3 at the drawn sizes; for a dynamic spec, batch 2 at the first larger spatial
    sizes that every layer still fits."""
    cases: list[tuple[int, dict[str, tuple[int, ...]]]] = [(1, {}), (3, {})]
    if spec.dynamic:
        for grow in (1, 2, 3, 5):
            sizes = {i.name: tuple(d + grow for d in i.shape[:-1]) + i.shape[-1:] if i.dynamic else i.shape
                     for i in spec.inputs}
            try:
                spec.shapes_at(sizes)
            except SpecError:
                continue
            cases.append((2, sizes))
            break
    return cases


def _prepare(job: Job, report: Report) -> tuple[ModelSpec, Any, Outcome]:
    """The spec, its Keras model, and an outcome holding the cases (inputs, Keras outputs) and weights."""
    spec = ModelSpec.from_json(job.spec)
    report(Stage.BUILD)
    model = build_keras(spec)
    if job.weights:
        set_given_weights(spec, model, job.weights)
    cases = []
    for batch, sizes in plan_cases(spec):
        inputs = make_inputs(spec, batch, sizes)
        cases.append(Case(batch, sizes, inputs, run_keras(model, inputs)))
    weights = {f"{layer.name}/{i}": plain(w) for layer in spec.layers
               for i, w in enumerate(model.get_layer(layer.name).get_weights())}
    return spec, model, Outcome([], cases, None, weights)


def set_given_weights(spec: ModelSpec, model: Any, path: str) -> None:
    """The weights of the .npz at `path` ("<layer>/<index>"), for each layer whose weights they fit."""
    with np.load(path) as given:
        for layer in spec.layers:
            keras_layer = model.get_layer(layer.name)
            arrays = [given.get(f"{layer.name}/{i}") for i in range(len(keras_layer.weights))]
            if arrays and all(a is not None and a.shape == tuple(w.shape)
                              for a, w in zip(arrays, keras_layer.weights, strict=True)):
                keras_layer.set_weights(arrays)


def plain(array: np.ndarray) -> np.ndarray:
    """bfloat16 weights as float32 (which holds them exactly): numpy and repro.py know no bfloat16; Keras
    casts them back when they are set."""
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


def check_keras_to_onnx(job: Job, report: Report = lambda stage: None) -> Outcome:
    converter = resolve(job.path)
    spec, model, outcome = _prepare(job, report)

    def locate(case: Case) -> str | None:
        return _culprit(spec, converter, job.opset, case)

    return keras_to_onnx(job.path, converter.convert, model, spec, job.opset, outcome, Blamer(locate, spec), report)


Locate = Callable[[Case], str | None]


@dataclass(frozen=True)
class Blamer:
    """How a mismatch is named: `locate(case)` gives the kind of the first layer whose own output differs
    (None when it cannot tell); else the kind of the layer that produces output k of `spec`, or
    `producers[k]` for a model that is not a spec's (a user's own)."""

    locate: Locate
    spec: ModelSpec
    producers: tuple[str, ...] = ()

    def producer(self, k: int) -> str:
        return self.producers[k] if k < len(self.producers) else _producer(self.spec, k)


def keras_to_onnx(path: str, convert: Any, model: Any, spec: ModelSpec, opset: int, outcome: Outcome,
                  blamer: Blamer, report: Report = lambda stage: None) -> Outcome:
    """The Keras model `model` (its inputs as `spec` declares them) through `convert`, then the graph checks,
    a session, each case of `outcome` run and compared with Keras, and each mismatch blamed and named."""
    cases = outcome.cases
    report(Stage.CONVERT)
    try:
        proto = convert(model, spec, opset)
    except Exception as e:  # noqa: BLE001 - a converter's exception is a finding
        outcome.findings.append(keras_alone(_exception(path, Stage.CONVERT, e), model, spec))
        return outcome
    outcome.onnx = proto.SerializeToString()

    report(Stage.CHECK)
    outcome.findings += graph_findings(path, proto)
    invalid = any(f.symptom is Symptom.EXCEPTION for f in outcome.findings)
    report(Stage.LOAD)
    try:
        session = OrtSession.load(outcome.onnx)
    except Exception as e:  # noqa: BLE001
        if not invalid:  # ONNX Runtime refusing a graph the checker refused is the same fault, filed once
            outcome.findings.append(runtime_blamed(_exception(path, Stage.LOAD, e), proto, cases))
        return outcome
    declared = declared_dims(proto)
    failures: list[tuple[Case, Finding]] = []
    for case in cases:
        report(Stage.RUN)
        try:
            case.actual = session.run(case.inputs)
        except Exception as e:  # noqa: BLE001
            failed = _exception(path, Stage.RUN, e, case.label)
            failures.append((case, failed if invalid else runtime_blamed(failed, proto, [case])))
            continue
        report(Stage.COMPARE)
        found = compare(path, case.label, case.expected, case.actual, declared, slack=case.slack)
        if any(f.symptom in (Symptom.SHAPE, Symptom.VALUE) and f.output is not None for f in found):
            # Once per case, not per mismatch: both run Keras again, and the culprit converts again.
            keras_wrong = not _keras_consistent(model, case)
            culprit = blamer.locate(case)
            found = [_blamed(f, proto, case, blamer, keras_wrong, culprit) for f in found]
        outcome.findings += found
    for case, failed in failures:
        if invalid or failed.blame is Blame.RUNTIME:  # the checker's finding, or the runtime's own fault
            outcome.findings.append(failed)
        else:
            outcome.findings = placed(failed, spec, case, outcome.findings, _onnx_probe(convert, opset))
    outcome.findings += _warning_findings(path, session, outcome.findings)
    outcome.findings = first_of_each(outcome.findings)
    return outcome


def _onnx_probe(convert: Any, opset: int) -> Probe:
    """A sub-model converted to ONNX and run in ONNX Runtime: its outputs, or the Error of its run."""
    def probe(model: Any, sub: ModelSpec, inputs: list[np.ndarray], expected: list[np.ndarray]) -> Any:
        session = OrtSession.load(convert(model, sub, opset).SerializeToString())  # raises: cannot tell
        try:
            return session.run(inputs)
        except Exception as e:  # noqa: BLE001 - the failure to run is what is looked for
            return Error.of(e)

    return probe


_KERAS_CALL = re.compile(r"Exception encountered when calling (\w+)\.call\(\)")


def _exception(path: str, stage: Stage, error: BaseException, label: str = "", kind: str = "") -> Finding:
    """A Keras -> ONNX exception, placed at the deepest frame of the converter's package or of Keras (which
    traces the model for the converter: Keras' own export fails there too) with the node or layer kind."""
    raise_if_environmental(error, path)  # no network, a missing download: the machine's, never a finding
    text = "".join(traceback.format_exception(error))
    details = {"traceback": text} | ({"case": label} if label else {})
    message = str(error) or repr(error)
    # Keras wraps what its layers raise in "Exception encountered when calling <Layer>.call()": such an
    # error comes from Keras tracing the model for the converter, not from the converter's own code.
    # Its place is that layer's call, whichever path traced it (Keras filters its own frames from the trace).
    called = _KERAS_CALL.search(message)
    blame = Blame.KERAS if "Exception encountered when calling" in message else Blame.CONVERTER
    packages = (package_of(path), "keras")
    where = f"keras:{called.group(1)}.call" if called else place(text, packages, node_kind(error, packages))
    return Finding(path, stage, Symptom.EXCEPTION, kind or type(error).__name__, message, blame, where=where,
                   details=details, origin=raised_at(text, package_of(path)))


def keras_alone(finding: Finding, model: Any, spec: ModelSpec) -> Finding:
    """A conversion failure blamed on Keras (a layer raised while the model was traced) stays Keras' only
    when tracing the model in a plain `tf.function`, no converter at all, raises the same exception type:
    the evidence goes into the details.  When the plain trace goes through, the converter's tracing is what
    fails: the finding is the converter's, placed in its code."""
    if finding.blame is not Blame.KERAS:
        return finding
    error = trace_alone(model, spec)
    if error is not None and type(error).__name__ == finding.kind:
        evidence = "the model raises the same when traced in a plain tf.function, without the converter"
        return replace(finding, details={**finding.details, "evidence": evidence, "alone": True})
    text = finding.details.get("traceback", "")
    return replace(finding, blame=Blame.CONVERTER, where=place(text, (package_of(finding.path),)),
                   details={**finding.details, "evidence": "a plain tf.function trace of the model goes through"})


def trace_alone(model: Any, spec: ModelSpec) -> BaseException | None:
    """What tracing `model` in a plain `tf.function` at the converters' input signature raises (None when
    it traces)."""
    import tensorflow as tf

    from roundtrip.convert.converters import signature

    many = len(spec.inputs) > 1
    function = tf.function(lambda *xs: model(list(xs) if many else xs[0], training=False))
    try:
        function.get_concrete_function(*signature(spec))
    except Exception as e:  # noqa: BLE001 - what it raises is the evidence
        return e
    return None


def runtime_blamed(finding: Finding, proto: Any, cases: list[Case]) -> Finding:
    """ONNX Runtime's exception on a graph that passed the full checker: ONNX Runtime's own fault when onnx's
    ReferenceEvaluator runs the graph to Keras' outputs on every case (the graph computes the model, the
    runtime does not run it); else the converter's, as it was.  The evidence goes into the details."""
    if not cases or not all(reference_agrees(proto, case) for case in cases):
        return finding
    evidence = ("onnx's ReferenceEvaluator runs the graph to Keras' outputs on "
                + ", ".join(case.label for case in cases))
    return replace(finding, blame=Blame.RUNTIME, where="", details={**finding.details, "evidence": evidence})


def reference_agrees(proto: Any, case: Case) -> bool:
    """Whether onnx's ReferenceEvaluator runs `proto` on the case's inputs to the case's expected outputs."""
    try:
        reference = run_reference(proto, case.inputs)
    except Exception:  # noqa: BLE001 - the reference evaluator cannot run every graph
        return False
    return len(reference) == len(case.expected) and all(
        r.shape == e.shape and close(r, e, case.allowance(k)).all()
        for k, (r, e) in enumerate(zip(reference, case.expected, strict=True)))


def _warning_findings(path: str, session: OrtSession, found: list[Finding]) -> list[Finding]:
    """ORT's own warnings about declared shapes, when no comparison already caught the same thing."""
    if any(f.symptom is Symptom.DECLARED_SHAPE for f in found) or not session.warnings:
        return []
    where, text = session.warnings[0]
    stage = Stage.LOAD if where == "MergeShapeInfo" else Stage.RUN
    return [Finding(path, stage, Symptom.DECLARED_SHAPE, f"ort-warning:{where}", text)]


def _blamed(finding: Finding, proto: Any, case: Case, blamer: Blamer, keras_wrong: bool,
            culprit: str | None) -> Finding:
    """For a shape or value mismatch: who is wrong (Keras, when its batched outputs differ from its
    outputs one example at a time; else the reference evaluator decides between the graph and ONNX
    Runtime) and which layer first goes wrong (the kind goes into the signature)."""
    if finding.symptom not in (Symptom.SHAPE, Symptom.VALUE) or finding.output is None:
        return finding
    blame = Blame.KERAS if keras_wrong else _blame(proto, case, finding.output)
    culprit = culprit or blamer.producer(finding.output)
    return replace(finding, kind=f"{finding.kind}@{culprit}", blame=blame,
                   details={**finding.details, "case": case.label, "culprit": culprit})


def _blame(proto: Any, case: Case, k: int) -> Blame:
    try:
        reference = run_reference(proto, case.inputs)[k]
    except Exception:  # noqa: BLE001 - the reference evaluator cannot run every graph
        return Blame.UNKNOWN
    assert case.actual is not None
    expected, actual = case.expected[k], case.actual[k]
    if reference.shape == actual.shape and close(reference, actual, case.allowance(k)).all():
        return Blame.CONVERTER
    if reference.shape == expected.shape and close(reference, expected, case.allowance(k)).all():
        return Blame.RUNTIME
    return Blame.UNKNOWN


def _keras_consistent(model: Any, case: Case) -> bool:
    """Whether Keras gives each example of the batch the same outputs alone as in the batch: when it does
    not, Keras (TensorFlow's kernel) is the one that is wrong, whatever ONNX Runtime says."""
    if case.batch == 1:
        return True
    for i in range(case.batch):
        alone = run_keras(model, [x[i : i + 1] for x in case.inputs])
        if not all(a.shape == e[i : i + 1].shape and close(a, e[i : i + 1], case.allowance(k)).all()
                   for k, (a, e) in enumerate(zip(alone, case.expected, strict=True))):
            return False
    return True


def _producer(spec: ModelSpec, k: int) -> str:
    by_name = {layer.name: layer.kind for layer in spec.layers}
    return by_name.get(spec.outputs[k], "Input")


RunProbe = Callable[[Any, ModelSpec, list[np.ndarray]], list[np.ndarray]]


def first_differing(spec: ModelSpec, inputs: list[np.ndarray], run: RunProbe) -> str | None:
    """The kind of the first layer (in topological order) whose own output differs between Keras and
    `run` (the converted model, run): first a copy of the model that outputs every layer; when that copy
    does not convert, run or show the difference, each layer's sub-model in turn (outputs moved forward,
    as Polygraphy's reducer does).  None when neither finds one."""
    if not spec.layers:
        return None
    probe = ModelSpec(spec.inputs, spec.layers, tuple(layer.name for layer in spec.layers), spec.seed,
                      dtype=spec.dtype)
    found = _differing(probe, inputs, run)
    if found:
        return found
    for layer in spec.layers:
        sub = sub_model(spec, (layer.name,))
        if sub and _differing(sub, [x for i, x in zip(spec.inputs, inputs, strict=True) if i in sub.inputs], run):
            return layer.kind
    return None


def _differing(probe: ModelSpec, inputs: list[np.ndarray], run: RunProbe) -> str | None:
    try:
        model = build_keras(probe)
        expected = run_keras(model, inputs)
        actual = run(model, probe, inputs)
    except Exception:  # noqa: BLE001 - a probe that does not convert or run says nothing
        return None
    by_name = {layer.name: layer.kind for layer in probe.layers}
    for name, e, a in zip(probe.outputs, expected, actual, strict=False):
        if e.shape != a.shape or not close(a, e).all():
            return by_name[name]
    return None


def _culprit(spec: ModelSpec, converter: Any, opset: int, case: Case) -> str | None:
    """The first layer whose own output already differs in ONNX Runtime."""
    def run(model: Any, probe: ModelSpec, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return OrtSession.load(converter.convert(model, probe, opset).SerializeToString()).run(inputs)

    return first_differing(spec, case.inputs, run)


def _round_trip_culprit(job: Job, spec: ModelSpec, case: Case) -> str | None:
    """The first layer whose own output already differs in the Keras model that came back."""
    def run(model: Any, probe: ModelSpec, inputs: list[np.ndarray]) -> list[np.ndarray]:
        back = run_back(job.back, resolve(job.path).convert(model, probe, job.opset), [inputs])
        back = taken(job.back, back, [run_keras(model, inputs)])
        if back.load_error is not None or isinstance(back.outputs[0], Error):
            raise RuntimeError("the probe did not come back")
        return back.outputs[0]

    return first_differing(spec, case.inputs, run)


def check_round_trip(job: Job, report: Report = lambda stage: None) -> Outcome:
    """Keras -> ONNX (job.path) -> Keras (job.back), compared with the original Keras model.  A failure
    of the first conversion is the one-way property's to report: here it ends the check quietly."""
    spec, model, outcome = _prepare(job, report)

    def locate(case: Case) -> str | None:
        return _round_trip_culprit(job, spec, case)

    return round_trip(job, resolve(job.path).convert, model, spec, outcome, Blamer(locate, spec), report)


def round_trip(job: Job, convert: Any, model: Any, spec: ModelSpec, outcome: Outcome, blamer: Blamer,
               report: Report = lambda stage: None) -> Outcome:
    """`model` through `convert` to ONNX and through `job.back` to Keras again, each case of `outcome` run on
    the model that came back and compared with the original's outputs."""
    report(Stage.CONVERT)
    try:
        proto = convert(model, spec, job.opset)
    except Exception:  # noqa: BLE001 - found and filed by the Keras -> ONNX property
        return outcome
    if not _valid_for(proto, spec):  # the first converter's fault, filed by the Keras -> ONNX property
        return outcome
    outcome.onnx = proto.SerializeToString()
    report(Stage.LOAD)
    run = run_back(job.back, proto, [case.inputs for case in outcome.cases])
    run = taken(job.back, run, [case.expected for case in outcome.cases])
    if run.load_error is not None:
        fixed = fixed_runs_right(job.back, proto, outcome.cases)
        outcome.findings.append(symbolic_finding(run.load_error, job.name, Stage.LOAD, proto, fixed) if fixed else
                                run.load_error.finding(job.name, Stage.LOAD, kind=category(run.load_error, proto)))
        return outcome
    report(Stage.COMPARE)
    failed: list[tuple[Case, Error]] = []
    for case, outputs in zip(outcome.cases, run.outputs, strict=True):
        if isinstance(outputs, Error):
            failed.append((case, outputs))
            continue
        case.actual = outputs
        found = compare(job.name, case.label, case.expected, case.actual, [None] * len(case.actual),
                        slack=case.slack)
        if any(f.symptom in (Symptom.SHAPE, Symptom.VALUE) for f in found):
            culprit = blamer.locate(case)  # once per case, not per mismatch
            found = [_named(f, blamer, case, culprit) for f in found]
        outcome.findings += found
    # The symbolic input dims' failures, when the graph with them fixed runs right on every case that failed
    # (roundtrip.oracle.symbolic); a case it still fails on says the cause is another.
    fixed = fixed_runs_right(job.back, proto, [case for case, _ in failed])
    for case, error in failed:
        outcome.findings = ([*outcome.findings, symbolic_finding(error, job.name, Stage.RUN, proto, fixed, case.label)]
                            if fixed else run_failure(job, spec, case, error, outcome.findings, proto))
    outcome.findings = run.noted(first_of_each(outcome.findings))
    return outcome


def run_failure(job: Job, spec: ModelSpec, case: Case, error: Error, findings: list[Finding],
                proto: Any = None) -> list[Finding]:
    """`findings` with a round trip's run failure on `case`, placed where it arises (`placed`); when no layer
    before the one it arises at is wrong, the mismatch of a node of the converted graph `proto` already wrong
    before it (`wrong_node`: a layer converts to several nodes, and the one at fault need not be the one
    that fails), with the layer the failure arises in (`details.layer`)."""
    def probe(model: Any, sub: ModelSpec, inputs: list[np.ndarray], expected: list[np.ndarray]) -> Any:
        back = run_back(job.back, resolve(job.path).convert(model, sub, job.opset), [inputs])
        back = taken(job.back, back, [expected])
        if back.load_error is not None:
            raise RuntimeError("the sub-model did not come back")  # cannot tell
        return back.outputs[0]

    failure = error.finding(job.name, Stage.RUN, case.label)
    placed_here = placed(failure, spec, case, findings, probe)
    if proto is None or len(placed_here) != len(findings) + 1 or placed_here[-1].symptom != Symptom.EXCEPTION:
        return placed_here  # placed at an earlier layer's mismatch, or folded into one
    wrong = wrong_node(job.name, job.back, proto, case, failure)
    if wrong is None:
        return placed_here
    # The Keras layer the node's failure arises in (`layer`): the node's param case is that layer's
    # (recorder.case_of), a model path's node having no params of its own in the spec.
    layer = placed_here[-1].details.get("arises_at")
    return [*findings, replace(wrong, details={**wrong.details, "layer": layer})] if layer else [*findings, wrong]


def wrong_node(path: str, back: str, proto: Any, case: Case, failure: Finding) -> Finding | None:
    """When the model `back` makes of the ONNX graph `proto` fails to run on `case` (`failure`): the first node
    whose own conversion is already wrong, the graph cut after each node before the failing one (the one the
    failure's place names, `identity.operator_of`; else before the last), converted and run, its output against
    ONNX Runtime's (in any axis order the converter's row allows, `taken`).  That mismatch, named after the
    node's kind, is the finding (the failure is its consequence, `downstream`).  Only cuts at a floating-point
    tensor count (the shape arithmetic of an exporter's graph is not what the converter is asked to keep).
    None when every cut converts and runs right, a cut fails to convert or run (the failure arises there),
    or none can be made."""
    from onnx import TensorProto

    from roundtrip.oracle.graph_check import SIDES
    from roundtrip.store.script.onnx_text import cut_after, valid

    kinds = [node.op_type for node in proto.graph.node]
    failing = operator_of(failure.where)
    last = kinds.index(failing) if failing in kinds else len(kinds) - 1
    floats = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)
    for k in range(last):
        cut = cut_after(proto, k)
        if cut is None or cut.graph.output[0].type.tensor_type.elem_type not in floats or not valid(cut):
            continue
        try:
            expected = OrtSession.load(cut.SerializeToString()).run(case.inputs)
            run = taken(back, run_back(back, cut, [case.inputs]), [expected])
        except Exception:  # noqa: BLE001 - a cut the suite cannot run says nothing
            continue
        if run.load_error is not None or isinstance(run.outputs[0], Error):
            return None  # the cut fails as well: nothing before it is wrong
        found = [f for f in compare(path, case.label, expected, run.outputs[0], [None], SIDES)
                 if f.symptom in (Symptom.SHAPE, Symptom.VALUE) and f.output is not None]
        if found:
            details = {**found[0].details, "case": case.label, "culprit": kinds[k],
                       "downstream": plain_text(failure.message)[:300]}
            return replace(found[0], kind=f"{found[0].kind}@{kinds[k]}", details=details)
    return None


# How a sub-model runs converted: (model, its spec, its inputs, Keras' outputs) -> the outputs, or the Error
# of its failure to run; it raises when the sub-model cannot be checked (it does not convert or load).
Probe = Callable[[Any, ModelSpec, list[np.ndarray], list[np.ndarray]], Any]


def placed(failure: Finding, spec: ModelSpec, case: Case, findings: list[Finding], probe: Probe) -> list[Finding]:
    """`findings` with a run failure on `case`, placed where it arises (`failing_layer`): when a layer before
    it is already wrong on the case, that layer's mismatch (the failure is its consequence, `downstream`);
    when the layer it arises at is the culprit of another case's mismatch, that mismatch alone (one fault of
    one layer: which shows depends on the sizes, as a wrong shape and a wrong value do; `also_raises`); else
    the failure, with the kind of the layer it arises at (`arises_at`: the recorder folds it into a known
    mismatch of that culprit met on another example, `Recorder.mismatch_of`)."""
    place = failing_layer(failure.path, spec, case, probe)
    if place is None:
        return [*findings, failure]
    kind, wrong = place
    said = plain_text(failure.message)[:300]
    if wrong is not None:
        return [*findings, replace(wrong, details={**wrong.details, "downstream": said})]
    same = [k for k, f in enumerate(findings) if f.symptom in (Symptom.SHAPE, Symptom.VALUE)
            and f.details.get("culprit") == kind]
    if not same:
        return [*findings, replace(failure, details={**failure.details, "arises_at": kind})]
    k = same[0]
    also = {**findings[k].details, "also_raises": said, "also_case": case.label}
    return [*findings[:k], replace(findings[k], details=also), *findings[k + 1:]]


def failing_layer(path: str, spec: ModelSpec, case: Case, probe: Probe) -> tuple[str, Finding | None] | None:
    """Where a run failure on `case` arises: each layer's sub-model in turn (topological order) converted
    and run on the case (`probe`).  The first whose output differs gives its kind and that mismatch (named
    after it); the first that fails to run, its kind and None.  None when no sub-model tells (each
    converts right, or cannot be checked)."""
    for layer in spec.layers:
        sub = sub_model(spec, (layer.name,))
        if sub is None:
            continue
        inputs = [x for i, x in zip(spec.inputs, case.inputs, strict=True) if i in sub.inputs]
        try:
            model = build_keras(sub)
            expected = run_keras(model, inputs)
            got = probe(model, sub, inputs, expected)
        except Exception:  # noqa: BLE001 - a sub-model the suite cannot check says nothing
            continue
        if isinstance(got, Error):
            return layer.kind, None
        found = [f for f in compare(path, case.label, expected, got, [None] * len(got))
                 if f.symptom in (Symptom.SHAPE, Symptom.VALUE) and f.output is not None]
        if found:
            culprit = replace(found[0], kind=f"{found[0].kind}@{layer.kind}",
                              details={**found[0].details, "case": case.label, "culprit": layer.kind})
            return layer.kind, culprit
    return None


def _valid_for(proto: Any, spec: ModelSpec) -> bool:
    """Whether the first conversion made a model the way back may be blamed for: one that passes
    onnx.checker's full check and takes the spec's inputs (tf2onnx 1.17.0 leaves an unconverted
    StatefulPartitionedCall in a float64 grouped Conv3D's graph, and makes bfloat16 constants graph inputs)."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception:  # noqa: BLE001 - any checker failure
        return False
    return len(fed_inputs(proto)) == len(spec.inputs)


def _named(finding: Finding, blamer: Blamer, case: Case, culprit: str | None) -> Finding:
    """A round trip's mismatch, named after the first layer whose output differs in the model that came
    back (the layer producing the output when that cannot be told); a batch baked in too."""
    if finding.output is None or finding.symptom not in (Symptom.SHAPE, Symptom.VALUE):
        return finding
    culprit = culprit or blamer.producer(finding.output)
    return replace(finding, kind=f"{finding.kind}@{culprit}",
                   details={**finding.details, "case": case.label, "culprit": culprit})
