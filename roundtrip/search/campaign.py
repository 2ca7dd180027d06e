"""A campaign: the properties of properties/ run K at a time, each run one property for a slice of time
with a recorded seed, until a time budget ends.  A run is a pytest session in a warm process
(`roundtrip.search.warm`): K processes import TensorFlow and start their check workers once, and serve
run after run.

The schedule (`Schedule`): every property first gets one short exploring slice, in the campaign's seeded
order, before any gets a second, so that every available property runs within the first minutes; the bugs
those first slices meet are kept pending (`roundtrip.search.pending`), not reduced yet.  From then on each property
keeps a floor share of the worker time (FLOOR, spread evenly over the three directions, then over the
properties of each); beyond the floor, the next run goes to the property with the most new bugs per
worker-minute so far (one bug and one minute added to each, so that a property not yet run long still gets
its turn): energy goes where new bugs keep coming, as a fuzzer's power schedule spends it on the seeds that
pay.  A later run explores for its slice or until it meets its share of new bugs, then records up to that
many pending bugs of its property (the oldest first), each with its own reducer budget: a run stays a few
minutes long, so that the floor of the others holds.  Recording is planned into the budget: once the bugs
pending would take the worker time left to record (at what a recording has cost so far), the next runs
only record, the property with the most pending first, before any property explores again; so a campaign
also begins by recording what a stopped one left pending.  At the end, each bug still pending says why.

Each run appends what it does to an events file (`Harness.events`), which the campaign reads for its
progress and its figures.  The engine runs the properties; it never imports the strategies.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from roundtrip.search import pending
from roundtrip.search.plan import Plan
from roundtrip.search.warm import Warm

ROOT = Path(__file__).resolve().parents[2]
PROPERTIES = ROOT / "properties"
# Not converter properties: the corpus replay (a campaign looks for new bugs) and the generator's own test.
NOT_CAMPAIGN = ("test_corpus", "test_keras_build")
FLOOR = 0.5  # the part of the worker time spread evenly (directions alike, then their properties)
FIRST_SLICE = 20.0  # seconds of exploring in a property's first run (nothing recorded in it)
SLICE = 60.0  # seconds of exploring in a later run
SHARE = 3  # new bugs that end a run's exploring
RECORDING_GUESS = 60.0  # worker-seconds a bug's recording is taken to cost until the campaign has timed one


class CampaignError(ValueError):
    """Bad input to a campaign (an unknown path, no properties): the message says what and where."""


def targets() -> list[str]:
    """The node ids of the properties (the corpus replay left out: a campaign looks for new findings)."""
    done = subprocess.run([sys.executable, "-m", "pytest", str(PROPERTIES), "--collect-only", "-q",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    found = [line.strip() for line in done.stdout.splitlines()
             if "::" in line and not any(name in line for name in NOT_CAMPAIGN)]
    if not found:
        raise CampaignError(f"no properties collected from {PROPERTIES}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return found


def target_name(node: str) -> str:
    """A property's name: its parameter id (a path like tf2onnx-function>onnx2keras), or the test's name."""
    return node[node.index("[") + 1 : -1] if node.endswith("]") else node.rsplit("::", 1)[-1]


def select(nodes: list[str], paths: list[str]) -> list[str]:
    """The properties that `paths` name: a property's whole name, or one converter of it."""
    if not paths:
        return nodes
    chosen = [n for n in nodes if any(p == target_name(n) or p in target_name(n).split(">") for p in paths)]
    known = {part for n in nodes for part in [target_name(n), *target_name(n).split(">")]}
    unknown = [p for p in paths if p not in known]
    if unknown:
        raise CampaignError(f"--path {', '.join(unknown)}: no such property or converter "
                            f"(known: {', '.join(sorted(known))})")
    return chosen


