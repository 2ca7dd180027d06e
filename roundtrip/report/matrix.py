"""The upgrade matrix: every corpus entry's repro.py run with each environment's Python (roundtrip.convert.envs).

Each cell is one of
    shows     the script ended as the finding says it should (roundtrip.store.script.verdict: exit 1 with the
              finding's exception, from the place its identity names)
    fixed     the script ended quietly: every step of it ran, so nothing earlier failed instead
    changed   something else: another exception, an exception from elsewhere, a crash where none is the
              finding; `why` says which (a new failure earlier in the script hides the bug: it is never "fixed")
    cannot    the entry cannot run there: the environment did not install, or lacks a package its repro.py
              imports (the onnx2tf entries need onnx2tf, which TensorFlow 2.21's environment cannot hold)

Replaying by repro.py keeps the environments free of this suite (they hold upstream packages only, so an
old TensorFlow with its own numpy is no problem) and runs what a maintainer would run.  An entry's home is
the environment of the pinned stack it was recorded in (`onnx2tf` for onnx2tf's entries, `pinned` for the
rest); a status change is a cell that differs from the home's, with the versions that differ.
"""

from __future__ import annotations

import ast
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from roundtrip.convert.envs import ROOT, Built, normalise
from roundtrip.convert.remote import CONVERTER_ENVIRONMENTS
from roundtrip.store import corpus
from roundtrip.store.script import verdict

STATUSES = ("shows", "fixed", "changed", "cannot")
HOME = "pinned"  # the pinned stack's environment for every entry whose converter has no environment of its own
FLAKY_RUNS = 24  # runs a flaky entry gets to show (roundtrip.search.harness.FLAKY_REPLAYS: its rate is 1 in 4 or more)


@dataclass(frozen=True)
class Cell:
    status: str  # one of STATUSES
    why: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Column:
    """An environment of the matrix: unusable when its pin file did not install (`why`: the last lines)."""

    name: str
    pins: str
    usable: bool
    versions: dict[str, str]
    build_seconds: float
    cached: bool
    why: str = ""
    replay_seconds: float = 0.0  # the wall time its cells took, added up


@dataclass(frozen=True)
class Row:
    entry: str
    signature: str
    home: str
    cells: dict[str, Cell]


@dataclass(frozen=True)
class Change:
    """An entry whose status in `to_env` differs from its status in `from_env` (its home)."""

    entry: str
    from_env: str
    to_env: str
    before: str
    after: str
    why: str
    versions: dict[str, tuple[str, str]]  # package -> (version in from_env, version in to_env), where they differ


@dataclass
class Matrix:
    columns: list[Column]
    rows: list[Row]
    date: str = ""
    seconds: float = 0.0  # the replay's wall time
    workers: int = 1
    changes: list[Change] = field(default_factory=list)


def home_of(entry: corpus.Entry) -> str:
    """The environment of the pinned stack the entry was recorded in."""
    return CONVERTER_ENVIRONMENTS.get(str(entry.meta.get("back", "")), HOME)


def needs(script: Path) -> set[str]:
    """The top-level modules `script` imports, the standard library's left out."""
    tree = ast.parse(script.read_text(), str(script))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names)


def cannot(entry: corpus.Entry, built: Built, modules: set[str]) -> Cell | None:
    """Why the entry cannot run in `built` (a "cannot" cell), or None when it can."""
    if not built.usable:
        return Cell("cannot", f"environment {built.env.name} did not install")
    script = entry.folder / "repro.py"
    if not script.is_file():
        return Cell("cannot", f"{script} is missing")
    missing = sorted(needs(script) - modules)
    if missing:
        return Cell("cannot", f"needs {', '.join(missing)}, which {built.env.name} lacks")
    return None


def run_cell(entry: corpus.Entry, python: str) -> Cell:
    """The entry's repro.py run with `python` in an empty folder (a flaky entry up to FLAKY_RUNS times,
    until it shows), read by its finding."""
    started = time.monotonic()
    finding = entry.finding
    with tempfile.TemporaryDirectory(prefix="roundtrip-matrix-") as folder:
        for _ in range(FLAKY_RUNS if finding.flaky else 1):
            seen = verdict.run(entry.folder / "repro.py", python, finding, cwd=Path(folder))
            if seen.status != verdict.FIXED:
                break
    status = {verdict.SHOWS: "shows", verdict.FIXED: "fixed"}.get(seen.status, "changed")
    why = "" if status == "shows" else seen.why
    if status == "changed":
        last = [line for line in seen.output.splitlines() if line.strip()][-1:]
        why += f" ({last[0].strip()[:300]})" if last else ""
    return Cell(status, why, time.monotonic() - started)


