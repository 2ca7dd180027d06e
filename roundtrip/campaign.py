"""A campaign: the properties of properties/ run as pytest processes, K at a time, one property each with
a recorded seed and a short example count, over and over until a time budget ends.

Findings do not stop it: a run that finds a new signature ends red, its minimal example is in the
corpus, and the next run (which reloads the corpus) counts that signature as known.  The processes share
one Hypothesis example database and one corpus (writes are locked; the smallest example of a signature
stays).  Each process appends what it does to an events file (`Harness.events`), which the campaign
reads for its progress: checks, distinct signatures, what is being shrunk, coverage of layers and ops.
The engine runs the properties; it never imports the strategies.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtrip.lifetime import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
PROPERTIES = ROOT / "properties"


class CampaignError(ValueError):
    """Bad input to a campaign (an unknown path, no properties): the message says what and where."""


def targets() -> list[str]:
    """The node ids of the properties (the corpus replay left out: a campaign looks for new findings)."""
    done = subprocess.run([sys.executable, "-m", "pytest", str(PROPERTIES), "--collect-only", "-q",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    found = [line.strip() for line in done.stdout.splitlines() if "::" in line and "test_corpus" not in line]
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


@dataclass
class Run:
    node: str
    seed: int
    events: Path
    process: subprocess.Popen[bytes]
    started: float
    read: int = 0  # bytes of the events file already read
    checks: int = 0
    shrinking: str = ""


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    checks: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    signatures: collections.Counter[str] = field(default_factory=collections.Counter)
    written: dict[str, str] = field(default_factory=dict)  # signature -> folder
    layers: collections.Counter[str] = field(default_factory=collections.Counter)
    ops: collections.Counter[str] = field(default_factory=collections.Counter)
    per_target: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def rate(self) -> float:
        return self.checks / max(time.time() - self.started, 1e-9)

    def take(self, run: Run, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "check":
            self.checks += 1
            run.checks += 1
            self.per_target[event["target"]] += 1
            self.layers.update(event.get("layers", []))
            self.ops.update(event.get("ops", []))
            self.signatures.update(event.get("signatures", []))
        elif kind == "shrinking":
            run.shrinking = event["signature"]
        elif kind == "written":
            self.written[event["signature"]] = event["folder"]


@dataclass
class Campaign:
    minutes: float
    workers: int = 1
    seed: int = 0
    paths: list[str] = field(default_factory=list)
    corpus: Path = ROOT / "corpus"
    database: str = ""  # "" the default folder database; a folder, redis://host:port, or none
    examples: int = 50  # per run of a property
    grace: float = 120.0  # seconds past the budget for a run that is shrinking a new finding
    stats: Stats = field(default_factory=Stats)
    running: list[Run] = field(default_factory=list)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="roundtrip-campaign-")))

    def run(self, update: Callable[[Campaign], None] = lambda c: None) -> Stats:
        """Runs until the budget ends; `update` is called about twice a second (for progress)."""
        nodes = select(targets(), self.paths)
        order = random.Random(self.seed).sample(nodes, len(nodes))
        deadline = self.stats.started + self.minutes * 60
        count = 0
        try:
            while time.time() < deadline:
                while len(self.running) < self.workers:
                    self.running.append(self._start(order[count % len(order)], self.seed * 100_000 + count))
                    count += 1
                time.sleep(0.5)
                self._poll()
                update(self)
            self._let_shrinks_finish(update)
        finally:
            for run in self.running:
                _stop(run.process)
            self._poll(final=True)
        return self.stats

    def _let_shrinks_finish(self, update: Callable[[Campaign], None]) -> None:
        """Past the budget, runs that are shrinking a new finding get up to `grace` seconds to write it;
        the others stop at once."""
        for run in [r for r in self.running if not r.shrinking]:
            _stop(run.process)
        end = time.time() + self.grace
        while time.time() < end and any(r.process.poll() is None for r in self.running):
            time.sleep(0.5)
            self._poll()
            update(self)

    def _start(self, node: str, seed: int) -> Run:
        events = self.folder / f"events-{seed}.jsonl"
        env = dict(os.environ, ROUNDTRIP_EVENTS=str(events), ROUNDTRIP_MAX_EXAMPLES=str(self.examples),
                   ROUNDTRIP_CORPUS=str(self.corpus.resolve()), TF_CPP_MIN_LOG_LEVEL="2")
        if self.database:
            env["ROUNDTRIP_DATABASE"] = self.database
        log = open(self.folder / f"run-{seed}.log", "wb")  # noqa: SIM115 - the child writes it until it ends
        # Its own session (the campaign stops its whole group); SIGTERM from the kernel if the campaign dies
        # without stopping it (kill -9), and its workers follow it (roundtrip.lifetime).
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", node, "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM))
        log.close()
        return Run(node, seed, events, process, time.time())

    def _poll(self, final: bool = False) -> None:
        for run in list(self.running):
            self._read(run)
            code = run.process.poll()
            if code is None and not final:
                continue
            self.running.remove(run)
            self.stats.runs.append({"property": run.node, "seed": run.seed, "checks": run.checks,
                                    "exit": code, "seconds": round(time.time() - run.started, 1)})

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

    def record(self, known: set[str]) -> dict[str, Any]:
        """What reports/campaigns.jsonl keeps of this campaign."""
        s = self.stats
        return {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "minutes": round((time.time() - s.started) / 60, 2), "workers": self.workers, "seed": self.seed,
            "checks": s.checks, "examples_per_second": round(s.rate, 2),
            "layers": dict(s.layers), "ops": dict(s.ops), "properties": dict(s.per_target),
            "signatures_new": sorted(s.written), "signatures_known": sorted(set(s.signatures) & known),
            "runs": s.runs,
        }


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ends a run and its worker processes (their own session): an entry being written is atomic."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
