"""The pending list (bugs met, not yet recorded) and a run's plan read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from roundtrip.oracle.outcome import GraphJob, Job
from roundtrip.search import pending
from roundtrip.search.plan import Plan, PlanError

ROOT = Path(__file__).resolve().parent.parent / "corpus"


def item(signature: str, size: list[int], target: str = "tf2onnx-function", examples: int = 1) -> pending.Item:
    job = Job('{"x": 1}', "tf2onnx-function", 13) if target == "tf2onnx-function" else GraphJob("{}", "onnx2keras")
    return pending.Item(signature, target, job, size, examples=examples, met=pending.now())


def test_an_item_round_trips_through_its_file(tmp_path: Path) -> None:
    for made in (item("a|b", [2, 4, 100]), item("c|d", [1, 1, 10], target="onnx>onnx2keras")):
        pending.put(tmp_path, made)
        assert pending.get(tmp_path, made.signature) == made
    assert {i.signature for i in pending.items(tmp_path)} == {"a|b", "c|d"}
    assert [i.signature for i in pending.items(tmp_path, "onnx>onnx2keras")] == ["c|d"]


def test_the_smallest_example_stays_and_every_example_counts(tmp_path: Path) -> None:
    pending.put(tmp_path, item("a|b", [2, 4, 100]))
    pending.put(tmp_path, item("a|b", [3, 4, 100]))  # bigger: not kept, counted
    assert pending.get(tmp_path, "a|b").size == [2, 4, 100]  # type: ignore[union-attr]
    kept = pending.put(tmp_path, item("a|b", [1, 9, 100]))  # smaller: kept, the count and first date carried
    assert kept.size == [1, 9, 100] and kept.examples == 3
    assert len(pending.items(tmp_path)) == 1


def test_a_reason_is_kept_and_an_item_removed(tmp_path: Path) -> None:
    pending.put(tmp_path, item("a|b", [1, 1, 1]))
    pending.note(tmp_path, "a|b", "the campaign's time was up")
    assert pending.items(tmp_path)[0].reason == "the campaign's time was up"
    pending.remove(tmp_path, "a|b")
    pending.remove(tmp_path, "a|b")  # twice: no error
    assert pending.items(tmp_path) == []


def test_an_unreadable_file_is_left_out(tmp_path: Path) -> None:
    pending.put(tmp_path, item("a|b", [1, 1, 1]))
    (pending.folder(tmp_path) / "broken.json").write_text("{")
    assert [i.signature for i in pending.items(tmp_path)] == ["a|b"]


def test_the_plan_is_the_gate_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUNDTRIP_RUN", raising=False)
    monkeypatch.delenv("ROUNDTRIP_RECORD", raising=False)
    assert Plan.from_env() == Plan() and not Plan().writes
    monkeypatch.setenv("ROUNDTRIP_RECORD", "1")
    assert Plan.from_env().writes
    monkeypatch.setenv("ROUNDTRIP_RUN", '{"writes": true, "explore": 20, "share": 3, "record": false}')
    assert Plan.from_env() == Plan(writes=True, explore=20.0, share=3, record=False)
    monkeypatch.setenv("ROUNDTRIP_RUN", '{"writes": true, "record": 3}')
    assert Plan.from_env().record == 3


@pytest.mark.parametrize(("text", "says"), [
    ("{", "not JSON"),
    ("[1]", "not a JSON object"),
    ('{"explor": 3}', "no field 'explor'"),
    ('{"share": "3"}', "field 'share' is '3', wants int"),
    ('{"writes": 1}', "field 'writes' is 1, wants bool"),
    ('{"explore": true}', "field 'explore' is True, wants float"),
    ('{"share": true}', "field 'share' is True, wants int"),
    ('{"record": -1}', "field 'record' is -1, wants bool | int"),
])
def test_a_bad_plan_names_its_field(monkeypatch: pytest.MonkeyPatch, text: str, says: str) -> None:
    monkeypatch.setenv("ROUNDTRIP_RUN", text)
    with pytest.raises(PlanError, match=r"^\$ROUNDTRIP_RUN: .*" + says.replace("(", r"\(")):
        Plan.from_env()


def test_a_new_entry_whose_script_does_not_show_its_bug_is_taken_back_and_stays_pending(tmp_path: Path) -> None:
    """A bug the check met but whose repro.py, run alone, did not show it is no report to file: its folder goes,
    the bug stays pending with the reason (the suite's script is what differs); a shown one stays written."""
    import json
    import shutil
    from dataclasses import dataclass

    from roundtrip.search.recorder import Recorder, unshown

    @dataclass
    class Writing(Recorder):
        shows: bool = False

        def _confirm_and_write(self, item: pending.Item) -> tuple[Path | None, str]:
            folder = self.root / item.signature.replace("|", "-")
            shutil.copytree(next(ROOT.glob("tf2onnx-convert-exception-keyerror-*")), folder)
            meta = json.loads((folder / "meta.json").read_text())
            meta["repro"] = {"checked": True, "shows": self.shows, "why": "ended without an error: fixed"}
            (folder / "meta.json").write_text(json.dumps(meta))
            self.written.append(folder)
            return folder, "written"

    root, events = tmp_path / "corpus", []
    for k, shows in enumerate((False, True, True)):
        recorder = Writing(root, run=lambda *a, **k: None, shows=shows,  # type: ignore[arg-type,return-value]
                           note=lambda **data: events.append(data))
        signature = f"tf2onnx|compare|dtype|dtype:bfloat16->float16|{k}"
        pending.put(root, item(signature, [1, 1, 10]))
        folders = recorder.record_pending()
        kept = pending.get(root, signature)
        if shows:  # the one not shown is not tried again (it would be written now)
            assert len(folders) == 1 and folders[0].is_dir() and kept is None
            assert any("did not show" in said for said in recorder.given_up)
        else:
            assert folders == [] and recorder.written == [] and not (root / signature.replace("|", "-")).exists()
            assert kept is not None and "did not show the bug when run alone" in kept.reason
            assert "did not show" in recorder.given_up[0]
            assert [e["event"] for e in events if e["signature"] == signature][-2:] == ["taken back", "failed"]
    for meta, said in (({"repro": {"checked": False}}, ""), ({"repro": {"checked": True, "shows": True}}, ""),
                       ({"repro": {"checked": True, "shows": False}, "gap": "Erfc"}, ""),
                       ({"repro": {"checked": True, "shows": False}, "finding": {"flaky": True}}, "")):
        folder = tmp_path / "one"
        folder.mkdir(exist_ok=True)
        (folder / "meta.json").write_text(json.dumps(meta))
        assert unshown(folder) == said
