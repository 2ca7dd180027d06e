"""Every corpus entry replayed under the installed versions.

Still reproducing is the expected state (a strict xfail on StillFails); a fixed entry XPASSes and so
fails the run, saying so; an entry whose symptom changed fails with what it shows now."""

from __future__ import annotations

import pytest

from properties.conftest import CORPUS
from roundtrip.convert.back import missing_environment
from roundtrip.search.harness import Harness
from roundtrip.store import corpus


class StillFails(AssertionError):
    pass


def _marks(entry: corpus.Entry) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.xfail(raises=StillFails, strict=True, reason=entry.signature)]
    missing = missing_environment(entry.meta.get("back", ""))
    if missing:
        marks.append(pytest.mark.skip(reason=missing))
    return marks


def _params() -> list[object]:
    return [pytest.param(entry, id=entry.folder.name, marks=_marks(entry)) for entry in corpus.entries(CORPUS)]


@pytest.mark.parametrize("entry", _params())
def test_corpus_entry(harness: Harness, entry: corpus.Entry) -> None:
    status, findings = harness.replay(entry)
    if status == "still":
        raise StillFails(entry.signature)
    assert status == "fixed", "the symptom changed; now: " + "; ".join(f.describe() for f in findings)
