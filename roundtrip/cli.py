"""The `roundtrip` command: replay the corpus, regenerate the reports, show an entry, run its repro.

    roundtrip replay [--corpus DIR] [--reports DIR] [--baseline FILE] [--entry NAME ...]
    roundtrip replay --env NAME [--env NAME ...] [--workers K] [--entry NAME ...]
    roundtrip bisect ENTRY --package P [--from V1] [--to V2] [--env BASE]
    roundtrip report [--corpus DIR] [--reports DIR]
    roundtrip show ENTRY [--corpus DIR]
    roundtrip repro ENTRY [--corpus DIR]
    roundtrip triage ENTRY --status S [--url U] [--reason R] [--version V] [--corpus DIR]
    roundtrip render [ENTRY ...] [--corpus DIR] [--no-check]
    roundtrip reduce [ENTRY ...] [--corpus DIR] [--seconds S]
    roundtrip fuzz [--minutes N] [--workers K] [--seed S] [--path P ...] [--database URL]
    roundtrip check MODEL [--path P ...] [--custom-objects MODULE] [--inputs FILE.npz] [--corpus DIR]

The corpus is --corpus, else $ROUNDTRIP_CORPUS, else ./corpus; the reports go to --reports (./reports).
An ENTRY is a folder path, or the name of a folder of the corpus, or a unique prefix of one.

Bad input (an unknown entry, a corpus folder that does not exist, a corrupt entry, a baseline that is not
a replay json) is one line on stderr naming what and where, and exit status 2, never a traceback.  A
corrupt entry does not stop `replay` or `report`: the other entries still run, and the status is 2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from roundtrip.convert import envs
from roundtrip.report import reports
from roundtrip.report.reports import ReplayResult
from roundtrip.run.worker import SuiteError
from roundtrip.search.harness import Harness
from roundtrip.search.recorder import FLAKY_REPLAYS
from roundtrip.store import corpus, triage

BAD_INPUT = 2

app = typer.Typer(name="roundtrip", help="Property-based fuzz testing of Keras <-> ONNX converters: the corpus "
                  "and its reports.", no_args_is_help=True, add_completion=False, rich_markup_mode="markdown",
                  pretty_exceptions_show_locals=False)

CorpusDir = Annotated[Path, typer.Option(
    "--corpus", envvar="ROUNDTRIP_CORPUS", show_envvar=True,
    help="The corpus folder ($ROUNDTRIP_CORPUS, else ./corpus).")]
ReportsDir = Annotated[Path, typer.Option("--reports", help="Where the reports are written.")]
EntryName = Annotated[str, typer.Argument(
    help="A corpus entry: a folder path, a folder name inside the corpus, or a unique prefix of one.",
    show_default=False)]


def main() -> None:
    """The console script."""
    app()


def _console() -> Console:
    return Console(highlight=False)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 2."""
    warn(message)
    raise typer.Exit(BAD_INPUT)


def warn(message: str) -> None:
    typer.echo(f"roundtrip: {' '.join(message.split())}", err=True)


# ---- finding the corpus and its entries -----------------------------------------------------------------
def corpus_root(path: Path) -> Path:
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        fail(f"corpus folder {path} {what} (give --corpus DIR or set ROUNDTRIP_CORPUS)")
    return path


def find_entry(name: str, root: Path) -> Path:
    """The entry folder `name` stands for: a folder path, a folder name inside `root`, or a unique prefix."""
    path = Path(name)
    if (path / "meta.json").is_file():
        return path
    if len(path.parts) > 1:  # a path: corpus/tf2onnx-keras-conv... is a prefix inside the folder it names
        if path.is_dir():
            fail(f"{path} holds no meta.json: not a corpus entry")
        root, name = path.parent, path.name
    names = sorted(str(d.relative_to(root)) for d in corpus.entry_folders(corpus_root(root)))
    exact = [n for n in names if name in (n, Path(n).name)]  # a gap's entry is named below its folder
    if exact:
        return root / exact[0]
    matches = [n for n in names if n.startswith(name) or Path(n).name.startswith(name)]
    if len(matches) == 1:
        return root / matches[0]
    if not matches:
        fail(f"no entry {name!r} in {root} ({len(names)} entries; give a folder name, a unique prefix of one, "
             "or a folder path)")
    shown = ", ".join(matches[:3]) + (", ..." if len(matches) > 3 else "")
    fail(f"{name!r} matches {len(matches)} entries in {root} ({shown}): give more of the name")


def load_entry(folder: Path) -> corpus.Entry:
    try:
        return corpus.load(folder)
    except corpus.CorpusError as e:
        fail(str(e))


