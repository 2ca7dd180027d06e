"""Exploring: the glue between a property and the engine.  Each check runs in a worker; a known finding is
counted, a new one's smallest example is kept (pending, on disk in a writing run); recording it is
`roundtrip.search.recorder`'s.

Hypothesis only explores here: nothing is raised to it while a property runs, so it never shrinks (each
shrink step of Hypothesis is a conversion; the reducer of `roundtrip.search.reduce` does that job, with a
budget per bug).  A property runs under `Harness.explore`, which follows the run's Plan
(`roundtrip.search.plan`):

- the gate (`pytest properties/`, the default plan): nothing is written; a property that met a bug the
  corpus does not hold fails at its end, naming each such bug and its smallest example;
- a writing run (`roundtrip fuzz` sets $ROUNDTRIP_RUN; `ROUNDTRIP_RECORD=1 pytest properties/` by hand):
  each new bug's smallest example is kept in the pending list (`roundtrip.search.pending`) the moment it is
  met; exploring ends after `explore` seconds or `share` new bugs (or when Hypothesis' examples end); then
  the recorder records every pending bug of the property, each in its own budget.

A known signature (in the corpus when the run started, or written since) is counted, not kept; a smaller
example of one is kept to replace its entry.
"""

from __future__ import annotations

import collections
import json
import os
import time
import unittest
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field, replace
from pathlib import Path
from typing import Any

from roundtrip.convert.converters import resolve
from roundtrip.finding.findings import CASE, Finding, Symptom
from roundtrip.oracle.outcome import GraphJob, Job, Outcome
from roundtrip.run.worker import Limits, Pool, SuiteError
from roundtrip.search import pending
from roundtrip.search.plan import Plan
from roundtrip.search.recorder import AnyJob, AnySpec, Recorder, Track, case_of, spec_of
from roundtrip.spec.graph import GraphSpec
from roundtrip.spec.model import ModelSpec
from roundtrip.spec.parts import size_of
from roundtrip.store import corpus


class NewFinding(AssertionError):
    """The gate met bugs the corpus does not hold: the message names each, with its smallest example."""


class EnoughExplored(unittest.SkipTest):
    """Ends a property's exploring (its time or its share of new bugs is spent).  Hypothesis re-raises a
    test runner's skip at once, without shrinking or reporting: `Harness.explore` catches it."""


