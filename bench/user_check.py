"""How long `roundtrip check` takes to find and reduce a planted fault in a user's model: the twelve-layer
Sequential of tests/test_user_check.py (its Sigmoid made hard by tests.planted:sigmoid_made_hard), checked with a
reducer budget of 30 s, into a temporary corpus.  The test asserts what the check finds; the time is told here
(it was 108 s on a busy machine where an idle one took under 60 s: a test cannot assert it).

    .venv/bin/python bench/user_check.py [--out bench/results]

Prints the seconds of the whole check (model loading, the check, the first wrong layer, the reduction and the
entry written), the recording's own seconds, the layer found and how busy the machine was meanwhile, and writes them to
`<out>/<date>-user-check.json` when --out is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench import machine, machine_busy, machine_line  # noqa: E402 - after the path is set

PLANTED = "tests.planted:sigmoid_made_hard"
REDUCE_SECONDS = 30.0


def twelve_layers(file: Path) -> str:
    """Saves the model to `file`; the name of its planted layer (the Sigmoid)."""
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([keras.Input((6,)), layers.Dense(8), layers.Activation("relu"), layers.Dense(8),
                              layers.LayerNormalization(), layers.Activation("tanh"), layers.Dense(8),
                              layers.Activation("sigmoid"), layers.Dense(8), layers.Activation("relu"),
                              layers.Dense(8), layers.Activation("elu"), layers.Dense(3)])
    model.save(file)
    return str(model.layers[6].name)


def measure(folder: Path) -> dict[str, Any]:
    from roundtrip.user.user_check import Options, check_model

    planted = twelve_layers(folder / "deep.keras")
    began, busy = time.perf_counter(), machine_busy()
    result = check_model(Options(folder / "deep.keras", paths=(PLANTED,), corpus=folder / "corpus",
                                 reduce_seconds=REDUCE_SECONDS))
    seconds, busy = time.perf_counter() - began, machine_busy() - busy
    [row] = result.rows
    return {"path": PLANTED, "reduce_seconds": REDUCE_SECONDS, "seconds": round(seconds, 1),
            "machine_busy_share": round(busy / (seconds * (os.cpu_count() or 1)), 3),
            "verdict": row.verdict, "found_at": row.where, "planted_at": planted,
            "entries": {signature: written.note for signature, written in row.entries.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder to write <date>-user-check.json to")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="roundtrip-bench-check-") as folder:
        figures = measure(Path(folder))
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(), **figures}
    print(machine_line(result["machine"]))
    print(f"roundtrip check of a twelve-layer model through {PLANTED}: {figures['seconds']} s "
          f"(the machine {figures['machine_busy_share']:.0%} busy meanwhile, by every process)")
    print(f"verdict {figures['verdict']}, first wrong layer {figures['found_at']!r} "
          f"(planted at {figures['planted_at']!r})")
    for signature, note in figures["entries"].items():
        print(f"  {signature}: {note}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        target = args.out / f"{datetime.date.today().isoformat()}-user-check.json"
        target.write_text(json.dumps(result, indent=1) + "\n")
        print(f"written: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
