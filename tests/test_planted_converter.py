"""A converter the engine has never heard of: "acme-export" of the made-up package "acme", its registry rows and
its adapter here only.  Registered, it is fuzzed, found out, reduced and written (its entry, repro.py, issue.md)
like the suite's own converters, and no module of roundtrip/ says its name: converters are data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import helper, numpy_helper

import strategies
from roundtrip import registry
from roundtrip.convert.converters import resolve, signature
from roundtrip.report import reports
from roundtrip.run.worker import Limits
from roundtrip.search.harness import Harness
from roundtrip.search.plan import Plan
from roundtrip.spec.model import ModelSpec
from tests.test_planted import hunt, written

ROOT = Path(__file__).resolve().parents[1]
ROUNDTRIP = ROOT / "roundtrip"
TRACKER = "https://example.org/acme/issues"


# ---- acme: its API (what its users and its repro.py call) and the suite's adapter -------------------------
def acme_convert(model: Any, input_signature: list[Any], opset: int) -> Any:
    """acme's export (made up): tf2onnx's from_function, with a fault planted: the graph's first output doubled."""
    import tensorflow as tf
    import tf2onnx

    function = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    proto, _ = tf2onnx.convert.from_function(function, input_signature=input_signature, opset=opset)
    return doubled(proto)


def doubled(proto: Any) -> Any:
    """The graph with its first output multiplied by 2 (a Mul after the node that made it)."""
    graph = proto.graph
    name = graph.output[0].name
    raw = name + "__acme_raw"
    for node in graph.node:
        for names in (node.input, node.output):
            renamed = [raw if n == name else n for n in names]
            del names[:]
            names.extend(renamed)
    graph.initializer.append(numpy_helper.from_array(np.asarray(2.0, np.float32), "acme_two"))
    graph.node.append(helper.make_node("Mul", [raw, "acme_two"], [name], name="acme_doubled"))
    return proto


def acme_export(model: Any, spec: ModelSpec, opset: int) -> Any:
    """The adapter: acme's export called as the suite calls a Keras -> ONNX converter."""
    return acme_convert(model, signature(spec), opset)


# ---- its rows ---------------------------------------------------------------------------------------------
NAME = "acme-export"
PACKAGE = registry.Package("acme", TRACKER, frames=(__name__,))
CONVERTER = registry.Converter(
    NAME, "acme", registry.KERAS_TO_ONNX, "acme.export",
    imports=(f"from {__name__} import acme_convert",),
    call=("onnx_model = acme_convert(model, signature, {opset})",),
    states=("tensorflow", "keras", "onnx", "onnxruntime", "numpy"),
    adapter=f"{__name__}:acme_export")


@pytest.fixture
def acme() -> Iterator[None]:
    undo = registry.register(PACKAGE, CONVERTER)
    try:
        yield
    finally:
        undo()


# ---- the registry takes it in and gives it back -------------------------------------------------------------
def test_a_registered_converter_is_read_as_the_suites_own_until_undone() -> None:
    builtin = registry.side(registry.KERAS_TO_ONNX)
    undo = registry.register(PACKAGE, CONVERTER)
    try:
        assert registry.converter(NAME) == CONVERTER and registry.package("acme") == PACKAGE
        assert registry.side(registry.KERAS_TO_ONNX) == (*builtin, CONVERTER)
        assert registry.TRACKERS["acme"] == TRACKER and registry.added() == (PACKAGE, CONVERTER)
        assert resolve(NAME).convert is acme_export and resolve(NAME).own_process
        with pytest.raises(ValueError, match="acme-export"):
            registry.register(CONVERTER)
    finally:
        undo()
    assert registry.converter(NAME) is None and "acme" not in registry.TRACKERS and registry.added() == ()
    assert registry.side(registry.KERAS_TO_ONNX) == builtin and registry.package("acme").tracker == ""
    with pytest.raises(KeyError, match="acme-export"):
        resolve(NAME)


# ---- fuzzed through, found out, written ---------------------------------------------------------------------
@pytest.mark.slow
def test_a_planted_converter_is_fuzzed_and_its_entry_written(acme: None, tmp_path: Path) -> None:
    harness = Harness.open(tmp_path / "corpus", Limits(timeout=60.0), plan=Plan(writes=True, reduce=30.0))
    try:
        hunt(harness, NAME, strategies.keras_models(max_layers=2, input_ranks=(2,), dtypes=("float32",),
                                                    layers=["Dense"]), examples=5)
    finally:
        harness.close()
    entry = written(harness, NAME)["value@Dense"]  # every model's output is doubled: its first layer differs
    assert entry.folder.name.startswith("acme-")
    meta = json.loads((entry.folder / "meta.json").read_text())
    assert meta["converter"] == meta["path"] == NAME and meta["signature"].startswith("acme|compare|mismatch|")
    assert (meta["stage"], meta["symptom"]) == ("compare", "value")
    repro = (entry.folder / "repro.py").read_text()
    assert f"from {__name__} import acme_convert" in repro  # the row's import and call
    assert "onnx_model = acme_convert(model, signature, 13)" in repro
    reports.write_reports(harness.root, tmp_path / "reports")  # issue.md beside each entry, the summary
    issue = (entry.folder / "issue.md").read_text()
    assert issue.startswith("# acme.export: ONNX Runtime's output values differ from Keras'")
    assert f"**Where to file:** acme ({TRACKER})" in issue
    assert TRACKER in (tmp_path / "reports" / "summary.md").read_text()
    assert shows(entry.folder), "repro.py does not show the doubled output"
    assert not saying("acme"), "the engine knows the planted converter"


def shows(folder: Path) -> bool:
    """Whether repro.py, run as it is written (this project importable), exits 1: the bug shows."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "repro.py"], cwd=folder, env=env, capture_output=True,
                          timeout=600).returncode == 1


def saying(word: str) -> list[str]:
    """The modules of roundtrip/ whose text holds `word`."""
    return sorted(str(p.relative_to(ROUNDTRIP)) for p in ROUNDTRIP.rglob("*.py") if word in p.read_text().lower())
