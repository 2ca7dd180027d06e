"""`roundtrip check MODEL`: a user's own model through every direction that applies, a verdict each, and each
finding reduced to the smallest model that still shows it, written as a corpus entry.

A Keras model (`.keras`, `.h5`, a SavedModel folder) goes through each Keras -> ONNX path, and each of those
back through each ONNX -> Keras converter; an ONNX model through each ONNX -> Keras converter, and each of those
back through each Keras -> ONNX path.  Each check runs in a worker process (`roundtrip.user.user_model`,
`roundtrip.user.user_onnx`), with the engine's oracle and blame.

A finding is reduced in three steps: the model is cut at the first layer (node) that goes wrong, found by
the check (a mismatch) or by a bisection over cut models (anything else); then that layer (node) alone, on
inputs of its own; then, when what is left is in the vocabulary, the spec reducer of `roundtrip.search.reduce`
through the harness (confirmed in fresh workers, written by `roundtrip.store.corpus`).  What is not in the
vocabulary is written as a model entry (`roundtrip.store.model_entry`): the saved model and a plain script.  The
user's file is only ever read.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtrip.convert.back import ONNX_TO_KERAS, missing_environment
from roundtrip.convert.converters import KERAS_TO_ONNX, resolve
from roundtrip.finding.findings import Finding, Symptom
from roundtrip.oracle.outcome import RUNTIME, GraphJob, Job, UserFile
from roundtrip.run.worker import Limits, Pool, SuiteError
from roundtrip.search import pending
from roundtrip.search.harness import Harness
from roundtrip.search.plan import Plan
from roundtrip.spec.model import ModelSpec
from roundtrip.spec.parts import size_of
from roundtrip.user.cuts import Cuts, Written
from roundtrip.user.user_model import BadInput, Checked, Described, check_readable, kind_of, shape_spec_of

MAX_PARAMS = 200_000_000
LOAD_SECONDS = 300.0


@dataclass(frozen=True)
class Options:
    model: Path
    custom: str = ""
    paths: tuple[str, ...] = ()
    inputs: str = ""
    corpus: Path = Path("corpus")
    opset: int = 15
    reduce: bool = True
    reduce_seconds: float = 90.0
    timeout: float = 600.0  # seconds for one check
    memory: int = 8 << 30  # bytes of resident memory for one worker
    max_params: int = MAX_PARAMS


@dataclass
class Row:
    """One direction's verdict: its findings (first of each signature), the worst error against the tolerance,
    the first layer or node that went wrong, the entry each finding was written to, and how far the inputs move
    the outputs against the tolerance (`margins.spread`: below 1, a clean verdict says little)."""

    direction: str
    findings: list[Finding] = field(default_factory=list)
    worst: tuple[float, float] | None = None
    where: str = ""
    entries: dict[str, Written] = field(default_factory=dict)  # by signature
    skipped: str = ""
    spread: float | None = None
    expected_by: str = ""  # what gave an ONNX model's expected outputs, where not ONNX Runtime (user_onnx.REFERENCE)

    @property
    def verdict(self) -> str:
        if self.skipped:
            return "skipped"
        return "clean" if not self.findings else ", ".join(dict.fromkeys(_verdict(f) for f in self.findings))

    @property
    def shown(self) -> str:
        """The verdict as the table prints it: saying against what, where that is not ONNX Runtime."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        return self.verdict + (f" (expected: {self.expected_by}; ONNX Runtime cannot run the graph)"
                               if self.expected_by else "")


def _verdict(finding: Finding) -> str:
    return f"{finding.stage}/{finding.symptom}" + (f" {finding.kind}" if finding.symptom != Symptom.VALUE else "")


@dataclass
class Result:
    model: Path
    kind: str  # "keras" or "onnx"
    described: Any  # user_model.Described or user_onnx.Described
    rows: list[Row]
    corpus: Path

    @property
    def findings(self) -> bool:
        return any(row.findings for row in self.rows)


Progress = Callable[[str, int, int], None]  # (what now, done, total)