def unavailable(nodes: list[str]) -> dict[str, str]:
    """The properties that cannot run here (a converter's environment of its own is absent), with why."""
    from roundtrip.convert.back import ONNX_TO_KERAS, missing_environment

    why = {}
    for node in nodes:
        for part in target_name(node).split(">"):
            missing = missing_environment(part) if part in ONNX_TO_KERAS else None
            if missing:
                why[node] = missing
    return why


def direction(node: str) -> str:
    """keras-onnx, keras-onnx-keras or onnx-keras-onnx, from a property's name."""
    name = target_name(node)
    return "onnx-keras-onnx" if name.startswith("onnx>") else "keras-onnx-keras" if ">" in name else "keras-onnx"


@dataclass
class Schedule:
    """Which property runs next (see the module's docstring).  Pure bookkeeping: no processes."""

    order: list[str]  # the properties, in the campaign's seeded order
    floor: float = FLOOR
    seconds: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))  # worker-seconds
    new: collections.Counter[str] = field(default_factory=collections.Counter)  # new bugs met
    runs: collections.Counter[str] = field(default_factory=collections.Counter)  # runs started

    def pick(self, busy: Collection[str] = ()) -> str:
        """The next property: the first never run; else the one furthest below its floor; else the best
        yield.  A property running now is picked only when every property is."""
        free = [t for t in self.order if t not in busy] or list(self.order)
        first = [t for t in free if not self.runs[t]]
        if first:
            return first[0]
        total = sum(self.seconds[t] for t in self.order)
        below = [t for t in free if self.seconds[t] < self.floor * total * self.even_share(t)]
        if below:
            return min(below, key=lambda t: (self.seconds[t], self.order.index(t)))
        return max(free, key=lambda t: (self.energy(t), -self.order.index(t)))

    def even_share(self, target: str) -> float:
        """A property's part of an even spread: the directions (Keras -> ONNX, the round trips, ONNX -> Keras
        -> ONNX: different users) share alike, and the properties of a direction share its part alike."""
        groups = collections.Counter(direction(t) for t in self.order)
        return 1 / len(groups) / groups[direction(target)]

    def energy(self, target: str) -> float:
        """New bugs per worker-minute, with one of each added."""
        return (self.new[target] + 1) / (self.seconds[target] / 60 + 1)

    @staticmethod
    def recording(deadline: float, reduce: float) -> Plan:
        """The plan of a run that records its property's pending bugs and explores nothing."""
        return Plan(writes=True, record=True, only_record=True, deadline=deadline, reduce=reduce)

    def plan(self, target: str, deadline: float, reduce: float) -> Plan:
        """The plan of the next run of `target`: a first run explores briefly and records nothing."""
        if not self.runs[target]:
            return Plan(writes=True, record=False, explore=FIRST_SLICE, deadline=deadline, reduce=reduce)
        return Plan(writes=True, record=SHARE, explore=SLICE, share=SHARE, deadline=deadline, reduce=reduce)


@dataclass
class Run:
    node: str
    seed: int
    plan: Plan
    events: Path
    warm: Warm  # the warm process it runs in
    started: float
    read: int = 0  # bytes of the events file already read
    checks: int = 0
    recording: str = ""  # the signature being recorded now
    cpu: float = 0.0  # CPU seconds of the run's process and its workers, once it ended
    phase: tuple[str, float] | None = None  # what it records now (PHASES) and since when (its events' clock)

    @property
    def target(self) -> str:
        return target_name(self.node)


@dataclass
class Target:
    """One property's figures in a campaign."""

    checks: int = 0
    runs: int = 0
    seconds: float = 0.0  # worker-seconds (wall time of its runs)
    cpu: float = 0.0  # CPU seconds of its ended runs
    explored: float = 0.0  # seconds spent exploring (checks), recording excluded
    new: list[str] = field(default_factory=list)  # new bugs it met first
    first_new: float | None = None  # seconds into the campaign when it met its first new bug
    written: int = 0


