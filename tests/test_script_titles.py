"""What a script's header and its issue.md say of it: the title names a node of the graph the script ships (an
ONNX -> Keras converter's maintainer gets that graph, not the Keras model it came from), the Versions line the
packages the script imports and runs, and an entry blamed on another package by its release history says so in
every file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roundtrip import registry
from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.oracle.outcome import Case, GraphJob, Outcome
from roundtrip.spec.graph import GraphSpec, NodeSpec
from roundtrip.store import corpus
from roundtrip.store.script import issue
from roundtrip.store.script.render import (
    KERAS_TO_ONNX_DIRECTION,
    imported_packages,
    reheaded,
    script_graph,
    shipped,
    source_of,
    title,
    title_node,
)

ROOT = Path(__file__).resolve().parent.parent / "corpus"
ENTRIES = [e for e in corpus.entries(ROOT) if (e.folder / "repro.py").is_file()]
ONNX_TO_KERAS = [e for e in ENTRIES if e.meta.get("direction") != KERAS_TO_ONNX_DIRECTION]
MODEL_ENTRY = ROOT / "tf2onnx-run-exception-valueerror-1bd416ae63"


def script_of(entry: corpus.Entry) -> str:
    return (entry.folder / "repro.py").read_text()


# ---- titles -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ONNX_TO_KERAS, ids=lambda e: e.folder.name)
def test_an_onnx_to_keras_title_names_a_node_of_the_graph_the_script_ships(entry: corpus.Entry) -> None:
    script = script_of(entry)
    first = script.splitlines()[0]
    graph = script_graph(script)
    assert graph is not None
    assert not re.search(r"Keras \w+ layer", first), first
    named = re.search(r" on an? (\w+) node$", first)
    if named:
        assert named.group(1) in {n.op_type for n in graph.graph.node}, (first, [n.op_type for n in graph.graph.node])
    if (entry.folder / "issue.md").is_file():  # a feature gap's is its package's request, one folder up
        issue_title = (entry.folder / "issue.md").read_text().splitlines()[0]
        assert issue_title == first, (issue_title, first)  # issue.md's title is the script's: the same graph


def test_a_round_trips_mismatch_is_titled_by_the_node_that_makes_the_output_compared() -> None:
    """The Keras layer a round trip first met the mismatch on (Cropping1D, BatchNormalization) is not in the graph the
    maintainer gets: the node making the output compared is named."""
    for name, node in [("onnx2tf-compare-mismatch-cropping1d-90107884c4", "Concat"),
                       ("onnx2keras-compare-mismatch-batchnormalization-115cf1d4ae", "Mul")]:
        entry = corpus.load(ROOT / name)
        src = shipped(source_of(entry.folder, entry.spec, entry.meta), script_of(entry))
        assert title_node(src) == node
        assert title(src).endswith(f"than ONNX Runtime on a {node} node")


def test_a_run_failure_no_node_is_named_for_is_titled_by_the_output_node() -> None:
    graph = GraphSpec((1, 4), (NodeSpec("Relu"), NodeSpec.make("Flatten", axis=1)), seed=0)
    finding = Finding("keras-export>onnx2keras", Stage.RUN, Symptom.EXCEPTION, "ValueError", "boom")
    meta = {"finding": finding.to_dict(), "direction": "keras-onnx-keras", "back": "onnx2keras"}
    src = source_of(Path("/nonexistent"), graph, meta)
    assert title_node(src) == "Flatten"
    assert title(src) == "the Keras model onnx2keras makes raises ValueError on a Flatten node"
    where = Finding("keras-export>onnx2keras", Stage.LOAD, Symptom.EXCEPTION, "ValueError", "boom",
                    where="onnx2keras.activation_layers:convert_relu[Relu]")
    assert title_node(source_of(Path("/nonexistent"), graph, meta | {"finding": where.to_dict()})) == "Relu"


def test_a_model_entry_names_its_model_where_the_script_writes_it() -> None:
    from roundtrip.store.model_entry import title as model_title

    meta = json.loads((MODEL_ENTRY / "meta.json").read_text())
    finding = Finding.from_dict({**meta["finding"], "details": {}})
    said = model_title(finding, meta, reads_file=False)
    assert said.endswith("(ValueError) (functional model: Normalization)")
    assert "EfficientNetV2B0" not in said  # the user's file, which the maintainer never has


# ---- versions ---------------------------------------------------------------------------------------------------
def test_the_packages_a_script_imports_are_read_from_its_code() -> None:
    script = ("import os, tempfile\nimport numpy as np\nimport onnxruntime as ort\n"
              "from onnx2keras import onnx_to_keras\nimport onnx.parser\nfrom . import local\n\n"
              "def f():\n    import keras\n")
    assert imported_packages(script) == ["numpy", "onnxruntime", "onnx2keras", "onnx"]
    assert imported_packages("not python (") == []


def versions_said(line: str) -> dict[str, str]:
    return dict(part.rsplit(" ", 1) for part in line.split(", "))  # type: ignore[misc]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.folder.name)
def test_a_scripts_versions_are_those_of_what_it_imports_and_runs_and_pythons(entry: corpus.Entry) -> None:
    """Keras' export imports no tf2onnx but runs it: it is said too; so is what a converter it imports loads
    (TensorFlow under onnx2keras and onnx2tf).  issue.md says the same packages."""
    script = script_of(entry)
    said = versions_said(script.splitlines()[1][2:].rstrip("."))
    runs = {"tf2onnx"} if "model.export(" in script else set()
    imported = imported_packages(script)
    loaded = {p for row in registry.CONVERTERS if row.package in imported for p in row.loads}
    assert set(said) == {*imported, *runs, *loaded, "Python"}, said
    assert said["Python"] == entry.meta["python"]
    assert list(said)[0] in (entry.finding.package, "Python") or entry.finding.package not in said
    text = (entry.folder / "issue.md")
    if text.is_file() and "**Versions:** " in text.read_text():
        line = text.read_text().split("**Versions:** ")[1].split(";")[0]
        assert versions_said(line) == {k: v for k, v in said.items() if k != "Python"}


def test_the_model_entrys_script_says_what_it_imports() -> None:
    script = (MODEL_ENTRY / "repro.py").read_text()
    said = versions_said(script.splitlines()[1][2:].rstrip("."))
    assert set(said) == {*imported_packages(script), "Python"} and "onnx2keras" not in said
    assert list(said)[0] == "tf2onnx"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.folder.name)
def test_every_committed_script_has_the_header_its_code_gives(entry: corpus.Entry) -> None:
    """`roundtrip render --header-only` would change nothing: the committed headers follow these rules, and
    writing a header again keeps the code."""
    script = script_of(entry)
    again = reheaded(source_of(entry.folder, entry.spec, entry.meta), script)
    assert again == script


# ---- a model written as its layers ----------------------------------------------------------------------------------
def test_a_functional_model_of_keras_layers_is_written_as_constructor_lines() -> None:
    import keras

    from roundtrip.store.script.saved_text import layer_lines

    x = keras.Input(shape=(2, 3), name="in0")
    y = keras.layers.Normalization(axis=-1, mean=[0.5, 0.25, 1.0], variance=[2.0, 1.0, 4.0], name="norm")(x)
    z = keras.layers.Dense(2, use_bias=False, name="dense")(y)
    model = keras.Model(x, z, name="net")
    model.get_layer("dense").set_weights([np.arange(6, dtype="float32").reshape(3, 2)])
    lines = layer_lines(model)
    assert lines[0] == 'in0 = keras.Input(shape=(2, 3), name="in0")'
    assert "model_from_json" not in "\n".join(lines) and any("keras.layers.Normalization(" in x for x in lines)
    namespace: dict[str, Any] = {"keras": keras, "np": np}
    exec("\n".join(lines), namespace)  # noqa: S102 - the code is ours
    made = namespace["model"]
    data = np.random.default_rng(0).standard_normal((2, 2, 3)).astype("float32")
    assert np.allclose(made(data), model(data))
    assert [la.get_config() for la in made.layers] == [la.get_config() for la in model.layers]
    assert layer_lines(keras.Sequential([keras.Input((2,)), keras.layers.ReLU()])) == []


def test_the_model_entry_writes_its_normalization_as_a_constructor_line() -> None:
    script = (MODEL_ENTRY / "repro.py").read_text()
    assert "keras.layers.Normalization(" in script and "model_from_json" not in script
    assert "Reads no file." in script


# ---- an entry blamed on ONNX Runtime by its release history ---------------------------------------------------
HISTORY = {"onnxruntime": {"shows_since": "1.30.0", "before": "fixed", "after": "shows", "last_before": "1.29.0"}}


def test_an_entry_reblamed_on_the_runtime_says_so_in_err_log_and_issue_md(tmp_path: Path) -> None:
    """Its folder is named by the package blamed, meta.json's signature stays what a check shows (the replay and a
    campaign match it), and err.log's finding is the one meta.json keeps (blame: runtime)."""
    relu = GraphSpec((1, 4), (NodeSpec("Relu"),), seed=0)
    finding = Finding("onnx>onnx2tf", Stage.LOAD, Symptom.EXCEPTION, "ValueError", "planted",
                      where="onnx2tf.ops.Relu")
    x = relu.make_inputs(1)
    outcome = Outcome([finding], [Case(1, {}, x, [np.maximum(x[0], 0)])], relu.to_onnx().SerializeToString())
    folder = corpus.write(tmp_path, finding, relu, GraphJob(relu.to_json(), "onnx2tf"), outcome, {},
                          lambda folder, spec, meta: {"checked": False}, carried={"history": HISTORY})
    meta = json.loads((folder / "meta.json").read_text())
    assert folder.name.startswith("onnxruntime-load-") and meta["blame"] == "runtime"
    assert meta["signature"] == finding.signature and meta["signature"].startswith("onnx2tf|")
    assert (folder / "err.log").read_text().splitlines()[0].endswith("(blame: runtime)")
    src = source_of(folder, relu, meta)
    said = issue.identity_words(src)
    assert f"`{finding.signature}`" in said and "blames onnxruntime" in said


def test_the_committed_runtime_entry_blames_the_runtime_in_every_file() -> None:
    folder = ROOT / "onnxruntime-run-exception-runtimeexception-d63046fed0"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["blame"] == meta["finding"]["blame"] == "runtime"
    assert (folder / "err.log").read_text().splitlines()[0].endswith("(blame: runtime)")
    text = (folder / "issue.md").read_text()
    assert "**Why onnxruntime:**" in text and "the evidence above blames onnxruntime" in text
    assert Finding.from_dict(meta["finding"]).slug == folder.name
