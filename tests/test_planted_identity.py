"""Test the tester: one entry per root cause, and every root cause its entry; blame that follows evidence.

Planted faults (tests/planted.py) are run on fixed graphs and models through a writing harness, each test in
a corpus of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roundtrip import GraphSpec
from roundtrip.finding.findings import Blame, Finding, Stage, Symptom
from roundtrip.run.worker import Limits
from roundtrip.search.harness import Harness
from roundtrip.search.plan import Plan
from roundtrip.spec.graph import NodeSpec
from roundtrip.store import corpus

pytestmark = pytest.mark.slow


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    opened = Harness.open(tmp_path / "corpus", Limits(timeout=60.0), plan=Plan(writes=True, reduce=30.0))
    yield opened
    opened.close()


def graph(*nodes: NodeSpec, shape: tuple[int, ...] = (2, 3)) -> GraphSpec:
    return GraphSpec(shape, nodes)


def explore(harness: Harness, back: str, graphs: list[GraphSpec]) -> list[corpus.Entry]:
    """Checks each graph through `back`, records what was met; the entries of `back` written."""
    def check() -> None:
        for g in graphs:
            harness.check_graph(g, back)

    harness.explore(check)
    return [e for e in corpus.entries(harness.root) if e.meta["back"] == back]


def test_one_fault_met_on_three_op_kinds_is_one_entry_listing_the_three(harness: Harness) -> None:
    entries = explore(harness, "tests.planted:shared_fault",
                      [graph(NodeSpec.make(kind)) for kind in ("Relu", "Sigmoid", "Tanh")])
    assert len(entries) == 1, [e.folder.name for e in entries]
    entry = entries[0]
    assert entry.meta["ops"] == ["Relu", "Sigmoid", "Tanh"]
    assert len(entry.spec.nodes) == 1 and entry.finding.kind == "ValueError"
    assert "shared shape helper" in entry.signature


def test_two_faults_on_one_op_kind_are_two_entries(harness: Harness) -> None:
    identity = NodeSpec.make("Transpose", perm=(0, 1, 2))
    batch_moved = NodeSpec.make("Transpose", perm=(1, 0, 2))
    entries = explore(harness, "tests.planted:two_transpose_faults",
                      [graph(identity, shape=(2, 3)), graph(batch_moved, shape=(2, 3))])
    kinds = sorted(e.finding.kind for e in entries)
    assert kinds == ["IndexError", "ValueError"], [e.signature for e in entries]
    assert all(e.meta["ops"] == ["Transpose"] for e in entries)
    perms = sorted(dict(e.spec.nodes[0].params)["perm"] for e in entries)
    assert perms == [(0, 1, 2), (1, 0, 2)]


def test_a_fault_that_needs_two_nodes_reduces_to_a_valid_graph_of_two(harness: Harness) -> None:
    import onnx

    from roundtrip.run.runners import OrtSession

    chain = graph(NodeSpec.make("Sigmoid"), NodeSpec.make("Transpose", perm=(0, 2, 1)), NodeSpec.make("Relu"),
                  NodeSpec.make("Tanh"), shape=(2, 3))
    entries = explore(harness, "tests.planted:relu_after_transpose", [chain])
    assert len(entries) == 1
    spec = entries[0].spec
    assert [n.kind for n in spec.nodes] == ["Transpose", "Relu"]
    proto = spec.to_onnx()
    onnx.checker.check_model(proto, full_check=True)
    assert OrtSession.load(proto.SerializeToString()).run(spec.make_inputs(1))[0].shape == spec.output_shape(1)


# ---- blame ------------------------------------------------------------------------------------------------
class PlantedRuntime:
    """ONNX Runtime with a fault put in: it refuses to run any graph that holds a Relu."""

    def __init__(self, model_bytes: bytes) -> None:
        import onnx

        from roundtrip.run.runners import OrtSession

        self.inner = OrtSession.load(model_bytes)
        self.ops = {n.op_type for n in onnx.load_from_string(model_bytes).graph.node}
        self.warnings: list[tuple[str, str]] = []

    @classmethod
    def load(cls, model_bytes: bytes) -> PlantedRuntime:
        return cls(model_bytes)

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if "Relu" in self.ops:
            raise RuntimeError("planted runtime: no kernel ran Relu")
        return list(self.inner.run(arrays))


def check_with_planted_runtime(monkeypatch: pytest.MonkeyPatch, path: str, layers: list[dict[str, Any]]) -> Finding:
    from roundtrip.oracle import check
    from roundtrip.oracle.outcome import Job
    from roundtrip.spec.model import ModelSpec

    monkeypatch.setattr(check, "OrtSession", PlantedRuntime)
    spec = ModelSpec.from_json(json.dumps({"inputs": [{"name": "in0", "shape": [4]}], "layers": layers,
                                           "outputs": [layers[-1]["name"]], "seed": 0, "schema": 1}))
    outcome = check.run_job(Job(spec.to_json(), path, 13))
    [finding] = outcome.findings  # each case's failure to run, one finding
    return finding


def test_a_runtime_that_fails_on_a_graph_the_reference_evaluator_runs_is_blamed(
        monkeypatch: pytest.MonkeyPatch, keras_session: Any) -> None:
    finding = check_with_planted_runtime(monkeypatch, "tf2onnx-function", [
        {"name": "x1", "kind": "ReLU", "inputs": ["in0"], "params": {}}])
    assert finding.symptom is Symptom.EXCEPTION and finding.blame is Blame.RUNTIME
    assert finding.package == "onnxruntime" and "ReferenceEvaluator" in finding.details["evidence"]


def test_a_runtime_failure_on_a_wrong_graph_stays_the_converters(
        monkeypatch: pytest.MonkeyPatch, keras_session: Any) -> None:
    # The planted converter writes HardSigmoid for Sigmoid: the reference evaluator runs the graph, to other
    # values than Keras', so the runtime's failure is not evidence against the runtime.  It is the
    # converter's, and downstream of the Sigmoid's own wrong values: that mismatch (check.placed).
    finding = check_with_planted_runtime(monkeypatch, "tests.planted:sigmoid_made_hard", [
        {"name": "x1", "kind": "Activation", "inputs": ["in0"], "params": {"activation": "sigmoid"}},
        {"name": "x2", "kind": "ReLU", "inputs": ["x1"], "params": {}}])
    assert finding.blame is Blame.CONVERTER and finding.package == "tests"
    assert (finding.symptom, finding.op) == (Symptom.VALUE, "Activation")
    assert "planted runtime" in finding.details["downstream"]


def test_a_release_history_blames_the_release_that_changed_the_status(tmp_path: Path) -> None:
    finding = Finding("tf2onnx-function", Stage.RUN, Symptom.EXCEPTION, "RuntimeException", "padding values")
    history = {"onnxruntime": {"shows_since": "1.30.0", "last_before": "1.29.0", "before": "fixed",
                               "after": "shows"}}
    shown, evidence = corpus.reblamed(finding, history)
    assert shown.package == "onnxruntime" and "since onnxruntime 1.30.0" in evidence
    fixed = {"onnxruntime": {"fixed_in": "1.32.0", "last_before": "1.31.1", "before": "shows", "after": "fixed"}}
    kept, why = corpus.reblamed(finding, fixed)
    assert kept.package == "tf2onnx" and "work around" in why
    assert corpus.reblamed(finding, {"tf2onnx": {"shows_since": "1.17.0"}}) == (finding, "")


def test_a_load_failure_downstream_of_a_wrong_node_is_that_nodes_mismatch() -> None:
    """onnx2keras converts Flatten(axis=2) with the batch baked in, and then fails on the MatMul after it:
    the finding is the Flatten's, not the MatMul's."""
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import GraphJob

    chain = graph(NodeSpec.make("Flatten", axis=2), NodeSpec.make("MatMul", units=1), shape=(2,))
    [finding] = run_job(GraphJob(chain.to_json(), "onnx2keras")).findings
    assert (finding.stage, finding.symptom) == (Stage.COMPARE, Symptom.SHAPE)
    assert "not compatible" in finding.details["downstream"]
    alone = run_job(GraphJob(graph(NodeSpec.make("Flatten", axis=2), shape=(2,)).to_json(), "onnx2keras"))
    assert finding.signature in {f.signature for f in alone.findings}


def test_another_param_case_of_a_known_mismatch_is_its_own_entry(harness: Harness) -> None:
    back = "tests.planted:softmax_two_cases"
    last = explore(harness, back, [graph(NodeSpec.make("Softmax", axis=-1), shape=(2, 3))])
    assert len(last) == 1 and last[0].finding.kind == "value@Softmax"
    # The same case on another shape is the known bug; axis 1 is another.
    both = explore(harness, back, [graph(NodeSpec.make("Softmax", axis=-1), shape=(3, 2)),
                                   graph(NodeSpec.make("Softmax", axis=1), shape=(2, 3))])
    assert len(both) == 2, [e.signature for e in both]
    axes = sorted(dict(e.spec.nodes[0].params)["axis"] for e in both)
    assert axes == [-1, 1]
    variant = next(e for e in both if e.finding.variant)
    assert variant.signature == f"{last[0].signature}|case:{variant.finding.variant}"
    # Replayed, each still shows; met again, neither is new.
    assert [harness.recorder.replay(e)[0] for e in both] == ["still", "still"]
    assert explore(harness, back, [graph(NodeSpec.make("Softmax", axis=1), shape=(2, 3))]) == both


def test_a_run_failure_of_a_round_trip_is_the_mismatch_of_the_layer_it_follows_from() -> None:
    """onnx2keras multiplies by BatchNormalization's rank-1 scale with a Keras Multiply, which lines it up on
    the wrong axis: at batch 1 the product is (2, 2) where (1, 2) is due, and the Concatenate after it fails
    to run; at batch 3 the Multiply itself fails.  Both are the BatchNormalization's mismatch: one finding."""
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import Job
    from roundtrip.spec.model import InputSpec, LayerSpec, ModelSpec

    spec = ModelSpec((InputSpec("in0", (2,)),), (LayerSpec.make("x1", "BatchNormalization", "in0"),
                                                  LayerSpec.make("x2", "Concatenate", ("x1", "in0"))), ("x2",))
    [finding] = run_job(Job(spec.to_json(), "keras-export", 13, "onnx2keras")).findings
    assert (finding.stage, finding.symptom, finding.details["culprit"]) == (Stage.COMPARE, Symptom.SHAPE,
                                                                            "BatchNormalization")
    assert "ConcatOp" in finding.details["downstream"] and "Op:Mul" in finding.details["also_raises"]


