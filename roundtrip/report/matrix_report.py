"""The upgrade matrix written out: reports/matrix.json (read back by read_matrix), matrix.md and matrix.html
(a page of the HTML report, linked from index.html)."""

from __future__ import annotations

import collections
import datetime
import html
import json
from pathlib import Path
from typing import Any

from roundtrip import registry
from roundtrip.convert.envs import normalise
from roundtrip.report.matrix import STATUSES, Cell, Change, Column, Matrix, Row, counts

SCHEMA = 1
KEY_PACKAGES = (*(normalise(p.name) for p in registry.PACKAGES), "numpy", "protobuf")


class MatrixError(ValueError):
    """A matrix json that cannot be read; the message names the file and the field."""


def to_json(matrix: Matrix) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "date": matrix.date, "seconds": round(matrix.seconds, 1), "workers": matrix.workers,
        "environments": [vars(c) for c in matrix.columns],
        "entries": [{"entry": r.entry, "signature": r.signature, "home": r.home,
                     "cells": {k: vars(cell) | {"seconds": round(cell.seconds, 1)} for k, cell in r.cells.items()}}
                    for r in matrix.rows],
        "changes": [vars(c) | {"versions": {k: list(v) for k, v in c.versions.items()}} for c in matrix.changes],
    }


def read_matrix(path: Path) -> Matrix:
    """A matrix json written by write(); MatrixError naming the file and the field otherwise."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise MatrixError(f"{path}: unreadable ({e})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise MatrixError(f"{path}: field 'schema' is not {SCHEMA}: not a matrix json")
    try:
        columns = [Column(**c) for c in data["environments"]]
        rows = [Row(r["entry"], r["signature"], r["home"], {k: Cell(**v) for k, v in r["cells"].items()})
                for r in data["entries"]]
        found = [Change(**(c | {"versions": {k: tuple(v) for k, v in c["versions"].items()}})) for c in data["changes"]]
    except (KeyError, TypeError, AttributeError) as e:
        raise MatrixError(f"{path}: field {e} is missing or malformed") from None
    return Matrix(columns, rows, str(data.get("date", "")), float(data.get("seconds", 0.0)),
                  int(data.get("workers", 1)), found)


def write(matrix: Matrix, reports: Path) -> list[Path]:
    """reports/matrix.json, matrix.md and matrix.html."""
    reports.mkdir(parents=True, exist_ok=True)
    if not matrix.date:
        matrix.date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    paths = [reports / "matrix.json", reports / "matrix.md", reports / "matrix.html"]
    paths[0].write_text(json.dumps(to_json(matrix), indent=1, sort_keys=True) + "\n")
    paths[1].write_text(markdown(matrix))
    paths[2].write_text(page(matrix))
    return paths


def versions_text(column: Column) -> str:
    versions = {normalise(k): v for k, v in column.versions.items()}
    return ", ".join(f"{k} {versions[k]}" for k in KEY_PACKAGES if k in versions)


def built_text(column: Column) -> str:
    """How long the environment took to build (`make onnx2tf-env` does not time the venv it makes)."""
    if not column.usable:
        return "did not install"
    if column.cached and not column.build_seconds:
        return "made before, not timed"
    return f"{column.build_seconds:.0f} s" + (" (cached)" if column.cached else "")


def change_line(change: Change) -> str:
    """`entry`: shows on pinned -> fixed on ort-1.32.0 (onnxruntime 1.31.1 -> 1.32.0): why."""
    key = {k: v for k, v in change.versions.items() if normalise(k) in KEY_PACKAGES}
    shown = key or change.versions
    moved = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in shown.items())
    if len(change.versions) > len(shown):
        moved += f", {len(change.versions) - len(shown)} more"
    line = f"`{change.entry}`: {change.before} on {change.from_env} -> {change.after} on {change.to_env}"
    line += f" ({moved or 'the same versions'})"
    return line + (f": {' '.join(change.why.split())[:240]}" if change.why and change.after != "fixed" else "")


def cannot_reasons(matrix: Matrix) -> list[tuple[str, str, int]]:
    """(environment, reason, entries) for the cells that could not run."""
    found: collections.Counter[tuple[str, str]] = collections.Counter()
    for row in matrix.rows:
        for name, cell in row.cells.items():
            if cell.status == "cannot":
                found[name, cell.why] += 1
    order = [c.name for c in matrix.columns]
    return sorted(((e, w, n) for (e, w), n in found.items()), key=lambda t: (order.index(t[0]), t[1]))


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(matrix: Matrix) -> str:
    names = [c.name for c in matrix.columns]
    lines = ["# Upgrade matrix", "",
             f"{len(matrix.rows)} corpus entries, each entry's repro.py run with each environment's Python "
             f"({matrix.workers} at a time, {matrix.seconds / 60:.1f} min in all; {matrix.date}).  "
             "shows: the bug shows; fixed: the script ran to its end; changed: it failed otherwise (another "
             "exception, or the same from elsewhere); cannot: it cannot run there (below why).", "",
             "## Environments", "",
             "| environment | pin file | versions | built in | replayed in | shows | fixed | changed | cannot |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in matrix.columns:
        n = counts(matrix, c.name)
        built = built_text(c)
        lines.append(f"| {c.name} | `{_md(Path(c.pins).name)}` | {_md(versions_text(c))} | {built} | "
                     f"{c.replay_seconds / 60:.1f} min | " + " | ".join(str(n[s]) for s in STATUSES) + " |")
    for c in matrix.columns:
        if not c.usable:
            lines += ["", f"`{c.name}` did not install ({c.pins}):", "", "```", c.why, "```"]
    lines += ["", f"## Status changes ({len(matrix.changes)})", "",
              "Each against the entry's home (the environment of the pinned stack that recorded it), with the "
              "versions that differ.", ""]
    lines += [f"- {change_line(c)}" for c in matrix.changes] or ["None."]
    lines += ["", "## Could not run", ""]
    lines += [f"- {name}: {n} entries: {why}" for name, why, n in cannot_reasons(matrix)] or ["Every entry ran."]
    lines += ["", "## Entries", "", "| entry | home | " + " | ".join(names) + " |",
              "|---|---|" + "---|" * len(names)]
    for row in matrix.rows:
        lines.append(f"| `{row.entry}` | {row.home} | " + " | ".join(_md_cell(row.cells[n]) for n in names) + " |")
    return "\n".join(lines) + "\n"


def _md_cell(cell: Cell) -> str:
    if cell.status == "changed":
        return f"**changed**: {_md(' '.join(cell.why.split())[:120])}"
    return {"fixed": "**fixed**", "cannot": "-"}.get(cell.status, cell.status)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 96em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { border: 1px solid #d4d4d4; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.name { font-family: ui-monospace, monospace; font-size: .85em; }
td.shows { background: #fde8e8; } td.fixed { background: #e3f6e3; font-weight: bold; }
td.changed { background: #fff1d6; } td.cannot { color: #aaa; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
"""


