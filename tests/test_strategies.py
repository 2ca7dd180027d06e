"""The strategies: table coverage, validated options, shrink quality, what they draw."""

from __future__ import annotations

import collections
import pathlib
import random
import re

import pytest
from hypothesis import find, given, settings
from hypothesis.errors import InvalidArgument

import strategies
from roundtrip import LAYERS, LayerSpec, ModelSpec
from roundtrip.search.reduce import reduce


def minimal(strategy, condition):  # noqa: ANN001, ANN201
    """The example as a corpus entry has it: shrunk by Hypothesis (as its own tests get it: from a fixed random
    seed, so the same every run), then by the suite's reducer (roundtrip.search.reduce), which takes what
    Hypothesis' shrinking left to a 1-minimal spec."""
    shrunk = find(strategy, condition, settings=settings(database=None, max_examples=2000, derandomize=False),
                  random=random.Random(0))
    return reduce(shrunk, condition).spec


def test_every_layer_has_a_strategy_and_a_builder() -> None:
    assert set(strategies.STRATEGIES) == set(LAYERS)
    assert set(strategies.FOCUS) <= set(LAYERS)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_each_kind_alone_gives_valid_specs_that_use_it(kind: str) -> None:
    seen = []

    @settings(max_examples=50)
    @given(strategies.keras_models(layers=[kind], min_layers=1, max_layers=3))
    def check(spec: ModelSpec) -> None:
        assert ModelSpec.from_json(spec.to_json()) == spec
        seen.extend(layer.kind for layer in spec.layers)

    check()
    assert kind in seen


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"min_layers": -1}, "min_layers=-1"),
        ({"min_layers": 3, "max_layers": 2}, "max_layers=2"),
        ({"layers": ["Cropping9D"]}, "layers=['Cropping9D']"),
        ({"layers": []}, "layers=[]"),
        ({"input_ranks": (6,)}, "input_ranks=(6,)"),
        ({"max_inputs": 0}, "max_inputs=0"),
        ({"dynamic_spatial": "yes"}, "dynamic_spatial='yes'"),
        ({"max_elements": 3}, "max_elements=3"),
        ({"max_dim": 0}, "max_dim=0"),
    ],
)
def test_bad_options_raise_naming_the_argument(options: dict, named: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(named)):
        strategies.keras_models(**options)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        strategies.keras_models(1, 3)  # type: ignore[misc]


def test_inputs_for_checks_its_batch() -> None:
    spec = minimal(strategies.keras_models(), lambda s: True)
    with pytest.raises(InvalidArgument, match="batch=0"):
        strategies.inputs_for(spec, batch=0)


def _follows(spec: ModelSpec, first: str, then: str) -> bool:
    kinds = {layer.name: layer.kind for layer in spec.layers}
    return any(la.kind == then and kinds.get(la.inputs[0]) == first for la in spec.layers)


def test_minimal_flatten_after_cropping2d_is_input_crop_flatten_at_the_smallest_dims() -> None:
    spec = minimal(strategies.keras_models(), lambda s: _follows(s, "Cropping2D", "Flatten"))
    assert [la.kind for la in spec.layers] == ["Cropping2D", "Flatten"]
    assert len(spec.inputs) == 1 and spec.inputs[0].shape == (1, 1, 1) and not spec.inputs[0].dynamic
    assert spec.layers[0].p == {"cropping": ((0, 0), (0, 0))}
    assert spec.seed == 0 and spec.outputs == ("x2",)


def test_minimal_reshape_with_minus_one_is_one_layer() -> None:
    spec = minimal(strategies.keras_models(),
                   lambda s: any(la.kind == "Reshape" and -1 in la.p["target_shape"] for la in s.layers))
    assert spec.layers == (LayerSpec.make("x1", "Reshape", "in0", target_shape=(-1,)),)
    assert spec.inputs[0].shape == (1,)


def test_minimal_dynamic_crop_keeps_only_what_it_needs() -> None:
    spec = minimal(strategies.keras_models(dynamic_spatial=True),
                   lambda s: any(la.kind == "Cropping1D" and sum(la.p["cropping"]) > 0 for la in s.layers))
    assert [la.kind for la in spec.layers] == ["Cropping1D"]
    assert spec.inputs[0].shape == (2, 1) and sum(spec.layers[0].p["cropping"]) == 1


def test_focus_layers_each_appear_in_at_least_5_percent_of_500_specs() -> None:
    specs: list[ModelSpec] = []

    @settings(max_examples=500, derandomize=True, database=None)  # the same 500 on every run
    @given(strategies.keras_models())
    def collect(spec: ModelSpec) -> None:
        specs.append(spec)

    collect()
    counts: collections.Counter[str] = collections.Counter()
    for spec in specs:
        counts.update({la.kind for la in spec.layers})
        counts["Reshape(-1)"] += any(la.kind == "Reshape" and -1 in la.p["target_shape"] for la in spec.layers)
    wanted = ["Flatten", "Reshape(-1)", "Cropping1D", "Cropping2D", "Cropping3D", "CenterCropReshape"]
    shares = {k: counts[k] / len(specs) for k in wanted}
    assert len(specs) == 500
    assert all(share >= 0.05 for share in shares.values()), shares


def test_strategies_draw_all_randomness_through_hypothesis() -> None:
    for path in pathlib.Path(strategies.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import random|from random)|np\.random|numpy\.random", text, re.M), path


def test_engine_never_imports_strategies() -> None:
    import roundtrip

    for path in pathlib.Path(roundtrip.__file__).parent.rglob("*.py"):
        assert not re.search(r"^\s*(from|import) strategies", path.read_text(), re.M), path