def replay(entries: Sequence[corpus.Entry], built: Sequence[Built], *, workers: int,
           progress: Callable[[str], None] | None = None) -> Matrix:
    """Every entry in every environment, `workers` scripts at a time."""
    started = time.monotonic()
    modules = {b.env.name: modules_of(b, entries) for b in built}
    cells: dict[tuple[str, str], Cell] = {}
    jobs = []
    for entry in entries:
        for b in built:
            reason = cannot(entry, b, modules[b.env.name])
            if reason is not None:
                cells[entry.folder.name, b.env.name] = reason
            else:
                jobs.append((entry, b))

    def one(job: tuple[corpus.Entry, Built]) -> tuple[tuple[str, str], Cell]:
        entry, b = job
        assert b.python is not None
        cell = run_cell(entry, b.python)
        if progress is not None:
            progress(f"{b.env.name}: {entry.folder.name}: {cell.status}")
        return (entry.folder.name, b.env.name), cell

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        cells.update(pool.map(one, jobs))
    rows = [Row(e.folder.name, e.signature, home_of(e), {b.env.name: cells[e.folder.name, b.env.name] for b in built})
            for e in entries]
    columns = [column_of(b, sum(cells[e.folder.name, b.env.name].seconds for e in entries)) for b in built]
    matrix = Matrix(columns, rows, seconds=time.monotonic() - started, workers=workers)
    matrix.changes = changes(matrix)
    return matrix


def modules_of(built: Built, entries: Sequence[corpus.Entry]) -> set[str]:
    """Which of the modules the entries' scripts import the environment holds."""
    if built.python is None:
        return set()
    from roundtrip.convert.envs import modules_in

    wanted: set[str] = set()
    for entry in entries:
        if (entry.folder / "repro.py").is_file():
            wanted |= needs(entry.folder / "repro.py")
    return modules_in(built.python, sorted(wanted))


def column_of(built: Built, replay_seconds: float) -> Column:
    pins = built.env.pins.resolve()
    shown = pins.relative_to(ROOT) if pins.is_relative_to(ROOT) else pins
    return Column(built.env.name, str(shown), built.usable, built.versions, round(built.seconds, 1),
                  built.cached, built.error, round(replay_seconds, 1))


def reference(row: Row, order: Sequence[str]) -> str | None:
    """The column a row's other cells are compared with: its home when it ran there, else the first
    column where it ran; None when it ran nowhere."""
    if row.home in row.cells and row.cells[row.home].status != "cannot":
        return row.home
    return next((name for name in order if row.cells[name].status != "cannot"), None)


def changes(matrix: Matrix) -> list[Change]:
    """Each cell whose status differs from its row's reference cell's (cells that could not run left out)."""
    order = [c.name for c in matrix.columns]
    versions = {c.name: c.versions for c in matrix.columns}
    found = []
    for row in matrix.rows:
        base = reference(row, order)
        if base is None:
            continue
        for name in order:
            cell, was = row.cells[name], row.cells[base]
            if name == base or cell.status in ("cannot", was.status):
                continue
            found.append(Change(row.entry, base, name, was.status, cell.status, cell.why or was.why,
                                differing(versions[base], versions[name])))
    return found


def differing(a: dict[str, str], b: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The packages whose versions differ between two environments ("-" where one lacks it), by their
    normalised names (pin files spell `ml_dtypes` or `ml-dtypes`, `Markdown` or `markdown`)."""
    a, b = ({normalise(k): v for k, v in d.items()} for d in (a, b))
    return {k: (a.get(k, "-"), b.get(k, "-")) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def counts(matrix: Matrix, column: str) -> dict[str, int]:
    return {s: sum(r.cells[column].status == s for r in matrix.rows) for s in STATUSES}