def page(matrix: Matrix) -> str:
    names = [c.name for c in matrix.columns]
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             "<title>roundtrip upgrade matrix</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             '<p><a href="index.html">corpus report</a></p>', "<h1>Upgrade matrix</h1>",
             f"<p>{len(matrix.rows)} entries x {len(names)} environments; each cell is the entry's repro.py run "
             f"with that environment's Python ({_e(matrix.date)}, {matrix.seconds / 60:.1f} min).</p>",
             "<h2>Environments</h2>", "<table>",
             "<tr><th>environment</th><th>versions</th><th>built in</th>"
             + "".join(f"<th>{s}</th>" for s in STATUSES) + "</tr>"]
    for c in matrix.columns:
        n = counts(matrix, c.name)
        built = built_text(c)
        parts.append(f"<tr><td>{_e(c.name)}</td><td>{_e(versions_text(c))}</td><td>{_e(built)}</td>"
                     + "".join(f"<td>{n[s]}</td>" for s in STATUSES) + "</tr>")
    parts.append("</table>")
    for c in matrix.columns:
        if not c.usable:
            parts += [f"<p>{_e(c.name)} did not install:</p>", f"<pre>{_e(c.why)}</pre>"]
    parts += [f"<h2>Status changes ({len(matrix.changes)})</h2>", "<ul>"]
    parts += [f"<li>{_e(change_line(c))}</li>" for c in matrix.changes] + ["</ul>", "<h2>Entries</h2>", "<table>",
                                                                           "<tr><th>entry</th><th>home</th>"
                                                                           + "".join(f"<th>{_e(n)}</th>" for n in names)
                                                                           + "</tr>"]
    for row in matrix.rows:
        cells = "".join(f'<td class="{c.status}" title="{_e(c.why)}">{_e(c.status)}</td>'
                        for c in (row.cells[n] for n in names))
        parts.append(f'<tr><td class="name">{_e(row.entry)}</td><td>{_e(row.home)}</td>{cells}</tr>')
    parts += ["</table>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