# ---- what to run ------------------------------------------------------------------------------------------------
def directions(kind: str, chosen: tuple[str, ...]) -> list[tuple[str, str]]:
    """(first, second) converter of each direction to run: for a Keras model (path, back) with back "" for the
    one-way check; for an ONNX model (back, path) with path "" for the way to Keras only.  `chosen` narrows them:
    `P`, `P>B` (or for ONNX `B`, `B>P`), or a converter of one's own as module:function."""
    firsts, seconds = (KERAS_TO_ONNX, ONNX_TO_KERAS) if kind == "keras" else (ONNX_TO_KERAS, KERAS_TO_ONNX)
    if not chosen:
        return [(a, "") for a in firsts] + [(a, b) for a in firsts for b in seconds]
    found = []
    for item in chosen:
        first, _, second = item.removeprefix("onnx>").partition(">")
        known = first in firsts or ":" in first
        if not known or (second and second not in seconds and ":" not in second):
            raise BadInput(f"--path {item}: unknown for a {kind} model (one of {', '.join(firsts)}, optionally "
                           f">{'|'.join(seconds)}; or module:function)")
        found.append((first, second))
    return found


def name_of(kind: str, first: str, second: str) -> str:
    if kind == "keras":
        return f"{first}>{second}" if second else first
    return f"onnx>{first}" + (f">{second}" if second else "")


def unavailable(kind: str, first: str, second: str) -> str:
    """Why a direction cannot run here (its converter's environment is absent), or ""."""
    back = second if kind == "keras" else first
    return (missing_environment(back) or "") if back else ""


# ---- the check ----------------------------------------------------------------------------------------------------
def check_model(options: Options, progress: Progress = lambda what, done, total: None) -> Result:
    """Every direction on the model, then each finding reduced and written (with `options.reduce`).
    BadInput, before anything is written, when the model cannot be checked."""
    kind, chosen = preflight(options)
    limits = Limits(timeout=options.timeout, memory=options.memory)
    task = "roundtrip.user.user_model:run_user_job" if kind == "keras" else "roundtrip.user.user_onnx:run_onnx_job"
    pool = Pool(task=task, limits=limits, start_timeout=LOAD_SECONDS)
    try:
        progress("loading", 0, len(chosen) + 1)
        described = _describe(pool, options, kind)
        rows = []
        for k, (first, second) in enumerate(chosen, 1):
            name = name_of(kind, first, second)
            progress(name, k, len(chosen) + 1)
            rows.append(_run(pool, options, kind, first, second))
        result = Result(options.model, kind, described, rows, options.corpus)
        if options.reduce and result.findings:
            _reduce_all(pool, options, result, progress)
        return result
    finally:
        pool.close()


def preflight(options: Options) -> tuple[str, list[tuple[str, str]]]:
    """What can be told without loading the model: its kind and the directions to run; BadInput for a file that
    is missing or not what its name says, an --inputs file that is missing, an unknown direction."""
    kind = kind_of(options.model)
    check_readable(options.model)
    if options.inputs and not Path(options.inputs).is_file():
        raise BadInput(f"--inputs {options.inputs}: no such file")
    return kind, directions(kind, options.paths)


def _job(options: Options, kind: str, first: str = "", second: str = "") -> Job | GraphJob:
    """The job on the user's file (a Job for a Keras model, a GraphJob for a graph): describe it (no converter),
    or check it through one direction."""
    file = UserFile(str(options.model.resolve()), options.custom, options.inputs)
    if kind == "keras":
        return Job("", first, options.opset, second, file=file)
    return GraphJob("", first, second, file)


def _key(kind: str, first: str, second: str) -> str:
    """The worker a direction runs in: its own for a path that patches its process (Keras' export)."""
    path = first if kind == "keras" else second
    return path if path and resolve(path).own_process else "shared"


def _describe(pool: Pool, options: Options, kind: str) -> Any:
    status, result = pool.call("shared", _job(options, kind))
    if status == "failed":
        raise BadInput(f"{options.model}: too big to load within the limits ({result.message})")
    if status == "error":
        raise SuiteError(f"loading {options.model} raised:\n{result}")
    if result.problem:
        raise BadInput(result.problem)
    if result.params > options.max_params:
        raise BadInput(f"{options.model}: {result.params:,} parameters, more than the limit of {options.max_params:,}")
    return result


def _run(pool: Pool, options: Options, kind: str, first: str, second: str) -> Row:
    name = name_of(kind, first, second)
    why = unavailable(kind, first, second)
    if why:
        return Row(name, skipped=why)
    job = _job(options, kind, first, second)
    status, result = pool.call(_key(kind, first, second), job)
    if status == "error":
        raise SuiteError(f"the check {name} raised:\n{result}")
    if status == "failed":
        return Row(name, [result.finding(name)])
    if getattr(result, "problem", ""):  # the model loaded to be described, then not (a file changed meanwhile)
        raise BadInput(result.problem)
    by = getattr(result, "expected_by", RUNTIME)  # an ONNX model's (user_onnx.Checked)
    return Row(name, result.outcome.findings, result.worst, result.layer, spread=result.spread,
               expected_by="" if by == RUNTIME else by)


