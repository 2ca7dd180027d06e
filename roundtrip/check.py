"""One Keras -> ONNX check, as a worker process runs it: build, convert, check the graph, load, run each
case, compare with Keras, and blame.  Returns an Outcome: the findings in oracle order and what a
corpus entry needs (the ONNX bytes, the weights, each case's inputs and outputs)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from roundtrip.back import category, run_back
from roundtrip.build import build_keras, run_keras
from roundtrip.converters import resolve
from roundtrip.findings import Blame, Error, Finding, Stage, Symptom
from roundtrip.inputs import make_inputs
from roundtrip.oracle import close, compare, graph_findings
from roundtrip.runners import OrtSession, declared_dims, run_reference
from roundtrip.spec import ModelSpec, SpecError

Report = Callable[[str], None]


@dataclass(frozen=True)
class Job:
    spec: str  # ModelSpec JSON
    path: str  # the Keras -> ONNX path
    opset: int
    back: str = ""  # an ONNX -> Keras converter: a round trip, Keras -> ONNX -> Keras

    @property
    def name(self) -> str:
        """What findings are filed under: the path, or `path>back` for a round trip."""
        return f"{self.path}>{self.back}" if self.back else self.path

    @property
    def direction(self) -> str:
        return "keras-onnx-keras" if self.back else "keras-onnx"


def run_job(job: Any, report: Report = lambda stage: None) -> Outcome:
    """The worker's task: one check of any kind (a `Job`, or a `graph_check.GraphJob`)."""
    if not isinstance(job, Job):
        from roundtrip.graph_check import check_graph

        return check_graph(job, report)
    return check_round_trip(job, report) if job.back else check_keras_to_onnx(job, report)


