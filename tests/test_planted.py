"""Test the tester: converters with planted faults are found, reduced to the smallest spec that shows
the fault, written to the corpus once, and the run goes on (a crash or a hang costs one worker).  The gate
writes nothing and fails naming the bug."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis.strategies import SearchStrategy

import strategies
from roundtrip import InputSpec, LayerSpec, ModelSpec
from roundtrip.run.worker import Limits
from roundtrip.search import pending
from roundtrip.search.harness import Harness, NewFinding
from roundtrip.search.plan import Plan
from roundtrip.store import corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    # A writing run; a bug's reducer budget of 30 s: the models here have three layers at most.
    opened = Harness.open(tmp_path_factory.mktemp("planted") / "corpus", Limits(timeout=4.0),
                          plan=Plan(writes=True, reduce=30.0))
    yield opened
    opened.close()


def hunt(harness: Harness, path: str, models: SearchStrategy[ModelSpec], examples: int = 150) -> None:
    """Runs a property over `path` under the harness' plan, and expects it to write entries."""
    before = len(harness.recorder.written)

    @settings(max_examples=examples, database=None)
    @given(spec=models)
    def check(spec: ModelSpec) -> None:
        harness.check(spec, path, 13)

    harness.explore(check)
    assert len(harness.recorder.written) > before


def written(harness: Harness, path: str) -> dict[str, corpus.Entry]:
    """The corpus entries of `path`, by the finding's kind; each signature at most once."""
    found = [e for e in corpus.entries(harness.root) if e.meta["path"] == path]
    assert len({e.signature for e in found}) == len(found)
    return {e.finding.kind: e for e in found}


def only(kind: str, shape: tuple[int, ...], **params: object) -> ModelSpec:
    return ModelSpec((InputSpec("in0", shape),), (LayerSpec.make("x1", kind, "in0", **params),), ("x1",))


def test_a_batch_baked_into_a_reshape_fails_at_batch_3(harness: Harness) -> None:
    path = "tests.planted:bake_batch"
    # Kinds that convert through a Reshape to [-1, ...] and some that do not; float32 (the fault is the batch's).
    models = strategies.keras_models(max_layers=3, dtypes=("float32",), layers=[
        "Reshape", "Flatten", "Dense", "Activation", "Cropping2D", "Conv2D", "GlobalAveragePooling1D"])
    hunt(harness, path, models)
    entries = written(harness, path)
    entry = entries["Fail"]
    assert (entry.meta["stage"], entry.meta["symptom"]) == ("run", "exception")
    assert len(entry.spec.layers) == 1
    # Each of these converts through a Reshape to [-1, ...] (Dense on a rank-3 input: tf2onnx's MatMul);
    # the reducer keeps a layer's kind, so the one met first that the reducer takes to one layer is kept; it
    # drops an input's dims while the layer still takes the rank.
    assert entry.spec.layers[0].kind in ("Reshape", "Flatten", "Dense")
    assert entry.spec.inputs[0].shape in ((1,), (1, 1))
    assert entry.meta["case"]["batch"] == 3
    files = {p.relative_to(entry.folder).as_posix() for p in entry.folder.rglob("*") if p.is_file()}
    assert {"spec.json", "meta.json", "model.onnx", "weights.npz", "err.log", "repro.py",
            "test_data_set_0/input_0.pb", "test_data_set_0/output_0.pb"} <= files
    assert entry.meta["shrink"]["examples_with_signature"] >= 1
    assert json.loads((entry.folder / "meta.json").read_text())["versions"]["tf2onnx"] == "1.17.0"


def test_a_dropped_transpose_is_a_value_finding_on_a_lone_flatten(harness: Harness) -> None:
    path = "tests.planted:drop_transpose"
    hunt(harness, path, strategies.keras_models(max_layers=3, layers=["Flatten", "Dense", "Dropout"]))
    entry = written(harness, path)["value@Flatten"]
    assert entry.meta["symptom"] == "value" and entry.meta["blame"] == "converter"
    assert [la.kind for la in entry.spec.layers] == ["Flatten"]
    assert entry.spec.inputs[0].shape == (2, 2)  # the smallest shape whose order channels-first changes


def test_a_segfault_is_a_crash_finding_and_the_run_goes_on(harness: Harness) -> None:
    path = "tests.planted:segfault_on_permute"
    # Every example with a Permute costs a worker: 40 of them, not 150.
    hunt(harness, path, strategies.keras_models(max_layers=3, layers=["Permute", "Flatten", "Dense"]), examples=40)
    entry = written(harness, path)["SIGSEGV"]
    assert (entry.meta["stage"], entry.meta["symptom"]) == ("convert", "crash")
    # The reducer keeps an input's rank (a Permute's dims are tied to it): one Permute on a one-element input.
    assert [la.kind for la in entry.spec.layers] == ["Permute"] and set(entry.spec.inputs[0].shape) == {1}
    harness.check(only("Flatten", (2, 2)), path, 13)  # a fresh worker took over