# ---- replay -------------------------------------------------------------------------------------------
@app.command()
def replay(
    corpus_dir: CorpusDir = Path("corpus"),
    reports_dir: ReportsDir = Path("reports"),
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="A replay json of earlier versions: the report says what changed since.",
        show_default=False)] = None,
    entry: Annotated[list[str] | None, typer.Option(
        "--entry", help="Replay only this entry (a name or unique prefix); give it again for more.",
        show_default=False)] = None,
    scripts: Annotated[bool, typer.Option(
        "--scripts", help="Run each entry's repro.py (a process each) instead of replaying its spec in the harness.")
    ] = False,
    env: Annotated[list[str] | None, typer.Option(
        "--env", help="Replay in the environment envs/NAME.txt (made in .envs/ when absent, then kept), by each "
        "entry's repro.py; give it again for more: the upgrade matrix.", show_default=False)] = None,
    workers: Annotated[int, typer.Option(help="With --env: scripts run at a time (default: the cores).")] = 0,
    pins: Annotated[Path, typer.Option("--pins", help="With --env: the folder of the pin files.")] = envs.PINS,
    cache: Annotated[Path, typer.Option("--cache", envvar="ROUNDTRIP_ENVS", help="With --env: where the "
                                        "environments are made.")] = envs.CACHE,
    find_links: Annotated[list[str] | None, typer.Option(
        "--find-links", help="With --env: a folder of packages to install from too.", show_default=False)] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="With --env: no package index, --find-links only.")
    ] = False,
) -> None:
    """Replays each corpus entry on the installed versions: still failing, fixed, or changed.

    With --env: each entry's repro.py in each environment named, into reports/matrix.json, .md and .html
    (the upgrade matrix: shows, fixed, changed, cannot run there).

    Writes `reports/replay-<versions>.json` and `.md` and prints a table.  Exit status: 0 when every entry
    still fails (with --env: when no status changes), 1 when any is fixed, changed or could not be replayed,
    2 on bad input (an unknown entry or environment, a corrupt entry, a baseline that is not a replay json)."""
    root = corpus_root(corpus_dir)
    if env:
        sources = _sources(find_links, no_index)
        replay_matrix(root, reports_dir, env, entry or [], workers or os.cpu_count() or 1, pins, cache, sources)
        return
    if baseline is not None:
        try:
            reports.read_replay(baseline)
        except reports.ReportError as e:
            fail(str(e))
    entries, problems = _entries_to_replay(root, entry or [])
    for problem in problems:
        warn(problem)
    console = _console()
    results = replay_scripts(entries, console) if scripts else replay_entries(root, entries, console)
    try:
        json_path, md_path = reports.write_replay(results, reports_dir, corpus.versions(), baseline)
    except reports.ReportError as e:  # the baseline changed while the entries replayed
        fail(str(e))
    _print_replay(console, results, problems)
    console.print(f"wrote {json_path} and {md_path}", soft_wrap=True)
    if problems:
        raise typer.Exit(BAD_INPUT)
    raise typer.Exit(0 if all(r.status == "still" for r in results) else 1)


def _sources(find_links: list[str] | None, no_index: bool) -> tuple[str, ...]:
    links = [str(Path(f).resolve()) for f in find_links or []]
    for link in links:
        if not Path(link).is_dir():
            fail(f"--find-links {link}: not a folder")
    return (*(["--no-index"] if no_index else []), *(a for link in links for a in ("--find-links", link)))


def _named(names: list[str], pins: Path, cache: Path, sources: tuple[str, ...]) -> list[envs.Env]:
    chosen = []
    for name in dict.fromkeys(names):
        try:
            chosen.append(dataclasses.replace(envs.named(name, pins, cache), sources=sources))
        except envs.EnvError as e:
            fail(str(e))
    return chosen


def replay_matrix(root: Path, reports_dir: Path, names: list[str], entry_names: list[str], workers: int,
                  pins: Path, cache: Path, sources: tuple[str, ...]) -> NoReturn:
    """replay --env: builds (or finds) each environment, one at a time, then runs every entry's repro.py in
    each, `workers` at a time; writes the matrix and prints its status changes."""
    from roundtrip.report import matrix, matrix_report

    chosen = _named(names, pins, cache, sources)
    entries, problems = _entries_to_replay(root, entry_names)
    for problem in problems:
        warn(problem)
    console = _console()
    built = []
    for env in chosen:
        with console.status(f"environment {env.name}"):
            made = envs.build(env)
        how = "cached" if made.cached else f"built in {made.seconds:.0f} s"
        if made.usable:
            console.print(f"environment {env.name}: {how} ({env.folder})", soft_wrap=True)
        else:
            console.print(f"environment {env.name}: UNUSABLE, {env.pins} did not install; its entries are marked "
                          f"'cannot'. The installer's last lines:\n{made.error}", soft_wrap=True)
        built.append(made)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=None)
        found = matrix.replay(entries, built, workers=workers,
                              progress=lambda line: progress.update(task, advance=1, description=line[:80]))
    paths = matrix_report.write(found, reports_dir)
    table = Table(title=f"{len(found.rows)} entries x {len(found.columns)} environments, {found.seconds / 60:.1f} min")
    table.add_column("environment")
    for status in matrix.STATUSES:
        table.add_column(status, justify="right")
    for column in found.columns:
        n = matrix.counts(found, column.name)
        table.add_row(column.name + ("" if column.usable else " (unusable)"), *(str(n[s]) for s in matrix.STATUSES))
    console.print(table)
    console.print(f"{len(found.changes)} status changes" + (":" if found.changes else ""))
    for change in found.changes:
        console.print("  " + matrix_report.change_line(change), soft_wrap=True, markup=False)
    console.print(f"wrote {', '.join(str(p) for p in paths)}", soft_wrap=True)
    unusable = [c.name for c in found.columns if not c.usable]
    raise typer.Exit(BAD_INPUT if problems or unusable else 1 if found.changes else 0)


def _entries_to_replay(root: Path, names: list[str]) -> tuple[list[corpus.Entry], list[str]]:
    if not names:
        return reports.load_entries(root)
    folders = list(dict.fromkeys(find_entry(name, root) for name in names))
    return [load_entry(folder) for folder in folders], []


def replay_entries(root: Path, entries: list[corpus.Entry], console: Console) -> list[ReplayResult]:
    """Each entry replayed in the harness' worker processes, with a progress bar."""
    try:
        harness = Harness.open(root)
    except corpus.CorpusError:  # a corrupt entry, reported already: a replay needs no known signatures
        harness = Harness(root)
    results = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("replaying", total=len(entries))
            for entry in entries:
                progress.update(task, description=entry.folder.name)
                results.append(replay_one(harness, entry))
                progress.advance(task)
    finally:
        harness.close()
    return results


