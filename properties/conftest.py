"""Hypothesis profiles and the shared harness for the properties.

Profiles (ROUNDTRIP_PROFILE=NAME, or `pytest properties/ --hypothesis-profile=NAME`):
- gate (the default): the regression gate.  GATE_EXAMPLES examples a property, derandomised (the same
  examples every run, on every machine), no example database, no shrinking: it passes when the corpus holds
  every bug those examples meet, and fails naming each one it does not (see roundtrip.search.harness).
- campaign (what `roundtrip fuzz` runs, with --hypothesis-seed): random, many examples; a run ends when its
  plan ($ROUNDTRIP_RUN) says.

$ROUNDTRIP_MAX_EXAMPLES and $ROUNDTRIP_DATABASE (a folder, `redis://host:port`, or `none`) override the
profile's example count and database.  ROUNDTRIP_RECORD=1 makes the gate's run a writing one: the bugs it
meets are reduced and written to the corpus.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from roundtrip.search.database import open_database
from roundtrip.search.harness import Harness
from roundtrip.search.warm import shared_pool

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
CORPUS = Path(os.environ.get("ROUNDTRIP_CORPUS", Path(__file__).resolve().parent.parent / "corpus"))
GATE_EXAMPLES = 10

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],  # nothing is raised to Hypothesis: no shrinking
}
settings.register_profile("gate", settings(max_examples=GATE_EXAMPLES, derandomize=True, database=None, **_COMMON))
settings.register_profile("campaign", settings(max_examples=100_000, **_COMMON))
_PROFILE = os.environ.get("ROUNDTRIP_PROFILE") or ("campaign" if os.environ.get("ROUNDTRIP_RUN") else "gate")
settings.load_profile(_PROFILE)
if os.environ.get("ROUNDTRIP_MAX_EXAMPLES") or os.environ.get("ROUNDTRIP_DATABASE"):
    _overrides: dict[str, object] = {}
    if os.environ.get("ROUNDTRIP_MAX_EXAMPLES"):
        _overrides["max_examples"] = int(os.environ["ROUNDTRIP_MAX_EXAMPLES"])
    if os.environ.get("ROUNDTRIP_DATABASE"):
        _overrides["database"] = open_database(os.environ["ROUNDTRIP_DATABASE"])
    settings.register_profile(f"{_PROFILE}-run", settings(settings.get_profile(_PROFILE), **_overrides))  # type: ignore[arg-type]
    settings.load_profile(f"{_PROFILE}-run")

_HARNESS: list[Harness] = []


@pytest.fixture(scope="session")
def harness() -> Iterator[Harness]:
    """Worker processes and the corpus, shared by every property of the session."""
    shared = shared_pool()  # a campaign's warm process keeps its workers from one slice to the next
    opened = Harness.open(CORPUS, pool=shared)
    _HARNESS[:] = [opened]
    yield opened
    if shared is None:
        opened.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for opened in _HARNESS:
        for line in opened.summary():
            terminalreporter.write_line(line)
