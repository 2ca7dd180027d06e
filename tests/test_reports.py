"""The reports: summary.md, index.html (also as headless Chromium renders it), issue.md and replay reports,
over a small copy of real corpus entries and a made-up campaigns.jsonl."""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from roundtrip.report import reports
from roundtrip.report.reports import ReplayResult
from roundtrip.store import corpus, gaps, triage

ROOT = Path(__file__).resolve().parent.parent / "corpus"
KNOWN = "https://github.com/onnx/tensorflow-onnx/issues/1"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CAMPAIGNS = [
    {"date": "2026-11-20", "minutes": 30, "checks": 1200, "examples_per_second": 0.66,
     "layers": {"Dense": 400, "Cropping2D": 120}, "ops": {"MatMul": 400, "Slice": 120},
     "signatures_new": ["a", "b"], "signatures_known": ["c"]},
    {"date": "2026-11-21", "minutes": 60.5, "checks": 2500, "examples_per_second": 0.69,
     "layers": {"Dense": 800, "UpSampling2D": 90}, "ops": {"MatMul": 800, "Resize": 90},
     "signatures_new": [], "signatures_known": ["a", "b", "c"]},
]


def pick_entries() -> list[corpus.Entry]:
    """Four real entries: a one-way convert failure (no model.onnx), another one-way entry, and round trips
    through two different ONNX -> Keras converters (one entry of every other direction there is, too)."""
    entries, _ = reports.load_entries(ROOT)
    entries = [e for e in entries if not gaps.is_gap(e.meta)]  # a gap's issue.md is its package's request
    picks = [
        lambda e: e.meta.get("direction") == "keras-onnx" and e.meta["stage"] == "convert",
        lambda e: e.meta.get("direction") == "keras-onnx" and e.meta["stage"] != "convert",
        lambda e: e.meta.get("direction") == "keras-onnx-keras" and e.meta.get("back") == "onnx2keras",
        lambda e: e.meta.get("direction") == "keras-onnx-keras" and e.meta.get("back") != "onnx2keras",
    ]
    chosen = [next(e for e in entries if pick(e)) for pick in picks]
    for direction in sorted({str(e.meta.get("direction")) for e in entries} - {"keras-onnx", "keras-onnx-keras"}):
        chosen.append(next(e for e in entries if e.meta.get("direction") == direction))
    return chosen


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    """(corpus, reports): copies of real entries (the last one re-dated to a day of its own) and a
    campaigns.jsonl of two campaigns."""
    root, out = tmp_path / "corpus", tmp_path / "reports"
    root.mkdir()
    out.mkdir()
    for entry in pick_entries():
        shutil.copytree(entry.folder, root / entry.folder.name)
        meta = json.loads((root / entry.folder.name / "meta.json").read_text())
        meta.pop("triage", None)  # each test sets the triage it is about
        (root / entry.folder.name / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    last = sorted(root.iterdir())[-1] / "meta.json"
    meta = json.loads(last.read_text())
    last.write_text(json.dumps(meta | {"date": "2026-11-25T10:00:00+00:00"}, indent=1, sort_keys=True))
    (out / "campaigns.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CAMPAIGNS))
    return root, out


def names(root: Path) -> list[str]:
    return sorted(d.name for d in root.iterdir() if d.is_dir())


def dates(root: Path) -> list[str]:
    return sorted({json.loads((root / n / "meta.json").read_text())["date"][:10] for n in names(root)})


class Page(html.parser.HTMLParser):
    """The elements of an HTML page: (tag, attributes) in order, and the text inside each element with an id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.open_ids: list[tuple[str, str]] = []
        self.text: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.elements.append((tag, found))
        if "id" in found:
            self.open_ids.append((tag, found["id"]))
            self.text.setdefault(found["id"], "")

    def handle_endtag(self, tag: str) -> None:
        if self.open_ids and self.open_ids[-1][0] == tag:
            self.open_ids.pop()

    def handle_data(self, data: str) -> None:
        for _, ident in self.open_ids:
            self.text[ident] += data

    def having(self, tag: str, cls: str = "") -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and (not cls or cls in a.get("class", "").split())]


# ---- summary.md and index.html --------------------------------------------------------------------------
def test_summary_has_the_counts_and_a_working_link_to_each_entry(small: tuple[Path, Path]) -> None:
    root, out = small
    reports.write_reports(root, out)
    text = (out / "summary.md").read_text()
    assert text.startswith("# roundtrip corpus\n\n") and f"{len(names(root))} entries: " in text
    for name in names(root):
        assert f"[{name}](../corpus/{name}/)" in text
    for target in re.findall(r"\]\(([^)]+)\)", text):
        assert (out / target).exists(), target
    meta = json.loads((root / names(root)[0] / "meta.json").read_text())
    assert f"| tensorflow | {meta['versions']['tensorflow']} | " in text
    # Coverage: the campaigns' counts summed, and what the corpus itself holds.
    assert "2 campaigns" in text and "| Dense | 1200 | " in text and "| MatMul | 1200 | " in text
    assert "| Cropping2D | 120 | 0 |" in text
    assert "## Findings over time" in text and all(f"| {day} | " in text for day in dates(root))


def test_every_link_of_the_page_points_to_an_existing_entry_and_nothing_is_fetched(small: tuple[Path, Path]) -> None:
    root, out = small
    triage.set_status(root / names(root)[0], "known", url=KNOWN)
    reports.write_reports(root, out)
    text = (out / "index.html").read_text()
    page = Page(text)
    hrefs = [a["href"] for a in page.having("a")]
    assert [h for h in hrefs if re.match(r"[a-z]+:", h)] == [KNOWN]  # the one upstream issue, a link to click
    local = [h for h in hrefs if not h.startswith("#") and h != KNOWN]
    assert local and all(not re.match(r"[a-z]+:", h) for h in local)
    for href in local:
        assert (out / href).exists(), href
    folders = {(out / h).resolve() for h in local if h.endswith("/")}
    assert folders == {(root / n).resolve() for n in names(root)}
    assert len(page.having("tr", "entry")) == len(names(root))
    assert not page.having("script") and not page.having("link") and not page.having("img")
    assert "src=" not in text and "@import" not in text


def test_an_unreadable_entry_or_campaign_line_is_one_line_and_the_rest_is_reported(
        small: tuple[Path, Path]) -> None:
    root, out = small
    broken = root / names(root)[0] / "meta.json"
    meta = json.loads(broken.read_text())
    del meta["signature"]
    broken.write_text(json.dumps(meta))
    with (out / "campaigns.jsonl").open("a") as f:
        f.write('{"date": "2026-11-22", "layers": [1, 2]}\n{"date": "trunc\n')
    sources = reports.read_sources(root, out / "campaigns.jsonl")
    assert sources.problems == [f"{broken}: field 'signature' is missing",
                                f"{out / 'campaigns.jsonl'}:3: field 'layers' is not an object of counts",
                                f"{out / 'campaigns.jsonl'}:4: not JSON (Unterminated string starting at)"]
    reports.write_from(sources, out)
    text = (out / "summary.md").read_text()
    assert f"{len(names(root)) - 1} entries: " in text and "**3 unreadable:**" in text
    assert all(f"[{n}](" in text for n in names(root)[1:]) and f"[{names(root)[0]}](" not in text
    assert "2 campaigns" in text


def test_each_entry_row_shows_its_triage_and_the_issues_to_file_leave_out_known_ones(small: tuple[Path, Path]) -> None:
    root, out = small
    known, design, *rest = names(root)
    triage.set_status(root / known, "known", url=KNOWN)
    triage.set_status(root / design, "by-design", url=KNOWN, reason="It is meant.")
    reports.write_reports(root, out)
    summary = (out / "summary.md").read_text()
    rows = {line.split("](")[0][3:]: line for line in summary.splitlines() if line.startswith("| [")}
    assert set(rows) == set(names(root))
    assert rows[known].endswith(f"| known ({KNOWN}) |") and "issue.md)" in rows[known]
    assert rows[design].endswith(f"| - | by design ({KNOWN}, It is meant.) |")
    assert all(rows[name].endswith("| new |") for name in rest)
    bugs = {r.entry.signature for r in map(reports.row_of, corpus.entries(root)) if r.name != design}
    assert f"Upstream: {len(rest)} new, 1 known, 1 by design ({len(rest)} issues to file)." in summary
    filed = sum(int(line.split(" | ")[3]) for line in summary.split("By the upstream project")[1].split("## ")[0]
                .splitlines() if line.startswith("| ") and not line.startswith("| project"))
    assert filed == len(bugs) - 1 == len(rest)
    assert "1 entries are left out of the issues to file, as already known upstream" in summary
    assert f"- {known}: {KNOWN}" in summary
    page = Page((out / "index.html").read_text())
    assert len(page.having("td", "upstream")) == len(names(root))
    assert (root / known / "issue.md").read_text().count(f"Known upstream: {KNOWN}") == 1
    assert not (root / design / "issue.md").exists()
    assert all("Known upstream" not in (root / name / "issue.md").read_text() for name in rest)


def test_regenerating_an_unchanged_corpus_gives_the_same_bytes(small: tuple[Path, Path], tmp_path: Path) -> None:
    root, out = small
    first = {p: p.read_bytes() for p in reports.write_reports(root, out)}
    assert len(first) == 3 + len(names(root))  # summary.md, index.html, corpus-table.md and an issue.md each
    again = {p: p.read_bytes() for p in reports.write_reports(root, out)}
    assert again == first
    # The same corpus elsewhere gives the same files (issue.md names no absolute path).
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved / "corpus", ignore=shutil.ignore_patterns("issue.md"))
    shutil.copytree(out, moved / "reports", ignore=shutil.ignore_patterns("*.md", "*.html"))
    reports.write_reports(moved / "corpus", moved / "reports")
    for path, data in first.items():
        assert (moved / path.relative_to(tmp_path)).read_bytes() == data, path


def test_the_plot_has_one_point_per_day_placed_by_date() -> None:
    svg = reports.plot_svg([("2026-11-01", 3, 3), ("2026-11-02", 2, 5), ("2026-11-11", 5, 10)])
    page = Page(svg)
    points = page.having("circle", "point")
    assert [p["data-date"] for p in points] == ["2026-11-01", "2026-11-02", "2026-11-11"]
    xs = [float(p["cx"]) for p in points]
    assert xs[1] - xs[0] == pytest.approx((xs[2] - xs[0]) / 10, abs=0.2)
    ys = [float(p["cy"]) for p in points]
    assert ys[0] > ys[1] > ys[2]  # the total only grows, and SVG's y grows downwards
    assert len(page.having("path", "step")) == 1
    assert "no dated entries" in reports.plot_svg([])


# ---- issue.md -----------------------------------------------------------------------------------------
def test_each_issue_has_title_versions_repro_expected_actual_and_traceback(small: tuple[Path, Path]) -> None:
    root, out = small
    reports.write_reports(root, out)
    for name in names(root):
        entry = corpus.load(root / name)
        text = (root / name / "issue.md").read_text()
        title = text.splitlines()[0]
        assert title.startswith("# ") and len(title) < 260 and "\x1b" not in text
        repro = (root / name / "repro.py").read_text()
        assert f"```python\n{repro}```" in text and title[2:] in repro.splitlines()[0]
        versions = text.split("**Versions:** ")[1].split("\n")[0]
        assert "Python 3." in versions and all(f"{p} {v}" in versions for p, v in entry.meta["versions"].items()
                                              if f"import {p}" in repro or f"from {p} " in repro)
        assert "**Expected:** " in text and "**Actual:** " in text
        if entry.finding.symptom == "exception" and entry.finding.stage == "check":
            # onnx.checker's verdict on the converter's output: its message, no converter frame to show
            assert "**Expected:** onnx.checker accepts" in text and "<summary>Traceback" not in text
        elif entry.finding.symptom == "exception":
            trace = text.split("<summary>Traceback")[1]
            assert "Traceback (most recent call last)" in trace and f"/site-packages/{entry.finding.package}/" in trace
        assert f"**Where to file:** {entry.finding.package}" in text
        assert str(root) not in text  # no absolute path of the machine that wrote it (site-packages shortened)


def test_the_tracker_follows_the_blame_and_the_converter(small: tuple[Path, Path]) -> None:
    root, _ = small
    for name in names(root):
        row = reports.row_of(corpus.load(root / name))
        assert row.project in reports.TRACKERS
        if row.blame == "runtime":
            assert row.project == "onnxruntime"
        elif row.direction == "keras-onnx-keras":
            assert row.project == row.back.split("-")[0]
        elif row.direction == "keras-onnx" and row.blame == "keras":
            assert row.project == "keras"
        elif row.direction == "keras-onnx":
            assert row.project == {"tf2onnx-function": "tf2onnx", "tf2onnx-keras": "tf2onnx",
                                   "keras-export": "keras"}[row.converter]


def graph_entry(folder: Path, finding_path: str, stage: str, kind: str, message: str) -> corpus.Entry:
    """An ONNX -> Keras -> ONNX entry (a GraphSpec), made up: the committed corpus holds none yet."""
    from roundtrip import GraphSpec, NodeSpec

    finding = {"path": finding_path, "stage": stage, "symptom": "exception", "kind": kind, "message": message,
               "blame": "converter", "output": None, "details": {}}
    meta = {"direction": "onnx-keras-onnx", "back": "onnx2keras", "converter": "tf2onnx-keras", "opset": 13,
            "path": finding_path, "signature": finding_path, "finding": finding, "case": {"batch": 1, "sizes": {}},
            "versions": {"onnx2keras": "0.0.25", "onnx2tf": "1.26.0", "tf2onnx": "1.17.0"}}
    return corpus.Entry(folder, meta, GraphSpec((3, 4, 4), (NodeSpec.make("Relu"),), opset=13))


def test_an_onnx_graph_entry_is_filed_with_the_converter_of_the_leg_that_fails(tmp_path: Path) -> None:
    first = reports.row_of(graph_entry(tmp_path, "onnx>onnx2keras", "load", "unsupported-op:Relu", "'Relu'"))
    assert (first.route, first.leg, first.project) == ("onnx2keras > tf2onnx-keras", "onnx-keras", "onnx2keras")
    assert reports.issue_markdown(first).startswith("# onnx2keras raises KeyError converting the graph on a Relu node")
    second = reports.row_of(graph_entry(tmp_path, "onnx>onnx2keras>tf2onnx-keras", "convert", "KeyError", "'x'"))
    assert (second.leg, second.project) == ("onnx-keras-onnx", "tf2onnx")
    text = reports.issue_markdown(second)
    assert text.startswith("# tf2onnx.convert.from_keras raises KeyError, given the Keras model onnx2keras makes")
    # Versions come from the script's imports (none here): never a package of another leg
    assert "**Where to file:** tf2onnx" in text and "onnx2tf" not in text


# ---- replays ------------------------------------------------------------------------------------------
VERSIONS = {"tensorflow": "2.21.0", "keras": "3.15.1", "tf2onnx": "1.17.0", "onnx": "1.23.2",
            "onnxruntime": "1.31.1", "onnx2keras": "0.0.25", "numpy": "2.4.6", "hypothesis": "6.170.15"}
NEWER = VERSIONS | {"tf2onnx": "1.18.0", "onnxruntime": "1.32.0"}


def test_the_versions_tag_is_short_and_safe() -> None:
    assert reports.versions_tag(VERSIONS) == "tf2.21.0-keras3.15.1-tf2onnx1.17.0-onnx1.23.2-ort1.31.1-onnx2keras0.0.25"
    assert reports.versions_tag({"tensorflow": "2.22.0rc1+local/x", "onnx2keras": "absent"}) == "tf2.22.0rc1+local_x"


def test_a_replay_against_a_baseline_says_what_was_fixed_broke_changed_and_is_new(tmp_path: Path) -> None:
    before = [ReplayResult("a-1", "A", "still", ["A"]), ReplayResult("b-2", "B", "fixed", []),
              ReplayResult("c-3", "C", "still", ["C"]), ReplayResult("d-4", "D", "still", ["D"]),
              ReplayResult("e-5", "E", "still", ["E"])]
    old_json, _ = reports.write_replay(before, tmp_path, VERSIONS)
    assert old_json.name == f"replay-{reports.versions_tag(VERSIONS)}.json"
    after = [ReplayResult("a-1", "A", "fixed", [], "nothing shows now"), ReplayResult("b-2", "B", "still", ["B"]),
             ReplayResult("c-3", "C", "changed", ["X"], "[p] run/exception: X: boom"),
             ReplayResult("d-4", "D", "still", ["D"]), ReplayResult("f-6", "F", "error", [], "a check raised")]
    new_json, new_md = reports.write_replay(after, tmp_path, NEWER, baseline=old_json)
    assert new_json != old_json
    data = json.loads(new_json.read_text())
    assert data["counts"] == {"still": 2, "fixed": 1, "changed": 1, "error": 1}
    diff = {kind: [c["signature"] for c in changes] for kind, changes in data["baseline"]["diff"].items()}
    assert diff == {"fixed": ["A"], "broken": ["B"], "changed": ["C"], "new": ["F"], "gone": ["E"]}
    assert data["baseline"]["file"] == old_json.name
    assert reports.read_replay(new_json)[1] == sorted(after, key=lambda r: r.folder)
    text = new_md.read_text()
    assert "5 entries: 2 still failing, 1 fixed, 1 changed, 1 replay raised." in text
    assert "### Fixed since the baseline (1)\n" in text and "| `a-1` | still | fixed |" in text
    assert "### Broken again (fixed in the baseline) (1)\n" in text and "| `b-2` | fixed | still |" in text
    assert "### New since the baseline (1)" in text and "### In the baseline, not replayed now (1)" in text


@pytest.mark.parametrize("content, field", [
    ("not json at all", "not JSON"),
    ('{"results": []}', "field 'kind' is None"),
    ('[1, 2]', "field 'kind' is 'list'"),
    ('{"kind": "roundtrip-replay", "versions": {}, "results": [{"folder": "a", "signature": "A"}]}',
     "field 'results[0].status' is missing"),
    ('{"kind": "roundtrip-replay", "versions": {}, "results": [{"folder": "a", "signature": "A", "status": "ok"}]}',
     "field 'results[0].status' is 'ok'"),
])
def test_a_baseline_that_is_not_a_replay_json_is_named_with_its_field(tmp_path: Path, content: str, field: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content)
    with pytest.raises(reports.ReportError) as info:
        reports.write_replay([], tmp_path, VERSIONS, baseline=path)
    assert str(info.value).startswith(f"{path}: ") and field in str(info.value)
    assert not list(tmp_path.glob("replay-*"))


# ---- the page as a browser shows it ------------------------------------------------------------------
def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on `url`.  Its TMPDIR is a short folder of its own: Chromium puts a Unix socket there,
    whose path must stay under about 100 characters (a test's own TMPDIR, deep in a clone, is longer)."""
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args, url]
    short = tempfile.mkdtemp(prefix="rt-chromium-", dir="/tmp")
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "TMPDIR": short})
    finally:
        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (`make system` installs it)")
