"""The benchmark (bench/bench.py) in its quick mode on a handful of examples: every figure is there, with
sane types and values.  No timing is asserted: only that each was measured."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench import bench

pytestmark = pytest.mark.slow

EXAMPLES = 2
WORKERS = 2


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[str], Path]:
    out = tmp_path_factory.mktemp("results")
    plan = replace(bench.Plan.quick(EXAMPLES, WORKERS), memory_examples=4, memory_every=2, planted_examples=30)
    printed: list[str] = []
    return bench.run(plan, out, say=printed.append), printed, out


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_raw_and_every_property_have_a_rate_and_an_overhead(ran: tuple[dict[str, Any], list[str], Path]) -> None:
    result = ran[0]
    assert result["specs"]["throughput"] == EXAMPLES
    raw = result["raw"]
    assert raw["examples"] == EXAMPLES and positive(raw["models_per_second"]) and raw["errors"] in range(EXAMPLES + 1)
    loops = result["properties"]["loops"]
    assert list(loops) == ["tf2onnx-function", "tf2onnx-keras", "keras-export", "tf2onnx-function>onnx2keras"]
    for name, loop in loops.items():
        assert loop["examples"] == EXAMPLES, name
        assert positive(loop["models_per_second"]) and positive(loop["median_seconds"]), name
        assert all(isinstance(loop[k], int) and loop[k] >= 0 for k in ("new", "known", "written", "errors")), name
        assert loop["checks"] >= EXAMPLES and loop["errors"] == 0, name
        assert set(loop["cpu"]) == {"cores_used", "machine_busy", "others"} and min(loop["cpu"].values()) >= 0, name
        assert positive(result["overhead"][name])


def test_each_property_has_its_raw_loop_per_cpu_second(ran: tuple[dict[str, Any], list[str], Path]) -> None:
    """A round trip's raw loop (there and back, no oracle) beside the one-way one; per CPU second, each property
    against its own raw loop."""
    result, printed, _ = ran
    trips = result["raw_round_trips"]
    assert list(trips) == ["tf2onnx-function>onnx2keras"]
    for name, loop in [(bench.RAW_PATH, result["raw"]), *trips.items()]:
        assert loop["name"] == f"raw {name}" and loop["examples"] == EXAMPLES, name
        assert loop["errors"] in range(EXAMPLES + 1), name
        assert positive(loop["cpu_seconds"]) and positive(loop["models_per_cpu_second"]), name
    per_cpu = result["per_cpu"]
    assert list(per_cpu) == list(result["properties"]["loops"])
    assert {name: f["raw"] for name, f in per_cpu.items()} == {
        "tf2onnx-function": "raw tf2onnx-function", "tf2onnx-keras": "raw tf2onnx-function",
        "keras-export": "raw tf2onnx-function", "tf2onnx-function>onnx2keras": "raw tf2onnx-function>onnx2keras"}
    for name, f in per_cpu.items():
        assert all(positive(f[k]) for k in ("raw_models_per_cpu_second", "property_models_per_cpu_second", "ratio"))
        assert f["property_models_per_cpu_second"] == result["properties"]["loops"][name]["models_per_cpu_second"]
    text = "\n".join(printed)
    assert "raw tf2onnx-function>onnx2keras" in text and "property/raw" in text


BURNER = """import time
t = time.process_time()
while time.process_time() - t < 0.3:
    pass
print(1, flush=True)
time.sleep(60)
"""
SERVER_PARENT = """import subprocess, sys, time
server = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE)
print(server.pid, flush=True)
server.stdout.readline()
print(1, flush=True)
time.sleep(60)
"""


def test_the_cpu_meter_counts_a_live_grandchild() -> None:
    """A converter's server runs all the loop long under a worker (a grandchild): its CPU counts while alive."""
    meter = bench.CpuMeter()
    worker = subprocess.Popen([sys.executable, "-c", SERVER_PARENT, BURNER], stdout=subprocess.PIPE, text=True)
    server = 0
    try:
        assert worker.stdout is not None
        server = int(worker.stdout.readline())
        worker.stdout.readline()  # the server has burnt its CPU and sleeps, alive
        burnt = bench.cpu_of([server])[server]
        assert burnt > 0.2 and meter.used() >= burnt
    finally:
        worker.kill()
        worker.wait()
        if server:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server, signal.SIGKILL)


def test_scaling_covers_one_and_k_processes_over_the_same_specs(ran: tuple[dict[str, Any], list[str], Path]) -> None:
    scaling = ran[0]["scaling"]
    assert [s["workers"] for s in scaling] == [1, WORKERS]
    for s in scaling:
        assert s["examples"] == EXAMPLES and len(s["members"]) == s["workers"]
        assert positive(s["models_per_second"]) and positive(s["seconds"])
        assert set(s["cpu"]) == {"cores_used", "machine_busy", "others"}


def test_memory_has_a_curve_a_peak_and_the_parent(ran: tuple[dict[str, Any], list[str], Path]) -> None:
    memory = ran[0]["memory"]
    assert [s["examples"] for s in memory["samples"]] == [0, 2, 4]
    for sample in memory["samples"]:
        assert [w["key"] for w in sample["workers"]] == ["shared"]
        assert positive(sample["workers"][0]["rss_mib"]) and positive(sample["parent_rss_mib"])
    assert memory["peak_worker_rss_mib"] >= max(s["workers"][0]["rss_mib"] for s in memory["samples"])
    assert positive(memory["parent_peak_rss_mib"]) and memory["workers_seen"] == 1
    assert (memory["clear_session_every"], memory["recycle_after"]) == (25, 300)


def test_the_planted_fault_is_found_and_its_repro_written(ran: tuple[dict[str, Any], list[str], Path]) -> None:
    planted = ran[0]["planted"]
    first, written = planted["first_finding"], planted["written"]
    assert first is not None and positive(first["seconds"]) and first["example"] >= 1
    assert written and written[0]["example"] >= first["example"]
    entry = next(e for e in planted["entries"] if e["folder"] == written[0]["folder"])
    assert len(entry["size"]) == 3 and all(positive(n) for n in entry["size"]) and entry["layers"] >= 1
    assert re.match(r"in\d+ = Input\(", entry["pretty"]), entry["pretty"]  # the reducer may keep in1 of two


def test_the_machine_is_described_and_the_json_holds_what_was_printed(
        ran: tuple[dict[str, Any], list[str], Path]) -> None:
    result, printed, out = ran
    machine = result["machine"]
    assert positive(machine["cores"]) and positive(machine["ram_gib"]) and machine["python"].startswith("3.")
    assert machine["packages"]["tensorflow"] != "absent" and machine["cpu"]
    text = "\n".join(printed)
    for heading in ("machine:", "1-3. throughput", "4. scaling", "5. memory", "6. planted fault", "note: a quick run"):
        assert heading in text
    assert list(result["parts"]) == ["raw", "properties", "scaling", "memory", "planted"]
    assert all(positive(p["seconds"]) and p["others_cpu_share"] >= 0 for p in result["parts"].values())
    [written] = out.glob("*-quick.json")
    assert str(written) == result["written_to"]
    stored = json.loads(written.read_text())
    assert stored == json.loads(json.dumps({k: v for k, v in result.items() if k != "written_to"}))
