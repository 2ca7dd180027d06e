"""One check as a worker runs it: what a round trip blames on the way back, and what it leaves to the
Keras -> ONNX property."""

from __future__ import annotations

from roundtrip import InputSpec, LayerSpec, ModelSpec
from roundtrip.oracle.check import run_job
from roundtrip.oracle.outcome import Job

# tf2onnx 1.17.0 leaves TensorFlow's StatefulPartitionedCall in the graph of a float64 grouped Conv3D
GROUPED_CONV3D = ModelSpec(
    (InputSpec("in0", (3, 3, 3, 2)),),
    (LayerSpec.make("x1", "Conv3D", "in0", filters=2, kernel_size=(1, 1, 1), groups=2, strides=(1, 1, 1),
                    dilation_rate=(1, 1, 1), padding="valid"),), ("x1",), seed=1, dtype="float64")


def test_an_invalid_first_conversion_is_the_one_way_propertys_and_the_round_trip_ends_quietly() -> None:
    one_way = run_job(Job(GROUPED_CONV3D.to_json(), "tf2onnx-function", 14))
    assert [f.stage.value for f in one_way.findings][:1] == ["check"], [f.signature for f in one_way.findings]
    assert "StatefulPartitionedCall" in one_way.findings[0].message
    round_trip = run_job(Job(GROUPED_CONV3D.to_json(), "tf2onnx-function", 14, back="onnx2keras"))
    assert round_trip.findings == [] and round_trip.onnx is None, [f.signature for f in round_trip.findings]


# tf2onnx 1.17.0 casts a bfloat16 ReLU's threshold to float16: the checker and ONNX Runtime both refuse it
BFLOAT16_RELU = ModelSpec((InputSpec("in0", (1,)),), (LayerSpec.make("x1", "ReLU", "in0", threshold=0.5),), ("x1",),
                          seed=1, dtype="bfloat16")


def test_a_graph_the_checker_refuses_is_one_finding_not_a_second_at_load() -> None:
    outcome = run_job(Job(BFLOAT16_RELU.to_json(), "tf2onnx-function", 17))
    assert [(f.stage.value, f.symptom.value) for f in outcome.findings] == [("check", "exception")], \
        [f.signature for f in outcome.findings]
    assert "inconsistent type tensor(bfloat16)" in outcome.findings[0].message


# A subclassed model knows only the shapes of its first call: Keras' export is given the dynamic dims
SUBCLASSED_DYNAMIC = ModelSpec((InputSpec("in0", (1, 1, 1, 1), dynamic=True),),
                               (LayerSpec.make("x1", "Cropping3D", "in0", cropping=((0, 0), (0, 0), (0, 0))),),
                               ("x1",), seed=1, subclassed=True)


def test_keras_export_of_a_subclassed_model_keeps_its_dynamic_dims() -> None:
    outcome = run_job(Job(SUBCLASSED_DYNAMIC.to_json(), "keras-export", 18))
    assert outcome.findings == [], [f.signature for f in outcome.findings]
    assert len({case.inputs[0].shape for case in outcome.cases}) > 1, "the cases should try other sizes"
