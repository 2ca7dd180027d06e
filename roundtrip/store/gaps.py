"""A package's feature gaps: the ops (and cases) it does not implement or refuses in its own words, kept apart
from its bugs.

    corpus/<package>-feature-gaps/
        <entry>/          one ordinary entry per gap (spec.json, meta.json with "gap", model.onnx, repro.py ...)
        gaps.json         the list: op, opset, what the package says, entry folder
        issue.md          one feature request listing every op, each with its one-node repro inline
        repro.py          runs each entry's repro.py; exits 1 while any op is still missing, 0 once all convert

A gap is not a bug: the reports and a campaign's bug counts leave it out (`is_gap`), the regression replay
checks it like any entry (`roundtrip.store.corpus.entries` lists the entries below the folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from roundtrip import registry
from roundtrip.finding.findings import Finding, headline, plain_text
from roundtrip.registry import TRACKERS
from roundtrip.store.script.verdict import script_says


def is_gap(meta: dict[str, Any]) -> bool:
    """Whether an entry's meta.json is a feature gap's (not a bug)."""
    return bool(meta.get("gap"))


def listing(home: Path) -> list[dict[str, Any]]:
    """One row per gap entry below `home`, by op."""
    rows = []
    for folder in sorted(home.iterdir()):
        meta_path = folder / "meta.json"
        if not folder.is_dir() or folder.name.startswith(".") or not meta_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        finding = Finding.from_dict(meta["finding"])
        rows.append({"op": meta.get("gap") or finding.gap, "opset": meta.get("opset"),
                     "says": headline(plain_text(script_says(meta) or finding.message))[:200], "entry": folder.name,
                     "upstream": upstream_said(meta.get("triage") or {})})
    return sorted(rows, key=lambda row: (str(row["op"]), str(row["entry"])))


def upstream_said(triage: dict[str, Any]) -> str:
    """What the tracker holds of a gap (`roundtrip triage`): "known: URL" for a request already open there."""
    status, url = triage.get("status") or "new", triage.get("url") or ""
    return f"{status}: {url}" if url else status


def write_summary(home: Path) -> None:
    """gaps.json, issue.md and repro.py of the gap folder `home`, from the entries below it."""
    package = home.name.removesuffix("-feature-gaps")
    rows = listing(home)
    (home / "gaps.json").write_text(json.dumps(rows, indent=1) + "\n")
    (home / "issue.md").write_text(issue_text(package, rows, home))
    (home / "repro.py").write_text(runner_text(package, [str(r["entry"]) for r in rows]))


def issue_text(package: str, rows: list[dict[str, Any]], home: Path) -> str:
    """One feature request for every gap of `package`, each op's one-node repro inline."""
    ops = ", ".join(dict.fromkeys(str(r["op"]) for r in rows))
    does, what = registry.package(package).gap_verb, registry.package(package).gap_unit
    lines = [f"# Feature request: {package} {does} {len(rows)} {what} case(s): {ops}", "",
             f"<!-- roundtrip feature gaps of {package}: file at {TRACKERS.get(package, package)} -->", "",
             f"**Versions:** {versions_said(home, rows)}.", "",
             f"{package} refuses each of these in its own code (no converter or kernel for the op, or the case "
             "refused with its own message). They are listed together as one request, not as bugs. Each script "
             "below is the smallest graph (or model) found that shows it, and exits 1 while the op is missing.", "",
             "| op | opset | what it says | upstream |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['op']} | {r['opset']} | {str(r['says']).replace('|', '/')} | {r.get('upstream', 'new')} |"
              for r in rows]
    known = [str(r["op"]) for r in rows if str(r.get("upstream", "")).startswith("known")]
    if known:
        lines += ["", f"Already requested upstream: {', '.join(known)} (the links above); listed here with the "
                  "smallest repro found, to add to those threads rather than file again."]
    lines.append("")
    for row in rows:
        script = (home / str(row["entry"]) / "repro.py")
        text = script.read_text().rstrip() if script.exists() else "(no script)"
        lines += [f"<details><summary>{row['op']} (opset {row['opset']})</summary>", "", "```python", text, "```",
                  "", "</details>", ""]
    lines += ["---", "", "Found by roundtrip, a property-based fuzzer of Keras <-> ONNX converters."]
    return "\n".join(lines) + "\n"


def versions_said(home: Path, rows: list[dict[str, Any]]) -> str:
    """The versions the scripts run with, as the first script's header says them."""
    for row in rows:
        script = home / str(row["entry"]) / "repro.py"
        lines = script.read_text().splitlines() if script.exists() else []
        if len(lines) > 1 and lines[1].startswith("# "):
            return lines[1][2:].rstrip(".")
    return "(no script)"


def runner_text(package: str, folders: list[str]) -> str:
    """A script that runs each gap's repro.py beside it and says which ops are still missing."""
    return "\n".join([
        f"# {package}: its feature gaps, each a one-node repro in the folder beside this script.",
        "# Exits 1 while any is still missing, 0 once every one converts.",
        "import pathlib, subprocess, sys",
        "",
        "here = pathlib.Path(__file__).resolve().parent",
        f"folders = {folders!r}",
        "missing = [name for name in folders",
        "           if subprocess.run([sys.executable, 'repro.py'], cwd=here / name,",
        "                             capture_output=True).returncode != 0]",
        "print(f'{len(missing)} of {len(folders)} still missing: {missing}')",
        "sys.exit(1 if missing else 0)",
        ""])
