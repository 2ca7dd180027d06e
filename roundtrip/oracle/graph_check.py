"""One ONNX -> Keras -> ONNX check, as a worker process runs it.

The graph (a `GraphSpec`) runs in ONNX Runtime: those are the expected outputs.  The ONNX -> Keras
converter (`job.back`) makes a Keras model of it, which runs on the same inputs (through the layout
transposes of a converter that reorders); then a Keras -> ONNX path (`job.path`) makes ONNX of that
Keras model again, which ONNX Runtime runs once more.  Both are compared with the original graph's
outputs, in the oracle's order.  Findings of the first leg are filed under `onnx>BACK`, of the second
under `onnx>BACK>PATH`: a Keras model that is already wrong is the first leg's finding, not the second's.

A converter that runs in an environment of its own (onnx2tf) does the Keras part behind
`roundtrip.convert.remote`; every other runs here.  Either way, what comes back is a `BackRun`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from roundtrip.convert.back import back_opset, category, resolve_back, run_back
from roundtrip.convert.made import BackRun
from roundtrip.finding.findings import Error, Finding, Stage, Symptom, plain_text
from roundtrip.finding.identity import operator_of
from roundtrip.oracle.compare import close, compare, graph_findings
from roundtrip.oracle.layouts import taken
from roundtrip.oracle.outcome import Case, GraphJob, Outcome, Report, first_of_each
from roundtrip.oracle.symbolic import fixed_runs_right, symbolic_finding
from roundtrip.run.runners import OrtSession
from roundtrip.spec.graph import GraphSpec

SIDES = ("ONNX Runtime on the graph", "Keras model")
SIDES_BACK = ("ONNX Runtime on the graph", "ONNX Runtime on the graph made again")
BATCHES = (1, 3)


def check_graph(job: GraphJob, report: Report = lambda stage: None) -> Outcome:
    spec = GraphSpec.from_json(job.graph)
    report(Stage.BUILD)
    proto = spec.to_onnx()
    graph = proto.SerializeToString()
    outcome = Outcome([], onnx=graph)
    # A graph drawn by construction is valid and runs: if not (or a reducer's candidate is not), the suite's
    # check raises, and the candidate is not taken.
    import onnx

    onnx.checker.check_model(proto, full_check=True)
    original = OrtSession.load(graph)
    for batch in BATCHES:
        inputs = spec.make_inputs(batch)
        outcome.cases.append(Case(batch, {}, inputs, original.run(inputs)))
    report(Stage.LOAD)
    opset = back_opset(spec.opset)
    run = run_back(job.back, proto, [c.inputs for c in outcome.cases], job.path, opset)
    chosen = run.layouts  # as the converter chose them: the ONNX made again is wrapped in these
    run = taken(job.back, run, [c.expected for c in outcome.cases])
    if run.load_error is not None:
        outcome.findings.append(load_failure(job, spec, proto, outcome.cases, run.load_error))
        return outcome
    report(Stage.COMPARE)

    def locate(case: Case) -> str | None:
        return graph_culprit(job.back, spec, proto, case)

    # Where the graph with its symbolic input dims fixed runs right on every case it failed on, those failures
    # are the symbolic dims' (roundtrip.oracle.symbolic); a case it still fails on says the cause is another.
    failing = [c for c, got in zip(outcome.cases, run.outputs, strict=True) if isinstance(got, Error)]
    fixed = fixed_runs_right(job.back, proto, failing)

    def failed(case: Case, error: Error, found: list[Finding]) -> list[Finding]:
        if fixed:
            return [*found, symbolic_finding(error, job.leg, Stage.RUN, proto, fixed, case.label)]
        return run_failure(job, spec, case, error, found)

    agreed = first_leg(job.leg, locate, run, outcome, failed)
    if job.path:
        report(Stage.CONVERT)
        second_leg(job.name, job.back, run, outcome, agreed, chosen)
    outcome.findings = run.noted(first_of_each(outcome.findings))
    return outcome


def load_failure(job: GraphJob, spec: GraphSpec, proto: Any, cases: list[Case], error: Error) -> Finding:
    """The finding of the converter's failure to load the graph: the symbolic input dim's, when the graph
    with it fixed converts and runs right on every case (`roundtrip.oracle.symbolic`); else the mismatch of
    an earlier node already wrong (`wrong_before`); else the failure."""
    fixed = fixed_runs_right(job.back, proto, cases)
    if fixed:
        return symbolic_finding(error, job.leg, Stage.LOAD, proto, fixed)
    earlier = wrong_before(job, spec, cases, error)
    return earlier or error.finding(job.leg, Stage.LOAD, kind=category(error, proto))


def wrong_before(job: GraphJob, spec: GraphSpec, cases: list[Case], error: Error,
                 stage: Stage = Stage.LOAD) -> Finding | None:
    """When a conversion fails at a node (`stage` LOAD), or the Keras model fails to run on the cases (RUN),
    the first earlier node whose own conversion is already wrong: the graph cut after each node before the
    failing one (before the last, for a run failure whose node is not known), converted and run, its output
    against ONNX Runtime's.  That mismatch is the finding (the failure downstream is its consequence); None
    when every earlier cut converts right, an earlier cut fails the same way (the failure arises there), or
    a load failure's node is not known.  The failing node is the one the error names, else the one its place
    in the converter's code names (`identity.operator_of`: an onnx2tf error from its own environment names
    no node, but its frame `onnx2tf.ops.MaxPool:make_node` does)."""
    kinds = [node.kind for node in spec.nodes]
    failing = error.node or operator_of(error.finding(job.leg, stage).where)
    if failing and failing in kinds:
        last = kinds.index(failing)
    elif stage is Stage.RUN:
        last = len(kinds) - 1
    else:
        return None
    for k in range(1, last + 1):
        cut = replace(spec, nodes=spec.nodes[:k])
        proto = cut.to_onnx()
        try:
            expected = [OrtSession.load(proto.SerializeToString()).run(c.inputs) for c in cases]
            run = taken(job.back, run_back(job.back, proto, [c.inputs for c in cases]), expected)
        except Exception:  # noqa: BLE001 - a cut the suite cannot run says nothing
            continue
        if run.load_error is not None:
            return None  # an earlier node fails to convert too: that failure is its own finding
        for case, want, got in zip(cases, expected, run.outputs, strict=True):
            if isinstance(got, Error):
                if stage is Stage.RUN:
                    return None  # the run fails this early: nothing before it is wrong
                break
            found = compare(job.leg, case.label, want, got, [None], SIDES)
            found = [f for f in found if f.symptom in (Symptom.SHAPE, Symptom.VALUE) and f.output is not None]
            if found:
                cut_case = Case(case.batch, case.sizes, case.inputs, want, got)
                said = {**found[0].details, "downstream": plain_text(error.message)[:300]}
                return _named(replace(found[0], details=said), cut_case, kinds[k - 1])
    return None


Failed = Callable[[Case, Error, list[Finding]], list[Finding]]


def first_leg(leg: str, locate: Callable[[Case], str | None], run: BackRun, outcome: Outcome,
              failed: Failed | None = None) -> list[bool]:
    """The Keras model's outputs against the graph's, case by case (a mismatch named after the node
    `locate(case)` gives); then each case the Keras model failed to run on, its finding placed by
    `failed(case, error, findings)` (the findings so far, with it); which cases agreed."""
    agreed, failures = [], []
    for case, outputs in zip(outcome.cases, run.outputs, strict=True):
        if isinstance(outputs, Error):
            failures.append((case, outputs))
            agreed.append(False)
            continue
        case.actual = outputs
        found = compare(leg, case.label, case.expected, outputs, [None], SIDES)
        if any(f.symptom in (Symptom.SHAPE, Symptom.VALUE) for f in found):
            culprit = locate(case)
            found = [_named(f, case, culprit) for f in found]
        outcome.findings += found
        agreed.append(not found)
    for case, error in failures:
        outcome.findings = (failed(case, error, outcome.findings) if failed is not None
                            else [*outcome.findings, error.finding(leg, Stage.RUN, case.label)])
    return agreed


def run_failure(job: GraphJob, spec: GraphSpec, case: Case, error: Error, findings: list[Finding]) -> list[Finding]:
    """`findings` with the Keras model's failure to run on `case`: the mismatch of an earlier node already
    wrong on the case (`wrong_before`); else, when the graph cut after another case's culprit fails the same
    case, that mismatch alone (one fault of one node: which shows depends on the sizes); else the failure."""
    wrong = wrong_before(job, spec, [case], error, Stage.RUN)
    if wrong is not None:
        return [*findings, wrong]
    for k, found in enumerate(findings):
        culprit = found.details.get("culprit")
        if found.symptom in (Symptom.SHAPE, Symptom.VALUE) and culprit and fails_after(job, spec, case, culprit):
            also = {**found.details, "also_raises": plain_text(error.message)[:300], "also_case": case.label}
            return [*findings[:k], replace(found, details=also), *findings[k + 1:]]
    return [*findings, error.finding(job.leg, Stage.RUN, case.label)]


def fails_after(job: GraphJob, spec: GraphSpec, case: Case, kind: str) -> bool:
    """Whether the graph cut after the first node of `kind` converts and fails to run on `case`."""
    kinds = [node.kind for node in spec.nodes]
    if kind not in kinds:
        return False
    try:
        run = run_back(job.back, replace(spec, nodes=spec.nodes[:kinds.index(kind) + 1]).to_onnx(), [case.inputs])
    except Exception:  # noqa: BLE001 - a cut the suite cannot run says nothing
        return False
    return run.load_error is None and isinstance(run.outputs[0], Error)


def second_leg(name: str, back_name: str, run: BackRun, outcome: Outcome, agreed: list[bool],
               chosen: dict[str, list[Any]] | None = None) -> None:
    """The ONNX made again from the Keras model, where that model agreed with the graph (wrapped in the layouts
    the converter `chose`; its outputs taken as the first leg's, in any axis order where the row of `back_name`
    says so)."""
    if run.export_error is not None:
        outcome.findings.append(run.export_error.finding(name, Stage.CONVERT))
        return
    if run.onnx_back is None or not any(agreed):
        return
    import onnx

    proto = onnx.load_from_string(run.onnx_back)
    outcome.findings += graph_findings(name, proto)
    back = resolve_back(back_name)
    try:
        session = OrtSession.load(run.onnx_back)
    except Exception as e:  # noqa: BLE001
        outcome.findings.append(Error.of(e).finding(name, Stage.LOAD))
        return
    for case, ok in zip(outcome.cases, agreed, strict=True):
        if not ok:
            continue
        try:
            actual = [back.from_back(a) for a in session.run([back.to_back(x) for x in case.inputs])]
        except Exception as e:  # noqa: BLE001
            outcome.findings.append(Error.of(e).finding(name, Stage.RUN, case.label))
            continue
        again = taken(back_name, BackRun(outputs=[actual], layouts=chosen), [case.expected]).outputs[0]
        actual = actual if isinstance(again, Error) else again
        outcome.findings += compare(name, case.label, case.expected, actual, [None], SIDES_BACK)


def _named(finding: Finding, case: Case, culprit: str | None) -> Finding:
    """A mismatch named after the first node whose own output already differs (a batch baked in too)."""
    if finding.output is None or finding.symptom not in (Symptom.SHAPE, Symptom.VALUE):
        return finding
    details = {**finding.details, "case": case.label}
    if culprit is None:
        return replace(finding, details=details)
    return replace(finding, kind=f"{finding.kind}@{culprit}", details={**details, "culprit": culprit})


def graph_culprit(back_name: str, spec: GraphSpec, proto: Any, case: Case) -> str | None:
    """The kind of the first node whose output differs: first a copy of the graph that outputs every node's
    tensor; when that copy does not convert, run or show the difference, the graph cut after each node in
    turn.  None when neither finds one."""
    from onnx import helper

    probe = type(proto)()
    probe.CopyFrom(proto)
    names = spec.names()[1:]
    del probe.graph.output[:]
    elem = proto.graph.input[0].type.tensor_type.elem_type
    probe.graph.output.extend(helper.make_tensor_value_info(n, elem, None) for n in names)
    found = _differing(back_name, probe, case, [node.kind for node in spec.nodes])
    if found:
        return found
    for k in range(1, len(spec.nodes)):
        cut = replace(spec, nodes=spec.nodes[:k])
        if _differing(back_name, cut.to_onnx(), case, [spec.nodes[k - 1].kind], last_only=True):
            return spec.nodes[k - 1].kind
    return None


def _differing(back_name: str, probe: Any, case: Case, kinds: list[str], last_only: bool = False) -> str | None:
    try:
        expected = OrtSession.load(probe.SerializeToString()).run(case.inputs)
        outputs = taken(back_name, run_back(back_name, probe, [case.inputs]), [expected]).outputs
    except Exception:  # noqa: BLE001 - a probe that does not convert or run says nothing
        return None
    if not outputs or isinstance(outputs[0], Error):
        return None
    pairs = list(zip(kinds, expected, outputs[0], strict=False))
    for kind, e, a in pairs[-1:] if last_only else pairs:
        if e.shape != a.shape or not close(a, e).all():
            return kind
    return None
