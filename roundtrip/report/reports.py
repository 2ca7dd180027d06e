"""Reports drawn from the corpus: what a person reads, never what a run needs.

    reports/summary.md       the entries by converter, direction, stage and symptom, with links; the
                             versions the entries were found on; campaign coverage; findings over time
    reports/index.html       the same as one static page (inline CSS and SVG, no script, no network)
    corpus/<entry>/issue.md  an upstream bug report, ready to paste into the converter's tracker
    reports/replay-<versions>.json and .md   a replay of the corpus on the installed versions, and what
                             changed since a baseline replay

Every file is a function of the corpus (and reports/campaigns.jsonl) alone: no clock, sorted orders, so
regenerating an unchanged corpus rewrites the same bytes.  Links are relative, so the pages work when
opened from disk.  An unreadable entry or campaign line is one line in the reports, not an exception.
"""

from __future__ import annotations

import collections
import datetime
import html
import json
import os
import platform
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from roundtrip import registry
from roundtrip.finding.findings import Stage, headline
from roundtrip.registry import TRACKERS
from roundtrip.store import corpus, gaps, triage

REPLAY_KIND = "roundtrip-replay"
REPLAY_SCHEMA = 1
STATUSES = ("still", "fixed", "changed", "error")

DIRECTIONS = {
    "keras-onnx": "Keras -> ONNX",
    "keras-onnx-keras": "Keras -> ONNX -> Keras",
    "onnx-keras-onnx": "ONNX -> Keras -> ONNX",
}
# Versions tag of a replay: package, short name (the main environment's packages).  Keras is versioned apart
# from TensorFlow since Keras 3.
TAG_PACKAGES = tuple((p.name, p.tag or p.name) for p in registry.PACKAGES if p.environment is None)
_STAGES = [str(s) for s in Stage]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ReportError(ValueError):
    """A report's input is unreadable; the message names the file and the field."""


# ---- what the reports are drawn from -----------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One entry as the reports show it."""

    entry: corpus.Entry
    direction: str
    converter: str
    back: str
    stage: str
    symptom: str
    kind: str
    blame: str
    opset: int
    date: str
    message: str  # the headline of the finding's message, terminal colours removed
    layers: tuple[str, ...]  # the layer kinds of the spec, in order, each once

    @property
    def name(self) -> str:
        return self.entry.folder.name

    @property
    def route(self) -> str:
        """The converters in the order the model goes through them: `tf2onnx-keras > onnx2keras`, or
        `onnx2keras > tf2onnx-keras` for an ONNX graph."""
        order = [self.back, self.converter] if self.direction == "onnx-keras-onnx" else [self.converter, self.back]
        return " > ".join(c for c in order if c)

    @property
    def leg(self) -> str:
        """What the failing part of the route does: keras-onnx, keras-onnx-keras, onnx-keras (an ONNX graph
        to Keras) or onnx-keras-onnx (that Keras model to ONNX again: its finding's path has three parts)."""
        if self.direction == "onnx-keras-onnx" and self.entry.finding.path.count(">") < 2:
            return "onnx-keras"
        return self.direction

    @property
    def project(self) -> str:
        return project_of(self)


@dataclass
class Sources:
    """The readable entries (sorted by folder name), the campaigns, and one line per unreadable thing."""

    rows: list[Row]
    campaigns: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    ops: dict[str, list[str]] = field(default_factory=dict)  # folder name -> op types of its model.onnx


def read_sources(corpus_root: Path, campaigns: Path | None = None) -> Sources:
    """Every entry below `corpus_root` that loads, the campaigns of `campaigns` (a campaigns.jsonl, when it
    exists), and one line per entry, model or campaign line that could not be read."""
    problems: list[str] = []
    rows = [row_of(entry) for entry in _each_entry(corpus_root, problems)]
    found = read_campaigns(campaigns, problems) if campaigns is not None else []
    sources = Sources(rows, found, problems)
    for row in rows:
        ops = _model_ops(row.entry.folder / "model.onnx", problems)
        if ops is not None:
            sources.ops[row.name] = ops
    return sources


def load_entries(root: Path) -> tuple[list[corpus.Entry], list[str]]:
    """The entries below `root` that load (sorted by folder name), and one line per entry that does not."""
    problems: list[str] = []
    return list(_each_entry(root, problems)), problems


def _each_entry(root: Path, problems: list[str]) -> Iterator[corpus.Entry]:
    if not root.is_dir():
        return
    for folder in corpus.entry_folders(root):
        if not corpus.is_model_entry(folder):
            try:
                yield corpus.load(folder)
            except corpus.CorpusError as e:
                problems.append(str(e))


def row_of(entry: corpus.Entry) -> Row:
    meta, finding = entry.meta, entry.finding
    back = str(meta.get("back") or "")
    layers = [str(layer.kind) for layer in getattr(entry.spec, "layers", ())]
    return Row(
        entry=entry,
        direction=str(meta.get("direction") or ("keras-onnx-keras" if back else "keras-onnx")),
        converter=str(meta["converter"] if "converter" in meta else str(meta["path"]).split(">")[0]),
        back=back,
        stage=str(finding.stage),
        symptom=str(finding.symptom),
        kind=finding.kind,
        blame=str(finding.blame),
        opset=int(meta["opset"]),
        date=str(meta.get("date", "")),
        message=plain(headline(finding.message)),
        layers=tuple(dict.fromkeys(layers)),
    )


def read_campaigns(path: Path, problems: list[str]) -> list[dict[str, Any]]:
    """The campaigns of a campaigns.jsonl, one JSON object a line; a line that is not one is a problem."""
    if not path.is_file():
        return []
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            campaign = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{path}:{number}: not JSON ({e.msg})")
            continue
        bad = _campaign_problem(campaign)
        if bad:
            problems.append(f"{path}:{number}: {bad}")
        else:
            found.append(campaign)
    return found