# Where a run's wall time goes: starting (a pytest session collecting the property and opening the corpus, and
# in a warm process's first run its imports of TensorFlow and the converters, and its workers; until
# exploring begins), exploring, and recording each bug (confirming it in fresh workers, reducing it,
# writing its entry: files, repro.py checked and made smaller).  The rest (a run's end) is left out.
PHASES = ("starting", "exploring", "confirming", "reducing", "writing")
_PHASE_OF = {"recording": "confirming", "reducing": "reducing", "writing": "writing"}


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    known: set[str] = field(default_factory=set)  # signatures the corpus held when the campaign began
    checks: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    signatures: collections.Counter[str] = field(default_factory=collections.Counter)
    new: dict[str, str] = field(default_factory=dict)  # new signature -> the property that met it first
    written: dict[str, str] = field(default_factory=dict)  # signature -> folder
    notes: dict[str, str] = field(default_factory=dict)  # signature -> what recording it said
    layers: collections.Counter[str] = field(default_factory=collections.Counter)
    ops: collections.Counter[str] = field(default_factory=collections.Counter)
    targets: dict[str, Target] = field(default_factory=lambda: collections.defaultdict(Target))
    phases: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))  # seconds by PHASES
    recordings: list[float] = field(default_factory=list)  # seconds each bug's recording took

    @property
    def recording_cost(self) -> float:
        """What recording a bug costs, in worker-seconds: the mean so far, else RECORDING_GUESS."""
        return sum(self.recordings) / len(self.recordings) if self.recordings else RECORDING_GUESS

    @property
    def rate(self) -> float:
        return self.checks / max(time.time() - self.started, 1e-9)

    def take(self, run: Run, event: dict[str, Any]) -> None:
        kind, target = event.get("event"), self.targets[run.target]
        self._time(run, str(kind), float(event.get("t", time.time())), float(event.get("seconds", 0.0)))
        if kind == "check":
            self.checks += 1
            run.checks += 1
            target.checks += 1
            target.explored += float(event.get("seconds", 0.0))
            self.layers.update(event.get("layers", []))
            self.ops.update(event.get("ops", []))
            self.signatures.update(event.get("signatures", []))
        elif kind == "met" and not event.get("smaller") and event["signature"] not in self.known:
            if event["signature"] not in self.new:
                self.new[event["signature"]] = run.target
                target.new.append(event["signature"])
                if target.first_new is None:
                    target.first_new = round(float(event["t"]) - self.started, 1)
        elif kind == "recording":
            run.recording = event["signature"]
        elif kind in ("recorded", "dropped"):
            run.recording = ""
            self.recordings.append(float(event.get("seconds", 0.0)))
            self.notes[event["signature"]] = event.get("note", "")
        elif kind == "written":
            self.written[event["signature"]] = event["folder"]
            target.written += 1
        elif kind == "taken back" and self.written.pop(event["signature"], None) is not None:
            target.written -= 1  # its script did not show it: pending with the reason (recorder.unshown)
            self.notes[event["signature"]] = event.get("note", "")

    def _time(self, run: Run, kind: str, t: float, seconds: float) -> None:
        """The run's time between its events, by phase: its start until exploring began, exploring, then each
        recording's confirming, reducing and writing."""
        if kind == "explored":
            self.phases["starting"] += max(0.0, t - seconds - run.started)  # a run explores once, first
            self.phases["exploring"] += seconds
        elif kind in _PHASE_OF or kind in ("recorded", "dropped", "failed"):
            if run.phase is not None:
                self.phases[run.phase[0]] += max(0.0, t - run.phase[1])
            run.phase = (_PHASE_OF[kind], t) if kind in _PHASE_OF else None


