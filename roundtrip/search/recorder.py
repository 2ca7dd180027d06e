"""Recording what exploring met: each bug kept pending (roundtrip.search.pending) is confirmed in fresh
workers, reduced to a 1-minimal example and written to the corpus; entries already written are replayed and
reduced again under this build's identity.

A bug is written only once it shows again in a fresh worker: no float noise in the corpus, and nothing that
only shows after what a worker ran before (a repro.py runs in a fresh process too).  One that does not show
again is run in FLAKY_RUNS more fresh workers: if it shows in some, it is written as a flaky finding with its
rate.  A known mismatch met on a culprit of another param case (`case_key`) is written as a variant when its
reduced case is still another.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from roundtrip.finding.findings import Finding, Stage, Symptom, base_of, normalise, plain_text
from roundtrip.oracle.outcome import GraphJob, Job, Outcome
from roundtrip.run.worker import SuiteError
from roundtrip.search import pending
from roundtrip.search.plan import Plan
from roundtrip.spec.graph import GraphSpec
from roundtrip.spec.model import ModelSpec
from roundtrip.spec.parts import size_of
from roundtrip.store import corpus
from roundtrip.store.script.verdict import script_says

AnyJob = Job | GraphJob
AnySpec = ModelSpec | GraphSpec
Run = Callable[..., Outcome]  # run(job, fresh=False): one check in a worker (Harness.run)
Note = Callable[..., None]  # note(event=..., **data): a line of the campaign's events file

UNSHOWN = "its repro.py did not show the bug when run alone"  # a pending bug's reason: no report to file
FLAKY_RUNS = 6  # fresh runs that measure a finding's rate when it did not show again
FLAKY_REPLAYS = 24  # fresh runs a flaky entry gets to show again on replay (at a rate of 1/4, missed 1 in 1000)


def job_for(job: AnyJob, spec: AnySpec) -> AnyJob:
    """The same check of another spec."""
    return replace(job, graph=spec.to_json()) if isinstance(job, GraphJob) else replace(job, spec=spec.to_json())


def spec_of(job: AnyJob) -> AnySpec:
    return GraphSpec.from_json(job.graph) if isinstance(job, GraphJob) else ModelSpec.from_json(job.spec)


@dataclass
class Track:
    examples: int = 0
    first_size: list[int] | None = None
    smallest: list[int] | None = None
    reduced: Any = None  # the reducer's result (roundtrip.search.reduce.Reduction), once it ran

    def add(self, spec: AnySpec) -> None:
        size = size_of(spec)
        self.examples += 1
        self.first_size = self.first_size or size
        self.smallest = min(self.smallest or size, size)


@dataclass
class Recorder:
    """The corpus at `root` as this run knows it, and the recording of bugs into it."""

    root: Path
    run: Run
    plan: Plan = field(default_factory=Plan)
    confirm: bool = True  # confirm in fresh workers (False: in the shared one, for tests)
    note: Note = field(default=lambda **data: None)
    check_repros: bool = True  # each repro.py written is run once to check that it shows its bug
    known: dict[str, corpus.Entry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # corpus entries that could not be read (left out)
    tracks: dict[str, Track] = field(default_factory=dict)  # what exploring met of each bug, what reducing did
    written: list[Path] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)  # "signature: reason" of pending bugs left pending

    def reload(self) -> None:
        """The known signatures from the corpus as it is now (other campaign processes add entries)."""
        self.problems = []
        self.known = {e.signature: e for e in corpus.entries(self.root, self.problems)}

    def entry_for(self, finding: Finding) -> corpus.Entry | None:
        """The known entry of a finding: its signature's (or its flaky form's), else one of its variants'."""
        entry = self.known.get(finding.signature) or self.known.get(replace(finding, flaky=True).signature)
        if entry is None:
            entry = next((e for e in self.known.values() if base_of(e.signature) == finding.signature), None)
        return entry

    def aliased(self, finding: Finding) -> corpus.Entry | None:
        """The known entry a finding's signature was folded into by hand as the same fault shown another way
        (meta.json "aliases", `fold_case`); None when none was."""
        return next((entry for entry in self.known.values() if finding.signature in
                     {str(alias["signature"]) for alias in entry.meta.get("aliases") or []}), None)

    def mismatch_of(self, finding: Finding, spec: AnySpec) -> corpus.Entry | None:
        """The known mismatch a run failure met on another example is another case of: one fault of one
        layer (docs/identity.md).  The failure arises at a layer (`details.arises_at`, check.placed) that is
        the culprit of a known mismatch entry of the same package, in the same param case (`case_key`);
        None for any other finding."""
        kind = finding.details.get("arises_at")
        if finding.stage is not Stage.RUN or finding.symptom is not Symptom.EXCEPTION or not kind:
            return None
        key = case_key(spec, kind)
        for entry in self.known.values():
            found = entry.finding
            if (found.symptom in (Symptom.SHAPE, Symptom.VALUE) and found.package == finding.package
                    and found.op == kind and (found.variant or case_key(entry.spec, kind)) == key
                    and entry.folder.exists()):
                return entry
        return None

    def fold(self, finding: Finding, spec: AnySpec, write: bool = True) -> corpus.Entry | None:
        """The known mismatch entry a run failure is another case of (`mismatch_of`), with the failure noted
        in its meta.json (`also_raises`, `also_case`, as a check that met both writes them) when it notes
        none yet and `write` (the gate writes nothing); None when it is no known mismatch's."""
        entry = self.mismatch_of(finding, spec)
        if entry is None or not write or "also_raises" in entry.finding.details:
            return entry
        said = {"also_raises": plain_text(finding.message)[:300], "also_case": finding.details.get("case", "")}
        meta = entry.meta | {"finding": entry.meta["finding"] | {
            "details": entry.meta["finding"].get("details", {}) | said}}
        corpus.write_meta(entry.folder, meta)
        entry = corpus.load(entry.folder)
        self.known[entry.signature] = entry
        return entry

    def absorb(self, folder: Path) -> None:
        """A mismatch entry just written takes in the known run failures that arise at its culprit in the same
        param case (written before it was known): each is removed, the first noted in its meta.json.  A model
        entry (a user's model, no spec) has no culprit layer to take them in."""
        if corpus.is_model_entry(folder):
            return
        written = corpus.load(folder)
        if written.finding.symptom not in (Symptom.SHAPE, Symptom.VALUE):
            return
        self.known[written.signature] = written
        for entry in list(self.known.values()):
            if entry.folder != folder and entry.folder.exists() and self.mismatch_of(
                    entry.finding, entry.spec) is not None and self.fold(entry.finding, entry.spec) is not None:
                shutil.rmtree(entry.folder)
                self.known.pop(entry.signature, None)
                self.note(event="folded", signature=entry.signature, folder=str(folder))

    def known_cases(self, base: str, besides: Path | None = None) -> set[str]:
        """The param cases of the known entries of a signature (case_key): its first entry's and
        its variants', and the cases folded into them by hand as the same bug (meta.json "cases", `fold_case`),
        the entry at `besides` left out (and any no longer on disk: merged)."""
        entries = [entry for entry in self.known.values()
                   if base_of(entry.signature) == base and entry.folder != besides and entry.folder.exists()]
        return {entry.finding.variant or case_of(entry.spec, entry.finding) for entry in entries} | {
            str(case["key"]) for entry in entries for case in entry.meta.get("cases") or []}

    # ---- recording ---------------------------------------------------------------------------------
    def record_pending(self, target: str | None = None, limit: int | None = None) -> list[Path]:
        """Records each pending bug (of `target`, when given; the `limit` oldest, when given): a new one is
        confirmed, reduced and written; one the corpus now holds with an example no bigger is dropped.  Past
        the plan's deadline none is started: each stays pending, with that reason.  Returns the folders
        written."""
        folders = []
        for item in pending.items(self.root, target)[:limit]:
            if item.reason.startswith(UNSHOWN):  # the suite's script cannot show it: not tried again
                self.given_up.append(f"{item.signature}: {item.reason}")
                continue
            if self.plan.deadline and time.time() >= self.plan.deadline:
                reason = "the campaign's time was up before it was recorded"
                pending.note(self.root, item.signature, reason)
                self.given_up.append(f"{item.signature}: {reason}")
                continue
            folder = self._record(item)
            if folder is not None:
                folders.append(folder)
        return folders

    def _record(self, item: pending.Item) -> Path | None:
        self.reload()
        entry = self.known.get(item.signature)
        if entry is not None and entry.meta.get("size", [1 << 30]) <= item.size:
            pending.remove(self.root, item.signature)
            return None
        began = time.monotonic()
        self.note(event="recording", signature=item.signature, target=item.target, size=item.size)
        try:
            folder, note = self._confirm_and_write(item)
            reason = unshown(folder) if entry is None and folder is not None else ""
            if reason and folder is not None:  # a new entry no one could file: taken back
                shutil.rmtree(folder, ignore_errors=True)
                self.written = [f for f in self.written if f != folder]
                self.note(event="taken back", signature=item.signature, folder=str(folder), note=reason)
        except Exception as e:  # noqa: BLE001 - the suite's own fault on one bug: the others are still recorded
            reason = f"writing its entry failed ({type(e).__name__}: {str(e)[:200]}): a fault of the suite"
        if reason:
            pending.note(self.root, item.signature, reason)
            self.given_up.append(f"{item.signature}: {reason}")
            self.note(event="failed", signature=item.signature, target=item.target, note=reason)
            return None
        pending.remove(self.root, item.signature)
        self.note(event="recorded" if folder else "dropped", signature=item.signature, target=item.target,
                    folder=str(folder or ""), note=note, seconds=round(time.monotonic() - began, 2))
        if folder is None:
            self.unconfirmed.append(item.signature)
        else:
            self.known[item.signature] = corpus.load(folder)
        return folder

    def record(self, item: pending.Item) -> tuple[Path | None, str]:
        """One bug met outside a property (`roundtrip check`, on a user's model made a spec): confirmed, reduced
        and written as a pending one is, never kept on disk as pending.  The folder that holds it (the corpus'
        own entry when that holds an example no bigger) and what happened; None when it did not show again."""
        self.reload()
        entry = self.known.get(item.signature)
        if entry is not None and entry.meta.get("size", [1 << 30]) <= item.size:
            return entry.folder, "known: the corpus holds it already"
        folder, note = self._confirm_and_write(item)
        if folder is not None:
            self.known[item.signature] = corpus.load(folder)
        return folder, note

    def _confirm_and_write(self, item: pending.Item) -> tuple[Path | None, str]:
        """Two fresh runs; a bug in both is reduced and written, one in some of FLAKY_RUNS more is written
        as flaky with its rate, one in none is not written.  Returns the folder (or None) and what happened."""
        job, spec = item.job, spec_of(item.job)
        base = base_of(item.signature)
        runs = [self.run(job, fresh=self.confirm)]
        first = _shown(runs[-1], base)
        known = self.fold(first, spec) if first is not None else None
        if known is not None:  # a run failure of a layer whose mismatch the corpus holds: one bug
            return known.folder, f"another case of the mismatch of {known.folder.name}: noted there (also_raises)"
        if _shown(runs[-1], base) is not None:
            runs.append(self.run(job, fresh=self.confirm))
        shown = [(run, f) for run in runs for f in [_shown(run, base)] if f is not None]
        carried = {"ops": item.ops} if item.ops else None
        if len(shown) == 2:
            outcome, finding = shown[0]
            spec, job, outcome, finding, note = self._reduced(finding, spec, job, outcome)
            if base != item.signature:  # a variant candidate: another bug only if its reduced case is another
                key = case_of(spec, finding)
                if key in self.known_cases(base):
                    return None, f"{note}; once reduced, the case of the known entry of {base}: not written"
                finding = replace(finding, variant=key)
            return self._write(finding, spec, job, outcome, carried), note
        if base != item.signature:
            return None, "a variant candidate that did not show twice: not written"
        runs += [self.run(job, fresh=True) for _ in range(FLAKY_RUNS)]
        shown = [(run, f) for run in runs for f in [_shown(run, item.signature)] if f is not None]
        if not shown:
            return None, f"did not show again in {len(runs)} fresh workers: not written"
        outcome, finding = shown[0]
        rate = f"{len(shown)}/{len(runs)}"
        flaky = replace(finding, flaky=True, details={**finding.details, "rate": rate})
        return self._write(flaky, spec, job, outcome, carried), f"flaky: shows in {rate} fresh runs (not reduced)"

    def _reduced(self, finding: Finding, spec: AnySpec, job: AnyJob, outcome: Outcome,
                 ) -> tuple[AnySpec, AnyJob, Outcome, Finding, str]:
        """The example taken to a 1-minimal one by the reducer (each step shows the same identity in a
        worker; the result once more in a fresh one), with the finding and outcome it gives."""
        from roundtrip.search.reduce import reduce

        def holds(candidate: AnySpec) -> bool:
            """The same bug on a valid candidate: one the suite can check (a graph that passes the full
            checker and runs in ONNX Runtime, a Keras model that builds and runs); any other is not taken."""
            try:
                found = self.run(job_for(job, candidate)).findings
            except SuiteError:
                return False
            return finding.signature in {f.signature for f in found}

        self.note(event="reducing", signature=finding.signature, size=size_of(spec))
        result = reduce(spec, holds, deadline=time.monotonic() + self.plan.reduce)
        note = (f"reduced in {result.tries} tries, {result.accepted} steps"
                + (" (budget spent: it may not be 1-minimal)" if result.exhausted else ", 1-minimal"))
        track = self.tracks.setdefault(finding.signature, Track())
        if result.spec == spec:
            track.reduced = result
            return spec, job, outcome, finding, note
        smaller = job_for(job, result.spec)
        again = self.run(smaller, fresh=self.confirm)
        same = [f for f in again.findings if f.signature == finding.signature]
        if not same:  # shows in the worker but not fresh: keep the example as it was met
            return spec, job, outcome, finding, note + "; the reduced example did not show fresh, not kept"
        track.reduced = result
        return result.spec, smaller, again, same[0], note

    def record_model(self, finding: Finding, body: corpus.SavedModel, job: Any, outcome: Outcome,
                     repro: corpus.Repro) -> Path:
        """A bug `roundtrip check` met on a user's model and cut to its smallest part, which is not a spec:
        written in the model form (`body`, whose repro.py and issue.md `repro` writes), by the same writer."""
        return self._write(finding, body, job, outcome, repro=repro)

    def _write(self, finding: Finding, spec: AnySpec | corpus.SavedModel, job: Any, outcome: Outcome,
               carried: dict[str, Any] | None = None, repro: corpus.Repro | None = None) -> Path:
        from roundtrip.store.script.entry import write_repro

        track = self.tracks.get(finding.signature, Track())
        shrink = {"examples_with_signature": track.examples, "first_size": track.first_size,
                  "final_size": corpus.body_size(spec)}
        if track.reduced is not None:
            shrink |= {"reduce_tries": track.reduced.tries, "reduce_steps": track.reduced.accepted,
                       "one_minimal": not track.reduced.exhausted}

        def spec_repro(folder: Path, written: Any, meta: dict[str, Any]) -> dict[str, Any]:
            return write_repro(folder, written, meta, check=self.check_repros).record()

        self.note(event="writing", signature=finding.signature)
        folder = corpus.write(self.root, finding, spec, job, outcome, shrink, repro or spec_repro, carried)
        self.absorb(folder)
        self.written.append(folder)
        self.note(event="written", signature=finding.signature, folder=str(folder))
        return folder

    def replay(self, entry: corpus.Entry) -> tuple[str, list[Finding]]:
        """('still', ...) when the entry's signature shows again, ('fixed', []) when nothing does,
        ('changed', findings) when something else does.  A flaky entry runs in up to FLAKY_REPLAYS fresh
        workers and still shows when it shows in any."""
        flaky = entry.finding.flaky
        wanted = base_of(entry.signature)
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
        known = self.fold(finding, spec) if finding is not None else None
        if known is not None and known.folder != entry.folder:  # another case of a known mismatch
            shutil.rmtree(entry.folder)
            self.known.pop(entry.signature, None)
            return f"another case of the mismatch of {known.folder.name}: merged into it (also_raises)", known.folder
        if finding is not None and not entry.finding.flaky:
            spec, job, outcome, finding, note = self._reduced(finding, spec, job, outcome)
            if finding.symptom in (Symptom.SHAPE, Symptom.VALUE):
                # Another entry of the same mismatch: the same bug when its culprit's case is the same (merged
                # into the smaller), else another case of the op, written as a variant of its own.
                key = case_of(spec, finding)
                others = self.known_cases(finding.signature, besides=entry.folder)
                if others and key not in others:
                    finding = replace(finding, variant=key)
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
        carried = {key: entry.meta[key] for key in corpus.CARRIED if key in entry.meta}
        try:
            folder = self._write(finding, spec, job, outcome, carried)
        except BaseException:
            aside.rename(entry.folder)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        self.known[finding.signature] = corpus.load(folder)  # what the next entry is checked against
        kept = json.loads((folder / "meta.json").read_text())
        if kept.get("size") != size_of(spec):
            note += f"; merged into {folder.name} (a smaller example of the same bug)"
        return note, folder