def _campaign_problem(campaign: Any) -> str:
    if not isinstance(campaign, dict):
        return "not a JSON object"
    for key in ("layers", "ops"):
        counts = campaign.get(key, {})
        if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
            return f"field {key!r} is not an object of counts"
    for key in ("signatures_new", "signatures_known"):
        if not isinstance(campaign.get(key, []), list):
            return f"field {key!r} is not a list"
    for key in ("minutes", "checks", "examples_per_second"):
        if not isinstance(campaign.get(key, 0), int | float):
            return f"field {key!r} is not a number"
    return ""


def _model_ops(path: Path, problems: list[str]) -> list[str] | None:
    """The op types of a model.onnx (subgraphs included), each once, sorted; None when there is none."""
    if not path.is_file():
        return None
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises its own DecodeError, among others
        problems.append(f"{path}: unreadable ({type(e).__name__})")
        return None
    return sorted(set(_op_types(model.graph)))


def _op_types(graph: Any) -> Iterator[str]:
    for node in graph.node:
        yield node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _op_types(attribute.g)
            for sub in attribute.graphs:
                yield from _op_types(sub)


# ---- words shared by the reports ---------------------------------------------------------------------
def plain(text: str) -> str:
    """`text` without terminal colours (Keras bolds its messages)."""
    return _ANSI.sub("", text)


def project_of(row: Row) -> str:
    """The upstream project to file a finding with: the package its identity names as at fault (the
    converter's, Keras' when Keras itself is blamed, onnxruntime's when the runtime is)."""
    return row.entry.finding.package


def direction_text(direction: str) -> str:
    return DIRECTIONS.get(direction, direction)


def _stage_key(row: Row) -> tuple[Any, ...]:
    stage = _STAGES.index(row.stage) if row.stage in _STAGES else len(_STAGES)
    return (stage, row.symptom, row.kind, row.name)


def _direction_key(direction: str) -> tuple[int, str]:
    known = list(DIRECTIONS)
    return (known.index(direction) if direction in known else len(known), direction)


def grouped(rows: Sequence[Row]) -> list[tuple[str, str, list[Row]]]:
    """(direction, route, rows) for each direction and route, in a fixed order."""
    groups: dict[tuple[str, str], list[Row]] = collections.defaultdict(list)
    for row in rows:
        groups[(row.direction, row.route)].append(row)
    keys = sorted(groups, key=lambda k: (_direction_key(k[0]), k[1]))
    return [(d, r, sorted(groups[(d, r)], key=_stage_key)) for d, r in keys]


def _pivot(rows: Sequence[Row]) -> tuple[list[str], list[tuple[str, str, list[int], int]]]:
    """Columns (each stage/symptom that occurs, in oracle order) and, for each direction and route, its
    counts in those columns and its total."""
    present = {(r.stage, r.symptom) for r in rows}
    columns = sorted(present, key=lambda c: (_STAGES.index(c[0]) if c[0] in _STAGES else len(_STAGES), c))
    table = []
    for direction, route, group in grouped(rows):
        counter = collections.Counter((r.stage, r.symptom) for r in group)
        table.append((direction, route, [counter[c] for c in columns], len(group)))
    return [f"{stage}/{symptom}" for stage, symptom in columns], table


def _versions(rows: Sequence[Row]) -> list[tuple[str, str, int]]:
    """(package, version, entries) over the versions the entries record."""
    counter = collections.Counter((str(p), str(v)) for r in rows
                                  for p, v in (r.entry.meta.get("versions") or {}).items())
    return [(p, v, counter[(p, v)]) for p, v in sorted(counter)]


def _dates(rows: Sequence[Row]) -> list[tuple[str, int, int]]:
    """(day, entries found that day, entries found up to and including it) for each day with entries."""
    days = collections.Counter(r.date[:10] for r in rows if re.match(r"\d{4}-\d{2}-\d{2}", r.date))
    total, points = 0, []
    for day in sorted(days):
        total += days[day]
        points.append((day, days[day], total))
    return points


@dataclass(frozen=True)
class Coverage:
    """For each layer kind (or op type): checks over all campaigns and entries of the corpus holding it."""

    layers: list[tuple[str, int, int]]
    ops: list[tuple[str, int, int]]
    untried: list[str]  # layer kinds of the vocabulary that no campaign drew


def coverage(sources: Sources) -> Coverage:
    from roundtrip.spec.layers import LAYERS

    campaign_layers: collections.Counter[str] = collections.Counter()
    campaign_ops: collections.Counter[str] = collections.Counter()
    for campaign in sources.campaigns:
        campaign_layers.update(campaign.get("layers", {}))
        campaign_ops.update(campaign.get("ops", {}))
    corpus_layers = collections.Counter(kind for row in sources.rows for kind in row.layers)
    corpus_ops = collections.Counter(op for ops in sources.ops.values() for op in ops)
    layers = [(k, campaign_layers[k], corpus_layers[k]) for k in sorted(set(campaign_layers) | set(corpus_layers))]
    ops = [(k, campaign_ops[k], corpus_ops[k]) for k in sorted(set(campaign_ops) | set(corpus_ops))]
    untried = sorted(set(LAYERS) - set(campaign_layers)) if sources.campaigns else []
    return Coverage(layers, ops, untried)


def _campaign_row(campaign: dict[str, Any]) -> list[str]:
    rate = campaign.get("examples_per_second")
    return [str(campaign.get("date", "?")), _number(campaign.get("minutes")), _number(campaign.get("checks")),
            _number(rate), str(len(campaign.get("signatures_new", []))),
            str(len(campaign.get("signatures_known", [])))]


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    return str(value) if isinstance(value, int) else f"{value:.3g}"


def link(target: Path, start: Path) -> str:
    """A relative URL from the folder `start` to `target` (a folder gets a trailing slash)."""
    rel = Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
    return quote(rel) + ("/" if target.is_dir() else "")