def replay_scripts(entries: list[corpus.Entry], console: Console) -> list[ReplayResult]:
    """Each entry's repro.py in a process of its own, two at a time: exit 1 "still", 0 "fixed", else
    "changed" (another exception, a crash or a timeout where none is the finding), said in the detail."""
    from concurrent.futures import ThreadPoolExecutor

    from roundtrip.store.script.entry import python_of
    from roundtrip.store.script.render import source_of
    from roundtrip.store.script.verdict import SHOWS, run

    def one(entry: corpus.Entry) -> ReplayResult:
        python = python_of(source_of(entry.folder, entry.spec, entry.meta))
        if python is None:
            return ReplayResult(entry.folder.name, entry.signature, "error", [],
                                "its converter's environment is absent")
        for _ in range(FLAKY_REPLAYS if entry.finding.flaky else 1):
            verdict = run(entry.folder / "repro.py", python, entry.finding)
            if verdict.status != 0:
                break
        status = {SHOWS: "still", 0: "fixed"}.get(verdict.status, "changed")
        now = [entry.signature] if status == "still" else []
        return ReplayResult(entry.folder.name, entry.signature, status, now, "" if status == "still" else verdict.why)

    with console.status(f"running {len(entries)} repro.py scripts"), ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, entries))


def replay_one(harness: Harness, entry: corpus.Entry) -> ReplayResult:
    """The entry replayed once; a replay that raises is status "error" with the message."""
    name = entry.folder.name
    try:
        status, findings = harness.recorder.replay(entry)
    except SuiteError as e:
        return ReplayResult(name, entry.signature, "error", [], str(e)[:4000])
    except (KeyError, ValueError, OSError) as e:  # an entry naming a converter this install lacks, say
        return ReplayResult(name, entry.signature, "error", [], f"{type(e).__name__}: {e}"[:4000])
    now = sorted({f.signature for f in findings})
    detail = {"still": "", "fixed": "nothing shows now"}.get(status, "")
    if status == "changed":
        detail = "; ".join(reports.plain(f.describe()) for f in findings)[:4000]
    return ReplayResult(name, entry.signature, status, now, detail)


def _print_replay(console: Console, results: list[ReplayResult], problems: list[str]) -> None:
    style = {"still": "green", "fixed": "yellow", "changed": "magenta", "error": "red"}
    table = Table(title=f"replay of {len(results)} entries")
    table.add_column("status")
    table.add_column("entry", overflow="fold")
    table.add_column("detail", overflow="fold")
    for result in sorted(results, key=lambda r: (reports.STATUSES.index(r.status), r.folder)):
        detail = result.detail if result.status != "still" else ""
        table.add_row(Text(result.status, style=style[result.status]), Text(result.folder),
                      Text(reports.plain(detail)[:300]))
    console.print(table)
    counts = {s: sum(r.status == s for r in results) for s in reports.STATUSES}
    line = ", ".join(f"{n} {s}" for s, n in counts.items())
    console.print(line + (f"; {len(problems)} unreadable" if problems else ""))


# ---- bisect -------------------------------------------------------------------------------------------
@app.command("bisect")
def bisect_command(
    entry: EntryName,
    package: Annotated[str, typer.Option("--package", help="The package whose releases are tried.")],
    low: Annotated[str | None, typer.Option("--from", help="The first release tried (default: the one the base "
                                            "environment pins).", show_default=False)] = None,
    high: Annotated[str | None, typer.Option("--to", help="The last release tried (default: the newest).",
                                             show_default=False)] = None,
    env: Annotated[str | None, typer.Option("--env", help="The base environment (default: the entry's home: "
                                            "onnx2tf for onnx2tf's entries, else pinned).", show_default=False)] = None,
    corpus_dir: CorpusDir = Path("corpus"),
    reports_dir: ReportsDir = Path("reports"),
    pins: Annotated[Path, typer.Option("--pins", help="The folder of the pin files.")] = envs.PINS,
    cache: Annotated[Path, typer.Option("--cache", envvar="ROUNDTRIP_ENVS", help="Where the environments are "
                                        "made (each release's in its bisect/ folder, kept).")] = envs.CACHE,
    find_links: Annotated[list[str] | None, typer.Option(
        "--find-links", help="A folder of packages to install from too.", show_default=False)] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="No package index, --find-links only.")] = False,
) -> None:
    """Names the first release of PACKAGE where the entry's status changes (shows -> fixed, or the other way).

    Each release from --from to --to gets an environment (the base's pins with that release), built once
    and kept; the ends run first, then the range is halved.  What it finds goes into the entry's meta.json
    ("history": fixed_in, shows_since or changed_in) and its issue.md.  Exit status: 0 when it named a
    release, 1 when the ends agree (nothing to name), 2 on bad input (an unknown entry or environment, a
    package with no release in the range)."""
    from roundtrip.report import bisection, matrix

    folder = find_entry(entry, corpus_dir)
    found_entry = load_entry(folder)
    sources = _sources(find_links, no_index)
    base = _named([env or matrix.home_of(found_entry)], pins, cache, sources)[0]
    try:
        releases = bisection.releases_between(bisection.all_releases(package, sources),
                                              low or envs.pinned_version(base.pins, package), high, package)
    except envs.EnvError as e:
        fail(str(e))
    console = _console()
    console.print(f"{folder.name}: {len(releases)} releases of {package} from {releases[0]} to {releases[-1]}, "
                  f"on {base.name}'s other pins", soft_wrap=True)
    try:
        found = bisection.bisect(found_entry, base, package, releases, cache,
                                 log=lambda line: console.print("  " + line, soft_wrap=True, markup=False))
    except envs.EnvError as e:
        fail(str(e))
    if found.first is None or found.last_before is None:
        ends = sorted(found.statuses, key=lambda v: bisection.Version(v))
        said = ", ".join(f"{v}: {found.status(v)}" for v in ends) or "no release could run it"
        console.print(f"no change to name between {releases[0]} and {releases[-1]} ({said})", soft_wrap=True)
        raise typer.Exit(1)
    meta = bisection.record(found_entry.meta, found)
    corpus.write_meta(folder, meta)
    reports.write_from(reports.read_sources(corpus_root(corpus_dir), reports_dir / "campaigns.jsonl"), reports_dir)
    words = {"fixed_in": "fixed in", "shows_since": "shows since", "changed_in": "changed in"}[found.kind]
    console.print(f"{folder.name}: {words} {package} {found.first} ({found.status(found.last_before)} on "
                  f"{found.last_before}, {found.status(found.first)} on {found.first}); recorded in "
                  f"{folder / 'meta.json'} and its issue.md (reports regenerated)", soft_wrap=True, markup=False)


