"""keras.applications architectures through `roundtrip check`: each built with weights=None (no download) at a
small input size, its BatchNormalization statistics (or kernel scales) set from a batch of inputs so that the
activations keep their scale (`live`: as built, most of these networks give every input the same outputs), saved
as .keras, and checked by the `roundtrip check` command through one direction.

    .venv/bin/python bench/applications.py [--out DIR] [--path tf2onnx-function] [--corpus DIR] [--memory GIB]
        [--untrained] [NAME ...]

Each check is the command as a user runs it (a process of its own), its printed output kept.  The models go to
DIR/models, the outputs to DIR/<name>.txt; the entries of what is found go to --corpus (DIR/corpus by default:
nothing is written to corpus/ unless it is named).  Prints a table (architecture, input, parameters, exit
status, verdict, worst error against its tolerance, the outputs' spread against it, the first wrong layer,
seconds) as Markdown, and writes it, with every output, to DIR/applications.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# name: (input side, keyword arguments): the smallest side each accepts, classes=10 (a smaller top).
ARCHITECTURES: dict[str, tuple[int, dict[str, Any]]] = {
    "MobileNet": (32, {"alpha": 0.25}),
    "MobileNetV2": (32, {"alpha": 0.35}),
    "MobileNetV3Small": (32, {"minimalistic": False}),
    "ResNet50": (32, {}),
    "ResNet50V2": (32, {}),
    "DenseNet121": (32, {}),
    "EfficientNetB0": (32, {}),
    "EfficientNetV2B0": (32, {}),
    "VGG16": (32, {}),
    "NASNetMobile": (32, {}),
    "ConvNeXtTiny": (32, {}),
    "Xception": (71, {}),
    "InceptionV3": (75, {}),
}


def build(name: str, folder: Path, untrained: bool = False) -> Path:
    """The architecture saved as folder/<name>.keras, built (and its BatchNormalization statistics set, `live`) in a
    process of its own: TensorFlow stays out of this one."""
    file = folder / f"{name}.keras"
    code = f"from bench.applications import save; save({name!r}, {str(file)!r}, {untrained!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"building {name} failed:\n{done.stderr[-2000:]}")
    return file


def save(name: str, file: str, untrained: bool = False) -> None:
    import keras

    keras.utils.set_random_seed(0)
    side, kwargs = ARCHITECTURES[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(side, side, 3), classes=10, **kwargs)
    if not untrained:
        live(model)
    model.save(file)


def live(model: Any, batch: int = 8, seed: int = 0) -> int:
    """Untrained weights made to keep the activations' scale through the network, as a trained model's do, from a
    batch of standard-normal images, layer after layer in the model's order: each BatchNormalization's moving
    statistics set to those of its input; in a model without any (VGG16), each kernel of a layer that is linear
    or ReLU (and has no bias yet) divided by the spread of its output instead (LSUV, Mishkin and Matas 2016).  As
    built, the activations fade layer after layer (a depthwise convolution's initial kernel shrinks its input)
    until the outputs are the same for every input, which any converter that gives a constant would match.
    Nothing is trained or downloaded.  Returns how many layers were set."""
    import keras

    x = np.random.default_rng(seed).standard_normal((batch, *model.inputs[0].shape[1:])).astype("float32")
    done: list[str] = []
    normalized = any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)

    def calibrated(operation: Any) -> Any:
        if isinstance(operation, keras.layers.BatchNormalization):
            return _normalized(operation, done)
        if not normalized and _scalable(operation):
            return _unit_spread(operation, done)
        return operation

    # The functional graph run eagerly node by node, deepest first (Keras' own walk: keras ops included)
    model._run_through_graph([x], operation_fn=calibrated)
    return len(done)


def _normalized(layer: Any, done: list[str]) -> Any:
    def call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        seen = np.asarray(inputs, dtype=np.float64)
        axes = tuple(i for i in range(seen.ndim) if i != layer.axis % seen.ndim)
        layer.moving_mean.assign(seen.mean(axis=axes).astype("float32"))
        layer.moving_variance.assign(seen.var(axis=axes).astype("float32"))
        done.append(layer.name)
        return layer(inputs, *args, **kwargs)

    return call


def _scalable(layer: Any) -> bool:
    """A layer whose output scales with its kernel: one kernel, a linear or ReLU activation, no bias yet."""
    import keras

    activation = getattr(layer, "activation", None)
    bias = getattr(layer, "bias", None)
    return (getattr(layer, "kernel", None) is not None and activation in (keras.activations.linear,
                                                                         keras.activations.relu)
            and (bias is None or not np.asarray(bias).any()))


def _unit_spread(layer: Any, done: list[str]) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        spread = float(np.asarray(layer(*args, **kwargs)).std())
        if spread > 0:
            layer.kernel.assign(np.asarray(layer.kernel) / spread)
            done.append(layer.name)
        return layer(*args, **kwargs)

    return call


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "160"}


def check(file: Path, path: str, corpus: Path, memory: float) -> dict[str, Any]:
    """`roundtrip check FILE --path PATH --corpus CORPUS --memory GIB`: its exit status, output and the row it
    printed."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "roundtrip.cli", "check", str(file), "--path", path, "--corpus",
                           str(corpus), "--memory", str(memory)], capture_output=True, text=True, env=_env(),
                          timeout=3600)
    seconds = time.monotonic() - began
    return {"status": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-3000:],
            "seconds": round(seconds, 1), **parse(done.stdout, path)}


def parse(stdout: str, path: str) -> dict[str, Any]:
    """The verdict, worst error / tolerance and first wrong layer of the row of `path`, and the model's line."""
    model = next((line for line in stdout.splitlines() if ": keras model, inputs" in line), "")
    params = re.search(r"([\d,]+) parameters", model)
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) >= 4 and cells[0] == path:
            return {"verdict": cells[1], "worst": cells[2], "spread": cells[3], "where": cells[4],
                    "params": params.group(1) if params else "?"}
    return {"verdict": "?", "worst": "?", "spread": "?", "where": "?", "params": params.group(1) if params else "?"}


def table(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| architecture | input | parameters | exit | verdict | worst error / tolerance | spread / tolerance "
             "| first wrong | s |", "|---|---|---:|---:|---|---|---:|---|---:|"]
    for name, row in rows.items():
        side = ARCHITECTURES[name][0]
        lines.append(f"| {name} | {side}x{side}x3 | {row['params']} | {row['status']} | {row['verdict']} | "
                     f"{row['worst']} | {row['spread']} | {row['where']} | {row['seconds']:.0f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(ARCHITECTURES), help="architectures (default: all)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "roundtrip-applications")
    parser.add_argument("--path", default="tf2onnx-function")
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--memory", type=float, default=8.0, help="GiB one check may use (roundtrip check --memory)")
    parser.add_argument("--untrained", action="store_true", help="keep the BatchNormalization statistics as built")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in ARCHITECTURES]
    if unknown:
        parser.error(f"unknown architectures {unknown} (one of {', '.join(ARCHITECTURES)})")
    models = args.out / "models"
    models.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus or args.out / "corpus"
    rows = {}
    for name in args.names:
        print(f"{name}: building", flush=True)
        rows[name] = check(build(name, models, args.untrained), args.path, corpus, args.memory)
        (args.out / f"{name}.txt").write_text(rows[name]["stdout"] + rows[name]["stderr"])
        print(rows[name]["stdout"], flush=True)
    lines = table(rows)
    print("\n".join(lines))
    (args.out / "applications.json").write_text(json.dumps({"path": args.path, "rows": rows, "table": lines},
                                                           indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
