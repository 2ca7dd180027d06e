"""Triage: a status a maintainer's answer can change, in meta.json; by-design entries leave the bug counts
and the issue drafts but stay in the corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from roundtrip import cli
from roundtrip.report import reports
from roundtrip.store import corpus, gaps, triage
from roundtrip.store.script import verdict

ROOT = Path(__file__).resolve().parent.parent / "corpus"
runner = CliRunner()
PR_427 = "https://github.com/PINTO0309/onnx2tf/pull/427"
ISSUE = "https://github.com/gmalivenko/onnx2keras/issues/1"


def copied(tmp_path: Path, prefixes: list[str]) -> Path:
    root = tmp_path / "corpus"
    for prefix in prefixes:
        folder = next(e.folder for e in corpus.entries(ROOT) if e.folder.name.startswith(prefix))
        shutil.copytree(folder, root / folder.name)
    return root


def test_an_entry_without_triage_is_new_and_a_status_round_trips(tmp_path: Path) -> None:
    root = copied(tmp_path, ["tf2onnx-convert-exception-keyerror"])
    folder = next(root.iterdir())
    meta = json.loads((folder / "meta.json").read_text())
    meta.pop("triage", None)
    assert triage.of(meta) == triage.Triage()
    written = triage.set_status(folder, "fixed-upstream", version="1.18.0")
    read = triage.of(json.loads((folder / "meta.json").read_text()))
    assert read == written and read.status == "fixed-upstream" and read.version == "1.18.0" and read.date
    assert corpus.load(folder).signature == json.loads((folder / "meta.json").read_text())["signature"]


@pytest.mark.parametrize(("status", "given", "field"), [
    ("reported", {}, "triage.url"),
    ("by-design", {"url": PR_427}, "triage.reason"),
    ("fixed-upstream", {}, "triage.version"),
    ("wontfix", {}, "triage.status"),
    ("reported", {"url": "github.com/x"}, "triage.url"),
    ("known", {}, "triage.url"),
    ("known", {"url": "https://github.com/onnx/tensorflow-onnx"}, "triage.url"),
])
def test_bad_triage_names_the_file_and_the_field(tmp_path: Path, status: str, given: dict[str, str],
                                                 field: str) -> None:
    root = copied(tmp_path, ["tf2onnx-convert-exception-keyerror"])
    folder = next(root.iterdir())
    before = (folder / "meta.json").read_text()
    with pytest.raises(triage.TriageError, match=rf"{folder / 'meta.json'}: .*'{field}'"):
        triage.set_status(folder, status, **given)
    assert (folder / "meta.json").read_text() == before


def test_the_command_sets_a_status_and_refuses_bad_input_with_status_2(tmp_path: Path) -> None:
    root = copied(tmp_path, ["tf2onnx-convert-exception-keyerror"])
    name = next(root.iterdir()).name
    bad = runner.invoke(cli.app, ["triage", name, "--status", "reported", "--corpus", str(root)])
    assert bad.exit_code == 2 and "'triage.url'" in bad.output
    good = runner.invoke(cli.app, ["triage", name, "--status", "reported", "--url", "https://example.org/1",
                                   "--corpus", str(root)])
    assert good.exit_code == 0 and "reported" in good.output
    shown = runner.invoke(cli.app, ["show", name, "--corpus", str(root)])
    assert "reported" in shown.output and "https://example.org/1" in shown.output


def test_the_command_marks_an_entry_known_upstream_and_refuses_an_address_that_is_no_issue(tmp_path: Path) -> None:
    root = copied(tmp_path, ["tf2onnx-convert-exception-keyerror"])
    folder = next(root.iterdir())
    before = (folder / "meta.json").read_text()
    bad = runner.invoke(cli.app, ["triage", folder.name, "--status", "known", "--url", "https://github.com/onnx",
                                  "--corpus", str(root)])
    assert bad.exit_code == 2 and str(folder / "meta.json") in bad.output and "'triage.url'" in bad.output
    assert (folder / "meta.json").read_text() == before
    good = runner.invoke(cli.app, ["triage", folder.name, "--status", "known", "--url", ISSUE, "--corpus", str(root)])
    assert good.exit_code == 0 and "known" in good.output
    read = triage.of(json.loads((folder / "meta.json").read_text()))
    assert (read.status, read.url, read.counts_as_bug, read.to_file) == ("known", ISSUE, True, False)
    assert read.text() == f"known ({ISSUE})"


def test_a_known_entry_stays_a_bug_leaves_the_issues_to_file_and_its_issue_says_where(tmp_path: Path) -> None:
    root = copied(tmp_path, ["onnx2keras-load-exception-typeerror", "tf2onnx-convert-exception-keyerror"])
    less = next(f for f in root.iterdir() if f.name.startswith("onnx2keras"))  # a Cast bug, known or not
    other = next(f for f in root.iterdir() if f.name.startswith("tf2onnx"))
    triage.set_status(less, "known", url=ISSUE)
    triage.set_status(other, "new")
    reports.write_reports(root, tmp_path / "reports")
    rows = [reports.row_of(e) for e in corpus.entries(root)]
    assert sorted(project for project, _ in reports.distinct_failures(rows)) == ["onnx2keras", "tf2onnx"]
    assert [r.name for r in rows if reports.to_file(r)] == [other.name]
    issue = (less / "issue.md").read_text()
    assert f"Known upstream: {ISSUE}\n" in issue and issue.index("Known upstream") < issue.index("**Versions:**")
    assert "Known upstream" not in (other / "issue.md").read_text()
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert "They hold 2 distinct bugs" in summary and "Upstream: 1 new, 1 known (1 issues to file)." in summary
    assert "1 entries are left out of the issues to file" in summary and f"- {less.name}: {ISSUE}" in summary
    assert "| onnx2keras | 1 | 1 | 0 | " in summary and "| tf2onnx | 1 | 1 | 1 | " in summary
    assert f"| known ({ISSUE}) |" in summary and "| new |" in summary
    page = (tmp_path / "reports" / "index.html").read_text()
    assert f'known (<a href="{ISSUE}">{ISSUE}</a>)' in page


def test_a_by_design_entry_leaves_the_bug_counts_and_the_issue_drafts(tmp_path: Path) -> None:
    root = copied(tmp_path, ["onnx2tf-compare-dtype", "tf2onnx-convert-exception-keyerror"])
    dtype = next(f for f in root.iterdir() if f.name.startswith("onnx2tf-compare-dtype"))
    triage.set_status(dtype, "new")
    reports.write_reports(root, tmp_path / "reports")
    assert (dtype / "issue.md").is_file()
    rows = [reports.row_of(e) for e in corpus.entries(root)]
    assert len(reports.distinct_failures(rows)) == 2
    triage.set_status(dtype, "by-design", url=PR_427, reason="onnx2tf makes float16 models float32 on purpose.")
    reports.write_reports(root, tmp_path / "reports")
    rows = [reports.row_of(e) for e in corpus.entries(root)]
    assert [project for project, _ in reports.distinct_failures(rows)] == ["tf2onnx"]
    assert not (dtype / "issue.md").exists() and len(corpus.entries(root)) == 2
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert "They hold 1 distinct bugs" in summary and f"{dtype.name}: onnx2tf makes float16" in summary
    assert f"| by design ({PR_427}, onnx2tf makes float16 models float32 on purpose.) |" in summary
    assert PR_427 in (tmp_path / "reports" / "index.html").read_text()


def test_the_committed_onnx2tf_float16_entry_is_by_design() -> None:
    entry = next(e for e in corpus.entries(ROOT) if e.folder.name.startswith("onnx2tf-compare-dtype-dtype-float16"))
    assert triage.of(entry.meta).status == "by-design" and triage.of(entry.meta).url == PR_427


def test_a_gap_already_requested_upstream_says_so_in_its_package_request(tmp_path: Path) -> None:
    home = tmp_path / "corpus" / "tf2onnx-feature-gaps"
    shutil.copytree(ROOT / "tf2onnx-feature-gaps", home)
    first, second, *others = sorted(p for p in home.iterdir() if p.is_dir())
    triage.set_status(first, "known", url=ISSUE)
    triage.set_status(second, "new")
    gaps.write_summary(home)
    text = (home / "issue.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 2 + len(others)
    said = {row.split("|")[1].strip(): row.split("|")[4].strip() for row in rows}
    op = {folder: json.loads((folder / "meta.json").read_text()).get("gap") for folder in (first, second)}
    assert (said[op[first]], said[op[second]]) == (f"known: {ISSUE}", "new")
    assert "Already requested upstream" in text


def _another_case(kept: Path, root: Path, suffix: str, **params: object) -> str:
    """A copy of a Slice mismatch entry whose Slice has other params: another param case (variant) of it."""
    from roundtrip.search.recorder import case_key

    folder = root / f"{kept.name.rsplit('-', 1)[0]}-{suffix}"
    shutil.copytree(kept, folder)
    spec = json.loads((folder / "spec.json").read_text())
    spec["nodes"][0]["params"] |= params
    (folder / "spec.json").write_text(json.dumps(spec))
    meta = json.loads((folder / "meta.json").read_text())
    meta["finding"]["variant"] = case_key(corpus.load(folder).spec, "Slice")
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder.name


def test_cases_of_one_mismatch_folded_by_hand_are_one_entry_and_known_from_then_on(tmp_path: Path) -> None:
    from roundtrip.finding.findings import base_of
    from roundtrip.search.recorder import Recorder, case_key

    root = copied(tmp_path, ["onnx2tf-compare-mismatch-slice"])
    kept = next(root.iterdir())
    meta = json.loads((kept / "meta.json").read_text())
    meta.pop("cases", None)
    (kept / "meta.json").write_text(json.dumps(meta))
    slices = [kept.name, _another_case(kept, root, "0000000001", axes=[-2, -1], ends=[-2, 0], starts=[0, -1],
                                       steps=[-1, -1]),
              _another_case(kept, root, "0000000002", axes=[1, -1], ends=[-2, -3], starts=[0, 0], steps=[-1, -1])]
    keys = {name: corpus.load(root / name).finding.variant or case_key(corpus.load(root / name).spec, "Slice")
            for name in slices}
    assert len(set(keys.values())) == 3  # three param cases: three variants until read as one
    for other in slices[1:]:
        done = runner.invoke(cli.app, ["fold", other, "--into", slices[0], "--reason", "negative steps",
                                       "--corpus", str(root)])
        assert done.exit_code == 0, done.output
    assert sorted(p.name for p in root.iterdir()) == [slices[0]]
    folded = corpus.load(root / slices[0])
    assert sorted(c["key"] for c in folded.meta["cases"]) == sorted(keys[name] for name in slices[1:])
    recorder = Recorder(root, run=lambda *a, **k: None)  # type: ignore[arg-type,return-value]
    recorder.reload()
    assert recorder.known_cases(base_of(folded.signature)) == set(keys.values())
    reports.write_reports(root, tmp_path / "reports")
    issue = (root / slices[0] / "issue.md").read_text()
    assert "also met with other parameters of this op" in issue and "negative steps" in issue
    assert "Slice(axes=(1, -1), ends=(-2, -3)" in issue

    pad = next(e.folder for e in corpus.entries(ROOT) if e.folder.name.startswith("onnx2keras-compare-mismatch-pad"))
    shutil.copytree(pad, root / pad.name)  # another package's: never one fault with it
    refused = runner.invoke(cli.app, ["fold", pad.name, "--into", slices[0], "--reason", "x", "--corpus", str(root)])
    assert refused.exit_code == 2 and "are entries of two packages" in refused.output
    assert (root / pad.name).is_dir()


def test_a_gap_request_quotes_the_script_not_the_fuzzer() -> None:
    """The message a gap's row quotes is the one its repro.py ended with (the script's node names), not the
    check's (the fuzzer's model names its nodes `roundtrip_1/...`)."""
    rows = gaps.listing(ROOT / "onnxruntime-feature-gaps")
    assert rows and all("roundtrip_1" not in str(r["says"]) for r in rows)
    output = "x\nTraceback (most recent call last):\n  File \"r.py\", line 1, in <module>\nKeyError: 'TopK'\n"
    assert verdict.script_says({"repro": {"shows": True, "output": output}}) == "'TopK'"
    assert verdict.script_says({"repro": {"shows": False, "output": output}}) == ""


def test_one_fault_shown_two_ways_folded_by_hand_is_one_entry_and_known_from_then_on(tmp_path: Path) -> None:
    """tf2onnx's bfloat16 constant beside float16 casts fails onnx's checker with one message on a Mul and
    another on a Conv: two identities, one fault (tensorflow-onnx issue 2337). Folded, the one goes, the other
    lists its message, and a finding of the folded identity is the kept entry's."""
    from roundtrip.finding.findings import Finding
    from roundtrip.search.recorder import Recorder

    root = copied(tmp_path, ["tf2onnx-check-exception-inferenceerror-2e1b83c0fc"])
    kept = corpus.load(root / "tf2onnx-check-exception-inferenceerror-2e1b83c0fc")
    meta = json.loads((kept.folder / "meta.json").read_text())
    meta.pop("aliases", None)
    (kept.folder / "meta.json").write_text(json.dumps(meta))
    kept = corpus.load(kept.folder)
    said = "[ShapeInferenceError] (op_type:Mul, node name: x): B has inconsistent type tensor(bfloat16)"
    twin = meta | {"finding": meta["finding"] | {"message": said}}
    twin["signature"] = Finding.from_dict(twin["finding"]).signature
    other_folder = root / "tf2onnx-check-exception-inferenceerror-0000000001"
    shutil.copytree(kept.folder, other_folder)
    (other_folder / "meta.json").write_text(json.dumps(twin))
    other = corpus.load(other_folder)
    assert other.signature != kept.signature
    done = runner.invoke(cli.app, ["fold", other.folder.name, "--into", kept.folder.name, "--reason",
                                   "a bfloat16 constant beside float16 casts", "--corpus", str(root)])
    assert done.exit_code == 0, done.output
    assert not other.folder.exists()
    recorder = Recorder(root, run=lambda *a, **k: None)  # type: ignore[arg-type,return-value]
    recorder.reload()
    met = Finding.from_dict(other.meta["finding"])
    assert recorder.aliased(met) is not None and recorder.aliased(met).folder == kept.folder  # type: ignore[union-attr]
    assert recorder.aliased(kept.finding) is None
    reports.write_reports(root, tmp_path / "reports")
    issue = (kept.folder / "issue.md").read_text()
    assert "The same fault also shows another way (a bfloat16 constant beside float16 casts)" in issue