def unshown(folder: Path) -> str:
    """Why the entry just written at `folder` is no report to file: its repro.py, run alone when written, did not
    show the bug (the check met it, the script the suite wrote does not: the suite's fault, not the package's);
    "" when it showed, was not run, or is flaky (it shows in some runs only)."""
    meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").is_file() else {}
    said = meta.get("repro") or {}
    if not said.get("checked") or said.get("shows") or (meta.get("finding") or {}).get("flaky") or meta.get("gap"):
        return ""
    return (f"{UNSHOWN} ({str(said.get('why', ''))[:160]}): not written, and not tried again; the script the "
            "suite writes differs from the check, a fault of the suite")


def _shown(outcome: Outcome, signature: str) -> Finding | None:
    """The finding of `outcome` with this signature (a flaky entry's signature matches its bug's)."""
    for finding in outcome.findings:
        if signature in (finding.signature, replace(finding, flaky=True).signature):
            return finding
    return None


def matching(entry: corpus.Entry, findings: list[Finding]) -> Finding | None:
    """The finding of a replay that is the entry's bug: the one with its identity, else (an entry written
    under older identity rules) the one of the same stage, symptom and kind (a mismatch's kind without the
    layer it named, which the localiser may now name otherwise; an exception's type, which a failure the
    symbolic input dims cause says after its cause)."""
    old = entry.finding
    for finding in findings:
        if finding.signature in (entry.signature, base_of(entry.signature)) \
                or replace(finding, flaky=True).signature == entry.signature:
            return finding
    same = [f for f in findings if (f.stage, f.symptom) == (old.stage, old.symptom)]
    for strict in (True, False):
        for finding in same:
            if strict and finding.raised == old.kind.split("/")[0]:  # a symbolic dim's failure: the type it raised
                return finding
            if not strict and finding.kind.split("@")[0] == old.kind.split("@")[0]:
                return finding
    # A failure the current rules file under the mismatch it follows from (graph_check.wrong_before,
    # check.run_failure): the mismatch that records the entry's message.
    for finding in findings:
        said = [finding.details.get(key) for key in ("downstream", "also_raises")]
        if any(isinstance(s, str) and normalise(s) == normalise(old.message[:300]) for s in said):
            return finding
    return None


