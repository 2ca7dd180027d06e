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

from roundtrip import GraphSpec, registry
from roundtrip.finding.findings import Blame, Finding, Stage, Symptom
from roundtrip.report import reports
from roundtrip.run.worker import Limits
from roundtrip.search.harness import Harness
from roundtrip.search.plan import Plan
from roundtrip.spec.graph import NodeSpec
from roundtrip.store import corpus
from tests.test_planted_converter import shows

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
    identity_kept, moved = sorted(dict(e.spec.nodes[0].params)["perm"] for e in entries)  # rank may be lowered
    assert identity_kept == tuple(range(len(identity_kept))) and moved[:2] == (1, 0) and moved[2:] == identity_kept[2:]


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


# ---- a cause rule: a failure that a symbolic input dim causes (roundtrip.oracle.symbolic) --------------------
SYMBOLIC = "|load|exception|symbolic-dim"
ZERO_BATCH = "tests.planted:symbolic_batch_as_zero"
# The planted converter of a symbolic batch read as 0 with its row, which says it reads every symbolic dim so
# (`static_input_dims`): as onnx2keras' rows do.
ZERO_BATCH_ROW = registry.Converter(
    "zero-batch", "tests", registry.ONNX_TO_KERAS, "tests.planted.symbolic_batch_as_zero",
    function="tests.planted.symbolic_batch_as_zero", states=registry.states("onnx2keras", registry.ONNX_TO_KERAS),
    static_input_dims=True, adapter=ZERO_BATCH)
ON_ZERO = {"Flatten": "ValueError", "Reshape": "IndexError", "Relu": "TypeError"}  # its faults on a symbolic batch


def zero_batch_graphs() -> list[GraphSpec]:
    """A graph of each op kind the planted converter fails on when the batch is symbolic, and (last) a
    Transpose it fails on whatever the batch."""
    return [graph(NodeSpec.make("Flatten")), graph(NodeSpec.make("Reshape", shape=(-1, 6))),
            graph(NodeSpec.make("Relu")), graph(NodeSpec.make("Transpose", perm=(0, 1, 2)))]


@pytest.fixture
def zero_batch() -> Iterator[str]:
    undo = registry.register(ZERO_BATCH_ROW)
    try:
        yield ZERO_BATCH_ROW.name
    finally:
        undo()


def test_a_symbolic_batch_read_wrong_on_three_ops_is_one_entry_and_a_fault_whatever_the_dims_its_own(
        harness: Harness, zero_batch: str, tmp_path: Path) -> None:
    """The planted converter reads the symbolic batch as 0, and its Flatten, Reshape and Relu fail on it in words
    of their own (ValueError, IndexError, TypeError): with the batch fixed each graph converts and runs right,
    and its row says it reads every symbolic dim so: one bug, met on three ops, its entry saying the cause.
    Its Transpose fault fails with the batch fixed too: a bug of its own, no symbolic dim's."""
    entries = explore(harness, zero_batch, zero_batch_graphs())
    assert len(entries) == 2, [e.signature for e in entries]
    [symbolic] = [e for e in entries if e.finding.symbolic_dim]
    [other] = [e for e in entries if e is not symbolic]
    assert symbolic.signature == "tests" + SYMBOLIC and symbolic.meta["ops"] == ["Flatten", "Relu", "Reshape"]
    raised = symbolic.finding.raised
    assert symbolic.finding.kind == f"symbolic-dim:{raised}" and raised in ON_ZERO.values()
    said = symbolic.finding.details  # the reduced graph's input, as declared and with the batch fixed
    assert said["symbolic_dims"].startswith("input (N, ")
    assert said["fixed_dims"] == said["symbolic_dims"].replace("N", "1", 1)
    reports.write_reports(harness.root, tmp_path / "reports")  # issue.md beside each entry
    issue = (symbolic.folder / "issue.md").read_text()
    title = issue.splitlines()[0]
    assert f"raises {raised} converting a graph whose input has a symbolic dim" in title
    assert title.endswith("; with the dim fixed, the same graph converts and runs")
    assert f"its input's symbolic dims ({said['symbolic_dims']})" in issue and f"fixed ({said['fixed_dims']})" in issue
    assert shows(symbolic.folder), "repro.py does not raise on the symbolic batch"
    assert (other.finding.kind, other.finding.op, other.meta["ops"]) == ("ValueError", "Transpose", ["Transpose"])
    assert "identity perm" in other.signature


