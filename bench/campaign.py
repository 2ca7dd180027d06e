"""What a campaign yields: `roundtrip fuzz` from an empty corpus, then its figures per property.

    .venv/bin/python bench/campaign.py [--minutes 10] [--workers 2] [--seed 12] [--out bench/results]

Runs the campaign as a user does (the `roundtrip` command, its own process) into a temporary corpus and
reports folder, so that nothing is written to corpus/ or reports/, and reads the line it wrote to
campaigns.jsonl: per property the runs, checks, CPU seconds and share, new bugs met, seconds to the first
and entries written; overall the new bugs per CPU-hour, what stayed pending and why.  Prints a Markdown table
and writes the figures, the machine and the entries written to `bench/results/<date>-campaign.json`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench import machine, machine_line  # noqa: E402 - after the path is set


def run(minutes: float, workers: int, seed: int, workdir: Path) -> dict[str, Any]:
    """The campaign's own record, with the wall time of the command and the entries it wrote."""
    corpus, reports = workdir / "corpus", workdir / "reports"
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "roundtrip.cli", "fuzz", "--minutes", str(minutes), "--workers",
                           str(workers), "--seed", str(seed), "--database", "none", "--corpus", str(corpus),
                           "--reports", str(reports)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"roundtrip fuzz exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    record = json.loads((reports / "campaigns.jsonl").read_text().splitlines()[-1])
    entries = []
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir() and not p.name.startswith(".")):
        meta = json.loads((folder / "meta.json").read_text())
        repro = meta.get("repro", {})
        entries.append({"folder": folder.name, "path": meta["path"], "size": meta["size"],
                        "one_minimal": meta.get("shrink", {}).get("one_minimal"),
                        "repro_lines": len((folder / "repro.py").read_text().splitlines()),
                        "repro_shows": repro.get("shows")})
    return {"wall_seconds": round(wall, 1), "record": record, "entries": entries, "stdout_tail": done.stdout[-4000:]}


def table(result: dict[str, Any]) -> list[str]:
    record = result["record"]
    cpu = record["cpu_seconds"] or 1.0
    lines = ["| property | runs | checks | CPU s | CPU share | new bugs | first new bug at | written |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in sorted(record["per_property"].items(), key=lambda kv: -kv[1]["cpu"]):
        first = f"{t['first_new']:.0f} s" if t["first_new"] is not None else "-"
        lines.append(f"| {name} | {t['runs']} | {t['checks']} | {t['cpu']:.0f} | {t['cpu'] / cpu:.0%} | {t['new']} | "
                     f"{first} | {t['written']} |")
    minimal = sum(1 for e in result["entries"] if e["one_minimal"])
    lines += ["", f"{record['checks']} checks in {record['minutes']} min ({result['wall_seconds']:.0f} s wall with the "
              f"reports), {record['cpu_seconds']:.0f} CPU s; {record['new_bugs']} new bugs met, "
              f"{record['new_bugs_per_cpu_hour']} per CPU-hour; {len(result['entries'])} entries written "
              f"({minimal} 1-minimal), {len(record['pending'])} left pending"
              + (f" ({'; '.join(sorted({p['reason'] or 'not recorded yet' for p in record['pending']}))})"
                 if record["pending"] else "")]
    if record.get("skipped"):
        lines.append(f"not run here: {', '.join(record['skipped'])}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    info = machine()
    print(machine_line(info))
    result = run(args.minutes, args.workers, args.seed, Path(tempfile.mkdtemp(prefix="roundtrip-bench-campaign-")))
    result |= {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": info,
               "minutes": args.minutes, "workers": args.workers, "seed": args.seed}
    for line in table(result):
        print(line)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{datetime.date.today().isoformat()}-campaign.json"
    target.write_text(json.dumps(result, indent=1, sort_keys=True))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