def test_a_nodes_failure_to_run_on_one_case_and_its_mismatch_on_another_are_one_finding() -> None:
    """The planted Softmax gives a wrong shape at batch 1 and fails to run at batch 3: one fault of one node,
    one finding (the mismatch, the failure beside it)."""
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import GraphJob

    job = GraphJob(graph(NodeSpec.make("Softmax", axis=-1)).to_json(), "tests.planted:softmax_batch_one")
    [finding] = run_job(job).findings
    assert (finding.symptom, finding.details["culprit"]) == (Symptom.SHAPE, "Softmax")
    assert finding.details["also_case"] == "batch 3" and finding.details["also_raises"]


# ---- a run failure met on another example than its layer's mismatch ----------------------------------------
def one_layer(shape: tuple[int, ...], kind: str, **params: Any) -> Any:
    from roundtrip.spec.model import ModelSpec

    return ModelSpec.from_json(json.dumps({"inputs": [{"name": "in0", "shape": list(shape)}], "layers": [
        {"name": "x1", "kind": kind, "inputs": ["in0"], "params": params}], "outputs": ["x1"], "seed": 0,
        "schema": 1}))


def explore_models(harness: Harness, models: list[Any]) -> list[corpus.Entry]:
    """Checks each model through the planted `batch_one_outputs`, records what was met; the corpus after."""
    def check() -> None:
        for model in models:
            harness.check(model, "tests.planted:batch_one_outputs", 13)

    harness.explore(check)
    return corpus.entries(harness.root)