def test_a_symbolic_batch_failing_on_three_ops_of_a_converter_keeping_it_symbolic_is_three_bugs(
        harness: Harness, tmp_path: Path) -> None:
    """The same faults through a converter with no row (nothing says it reads every symbolic dim wrong): a
    failure only a symbolic dim causes is the code of the op it shows on, one entry per op, each saying the
    cause; the Transpose fault its own, as before."""
    entries = explore(harness, ZERO_BATCH, zero_batch_graphs())
    kinds = sorted(e.finding.kind for e in entries)
    assert kinds == sorted(["ValueError", *(f"symbolic-dim[{op}]:{raised}" for op, raised in ON_ZERO.items())]), \
        [e.signature for e in entries]
    reports.write_reports(harness.root, tmp_path / "reports")
    for entry in entries:
        op = entry.meta["ops"][0]
        assert entry.meta["ops"] == [op] and entry.finding.op == op
        if entry.finding.symbolic_dim:
            assert entry.signature == f"tests{SYMBOLIC}[{op}]" and entry.finding.raised == ON_ZERO[op]
            title = (entry.folder / "issue.md").read_text().splitlines()[0]
            assert f"raises {ON_ZERO[op]} on a" in title and f" {op} node converting a graph whose input" in title


def test_a_fault_whatever_the_dims_is_not_the_symbolic_dims(zero_batch: str) -> None:
    """A check's own finding, no harness: the Transpose fault fails the graph with its batch fixed too, so it is
    the Transpose's, named as any failure is, though the converter reads every symbolic dim wrong."""
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import GraphJob

    [found] = run_job(GraphJob(graph(NodeSpec.make("Transpose", perm=(0, 1, 2))).to_json(), zero_batch)).findings
    assert (found.stage, found.kind, found.op) == (Stage.LOAD, "ValueError", "Transpose")
    assert not found.symbolic_dim and "symbolic_dims" not in found.details
    assert "identity perm" in found.signature


def test_onnx2keras_reading_a_symbolic_dim_as_0_is_one_bug_at_load_and_at_run() -> None:
    """onnx2keras builds its Keras Input from `dim_value`, 0 for a symbolic dim (upstream issue 160): the graph
    Keras' export makes of a Flatten of a dynamic input fails to run, that of a Conv1D fails to convert.  The
    same graphs with the dims fixed convert and run right: one bug, whichever stage and op it shows on."""
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import Job
    from roundtrip.spec.model import InputSpec, LayerSpec, ModelSpec

    def finding(kind: str, **params: Any) -> Finding:
        spec = ModelSpec((InputSpec("in0", (1, 1), dynamic=True),), (LayerSpec.make("x1", kind, "in0", **params),),
                         ("x1",))
        [found] = run_job(Job(spec.to_json(), "keras-export", 13, "onnx2keras")).findings
        return found

    flatten = finding("Flatten")
    conv = finding("Conv1D", filters=1, kernel_size=(1,), strides=(1,), padding="valid", dilation_rate=(1,))
    assert (flatten.stage, conv.stage) == (Stage.RUN, Stage.LOAD)
    assert flatten.signature == conv.signature == "onnx2keras" + SYMBOLIC
    assert conv.op == "Conv" and flatten.kind == conv.kind == "symbolic-dim:ValueError"
    assert "fixed (in0 (1, 1, 1))" in flatten.details["evidence"]


def test_onnx2keras_failing_after_an_unsqueeze_for_another_reason_is_not_the_symbolic_dim() -> None:
    """onnx2keras drops the batch axis of its Input whether it is symbolic or not: the graph of an
    Unsqueeze at axis 0 and a Reshape to (-1,) fails to run at batch 3 with the batch fixed too.  Its
    failure is its own (the corpus' `onnx2keras-run-exception-valueerror-ecfb5b202b`)."""
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import GraphJob

    chain = graph(NodeSpec.make("Unsqueeze", axes=(0,)), NodeSpec.make("Reshape", shape=(-1,)), shape=(1,))
    [found] = run_job(GraphJob(chain.to_json(), "onnx2keras")).findings
    assert (found.stage, found.kind) == (Stage.RUN, "ValueError") and not found.symbolic_dim
    assert "total size of the tensor must be unchanged" in found.message


