"""The corpus: one folder per signature, atomic writes, readable errors for broken entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from roundtrip import InputSpec, LayerSpec, ModelSpec
from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.oracle.outcome import Case, Job, Outcome
from roundtrip.spec.parts import size_of
from roundtrip.store import corpus

SPEC = ModelSpec((InputSpec("in0", (2, 3)),), (LayerSpec.make("x1", "Flatten", "in0"),), ("x1",), seed=5)
BIGGER = ModelSpec((InputSpec("in0", (4, 3)),), (LayerSpec.make("x1", "Flatten", "in0"),
                                                 LayerSpec.make("x2", "Dense", "x1", units=2)), ("x2",))
FINDING = Finding("tf2onnx-function", Stage.RUN, Symptom.EXCEPTION, "Fail", "boom", details={"case": "batch 3"})


def outcome(spec: ModelSpec) -> Outcome:
    cases = []
    for batch in (1, 3):
        x = np.full((batch, *spec.inputs[0].shape), batch, np.float32)
        cases.append(Case(batch, {}, [x], [x.reshape(batch, -1)]))
    return Outcome([FINDING], cases, b"not really onnx", {"x1/0": np.ones(2, np.float32)})


def write(root: Path, spec: ModelSpec) -> Path:
    job = Job(spec.to_json(), "tf2onnx-function", 13)
    return corpus.write(root, FINDING, spec, job, outcome(spec), {"examples_with_signature": 1}, fake_repro)


def fake_repro(folder: Path, spec: ModelSpec, meta: dict[str, Any]) -> dict[str, Any]:
    (folder / "repro.py").write_text("print('repro')\n")
    return {"checked": False}


def test_an_entry_holds_every_file_and_loads_back(tmp_path: Path) -> None:
    folder = write(tmp_path, SPEC)
    assert folder.name == FINDING.slug
    entry = corpus.load(folder)
    assert entry.spec == SPEC and entry.signature == FINDING.signature and entry.finding.kind == "Fail"
    assert entry.meta["case"] == {"batch": 3, "sizes": {}} and entry.meta["opset"] == 13
    assert corpus.job_of(entry) == Job(SPEC.to_json(), "tf2onnx-function", 13)
    x = numpy_helper.to_array(onnx.load_tensor(str(folder / "test_data_set_0" / "input_0.pb")))
    assert x.shape == (3, 2, 3) and (x == 3).all()
    assert (folder / "model.onnx").read_bytes() == b"not really onnx"
    assert np.load(folder / "weights.npz")["x1/0"].tolist() == [1.0, 1.0]
    assert "boom" in (folder / "err.log").read_text() and "Flatten()(in0)" in (folder / "err.log").read_text()
    assert [e.folder for e in corpus.entries(tmp_path)] == [folder]


def test_one_entry_per_signature_and_a_rewrite_replaces_it(tmp_path: Path) -> None:
    write(tmp_path, BIGGER)
    write(tmp_path, SPEC)
    (only,) = corpus.entries(tmp_path)
    assert only.spec == SPEC
    # no temporary or old folder left (.lock is what campaign processes take turns on)
    assert [p.name for p in tmp_path.iterdir() if p.name != ".lock"] == [FINDING.slug]
    assert size_of(SPEC) < size_of(BIGGER)


def test_an_entry_whose_repro_cannot_be_written_leaves_nothing_behind(tmp_path: Path) -> None:
    write(tmp_path, BIGGER)

    def failing_repro(folder: Path, spec: ModelSpec, meta: dict[str, Any]) -> dict[str, Any]:
        raise UnicodeDecodeError("utf-8", b"\x82", 0, 1, "invalid start byte")

    job = Job(SPEC.to_json(), "tf2onnx-function", 13)
    with pytest.raises(UnicodeDecodeError):
        corpus.write(tmp_path, FINDING, SPEC, job, outcome(SPEC), {}, failing_repro)
    (only,) = corpus.entries(tmp_path)
    assert only.spec == BIGGER, "the entry there stays as it was"
    assert [p.name for p in tmp_path.iterdir() if p.name != ".lock"] == [FINDING.slug]


def test_folders_in_flight_are_not_entries(tmp_path: Path) -> None:
    (tmp_path / ".tmp-abc").mkdir()
    (tmp_path / ".tmp-abc" / "spec.json").write_text("{")
    assert corpus.entries(tmp_path) == []


@pytest.mark.parametrize(("file", "change", "named"), [
    ("meta.json", lambda text: "{", "meta.json: unreadable"),
    ("meta.json", lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "opset"}),
     "meta.json: field 'opset' is missing"),
    ("meta.json", lambda text: text.replace('"stage": "run"', '"stage": "dance"'), "meta.json: field 'finding'"),
    ("spec.json", lambda text: text.replace('"kind": "Flatten"', '"kind": "Flatten9"'),
     "spec.json: layers[0].kind: unknown layer 'Flatten9'"),
])
def test_a_broken_entry_names_its_file_and_field(tmp_path: Path, file: str, change, named: str) -> None:  # noqa: ANN001
    folder = write(tmp_path, SPEC)
    (folder / file).write_text(change((folder / file).read_text()))
    with pytest.raises(corpus.CorpusError) as info:
        corpus.entries(tmp_path)
    assert str(folder / file) in str(info.value) and named.split(": ", 1)[1] in str(info.value)


def test_campaign_processes_writing_one_signature_keep_the_smallest(tmp_path: Path) -> None:
    """Writers of the same signature (campaign processes) leave one folder, holding the smallest example,
    whatever the order: the write holds a lock and does not replace a smaller entry."""
    import threading

    specs = [BIGGER, SPEC, BIGGER, SPEC, BIGGER, BIGGER]
    threads = [threading.Thread(target=write, args=(tmp_path, spec)) for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.spec for e in corpus.entries(tmp_path)] == [SPEC]
    write(tmp_path, BIGGER)  # later, a bigger one does not replace it
    assert [e.spec for e in corpus.entries(tmp_path)] == [SPEC]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp") or p.name.startswith(".old")]


def test_entries_can_leave_out_an_unreadable_entry_and_say_so(tmp_path: Path) -> None:
    good = write(tmp_path, SPEC)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "meta.json").write_text("{")
    with pytest.raises(corpus.CorpusError, match="broken/meta.json"):
        corpus.entries(tmp_path)
    problems: list[str] = []
    assert [e.folder for e in corpus.entries(tmp_path, problems)] == [good]
    assert len(problems) == 1 and "broken/meta.json" in problems[0]