def test_headless_chromium_shows_the_count_a_row_per_entry_the_plot_and_the_coverage(
        small: tuple[Path, Path], tmp_path: Path) -> None:
    root, out = small
    reports.write_reports(root, out)
    url = (out / "index.html").resolve().as_uri()
    done = chromium(url, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    page = Page(done.stdout)
    assert page.text["entry-count"] == str(len(names(root)))
    rows = page.having("tr", "entry")
    assert len(rows) == len(names(root))
    assert len(page.having("svg")) == 1 and len(page.having("path", "step")) == 1
    assert [p["data-date"] for p in page.having("circle", "point")] == dates(root)
    coverage = page.text["coverage"]
    assert "2 campaigns" in coverage and "Keras layer kinds" in coverage and "ONNX operators" in coverage
    assert len(page.having("tr", "layer")) >= 3 and len(page.having("tr", "op")) >= 3
    shot = tmp_path / "page.png"
    done = chromium(url, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1600")
    assert done.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_last_reduction_is_counted(tmp_path: Path) -> None:
    done = [{"entry": "a", "now": "x", "note": "reduced in 4 tries, 2 steps, 1-minimal"},
            {"entry": "b", "now": "x", "note": "reduced in 1 tries, 0 steps, 1-minimal"},
            {"entry": "c", "now": "y", "note": "reduced in 3 tries, 0 steps, 1-minimal"},
            {"entry": "d", "now": None, "note": "does not show in 8 runs; shows nothing"}]
    reports.write_reduction(tmp_path, done, before=4, after=3)
    counts = reports.reduction_counts(tmp_path)
    assert counts is not None
    assert (counts["before"], counts["after"], counts["merged"], counts["shrunk"], counts["gone"]) == (4, 3, 1, 1, 1)
    assert reports.reduction_counts(tmp_path / "nowhere") is None
