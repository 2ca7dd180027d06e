"""The glue between a property and the engine: run a check in a worker, tell known findings from new
ones, raise new ones so that Hypothesis shrinks them (each signature its own exception type, so one run
shrinks several), and write the minimal example of each to the corpus.

A known signature (already in the corpus when the run started) is counted, not raised: it does not
stop the search for new ones.  A smaller example of a known signature replaces its entry.  A finding is
written only once it shows again in a fresh worker: no float noise in the corpus, and nothing that only
shows after what a worker ran before (a repro.py runs in a fresh process too).  One that does not show
again is run in FLAKY_RUNS more fresh workers: if it shows in some, it is written as a flaky finding with
its rate.  After Hypothesis' shrink, `roundtrip.reduce` takes the example to a 1-minimal one (each step
checked to show the same identity) before it is written.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from roundtrip import corpus
from roundtrip.converters import resolve
from roundtrip.findings import Finding
from roundtrip.graphs import GraphSpec
from roundtrip.outcome import GraphJob, Job, Outcome
from roundtrip.spec import ModelSpec
from roundtrip.worker import Limits, Pool, SuiteError

AnyJob = Job | GraphJob
AnySpec = ModelSpec | GraphSpec
FLAKY_RUNS = 6  # fresh runs that measure a finding's rate when it did not show again
FLAKY_REPLAYS = 24  # fresh runs a flaky entry gets to show again on replay (at a rate of 1/4, missed 1 in 1000)
REDUCE_SECONDS = 150.0  # the reducer's budget per finding


def job_for(job: AnyJob, spec: AnySpec) -> AnyJob:
    """The same check of another spec."""
    return replace(job, graph=spec.to_json()) if isinstance(job, GraphJob) else replace(job, spec=spec.to_json())


class NewFinding(AssertionError):
    """A finding whose signature the corpus does not hold yet.  Each signature gets a subclass."""


_ERRORS: dict[str, type[NewFinding]] = {}


def error_type(finding: Finding) -> type[NewFinding]:
    """One exception type per signature: Hypothesis tells bugs apart by their exception's type."""
    return _ERRORS.setdefault(finding.signature, type(f"NewFinding_{finding.key}", (NewFinding,), {}))