@dataclass
class Case:
    batch: int
    sizes: dict[str, tuple[int, ...]]
    inputs: list[np.ndarray]
    expected: list[np.ndarray]
    actual: list[np.ndarray] | None = None

    @property
    def label(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        return f"batch {self.batch}" + (f", sizes {sizes}" if sizes else "")


@dataclass
class Outcome:
    findings: list[Finding]
    cases: list[Case] = field(default_factory=list)
    onnx: bytes | None = None
    weights: dict[str, np.ndarray] = field(default_factory=dict)


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
    cases = []
    for batch, sizes in plan_cases(spec):
        inputs = make_inputs(spec, batch, sizes)
        cases.append(Case(batch, sizes, inputs, run_keras(model, inputs)))
    weights = {f"{layer.name}/{i}": w for layer in spec.layers
               for i, w in enumerate(model.get_layer(layer.name).get_weights())}
    return spec, model, Outcome([], cases, None, weights)


def check_keras_to_onnx(job: Job, report: Report = lambda stage: None) -> Outcome:
    converter = resolve(job.path)
    spec, model, outcome = _prepare(job, report)
    cases = outcome.cases

    report(Stage.CONVERT)
    try:
        proto = converter.convert(model, spec, job.opset)
    except Exception as e:  # noqa: BLE001 - a converter's exception is a finding
        outcome.findings.append(_exception(job.path, Stage.CONVERT, e))
        return outcome
    outcome.onnx = proto.SerializeToString()

    report(Stage.CHECK)
    outcome.findings += graph_findings(job.path, proto)
    report(Stage.LOAD)
    try:
        session = OrtSession.load(outcome.onnx)
    except Exception as e:  # noqa: BLE001
        outcome.findings.append(_exception(job.path, Stage.LOAD, e))
        return outcome
    declared = declared_dims(proto)
    for case in cases:
        report(Stage.RUN)
        try:
            case.actual = session.run(case.inputs)
        except Exception as e:  # noqa: BLE001
            outcome.findings.append(_exception(job.path, Stage.RUN, e, case.label))
            continue
        report(Stage.COMPARE)
        found = compare(job.path, case.label, case.expected, case.actual, declared)
        if any(f.symptom in (Symptom.SHAPE, Symptom.VALUE) and f.output is not None for f in found):
            # Once per case, not per mismatch: both run Keras again, and the culprit converts again.
            keras_wrong = not _keras_consistent(model, case)
            culprit = _culprit(spec, converter, job.opset, case)
            found = [_blamed(f, proto, case, spec, keras_wrong, culprit) for f in found]
        outcome.findings += found
    outcome.findings += _warning_findings(job.path, session, outcome.findings)
    outcome.findings = first_of_each(outcome.findings)
    return outcome


def _exception(path: str, stage: Stage, error: BaseException, label: str = "", kind: str = "") -> Finding:
    details = {"traceback": "".join(traceback.format_exception(error))} | ({"case": label} if label else {})
    message = str(error) or repr(error)
    # Keras wraps what its layers raise in "Exception encountered when calling <Layer>.call()": such an
    # error comes from Keras tracing the model for the converter, not from the converter's own code.
    blame = Blame.KERAS if "Exception encountered when calling" in message else Blame.CONVERTER
    return Finding(path, stage, Symptom.EXCEPTION, kind or type(error).__name__, message, blame, details=details)


def _warning_findings(path: str, session: OrtSession, found: list[Finding]) -> list[Finding]:
    """ORT's own warnings about declared shapes, when no comparison already caught the same thing."""
    if any(f.symptom is Symptom.DECLARED_SHAPE for f in found) or not session.warnings:
        return []
    where, text = session.warnings[0]
    stage = Stage.LOAD if where == "MergeShapeInfo" else Stage.RUN
    return [Finding(path, stage, Symptom.DECLARED_SHAPE, f"ort-warning:{where}", text)]


def first_of_each(findings: list[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for f in findings:
        seen.setdefault(f.signature, f)
    return list(seen.values())


def _blamed(finding: Finding, proto: Any, case: Case, spec: ModelSpec, keras_wrong: bool,
            culprit: str | None) -> Finding:
    """For a shape or value mismatch: who is wrong (Keras, when its batched outputs differ from its
    outputs one example at a time; else the reference evaluator decides between the graph and ONNX
    Runtime) and which layer first goes wrong (the kind goes into the signature)."""
    if finding.symptom not in (Symptom.SHAPE, Symptom.VALUE) or finding.output is None:
        return finding
    blame = Blame.KERAS if keras_wrong else _blame(proto, case, finding.output)
    culprit = culprit or _producer(spec, finding.output)
    kind = f"{finding.kind}@{culprit}" + ("" if blame is Blame.CONVERTER else f"/{blame}")
    return replace(finding, kind=kind, blame=blame, details={**finding.details, "case": case.label, "culprit": culprit})


def _blame(proto: Any, case: Case, k: int) -> Blame:
    try:
        reference = run_reference(proto, case.inputs)[k]
    except Exception:  # noqa: BLE001 - the reference evaluator cannot run every graph
        return Blame.UNKNOWN
    assert case.actual is not None
    expected, actual = case.expected[k], case.actual[k]
    if reference.shape == actual.shape and close(reference, actual).all():
        return Blame.CONVERTER
    if reference.shape == expected.shape and close(reference, expected).all():
        return Blame.RUNTIME
    return Blame.UNKNOWN


def _keras_consistent(model: Any, case: Case) -> bool:
    """Whether Keras gives each example of the batch the same outputs alone as in the batch: when it does
    not, Keras (TensorFlow's kernel) is the one that is wrong, whatever ONNX Runtime says."""
    if case.batch == 1:
        return True
    for i in range(case.batch):
        alone = run_keras(model, [x[i : i + 1] for x in case.inputs])
        if not all(a.shape == e[i : i + 1].shape and close(a, e[i : i + 1]).all()
                   for a, e in zip(alone, case.expected, strict=True)):
            return False
    return True


def _producer(spec: ModelSpec, k: int) -> str:
    by_name = {layer.name: layer.kind for layer in spec.layers}
    return by_name.get(spec.outputs[k], "Input")


def _culprit(spec: ModelSpec, converter: Any, opset: int, case: Case) -> str | None:
    """The first layer (in topological order) whose own output already differs: converts a copy of the
    model that outputs every layer.  None when that copy does not convert or run."""
    if not spec.layers:
        return None
    probe = ModelSpec(spec.inputs, spec.layers, tuple(layer.name for layer in spec.layers), spec.seed)
    try:
        model = build_keras(probe)
        expected = run_keras(model, case.inputs)
        actual = OrtSession.load(converter.convert(model, probe, opset).SerializeToString()).run(case.inputs)
    except Exception:  # noqa: BLE001
        return None
    for layer, e, a in zip(spec.layers, expected, actual, strict=False):
        if e.shape != a.shape or not close(a, e).all():
            return layer.kind
    return None


def check_round_trip(job: Job, report: Report = lambda stage: None) -> Outcome:
    """Keras -> ONNX (job.path) -> Keras (job.back), compared with the original Keras model.  A failure
    of the first conversion is the one-way property's to report: here it ends the check quietly."""
    spec, model, outcome = _prepare(job, report)
    report(Stage.CONVERT)
    try:
        proto = resolve(job.path).convert(model, spec, job.opset)
    except Exception:  # noqa: BLE001 - found and filed by the Keras -> ONNX property
        return outcome
    outcome.onnx = proto.SerializeToString()
    report(Stage.LOAD)
    run = run_back(job.back, proto, [case.inputs for case in outcome.cases])
    if run.load_error is not None:
        outcome.findings.append(run.load_error.finding(job.name, Stage.LOAD, kind=category(run.load_error, proto)))
        return outcome
    report(Stage.COMPARE)
    for case, outputs in zip(outcome.cases, run.outputs, strict=True):
        if isinstance(outputs, Error):
            outcome.findings.append(outputs.finding(job.name, Stage.RUN, case.label))
            continue
        case.actual = outputs
        found = compare(job.name, case.label, case.expected, case.actual, [None] * len(case.actual))
        outcome.findings += [_named(f, spec, case) for f in found]
    outcome.findings = run.noted(first_of_each(outcome.findings))
    return outcome


def _named(finding: Finding, spec: ModelSpec, case: Case) -> Finding:
    """A round trip's mismatch, named after the layer producing the output (there is no ONNX Runtime
    opinion to localise with: the Keras model that came back is the thing under test).  A batch that
    differs is the whole model's (a converter that bakes the batch in), so it names no layer."""
    if finding.output is None or finding.symptom not in (Symptom.SHAPE, Symptom.VALUE):
        return finding
    if finding.kind == "shape:batch":
        return replace(finding, details={**finding.details, "case": case.label})
    culprit = _producer(spec, finding.output)
    return replace(finding, kind=f"{finding.kind}@{culprit}",
                   details={**finding.details, "case": case.label, "culprit": culprit})
