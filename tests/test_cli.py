"""The `roundtrip` command through typer's CliRunner: show, report, repro and replay, and what bad input
gives (one line naming what and where, exit status 2, never a traceback)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from roundtrip import cli
from roundtrip.report import reports
from roundtrip.report.reports import ReplayResult
from roundtrip.store import corpus

ROOT = Path(__file__).resolve().parent.parent / "corpus"
runner = CliRunner()


def real_entries() -> list[corpus.Entry]:
    return reports.load_entries(ROOT)[0]


def unique_prefix(name: str, others: list[str]) -> str:
    """The shortest prefix of `name` (at least 8 characters) that no other name starts with."""
    for end in range(8, len(name)):
        if not any(o.startswith(name[:end]) for o in others if o != name):
            return name[:end]
    return name


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def copy_entries(root: Path, entries: list[corpus.Entry]) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        shutil.copytree(entry.folder, root / entry.folder.name)
    return sorted(e.folder.name for e in entries)


def break_meta(folder: Path, key: str = "signature") -> Path:
    path = folder / "meta.json"
    meta = json.loads(path.read_text())
    del meta[key]
    path.write_text(json.dumps(meta))
    return path


# ---- show ---------------------------------------------------------------------------------------------
def test_show_prints_the_finding_the_route_and_the_model_of_an_entry_by_name_or_prefix() -> None:
    entries = real_entries()
    entry = next(e for e in entries if e.meta.get("back"))
    name = entry.folder.name
    prefix = unique_prefix(name, [e.folder.name for e in entries])
    assert prefix != name
    for given in (name, prefix, str(entry.folder)):
        result = runner.invoke(cli.app, ["show", given, "--corpus", str(ROOT)])
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert name in out and reports.plain(entry.finding.describe())[:60] in " ".join(out.split())
        assert entry.spec.pretty().splitlines()[0] in out
        for word in ("direction", entry.meta["direction"], "converter", entry.meta["converter"],
                     entry.meta["back"], "opset", str(entry.meta["opset"]), "case", "versions",
                     f"tensorflow {entry.meta['versions']['tensorflow']}"):
            assert word in out, word


def test_show_finds_the_corpus_through_the_environment(tmp_path: Path) -> None:
    names = copy_entries(tmp_path / "c", real_entries()[:1])
    result = runner.invoke(cli.app, ["show", names[0][:-3]], env={"ROUNDTRIP_CORPUS": str(tmp_path / "c")})
    assert result.exit_code == 0 and names[0] in result.stdout


@pytest.mark.parametrize("args, says", [
    (["show", "no-such-entry"], "no entry 'no-such-entry' in {root}"),
    (["show", "tf2onnx"], "'tf2onnx' matches"),
    (["repro", "no-such-entry"], "no entry 'no-such-entry' in {root}"),
    (["replay", "--entry", "no-such-entry"], "no entry 'no-such-entry' in {root}"),
])
def test_an_unknown_or_ambiguous_entry_is_one_line_and_status_2(args: list[str], says: str) -> None:
    result = runner.invoke(cli.app, [*args, "--corpus", str(ROOT)])
    assert result.exit_code == 2
    assert says.format(root=ROOT) in one_line(result.stderr)


@pytest.mark.parametrize("command", [["show", "x"], ["report"], ["replay"], ["repro", "x"]])
def test_a_missing_corpus_folder_is_one_line_and_status_2(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "nowhere"
    reports_dir = ["--reports", str(tmp_path)] if command[0] in ("report", "replay") else []
    result = runner.invoke(cli.app, [*command, "--corpus", str(missing), *reports_dir])
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"roundtrip: corpus folder {missing} does not exist " \
                                      "(give --corpus DIR or set ROUNDTRIP_CORPUS)"


def test_show_of_a_corrupt_entry_names_the_file_and_the_field(tmp_path: Path) -> None:
    names = copy_entries(tmp_path / "c", real_entries()[:1])
    broken = break_meta(tmp_path / "c" / names[0], "opset")
    result = runner.invoke(cli.app, ["show", names[0], "--corpus", str(tmp_path / "c")])
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"roundtrip: {broken}: field 'opset' is missing"


# ---- report -------------------------------------------------------------------------------------------
def test_report_writes_the_reports_and_an_issue_per_entry(tmp_path: Path) -> None:
    names = copy_entries(tmp_path / "c", real_entries()[:3])
    result = runner.invoke(cli.app, ["report", "--corpus", str(tmp_path / "c"), "--reports", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "summary.md").is_file() and (tmp_path / "r" / "index.html").is_file()
    assert all((tmp_path / "c" / n / "issue.md").is_file() for n in names)
    assert "3 entries" in result.stdout and "3 issue.md files" in result.stdout and not result.stderr


def test_report_with_table_writes_the_corpus_table_between_the_markers_and_nothing_else(tmp_path: Path) -> None:
    copy_entries(tmp_path / "c", real_entries()[:3])
    page = tmp_path / "corpus.md"
    start, end = reports.TABLE_MARKERS
    page.write_text(f"# The corpus\n\nbefore\n\n{start}\nan old table\n{end}\n\nafter\n")
    result = runner.invoke(cli.app, ["report", "--corpus", str(tmp_path / "c"), "--reports", str(tmp_path / "r"),
                                     "--table", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert text.startswith(f"# The corpus\n\nbefore\n\n{start}\n3 entries: ") and text.endswith(f"{end}\n\nafter\n")
    assert "an old table" not in text
    assert text.split(start)[1].split(end)[0].strip() == (tmp_path / "r" / "corpus-table.md").read_text().strip()


def test_report_with_a_table_file_without_markers_says_so_in_one_line(tmp_path: Path) -> None:
    copy_entries(tmp_path / "c", real_entries()[:1])
    page = tmp_path / "notes.md"
    page.write_text("# Notes\n")
    result = runner.invoke(cli.app, ["report", "--corpus", str(tmp_path / "c"), "--reports", str(tmp_path / "r"),
                                     "--table", str(page)])
    assert result.exit_code == 2
    start, end = reports.TABLE_MARKERS
    assert one_line(result.stderr) == f"roundtrip: {page}: no {start} ... {end} markers"
    assert page.read_text() == "# Notes\n"


def test_report_over_a_corrupt_entry_names_it_in_one_line_and_reports_the_others(tmp_path: Path) -> None:
    names = copy_entries(tmp_path / "c", real_entries()[:3])
    broken = break_meta(tmp_path / "c" / names[1])
    result = runner.invoke(cli.app, ["report", "--corpus", str(tmp_path / "c"), "--reports", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"roundtrip: {broken}: field 'signature' is missing"
    assert "2 entries" in result.stdout and "2 issue.md files" in result.stdout
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert f"[{names[0]}](" in summary and f"[{names[2]}](" in summary and f"[{names[1]}](" not in summary


# ---- replay (the replays themselves faked: fast) -------------------------------------------------------
@dataclass
class FakeReplay:
    """Stands in for the replays: each entry gets the status `statuses` gives its folder (default still)."""

    statuses: dict[str, str] = field(default_factory=dict)
    replayed: list[str] = field(default_factory=list)

    def __call__(self, root: Path, entries: list[corpus.Entry], console: object) -> list[ReplayResult]:
        self.replayed += [e.folder.name for e in entries]
        results = []
        for e in entries:
            status = self.statuses.get(e.folder.name, "still")
            results.append(ReplayResult(e.folder.name, e.signature, status, [e.signature] if status == "still" else []))
        return results


@pytest.fixture
def fake_replay(monkeypatch: pytest.MonkeyPatch) -> FakeReplay:
    fake = FakeReplay()
    monkeypatch.setattr(cli, "replay_entries", fake)
    return fake


def test_replay_exit_status_is_0_when_all_still_fail_and_1_otherwise(tmp_path: Path,
                                                                     fake_replay: FakeReplay) -> None:
    names = copy_entries(tmp_path / "c", real_entries()[:2])
    args = ["replay", "--corpus", str(tmp_path / "c"), "--reports", str(tmp_path / "r")]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "2 still, 0 fixed, 0 changed, 0 error" in result.stdout
    fake_replay.statuses[names[0]] = "fixed"
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 1 and "1 still, 1 fixed" in result.stdout
    written = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert written == [f"replay-{reports.versions_tag(corpus.versions())}.{ext}" for ext in ("json", "md")]


def test_replay_over_a_corrupt_entry_names_it_and_replays_the_others(tmp_path: Path,
                                                                     fake_replay: FakeReplay) -> None:
    names = copy_entries(tmp_path / "c", real_entries()[:3])
    broken = break_meta(tmp_path / "c" / names[0], "finding")
    result = runner.invoke(cli.app, ["replay", "--corpus", str(tmp_path / "c"), "--reports", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"roundtrip: {broken}: field 'finding' is missing"
    assert fake_replay.replayed == names[1:]
    data = json.loads(next((tmp_path / "r").glob("replay-*.json")).read_text())
    assert [r["folder"] for r in data["results"]] == names[1:]


@pytest.mark.parametrize("content, field", [("{}", "field 'kind' is None"), ("nope", "not JSON")])
def test_replay_refuses_a_baseline_that_is_not_a_replay_json_before_replaying(
        tmp_path: Path, fake_replay: FakeReplay, content: str, field: str) -> None:
    copy_entries(tmp_path / "c", real_entries()[:1])
    baseline = tmp_path / "old.json"
    baseline.write_text(content)
    result = runner.invoke(cli.app, ["replay", "--corpus", str(tmp_path / "c"), "--reports", str(tmp_path / "r"),
                                     "--baseline", str(baseline)])
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert line.startswith(f"roundtrip: {baseline}: ") and field in line
    assert fake_replay.replayed == []


def test_replay_help_states_the_exit_status() -> None:
    result = runner.invoke(cli.app, ["replay", "--help"])
    text = " ".join(result.stdout.split())
    assert result.exit_code == 0 and "0 when every entry still fails" in text and "1 when any is fixed" in text


# ---- the real thing: converters in worker processes, repro.py in a process of its own ------------------
def fast_failing_entry() -> corpus.Entry:
    """A one-way convert failure: its repro.py stops at the conversion (7 to 9 s, most of it importing
    TensorFlow), under the 10 s that would make its test slow."""
    return next(e for e in real_entries() if e.meta["stage"] == "convert" and e.meta.get("path") == "tf2onnx-keras"
                and e.finding.kind == "KeyError")


def test_repro_runs_the_script_and_exits_with_its_status(tmp_path: Path) -> None:
    names = copy_entries(tmp_path / "c", [fast_failing_entry()])
    result = runner.invoke(cli.app, ["repro", names[0], "--corpus", str(tmp_path / "c")])
    assert result.exit_code == 1, result.output
    assert "raised KeyError" in result.stdout and "tf2onnx.convert.from_keras" in result.stdout


@pytest.mark.slow
def test_replay_of_two_real_entries_finds_them_still_failing_and_compares_with_a_baseline(tmp_path: Path) -> None:
    entries = real_entries()
    two = [fast_failing_entry(), next(e for e in entries if e.meta.get("back") and e.meta["stage"] == "load")]
    names = copy_entries(tmp_path / "c", two)
    baseline, _ = reports.write_replay(
        [ReplayResult(e.folder.name, e.signature, "fixed" if k == 0 else "still", []) for k, e in enumerate(two)],
        tmp_path / "old", {"tensorflow": "2.20.0", "tf2onnx": "1.16.1"})
    result = runner.invoke(cli.app, ["replay", "--corpus", str(tmp_path / "c"), "--reports", str(tmp_path / "r"),
                                     "--baseline", str(baseline)])
    assert result.exit_code == 0, result.output
    data = json.loads(next((tmp_path / "r").glob("replay-*.json")).read_text())
    assert [(r["folder"], r["status"]) for r in data["results"]] == [(n, "still") for n in names]
    assert [c["folder"] for c in data["baseline"]["diff"]["broken"]] == [two[0].folder.name]
    assert "2 still, 0 fixed, 0 changed, 0 error" in result.stdout
