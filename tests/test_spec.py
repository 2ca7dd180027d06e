"""Specs: JSON round trip, field-path errors, the pretty form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

import strategies
from roundtrip import InputSpec, LayerSpec, ModelSpec, SpecError

CROP_FLATTEN = ModelSpec(
    inputs=(InputSpec("in0", (6, 6, 3)),),
    layers=(LayerSpec.make("x1", "Cropping2D", "in0", cropping=((1, 0), (0, 2))),
            LayerSpec.make("x2", "Flatten", "x1")),
    outputs=("x2",),
    seed=7,
)


@settings(max_examples=400)
@given(strategies.keras_models())
def test_json_round_trip_is_exact(spec: ModelSpec) -> None:
    text = spec.to_json()
    again = ModelSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text


def test_pretty_prints_one_line_per_tensor_with_its_shape() -> None:
    lines = CROP_FLATTEN.pretty().splitlines()
    assert lines[0].startswith("in0 = Input(shape=(6, 6, 3))") and lines[0].endswith("# (None, 6, 6, 3)")
    assert lines[1].startswith("x1 = Cropping2D(cropping=((1, 0), (0, 2)))(in0)")
    assert lines[1].endswith("# (None, 5, 4, 3)")
    assert lines[2].startswith("x2 = Flatten()(x1)") and lines[2].endswith("# (None, 60)")
    assert lines[3].startswith("Model(outputs=[x2])")


def test_pretty_shows_the_drawn_shape_beside_a_dynamic_one() -> None:
    spec = ModelSpec((InputSpec("in0", (5, 7, 2), dynamic=True),),
                     (LayerSpec.make("x1", "CenterCropReshape", "in0", height=3, width=2),), ("x1",))
    lines = spec.pretty().splitlines()
    assert lines[0].endswith("# (None, None, None, 2) at (None, 5, 7, 2)")
    assert lines[1].endswith("# (None, 12)")


def _broken(path: list[object], value: object) -> str:
    data = json.loads(CROP_FLATTEN.to_json())
    data["sequential"] = True
    target = data
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    return json.dumps(data)


@pytest.mark.parametrize(
    ("path", "value", "named", "shown"),
    [
        (["schema"], 99, "schema", "99"),
        (["seed"], "x", "seed", "'x'"),
        (["inputs", 0, "shape"], [6, 0, 3], "inputs[0].shape", "[6, 0, 3]"),
        (["inputs", 0, "shape"], [6, "6", 3], "inputs[0].shape[1]", "'6'"),
        (["layers", 0, "kind"], "Cropping9D", "layers[0].kind", "'Cropping9D'"),
        (["layers", 0, "params", "cropping"], [[1, 0]], "layers[0].params.cropping", "[[1, 0]]"),
        (["layers", 0, "params", "cropping"], [[1, 0], [0, -2]], "layers[0].params.cropping[1][1]", "-2"),
        (["layers", 0, "params", "cropping"], [[3, 3], [0, 0]], "layers[0]", "(6, 6, 3)"),
        (["layers", 0, "params", "size"], 2, "layers[0].params.size", "unknown parameter"),
        (["layers", 1, "inputs"], ["x9"], "layers[1].inputs[0]", "'x9'"),
        (["layers", 1, "name"], "x1", "layers[1].name", "'x1'"),
        (["outputs"], ["nope"], "outputs[0]", "'nope'"),
        (["outputs"], ["x1", "x2"], "sequential", "one output"),
    ],
)
def test_invalid_json_names_the_field_and_the_value(path: list[object], value: object, named: str,
                                                     shown: str) -> None:
    with pytest.raises(SpecError) as info:
        ModelSpec.from_json(_broken(path, value))
    assert info.value.path == named
    assert shown in str(info.value)


def test_not_json_at_all() -> None:
    with pytest.raises(SpecError, match="^spec: not JSON"):
        ModelSpec.from_json("{")


def test_sequential_chain_is_accepted() -> None:
    seq = ModelSpec(CROP_FLATTEN.inputs, CROP_FLATTEN.layers, CROP_FLATTEN.outputs, sequential=True)
    assert ModelSpec.from_json(seq.to_json()).sequential


def test_shapes_at_other_sizes_recompute_or_reject() -> None:
    assert CROP_FLATTEN.shapes_at({"in0": (8, 9, 3)})["x2"] == (7 * 7 * 3,)
    with pytest.raises(SpecError, match="leaves nothing"):
        CROP_FLATTEN.shapes_at({"in0": (1, 9, 3)})


TOKENS = ModelSpec((InputSpec("in0", (5,), ids=7),),
                   (LayerSpec.make("x1", "Embedding", "in0", input_dim=7, output_dim=3),
                    LayerSpec.make("x2", "Flatten", "x1")), ("x2",), subclassed=True)


def test_token_ids_and_a_subclassed_model_round_trip_and_are_written_only_when_set() -> None:
    data = json.loads(TOKENS.to_json())
    assert data["inputs"][0]["ids"] == 7 and data["subclassed"] is True
    assert ModelSpec.from_json(TOKENS.to_json()) == TOKENS
    plain = json.loads(CROP_FLATTEN.to_json())
    assert "ids" not in plain["inputs"][0] and "subclassed" not in plain
    assert "in0 = Input(shape=(5,), int32 ids < 7)" in TOKENS.pretty()
    assert "subclassed Model(outputs=[x2])" in TOKENS.pretty()


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d["layers"][1].update(inputs=["in0"]), "layers[1].inputs", "only an Embedding reads it"),
    (lambda d: d["layers"][0]["params"].update(input_dim=6), "layers[0].params.input_dim", "at least 7"),
    (lambda d: d["inputs"][0].update(ids=0), "layers[0].inputs", "an Embedding reads an input of token ids"),
    (lambda d: d["inputs"][0].update(ids=-1), "inputs[0].ids", "integer >= 0"),
    (lambda d: d.update(outputs=["in0"]), "outputs[0]", "holds token ids"),
    (lambda d: d.update(sequential=True, outputs=["x2"]), "subclassed", "not both"),
])
def test_token_ids_are_read_by_embeddings_only(change, path: str, words: str) -> None:  # noqa: ANN001
    data = json.loads(TOKENS.to_json())
    change(data)
    with pytest.raises(SpecError) as info:
        ModelSpec.from_json(json.dumps(data))
    assert info.value.path == path and words in str(info.value)


def test_token_ids_are_int32_in_range_from_the_seed() -> None:
    from roundtrip.spec.inputs import make_inputs

    first, again = make_inputs(TOKENS, 3)[0], make_inputs(TOKENS, 3)[0]
    assert first.dtype == "int32" and first.shape == (3, 5) and first.min() >= 0 and first.max() < 7
    assert (first == again).all()