def test_a_hang_is_a_timeout_finding(harness: Harness) -> None:
    path = "tests.planted:hang_on_dropout"
    hunt(harness, path, strategies.keras_models(max_layers=2, layers=["Dropout", "Flatten", "Dense"]), examples=15)
    entry = written(harness, path)["timeout"]
    assert (entry.meta["stage"], entry.meta["symptom"]) == ("convert", "timeout")
    assert [la.kind for la in entry.spec.layers] == ["Dropout"] and entry.spec.inputs[0].shape == (1,)


def test_known_signatures_are_counted_not_raised(tmp_path: Path) -> None:
    path, root = "tests.planted:bake_batch", tmp_path / "corpus"
    first = Harness.open(root, Limits(timeout=60.0), plan=Plan(writes=True, reduce=0.001))
    try:
        first.explore(lambda: first.check(only("Flatten", (2, 3)), path, 13))
    finally:
        first.close()
    assert len(corpus.entries(root)) == 1
    again = Harness.open(root, Limits(timeout=60.0))  # the gate's plan: writes nothing, raises on a new bug
    try:
        again.explore(lambda: again.check(only("Flatten", (2, 3)), path, 13))  # the corpus holds it: no raise
        assert sum(again.known_hits.values()) == 1
    finally:
        again.close()
    assert len(corpus.entries(root)) == 1


def test_a_smaller_example_of_a_known_signature_replaces_its_entry_once(tmp_path: Path) -> None:
    path, root = "tests.planted:bake_batch", tmp_path / "corpus"
    plan = Plan(writes=True, reduce=0.001)  # no reducing: the example written is the one checked
    first = Harness.open(root, Limits(timeout=60.0), plan=plan)
    try:
        first.explore(lambda: first.check(only("Reshape", (2, 3), target_shape=(6,)), path, 13))
    finally:
        first.close()
    (entry,) = corpus.entries(root)
    assert entry.spec == only("Reshape", (2, 3), target_shape=(6,))
    harness = Harness.open(root, Limits(timeout=60.0), plan=plan)
    try:
        small = only("Reshape", (1,), target_shape=(1,))

        def three_times() -> None:
            for _ in range(3):
                harness.check(small, path, 13)  # known: counted; the smaller example kept

        harness.explore(three_times)
        harness.explore(three_times)
        (entry,) = corpus.entries(root)
        assert entry.spec == small and len(harness.recorder.written) == 1  # written once, then it is the known entry
        assert sum(harness.known_hits.values()) == 6
    finally:
        harness.close()


def test_the_gate_writes_nothing_and_names_the_bug_and_its_smallest_example(tmp_path: Path) -> None:
    path, root = "tests.planted:bake_batch", tmp_path / "corpus"
    gate = Harness.open(root, Limits(timeout=60.0), plan=Plan())
    big, small = only("Reshape", (2, 3), target_shape=(6,)), only("Flatten", (2,))

    def two() -> None:
        gate.check(big, path, 13)
        gate.check(small, path, 13)

    try:
        with pytest.raises(NewFinding) as raised:
            gate.explore(two)
    finally:
        gate.close()
    message = str(raised.value)
    assert message.startswith("1 bug(s) the corpus") and "tests|run|exception|Fail" in message
    assert small.to_json() in message and big.to_json() not in message and "ROUNDTRIP_RECORD=1" in message
    assert not root.exists() or not any(root.iterdir())


def test_a_bug_met_by_a_run_that_does_not_record_stays_pending_for_the_next(tmp_path: Path) -> None:
    path, root = "tests.planted:bake_batch", tmp_path / "corpus"
    big, small = only("Reshape", (2, 3), target_shape=(6,)), only("Flatten", (2,))
    first = Harness.open(root, Limits(timeout=60.0), plan=Plan(writes=True, record=False))

    def both() -> None:
        for spec in (big, small):
            first.check(spec, path, 13)

    try:
        first.explore(both)
    finally:
        first.close()  # as a campaign's first slice ends
    [item] = pending.items(root)
    assert item.signature.startswith("tests|run|exception|Fail") and item.examples == 2
    assert item.job.spec == small.to_json() and item.target == path  # the smaller of the two
    assert corpus.entries(root) == []
    late = Harness.open(root, Limits(timeout=60.0), plan=Plan(writes=True, deadline=time.time() - 1))
    try:
        assert late.recorder.record_pending() == []  # past the deadline: none is started, the reason is kept
    finally:
        late.close()
    assert pending.items(root)[0].reason == "the campaign's time was up before it was recorded"
    second = Harness.open(root, Limits(timeout=60.0), plan=Plan(writes=True, reduce=30.0))
    try:
        second.explore(lambda: second.check(only("Dense", (2,), units=2), path, 13))  # meets nothing new
    finally:
        second.close()
    (entry,) = corpus.entries(root)
    assert entry.signature == item.signature and pending.items(root) == []