# ---- report -------------------------------------------------------------------------------------------
@app.command()
def report(corpus_dir: CorpusDir = Path("corpus"), reports_dir: ReportsDir = Path("reports"),
           table_page: Annotated[Path | None, typer.Option("--table", help="A page whose corpus table (between its "
                                                          "corpus-table markers) is written again: the committed "
                                                          "corpus' is docs/corpus.md.",
                                                          show_default=False)] = None) -> None:
    """Regenerates reports/summary.md, reports/index.html, reports/corpus-table.md and each entry's issue.md
    (and the upgrade
    matrix's .md and .html from reports/matrix.json, when there is one: its cells as they were run).

    Campaign coverage comes from reports/campaigns.jsonl when it exists.  Exit status: 0, or 2 when an
    entry (or a campaign line) could not be read; the others are reported all the same."""
    from roundtrip.report import matrix, matrix_report

    root = corpus_root(corpus_dir)
    sources = reports.read_sources(root, reports_dir / "campaigns.jsonl")
    for problem in sources.problems:
        warn(problem)
    if (reports_dir / "matrix.json").is_file():
        try:
            found = matrix_report.read_matrix(reports_dir / "matrix.json")
        except matrix_report.MatrixError as e:
            sources.problems.append(str(e))
            warn(str(e))
        else:
            found.changes = matrix.changes(found)
            matrix_report.write(found, reports_dir)
    written = reports.write_from(sources, reports_dir)
    if table_page is not None:
        try:
            reports.write_table_into(table_page, reports.corpus_table(sources.rows))
        except (OSError, ValueError) as e:
            fail(str(e))
    console = _console()
    table = Table(title=f"{len(sources.rows)} entries in {root}")
    table.add_column("direction")
    table.add_column("route")
    table.add_column("entries", justify="right")
    for direction, route, group in reports.grouped(sources.rows):
        table.add_row(reports.direction_text(direction), route, str(len(group)))
    console.print(table)
    issues = sum(path.name == "issue.md" for path in written)
    console.print(f"wrote {reports_dir / 'summary.md'}, {reports_dir / 'index.html'} and {issues} issue.md files",
                  soft_wrap=True)
    if sources.problems:
        raise typer.Exit(BAD_INPUT)