# ---- writing ----------------------------------------------------------------------------------------
def write_reports(corpus_root: Path, reports_root: Path, campaigns: Path | None = None) -> list[Path]:
    """Writes reports/summary.md, reports/index.html and an issue.md in each entry folder, from the corpus
    at `corpus_root` and the campaigns in `campaigns` (default: reports_root/campaigns.jsonl).  Returns
    the files written."""
    sources = read_sources(corpus_root, campaigns or reports_root / "campaigns.jsonl")
    return write_from(sources, reports_root)


def write_from(sources: Sources, reports_root: Path) -> list[Path]:
    """write_reports for sources already read (so a caller can show their problems first)."""
    reports_root.mkdir(parents=True, exist_ok=True)
    written = [_write(reports_root / "summary.md", summary_markdown(sources, reports_root)),
               _write(reports_root / "index.html", index_html(sources, reports_root)),
               _write(reports_root / "corpus-table.md", corpus_table(sources.rows))]
    related = _related(sources.rows)
    for home in sorted({row.entry.folder.parent for row in sources.rows if is_gap(row)}):
        gaps.write_summary(home)  # one feature request per package, its issue.md beside its entries
        written.append(home / "issue.md")
    for row in sources.rows:
        issue = row.entry.folder / "issue.md"
        if by_design(row) or is_gap(row):  # nothing to file alone: on purpose, or in its package's request
            issue.unlink(missing_ok=True)
            continue
        written.append(_write(issue, issue_markdown(row, related.get(row.name, []))))
    return written


TABLE_MARKERS = ("<!-- corpus-table -->", "<!-- /corpus-table -->")


def model_text(spec: Any) -> str:
    """A spec in one line: its layers (nodes) with their params, in order (`ONNX ...` for a graph)."""
    def call(kind: str, params: Any) -> str:
        return f"{kind}({', '.join(f'{k}={v!r}' for k, v in params)})"

    if hasattr(spec, "nodes"):
        return "ONNX " + " -> ".join(call(n.kind, n.params) for n in spec.nodes)
    text = " -> ".join(call(layer.kind, layer.params) for layer in spec.layers)
    dynamic = " (dynamic)" if getattr(spec, "dynamic", False) else ""
    dtype = f" [{spec.dtype}]" if getattr(spec, "dtype", "float32") != "float32" else ""
    return text + dynamic + dtype


def corpus_table(rows: Sequence[Row]) -> str:
    """The corpus table (docs/corpus.md): one line per entry (package, stage/symptom, kind, the ops it was met
    on, how it stands upstream, the minimal model), bugs first, then the feature gaps."""
    head = ["package", "stage/symptom", "kind", "met on", "upstream", "the minimal model"]

    def line(row: Row) -> list[str]:
        ops = ", ".join(row.entry.meta.get("ops") or []) or "-"
        return [row.project, f"{row.stage}/{row.symptom}", _md_text(_short(row.kind, 60)), ops,
                _md_text(_short(triage_text(row), 70)), _md_text(_short(model_text(row.entry.spec), 110))]

    ordered = sorted(rows, key=lambda r: (is_gap(r), r.project, r.stage, r.symptom, r.kind, r.name))
    bugs = len(distinct_failures(rows))
    gap_count = sum(map(is_gap, rows))
    lines = [f"{len(rows)} entries: {bugs} bugs, {gap_count} feature gaps "
             f"({sum(map(by_design, rows))} by design, {sum(map(known_upstream, rows))} known upstream).", ""]
    return "\n".join(lines + _md_table(head, [line(r) for r in ordered])) + "\n"


def write_table_into(page: Path, table: str) -> None:
    """Replaces what stands between the page's corpus-table markers (TABLE_MARKERS) with `table`."""
    text = page.read_text()
    start, end = TABLE_MARKERS
    if start not in text or end not in text:
        raise ValueError(f"{page}: no {start} ... {end} markers")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    page.write_text(f"{before}{start}\n{table}\n{end}{after}")


def triage_of(row: Row) -> triage.Triage | None:
    """The entry's triage (roundtrip.store.triage); None when its meta.json holds a malformed one."""
    try:
        return triage.of(row.entry.meta, str(row.entry.folder / "meta.json"))
    except triage.TriageError:
        return None


def is_gap(row: Row) -> bool:
    """Whether the entry is a feature gap (roundtrip.store.gaps): out of the bug counts, filed with its package's
    other gaps as one feature request."""
    return gaps.is_gap(row.entry.meta)


def _gap_lines(rows: Sequence[Row]) -> list[str]:
    """The feature gaps, per package: not bugs, one feature request each."""
    homes: dict[Path, list[Row]] = collections.defaultdict(list)
    for row in rows:
        if is_gap(row):
            homes[row.entry.folder.parent].append(row)
    if not homes:
        return []
    lines = [f"{sum(map(len, homes.values()))} entries are feature gaps (ops or cases a package does not implement "
             "or refuses in its own words; not counted as bugs, one feature request per package):"]
    for home, group in sorted(homes.items()):
        ops = ", ".join(sorted({str(r.entry.meta.get("gap")) for r in group}))
        lines.append(f"- {home.name}: {len(group)} ({ops}); its request: {home.name}/issue.md")
    return lines


def by_design(row: Row) -> bool:
    """Whether the entry's triage says the upstream project does this on purpose."""
    found = triage_of(row)
    return found is not None and found.status == "by-design"


def known_upstream(row: Row) -> bool:
    """Whether someone already reported the entry's bug upstream (its issue is not one to file)."""
    found = triage_of(row)
    return found is not None and found.status == "known"


def to_file(row: Row) -> bool:
    """Whether the entry's issue.md is still to be filed upstream: a new entry (or one whose triage is
    unreadable, so that it is not lost)."""
    found = triage_of(row)
    return found is None or found.to_file


