"""Triage: what a maintainer's answer made of an entry, kept in its meta.json under "triage".

    new             found, not filed, not found in the upstream tracker (an entry without "triage" is new)
    known           someone else already reported it upstream: `url` is that issue or pull request
    reported        we filed it upstream: `url` is the issue
    by-design       the upstream project does it on purpose: `url` says so, `reason` in a sentence
    fixed-upstream  fixed in `version` of the package at fault (`url`: the fix, when known)

A by-design entry stays in the corpus and in the regression replay (the behaviour is still checked), but
leaves the bug counts and the upstream issue drafts.  A known, reported or fixed-upstream entry is still a bug
(counted, with its issue.md) but not one to file: the issues to file are the new entries alone.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("new", "known", "reported", "by-design", "fixed-upstream")
# What each status needs besides itself.
NEEDS = {"new": (), "known": ("url",), "reported": ("url",), "by-design": ("url", "reason"),
         "fixed-upstream": ("version",)}
# An issue or pull request of a tracker: what a known entry points at.
ISSUE_URL = re.compile(r"/(issues|pull)/\d+(#.*)?/?$")


class TriageError(ValueError):
    """Bad triage input; the message names the file and the field."""


@dataclass(frozen=True)
class Triage:
    status: str = "new"
    url: str | None = None
    reason: str | None = None
    version: str | None = None
    date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "url": self.url, "reason": self.reason, "version": self.version,
                "date": self.date}

    @property
    def counts_as_bug(self) -> bool:
        return self.status != "by-design"

    @property
    def to_file(self) -> bool:
        """Whether an issue is still to be filed upstream: only a new entry's."""
        return self.status == "new"

    def text(self) -> str:
        """The status as the reports show it: `new`, `known (url)`, `by design (url, reason)`,
        `reported (url)`, `fixed-upstream (in version, url)`."""
        details = {"known": [self.url], "reported": [self.url], "by-design": [self.url, self.reason],
                   "fixed-upstream": [self.version and f"in {self.version}", self.url]}.get(self.status, [])
        said = ", ".join(d for d in details if d)
        words = "by design" if self.status == "by-design" else self.status
        return f"{words} ({said})" if said else words


def of(meta: dict[str, Any], where: str = "meta.json") -> Triage:
    """The entry's triage (new when it has none); a malformed one is a TriageError naming `where`."""
    data = meta.get("triage")
    if data is None:
        return Triage()
    if not isinstance(data, dict):
        raise TriageError(f"{where}: field 'triage' is not an object")
    triage = Triage(str(data.get("status", "new")), data.get("url"), data.get("reason"), data.get("version"),
                    data.get("date"))
    check(triage, where)
    return triage


def check(triage: Triage, where: str) -> None:
    if triage.status not in STATUSES:
        raise TriageError(f"{where}: field 'triage.status' is {triage.status!r}, not one of {', '.join(STATUSES)}")
    for field in NEEDS[triage.status]:
        if not getattr(triage, field):
            raise TriageError(f"{where}: status {triage.status!r} needs field 'triage.{field}' (--{field})")
    if triage.url is not None and not triage.url.startswith(("https://", "http://")):
        raise TriageError(f"{where}: field 'triage.url' is {triage.url!r}, not an http(s) address")
    if triage.status == "known" and not ISSUE_URL.search(str(triage.url)):
        raise TriageError(f"{where}: status 'known' needs field 'triage.url' to be an upstream issue or pull "
                          f"request (.../issues/N or .../pull/N), not {triage.url!r}")


def set_status(folder: Path, status: str, *, url: str | None = None, reason: str | None = None,
               version: str | None = None) -> Triage:
    """Writes the triage into folder/meta.json (atomically) and returns it."""
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise TriageError(f"{meta_path}: unreadable ({e})") from None
    date = datetime.datetime.now(datetime.UTC).date().isoformat()
    triage = Triage(status, url, reason, version, date)
    check(triage, str(meta_path))
    meta["triage"] = triage.to_dict()
    fd, tmp = tempfile.mkstemp(prefix=".meta-", dir=folder)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, meta_path)
    return triage