# ---- show ---------------------------------------------------------------------------------------------
@app.command()
def show(entry: EntryName, corpus_dir: CorpusDir = Path("corpus")) -> None:
    """Prints an entry: its finding, direction, converters, opset, case, versions and model."""
    found = load_entry(find_entry(entry, corpus_dir))
    row = reports.row_of(found)
    meta = found.meta
    console = _console()
    console.print(Text(str(found.folder), style="bold"))
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    case = meta.get("case") or {}
    versions = meta.get("versions") or {}
    for key, value in [
        ("direction", f"{row.direction} ({reports.direction_text(row.direction)})"),
        ("converter", row.converter),
        ("back", row.back or "-"),
        ("opset", str(row.opset)),
        ("case", ", ".join(f"{k} {v}" for k, v in case.items() if v not in ({}, None, "")) or "-"),
        ("blame", row.blame),
        ("file with", f"{row.project} ({reports.TRACKERS.get(row.project, '-')})"),
        ("date", row.date or "-"),
        ("versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "-"),
        ("signature", found.signature),
        ("triage", _triage_text(found)),
    ]:
        facts.add_row(key, Text(value))
    console.print(facts)
    console.print(Text("\nfinding", style="bold"))
    console.print(Text(reports.plain(found.finding.describe())), soft_wrap=True)
    console.print(Text("\nmodel", style="bold"))
    console.print(Text(found.spec.pretty()), soft_wrap=True)
    console.print(Text(f"\nrun its repro: roundtrip repro {found.folder.name}", style="dim"), soft_wrap=True)


def _triage_text(found: corpus.Entry) -> str:
    try:
        t = triage.of(found.meta, str(found.folder / "meta.json"))
    except triage.TriageError as e:
        return str(e)
    details = [d for d in (t.version and f"in {t.version}", t.reason, t.url, t.date) if d]
    return t.status + (f" ({'; '.join(details)})" if details else "")


# ---- triage -------------------------------------------------------------------------------------------
@app.command("triage")
def triage_command(
    entry: EntryName,
    status: Annotated[str, typer.Option("--status", help=f"One of {', '.join(triage.STATUSES)}.")],
    url: Annotated[str | None, typer.Option("--url", help="The upstream issue, pull request, answer or fix.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is by design, in a sentence.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="The release that fixed it.")] = None,
    corpus_dir: CorpusDir = Path("corpus"),
) -> None:
    """Records what upstream made of an entry: new, known (--url: someone else reported it already; it stays a
    bug but leaves the issues to file), reported (--url: we filed it), by-design (--url and --reason: it stays
    in the replay, leaves the bug counts and the issue drafts), fixed-upstream (--version).  Run `roundtrip
    report` afterwards to update the reports."""
    folder = find_entry(entry, corpus_dir)
    try:
        done = triage.set_status(folder, status, url=url, reason=reason, version=version)
    except triage.TriageError as e:
        fail(str(e))
    typer.echo(f"{folder.name}: {done.status}")


@app.command("fold")
def fold_command(
    entry: EntryName,
    into: Annotated[str, typer.Option("--into", help="The entry that stays (a name or its unique prefix).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the two are one cause, in a sentence.")],
    corpus_dir: CorpusDir = Path("corpus"),
) -> None:
    """Folds ENTRY into another entry of the same package read by hand as one cause: another param case of the
    same mismatch (listed in its meta.json "cases"), or another identity the same fault shows ("aliases"); it is
    listed in the other's issue.md, ENTRY's folder is removed, and later findings of it count as the other's
    bug.  Run `roundtrip report` afterwards to update the reports."""
    from roundtrip.search.recorder import fold_case

    other, kept = (load_entry(find_entry(name, corpus_dir)) for name in (entry, into))
    try:
        folded = fold_case(kept, other, reason)
    except ValueError as e:
        fail(str(e))
    listed = len(folded.meta.get("cases") or []) + len(folded.meta.get("aliases") or [])
    typer.echo(f"{other.folder.name}: folded into {folded.folder.name} ({listed} folded into it in all)")


# ---- repro --------------------------------------------------------------------------------------------
@app.command()
def repro(entry: EntryName, corpus_dir: CorpusDir = Path("corpus")) -> None:
    """Runs the entry's repro.py in a process of its own (with its converter's Python), prints how it ended,
    and exits 1 while the bug shows, 0 once it is fixed, 2 when something else happens."""
    from roundtrip.store.script.entry import python_of
    from roundtrip.store.script.render import source_of
    from roundtrip.store.script.verdict import run

    folder = find_entry(entry, corpus_dir)
    if corpus.is_model_entry(folder):
        _model_repro(folder)
    found = load_entry(folder)
    script = found.folder / "repro.py"
    if not script.is_file():
        fail(f"{script}: missing")
    python = python_of(source_of(found.folder, found.spec, found.meta))
    if python is None:
        fail(f"{script}: its converter's environment is absent here (make onnx2tf-env)")
    verdict = run(script, python, found.finding)
    typer.echo(verdict.output)
    typer.echo(f"{script}: {verdict.why}")
    raise typer.Exit(verdict.status)


def _model_repro(folder: Path) -> NoReturn:
    """`repro` of a model entry (`roundtrip check`'s: the model and a script, no spec)."""
    from roundtrip.finding.findings import Finding
    from roundtrip.store.model_entry import run_repro

    script = folder / "repro.py"
    meta = json.loads((folder / "meta.json").read_text())
    if not script.is_file():
        fail(f"{script}: missing")
    verdict = run_repro(folder, Finding.from_dict(meta["finding"]), meta)
    if verdict is None:
        fail(f"{script}: its converter's environment is absent here (make onnx2tf-env)")
    typer.echo(verdict.output)
    typer.echo(f"{script}: {verdict.why}")
    raise typer.Exit(verdict.status)


@app.command()
def render(
    entries: Annotated[list[str] | None, typer.Argument(
        help="Entries to write repro.py for (folder paths, names or unique prefixes); all of the corpus when none.",
        show_default=False)] = None,
    corpus_dir: CorpusDir = Path("corpus"),
    check: Annotated[bool, typer.Option("--check/--no-check",
                                        help="Run each script once: does it show its bug?")] = True,
    header_only: Annotated[bool, typer.Option(
        "--header-only", help="Write only each script's header (title, versions) again, from its own code: "
                              "its graph and imports stay, it is not run.")] = False,
) -> None:
    """Writes each entry's repro.py again from its files (spec.json, meta.json, weights.npz, model.onnx),
    and records in meta.json whether it shows the bug when run.  Exit status 1 when any does not."""
    from roundtrip.store.script.entry import write_header, write_repro

    root = corpus_root(corpus_dir)
    chosen, problems = _entries_to_replay(root, entries or [])
    for problem in problems:
        warn(problem)
    if header_only:
        for found in chosen:
            changed = write_header(found.folder, found.spec, found.meta)
            typer.echo(f"{found.folder.name}: {'header written again' if changed else 'unchanged'}")
        raise typer.Exit(BAD_INPUT if problems else 0)
    failed = 0
    for found in chosen:
        written = write_repro(found.folder, found.spec, found.meta, check=check)
        corpus.write_meta(found.folder, found.meta | {"repro": written.record()})
        shows = written.verdict.why if written.verdict else "not run"
        failed += written.checked and not (written.verdict and written.verdict.shows)
        typer.echo(f"{found.folder.name}: {len((found.folder / 'repro.py').read_text().splitlines())} lines, {shows}")
    raise typer.Exit(BAD_INPUT if problems else 1 if failed else 0)


@app.command("reduce")
def reduce_command(
    entries: Annotated[list[str] | None, typer.Argument(
        help="Entries to reduce (folder paths, names or unique prefixes); all of the corpus when none.",
        show_default=False)] = None,
    corpus_dir: CorpusDir = Path("corpus"),
    reports_dir: ReportsDir = Path("reports"),
    seconds: Annotated[float, typer.Option(help="The reducer's budget per entry.")] = 150.0,
) -> None:
    """Re-identifies each entry under this build's bug identity, reduces it to a 1-minimal example (each
    step checked to show the same bug), writes it again and merges entries of one bug (the smallest stays).

    What happened to each entry goes to REPORTS/reduce.json (the reports say how many were merged or shrunk).
    Exit status: 0 when every entry still shows, 1 when some do not (left as they are), 2 on bad input."""
    root = corpus_root(corpus_dir)
    done: list[dict[str, Any]] = []
    folders = [find_entry(name, root) for name in entries] if entries else [e.folder for e in _readable_entries(root)]
    console = _console()
    harness = Harness.open(root)
    harness.reduce_seconds = seconds
    missing = 0
    try:
        for k, folder in enumerate(folders, 1):
            if not folder.exists():  # merged into an entry reduced before it
                continue
            started = time.monotonic()
            try:
                note, now = harness.recorder.reduce_entry(load_entry(folder))
            except SuiteError as e:  # the suite cannot run this entry: said, and the others go on
                note, now = f"the suite could not run it: {str(e).splitlines()[0]}", None
            missing += now is None
            done.append({"entry": folder.name, "now": now.name if now is not None else None, "note": note})
            where = f" -> {now.name}" if now is not None and now.name != folder.name else ""
            console.print(f"[{k}/{len(folders)}] {folder.name}{where}: {note} ({time.monotonic() - started:.0f} s)",
                          soft_wrap=True)
    finally:
        harness.close()
    left = len([e for e in _readable_entries(root)])
    console.print(f"{len(folders)} entries reduced into {left}; {missing} no longer show", soft_wrap=True)
    record = reports.write_reduction(reports_dir, done, before=len(folders), after=left)
    console.print(f"wrote {record}", soft_wrap=True)
    raise typer.Exit(1 if missing else 0)


# ---- fuzz ---------------------------------------------------------------------------------------------
@app.command()
def fuzz(
    minutes: Annotated[float, typer.Option(help="The time budget.")] = 10.0,
    workers: Annotated[int, typer.Option(help="Properties run at a time, each a process of its own.")] = 2,
    seed: Annotated[int, typer.Option(help="The campaign's seed: each run's seed derives from it, recorded.")] = 0,
    path: Annotated[list[str] | None, typer.Option(
        "--path", help="A property (tf2onnx-function, tf2onnx-keras>onnx2keras, onnx>onnx2keras>keras-export, ...) "
        "or a converter name (every property through it); repeatable.  Default: all.")] = None,
    examples: Annotated[int, typer.Option(help="Examples in one run of a property, at most (a run ends by its "
                                                "time slice first).")] = 1000,
    grace: Annotated[float, typer.Option(help="Seconds past the budget for runs recording a bug.")] = 120,
    reduce_seconds: Annotated[float, typer.Option("--reduce-seconds", help="The reducer's budget per bug.")] = 90,
    database: Annotated[str, typer.Option(
        envvar="ROUNDTRIP_DATABASE", help="The shared example database: a folder, redis://host:port, or none "
        "(default: .hypothesis/examples).")] = "",
    corpus_dir: CorpusDir = Path("corpus"),
    reports_dir: ReportsDir = Path("reports"),
) -> None:
    """Runs the properties as a campaign until the budget ends, K processes at a time: every property first,
    then more time where new bugs keep coming (roundtrip.search.campaign).  New bugs are reduced and written to the
    corpus; one met and not yet recorded when the campaign ends stays pending there (CORPUS/.pending) and the
    next campaign records it.  Ends with a summary (per property: runs, checks, CPU, new bugs, time to the
    first), a line in reports/campaigns.jsonl and regenerated reports.  SIGINT, SIGTERM or SIGHUP stop it
    early the same way (every process it started ends first; the line says which signal).  Exit status: 0
    when it ran (finding bugs is its job), 2 on bad input."""
    from roundtrip.search.campaign import Campaign, CampaignError, select, target_name, targets
    from roundtrip.search.database import DatabaseError, open_database

    if minutes <= 0 or workers < 1 or examples < 1 or reduce_seconds <= 0:
        fail(f"--minutes {minutes}, --workers {workers}, --examples {examples}, --reduce-seconds {reduce_seconds}: "
             "each must be positive")
    if database:
        try:
            open_database(database)
        except DatabaseError as e:
            fail(str(e))
    root = corpus_dir if corpus_dir.is_dir() else _new_corpus(corpus_dir)
    known = {e.signature for e in _readable_entries(root)}
    campaign = Campaign(minutes, workers, seed, path or [], root, database, examples, grace, reduce_seconds)
    console = _console()
    with _stopped_by_signals() as signals:  # from here on a signal stops the campaign, never half of it
        try:
            campaign.prepare(select(targets(), path or []), known)
        except CampaignError as e:
            fail(str(e))
        except KeyboardInterrupt:
            console.print(f"stopped by {signals[-1] if signals else 'SIGINT'} before the campaign began")
            raise typer.Exit(1) from None
        assert campaign.schedule is not None
        waiting = len(campaign.pending())
        console.print(f"roundtrip fuzz: {len(campaign.schedule.order)} properties, {minutes:g} min, {workers} at a "
                      f"time, seed {seed}, corpus {root} ({len(known)} known signatures"
                      + (f", {waiting} bugs pending from before" if waiting else "") + ")", soft_wrap=True)
        for node, why in campaign.skipped.items():
            console.print(f"  not run here: {target_name(node)}: {why}", soft_wrap=True)
        stopped = ""
        with Live(_progress(campaign), console=console, refresh_per_second=2) as live:
            try:
                stats = campaign.run(lambda c: live.update(_progress(c)))
            except KeyboardInterrupt:  # the campaign stopped its runs on the way out
                stopped = signals[-1] if signals else "SIGINT"
                stats = campaign.stats
    reports_dir.mkdir(parents=True, exist_ok=True)
    with (reports_dir / "campaigns.jsonl").open("a") as f:
        record = campaign.record() | ({"stopped": stopped} if stopped else {})
        f.write(json.dumps(record, sort_keys=True) + "\n")
    if stopped:
        console.print(f"stopped by {stopped}: every process the campaign started has ended", soft_wrap=True)
    console.print(_per_property(campaign))
    console.print(_summary(campaign))
    sources = reports.read_sources(root, reports_dir / "campaigns.jsonl")
    reports.write_from(sources, reports_dir)
    for line in _what_next(campaign, root, reports_dir):
        console.print(line, soft_wrap=True)
    del stats


# ---- check --------------------------------------------------------------------------------------------
@app.command()
def check(
    model: Annotated[Path, typer.Argument(help="A .keras file, an .h5 Keras loads, a SavedModel folder, or an .onnx "
                                               "file.", show_default=False)],
    path: Annotated[list[str] | None, typer.Option(
        "--path", help="A direction: a Keras -> ONNX path (tf2onnx-function...), or PATH>BACK for a round trip; for "
        "an ONNX model BACK or BACK>PATH; or a converter of one's own as module:function.  Repeatable.  Default: "
        "every direction.", show_default=False)] = None,
    custom_objects: Annotated[str, typer.Option(
        "--custom-objects", help="A module (or .py file) whose import registers the model's custom layers.")] = "",
    inputs: Annotated[str, typer.Option("--inputs", help="An .npz of input arrays, by input name (or arr_0...).")] = "",
    corpus_dir: CorpusDir = Path("corpus"),
    opset: Annotated[int, typer.Option(help="The opset the Keras -> ONNX paths convert to.")] = 15,
    reduce: Annotated[bool, typer.Option("--reduce/--no-reduce", help="Reduce each finding and write its entry.")
                      ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds one check may take.")] = 600.0,
    memory: Annotated[float, typer.Option(help="GiB of resident memory one check's process may use.")] = 8.0,
    max_params: Annotated[int, typer.Option("--max-params", help="Parameters a model may have.")] = 200_000_000,
) -> None:
    """Checks your own model through every converter, and reduces each finding to the smallest model that still
    shows it.

    A Keras model goes through each Keras -> ONNX path and back through each ONNX -> Keras converter; an ONNX model
    through each ONNX -> Keras converter and back.  Each is run at batch 1 and 3 (and other sizes where dims are
    unknown), compared with the full oracle and blamed.  Each finding is cut at the first layer (node) that goes
    wrong, then that layer alone, then reduced as a spec where it is in the vocabulary, and written to the corpus
    (a spec entry, or the saved model and a plain script).  Your file is only read.  Exit status: 0 clean, 1
    findings, 2 bad input (one line naming the file and the problem; nothing written)."""
    from roundtrip.user.user_check import Options, check_model, preflight
    from roundtrip.user.user_model import BadInput

    if opset < 1 or timeout <= 0 or memory <= 0 or max_params < 1:
        fail(f"--opset {opset}, --timeout {timeout}, --memory {memory}, --max-params {max_params}: each must be "
             "positive")
    options = Options(model, custom_objects, tuple(path or []), inputs, corpus_dir, opset, reduce,
                      timeout=timeout, memory=int(memory * (1 << 30)), max_params=max_params)
    console = _console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        preflight(options)  # before the progress bar: a bad file is one line on stderr and nothing else
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task("loading", total=1)

            def show(what: str, done: int, total: int) -> None:
                progress.update(task, description=what, completed=done, total=total)

            result = check_model(options, show)
    except BadInput as e:
        fail(str(e))
    _print_check(console, result)
    raise typer.Exit(1 if result.findings else 0)


def _print_check(console: Console, result: Any) -> None:
    described = result.described
    if result.kind == "keras":
        what = (f"{len(described.layers)} layers, {described.params:,} parameters; "
                + ("every layer in the vocabulary" if described.spec else f"not a spec: {described.not_spec}"))
    else:
        what = f"{len(described.nodes)} nodes, opset {described.opset}"
    ins = ", ".join(f"{name} {tuple(dims)}" for name, dims, _ in described.inputs)
    console.print(f"{result.model}: {result.kind} model, inputs {ins}; {what}", soft_wrap=True)
    table = Table(title=f"roundtrip check {result.model.name}")
    for column in ("direction", "verdict", "worst error / tolerance", "spread / tolerance", "first wrong", "entry"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        worst = f"{row.worst[0]:.2g} / {row.worst[1]:.2g}" if row.worst else "-"
        entries = "; ".join(dict.fromkeys(w.folder.name if w.folder else w.note for w in row.entries.values()))
        style = "green" if row.verdict == "clean" else "dim" if row.skipped else "red"
        table.add_row(row.direction, Text(row.shown, style=style),
                      worst, f"{row.spread:.3g}" if row.spread is not None else "-", row.where or "-", entries or "-")
    console.print(table)
    flat = [row for row in result.rows if row.spread is not None and row.spread < 1]
    if flat:
        console.print(f"note: the outputs hardly change with the inputs (over a batch they move by less than the "
                      f"tolerance, in {', '.join(r.direction for r in flat)}): a converter that gave a constant would "
                      "pass too; check with --inputs of real data, or a trained model", soft_wrap=True)
    for row in result.rows:
        for written in row.entries.values():
            console.print(f"{row.direction}: {written.folder or '-'}: {written.note}", soft_wrap=True)
    found = sum(len(row.findings) for row in result.rows)
    console.print(f"{found} findings in {sum(bool(row.findings) for row in result.rows)} of {len(result.rows)} "
                  "directions" + (f"; entries in {result.corpus}" if any(r.entries for r in result.rows) else ""),
                  soft_wrap=True)


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[list[str]]:
    """SIGINT, SIGTERM and SIGHUP end a campaign as a KeyboardInterrupt, once (a second signal that comes
    while it stops its runs is ignored, so the stopping is not cut short); the list says which came."""
    came: list[str] = []

    def handle(number: int, frame: Any) -> None:
        if came:
            return
        came.append(signal.Signals(number).name)
        raise KeyboardInterrupt

    saved = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield came
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def _new_corpus(folder: Path) -> Path:
    if folder.exists():
        fail(f"--corpus {folder}: not a folder")
    folder.mkdir(parents=True)
    return folder


def _readable_entries(root: Path) -> list[corpus.Entry]:
    entries, problems = reports.load_entries(root)
    for problem in problems:
        warn(problem)
    return entries


def _progress(campaign: Any) -> Table:
    s = campaign.stats
    seen = set(s.signatures)
    table = Table(title=f"{s.checks} checks, {s.rate:.2f}/s, {len(seen)} distinct signatures, {len(s.new)} new bugs "
                  f"met, {len(s.written)} entries written, "
                  f"{max(0.0, campaign.minutes * 60 - (time.time() - s.started)):.0f} s left")
    table.add_column("property")
    table.add_column("seed", justify="right")
    table.add_column("checks", justify="right")
    table.add_column("doing")
    for run in campaign.running:
        doing = f"recording {run.recording[:70]}" if run.recording else (
            f"exploring {run.plan.explore:g} s" + (", then recording" if run.plan.record else ""))
        table.add_row(run.target, str(run.seed), str(run.checks), doing)
    return table


def _per_property(campaign: Any) -> Table:
    s = campaign.stats
    cpu = sum(t.cpu for t in s.targets.values()) or 1.0
    table = Table(title=f"campaign: {s.checks} checks in {(time.time() - s.started) / 60:.1f} min, {len(s.runs)} runs, "
                  f"{len(s.new)} new bugs met, {len(s.written)} entries written")
    for column in ("property", "runs", "checks", "CPU s", "CPU share", "new bugs", "first new bug at", "written"):
        table.add_column(column, justify="left" if column == "property" else "right")
    for name, t in sorted(s.targets.items(), key=lambda kv: -kv[1].cpu):
        first = f"{t.first_new:.0f} s" if t.first_new is not None else "-"
        table.add_row(name, str(t.runs), str(t.checks), f"{t.cpu:.0f}", f"{t.cpu / cpu:.0%}", str(len(t.new)), first,
                      str(t.written))
    table.caption = phases_line(s.phases)
    return table


def phases_line(phases: Any) -> str:
    """Where the runs' time went, as one line: worker-seconds and share by phase."""
    from roundtrip.search.campaign import PHASES

    total = sum(phases[p] for p in PHASES) or 1.0
    return "worker time: " + ", ".join(f"{p} {phases[p]:.0f} s ({phases[p] / total:.0%})" for p in PHASES)


def _summary(campaign: Any) -> Table:
    s = campaign.stats
    waiting = {i.signature: i for i in campaign.pending()}
    table = Table(title="signatures met")
    table.add_column("signature")
    table.add_column("seen", justify="right")
    table.add_column("status")
    for signature in sorted(set(s.signatures) | set(s.new), key=lambda sig: -s.signatures[sig]):
        if signature in s.written:
            note = s.notes.get(signature, "")
            status = f"new: {Path(s.written[signature]).name}" + (" (may not be 1-minimal)" if "budget" in note else "")
        elif signature in waiting:
            status = f"pending: {waiting[signature].reason or 'not recorded yet'} (the next campaign records it)"
        elif signature in s.notes:
            status = s.notes[signature]
        elif signature in s.known:
            status = "known"
        else:
            status = "new: met by a run of another property first"
        table.add_row(signature[:110], str(s.signatures[signature]), status)
    return table


def _what_next(campaign: Any, root: Path, reports_dir: Path) -> list[str]:
    s = campaign.stats
    lines = [f"{len(s.written)} entries written to {root}"
             + (f" ({', '.join(sorted(Path(f).name for f in s.written.values())[:3])}"
                + (", ..." if len(s.written) > 3 else "") + ")" if s.written else ""),
             f"look at one: roundtrip show NAME --corpus {root}; all of them: {reports_dir / 'index.html'}, "
             f"{reports_dir / 'summary.md'}"]
    waiting = campaign.pending()
    if waiting:
        lines.append(f"{len(waiting)} bugs met and not recorded yet are pending in {root / '.pending'}: "
                     "the next `roundtrip fuzz` on this corpus records them")
    return lines


if __name__ == "__main__":
    main()