@dataclass
class Campaign:
    minutes: float
    workers: int = 1
    seed: int = 0
    paths: list[str] = field(default_factory=list)
    corpus: Path = ROOT / "corpus"
    database: str = ""  # "" the default folder database; a folder, redis://host:port, or none
    examples: int = 1000  # at most, per run of a property (a run ends by its time slice first)
    grace: float = 120.0  # seconds past the budget for a run that is recording a bug
    reduce: float = 90.0  # the reducer's budget per bug
    stats: Stats = field(default_factory=Stats)
    running: list[Run] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # property -> why it cannot run here
    schedule: Schedule | None = None
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="roundtrip-campaign-")))
    warm: list[Warm] = field(default_factory=list)  # the warm processes the runs share
    carried: set[str] = field(default_factory=set)  # the bugs pending when the campaign began (a stopped one's)
    started_warm: int = 0  # warm processes started (each one's log is warm-N.log in `folder`)

    def prepare(self, nodes: list[str], known: set[str]) -> None:
        """The properties this campaign runs (`nodes`, less those that cannot run here) and what it knows."""
        self.skipped = unavailable(nodes)
        runnable = [n for n in nodes if n not in self.skipped]
        order = random.Random(self.seed).sample(runnable, len(runnable))
        if not order:
            raise CampaignError("no property can run here: " + "; ".join(sorted(set(self.skipped.values()))))
        self.schedule = Schedule(order)
        self.stats.known = set(known)
        self.carried = {i.signature for i in self.pending()}

    def run(self, update: Callable[[Campaign], None] = lambda c: None) -> Stats:
        """Runs until the budget ends; `update` is called about twice a second (for progress)."""
        if self.schedule is None:
            self.prepare(select(targets(), self.paths), set())
        deadline = self.stats.started + self.minutes * 60
        count = 0
        try:
            while time.time() < deadline:
                while len(self.running) < self.workers:
                    self.running.append(self._start(self.seed * 100_000 + count, deadline))
                    count += 1
                time.sleep(0.5)
                self._poll()
                update(self)
            self._let_recordings_finish(update)
        finally:
            for warm in self.warm:
                warm.stop()
            self._poll(final=True)
            self._say_why_pending()
        return self.stats

    def _say_why_pending(self) -> None:
        """Each bug left pending says why (a run that gave up on one said so already)."""
        for item in pending.items(self.corpus):
            if not item.reason:
                pending.note(self.corpus, item.signature, f"not recorded yet: no run of {item.target} recorded "
                             f"it before the campaign ended (a run records up to {SHARE})")

    def _let_recordings_finish(self, update: Callable[[Campaign], None]) -> None:
        """Past the budget, runs that are recording a bug get up to `grace` seconds to write it (they start
        no other); the others stop at once.  What is not recorded stays pending, with its reason."""
        for run in [r for r in self.running if not r.recording]:
            run.warm.stop()
        end = time.time() + self.grace
        while time.time() < end and any(r.warm.alive and r.warm.done is not None for r in self.running):
            time.sleep(0.5)
            self._poll()
            update(self)

    def _start(self, seed: int, deadline: float) -> Run:
        assert self.schedule is not None
        busy = {r.node for r in self.running}
        node = self._to_record(deadline, busy)
        if node:
            plan = Schedule.recording(deadline, self.reduce)
        else:
            node = self.schedule.pick(busy)
            plan = self.schedule.plan(node, deadline, self.reduce)
        self.schedule.runs[node] += 1
        self.stats.targets[target_name(node)].runs += 1
        events = self.folder / f"events-{seed}.jsonl"
        warm = self._idle()
        warm.send([node, "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}"],
                  {"ROUNDTRIP_EVENTS": str(events), "ROUNDTRIP_RUN": json.dumps(asdict(plan))},
                  self.folder / f"done-{seed}.json")
        return Run(node, seed, plan, events, warm, time.time())

    def _to_record(self, deadline: float, busy: Collection[str]) -> str:
        """The property whose pending bugs the next run records instead of exploring, when the bugs pending
        (those no run is recording, nor gave up on) would take the worker time left: the one with the most;
        else "".  Until every property has had its first slice, only the bugs a stopped campaign left count."""
        assert self.schedule is not None
        nodes = {target_name(n): n for n in self.schedule.order}
        being = {r.recording for r in self.running}
        first_slices = not all(self.schedule.runs[n] for n in self.schedule.order)
        waiting = collections.Counter(i.target for i in self.pending()
                                      if i.target in nodes and i.signature not in being and not i.reason
                                      and (i.signature in self.carried or not first_slices))
        free = [(count, target) for target, count in waiting.items() if nodes[target] not in busy]
        if not free or waiting.total() * self.stats.recording_cost < (deadline - time.time()) * self.workers:
            return ""
        return nodes[max(free)[1]]

    def _idle(self) -> Warm:
        """A warm process to run in: an idle one, else a new one (one that died or served its share of runs
        is stopped and let go)."""
        for warm in [w for w in self.warm if w.done is None and not w.idle]:
            warm.stop()
            self.warm.remove(warm)
        idle = next((w for w in self.warm if w.idle), None)
        if idle is None:
            env = dict(os.environ, ROUNDTRIP_MAX_EXAMPLES=str(self.examples), ROUNDTRIP_PROFILE="campaign",
                       ROUNDTRIP_CORPUS=str(self.corpus.resolve()), TF_CPP_MIN_LOG_LEVEL="2")
            if self.database:
                env["ROUNDTRIP_DATABASE"] = self.database
            idle = Warm.start(env, self.folder / f"warm-{self.started_warm}.log")
            self.started_warm += 1
            self.warm.append(idle)
        return idle

    def _poll(self, final: bool = False) -> None:
        for run in list(self.running):
            self._read(run)
            ended = run.warm.result()
            if ended is None and not final:
                continue
            self.running.remove(run)
            code, run.cpu = ended if ended is not None else (None, 0.0)
            self._ended(run, code)

    def _ended(self, run: Run, code: int | None) -> None:
        seconds = time.time() - run.started
        target = self.stats.targets[run.target]
        target.seconds += seconds
        target.cpu += run.cpu
        if self.schedule is not None:
            self.schedule.seconds[run.node] += seconds
            self.schedule.new[run.node] = len(target.new)
        self.stats.runs.append({"property": run.target, "seed": run.seed, "checks": run.checks, "exit": code,
                                "seconds": round(seconds, 1), "cpu": round(run.cpu, 1),
                                "explore": run.plan.explore, "record": run.plan.record})

    def _read(self, run: Run) -> None:
        try:
            with run.events.open("rb") as f:
                f.seek(run.read)
                data = f.read()
        except OSError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        run.read += len(complete)
        for line in complete.splitlines():
            try:
                self.stats.take(run, json.loads(line))
            except (ValueError, KeyError):
                continue

    def pending(self) -> list[pending.Item]:
        """The bugs met and not recorded (the next campaign records them)."""
        return pending.items(self.corpus)

    def record(self) -> dict[str, Any]:
        """What reports/campaigns.jsonl keeps of this campaign."""
        s = self.stats
        cpu = sum(t.cpu for t in s.targets.values())
        return {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "minutes": round((time.time() - s.started) / 60, 2), "workers": self.workers, "seed": self.seed,
            "checks": s.checks, "examples_per_second": round(s.rate, 2),
            "layers": dict(s.layers), "ops": dict(s.ops),
            "properties": {name: t.checks for name, t in sorted(s.targets.items())},
            "per_property": {name: asdict(t) | {"new": len(t.new)} for name, t in sorted(s.targets.items())},
            "skipped": {target_name(n): why for n, why in self.skipped.items()},
            "cpu_seconds": round(cpu, 1),
            "phases": {phase: round(s.phases[phase], 1) for phase in PHASES},
            "new_bugs": len(s.new), "new_bugs_per_cpu_hour": round(len(s.new) / (cpu / 3600), 1) if cpu else None,
            "signatures_new": sorted(s.written), "signatures_met_new": sorted(s.new),
            "signatures_known": sorted(set(s.signatures) & s.known),
            "pending": [{"signature": i.signature, "property": i.target, "reason": i.reason} for i in self.pending()],
            "runs": s.runs,
        }
