"""Hypothesis profiles and the shared harness for the properties.

Profiles (`pytest properties/ --hypothesis-profile=NAME`, or ROUNDTRIP_PROFILE=NAME):
- default: the main job, a few minutes on two cores.
- ci: a smoke run, a handful of examples per property, derandomised.
- short: 25 examples per property.
- campaign: long runs.

$ROUNDTRIP_MAX_EXAMPLES and $ROUNDTRIP_DATABASE (a folder, `redis://host:port`, or `none`) override the
profile's example count and database; `roundtrip fuzz` sets them for each process of a campaign.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from roundtrip.database import open_database
from roundtrip.harness import Harness

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
CORPUS = Path(os.environ.get("ROUNDTRIP_CORPUS", Path(__file__).resolve().parent.parent / "corpus"))

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "phases": [p for p in Phase if p is not Phase.explain],  # the explain phase re-runs many examples
}
settings.register_profile("default", max_examples=60, **_COMMON)
settings.register_profile("ci", max_examples=8, derandomize=True, database=None, **_COMMON)
settings.register_profile("short", max_examples=25, **_COMMON)
settings.register_profile("campaign", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("ROUNDTRIP_PROFILE", "default"))
# A campaign (`roundtrip fuzz`) runs one property at a time in each process, with its own example count and
# a shared example database: a folder, or redis://host:port for campaigns on several machines.
if os.environ.get("ROUNDTRIP_MAX_EXAMPLES") or os.environ.get("ROUNDTRIP_DATABASE"):
    _overrides: dict[str, object] = {}
    if os.environ.get("ROUNDTRIP_MAX_EXAMPLES"):
        _overrides["max_examples"] = int(os.environ["ROUNDTRIP_MAX_EXAMPLES"])
    if os.environ.get("ROUNDTRIP_DATABASE"):
        _overrides["database"] = open_database(os.environ["ROUNDTRIP_DATABASE"])
    settings.register_profile("campaign-run", settings(settings.default, **_overrides))  # type: ignore[arg-type]
    settings.load_profile("campaign-run")

_HARNESS: list[Harness] = []


@pytest.fixture(scope="session")
def harness() -> Iterator[Harness]:
    """Worker processes and the corpus, shared by every property of the session."""
    opened = Harness.open(CORPUS)
    _HARNESS.append(opened)
    yield opened
    opened.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for opened in _HARNESS:
        for line in opened.summary():
            terminalreporter.write_line(line)
