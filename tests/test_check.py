"""One check as a worker runs it: what a round trip blames on the way back, and what it leaves to the
Keras -> ONNX property."""

from __future__ import annotations

from roundtrip import InputSpec, LayerSpec, ModelSpec
from roundtrip.check import run_job
from roundtrip.outcome import Job

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
