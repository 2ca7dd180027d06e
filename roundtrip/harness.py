"""The glue between a property and the engine: run a check in a worker, tell known findings from new
ones, raise new ones so that Hypothesis shrinks them (each signature its own exception type, so one run
shrinks several), and write the minimal example of each to the corpus.

A known signature (already in the corpus when the run started) is counted, not raised: it does not
stop the search for new ones.  A smaller example of a known signature replaces its entry.  A finding is
written only once it shows again in a fresh worker: no float noise in the corpus, and nothing that only
shows after what a worker ran before (a repro.py runs in a fresh process too).
"""

from __future__ import annotations

import collections
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtrip import corpus
from roundtrip.check import Job, Outcome
from roundtrip.converters import resolve
from roundtrip.findings import Finding
from roundtrip.graph_check import GraphJob
from roundtrip.graphs import GraphSpec
from roundtrip.spec import ModelSpec
from roundtrip.worker import Limits, Pool, SuiteError

AnyJob = Job | GraphJob
AnySpec = ModelSpec | GraphSpec


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
        if self.events is not None:
            kinds = ({"ops": [n.kind for n in spec.nodes]} if isinstance(spec, GraphSpec)
                     else {"layers": [layer.kind for layer in spec.layers]})
            self._event(event="check", target=job.name, **kinds, signatures=[f.signature for f in outcome.findings])
        for finding in outcome.findings:
            entry = self.known.get(finding.signature)
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
        self.known[finding.signature] = corpus.load(self._write(finding, spec, job, outcome))

    def _holds(self, job: AnyJob, finding: Finding) -> bool:
        """A finding must show again in a fresh worker before it is written."""
        if not self.confirm:
            return True
        return finding.signature in {f.signature for f in self.run(job, fresh=True).findings}

    def _record(self, finding: Finding, spec: AnySpec, job: AnyJob, outcome: Outcome) -> str:
        if not self._holds(job, finding):
            self.unconfirmed.append(finding.signature)
            return "(not written to the corpus: it did not show again in a fresh worker)"
        folder = self._write(finding, spec, job, outcome)
        return f"(written to {folder})"

    def _write(self, finding: Finding, spec: AnySpec, job: AnyJob, outcome: Outcome) -> Path:
        from roundtrip.graph_repro import render_graph_repro
        from roundtrip.repro import render_repro

        track = self.tracks.get(finding.signature, Track())
        shrink = {"examples_with_signature": track.examples, "first_size": track.first_size,
                  "final_size": corpus.size_of(spec)}
        case = corpus.case_of(finding, outcome.cases)
        case_dict = {"batch": case.batch, "sizes": case.sizes} if case else {"batch": 1, "sizes": {}}
        if isinstance(spec, GraphSpec):
            repro = render_graph_repro(spec, job.back, job.path, finding, case_dict)
        else:
            repro = render_repro(spec, job.path, job.opset, finding, case_dict, back=job.back)
        folder = corpus.write(self.root, finding, spec, job, outcome, shrink, repro)
        self.written.append(folder)
        self._event(event="written", signature=finding.signature, folder=str(folder))
        return folder

    def replay(self, entry: corpus.Entry) -> tuple[str, list[Finding]]:
        """('still', ...) when the entry's signature shows again, ('fixed', []) when nothing does,
        ('changed', findings) when something else does."""
        outcome = self.run(corpus.job_of(entry))
        signatures = {f.signature for f in outcome.findings}
        if entry.signature in signatures:
            return "still", outcome.findings
        return ("changed" if outcome.findings else "fixed"), outcome.findings

    def summary(self) -> list[str]:
        lines = [f"roundtrip: {self.checks} checks, {len(self.known)} known signatures in {self.root}"]
        lines += [f"  unreadable corpus entry (left out): {problem}" for problem in self.problems]
        lines += [f"  known, seen {n}x: {sig}" for sig, n in self.known_hits.most_common()]
        lines += [f"  new entry: {folder}" for folder in self.written]
        lines += [f"  not confirmed on a fresh run (not written): {sig}" for sig in self.unconfirmed]
        return lines
