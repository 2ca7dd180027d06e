"""The converter registry against the tables that call the converters, and converters' names kept in their rows:
the dispatch tables asserted against the support list (hypothesis-jsonschema's `assert set(map_) == set(...)`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roundtrip import registry
from roundtrip.convert import remote_server
from roundtrip.convert.back import ONNX_TO_KERAS, repro_lines
from roundtrip.convert.converters import KERAS_TO_ONNX

ROUNDTRIP = Path(registry.__file__).resolve().parent
PINS = ROUNDTRIP.parent / "envs"
MOST_MODULES = 3  # a converter's name is said in its row, its adapter and its environment


def names(side: str) -> set[str]:
    return {c.name for c in registry.side(side)}


def test_every_keras_to_onnx_path_has_a_row_and_every_row_a_path() -> None:
    assert set(KERAS_TO_ONNX) == names(registry.KERAS_TO_ONNX)


def test_every_onnx_to_keras_converter_has_a_row_and_every_row_a_converter() -> None:
    """A row of the ONNX -> Keras side is called in this process (roundtrip.convert.back) or served in its
    environment."""
    assert set(ONNX_TO_KERAS) | set(remote_server.CONVERTERS) == names(registry.ONNX_TO_KERAS)


def test_rows_are_named_once_and_name_their_tables_own_names() -> None:
    assert len({c.name for c in registry.CONVERTERS}) == len(registry.CONVERTERS)
    assert len({p.name for p in registry.PACKAGES}) == len(registry.PACKAGES)
    assert all(KERAS_TO_ONNX[n].name == n for n in KERAS_TO_ONNX)
    assert all(ONNX_TO_KERAS[n].name == n for n in ONNX_TO_KERAS)


@pytest.mark.parametrize("row", registry.CONVERTERS, ids=lambda c: c.name)
def test_a_row_names_a_known_package_and_environment(row: registry.Converter) -> None:
    assert row.package in {p.name for p in registry.PACKAGES}
    assert registry.package(row.package).tracker.startswith("https://")
    assert row.side in (registry.KERAS_TO_ONNX, registry.ONNX_TO_KERAS)
    assert row.layout in (registry.AS_THE_GRAPH, registry.CHANNELS_LAST, registry.RECORDED)
    assert row.orders in (registry.AS_LAID, registry.ANY_ORDER)
    if row.environment is not None:
        assert registry.environment(row.environment) is not None
        assert (PINS / f"{row.environment}.txt").is_file()
    # the adapter runs it behind roundtrip.convert.remote exactly when it has an environment
    if row.name in ONNX_TO_KERAS:
        assert ONNX_TO_KERAS[row.name].remote == (row.environment is not None)


@pytest.mark.parametrize("row", registry.side(registry.KERAS_TO_ONNX), ids=lambda c: c.name)
def test_a_keras_to_onnx_row_writes_its_conversion(row: registry.Converter) -> None:
    lines = [line.format(opset=13, model_call="model(xs[0], training=False)", given="") for line in row.call]
    assert any(line.startswith("onnx_model") for line in lines)
    assert row.states and row.package in row.states
    assert not any("{" in line for line in lines)


@pytest.mark.parametrize("name", sorted(ONNX_TO_KERAS), ids=str)
def test_an_onnx_to_keras_converter_writes_its_conversion(name: str) -> None:
    row = registry.converter(name)
    assert row is not None
    for qualified in (False, True):
        imports, lines = repro_lines(name, [(1, 3, 8, 8)], "input_names", qualified=qualified)
        assert lines[-1].startswith("keras_model = ") and row.package in " ".join(imports)


def test_outputs_count_in_any_axis_order_for_onnx2tf_alone() -> None:
    """onnx2tf's own accuracy check (`onnx_tf_tensor_validation`) passes an output in any axis order that gives
    ONNX Runtime's shape: its rows say so, and every other converter's output counts only as its layout gives it
    (a Keras -> ONNX converter's has no layout of its own)."""
    anywhere = {c.name for c in registry.CONVERTERS if c.orders == registry.ANY_ORDER}
    assert anywhere == {c.name for c in registry.CONVERTERS if c.package == "onnx2tf"}
    assert all(c.side == registry.ONNX_TO_KERAS for c in registry.CONVERTERS if c.name in anywhere)


def test_the_way_back_to_onnx_is_a_keras_to_onnx_row() -> None:
    again = registry.again()
    assert again.side == registry.KERAS_TO_ONNX and again.again and again.again_imports


def test_a_converter_of_ones_own_has_no_row_and_states_what_its_side_first_states() -> None:
    assert registry.converter("tests.planted:bad_back") is None
    assert registry.states("tests.planted:bad_back", registry.ONNX_TO_KERAS) == \
        registry.side(registry.ONNX_TO_KERAS)[0].states


def modules_saying(name: str) -> list[str]:
    """The modules of roundtrip/ holding `name` as a whole string literal ('name' or "name")."""
    said = re.compile(rf"""['"]{re.escape(name)}['"]""")
    return sorted(str(p.relative_to(ROUNDTRIP)) for p in ROUNDTRIP.rglob("*.py") if said.search(p.read_text()))


NAMES = sorted({c.name for c in registry.CONVERTERS} | {c.package for c in registry.CONVERTERS})


@pytest.mark.parametrize("name", NAMES)
def test_a_converters_name_is_said_in_at_most_three_modules(name: str) -> None:
    found = modules_saying(name)
    assert "registry.py" in found
    assert len(found) <= MOST_MODULES, f"{name!r} is said in {len(found)} modules: {found}"


def test_a_registered_onnx_to_keras_row_is_resolved_to_its_adapter() -> None:
    """An ONNX -> Keras converter of one's own, registered as a row with its adapter, is found by its name (as a
    registered Keras -> ONNX row is), and its name is gone again once the registration is undone."""
    from roundtrip.convert.back import resolve_back
    from tests.planted import shift_after_softmax

    row = registry.Converter("acme-import", "acme", registry.ONNX_TO_KERAS, "acme.import_onnx",
                             adapter="tests.planted:shift_after_softmax")
    undo = registry.register(row)
    try:
        found = resolve_back("acme-import")
        assert found.name == "acme-import" and found.convert is shift_after_softmax
    finally:
        undo()
    with pytest.raises(KeyError, match="acme-import"):
        resolve_back("acme-import")
