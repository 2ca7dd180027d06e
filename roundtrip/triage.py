"""Triage: what a maintainer's answer made of an entry, kept in its meta.json under "triage".

    new             found, not filed (an entry without "triage" is new)
    reported        filed upstream: `url` is the issue
    by-design       the upstream project does it on purpose: `url` says so, `reason` in a sentence
    fixed-upstream  fixed in `version` of the package at fault (`url`: the fix, when known)

A by-design entry stays in the corpus and in the regression replay (the behaviour is still checked), but
leaves the bug counts and the upstream issue drafts.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("new", "reported", "by-design", "fixed-upstream")
# What each status needs besides itself.
NEEDS = {"new": (), "reported": ("url",), "by-design": ("url", "reason"), "fixed-upstream": ("version",)}


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