def test_onnx2tf_failing_on_a_symbolic_batch_is_the_symbolic_dim_of_the_op_it_fails_on() -> None:
    """onnx2tf cannot convert a Flatten(axis=-1) -> Unsqueeze(axes=(0,)) graph whose batch is symbolic ("Cannot
    convert a partially known TensorShape", in its Flatten); with the batch fixed it converts and runs right.
    onnx2tf keeps a symbolic dim symbolic (its row does not say `static_input_dims`): the op's code is at
    fault, and the op stays in the identity (the corpus' `onnx2tf-load-exception-valueerror-d2a4d8bd1e`)."""
    from roundtrip.convert.back import missing_environment
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import GraphJob

    if missing_environment("onnx2tf"):
        pytest.skip(str(missing_environment("onnx2tf")))
    chain = graph(NodeSpec.make("Flatten", axis=-1), NodeSpec.make("Unsqueeze", axes=(0,)), shape=(1, 1))
    [found] = run_job(GraphJob(chain.to_json(), "onnx2tf")).findings
    assert found.signature == f"onnx2tf{SYMBOLIC}[Flatten]" and found.stage == Stage.LOAD
    assert found.raised == "ValueError" and found.op == "Flatten"
    assert (found.details["symbolic_dims"], found.details["fixed_dims"]) == ("input (N, 1, 1)", "input (1, 1, 1)")


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


# ---- the first wrong node, not the one the damage surfaces at (onnx2tf, whose errors name no node) ----------
def test_onnx2tf_failing_to_load_after_a_wrong_node_is_that_nodes_mismatch() -> None:
    """onnx2tf's ReduceProd after a Transpose gives (2, 1) where ONNX Runtime gives (1, 1), and the Gemm after
    it fails to convert.  The error comes back from onnx2tf's environment naming no node, but its place does
    (`onnx2tf.ops.Gemm:make_node`): the graph is cut before the Gemm, and the finding is the ReduceProd's
    mismatch (the corpus' `onnx2tf-compare-mismatch-reduceprod-ccbd7990b6`)."""
    from roundtrip.convert.back import missing_environment
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import GraphJob

    if missing_environment("onnx2tf"):
        pytest.skip(str(missing_environment("onnx2tf")))
    chain = GraphSpec.from_json(json.dumps({"dtype": "float32", "input_shape": [1, 1, 2], "opset": 11, "schema": 1,
                                            "seed": 115, "nodes": [
        {"kind": "Transpose", "params": {"perm": [2, 0, 1, 3]}},
        {"kind": "ReduceProd", "params": {"axes": [-2, -1], "keepdims": 0}},
        {"kind": "Gemm", "params": {"transA": True, "units": 1}}]}))
    [found] = run_job(GraphJob(chain.to_json(), "onnx2tf")).findings
    assert (found.stage, found.symptom, found.details["culprit"]) == (Stage.COMPARE, Symptom.SHAPE, "ReduceProd")
    assert "Dimensions must be equal" in found.details["downstream"]


def test_onnx2tf_failing_to_run_a_layer_at_a_node_after_a_wrong_one_is_that_nodes_mismatch() -> None:
    """A CenterCropReshape layer is a Slice and a Reshape in tf2onnx's graph; onnx2tf's Slice keeps 1 element of
    the 2 ONNX Runtime's keeps, and the Reshape after it fails to run.  The layer alone fails (no earlier layer
    is wrong): the converted graph is cut after each node before the last, and the finding is the Slice's
    mismatch (the corpus' `onnx2tf-compare-mismatch-slice-91a06c7a12`, a variant of the Slice mismatch: its
    case is the layer's, `details.layer`)."""
    from roundtrip.convert.back import missing_environment
    from roundtrip.oracle.check import run_job
    from roundtrip.oracle.outcome import Job

    if missing_environment("onnx2tf"):
        pytest.skip(str(missing_environment("onnx2tf")))
    spec = one_layer((1, 1, 2), "CenterCropReshape", height=1, width=1)
    [found] = run_job(Job(spec.to_json(), "tf2onnx-keras", 15, "onnx2tf")).findings
    assert (found.stage, found.symptom, found.details["culprit"]) == (Stage.COMPARE, Symptom.SHAPE, "Slice")
    assert "Op:Reshape" in found.details["downstream"]
    assert found.details["layer"] == "CenterCropReshape"  # its param case is the layer's (recorder.case_of)
