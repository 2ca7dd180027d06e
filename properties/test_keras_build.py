"""Generation and build: every drawn spec becomes a Keras model with the shapes the spec computes."""

from __future__ import annotations

from hypothesis import given

import strategies
from roundtrip import ModelSpec, build_keras
from roundtrip.build.keras import shape_mismatches


@given(strategies.keras_models())
def test_drawn_models_build_and_run_with_their_shapes(spec: ModelSpec) -> None:
    problems = shape_mismatches(spec, build_keras(spec), batch=2)
    assert not problems, spec.pretty() + "\n" + "\n".join(problems)
