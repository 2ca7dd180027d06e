"""`roundtrip fuzz`: which properties a --path names, the schedule (every property first, a floor share,
then energy where new bugs come), bad input, a short real campaign end to end, and stopping: a signal ends
every process the campaign started, and so does kill -9 of the campaign."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from roundtrip import cli
from roundtrip.oracle.outcome import Job
from roundtrip.search import pending
from roundtrip.search.campaign import (
    FIRST_SLICE,
    RECORDING_GUESS,
    SHARE,
    SLICE,
    Campaign,
    CampaignError,
    Run,
    Schedule,
    Stats,
    select,
    target_name,
)
from roundtrip.search.plan import Plan

NODES = [
    "properties/test_keras_build.py::test_drawn_models_build_and_run_with_their_shapes",
    "properties/test_keras_to_onnx.py::test_keras_to_onnx[tf2onnx-function]",
    "properties/test_keras_to_onnx.py::test_keras_to_onnx[keras-export]",
    "properties/test_round_trip.py::test_round_trip[tf2onnx-function>onnx2keras]",
    "properties/test_onnx_round_trip.py::test_onnx_round_trip[onnx>onnx2keras>keras-export]",
]
ROOT = Path(__file__).resolve().parent.parent


def test_a_property_is_named_by_its_parameter_or_its_test() -> None:
    assert [target_name(n) for n in NODES] == [
        "test_drawn_models_build_and_run_with_their_shapes", "tf2onnx-function", "keras-export",
        "tf2onnx-function>onnx2keras", "onnx>onnx2keras>keras-export"]


def test_a_path_selects_its_property_or_every_property_through_a_converter() -> None:
    assert select(NODES, []) == NODES
    assert select(NODES, ["tf2onnx-function>onnx2keras"]) == [NODES[3]]
    assert select(NODES, ["keras-export"]) == [NODES[2], NODES[4]]
    assert select(NODES, ["onnx2keras"]) == [NODES[3], NODES[4]]


def test_an_unknown_path_names_itself_and_what_is_known() -> None:
    with pytest.raises(CampaignError, match=r"--path tf2onnx-fnction: no such property or converter \(known: "):
        select(NODES, ["tf2onnx-fnction"])


# ---- the schedule ----------------------------------------------------------------------------------------
def test_every_property_runs_once_in_the_seeded_order_before_any_runs_twice() -> None:
    schedule = Schedule(["c", "a", "b"])
    picked = []
    for _ in range(3):
        picked.append(schedule.pick())
        schedule.runs[picked[-1]] += 1
        schedule.seconds[picked[-1]] += 100.0
        schedule.new["a"] = 5  # a yields well: it still waits for b's first run
    assert picked == ["c", "a", "b"]


def test_a_property_running_now_is_passed_over_while_another_is_free() -> None:
    schedule = Schedule(["a", "b"])
    assert schedule.pick(busy={"a"}) == "b"
    schedule.runs.update(["a", "b"])
    assert schedule.pick(busy={"a", "b"}) in ("a", "b")  # all busy: one of them


def test_the_directions_share_the_floor_alike_then_their_properties() -> None:
    schedule = Schedule(["a", "b>c", "b>d", "onnx>c>a", "onnx>c>b", "onnx>d>a"])
    assert schedule.even_share("a") == pytest.approx(1 / 3)
    assert schedule.even_share("b>c") == pytest.approx(1 / 6)
    assert schedule.even_share("onnx>c>b") == pytest.approx(1 / 9)


def test_beyond_the_floor_time_goes_where_new_bugs_come_per_minute() -> None:
    schedule = Schedule(["a", "b", "c"], floor=0.5)
    schedule.runs.update(["a", "b", "c"])
    schedule.seconds.update({"a": 120.0, "b": 120.0, "c": 120.0})
    schedule.new.update({"b": 4, "c": 1})
    assert schedule.pick() == "b"
    schedule.seconds["b"] += 1200.0  # b had much more time and found no more: its yield falls
    assert schedule.energy("b") < schedule.energy("c")
    # a and c are now below half an even share (0.5 * 1560 / 3 = 260 s): the one with the least time first
    schedule.seconds["c"] = 150.0
    assert schedule.pick() == "a"


def test_a_property_that_never_pays_keeps_its_floor() -> None:
    schedule = Schedule(["a", "b"], floor=0.5)
    schedule.runs.update(["a", "b"])
    picks = []
    for _ in range(40):
        t = schedule.pick()
        picks.append(t)
        schedule.runs[t] += 1
        schedule.seconds[t] += 60.0
        if t == "a":
            schedule.new["a"] += 1  # a finds a new bug every run; b never
    share_b = schedule.seconds["b"] / sum(schedule.seconds.values())
    assert 0.2 <= share_b < 0.5 and picks.count("a") > picks.count("b")


def test_a_first_run_explores_briefly_and_records_nothing_a_later_one_records() -> None:
    schedule = Schedule(["a"])
    first = schedule.plan("a", deadline=1e12, reduce=90.0)
    assert first.writes and not first.record and first.explore == FIRST_SLICE
    schedule.runs["a"] += 1
    later = schedule.plan("a", deadline=1e12, reduce=90.0)
    assert later.writes and later.record == SHARE and later.explore == SLICE and later.share == SHARE
    assert later.deadline == 1e12 and later.reduce == 90.0


def _fuzz(tmp_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "roundtrip.cli", "fuzz", "--corpus", str(tmp_path / "corpus"),
               "--reports", str(tmp_path / "reports"), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _pending(corpus: Path, target: str, count: int) -> None:
    for n in range(count):
        pending.put(corpus, pending.Item(f"{target}|sig{n}", target, Job('{"x": 1}', target, 13), [1],
                                         met=pending.now()))


def test_runs_only_record_once_the_bugs_pending_would_fill_the_time_left(tmp_path: Path) -> None:
    campaign = Campaign(minutes=10, workers=2, corpus=tmp_path)
    campaign.schedule = Schedule(["p.py::t[a]", "p.py::t[b]", "p.py::t[c]"])
    _pending(tmp_path, "a", 1)
    _pending(tmp_path, "b", 3)  # 4 bugs: 4 * RECORDING_GUESS worker-seconds to record them
    work = 4 * RECORDING_GUESS
    campaign.schedule.runs.update(["p.py::t[a]", "p.py::t[b]"])
    assert campaign._to_record(time.time() + 1.0, busy=set()) == ""  # c has not had its first slice yet
    campaign.schedule.runs.update(["p.py::t[c]"])
    assert campaign._to_record(time.time() + work, busy=set()) == ""  # 2 workers: twice that time is left
    assert campaign._to_record(time.time() + work / 2 - 10, busy=set()) == "p.py::t[b]"  # the most first
    assert campaign._to_record(time.time() + work / 2 - 10, busy={"p.py::t[b]"}) == "p.py::t[a]"
    assert campaign._to_record(time.time() + work / 2 - 10, busy={"p.py::t[a]", "p.py::t[b]"}) == ""
    campaign.stats.recordings = [RECORDING_GUESS / 4]  # what recordings have cost so far counts
    assert campaign._to_record(time.time() + work / 2 - 10, busy=set()) == ""
    plan = Schedule.recording(deadline=5.0, reduce=30.0)
    assert plan.only_record and plan.record is True and plan.writes and plan.reduce == 30.0


def test_a_stopped_campaigns_pending_bugs_are_recorded_before_the_first_slices(tmp_path: Path) -> None:
    _pending(tmp_path, "b", 2)  # left by a stopped campaign
    campaign = Campaign(minutes=10, workers=1, corpus=tmp_path)
    campaign.prepare(["p.py::t[a]", "p.py::t[b]"], known=set())
    _pending(tmp_path, "a", 3)  # met by this campaign's first slice of a
    assert campaign.schedule is not None
    campaign.schedule.runs.update(["p.py::t[a]"])
    assert campaign._to_record(time.time() + 60.0, busy=set()) == "p.py::t[b]"  # b's 2, not a's 3


def test_a_bug_given_up_on_or_being_recorded_is_not_waiting(tmp_path: Path) -> None:
    campaign = Campaign(minutes=10, workers=1, corpus=tmp_path)
    campaign.schedule = Schedule(["p.py::t[a]", "p.py::t[b]"])
    campaign.schedule.runs.update(["p.py::t[a]", "p.py::t[b]"])
    _pending(tmp_path, "a", 2)
    pending.note(tmp_path, "a|sig0", "did not show again")
    run = Run("p.py::t[b]", 1, Plan(), tmp_path / "events", None, started=0.0)  # type: ignore[arg-type]
    run.recording = "a|sig1"
    campaign.running.append(run)
    assert campaign._to_record(time.time() + 1.0, busy=set()) == ""


@pytest.mark.parametrize(("args", "says"), [
    (["--path", "tf2onnx-fnction"], "--path tf2onnx-fnction: no such property or converter"),
    (["--database", "redis://127.0.0.1:1"], "example database 'redis://127.0.0.1:1' cannot be opened"),
    (["--minutes", "0"], "--minutes 0.0"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path: Path, args: list[str], says: str) -> None:
    done = _fuzz(tmp_path, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_short_campaign_runs_each_property_it_names_and_records_its_figures(tmp_path: Path) -> None:
    names = {"tf2onnx-function>onnx2keras", "onnx>onnx2keras>keras-export"}
    done = _fuzz(tmp_path, "--minutes", "1", *[a for n in sorted(names) for a in ("--path", n)],
                 "--workers", "2", "--seed", "7", "--grace", "0")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = (tmp_path / "reports" / "campaigns.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["checks"] > 0 and record["seed"] == 7 and record["workers"] == 2
    assert {r["property"] for r in record["runs"]} == names
    assert all(r["seed"] // 100_000 == 7 for r in record["runs"])
    firsts = [next(r for r in sorted(record["runs"], key=lambda r: r["seed"]) if r["property"] == n) for n in names]
    assert all(r["explore"] == FIRST_SLICE and not r["record"] for r in firsts)
    figures = record["per_property"]
    assert set(figures) == names
    assert all(f["checks"] > 0 and f["runs"] >= 1 and f["cpu"] > 0 for f in figures.values())
    assert record["cpu_seconds"] == pytest.approx(sum(f["cpu"] for f in figures.values()), abs=0.2)
    assert isinstance(record["layers"], dict) and record["examples_per_second"] > 0
    assert (tmp_path / "reports" / "index.html").exists() and (tmp_path / "reports" / "summary.md").exists()
    assert "campaign:" in done.stdout and "CPU share" in done.stdout and "roundtrip show NAME" in done.stdout
    assert record["phases"]["starting"] > 0 and record["phases"]["exploring"] > 0, record["phases"]
    assert "worker time: starting" in done.stdout


def test_a_runs_time_is_split_by_phase_from_its_events() -> None:
    """Starting until exploring began, exploring, then each recording's confirming, reducing and writing: the
    spans between the events that begin and end them."""
    stats = Stats()
    run = Run("p.py::t", 1, Plan(), Path("events"), None, started=100.0)  # type: ignore[arg-type]
    for event in [{"event": "check", "t": 112.0, "seconds": 1.0}, {"event": "explored", "t": 130.0, "seconds": 20.0},
                  {"event": "recording", "t": 131.0, "signature": "s"}, {"event": "reducing", "t": 135.0},
                  {"event": "writing", "t": 160.0, "signature": "s"}, {"event": "written", "t": 170.0,
                                                                        "signature": "s", "folder": "f"},
                  {"event": "recorded", "t": 170.5, "signature": "s"}]:
        stats.take(run, event)
    assert dict(stats.phases) == {"starting": 10.0, "exploring": 20.0, "confirming": 4.0, "reducing": 25.0,
                                  "writing": 10.5}
    assert run.phase is None


# ---- stopping ---------------------------------------------------------------------------------------------
def _started_by(corpus: Path) -> list[int]:
    """The processes whose environment names this campaign's corpus: its pytest runs and their workers
    (the campaign sets ROUNDTRIP_CORPUS for its runs; everything they start inherits it)."""
    needle = f"ROUNDTRIP_CORPUS={corpus.resolve()}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes() + b"\0":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def _start_campaign(tmp_path: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "roundtrip.cli", "fuzz", "--corpus", str(tmp_path / "corpus"), "--reports",
               str(tmp_path / "reports"), "--minutes", "10", "--path", "tf2onnx-function", "--database", "none"]
    campaign = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # A run and at least one of its workers (a process whose parent is the run) are up.
    assert _wait(lambda: len(_started_by(tmp_path / "corpus")) >= 2, 90), "the campaign started no run"
    return campaign


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_each_stopping_signal_is_an_interrupt_once(sig: int) -> None:
    with cli._stopped_by_signals() as came:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(sig)
        signal.raise_signal(sig)  # a second one, while the campaign stops its runs: ignored
    assert came == [signal.Signals(sig).name]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_sigterm_stops_every_process_and_the_campaign_is_still_recorded(tmp_path: Path) -> None:
    sig = signal.SIGTERM
    campaign = _start_campaign(tmp_path)
    campaign.send_signal(sig)
    out, _ = campaign.communicate(timeout=120)
    assert campaign.returncode == 0, out[-3000:]
    assert _started_by(tmp_path / "corpus") == []
    record = json.loads((tmp_path / "reports" / "campaigns.jsonl").read_text().splitlines()[-1])
    assert record["stopped"] == signal.Signals(sig).name and record["runs"]
    assert f"stopped by {signal.Signals(sig).name}" in out and (tmp_path / "reports" / "index.html").exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc, and PR_SET_PDEATHSIG is Linux's")
def test_kill_9_of_the_campaign_leaves_no_process_behind(tmp_path: Path) -> None:
    campaign = _start_campaign(tmp_path)
    campaign.kill()
    campaign.communicate(timeout=30)
    assert _wait(lambda: _started_by(tmp_path / "corpus") == [], 60), _started_by(tmp_path / "corpus")


def test_an_entry_taken_back_is_not_counted_as_written() -> None:
    """A new entry whose repro.py did not show its bug is taken back by the recorder (recorder.unshown): the
    campaign's figures and its table of signatures do not count it as written."""
    from types import SimpleNamespace

    from roundtrip.search.campaign import Stats

    stats = Stats()
    run = SimpleNamespace(target="onnx>onnx2keras", phase=None, started=0.0, recording="", checks=0)
    for event in ({"event": "written", "signature": "a|b", "folder": "/c/a-b", "t": 1.0},
                  {"event": "written", "signature": "c|d", "folder": "/c/c-d", "t": 2.0},
                  {"event": "taken back", "signature": "a|b", "folder": "/c/a-b", "note": "did not show", "t": 3.0}):
        stats.take(run, event)  # type: ignore[arg-type]
    assert stats.written == {"c|d": "/c/c-d"} and stats.targets["onnx>onnx2keras"].written == 1
    assert stats.notes["a|b"] == "did not show"