def triage_text(row: Row) -> str:
    """The entry's triage as the tables show it: new, known (url), by design (url, reason), ..."""
    found = triage_of(row)
    return found.text() if found is not None else "unreadable triage (see `roundtrip show`)"


def _by_design_lines(rows: Sequence[Row]) -> list[str]:
    """The entries left out of the bug counts, each with the upstream's reason and link."""
    chosen = [r for r in rows if by_design(r)]
    if not chosen:
        return []
    lines = [f"{len(chosen)} entries are by design (still replayed, not counted as bugs, no issue draft):"]
    for row in chosen:
        t = triage.of(row.entry.meta)
        lines.append(f"- {row.name}: {t.reason} ({t.url})")
    return lines


def _triage_lines(rows: Sequence[Row]) -> list[str]:
    """How the entries stand upstream, and the entries left out of the issues to file because someone
    already reported their bug, each with where."""
    counts = collections.Counter(t.status if t else "unreadable" for t in map(triage_of, rows))
    said = ", ".join(f"{counts[s]} {s.replace('-', ' ')}" for s in (*triage.STATUSES, "unreadable") if counts[s])
    lines = [f"Upstream: {said} ({sum(map(to_file, rows))} issues to file)." if rows else ""]
    known = [r for r in rows if known_upstream(r)]
    if known:
        lines += [f"{len(known)} entries are left out of the issues to file, as already known upstream (their "
                  "issue.md says where; still counted as bugs):"]
        lines += [f"- {row.name}: {triage.of(row.entry.meta).url}" for row in known]
    return lines


def _write(path: Path, text: str) -> Path:
    """Writes `text` unless the file already holds it (an unchanged file keeps its mtime)."""
    data = text.encode()
    if not (path.is_file() and path.read_bytes() == data):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def _related(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """For each entry, the other entries of the same bug (none, in a corpus of one entry per bug; an old
    corpus written under other identity rules may still hold several)."""
    groups: dict[str, list[Row]] = collections.defaultdict(list)
    for row in rows:
        groups[row.entry.signature].append(row)
    return {row.name: [r for r in groups[row.entry.signature] if r is not row] for row in rows}


def distinct_failures(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    """(project, entries) for each bug (each identity), counted once however many entries hold it."""
    groups: dict[str, list[Row]] = collections.defaultdict(list)
    for row in rows:
        if not by_design(row) and not is_gap(row):
            groups[row.entry.signature].append(row)
    return sorted(((group[0].project, sorted(group, key=lambda r: r.name)) for group in groups.values()),
                  key=lambda item: (item[0], item[1][0].name))


# ---- summary.md ---------------------------------------------------------------------------------------
def _md(text: Any) -> str:
    """A markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _md_text(text: str) -> str:
    """Free text (a message) for markdown: backticks and tags shown as they are."""
    return text.replace("`", "\\`").replace("<", "&lt;")


def _md_table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _short(text: str, limit: int = 110) -> str:
    """`text` cut to `limit` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 3]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2:] else cut).rstrip(" ,;:") + "..."


# ---- reductions ---------------------------------------------------------------------------------------
REDUCTION = "reduce.json"


def write_reduction(reports_root: Path, done: list[dict[str, Any]], before: int, after: int) -> Path:
    """What the last `roundtrip reduce` did: each entry's note and the folder now holding its bug."""
    reports_root.mkdir(parents=True, exist_ok=True)
    record = {"date": datetime.date.today().isoformat(), "entries_before": before, "entries_after": after,
              "entries": done}
    return _write(reports_root / REDUCTION, json.dumps(record, indent=1) + "\n")


