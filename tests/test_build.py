"""spec -> Keras: every drawn spec builds, with the shapes the spec computes, deterministically."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import strategies
from roundtrip import InputSpec, LayerSpec, ModelSpec, build_keras
from roundtrip.build.keras import run_keras, shape_mismatches

pytestmark = pytest.mark.usefixtures("keras_session")


def _run(model, spec: ModelSpec, batch: int) -> list[np.ndarray]:
    return run_keras(model, strategies.inputs_for(spec, batch=batch))


@settings(max_examples=120)
@given(strategies.keras_models())
def test_every_drawn_spec_builds_with_the_shapes_it_declares(spec: ModelSpec) -> None:
    import keras

    model = build_keras(spec)
    assert shape_mismatches(spec, model, batch=2) == []
    assert model.name == "roundtrip" and isinstance(model, keras.Sequential) == spec.sequential
    assert (type(model).__name__ == "Net") == spec.subclassed  # a subclass of keras.Model, made from its text
    if hash(spec) % 25 == 0:
        keras.backend.clear_session()


def test_shape_mismatches_name_the_output() -> None:
    spec = ModelSpec((InputSpec("in0", (4, 3)),), (LayerSpec.make("x1", "Flatten", "in0"),), ("x1",))
    other = ModelSpec((InputSpec("in0", (4, 3)),), (LayerSpec.make("x1", "Dense", "in0", units=2),), ("x1",))
    assert shape_mismatches(spec, build_keras(other), batch=3) == [
        "output 0 (x1): Keras declares (None, 4, 2), the spec (None, 12)",
        "output 0 (x1): Keras returns (3, 4, 2), the spec says (3, 12)",
    ]


@settings(max_examples=15)
@given(strategies.keras_models(min_layers=2))
def test_the_same_spec_builds_bitwise_the_same_model(spec: ModelSpec) -> None:
    first, second = build_keras(spec), build_keras(spec)
    for a, b in zip(first.weights, second.weights, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b)), a.path
    for a, b in zip(_run(first, spec, 3), _run(second, spec, 3), strict=True):
        assert np.array_equal(a, b)


def test_batch_norm_moving_statistics_are_not_trivial() -> None:
    spec = ModelSpec((InputSpec("in0", (4, 3)),), (LayerSpec.make("x1", "BatchNormalization", "in0"),), ("x1",))
    weights = {w.name: np.asarray(w) for w in build_keras(spec).get_layer("x1").weights}
    assert not np.allclose(weights["moving_mean"], 0) and not np.allclose(weights["moving_variance"], 1)
    assert not np.allclose(weights["gamma"], 1) and not np.allclose(weights["beta"], 0)


def test_dynamic_spatial_dims_are_none_and_run_at_other_sizes() -> None:
    spec = ModelSpec((InputSpec("in0", (5, 7, 2), dynamic=True),),
                     (LayerSpec.make("x1", "CenterCropReshape", "in0", height=3, width=2),), ("x1",))
    model = build_keras(spec)
    assert tuple(model.input_shape) == (None, None, None, 2)
    (out,) = run_keras(model, strategies.inputs_for(spec, batch=2, sizes={"in0": (9, 4, 2)}))
    assert tuple(out.shape) == (2, 12)


def test_center_crop_reshape_takes_the_centre() -> None:
    spec = ModelSpec((InputSpec("in0", (4, 5, 1)),),
                     (LayerSpec.make("x1", "CenterCropReshape", "in0", height=2, width=3),), ("x1",))
    x = np.arange(20, dtype=np.float32).reshape(1, 4, 5, 1)
    (out,) = run_keras(build_keras(spec), [x])
    assert out.tolist() == [x[0, 1:3, 1:4, 0].reshape(-1).tolist()]


def test_softmax_on_a_chosen_axis() -> None:
    spec = ModelSpec((InputSpec("in0", (3, 4)),),
                     (LayerSpec.make("x1", "Activation", "in0", activation="softmax", axis=-2),), ("x1",))
    (out,) = _run(build_keras(spec), spec, 2)
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-6)


@settings(max_examples=8)
@given(strategies.keras_models(min_layers=2, max_inputs=2))
def test_a_subclassed_model_computes_what_its_functional_twin_does(spec: ModelSpec) -> None:
    from dataclasses import replace

    twin, subclassed = (build_keras(replace(spec, sequential=False, subclassed=flag)) for flag in (False, True))
    assert type(subclassed).__name__ == "Net" and type(twin).__name__ != "Net"
    for layer in spec.layers:
        for a, b in zip(twin.get_layer(layer.name).get_weights(), subclassed.get_layer(layer.name).get_weights(),
                        strict=True):
            assert np.array_equal(a, b), layer.name
    for a, b in zip(_run(twin, spec, 3), _run(subclassed, spec, 3), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