def _class(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return "-" if value < 0 else str(min(value, 2)).replace("2", "+")
    if isinstance(value, float):
        return "0" if value == 0.0 else "x"
    if isinstance(value, tuple | list):
        return [_class(v) for v in value]
    return str(value)


def case_key(spec: AnySpec, op: str, layer: str = "") -> str:
    """The param case of the first layer (node) of kind `op` in `spec`: each param, by name, as a class of its
    value (an int as negative, 0, 1 or more; a float as 0 or not; a tuple element by element; strings,
    booleans and None as they are).  Two reduced examples of one mismatch whose culprits differ in case are
    two bugs (another attribute case of the same op).  A culprit that is a node of a Keras model's converted
    graph (`layer`: the kind of the layer its failure arises in, `details.layer`, check.run_failure) has the
    case of that layer, named: `{"layer":"CenterCropReshape","params":{...}}`, never a graph spec node's case.
    "" when `spec` has no such layer (node)."""
    if layer and isinstance(spec, ModelSpec):
        inside = next((item for item in spec.layers if item.kind == layer), None)
        if inside is None:
            return ""
        params = {key: _class(value) for key, value in sorted(inside.params)}
        return json.dumps({"layer": layer, "params": params}, separators=(",", ":"))
    items = spec.nodes if isinstance(spec, GraphSpec) else spec.layers
    found = next((item for item in items if item.kind == op), None)
    if found is None:
        return ""
    return json.dumps({key: _class(value) for key, value in sorted(found.params)}, separators=(",", ":"))


def case_of(spec: AnySpec, finding: Finding) -> str:
    """The param case of a mismatch's culprit in `spec` (`case_key`): its layer's or node's, or for a node
    of a model's converted graph, the layer's it arises in (`details.layer`)."""
    layer = finding.details.get("layer")
    return case_key(spec, finding.op, layer if isinstance(layer, str) else "")


def fold_case(kept: corpus.Entry, other: corpus.Entry, reason: str) -> corpus.Entry:
    """Two entries of one fault read as one bug by hand (`reason`: why, in a sentence), `other`'s folder removed:
    two param cases of one mismatch (`other`'s case goes into `kept`'s meta.json "cases", listed in its
    issue.md; a later example of that case is `kept`'s bug, `Recorder.known_cases`), or two identities of one
    package that one fault shows (`other`'s signature goes into `kept`'s "aliases"; a later finding of it is
    `kept`'s, `Recorder.aliased`).  ValueError for entries of two packages."""
    if kept.folder == other.folder or kept.finding.package != other.finding.package:
        raise ValueError(f"{other.folder.name} and {kept.folder.name} are entries of two packages, never one fault "
                         f"({other.signature} / {kept.signature})")
    if base_of(kept.signature) != base_of(other.signature):  # one fault of the package, shown two ways
        said = plain_text(script_says(other.meta) or other.finding.message).splitlines()[0][:200]
        added = {"aliases": [{"signature": other.signature, "entry": other.folder.name, "reason": reason,
                              "said": said}]}
    else:  # another param case of the same mismatch
        op = kept.finding.op
        items = other.spec.nodes if isinstance(other.spec, GraphSpec) else other.spec.layers
        found = next((item for item in items if item.kind == op), None)
        node = f"{op}({', '.join(f'{k}={v!r}' for k, v in sorted(found.params))})" if found is not None else op
        added = {"cases": [{"key": other.finding.variant or case_of(other.spec, other.finding), "node": node,
                            "reason": reason, "entry": other.folder.name}]}
    corpus.write_meta(kept.folder, corpus.merge_carried(kept.meta, other.meta, added))
    shutil.rmtree(other.folder)
    return corpus.load(kept.folder)
