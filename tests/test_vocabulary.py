"""The vocabulary against Keras' own lists: every layer class of keras.layers is drawn or left out with a
reason, every function of keras.activations is drawn (or said why not), and 3000 draws reach every kind;
a drawn model of every kind builds and runs in Keras at the shapes its spec declares."""

from __future__ import annotations

import collections
import inspect

import keras
import pytest
from hypothesis import HealthCheck, given, settings

import strategies
from roundtrip import LAYERS, ModelSpec
from roundtrip.build.keras import build_keras, shape_mismatches
from roundtrip.spec import custom
from roundtrip.spec.layers import ACTIVATIONS, CUSTOM_ACTIVATIONS, LEFT_OUT
from roundtrip.spec.model import DTYPES, InputSpec, LayerSpec
from roundtrip.store.script import keras_text
from strategies.layers import NOT_DRAWN, NOT_IN_POLICY

NOT_ACTIVATIONS = {"get", "serialize", "deserialize"}


def keras_layer_classes() -> set[str]:
    return {name for name, obj in vars(keras.layers).items()
            if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)}


def test_every_keras_layer_class_is_drawn_or_left_out_with_a_reason() -> None:
    keras_names = keras_layer_classes()
    ours = set(LAYERS) - set(custom.LAYER_CLASSES)  # the suite's own custom layers
    assert not ours - keras_names, f"kinds that keras.layers lacks: {sorted(ours - keras_names)}"
    assert not ours & set(LEFT_OUT), f"both drawn and left out: {sorted(ours & set(LEFT_OUT))}"
    unaccounted = keras_names - ours - set(LEFT_OUT)
    assert not unaccounted, f"keras.layers classes neither in LAYERS nor in LEFT_OUT: {sorted(unaccounted)}"
    assert not set(LEFT_OUT) - keras_names, f"LEFT_OUT names what Keras lacks: {sorted(set(LEFT_OUT) - keras_names)}"
    assert all(reason.strip() for reason in LEFT_OUT.values())
    assert len(LAYERS) >= 75, len(LAYERS)


def test_every_keras_activation_is_in_the_vocabulary() -> None:
    keras_names = {name for name, obj in vars(keras.activations).items()
                   if callable(obj) and not name.startswith("_") and name not in NOT_ACTIVATIONS}
    assert keras_names <= set(ACTIVATIONS), sorted(keras_names - set(ACTIVATIONS))
    assert set(ACTIVATIONS) - keras_names == {"gelu_approximate"}, "only GELU's approximation is the suite's own"
    assert set(CUSTOM_ACTIVATIONS) <= set(ACTIVATIONS) and set(NOT_DRAWN) <= set(ACTIVATIONS)


def draw_specs(count: int, **options: object) -> list[ModelSpec]:
    specs: list[ModelSpec] = []

    @settings(max_examples=count, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategies.keras_models(**options))  # type: ignore[arg-type]
    def collect(spec: ModelSpec) -> None:
        specs.append(spec)

    collect()
    return specs


def test_3000_draws_reach_every_kind_and_600_of_activations_every_activation() -> None:
    specs = draw_specs(3000)
    kinds = collections.Counter(la.kind for spec in specs for la in spec.layers)
    activations = {la.p["activation"] for spec in draw_specs(600, layers=["Activation"]) for la in spec.layers}
    assert len(specs) == 3000
    assert not set(LAYERS) - set(kinds), f"never drawn: {sorted(set(LAYERS) - set(kinds))}"
    wanted = set(ACTIVATIONS) - set(NOT_DRAWN)
    assert not wanted - activations, f"activations never drawn: {sorted(wanted - activations)}"
    policies = collections.Counter(spec.dtype for spec in specs)
    assert set(policies) == set(DTYPES) and policies["float32"] > len(specs) / 3, policies


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_models_of_each_kind_build_and_run_at_their_declared_shapes(kind: str) -> None:
    specs = [s for rank in (2, 3, 4, 5)
             for s in draw_specs(6, layers=[kind], input_ranks=[rank], max_layers=2, max_inputs=2)
             if any(la.kind == kind for la in s.layers)]
    assert specs, f"no drawn spec used {kind}"
    for spec in specs:
        model = build_keras(spec)
        assert shape_mismatches(spec, model, 2) == [], spec.pretty()
    keras.backend.clear_session()