def _final_run() -> bool:
    """True during the run Hypothesis makes of each shrunk example just before reporting it."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # noqa: BLE001 - outside a Hypothesis test there is no build context
        return True


@dataclass
class Track:
    examples: int = 0
    first_size: list[int] | None = None
    smallest: list[int] | None = None
    reduced: Any = None  # the reducer's result (roundtrip.reduce.Reduction), once it ran

    def add(self, spec: AnySpec) -> None:
        size = corpus.size_of(spec)
        self.examples += 1
        self.first_size = self.first_size or size
        self.smallest = min(self.smallest or size, size)


@dataclass(repr=False)
class Harness:
    root: Path
    pool: Pool = field(default_factory=Pool)
    confirm: bool = True
    known: dict[str, corpus.Entry] = field(default_factory=dict)
    known_hits: collections.Counter[str] = field(default_factory=collections.Counter)
    tracks: dict[str, Track] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    checks: int = 0
    events: Path | None = None  # a JSON-lines file each check, shrink and write is appended to (campaigns)
    problems: list[str] = field(default_factory=list)  # corpus entries that could not be read (left out)
    reduce_seconds: float = REDUCE_SECONDS
    # Whether each repro.py written is run once to check that it shows its bug ($ROUNDTRIP_CHECK_REPROS=0: not).
    check_repros: bool = field(default_factory=lambda: os.environ.get("ROUNDTRIP_CHECK_REPROS", "1") != "0")
    # Findings each example showed before: a flaky one shows again when Hypothesis replays the example,
    # so the search stays consistent (the fresh runs of _record decide whether it is flaky).
    seen: dict[AnyJob, list[Finding]] = field(default_factory=dict)

    @staticmethod
    def open(root: Path, limits: Limits | None = None, confirm: bool = True) -> Harness:
        """The harness over the corpus at `root`.  $ROUNDTRIP_EVENTS names an events file to append to."""
        events = os.environ.get("ROUNDTRIP_EVENTS")
        harness = Harness(root, Pool(limits=limits or Limits()), confirm, events=Path(events) if events else None)
        harness.reload()
        return harness

    def reload(self) -> None:
        """The known signatures from the corpus as it is now (other campaign processes add entries)."""
        self.problems = []
        self.known = {e.signature: e for e in corpus.entries(self.root, self.problems)}

    def _event(self, **data: Any) -> None:
        if self.events is not None:
            with self.events.open("a") as f:
                f.write(json.dumps({"t": round(time.time(), 3), **data}) + "\n")

    def close(self) -> None:
        self.pool.close()

    def __repr__(self) -> str:  # Hypothesis prints the fixture beside each falsifying example
        return f"Harness({str(self.root)!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # what Hypothesis' own printer calls
        printer.text(repr(self))

    # ---- the properties' calls ---------------------------------------------------------------
    def check(self, spec: ModelSpec, path: str, opset: int, back: str = "") -> None:
        """Keras -> ONNX through `path` (and back to Keras through `back`, when given); raises NewFinding
        (a subclass per signature) for the first new finding."""
        self._check(Job(spec.to_json(), path, opset, back), spec)

    def check_graph(self, graph: GraphSpec, back: str, path: str = "") -> None:
        """ONNX -> Keras through `back` (and to ONNX again through `path`, when given), compared with
        ONNX Runtime on the graph; raises NewFinding as `check` does."""
        self._check(GraphJob(graph.to_json(), back, path), graph)

    def _check(self, job: AnyJob, spec: AnySpec) -> None:
        outcome = self.run(job)
        shown = {f.signature for f in outcome.findings}
        outcome.findings += [f for f in self.seen.get(job, []) if f.signature not in shown]
        if outcome.findings:
            self.seen[job] = list(outcome.findings)
        if self.events is not None:
            kinds = ({"ops": [n.kind for n in spec.nodes]} if isinstance(spec, GraphSpec)
                     else {"layers": [layer.kind for layer in spec.layers]})
            self._event(event="check", target=job.name, **kinds, signatures=[f.signature for f in outcome.findings])
        for finding in outcome.findings:
            entry = self.known.get(finding.signature) or self.known.get(replace(finding, flaky=True).signature)
            if entry is not None:
                self.known_hits[finding.signature] += 1
                if corpus.size_of(spec) < entry.meta.get("size", [1 << 30]):
                    self._replace_smaller(finding, spec, job, outcome)
                continue
            self.tracks.setdefault(finding.signature, Track()).add(spec)
            note = ""
            self._event(event="shrinking", signature=finding.signature, size=corpus.size_of(spec))
            if _final_run():
                note = self._record(finding, spec, job, outcome)
            raise error_type(finding)(f"{finding.describe()}\n{note}\n{spec.pretty()}") from None

    def run(self, job: AnyJob, fresh: bool = False) -> Outcome:
        self.checks += 1
        if fresh:
            status, result = self.pool.call_fresh(job)
        else:
            status, result = self.pool.call(job.path if job.path and resolve(job.path).own_process else "shared", job)
        if status == "error":
            raise SuiteError(f"a check raised ({job.name}, opset {job.opset}):\n{result}\n{job.spec}")
        return result if status == "done" else Outcome([result.finding(job.name)])

    # ---- the corpus --------------------------------------------------------------------------
    def _replace_smaller(self, finding: Finding, spec: AnySpec, job: AnyJob, outcome: Outcome) -> None:
        """A smaller example of a known signature replaces its entry, once it shows in a fresh worker.
        The entry known from then on is the new one; a signature whose smaller example did not show again
        is not retried in this session (each try starts a worker)."""
        if finding.signature in self.unconfirmed:
            return
        if not self._holds(job, finding):
            self.unconfirmed.append(finding.signature)
            return
        spec, job, outcome, finding, _ = self._reduced(finding, spec, job, outcome)
        self.known[finding.signature] = corpus.load(self._write(finding, spec, job, outcome))

    def _holds(self, job: AnyJob, finding: Finding) -> bool:
        """A finding must show again in a fresh worker before it is written."""
        if not self.confirm:
            return True
        return finding.signature in {f.signature for f in self.run(job, fresh=True).findings}

    def _record(self, finding: Finding, spec: AnySpec, job: AnyJob, outcome: Outcome) -> str:
        first = self._holds(job, finding)
        if not (first and self._holds(job, finding)):  # two fresh runs: a flaky bug seldom shows in both
            shows = int(first) + sum(self._holds(job, finding) for _ in range(FLAKY_RUNS))
            if not shows:
                self.unconfirmed.append(finding.signature)
                return "(not written to the corpus: it did not show again in a fresh worker)"
            rate = f"{shows}/{FLAKY_RUNS + 1 + int(first)}"  # of the fresh runs
            flaky = replace(finding, flaky=True, details={**finding.details, "rate": rate})
            return f"(flaky: shows in {rate} fresh runs; written to {self._write(flaky, spec, job, outcome)})"
        spec, job, outcome, finding, note = self._reduced(finding, spec, job, outcome)
        folder = self._write(finding, spec, job, outcome)
        return f"({note}; written to {folder})"

    def _reduced(self, finding: Finding, spec: AnySpec, job: AnyJob, outcome: Outcome,
                 ) -> tuple[AnySpec, AnyJob, Outcome, Finding, str]:
        """The example taken to a 1-minimal one by the reducer (each step shows the same identity in a
        worker; the result once more in a fresh one), with the finding and outcome it gives."""
        from roundtrip.reduce import reduce

        def holds(candidate: AnySpec) -> bool:
            found = self.run(job_for(job, candidate)).findings
            return finding.signature in {f.signature for f in found}

        self._event(event="reducing", signature=finding.signature, size=corpus.size_of(spec))
        result = reduce(spec, holds, deadline=time.monotonic() + self.reduce_seconds)
        note = (f"reduced in {result.tries} tries, {result.accepted} steps"
                + (" (budget spent: it may not be 1-minimal)" if result.exhausted else ", 1-minimal"))
        track = self.tracks.setdefault(finding.signature, Track())
        if result.spec == spec:
            track.reduced = result
            return spec, job, outcome, finding, note
        smaller = job_for(job, result.spec)
        again = self.run(smaller, fresh=self.confirm)
        same = [f for f in again.findings if f.signature == finding.signature]
        if not same:  # shows in the worker but not fresh: keep what Hypothesis gave
            return spec, job, outcome, finding, note + "; the reduced example did not show fresh, not kept"
        track.reduced = result
        return result.spec, smaller, again, same[0], note

    def _write(self, finding: Finding, spec: AnySpec, job: AnyJob, outcome: Outcome) -> Path:
        from roundtrip.script.entry import write_repro

        track = self.tracks.get(finding.signature, Track())
        shrink = {"examples_with_signature": track.examples, "first_size": track.first_size,
                  "final_size": corpus.size_of(spec)}
        if track.reduced is not None:
            shrink |= {"reduce_tries": track.reduced.tries, "reduce_steps": track.reduced.accepted,
                       "one_minimal": not track.reduced.exhausted}

        def repro(folder: Path, written: AnySpec, meta: dict[str, Any]) -> dict[str, Any]:
            return write_repro(folder, written, meta, check=self.check_repros).record()

        folder = corpus.write(self.root, finding, spec, job, outcome, shrink, repro)
        self.written.append(folder)
        self._event(event="written", signature=finding.signature, folder=str(folder))
        return folder

    def replay(self, entry: corpus.Entry) -> tuple[str, list[Finding]]:
        """('still', ...) when the entry's signature shows again, ('fixed', []) when nothing does,
        ('changed', findings) when something else does.  A flaky entry runs in up to FLAKY_REPLAYS fresh
        workers and still shows when it shows in any."""
        flaky = entry.finding.flaky
        wanted = replace(entry.finding, flaky=False).signature if flaky else entry.signature
        job = corpus.job_of(entry)
        findings: list[Finding] = []
        for _ in range(FLAKY_REPLAYS if flaky else 1):
            findings = self.run(job, fresh=flaky).findings
            if wanted in {f.signature for f in findings}:
                return "still", findings
        return ("changed" if findings else "fixed"), findings

    # ---- existing entries --------------------------------------------------------------------
    def reduce_entry(self, entry: corpus.Entry) -> tuple[str, Path | None]:
        """Re-identifies an entry (runs it fresh, under the identity rules of this build), reduces it and
        writes it again; an entry of an identity another entry already holds with a smaller example is
        merged into it (removed).  Returns what happened and the folder that holds the bug now (None when
        the entry no longer shows)."""
        job = corpus.job_of(entry)
        outcome = self.run(job)
        finding = matching(entry, outcome.findings)
        spec: AnySpec = entry.spec
        if finding is not None and not entry.finding.flaky:
            spec, job, outcome, finding, note = self._reduced(finding, spec, job, outcome)
        else:  # flaky, or not shown this time: its rate over fresh runs
            runs = [self.run(job, fresh=True) for _ in range(FLAKY_RUNS + 1)]
            shown = [(run, f) for run in runs for f in [matching(entry, run.findings)] if f is not None]
            if not shown:
                seen = "; ".join(f.describe()[:200] for f in outcome.findings) or "nothing"
                return f"does not show in {FLAKY_RUNS + 2} runs; shows {seen}", None
            outcome, finding = shown[0]
            rate = f"{len(shown)}/{len(runs)}"
            if len(shown) == len(runs):  # not flaky after all: what the shared worker missed
                spec, job, outcome, finding, note = self._reduced(finding, spec, job, outcome)
            else:
                finding = replace(finding, flaky=True, details={**finding.details, "rate": rate})
                note = f"flaky: shows in {rate} fresh runs (not reduced)"
        aside = entry.folder.with_name(f".reducing-{entry.folder.name}")
        entry.folder.rename(aside)  # so that the entry's own folder does not count as a smaller example
        try:
            folder = self._write(finding, spec, job, outcome)
        except BaseException:
            aside.rename(entry.folder)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        kept = json.loads((folder / "meta.json").read_text())
        if kept.get("size") != corpus.size_of(spec):
            note += f"; merged into {folder.name} (a smaller example of the same bug)"
        return note, folder

    def summary(self) -> list[str]:
        lines = [f"roundtrip: {self.checks} checks, {len(self.known)} known signatures in {self.root}"]
        lines += [f"  unreadable corpus entry (left out): {problem}" for problem in self.problems]
        lines += [f"  known, seen {n}x: {sig}" for sig, n in self.known_hits.most_common()]
        lines += [f"  new entry: {folder}" for folder in self.written]
        lines += [f"  not confirmed on a fresh run (not written): {sig}" for sig in self.unconfirmed]
        return lines


def matching(entry: corpus.Entry, findings: list[Finding]) -> Finding | None:
    """The finding of a replay that is the entry's bug: the one with its identity, else (an entry written
    under older identity rules) the one of the same stage, symptom and kind (a mismatch's kind without the
    layer it named, which the localiser may now name otherwise)."""
    old = entry.finding
    for finding in findings:
        if finding.signature == entry.signature or replace(finding, flaky=True).signature == entry.signature:
            return finding
    same = [f for f in findings if (f.stage, f.symptom) == (old.stage, old.symptom)]
    for strict in (True, False):
        for finding in same:
            if strict and finding.kind == old.kind.split("/")[0]:
                return finding
            if not strict and finding.kind.split("@")[0] == old.kind.split("@")[0]:
                return finding
    return None
