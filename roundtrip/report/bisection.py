"""When an entry's bug came or went: its repro.py run in environments that differ by one package's release.

    found = bisect(entry, base, package, releases_between(all_releases(package), "1.29.0", "1.29.24"))

Each release gets an environment of its own: the base environment's pins with that release (and the
pins that release needs; roundtrip.convert.envs.with_release), built once and kept in .envs/bisect/.  The two ends
are run first; when their statuses differ, the range is halved until two neighbouring releases differ: the
later one is where the status changed (one change in the range is assumed, as `git bisect` does).  A
release whose environment does not install, or that cannot run the entry, is skipped.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from roundtrip.convert.envs import Env, EnvError, build, modules_in, with_release
from roundtrip.report.matrix import Cell, cannot, needs, run_cell
from roundtrip.store import corpus


@dataclass
class Bisection:
    package: str
    base: str  # the environment whose other pins every release shares
    statuses: dict[str, Cell] = field(default_factory=dict)  # release -> its cell, for each release run
    first: str | None = None  # the first release whose status differs from the lowest's
    last_before: str | None = None  # the release before it

    def status(self, version: str) -> str:
        return self.statuses[version].status

    @property
    def kind(self) -> str:
        """fixed_in, shows_since or changed_in (the first release's status against the one before)."""
        if self.first is None or self.last_before is None:
            return ""
        before, after = self.status(self.last_before), self.status(self.first)
        if before == "shows" and after == "fixed":
            return "fixed_in"
        return "shows_since" if after == "shows" else "changed_in"


def all_releases(package: str, sources: Sequence[str] = ()) -> list[str]:
    """The releases of `package` on the index (or the folders of `sources`), asked with `pip index
    versions`; EnvError when pip finds none."""
    done = subprocess.run([sys.executable, "-m", "pip", "index", "versions", package, "--disable-pip-version-check",
                           *sources], capture_output=True, text=True, errors="replace", timeout=300)
    listed = re.search(r"^Available versions: (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not listed:
        said = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        raise EnvError(f"no release of {package} found ({said})")
    return [v.strip() for v in listed.group(1).split(",") if v.strip()]


def releases_between(releases: Sequence[str], low: str | None, high: str | None, package: str = "") -> list[str]:
    """The final releases from `low` to `high` (both included; None: no bound), oldest first; EnvError
    when there is none or a bound is not a version."""
    try:
        lo = Version(low) if low else None
        hi = Version(high) if high else None
    except InvalidVersion as e:
        raise EnvError(f"--from/--to: {e}") from None
    chosen = []
    for text in releases:
        try:
            v = Version(text)
        except InvalidVersion:
            continue
        if not v.is_prerelease and (lo is None or v >= lo) and (hi is None or v <= hi):
            chosen.append(v)
    if not chosen:
        have = ", ".join(releases[:8]) + (", ..." if len(releases) > 8 else "")
        raise EnvError(f"no release of {package or 'the package'} from {low or 'the first'} to {high or 'the last'} "
                       f"(the index has {have or 'none'})")
    return [str(v) for v in sorted(chosen)]


def status_at(entry: corpus.Entry, base: Env, package: str, version: str, cache: Any,
              log: Callable[[str], None] | None = None) -> Cell:
    """The entry's cell in `base` with `package` at `version`."""
    built = build(with_release(base, package, version, cache), log=log)
    modules = modules_in(built.python, sorted(needs(entry.folder / "repro.py"))) if built.python else set()
    reason = cannot(entry, built, modules)
    if reason is not None:
        return Cell("cannot", reason.why + (f": {built.error.splitlines()[-1]}" if built.error else ""))
    assert built.python is not None
    return run_cell(entry, built.python)


def bisect(entry: corpus.Entry, base: Env, package: str, releases: Sequence[str], cache: Any,
           log: Callable[[str], None] | None = None) -> Bisection:
    """The first of `releases` (oldest first) where the entry's status differs from its status at the first."""
    found = Bisection(package, base.name)
    candidates = list(releases)

    def at(k: int) -> str:
        version = candidates[k]
        if version not in found.statuses:
            found.statuses[version] = status_at(entry, base, package, version, cache, log)
            if log is not None:
                cell = found.statuses[version]
                log(f"{package} {version}: {cell.status}" + (f" ({cell.why})" if cell.why else ""))
        return found.status(version)

    while candidates and at(0) == "cannot":  # the ends must run
        candidates.pop(0)
    while len(candidates) > 1 and at(len(candidates) - 1) == "cannot":
        candidates.pop()
    if len(candidates) < 2 or at(0) == at(len(candidates) - 1):
        return found
    lo, hi = 0, len(candidates) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        status = at(mid)
        if status == "cannot":
            candidates.pop(mid)
            hi -= 1
            continue
        if status == at(lo):
            lo = mid
        else:
            hi = mid
    found.first, found.last_before = candidates[hi], candidates[lo]
    return found


def record(meta: dict[str, Any], found: Bisection) -> dict[str, Any]:
    """meta.json with what the bisection found, under "history" -> package (one record a package)."""
    if not found.kind or found.first is None or found.last_before is None:
        return meta
    history = dict(meta.get("history") or {})
    history[found.package] = {
        found.kind: found.first, "last_before": found.last_before,
        "before": found.status(found.last_before), "after": found.status(found.first),
        "base": found.base, "checked": {v: c.status for v, c in sorted(found.statuses.items(),
                                                                         key=lambda kv: Version(kv[0]))},
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return meta | {"history": history}