@pytest.mark.parametrize("policy", DTYPES)
def test_models_under_each_dtype_policy_build_and_compute_in_it(policy: str) -> None:
    drawn = draw_specs(25, dtypes=[policy], max_layers=4)
    cannot = set(NOT_IN_POLICY.get(policy, ()))
    # a model holding a kind TensorFlow cannot run under the policy falls back to float32, and only such a one
    assert all((spec.dtype == policy) != bool({la.kind for la in spec.layers} & cannot) for spec in drawn)
    specs = [spec for spec in drawn if spec.dtype == policy]
    assert len(specs) > len(drawn) / 2
    compute = {"mixed_float16": "float16"}.get(policy, policy)
    for spec in specs:
        model = build_keras(spec)
        assert shape_mismatches(spec, model, 2) == [], spec.pretty()
        assert all(model.get_layer(la.name).compute_dtype == compute for la in spec.layers), spec.pretty()
    assert keras.config.dtype_policy().name == "float32", "building put the global policy back"
    keras.backend.clear_session()


CUSTOM_CASES = [
    ("MergeAxes", (2, 3, 2), {"axis": 2}), ("StridedLast", (3, 5), {"begin": 1, "step": 2}),
    ("ResizeBy", (2, 3, 2), {"scale": 2, "method": "bicubic"}), ("GatherAxis", (4, 3), {"indices": (3, 0, 3)}),
    ("KeepAbove", (5,), {"threshold": 0.5}), ("CenterCropReshape", (4, 4, 2), {"height": 2, "width": 3}),
]


def test_the_suites_custom_objects_are_in_the_vocabulary_and_in_repros() -> None:
    assert set(custom.LAYER_CLASSES) <= set(LAYERS)
    assert set(keras_text.CUSTOM) == set(custom.OBJECTS)
    assert {c for c, _, _ in CUSTOM_CASES} == set(custom.LAYER_CLASSES)
    for name, obj in custom.OBJECTS.items():
        # by name: a repro executed in this process registers its own copy of the class under the same name
        assert keras.saving.get_registered_name(obj) == f"roundtrip>{name}", name


@pytest.mark.parametrize(("kind", "shape", "params"), CUSTOM_CASES, ids=[c for c, _, _ in CUSTOM_CASES])
def test_each_custom_layer_saves_loads_in_safe_mode_and_computes_what_numpy_says(
        kind: str, shape: tuple[int, ...], params: dict, tmp_path) -> None:  # noqa: ANN001
    import numpy as np
    import tensorflow as tf

    spec = ModelSpec((InputSpec("in0", shape),), (LayerSpec.make("x1", kind, "in0", **params),), ("x1",))
    model = build_keras(spec)
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype("float32")
    got = np.asarray(model(x))
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)  # registered by name: no custom_objects needed
    np.testing.assert_array_equal(np.asarray(again(x)), got)
    assert got.shape == spec.concrete_shape("x1", 2)
    expected = {
        "MergeAxes": lambda: x.reshape(2, 2, 6),
        "StridedLast": lambda: x[..., 1::2, None],
        "ResizeBy": lambda: tf.image.resize(x, (4, 6), method="bicubic").numpy(),
        "GatherAxis": lambda: x[:, [3, 0, 3]],
        "KeepAbove": lambda: np.where(x > 0.5, x, 0),
        "CenterCropReshape": lambda: x[:, 1:3, 0:3, :].reshape(2, -1),
    }[kind]()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
