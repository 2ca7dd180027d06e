"""How fast the suite goes, and what it costs: one run prints every figure and the machine.

    .venv/bin/python bench/bench.py [--quick] [--workers K] [--examples N] [--out DIR] [--wait-idle S] [--label TEXT]

1. raw: models per second of build + convert (tf2onnx-function) + run (ONNX Runtime, batch 1), in one
   process, no isolation, no oracle; and for each round trip of PROPERTIES its own raw loop: build +
   convert + back to Keras (`run_back`, as the property calls it) + run the Keras model it gives;
2. properties: models per second of each property through the harness (worker processes, the whole
   oracle, the corpus), over the same specs: the three Keras -> ONNX paths and a round trip;
3. overhead: raw / property (wall time, against the one-way raw loop); and per CPU second (the loop's
   process and its descendants: workers, converter servers) each property against its own raw loop
   (a round trip's, or the one-way loop), property / raw;
4. scaling: 1 and K processes, each with its own harness on a disjoint slice of the specs;
5. memory: a worker's resident memory over a long run, the peak, and the parent's;
6. planted: time to the first finding of a planted fault (`tests.planted:bake_batch`) and to its
   minimal repro written to a corpus, and the size of that repro.

The specs are drawn up front by a Hypothesis test with a fixed seed (the distribution a property sees,
duplicates included) with opsets from 13 to 18.  Each part runs in a process of its own, started like
the pool's workers (spawn), so no part's imports or memory weigh on the next; the parent never imports
TensorFlow.  The properties run against a temporary copy of corpus/ (known signatures are counted, as in
`make fuzz`), the planted fault against an empty temporary corpus: nothing is written to corpus/.
A timed loop that runs past its time budget stops there, and the output says so.  Before each part the
run waits (up to --wait-idle seconds) for the machine to be quiet, and it reports the share of the CPU
that other processes took during each part.

Prints a table and writes the same figures as JSON to `bench/results/<date>.json` (`<date>-quick.json`
for --quick).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: roundtrip, strategies and tests.planted from this tree
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PARTS = ("raw", "properties", "scaling", "memory", "planted")
RAW_PATH = "tf2onnx-function"
PROPERTIES: tuple[tuple[str, str], ...] = (  # (Keras -> ONNX path, ONNX -> Keras converter or "")
    ("tf2onnx-function", ""), ("tf2onnx-keras", ""), ("keras-export", ""), ("tf2onnx-function", "onnx2keras"))
SCALING_PATH = "tf2onnx-function"
MEMORY_PATH = "tf2onnx-function"
PLANTED_PATH = "tests.planted:bake_batch"
PACKAGES = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "onnx2keras", "hypothesis", "numpy", "protobuf")
MIB = 1 << 20

Specs = list[tuple[Any, int]]  # (ModelSpec, opset)


@dataclass(frozen=True)
class Plan:
    """What one run measures, and how long each timed loop may take before it is cut."""

    mode: str
    examples: int  # specs per throughput figure (raw, each property, scaling)
    workers: int  # K of "1 vs K"
    memory_examples: int
    memory_every: int  # a memory sample every so many examples
    planted_examples: int  # max_examples of the planted-fault run
    budget: float  # seconds for one timed loop of the throughput parts
    memory_budget: float  # seconds for the memory run
    confirm: bool = True  # the harness confirms a new finding in a fresh worker before writing it
    wait_spare: bool = True  # the timing starts once the pool's warm spare has imported TensorFlow
    wait_idle: float = 120.0  # before each part, wait up to so many seconds for others' processes to quieten
    seed: int = 20261121
    parts: tuple[str, ...] = PARTS  # which parts run (in this order whatever the order given)

    @staticmethod
    def full(examples: int | None = None, workers: int = 2) -> Plan:
        return Plan("full", examples or 300, workers, 1000, 100, 150, budget=420.0, memory_budget=720.0)

    @staticmethod
    def quick(examples: int | None = None, workers: int = 2) -> Plan:
        """Fewer of everything, and no waiting that only makes the figures cleaner: the spares start
        during the timed loops, and new findings are written without a confirming run."""
        return Plan("quick", examples or 3, workers, 10, 5, 60, budget=30.0, memory_budget=30.0,
                    confirm=False, wait_spare=False, wait_idle=0.0)


# ---- the specs ------------------------------------------------------------------------------------

def draw_specs(count: int, seed: int) -> Specs:
    """`count` (spec, opset) pairs from `strategies.keras_models()`, the same ones for the same seed."""
    import hypothesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    import strategies
    from roundtrip.convert.converters import KERAS_TO_ONNX, MIN_OPSET

    drawn: Specs = []
    opsets = st.integers(MIN_OPSET, min(c.max_opset for c in KERAS_TO_ONNX.values()))  # as the properties draw

    @hypothesis.seed(seed)
    @settings(max_examples=count, database=None, deadline=None, derandomize=False, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(spec=strategies.keras_models(), opset=opsets)
    def collect(spec: Any, opset: int) -> None:
        drawn.append((spec, opset))

    collect()
    return drawn[:count]


# ---- running a part in a process of its own -------------------------------------------------------

def _child(results: Any, index: int, log: str, task: Callable[..., Any], args: tuple[Any, ...]) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)  # TensorFlow's chatter and Hypothesis' reports go to the part's log
    os.dup2(fd, 2)
    try:
        results.put((index, "ok", task(*args)))
    except BaseException:  # noqa: BLE001 - sent to the parent, which says which part broke
        results.put((index, "error", traceback.format_exc()))


class PartError(RuntimeError):
    """A part of the benchmark broke (the message holds its traceback and the end of its log)."""


def in_processes(tasks: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], workdir: Path, timeout: float,
                 ) -> list[Any]:
    """Runs each (task, args) in a spawned process, all at once; their results in order."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    logs = [str(workdir / f"part-{os.getpid()}-{time.monotonic_ns()}-{i}.log") for i in range(len(tasks))]
    processes = [context.Process(target=_child, args=(results, i, logs[i], task, args))
                 for i, (task, args) in enumerate(tasks)]
    for process in processes:
        process.start()
    got: dict[int, tuple[str, Any]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(got) < len(tasks):
            try:
                index, status, value = results.get(timeout=5.0)
                got[index] = (status, value)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise PartError(f"no answer in {timeout:.0f} s") from None
                if all(not p.is_alive() for p in processes) and results.empty():
                    codes = [p.exitcode for p in processes]
                    raise PartError(f"part processes died (exit codes {codes}); log:\n{_tail(logs)}") from None
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()  # its pool's workers see their pipe close and exit on their own
                process.join(timeout=10)
    errors = [value for status, value in got.values() if status == "error"]
    if errors:
        raise PartError(f"{errors[0]}\nlog:\n{_tail(logs)}")
    return [got[i][1] for i in range(len(tasks))]


def _tail(logs: list[str]) -> str:
    text = []
    for log in logs:
        with contextlib.suppress(OSError), open(log, errors="replace") as f:
            text.append(f.read()[-3000:])
    return "\n".join(text)


# ---- reading memory -------------------------------------------------------------------------------

def status_of(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes; {} once it has gone."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return found


# ---- reading CPU time -----------------------------------------------------------------------------

def cpu_of(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds (user + system) each live process of `pids` has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return found


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (every process, every core)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process and of every child it has waited for (their children included)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def wait_idle(limit: float, below: float = 0.15, window: float = 5.0) -> tuple[float, float]:
    """Waits, at most `limit` seconds, until the machine is less than `below` busy (all cores) over
    `window` seconds.  Returns the seconds waited and how busy the last window was."""
    start = time.perf_counter()
    while True:
        busy = machine_busy()
        time.sleep(window)
        share = (machine_busy() - busy) / (window * (os.cpu_count() or 1))
        waited = time.perf_counter() - start
        if share < below or waited >= limit:
            return waited, share


class CpuMeter:
    """Over a stretch of wall time: how many cores this process and its descendants (the pool's workers,
    a converter's server such as onnx2tf's, their own children; live or already reaped) kept busy, how busy
    the whole machine was, and so the share of all its cores that other processes took."""

    def __init__(self) -> None:
        self.start = (time.perf_counter(), machine_busy(), self._used())

    @staticmethod
    def _used() -> float:
        """CPU seconds of this process's tree: from /proc, each live descendant with the children it waited for
        (a worker's converter server is a grandchild, alive all the loop long); elsewhere this process and its
        multiprocessing children."""
        from roundtrip.search.warm import tree_cpu

        if Path("/proc/self/stat").exists():
            return tree_cpu(os.getpid())
        live = cpu_of([child.pid for child in multiprocessing.active_children() if child.pid is not None])
        return own_cpu() + sum(live.values())  # a child counts in own_cpu() once reaped, here while alive

    def used(self) -> float:
        """CPU seconds the tree used since the meter started."""
        return self._used() - self.start[2]

    def read(self) -> dict[str, float]:
        wall0, busy0, used0 = self.start
        wall = time.perf_counter() - wall0
        if wall <= 0:
            return {"cores_used": 0.0, "machine_busy": 0.0, "others": 0.0}
        cores = os.cpu_count() or 1
        used = (self._used() - used0) / wall
        busy = (machine_busy() - busy0) / (wall * cores)
        return {"cores_used": round(used, 2), "machine_busy": round(busy, 2),
                "others": round(max(0.0, busy - used / cores), 2)}


# ---- loops --------------------------------------------------------------------------------------

@dataclass
class Loop:
    """One timed loop over specs."""

    name: str
    examples: int = 0
    seconds: float = 0.0
    per_model: list[float] = field(default_factory=list)
    cut: bool = False  # stopped by its time budget before the last spec
    errors: int = 0  # raw: conversions or runs that raised; harness: SuiteError
    new: int = 0  # checks that met a new bug
    new_findings: list[str] = field(default_factory=list)  # the first line of each new signature's message
    known: int = 0  # findings whose signature the corpus held
    written: int = 0  # corpus entries written (new ones, and smaller repros of known ones)
    unconfirmed: int = 0  # new findings that did not show again in a fresh worker (not written)
    checks: int = 0  # checks the harness ran, the confirming runs in a fresh worker included
    confirming: int = 0  # examples whose check started a fresh worker to confirm a finding
    seconds_confirming: float = 0.0  # of `seconds`, in those examples
    written_entries: int = 0  # distinct corpus entries among those writes
    cpu: dict[str, float] = field(default_factory=dict)  # CpuMeter.read() over the loop
    cpu_seconds: float = 0.0  # CpuMeter.used() over the loop: this process's and its descendants'
    waited_for_idle: float = 0.0  # seconds waited for other processes before the loop

    @property
    def rate(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else 0.0

    def figures(self) -> dict[str, Any]:
        times = sorted(self.per_model)
        plain = self.seconds - self.seconds_confirming
        return {**{k: v for k, v in asdict(self).items() if k != "per_model"},
                "models_per_second": round(self.rate, 3),
                "models_per_cpu_second": round(self.examples / self.cpu_seconds, 3) if self.cpu_seconds > 0 else 0.0,
                "models_per_second_unconfirmed": round((self.examples - self.confirming) / plain, 3) if plain else 0.0,
                "median_seconds": round(statistics.median(times), 3) if times else None,
                "p90_seconds": round(times[int(0.9 * (len(times) - 1))], 3) if times else None,
                "max_seconds": round(times[-1], 3) if times else None}


def raw_loop(specs: Specs, path: str, plan: Plan, back: str = "") -> dict[str, Any]:
    """Build, convert and run each spec in this process: the floor the suite's overhead is measured on.
    One way (no `back`): the ONNX model runs in ONNX Runtime.  A round trip: the ONNX model goes back to
    Keras through `back` and the Keras model it gives runs, by `roundtrip.convert.back.run_back` as the
    property calls it (a converter with an environment of its own, onnx2tf, through its server, a child
    of this process).  Inputs at batch 1, no oracle, no comparison.  One untimed model first (imports,
    first tracing, a converter server's start); the Keras session is cleared every 25 models, as the
    workers do.  A model whose conversion or run fails counts in `errors`, processed all the same."""
    import keras

    import strategies
    from roundtrip.build.keras import build_keras
    from roundtrip.convert.back import run_back
    from roundtrip.convert.converters import KERAS_TO_ONNX
    from roundtrip.finding.findings import Error
    from roundtrip.run.runners import OrtSession
    from roundtrip.run.worker import CLEAR_SESSION_EVERY

    convert = KERAS_TO_ONNX[path].convert

    class Failed(Exception):
        """The way back gave an error (it returns them rather than raising)."""

    def one(spec: Any, opset: int) -> None:
        proto = convert(build_keras(spec), spec, opset)
        inputs = strategies.inputs_for(spec, batch=1)
        if not back:
            OrtSession.load(proto.SerializeToString()).run(inputs)
            return
        run = run_back(back, proto, [inputs])
        if run.load_error is not None or any(isinstance(outputs, Error) for outputs in run.outputs):
            raise Failed

    with contextlib.suppress(Exception):
        one(*specs[0])
    keras.backend.clear_session()
    loop = Loop(f"raw {path}>{back}" if back else f"raw {path}")
    loop.waited_for_idle = wait_idle(plan.wait_idle)[0] if plan.wait_idle > 0 else 0.0
    meter = CpuMeter()
    for spec, opset in specs:
        if loop.seconds > plan.budget:
            loop.cut = True
            break
        began = time.perf_counter()
        try:
            one(spec, opset)
        except Exception:  # noqa: BLE001 - a converter that fails is a model processed all the same
            loop.errors += 1
        took = time.perf_counter() - began
        loop.per_model.append(took)
        loop.seconds += took
        loop.examples += 1
        if loop.examples % CLEAR_SESSION_EVERY == 0:
            keras.backend.clear_session()
    loop.cpu, loop.cpu_seconds = meter.read(), round(meter.used(), 2)
    return loop.figures()


def raw_part(specs: Specs, plan: Plan) -> dict[str, Any]:
    """The one-way raw loop (RAW_PATH), then a raw loop of each round trip of PROPERTIES, in this process."""
    one_way = raw_loop(specs, RAW_PATH, plan)
    round_trips = {f"{path}>{back}": raw_loop(specs, path, plan, back) for path, back in PROPERTIES if back}
    return {"one_way": one_way, "round_trips": round_trips}


def _key(path: str) -> str:
    from roundtrip.convert.converters import resolve

    return path if resolve(path).own_process else "shared"


def _open(root: str, plan: Plan, share: int = 0) -> Any:
    """A writing harness (as a campaign's runs are): each new bug met is recorded."""
    from roundtrip.search.harness import Harness
    from roundtrip.search.plan import Plan as RunPlan

    return Harness.open(Path(root), confirm=plan.confirm, plan=RunPlan(writes=True, share=share))


def _warm(harness: Any, spec: Any, opset: int, path: str, back: str, plan: Plan) -> None:
    """One untimed check (starts the path's worker), then waits until the pool's warm spare has imported
    TensorFlow, so that its start-up does not run during the timed loop."""
    harness.check(spec, path, opset, back)
    harness.recorder.record_pending()
    spare = harness.pool.spare
    if spare is not None and plan.wait_spare:
        spare.conn.poll(harness.pool.start_timeout)  # "ready" is waiting; poll leaves it for the pool


def harness_loop(harness: Any, specs: Specs, path: str, back: str, budget: float, wait: float = 0.0,
                 after: Callable[[int], None] | None = None) -> Loop:
    """`harness.check` on each spec, timed; a new bug met is counted and recorded at once (confirmed,
    reduced, written: timed too).  First waits (up to `wait` seconds) for the machine to be quiet;
    `after(n)` runs after the n-th check, outside the timing."""
    from roundtrip.run.worker import SuiteError

    loop = Loop(f"{path}>{back}" if back else path)
    known, checks, written = sum(harness.known_hits.values()), harness.checks, len(harness.recorder.written)
    unconfirmed = len(harness.recorder.unconfirmed)
    loop.waited_for_idle = wait_idle(wait)[0] if wait > 0 else 0.0
    meter = CpuMeter()
    for spec, opset in specs:
        if loop.seconds > budget:
            loop.cut = True
            break
        before = harness.checks
        began = time.perf_counter()
        met = dict(harness.met)
        try:
            harness.check(spec, path, opset, back)
        except SuiteError:
            loop.errors += 1
        new = [sig for sig, item in harness.met.items() if sig not in met and not item.smaller]
        if new:
            loop.new += 1
            loop.new_findings += [sig for sig in new if sig not in loop.new_findings]
        if len(harness.met) > len(met) or any(harness.met[sig] != item for sig, item in met.items()):
            harness.recorder.record_pending()
        took = time.perf_counter() - began
        if harness.checks - before > 1:
            loop.confirming += 1
            loop.seconds_confirming += took
        loop.per_model.append(took)
        loop.seconds += took
        loop.examples += 1
        if after is not None:
            after(loop.examples)
    loop.cpu, loop.cpu_seconds = meter.read(), round(meter.used(), 2)
    loop.known = sum(harness.known_hits.values()) - known
    loop.checks = harness.checks - checks
    loop.written = len(harness.recorder.written) - written
    loop.written_entries = len(set(harness.recorder.written[written:]))
    loop.unconfirmed = len(harness.recorder.unconfirmed) - unconfirmed
    return loop


def copy_corpus(target: Path) -> Path:
    """A copy of corpus/ to run against (entry by entry: others may be rewriting it meanwhile)."""
    target.mkdir(parents=True)
    source = ROOT / "corpus"
    for folder in sorted(source.iterdir()) if source.is_dir() else []:
        if folder.is_dir() and not folder.name.startswith("."):
            try:
                shutil.copytree(folder, target / folder.name)
                (target / folder.name / "meta.json").stat()
            except OSError:
                shutil.rmtree(target / folder.name, ignore_errors=True)
    return target


def properties_part(specs: Specs, root: str, plan: Plan) -> dict[str, Any]:
    """Every property over the same specs, through one harness, as a `make fuzz` session shares one."""
    harness = _open(root, plan)
    try:
        known = len(harness.recorder.known)
        loops = {}
        for path, back in PROPERTIES:
            _warm(harness, *specs[0], path, back, plan)
            loop = harness_loop(harness, specs, path, back, plan.budget, wait=plan.wait_idle)
            loops[loop.name] = loop.figures()
        return {"corpus_signatures": known, "workers_started": harness.pool.started, "loops": loops}
    finally:
        harness.close()


def scaling_member(specs: Specs, root: str, barrier: Any, plan: Plan) -> dict[str, Any]:
    """One of K processes: its own harness on its slice; timing starts when all K are warm."""
    harness = _open(root, plan)
    try:
        try:
            _warm(harness, *specs[0], SCALING_PATH, "", plan)
            waited = wait_idle(plan.wait_idle)[0] if plan.wait_idle > 0 else 0.0  # the others wait too
            barrier.wait(timeout=900 + plan.wait_idle)
        except BaseException:
            barrier.abort()
            raise
        began = time.time()
        loop = harness_loop(harness, specs, SCALING_PATH, "", plan.budget)
        return {"began": began, "ended": time.time(), **loop.figures(), "waited_for_idle": round(waited, 1)}
    finally:
        harness.close()


def scaling(specs: Specs, workers: int, workdir: Path, plan: Plan) -> dict[str, Any]:
    """Throughput of `workers` processes on disjoint slices of `specs`: all models / wall time."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    roots = [str(copy_corpus(workdir / f"scaling-{workers}-{i}")) for i in range(workers)]
    tasks = [(scaling_member, (specs[i::workers], roots[i], barrier, plan)) for i in range(workers)]
    members = in_processes(tasks, workdir, timeout=plan.budget + plan.wait_idle + 1200)
    wall = max(m["ended"] for m in members) - min(m["began"] for m in members)
    models = sum(m["examples"] for m in members)
    cores = sum(m["cpu"]["cores_used"] for m in members)  # each member's "others" holds the other members
    busy = max(m["cpu"]["machine_busy"] for m in members)
    cpu = {"cores_used": round(cores, 2), "machine_busy": busy,
           "others": round(max(0.0, busy - cores / (os.cpu_count() or 1)), 2)}
    return {"workers": workers, "examples": models, "seconds": round(wall, 2),
            "models_per_second": round(models / wall, 3) if wall > 0 else 0.0,
            "cut": any(m["cut"] for m in members), "cpu": cpu, "members": members}


def memory_part(specs: Specs, root: str, plan: Plan) -> dict[str, Any]:
    """A long run of one property through one harness: each worker's resident memory, read from /proc
    after every check (its peak, VmHWM, before the pool can recycle it) and kept every `every` examples."""
    from roundtrip.run.worker import CLEAR_SESSION_EVERY

    harness = _open(root, plan)
    pool = harness.pool
    every = plan.memory_every
    peak = 0
    pids: set[int] = set()
    samples: list[dict[str, Any]] = []
    start = 0.0

    def sample(examples: int, keep: bool = False) -> None:
        nonlocal peak
        workers = []
        for key, worker in pool.workers.items():
            status = status_of(worker.process.pid)
            pids.add(worker.process.pid)
            peak = max(peak, status.get("VmHWM", 0))
            workers.append({"key": key, "pid": worker.process.pid, "jobs": worker.jobs,
                            "rss_mib": status.get("VmRSS", 0) // MIB})
        if keep or examples % every == 0:
            spare = status_of(pool.spare.process.pid).get("VmRSS", 0) // MIB if pool.spare else None
            samples.append({"examples": examples, "seconds": round(time.perf_counter() - start, 1),
                            "workers": workers, "spare_rss_mib": spare,
                            "parent_rss_mib": status_of().get("VmRSS", 0) // MIB})

    try:
        pool.worker(_key(MEMORY_PATH))  # example 0: a worker that has imported TensorFlow, no model yet
        waited = wait_idle(plan.wait_idle)[0] if plan.wait_idle > 0 else 0.0  # the spare's start-up too
        start = time.perf_counter()
        sample(0)
        loop = harness_loop(harness, specs, MEMORY_PATH, "", plan.memory_budget, after=sample)
        loop.waited_for_idle = waited
        if loop.examples % every:
            sample(loop.examples, keep=True)
        return {"path": MEMORY_PATH, "loop": loop.figures(), "every": every, "samples": samples,
                "peak_worker_rss_mib": peak // MIB, "parent_peak_rss_mib": status_of().get("VmHWM", 0) // MIB,
                "workers_seen": len(pids), "workers_started": pool.started,
                "clear_session_every": CLEAR_SESSION_EVERY, "recycle_after": pool.limits.recycle_after}
    finally:
        harness.close()


def planted_part(path: str, root: str, plan: Plan) -> dict[str, Any]:
    """A Hypothesis run like tests/test_planted.py: the clock starts before the harness opens (no warm
    worker), stops at the first new bug met (exploring ends there) and at each corpus entry written (the end
    of its recording)."""
    import hypothesis
    from hypothesis import HealthCheck, Phase, given, settings

    import strategies
    from roundtrip.store import corpus

    examples, seed = plan.planted_examples, plan.seed
    start = time.perf_counter()
    harness = _open(root, plan, share=1)
    marks: dict[str, Any] = {"calls": 0, "first_check": None, "first_finding": None, "written": []}

    @hypothesis.seed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              phases=[p for p in Phase if p is not Phase.explain], suppress_health_check=list(HealthCheck))
    @given(spec=strategies.keras_models(max_layers=3))
    def hunt(spec: Any) -> None:
        marks["calls"] += 1
        try:
            harness.check(spec, path, 13)
        finally:
            marks["first_check"] = marks["first_check"] or round(time.perf_counter() - start, 2)
            if harness.met and marks["first_finding"] is None:
                marks["first_finding"] = {"seconds": round(time.perf_counter() - start, 2), "example": marks["calls"]}

    try:
        harness.explore(hunt)  # exploring ends at the first new bug; then it is recorded
        raised = ""
    except Exception as e:  # noqa: BLE001 - said in the figures
        raised = type(e).__name__
    finally:
        harness.close()
    for folder in harness.recorder.written:
        marks["written"].append({"seconds": round(time.perf_counter() - start, 2), "example": marks["calls"],
                                 "folder": folder.name})
    entries = [_entry(e) for e in corpus.entries(Path(root))]
    return {"path": path, "max_examples": examples, "seed": seed, "raised": raised, "examples_run": marks["calls"],
            "seconds": round(time.perf_counter() - start, 2), "first_check_seconds": marks["first_check"],
            "first_finding": marks["first_finding"], "written": marks["written"], "entries": entries}


def _entry(entry: Any) -> dict[str, Any]:
    from roundtrip.store import corpus

    spec, meta = entry.spec, entry.meta
    return {"folder": entry.folder.name, "kind": meta.get("kind", ""), "stage": meta.get("stage"),
            "symptom": meta.get("symptom"), "size": corpus.size_of(spec), "layers": len(spec.layers),
            "input_shapes": [list(i.shape) for i in spec.inputs], "shrink": meta.get("shrink"), "pretty": spec.pretty()}


# ---- the machine --------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    ram = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        ram = next((int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:")), 0)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "cpu": model or platform.processor(),
            "ram_gib": round(ram / (1 << 30), 1), "python": platform.python_version(), "os": platform.platform(),
            "packages": versions, "git": _git()}


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "roundtrip", "strategies").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "engine_files_changed": len(changed)}


def machine_line(m: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return (f"machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu']}, {m['ram_gib']} GiB RAM; "
            f"Python {m['python']}, {m['os']}; {packages}")


# ---- the whole run ------------------------------------------------------------------------------

def run(plan: Plan, out: Path | None = None, say: Callable[[str], None] = print, label: str = "") -> dict[str, Any]:
    """Measures everything in `plan`, prints the table, and writes the JSON into `out` (when given).
    `label` says what code was measured, when git cannot (a snapshot outside the checkout)."""
    began = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="roundtrip-bench-"))
    result: dict[str, Any] = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "label": label,
                              "source": str(ROOT), "plan": asdict(plan), "machine": machine(), "parts": {}}
    say(f"roundtrip benchmark ({plan.mode}: {plan.examples} specs, {plan.workers} workers, "
        f"{plan.memory_examples} for memory, seed {plan.seed}); each part says when it is done")

    def part(name: str, measure: Callable[[], Any]) -> Any:
        """Runs one part (once the machine is quiet); keeps its wall time and the share of the machine's
        CPU that others used meanwhile."""
        waited, share = wait_idle(plan.wait_idle) if plan.wait_idle > 0 else (0.0, 0.0)
        if waited > 10:
            say(f"  ... waited {waited:.0f} s for other processes to quieten before {name} (last {share:.0%} busy)")
        wall, busy, own = time.perf_counter(), machine_busy(), own_cpu()
        value = measure()
        wall = time.perf_counter() - wall
        others = (machine_busy() - busy - (own_cpu() - own)) / (wall * (os.cpu_count() or 1))
        result["parts"][name] = {"seconds": round(wall, 1), "others_cpu_share": round(max(others, 0.0), 3),
                                 "waited_for_idle": round(waited, 1), "busy_before": round(share, 3)}
        say(f"  ... {name} done in {wall:.0f} s")
        return value

    try:
        t = time.perf_counter()
        specs = draw_specs(max(plan.examples, plan.memory_examples), plan.seed)
        throughput = specs[:plan.examples]
        result["specs"] = {"drawn": len(specs), "distinct": len({(s.to_json(), o) for s, o in specs}),
                           "throughput": len(throughput), "draw_seconds": round(time.perf_counter() - t, 2)}
        timeout = plan.budget * len(PROPERTIES) + 1200
        if "raw" in plan.parts:
            raw = part("raw", lambda: in_processes([(raw_part, (throughput, plan))], workdir, timeout)[0])
            result["raw"], result["raw_round_trips"] = raw["one_way"], raw["round_trips"]
        if "properties" in plan.parts:
            corpus_copy = str(copy_corpus(workdir / "properties"))
            result["properties"] = part("properties", lambda: in_processes(
                [(properties_part, (throughput, corpus_copy, plan))], workdir, timeout)[0])
        if "raw" in plan.parts and "properties" in plan.parts:
            raw_rate = result["raw"]["models_per_second"]
            result["overhead"] = {name: round(raw_rate / rate, 2) if (rate := loop["models_per_second"]) else None
                                  for name, loop in result["properties"]["loops"].items()}
            result["per_cpu"] = per_cpu(result)
        if "scaling" in plan.parts:
            result["scaling"] = part("scaling", lambda: [scaling(throughput, k, workdir, plan)
                                                         for k in sorted({1, plan.workers})])
        if "memory" in plan.parts:
            memory_copy = str(copy_corpus(workdir / "memory"))
            result["memory"] = part("memory", lambda: in_processes(
                [(memory_part, (specs[:plan.memory_examples], memory_copy, plan))],
                workdir, plan.memory_budget + 1200)[0])
        if "planted" in plan.parts:
            planted_root = str(workdir / "planted")
            result["planted"] = part("planted", lambda: in_processes(
                [(planted_part, (PLANTED_PATH, planted_root, plan))], workdir, 1800)[0])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - began, 1)
    result["notes"] = notes(result)
    for line in table(result):
        say(line)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        suffix = ("" if plan.mode == "full" else f"-{plan.mode}") + (
            "" if plan.parts == PARTS else "-" + "-".join(plan.parts))
        target = out / f"{datetime.date.today().isoformat()}{suffix}.json"
        target.write_text(json.dumps(result, indent=1) + "\n")
        say(f"written: {target}")
        result["written_to"] = str(target)
    return result


def raw_for(result: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """The raw loop a property is measured against: a round trip's own (the same path there and back), else
    the one-way raw loop (RAW_PATH; the same path for the property RAW_PATH only)."""
    if name in result.get("raw_round_trips", {}):
        return f"raw {name}", result["raw_round_trips"][name]
    return f"raw {RAW_PATH}", result["raw"]


def per_cpu(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each property: its raw loop, the models per CPU second of each (the loop's process and its
    descendants: workers, converter servers), and property / raw."""
    figures = {}
    for name, loop in result["properties"]["loops"].items():
        raw_name, raw = raw_for(result, name)
        raw_rate, rate = raw["models_per_cpu_second"], loop["models_per_cpu_second"]
        figures[name] = {"raw": raw_name, "raw_models_per_cpu_second": raw_rate,
                         "property_models_per_cpu_second": rate,
                         "ratio": round(rate / raw_rate, 2) if raw_rate else None}
    return figures


def timed_loops(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, loop) of every timed loop of the parts that ran."""
    loops = [("raw", result["raw"])] if "raw" in result else []
    loops += [("raw " + k, v) for k, v in result.get("raw_round_trips", {}).items()]
    loops += [("property " + k, v) for k, v in result.get("properties", {"loops": {}})["loops"].items()]
    loops += [(f"scaling x{s['workers']}", s) for s in result.get("scaling", [])]
    return loops + ([("memory", result["memory"]["loop"])] if "memory" in result else [])


def notes(result: dict[str, Any]) -> list[str]:
    """What a reader must know to read the figures: cuts, others' load, anything the loops ran into."""
    found = []
    plan = result["plan"]
    if plan["mode"] == "quick":
        found.append("a quick run: the spares start during the timed loops and new findings are written unconfirmed; "
                     "it is for trying the benchmark out, its figures are not for comparing")
    loops = timed_loops(result)
    cut = [name for name, loop in loops if loop["cut"]]
    if cut:
        found.append(f"cut by their time budget ({plan['budget']:.0f} s a loop, {plan['memory_budget']:.0f} s for "
                     f"memory): {', '.join(cut)}; their rates are over the examples they ran")
    busy = {name: loop["cpu"]["others"] for name, loop in loops if loop["cpu"]["others"] >= 0.05}
    if busy:
        found.append("other processes took a share of the machine's CPU: " + ", ".join(
            f"{v:.0%} during {k}" for k, v in busy.items()) + "; those figures are lower than on an idle machine")
    errors = [name for name, loop in result.get("properties", {"loops": {}})["loops"].items() if loop["errors"]]
    if errors:
        found.append(f"the suite raised SuiteError in: {', '.join(errors)} (counted, not timed apart)")
    if result["machine"]["git"]["engine_files_changed"]:
        found.append(f"measured on a working tree with {result['machine']['git']['engine_files_changed']} "
                     "uncommitted changes under roundtrip/ and strategies/")
    return found


def table(r: dict[str, Any]) -> list[str]:
    m, plan = r["machine"], r["plan"]
    code = f"git {m['git']['commit'] or '-'}" + (f"; {r['label']}" if r["label"] else "")
    lines = ["", f"roundtrip benchmark {r['date']} ({plan['mode']}, seed {plan['seed']}, {r['seconds']:.0f} s; {code})",
             machine_line(m)]
    if "raw" in r or "properties" in r:
        lines += throughput_lines(r)
    if "scaling" in r:
        lines += scaling_lines(r)
    if "memory" in r:
        lines += memory_lines(r)
    if "planted" in r:
        lines += planted_lines(r)
    lines += ["", "parts: " + ", ".join(f"{k} {v['seconds']:.0f} s (others {v['others_cpu_share']:.0%} of the CPU)"
                                        for k, v in r["parts"].items())]
    return lines + [f"note: {n}" for n in r["notes"]]


def throughput_lines(r: dict[str, Any]) -> list[str]:
    raw, props = r.get("raw"), r.get("properties", {"loops": {}, "corpus_signatures": 0})
    lines = ["",
             f"1-3. throughput over the same {r['specs']['throughput']} specs (drawn {r['specs']['drawn']}, "
             f"{r['specs']['distinct']} distinct), opsets 13-18; properties against a corpus copy of "
             f"{props['corpus_signatures']} signatures",
             f"  {'':<38} {'models':>6} {'s':>7} {'models/s':>8} {'median s':>8} {'p90 s':>6} {'max s':>6} "
             f"{'cores':>5} {'others':>6} {'overhead':>8}"]

    def row(name: str, loop: dict[str, Any], overhead: str) -> str:
        return (f"  {name:<38} {loop['examples']:>6} {loop['seconds']:>7.1f} {loop['models_per_second']:>8.2f} "
                f"{loop['median_seconds']:>8.3f} {loop['p90_seconds']:>6.3f} {loop['max_seconds']:>6.2f} "
                f"{loop['cpu']['cores_used']:>5.2f} {loop['cpu']['others']:>6.0%} {overhead:>8}"
                + ("  (cut)" if loop["cut"] else ""))

    if raw is not None:
        lines.append(row(f"raw {RAW_PATH}", raw, "1.00x"))
    for name, loop in r.get("raw_round_trips", {}).items():
        lines.append(row(f"raw {name}", loop, "-"))
    for name, loop in props["loops"].items():
        lines.append(row(f"property {name}", loop, f"{r['overhead'][name]:.2f}x" if "overhead" in r else "-"))
    raised = f" ({raw['errors']} raised)" if raw is not None else ""
    lines.append(f"  raw = build + {RAW_PATH} + ONNX Runtime at batch 1 in one process{raised}; "
                 "overhead = raw models/s / property models/s;")
    for name, loop in r.get("raw_round_trips", {}).items():
        path, back = name.split(">", 1)
        lines.append(f"  raw {name} = build + {path} + {back} (run_back, as the property calls it) + the Keras model "
                     f"it gives at batch 1, no oracle ({loop['errors']} failed);")
    lines.append("  cores = CPU s of the loop's processes (workers included) / wall s; others = the share of the "
                 "machine's CPU that other processes took meanwhile")
    for name, loop in props["loops"].items():
        lines.append(f"  {name}: {loop['known']} known findings, {loop['new']} new ({len(loop['new_findings'])} "
                     f"signatures), {loop['written']} writes to {loop['written_entries']} corpus entries, "
                     f"{loop['unconfirmed']} unconfirmed; "
                     f"{loop['confirming']} examples ran a confirming check ({loop['seconds_confirming']:.1f} s; "
                     f"without them {loop['models_per_second_unconfirmed']:.2f} models/s)")
        lines += [f"    new: {text}" for text in loop["new_findings"]]
    return lines + per_cpu_lines(r)


def per_cpu_lines(r: dict[str, Any]) -> list[str]:
    """Each property against its own raw loop, per CPU second."""
    if "per_cpu" not in r:
        loops = [(f"raw {RAW_PATH}", r["raw"])] if "raw" in r else []
        loops += [(f"raw {k}", v) for k, v in r.get("raw_round_trips", {}).items()]
        loops += [(f"property {k}", v) for k, v in r.get("properties", {"loops": {}})["loops"].items()]
        return ["  per CPU second: " + "; ".join(f"{name} {loop['models_per_cpu_second']:.2f} models "
                                                 f"({loop['cpu_seconds']:.1f} CPU s)" for name, loop in loops)]
    lines = ["", "  per CPU second (the loop's process and its descendants: workers, converter servers), each property "
             "against its raw loop:",
             f"  {'property':<36} {'raw loop':<40} {'raw models/CPU s':>16} {'property models/CPU s':>21} "
             f"{'property/raw':>12}"]
    for name, f in r["per_cpu"].items():
        ratio = "-" if f["ratio"] is None else f"{f['ratio']:.2f}x"
        lines.append(f"  {name:<36} {f['raw']:<40} {f['raw_models_per_cpu_second']:>16.2f} "
                     f"{f['property_models_per_cpu_second']:>21.2f} {ratio:>12}")
    return lines


def scaling_lines(r: dict[str, Any]) -> list[str]:
    lines = ["", f"4. scaling: the {SCALING_PATH} property, each process with its own harness on a disjoint slice"]
    one = r["scaling"][0]["models_per_second"]
    for s in r["scaling"]:
        speedup = s["models_per_second"] / one if one else 0.0
        lines.append(f"  {s['workers']} x harness: {s['examples']:>5} models in {s['seconds']:>6.1f} s = "
                     f"{s['models_per_second']:.2f} models/s  (x{speedup:.2f} of 1, {speedup / s['workers']:.0%} per "
                     f"process; {s['cpu']['cores_used']:.2f} cores used, others {s['cpu']['others']:.0%})"
                     + ("  (cut)" if s["cut"] else ""))
    return lines


def memory_lines(r: dict[str, Any]) -> list[str]:
    mem = r["memory"]
    lines = ["", f"5. memory: {mem['loop']['examples']} examples of {mem['path']} through one harness "
              f"({mem['loop']['models_per_second']:.2f} models/s, {mem['loop']['cpu']['cores_used']:.2f} cores, others "
              f"{mem['loop']['cpu']['others']:.0%}); the worker clears the Keras session every "
              f"{mem['clear_session_every']} models and is recycled after {mem['recycle_after']}",
              f"  {'examples':>8} {'s':>7} {'worker pid':>10} {'jobs':>5} {'worker MiB':>10} {'spare MiB':>9} "
              f"{'parent MiB':>10}"]
    for s in mem["samples"]:
        spare = "-" if s["spare_rss_mib"] is None else s["spare_rss_mib"]
        for w in s["workers"]:
            lines.append(f"  {s['examples']:>8} {s['seconds']:>7.1f} {w['pid']:>10} {w['jobs']:>5} {w['rss_mib']:>10} "
                         f"{spare:>9} {s['parent_rss_mib']:>10}")
    lines.append(f"  peak worker RSS {mem['peak_worker_rss_mib']} MiB (VmHWM over {mem['workers_seen']} workers); "
                 f"parent peak {mem['parent_peak_rss_mib']} MiB; {mem['workers_started']} worker processes started")
    return lines


def planted_lines(r: dict[str, Any]) -> list[str]:
    p = r["planted"]
    first = p["first_finding"]
    lines = ["", f"6. planted fault {p['path']}: keras_models(max_layers=3), opset 13, max_examples "
              f"{p['max_examples']}, an empty corpus; the clock starts as the harness opens (no worker yet)",
              f"  first check done at {p['first_check_seconds']} s (the worker's start-up included)",
              f"  first new bug met at {first['seconds']} s (example {first['example']})" if first else "  no finding"]
    for w in p["written"]:
        entry = next((e for e in p["entries"] if e["folder"] == w["folder"]), None)
        size = f"; size {entry['size']} (layers, input elements, JSON chars)" if entry else ""
        lines.append(f"  minimal repro written at {w['seconds']} s (example {w['example']}): {w['folder']}{size}")
        lines += [f"    {line}" for line in entry["pretty"].splitlines()] if entry else []
    return lines + [f"  run ended at {p['seconds']} s after {p['examples_run']} examples"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under 2 minutes, to try it out")
    parser.add_argument("--workers", type=int, default=2, help="K of the 1 vs K workers comparison (default 2)")
    parser.add_argument("--examples", type=int, default=None,
                        help="specs per throughput figure (default 300; --quick: 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the JSON goes")
    parser.add_argument("--label", default="", help="what code is measured, printed and kept in the JSON")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"which parts to run, comma-separated (default all: {','.join(PARTS)})")
    parser.add_argument("--wait-idle", type=float, default=None, metavar="SECONDS",
                        help="before each part, wait up to so long for the machine to be quiet (default 120; "
                             "--quick: 0)")
    args = parser.parse_args(argv)
    if args.workers < 1 or (args.examples is not None and args.examples < 1):
        parser.error("--workers and --examples must be >= 1")
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--parts: want a comma-separated list of {', '.join(PARTS)}, got {args.parts!r}")
    plan = replace((Plan.quick if args.quick else Plan.full)(args.examples, args.workers),
                   parts=tuple(p for p in PARTS if p in parts))
    if args.wait_idle is not None:
        plan = replace(plan, wait_idle=max(0.0, args.wait_idle))
    run(plan, args.out, label=args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