def test_a_run_failure_on_another_example_of_a_known_mismatchs_layer_is_that_mismatch(harness: Harness) -> None:
    """The planted Sigmoid's conversion gives a wrong shape at batch 1 on a (2, 3) input and fails to run at
    batch 3 on any: on a (2, 2) input only the failure shows.  Met first, that failure is an entry; once the
    mismatch is met it is that mismatch's (`also_raises`), and met again it is known, noted there."""
    sigmoid = {"activation": "sigmoid"}
    [failure] = explore_models(harness, [one_layer((2, 2), "Activation", **sigmoid)])
    assert failure.finding.symptom is Symptom.EXCEPTION and failure.finding.details["arises_at"] == "Activation"
    [mismatch] = explore_models(harness, [one_layer((2, 3), "Activation", **sigmoid)])
    assert not failure.folder.exists()  # taken in by the mismatch written after it
    assert (mismatch.finding.symptom, mismatch.finding.op) == (Symptom.SHAPE, "Activation")
    assert mismatch.finding.details["also_case"] == "batch 3"
    # A mismatch entry that notes no failure yet: the failure met on another example is noted there.
    meta = json.loads((mismatch.folder / "meta.json").read_text())
    for key in ("also_raises", "also_case"):
        del meta["finding"]["details"][key]
    corpus.write_meta(mismatch.folder, meta)
    harness.recorder.reload()
    assert explore_models(harness, [one_layer((2, 2), "Activation", **sigmoid)]) == [corpus.load(mismatch.folder)]
    details = corpus.load(mismatch.folder).finding.details
    assert details["also_case"] == "batch 3" and "Reshape" in details["also_raises"]
    assert harness.known_hits[mismatch.signature] >= 1


def test_a_run_failure_of_another_layer_than_a_known_mismatchs_culprit_is_its_own_entry(harness: Harness) -> None:
    [mismatch] = explore_models(harness, [one_layer((2, 3), "Activation", activation="sigmoid")])
    entries = explore_models(harness, [one_layer((2, 2), "ReLU")])
    assert len(entries) == 2, [e.folder.name for e in entries]
    [failure] = [e for e in entries if e.folder != mismatch.folder]
    assert (failure.finding.stage, failure.finding.details["arises_at"]) == (Stage.RUN, "ReLU")
    assert corpus.load(mismatch.folder).finding.details == mismatch.finding.details
