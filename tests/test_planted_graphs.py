"""Test the tester, ONNX -> Keras: converters with planted faults (onnx2keras with a bug put in) are
found on drawn graphs, reduced to the smallest graph that shows the fault, and written to the corpus once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings

import strategies
from roundtrip import GraphSpec
from roundtrip.run.worker import Limits
from roundtrip.search.harness import Harness, Plan
from roundtrip.store import corpus

pytestmark = pytest.mark.slow
# The reducer's budget a finding: these graphs have two nodes at most.
REDUCE_SECONDS = 20.0
# Each hunt draws from a fault's op and Relu, which onnx2keras itself converts right (its Flatten, say,
# bakes the batch in: a real finding that would come first).


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    opened = Harness.open(tmp_path_factory.mktemp("planted-graphs") / "corpus", Limits(timeout=30.0),
                          plan=Plan(writes=True, reduce=REDUCE_SECONDS))
    yield opened
    opened.close()


def hunt(harness: Harness, back: str, ops: list[str], examples: int = 20) -> dict[str, corpus.Entry]:
    """Runs the ONNX -> Keras property through `back`; returns the entries written, by symptom/kind."""

    @settings(max_examples=examples, database=None, derandomize=True)
    @given(graph=strategies.onnx_graphs(max_nodes=2, ops=ops, dtypes=["float32"], input_ranks=(2, 3, 4)))
    def check(graph: GraphSpec) -> None:
        harness.check_graph(graph, back)

    harness.explore(check)
    found = [e for e in corpus.entries(harness.root) if e.meta["back"] == back]
    assert len({e.signature for e in found}) == len(found)
    return {f"{e.meta['symptom']}/{e.finding.kind}": e for e in found}


def test_wrong_values_after_a_softmax_shrink_to_one_softmax(harness: Harness) -> None:
    entries = hunt(harness, "tests.planted:shift_after_softmax", ["Relu", "Softmax"])
    entry = entries["value/value@Softmax"]
    assert isinstance(entry.spec, GraphSpec) and [n.kind for n in entry.spec.nodes] == ["Softmax"]
    assert entry.meta["direction"] == "onnx-keras-onnx"
    assert entry.meta["path"] == "onnx>tests.planted:shift_after_softmax"
    assert (entry.folder / "model.onnx").exists() and (entry.folder / "test_data_set_0" / "input_0.pb").exists()
    script = (entry.folder / "repro.py").read_text()
    assert "onnx.parser.parse_model" in script and "from tests.planted import shift_after_softmax" in script


def test_a_batch_baked_in_shows_at_batch_3(harness: Harness) -> None:
    entries = hunt(harness, "tests.planted:first_example_only", ["Relu", "Transpose"])
    entry = entries["shape/shape:batch@Transpose"]
    assert [n.kind for n in entry.spec.nodes] == ["Transpose"]
    assert entry.meta["case"]["batch"] == 3


def test_a_crash_is_a_finding_and_the_run_goes_on(harness: Harness) -> None:
    entries = hunt(harness, "tests.planted:segfault_on_gather", ["Relu", "Gather"])
    entry = entries["crash/SIGSEGV"]
    assert [n.kind for n in entry.spec.nodes] == ["Gather"] and entry.meta["stage"] == "load"
    assert entry.spec.input_shape in ((1,), (1, 1), (1, 1, 1))
