"""Bugs met and not yet recorded: the smallest example of each signature, kept on disk beside the corpus
(`CORPUS/.pending/`, one JSON file per signature) from the moment it is met until its entry is written or it
is judged not to show again.  A run stopped while exploring or while shrinking loses nothing: the next
run of the same property records what it finds here first.

An item is plain data: the signature, the property (target) that met it, the check to run (the job, as
JSON), its size (`parts.size_of`), how many examples showed it, when it was first met, and why it is still
pending (the last run's reason, when one gave up on it)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roundtrip.oracle.outcome import GraphJob, Job

FOLDER = ".pending"


@dataclass
class Item:
    signature: str
    target: str  # the property that met it (the job's name)
    job: Job | GraphJob
    size: list[int]
    examples: int = 1
    met: str = ""  # ISO date of the first meeting
    reason: str = ""  # why it is still pending, once a run gave up on it
    smaller: bool = False  # a smaller example of a signature the corpus holds, not a new bug
    ops: list[str] = dataclasses.field(default_factory=list)  # the op (layer) kinds it was met on, each once

    def to_dict(self) -> dict[str, Any]:
        kind = "graph" if isinstance(self.job, GraphJob) else "model"
        return dataclasses.asdict(self) | {"job": {"kind": kind, **dataclasses.asdict(self.job)}}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Item:
        job = dict(data["job"])
        kind = job.pop("kind")
        made: Job | GraphJob = GraphJob(**job) if kind == "graph" else Job(**job)
        return Item(**{**data, "job": made})


def folder(root: Path) -> Path:
    return root / FOLDER


def _file(root: Path, signature: str) -> Path:
    return folder(root) / f"{hashlib.sha256(signature.encode()).hexdigest()[:16]}.json"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def put(root: Path, item: Item) -> Item:
    """Keeps `item` unless a smaller (or equal) example of its signature is pending already: then that one
    stays, counting one more example.  Returns the item kept.  Written atomically."""
    old = get(root, item.signature)
    if old is not None and old.size <= item.size:
        kept = dataclasses.replace(old, examples=old.examples + item.examples)
    else:
        kept = dataclasses.replace(item, examples=item.examples + (old.examples if old else 0),
                                   met=(old.met if old else "") or item.met or now())
    kept = dataclasses.replace(kept, ops=merged_ops(old, item))
    _save(root, kept)
    return kept


def merged_ops(*items: Item | None) -> list[str]:
    """The op kinds the items were met on, sorted, each once."""
    return sorted({op for item in items if item is not None for op in item.ops})


def _save(root: Path, item: Item) -> None:
    target = _file(root, item.signature)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(item.to_dict(), f, indent=1, sort_keys=True)
    os.replace(tmp, target)


def note(root: Path, signature: str, reason: str) -> None:
    """Says why an item is still pending (a run gave up on it)."""
    item = get(root, signature)
    if item is not None:
        _save(root, dataclasses.replace(item, reason=reason))


def get(root: Path, signature: str) -> Item | None:
    try:
        return Item.from_dict(json.loads(_file(root, signature).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def items(root: Path, target: str | None = None) -> list[Item]:
    """The pending items (of one property, when `target` is given), oldest first; unreadable files are
    left out (a write in flight is never seen: writes are atomic)."""
    found = []
    for path in sorted(folder(root).glob("*.json")) if folder(root).is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            found.append(Item.from_dict(json.loads(path.read_text())))
    return sorted((i for i in found if target is None or i.target == target), key=lambda i: (i.met, i.signature))


def remove(root: Path, signature: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _file(root, signature).unlink()
