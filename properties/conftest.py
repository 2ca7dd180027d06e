"""Hypothesis profiles for the properties: `pytest properties/ --hypothesis-profile=NAME`.

- default: a few minutes on two cores, the main job of the README.
- ci: a smoke run, a handful of examples per property.
- campaign: long runs; shrinks everything it finds.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("default", max_examples=100, **_COMMON)
settings.register_profile("ci", max_examples=10, derandomize=True, database=None, **_COMMON)
settings.register_profile("campaign", max_examples=5000, **_COMMON)
settings.load_profile(os.environ.get("ROUNDTRIP_PROFILE", "default"))
