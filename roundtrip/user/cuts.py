"""The smallest part of a user's model (or graph) that still shows a finding: each cut checked in a worker and
saved in a folder of its own, and a bisection over the layers (nodes) in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from roundtrip.finding.findings import Finding


@dataclass(frozen=True)
class Written:
    """What became of a finding: the entry folder that holds it (None when none does) and how it got there."""

    folder: Path | None
    note: str


@dataclass
class Cuts:
    """Checks of `job` cut after a layer (node), or that layer alone, in the worker `key` of `pool`; each saved
    in a folder of `scratch`.  `checked` is the class of what a check answers."""

    pool: Any
    key: str
    job: Any  # a Job or GraphJob on a user's file
    finding: Finding
    scratch: Path
    checked: type[Any]
    tries: int = 0

    def shows(self, cut: str, alone: bool) -> tuple[Any, Path, Any] | None:
        """(what the check answered, its folder, the job) when the cut shows the finding, else None."""
        self.tries += 1
        folder = self.scratch / f"try{self.tries}"
        attempt = replace(self.job, file=replace(self.job.user, cut=cut, alone=alone, locate=not cut,
                                                 save=str(folder)))
        status, result = self.pool.call(self.key, attempt)
        if status != "done" or not isinstance(result, self.checked):
            return None
        found = {f.signature for f in result.outcome.findings}
        return (result, folder, attempt) if self.finding.signature in found else None

    def first_showing(self, names: list[str]) -> str:
        """The first name whose cut shows the finding (see `bisect`)."""
        return bisect(names, lambda name: self.shows(name, False) is not None)


def bisect(names: list[str], holds: Callable[[str], bool]) -> str:
    """The first name whose cut shows the finding, taking every cut after it to show it too; "" when the last
    does not (the model's outputs are not its last layer's, or the finding needs all of it)."""
    if not names or not holds(names[-1]):
        return ""
    low, high = 0, len(names) - 1
    while low < high:
        middle = (low + high) // 2
        if holds(names[middle]):
            high = middle
        else:
            low = middle + 1
    return names[low]