def reduction_counts(reports_root: Path) -> dict[str, Any] | None:
    """From reduce.json: entries before and after, how many were merged, shrunk, or no longer show."""
    try:
        record = json.loads((reports_root / REDUCTION).read_text())
        entries = record["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    steps = [re.search(r"(\d+) steps", str(e.get("note", ""))) for e in entries]
    return {"date": record.get("date", "?"), "before": record.get("entries_before", len(entries)),
            "after": record.get("entries_after", "?"),
            "merged": sum(e.get("now") is not None for e in entries) - len({e["now"] for e in entries if e.get("now")}),
            "shrunk": sum(1 for m in steps if m and int(m.group(1)) > 0),
            "gone": sum(e.get("now") is None for e in entries)}


def _reduction_line(reports_root: Path) -> str:
    counts = reduction_counts(reports_root)
    if counts is None:
        return ""
    return (f"The last `roundtrip reduce` ({counts['date']}) took {counts['before']} entries to {counts['after']}: "
            f"{counts['merged']} merged into another entry of the same bug, {counts['shrunk']} shrunk by the reducer, "
            f"{counts['gone']} no longer showing.")


def summary_markdown(sources: Sources, reports_root: Path) -> str:
    rows = sources.rows
    by_direction = collections.Counter(r.direction for r in rows)
    lines = ["# roundtrip corpus", "",
             f"{len(rows)} entries: " + ", ".join(f"{by_direction[d]} {direction_text(d)}"
                                                  for d in sorted(by_direction, key=_direction_key)) + ".",
             f"They hold {len(distinct_failures(rows))} distinct bugs (one identity each: the package at fault, "
             "the stage, the symptom and the place in its code or the first layer or node that differs).",
             _reduction_line(reports_root), "", *_triage_lines(rows), "", *_by_design_lines(rows), "",
             *_gap_lines(rows), ""]
    if sources.problems:
        lines += [f"**{len(sources.problems)} unreadable:**", ""] + [f"- {_md(p)}" for p in sources.problems] + [""]
    columns, table = _pivot(rows)
    lines += ["## Counts", "", "Entries by route (the converters in order) and by stage/symptom:", ""]
    lines += _md_table(["direction", "route", *columns, "entries"],
                       [(direction_text(d), r, *counts, total) for d, r, counts, total in table])
    projects = collections.Counter(r.project for r in rows)
    failures = collections.Counter(project for project, _ in distinct_failures(rows))
    filing = _to_file_counts(rows)
    lines += ["By the upstream project to file with (each new entry's issue.md is ready to paste; a bug known "
              "upstream is not to file):", ""]
    lines += _md_table(["project", "entries", "bugs", "to file", "tracker"],
                       [(p, projects[p], failures[p], filing[p], TRACKERS.get(p, "-")) for p in sorted(projects)])
    lines += ["## Entries", ""]
    for direction, route, group in grouped(rows):
        lines += [f"### {direction_text(direction)}: {route} ({len(group)})", ""]
        lines += _md_table(["entry", "stage/symptom", "kind", "blame", "opset", "message", "issue", "upstream"],
                           [(f"[{r.name}]({link(r.entry.folder, reports_root)})", f"{r.stage}/{r.symptom}",
                             _md_text(r.kind), r.blame, r.opset, _md_text(_short(r.message)),
                             _issue_md(r, reports_root), _md_text(triage_text(r))) for r in group])
    lines += ["## Versions", "", "What the entries were found on (meta.json `versions`):", ""]
    lines += _md_table(["package", "version", "entries"], _versions(rows))
    lines += _coverage_markdown(sources)
    lines += ["## Findings over time", "", "Entries in the corpus by the date they were found (cumulative):", ""]
    lines += _md_table(["date", "new", "total"], _dates(rows))
    return "\n".join(lines).rstrip() + "\n"


def _issue_md(row: Row, reports_root: Path) -> str:
    if by_design(row):
        return "-"
    if is_gap(row):
        return f"[feature request]({link(row.entry.folder.parent, reports_root)}issue.md)"
    return f"[{row.project}]({link(row.entry.folder, reports_root)}issue.md)"


def _to_file_counts(rows: Sequence[Row]) -> collections.Counter[str]:
    """For each project, the bugs whose entries are all still to file (none known, reported or fixed)."""
    return collections.Counter(project for project, group in distinct_failures(rows) if all(map(to_file, group)))


def _coverage_markdown(sources: Sources) -> list[str]:
    cov = coverage(sources)
    lines = ["## Coverage", ""]
    if sources.campaigns:
        lines += [f"{len(sources.campaigns)} campaigns (reports/campaigns.jsonl):", ""]
        lines += _md_table(["date", "minutes", "checks", "examples/s", "new signatures", "known signatures"],
                           [_campaign_row(c) for c in sources.campaigns])
    else:
        lines += ["No campaigns recorded (reports/campaigns.jsonl is absent): the counts below are the corpus'.", ""]
    lines += ["Keras layer kinds: checks that drew the kind over all campaigns, corpus entries whose model holds it.",
              ""]
    lines += _md_table(["layer kind", "campaign checks", "corpus entries"], cov.layers)
    if cov.untried:
        lines += ["Layer kinds no campaign drew: " + ", ".join(cov.untried) + ".", ""]
    lines += ["ONNX operators: checks whose graph held the op over all campaigns, corpus entries whose model.onnx "
              "holds it.", ""]
    lines += _md_table(["op type", "campaign checks", "corpus entries"], cov.ops)
    return lines


# ---- index.html ---------------------------------------------------------------------------------------
_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 84em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
h3 { margin: 1.4em 0 .4em; font-size: 1.05em; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { border: 1px solid #d4d4d4; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.zero { color: #bbb; text-align: right; } td.route { white-space: nowrap; }
td.name { font-family: ui-monospace, monospace; font-size: .85em; max-width: 26em; overflow-wrap: anywhere; }
td.msg { max-width: 34em; color: #555; font-size: .9em; overflow-wrap: anywhere; }
td.upstream { max-width: 22em; font-size: .85em; overflow-wrap: anywhere; }
.lead { font-size: 1.1em; } .problem { color: #a00; } .muted { color: #777; }
.exception { color: #8a4b00; } .value, .shape, .dtype, .count, .declared-shape { color: #7a0a7a; }
.crash, .timeout { color: #b00; }
svg text { font: 11px system-ui, sans-serif; fill: #444; } svg .step { fill: none; stroke: #2a6fdb; stroke-width: 2; }
svg .point { fill: #2a6fdb; } svg .axis { stroke: #888; } svg .grid { stroke: #eee; }
nav a { margin-right: 1em; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(head: Sequence[str], rows: Iterable[Sequence[Any]], classes: Sequence[str] = (),
                row_class: str = "") -> list[str]:
    """A table of cells already escaped; `classes` gives each column's class (n: a number)."""
    lines = ["<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    tr = f'<tr class="{row_class}">' if row_class else "<tr>"
    for row in rows:
        cells = []
        for k, cell in enumerate(row):
            cls = classes[k] if k < len(classes) else ""
            cls = "zero" if cls == "n" and cell == 0 else cls
            cells.append(f'<td class="{cls}">{cell}</td>' if cls else f"<td>{cell}</td>")
        lines.append(tr + "".join(cells) + "</tr>")
    return lines + ["</table>"]


def index_html(sources: Sources, reports_root: Path) -> str:
    rows = sources.rows
    by_direction = collections.Counter(r.direction for r in rows)
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             "<title>roundtrip corpus</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             "<h1>roundtrip corpus</h1>",
             f'<p class="lead" id="count"><strong id="entry-count">{len(rows)}</strong> entries: '
             + ", ".join(f"{by_direction[d]} {_e(direction_text(d))}" for d in sorted(by_direction, key=_direction_key))
             + f"; {len(distinct_failures(rows))} distinct bugs.</p>"
             + (f"<p>{_e(_reduction_line(reports_root))}</p>" if _reduction_line(reports_root) else "")
             + _lines_html(_triage_lines(rows), "triage")
             + _lines_html(_by_design_lines(rows), "by-design")
             + _lines_html(_gap_lines(rows), "gaps"),
             '<nav><a href="#counts">counts</a><a href="#over-time">over time</a><a href="#entries">entries</a>'
             '<a href="#versions">versions</a><a href="#coverage">coverage</a>'
             + ('<a href="matrix.html">upgrade matrix</a>' if (reports_root / "matrix.html").is_file() else "")
             + "</nav>"]
    if sources.problems:
        parts += ['<section id="problems">', f'<h2 class="problem">Unreadable ({len(sources.problems)})</h2>', "<ul>"]
        parts += [f'<li class="problem">{_e(p)}</li>' for p in sources.problems] + ["</ul>", "</section>"]
    columns, table = _pivot(rows)
    parts += ['<section id="counts">', "<h2>Counts</h2>",
              "<p>Entries by route (the converters in order) and by stage/symptom.</p>"]
    parts += _html_table(["direction", "route", *columns, "entries"],
                         [(_e(direction_text(d)), _e(r), *counts, total) for d, r, counts, total in table],
                         ["", "route", *["n"] * (len(columns) + 1)])
    projects = collections.Counter(r.project for r in rows)
    failures = collections.Counter(project for project, _ in distinct_failures(rows))
    filing = _to_file_counts(rows)
    parts += ["<p>By the upstream project to file with (each new entry's <code>issue.md</code> is ready to paste; "
              "a bug known upstream is not to file):</p>"]
    parts += _html_table(["project", "entries", "bugs", "to file", "tracker"],
                         [(_e(p), projects[p], failures[p], filing[p], _e(TRACKERS.get(p, "-")))
                          for p in sorted(projects)], ["", "n", "n", "n", ""])
    parts += ["</section>", '<section id="over-time">', "<h2>Findings over time</h2>",
              "<p>Entries in the corpus by the day they were found (cumulative).</p>", plot_svg(_dates(rows)),
              "</section>", '<section id="entries">', "<h2>Entries</h2>"]
    for direction, route, group in grouped(rows):
        parts += [f"<h3>{_e(direction_text(direction))}: {_e(route)} ({len(group)})</h3>"]
        parts += _html_table(["entry", "stage/symptom", "kind", "blame", "opset", "message", "issue", "upstream"],
                             [_entry_cells(r, reports_root) for r in group],
                             ["name", "", "", "", "n", "msg", "", "upstream"], row_class="entry")
    parts += ["</section>", '<section id="versions">', "<h2>Versions</h2>",
              "<p>What the entries were found on (meta.json <code>versions</code>).</p>"]
    parts += _html_table(["package", "version", "entries"], [(_e(p), _e(v), n) for p, v, n in _versions(rows)],
                         ["", "", "n"])
    parts += ["</section>", *_coverage_html(sources), "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _entry_cells(row: Row, reports_root: Path) -> list[str]:
    href = link(row.entry.folder, reports_root)
    return [f'<a href="{_e(href)}">{_e(row.name)}</a>', _e(f"{row.stage}/{row.symptom}"),
            f'<span class="{_e(row.symptom)}">{_e(row.kind)}</span>', _e(row.blame), str(row.opset),
            f'<span title="{_e(row.message)}">{_e(_short(row.message, 160))}</span>',
            "-" if by_design(row) else f'<a href="{_e(href)}issue.md">{_e(row.project)}</a>', _triage_html(row)]


def _triage_html(row: Row) -> str:
    """The entry's triage, its upstream address a link."""
    found = triage_of(row)
    if found is None or not found.url:
        return _e(triage_text(row))
    text = _e(found.text())
    return text.replace(_e(found.url), f'<a href="{_e(found.url)}">{_e(found.url)}</a>', 1)


def _lines_html(lines: Sequence[str], cls: str) -> str:
    return "".join(f'<p class="{cls}">{_e(line)}</p>' for line in lines if line)


def _coverage_html(sources: Sources) -> list[str]:
    cov = coverage(sources)
    parts = ['<section id="coverage">', "<h2>Coverage</h2>"]
    if sources.campaigns:
        parts += [f'<p id="campaign-count">{len(sources.campaigns)} campaigns '
                  "(<code>reports/campaigns.jsonl</code>):</p>"]
        parts += _html_table(["date", "minutes", "checks", "examples/s", "new signatures", "known signatures"],
                             [[_e(c) for c in _campaign_row(c)] for c in sources.campaigns], ["", *["n"] * 5])
    else:
        parts += ['<p class="muted">No campaigns recorded (<code>reports/campaigns.jsonl</code> is absent): '
                  "the counts below are the corpus' alone.</p>"]
    parts += ['<h3 id="coverage-layers">Keras layer kinds</h3>',
              "<p>Checks that drew the kind, over all campaigns; corpus entries whose model holds it.</p>"]
    parts += _html_table(["layer kind", "campaign checks", "corpus entries"],
                         [(_e(k), a, b) for k, a, b in cov.layers], ["", "n", "n"], row_class="layer")
    if cov.untried:
        parts += [f'<p class="problem">Layer kinds no campaign drew: {_e(", ".join(cov.untried))}.</p>']
    parts += ['<h3 id="coverage-ops">ONNX operators</h3>',
              "<p>Checks whose ONNX graph held the op, over all campaigns; corpus entries whose "
              "<code>model.onnx</code> holds it.</p>"]
    parts += _html_table(["op type", "campaign checks", "corpus entries"],
                         [(_e(k), a, b) for k, a, b in cov.ops], ["", "n", "n"], row_class="op")
    return parts + ["</section>"]


def plot_svg(points: Sequence[tuple[str, int, int]], width: int = 720, height: int = 260) -> str:
    """A step plot of (day, new, total): one step and one point per day, days placed by date."""
    left, right, top, bottom = 48, 72, 18, 36
    if not points:
        return '<svg class="plot" width="720" height="40"><text x="0" y="24">no dated entries</text></svg>'
    days = [datetime.date.fromisoformat(day) for day, _, _ in points]
    span = max((days[-1] - days[0]).days, 1)
    most = max(total for _, _, total in points)
    inner_w, inner_h = width - left - right, height - top - bottom

    def x(day: datetime.date) -> float:
        return left + (inner_w / 2 if len(days) == 1 else inner_w * (day - days[0]).days / span)

    def y(count: int) -> float:
        return top + inner_h * (1 - count / most)

    coords = [(x(d), y(total)) for d, (_, _, total) in zip(days, points, strict=True)]
    path = f"M{coords[0][0]:.1f},{y(0):.1f} V{coords[0][1]:.1f}"
    for px, py in coords[1:]:
        path += f" H{px:.1f} V{py:.1f}"
    parts = [f'<svg class="plot" id="over-time-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="cumulative corpus entries by day">']
    for count in sorted({0, most // 2, most}):
        parts.append(f'<line class="grid" x1="{left}" x2="{left + inner_w}" y1="{y(count):.1f}" y2="{y(count):.1f}"/>')
        parts.append(f'<text x="{left - 6}" y="{y(count) + 4:.1f}" text-anchor="end">{count}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + inner_h}"/>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left + inner_w}" y1="{top + inner_h}" y2="{top + inner_h}"/>')
    parts.append(f'<path class="step" d="{path}"/>')
    every = max(1, -(-len(points) // 8))  # at most about 8 date labels
    for k, ((day, new, total), (px, py)) in enumerate(zip(points, coords, strict=True)):
        parts.append(f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="4" data-date="{day}" '
                     f'data-total="{total}"><title>{day}: {total} entries (+{new})</title></circle>')
        if k % every == 0 or k == len(points) - 1:
            parts.append(f'<text class="date" x="{px:.1f}" y="{top + inner_h + 16}" text-anchor="middle">{day}</text>')
        parts.append(f'<text class="total" x="{px + 7:.1f}" y="{py + 4:.1f}">{total} (+{new})</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# ---- issue.md ----------------------------------------------------------------------------------------




def failure_text(row: Row) -> str:
    """The kind and the gist of the message: `unsupported op Tile (KeyError: 'Tile')`,
    `ValueError in MaxPooling2D.call(): Computed output size ...`, `MaxPool node: padding values ...`."""
    category, _, name = row.kind.partition(":")
    if category == "unsupported-op" and name:
        return f"unsupported op {name} (KeyError: {row.message})"
    if category == "missing-attribute" and name:
        return f"attribute {name!r} missing (KeyError: {row.message})"
    error = row.kind.split(":")[-1]
    message = row.message.removeprefix(f"{error}: ")
    ort = re.search(r"while running (\w+) node\..*Status Message: (.*)", message)
    if ort:
        return f"{error} in {ort.group(1)} node: {ort.group(2)}"
    whole = plain(row.entry.finding.message)  # Keras' own line comes after its headline, maybe on the next
    keras = re.search(r"Exception encountered when calling ([\w.]+\(\))\.\s*(\S[^\n]*)", whole)
    if keras:
        return f"{error} in {keras.group(1)}: {keras.group(2)}"
    return f"{error}: {message}"


def issue_markdown(row: Row, related: Sequence[Row] = ()) -> str:
    """The upstream bug report of one entry (roundtrip.store.script.issue): the title, the versions, repro.py
    inline, expected against actual, the traceback trimmed to the upstream project's frames."""
    from roundtrip.store.script.issue import markdown
    from roundtrip.store.script.render import source_of

    entry = row.entry
    repro = (entry.folder / "repro.py").read_text() if (entry.folder / "repro.py").is_file() else ""
    err_log = (entry.folder / "err.log").read_text() if (entry.folder / "err.log").is_file() else ""
    python, system = entry.meta.get("python"), entry.meta.get("platform")
    where = f"Python {python}, {system}" if python and system else f"Python {platform.python_version()}"
    return markdown(source_of(entry.folder, entry.spec, entry.meta), row.name, repro, err_log, where,
                    [r.name for r in sorted(related, key=lambda r: r.name)])


# ---- replays ------------------------------------------------------------------------------------------
@dataclass
class ReplayResult:
    """One entry replayed: still (its signature shows again), fixed (nothing shows), changed (something
    else shows), or error (the replay itself raised)."""

    folder: str
    signature: str
    status: str  # "still" | "fixed" | "changed" | "error"
    now: list[str] = field(default_factory=list)  # the signatures seen now
    detail: str = ""


@dataclass(frozen=True)
class Change:
    """One entry between a baseline replay and this one; a status is "" where that replay lacks it."""

    folder: str
    signature: str
    before: str
    after: str


DIFF_KINDS = ("fixed", "broken", "changed", "new", "gone")


def versions_tag(versions: dict[str, str]) -> str:
    """A short, filesystem-safe name of the versions: tf2.21.0-keras3.15.1-tf2onnx1.17.0-onnx1.23.2-..."""
    parts = [f"{short}{versions[name]}" for name, short in TAG_PACKAGES
             if versions.get(name) not in (None, "", "absent")]
    return re.sub(r"[^A-Za-z0-9._+-]", "_", "-".join(parts)) or "unknown-versions"


def compare_replays(before: Sequence[ReplayResult], after: Sequence[ReplayResult]) -> dict[str, list[Change]]:
    """What differs, by signature: fixed (now fixed, not before), broken (fixed before, failing again now),
    changed (another status or other signatures now), new (not in the baseline), gone (not replayed now)."""
    old, new = {r.signature: r for r in before}, {r.signature: r for r in after}
    found: dict[str, list[Change]] = {kind: [] for kind in DIFF_KINDS}
    for signature in sorted(set(old) | set(new), key=lambda s: ((new.get(s) or old[s]).folder, s)):
        a, b = old.get(signature), new.get(signature)
        either = b or a
        assert either is not None
        change = Change(either.folder, signature, a.status if a else "", b.status if b else "")
        kind = _change_kind(a, b)
        if kind:
            found[kind].append(change)
    return found


def _change_kind(a: ReplayResult | None, b: ReplayResult | None) -> str:
    if a is None:
        return "new"
    if b is None:
        return "gone"
    if b.status == "fixed" and a.status != "fixed":
        return "fixed"
    if a.status == "fixed" and b.status in ("still", "changed"):
        return "broken"
    if a.status != b.status or sorted(a.now) != sorted(b.now):
        return "changed"
    return ""


def read_replay(path: Path) -> tuple[dict[str, str], list[ReplayResult]]:
    """The versions and results of a replay json; ReportError naming the file and field otherwise."""
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ReportError(f"{path}: unreadable ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: not a replay json (not JSON: {e})") from None
    if not isinstance(data, dict) or data.get("kind") != REPLAY_KIND:
        got = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise ReportError(f"{path}: not a replay json (field 'kind' is {got!r}, want {REPLAY_KIND!r})")
    versions, results = data.get("versions"), data.get("results")
    if not isinstance(versions, dict):
        raise ReportError(f"{path}: field 'versions' is not an object")
    if not isinstance(results, list):
        raise ReportError(f"{path}: field 'results' is not a list")
    return {str(k): str(v) for k, v in versions.items()}, [_result(item, path, k) for k, item in enumerate(results)]


def _result(item: Any, path: Path, k: int) -> ReplayResult:
    where = f"{path}: field 'results[{k}]"
    if not isinstance(item, dict):
        raise ReportError(f"{where}' is not an object")
    for key in ("folder", "signature", "status"):
        if not isinstance(item.get(key), str):
            raise ReportError(f"{where}.{key}' is missing or not a string")
    if item["status"] not in STATUSES:
        raise ReportError(f"{where}.status' is {item['status']!r}, want one of {', '.join(STATUSES)}")
    now = item.get("now", [])
    if not isinstance(now, list):
        raise ReportError(f"{where}.now' is not a list")
    return ReplayResult(item["folder"], item["signature"], item["status"], [str(s) for s in now],
                        str(item.get("detail", "")))


def write_replay(results: list[ReplayResult], reports_root: Path, versions: dict[str, str],
                 baseline: Path | None = None) -> tuple[Path, Path]:
    """Writes reports/replay-<versions tag>.json and .md: counts, the entries by status and, given a
    baseline replay json, what changed since.  Raises ReportError when the baseline is not one."""
    before = read_replay(baseline) if baseline is not None else None
    ordered = sorted(results, key=lambda r: (r.folder, r.signature))
    counts = {status: sum(r.status == status for r in ordered) for status in STATUSES}
    diff = compare_replays(before[1], ordered) if before is not None else None
    tag = versions_tag(versions)
    data: dict[str, Any] = {"kind": REPLAY_KIND, "schema": REPLAY_SCHEMA, "tag": tag,
                            "versions": dict(sorted(versions.items())), "counts": counts,
                            "results": [asdict(r) for r in ordered]}
    if before is not None and baseline is not None and diff is not None:
        data["baseline"] = {"file": baseline.name, "tag": versions_tag(before[0]), "versions": before[0],
                            "diff": {kind: [asdict(c) for c in changes] for kind, changes in diff.items()}}
    reports_root.mkdir(parents=True, exist_ok=True)
    json_path = _write(reports_root / f"replay-{tag}.json", json.dumps(data, indent=1, sort_keys=True) + "\n")
    md_path = _write(reports_root / f"replay-{tag}.md", replay_markdown(ordered, versions, diff,
                                                                         baseline.name if baseline else "",
                                                                         before[0] if before else None))
    return json_path, md_path


_STATUS_TEXT = {"still": "still failing", "fixed": "fixed", "changed": "changed", "error": "replay raised"}
_DIFF_TEXT = {"fixed": "Fixed since the baseline", "broken": "Broken again (fixed in the baseline)",
              "changed": "Changed (another status or other signatures)", "new": "New since the baseline",
              "gone": "In the baseline, not replayed now"}


def replay_markdown(results: Sequence[ReplayResult], versions: dict[str, str],
                    diff: dict[str, list[Change]] | None = None, baseline_name: str = "",
                    baseline_versions: dict[str, str] | None = None) -> str:
    counts = collections.Counter(r.status for r in results)
    lines = [f"# Replay on {versions_tag(versions)}", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".", "",
             f"{len(results)} entries: " + ", ".join(f"{counts[s]} {_STATUS_TEXT[s]}" for s in STATUSES) + ".", ""]
    if diff is not None:
        lines += [f"## Since {baseline_name}", ""]
        if baseline_versions is not None:
            lines += [f"Baseline versions: {versions_tag(baseline_versions)}.", ""]
        lines += _md_table(["difference", "entries"], [(_DIFF_TEXT[k], len(v)) for k, v in diff.items()])
        for kind, changes in diff.items():
            if changes:
                lines += [f"### {_DIFF_TEXT[kind]} ({len(changes)})", ""]
                lines += _md_table(["entry", "before", "now"],
                                   [(f"`{c.folder}`", c.before or "-", c.after or "-") for c in changes])
    for status in ("fixed", "changed", "error", "still"):
        group = [r for r in results if r.status == status]
        if not group:
            continue
        lines += [f"## {_STATUS_TEXT[status].capitalize()} ({len(group)})", ""]
        if status == "still":
            lines += [f"- `{r.folder}`" for r in group] + [""]
        else:
            lines += _md_table(["entry", "shows now", "detail"],
                               [(f"`{r.folder}`", _md_text("; ".join(r.now) or "nothing"),
                                 _md_text(_short(r.detail, 200)))
                                for r in group])
    return "\n".join(lines).rstrip() + "\n"