@dataclass(repr=False)
class Harness:
    """Explores: runs each check in a worker, tells known findings from new ones and keeps the smallest example
    of each new one pending; hands recording to its `recorder`."""

    root: Path
    pool: Pool = field(default_factory=Pool)
    confirm: bool = True
    given_plan: InitVar[Plan | None] = None  # the run's plan (default: the gate's); the recorder keeps it
    events: Path | None = None  # a JSON-lines file each check, meeting and write is appended to (campaigns)
    known_hits: collections.Counter[str] = field(default_factory=collections.Counter)
    checks: int = 0
    met: dict[str, pending.Item] = field(default_factory=dict)  # this session's meetings, by signature
    exploring: list[str] = field(default_factory=list)  # new bugs met by the property exploring now
    targets: list[str] = field(default_factory=list)  # the properties (job names) the explore now checked
    explore_began: float | None = None  # time.monotonic() when the property now exploring began
    variants_tried: set[str] = field(default_factory=set)  # variant candidates kept this session
    recorder: Recorder = field(init=False)

    def __post_init__(self, given_plan: Plan | None) -> None:
        # Whether each repro.py written is run once ($ROUNDTRIP_CHECK_REPROS=0: not).
        check_repros = os.environ.get("ROUNDTRIP_CHECK_REPROS", "1") != "0"
        self.recorder = Recorder(self.root, self.run, given_plan or Plan(), self.confirm, self._event, check_repros)

    @property
    def plan(self) -> Plan:
        """What this run does with what it meets (one plan, the recorder's: it reduces and stops by it too)."""
        return self.recorder.plan

    @staticmethod
    def open(root: Path, limits: Limits | None = None, confirm: bool = True, plan: Plan | None = None,
             pool: Pool | None = None) -> Harness:
        """The harness over the corpus at `root`, under `plan` (default: from the environment, see
        Plan.from_env), its checks run by `pool` (default: a pool of its own).  $ROUNDTRIP_EVENTS names an
        events file to append to."""
        events = os.environ.get("ROUNDTRIP_EVENTS")
        harness = Harness(root, pool or Pool(limits=limits or Limits()), confirm, plan or Plan.from_env(),
                          events=Path(events) if events else None)
        harness.recorder.reload()
        return harness

    @property
    def reduce_seconds(self) -> float:
        return self.plan.reduce

    @reduce_seconds.setter
    def reduce_seconds(self, seconds: float) -> None:
        self.recorder.plan = replace(self.plan, reduce=seconds)

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
    def explore(self, test: Callable[[], None]) -> None:
        """Runs a property: `test` calls `check` or `check_graph` on each example (a Hypothesis test).
        Then, in a writing run, records the pending bugs of what it checked; in the gate, fails naming the
        bugs it met that the corpus does not hold."""
        self.exploring, self.targets = [], []
        self.explore_began, checks, why = time.monotonic(), self.checks, "its examples ended"
        try:
            test()
        except EnoughExplored as stop:
            why = str(stop)
        finally:
            seconds = time.monotonic() - (self.explore_began or 0.0)
            self.explore_began = None
        self._event(event="explored", targets=self.targets, checks=self.checks - checks,
                    seconds=round(seconds, 2), new=len(self.exploring), why=why)
        if not self.plan.writes:
            met = [self.met[s] for s in self.exploring]
            if met:
                raise NewFinding(gate_message(met, self.root))
        elif self.plan.record is not False:
            limit = None if self.plan.record is True else int(self.plan.record)
            for target in self.targets:
                self.recorder.record_pending(target, limit)

    def check(self, spec: ModelSpec, path: str, opset: int, back: str = "") -> None:
        """Keras -> ONNX through `path` (and back to Keras through `back`, when given)."""
        self._check(Job(spec.to_json(), path, opset, back), spec)

    def check_graph(self, graph: GraphSpec, back: str, path: str = "") -> None:
        """ONNX -> Keras through `back` (and to ONNX again through `path`, when given), compared with
        ONNX Runtime on the graph."""
        self._check(GraphJob(graph.to_json(), back, path), graph)

    def _check(self, job: AnyJob, spec: AnySpec) -> None:
        if job.name not in self.targets:  # known even when nothing is checked: its pending bugs are recorded
            self.targets.append(job.name)
        self._stop_exploring_when_spent()
        began = time.monotonic()
        outcome = self.run(job)
        if self.events is not None:
            kinds = ({"ops": [n.kind for n in spec.nodes]} if isinstance(spec, GraphSpec)
                     else {"layers": [layer.kind for layer in spec.layers]})
            self._event(event="check", target=job.name, **kinds, seconds=round(time.monotonic() - began, 3),
                        signatures=[f.signature for f in outcome.findings])
        for finding in outcome.findings:
            alias = self.recorder.aliased(finding)
            if alias is not None:  # folded by hand into another entry: that bug
                self.known_hits[alias.signature] += 1
                continue
            entry = self.recorder.entry_for(finding)
            folded = self.recorder.fold(finding, spec, self.plan.writes) if entry is None else None
            if folded is not None:  # a run failure of a layer whose mismatch the corpus holds: that bug
                self.known_hits[folded.signature] += 1
                continue
            if entry is None:
                self._meet(finding, spec, job, smaller=False)
                continue
            self.known_hits[finding.signature] += 1
            if self.plan.writes and finding.op and finding.op not in (entry.meta.get("ops") or [entry.finding.op]):
                self.recorder.known[finding.signature] = corpus.add_op(entry, finding.op)
            self._maybe_variant(finding, spec, job)
            if (self.plan.writes and finding.signature not in self.recorder.unconfirmed
                    and size_of(spec) < entry.meta.get("size", [1 << 30])):
                self._meet(finding, spec, job, smaller=True)
        if self.explore_began is not None and self.plan.share and len(self.exploring) >= self.plan.share:
            raise EnoughExplored(f"met its share of new bugs ({len(self.exploring)})")

    def _maybe_variant(self, finding: Finding, spec: AnySpec, job: AnyJob) -> None:
        """A known mismatch met on a culprit of another param case than any known entry's may be another
        bug: kept pending as a candidate (its signature with the case), once per case a session; recording
        reduces it and writes it only when its reduced case is still another (`_confirm_and_write`)."""
        if not self.plan.writes or finding.symptom not in (Symptom.SHAPE, Symptom.VALUE) or not finding.op:
            return
        key = case_of(spec, finding)
        candidate = f"{finding.signature}{CASE}{key}"
        if not key or candidate in self.variants_tried or key in self.recorder.known_cases(finding.signature):
            return
        self.variants_tried.add(candidate)
        item = pending.put(self.root, pending.Item(candidate, job.name, job, size_of(spec),
                                                    met=pending.now(), ops=[finding.op]))
        self.met[candidate] = item
        self._event(event="met", signature=candidate, target=job.name, size=item.size, smaller=False, variant=True)

    def _stop_exploring_when_spent(self) -> None:
        if self.explore_began is None:
            return
        if self.plan.only_record:
            raise EnoughExplored("it records only")
        if self.plan.explore and time.monotonic() - self.explore_began >= self.plan.explore:
            raise EnoughExplored(f"explored its {self.plan.explore:g} s")
        if self.plan.deadline and time.time() >= self.plan.deadline:
            raise EnoughExplored("the campaign's time is up")

    def _meet(self, finding: Finding, spec: AnySpec, job: AnyJob, smaller: bool) -> None:
        """Keeps the smallest example of a bug met (on disk in a writing run, so that a stop loses none)."""
        signature = finding.signature
        item = pending.Item(signature, job.name, job, size_of(spec), met=pending.now(), smaller=smaller,
                            ops=[finding.op] if finding.op else [])
        old = self.met.get(signature)
        if self.plan.writes:
            item = pending.put(self.root, item)
        elif old is not None and old.size <= item.size:
            item = replace(old, examples=old.examples + 1, ops=pending.merged_ops(old, item))
        self.met[signature] = item
        if not smaller:
            self.recorder.tracks.setdefault(signature, Track()).add(spec)
            if signature not in self.exploring and self.explore_began is not None:
                self.exploring.append(signature)
        if old is None:
            self._event(event="met", signature=signature, target=job.name, size=item.size, smaller=smaller)

    def run(self, job: AnyJob, fresh: bool = False) -> Outcome:
        self.checks += 1
        if fresh:
            status, result = self.pool.call_fresh(job)
        else:
            status, result = self.pool.call(job.path if job.path and resolve(job.path).own_process else "shared", job)
        if status == "error":
            raise SuiteError(f"a check raised ({job.name}, opset {job.opset}):\n{result}\n{job.spec}")
        return result if status == "done" else Outcome([result.finding(job.name)])

    def summary(self) -> list[str]:
        recorder = self.recorder
        lines = [f"roundtrip: {self.checks} checks, {len(recorder.known)} known signatures in {self.root}"]
        lines += [f"  unreadable corpus entry (left out): {problem}" for problem in recorder.problems]
        lines += [f"  known, seen {n}x: {sig}" for sig, n in self.known_hits.most_common()]
        lines += [f"  new entry: {folder}" for folder in recorder.written]
        lines += [f"  not confirmed on a fresh run (not written): {sig}" for sig in recorder.unconfirmed]
        lines += [f"  left pending: {why}" for why in recorder.given_up]
        if not self.plan.writes:
            lines += [f"  new (the gate writes nothing): {sig}" for sig, item in self.met.items() if not item.smaller]
        return lines


def gate_message(met: list[pending.Item], root: Path) -> str:
    """What the gate says of the bugs it met that the corpus does not hold."""
    lines = [f"{len(met)} bug(s) the corpus ({root}) does not hold:"]
    for item in met:
        lines += [f"- {item.signature}", f"  smallest example ({item.examples} met): {spec_of(item.job).to_json()}"]
    lines += ["The gate writes nothing.  To shrink these and write them to the corpus, run the same examples with",
              "ROUNDTRIP_RECORD=1 (e.g. `ROUNDTRIP_RECORD=1 pytest properties/`), or run `roundtrip fuzz`."]
    return "\n".join(lines)
