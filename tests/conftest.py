"""Shared fixtures for the suite's own tests."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Entries written by tests are not run once more to check their repro.py (7 s each): tests/test_script.py does that.
os.environ.setdefault("ROUNDTRIP_CHECK_REPROS", "0")

# Tests of the suite are deterministic: a red test is the same red test on every machine.
settings.register_profile("tests", derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tests")


@pytest.fixture
def keras_session():
    """Seeds Keras and clears its session around a test that builds models."""
    import keras

    keras.utils.set_random_seed(0)
    keras.backend.clear_session()
    yield keras
    keras.backend.clear_session()


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Each test its own TMPDIR (for the processes it starts) and tempfile folder (for this one), so that what a
    test lists there is what it wrote, never another run's files. Fixtures of a wider scope were made before it:
    they keep the TMPDIR they had."""
    folder = tmp_path_factory.mktemp("tmpdir")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(folder))
        patch.setattr(tempfile, "tempdir", str(folder))
        yield folder