# ---- reducing and writing -------------------------------------------------------------------------------------------
def _reduce_all(pool: Pool, options: Options, result: Result, progress: Progress) -> None:
    """Each finding of each row reduced and written, once per signature."""
    options.corpus.mkdir(parents=True, exist_ok=True)
    harness = Harness.open(options.corpus, Limits(timeout=min(options.timeout, 120.0)),
                           plan=Plan(writes=True, reduce=options.reduce_seconds))
    done: dict[str, Written] = {}
    todo = [(row, f) for row in result.rows for f in row.findings]
    try:
        for k, (row, finding) in enumerate(todo, 1):
            progress(f"reducing {row.direction}: {finding.kind}", k, len(todo))
            if finding.signature not in done:
                done[finding.signature] = _reduce_one(pool, harness, options, result, row, finding)
            row.entries[finding.signature] = done[finding.signature]
    finally:
        harness.close()


def _reduce_one(pool: Pool, harness: Harness, options: Options, result: Result, row: Row, finding: Finding,
                ) -> Written:
    if result.kind == "onnx":
        from roundtrip.user.user_onnx import reduce_onnx

        return reduce_onnx(pool, harness, options, result, row, finding)
    first, _, second = row.direction.partition(">")
    job = Job("", first, options.opset, second, file=UserFile(str(options.model.resolve()), options.custom,
                                                              options.inputs))
    with tempfile.TemporaryDirectory(prefix="roundtrip-check-") as scratch:
        smallest = smallest_cut(pool, job, finding, result.described, row.where, Path(scratch))
        if smallest is None:
            return Written(None, "not written: it did not show again on the model or any cut of it")
        checked, folder, cut_job = smallest
        assert checked.described is not None
        what = _what(len(checked.described.layers), cut_job)
        if checked.described.spec:
            written = _as_spec_entry(harness, cut_job, finding, folder)
            if written.folder is not None:
                return Written(written.folder, f"{what}, a spec: {written.note}")
        from roundtrip.store.model_entry import keras_model

        shown = next(f for f in checked.outcome.findings if f.signature == finding.signature)
        body, repro = keras_model(shown, cut_job, checked, folder / "model.keras", shape_spec_of(checked.described))
        entry = harness.recorder.record_model(shown, body, cut_job, checked.outcome, repro)
        return Written(entry, f"{what}, a model entry (model.keras and repro.py)")


def smallest_cut(pool: Pool, job: Job, finding: Finding, described: Described, where: str,
                 scratch: Path) -> tuple[Checked, Path, Job] | None:
    """The smallest model that still shows `finding`: the layer that goes wrong alone, else the model cut after
    it, else the model as it is; each saved (with its spec, when it has one) in a folder of `scratch`.  The layer
    is `where` (a mismatch names it), else the first whose cut shows the finding (a bisection)."""
    names = [name for name, _ in described.layers]
    cuts = Cuts(pool, _key("keras", job.path, job.back), job, finding, scratch, Checked)
    layer = where if where in names else cuts.first_showing(names)
    if layer:
        for alone in (True, False):
            found = cuts.shows(layer, alone)
            if found is not None:
                return found
    return cuts.shows("", False)


def _what(layers: int, job: Job) -> str:
    file = job.user
    cut = f", the layer {file.cut!r} alone" if file.alone else f", cut after {file.cut!r}" if file.cut else ""
    return f"{layers} layer{'s' * (layers != 1)}{cut}"


def _as_spec_entry(harness: Harness, job: Job, finding: Finding, folder: Path) -> Written:
    """The cut model, a spec of the vocabulary, through the harness: confirmed in fresh workers, reduced by the
    spec reducer, written.  "" when the spec does not show the same bug (its entry is then a model entry)."""
    spec = ModelSpec.from_json((folder / "spec.json").read_text())
    spec_job = Job(spec.to_json(), job.path, job.opset, job.back, weights=str(folder / "weights.npz"))
    item = pending.Item(finding.signature, spec_job.name, spec_job, size_of(spec), met=pending.now())
    began = time.monotonic()
    written, note = harness.recorder.record(item)
    return Written(written, f"{note} ({time.monotonic() - began:.0f} s)")
