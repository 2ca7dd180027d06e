"""The model form of an entry: a finding on a user's own model whose smallest part that shows it is not in the
vocabulary (a custom layer of theirs, an ONNX graph), kept as the saved model and a plain script instead of a
spec.  `roundtrip.store.corpus.write` writes it as it writes every entry; what is the form's own is here: its
body (`keras_model`, `onnx_model`), its repro.py (the model loaded, converted, run, compared) and its issue.md.

    corpus/<package>-<stage>-<symptom>-<kind>-<hash>/
        meta.json     signature, finding, "form": "model", converters, opset, case, versions, date, source
        model.keras   the part of the user's model that shows the bug (model.onnx for an ONNX model)
        test_data_set_0/input_<k>.pb, output_<k>.pb   its inputs and expected outputs
        err.log       the finding, the model's layers (nodes), the traceback
        repro.py      loads the model beside it, converts, runs, compares: exits 1 while the bug shows
        issue.md      the upstream report, with the repro and what to attach (the model file)

The corpus' own readers (`roundtrip.store.corpus.entries`, the replay, the reports) leave model entries out: they
hold no spec to replay in the harness.  Their repro.py is their replay (`roundtrip repro` runs it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from roundtrip import registry
from roundtrip.convert.back import repro_lines
from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.oracle.outcome import RUNTIME
from roundtrip.registry import TRACKERS
from roundtrip.spec.model import ModelSpec
from roundtrip.store.corpus import Repro, SavedModel, write_meta
from roundtrip.store.script.arrays import standard_normal
from roundtrip.store.script.issue import expected_of, fence, trimmed
from roundtrip.store.script.render import (
    KERAS_MODEL,
    ONNX_RUNTIME_CONVERTED,
    ONNX_RUNTIME_GIVEN,
    check_lines,
    compare_lines,
    conversion,
    imported_packages,
    keras_made_by,
    sorted_imports,
)
from roundtrip.store.script.scrub import scrubbed
from roundtrip.store.script.verdict import expected_exception


def keras_model(finding: Finding, job: Any, checked: Any, model_file: Path,
                spec: ModelSpec) -> tuple[SavedModel, Repro]:
    """The body of the entry of `finding`, met by `job` (a Job on a user's Keras model) on the model saved at
    `model_file`, and what writes its repro.py and issue.md; `checked` is that check's user_model.Checked (its
    described layers), `spec` the model's inputs as a spec without layers (what its script's conversion
    signature reads)."""
    custom = job.user.custom
    body = SavedModel(model_file, "model.keras", tuple(checked.described.layers),
                      {"source": Path(job.user.model).name, "custom": custom,
                       "model": model_words(model_file, custom)})

    def scripts(meta: dict[str, Any]) -> list[str]:
        return [keras_script(finding, meta, spec, custom, inline=lines)
                for lines in (layer_text(model_file, custom), model_text(model_file, custom))] + \
            [keras_script(finding, meta, spec, custom)]

    return body, _repro(finding, scripts)


def onnx_model(finding: Finding, job: Any, checked: Any, model_file: Path) -> tuple[SavedModel, Repro]:
    """Likewise for `finding` met by `job` (a GraphJob on a user's graph) on the graph saved at `model_file`."""
    extra: dict[str, Any] = {"source": Path(job.user.model).name}
    if checked.expected_by != RUNTIME:  # test_data_set_0's outputs, and the script's expected, are its
        extra |= {"expected_by": checked.expected_by, "runtime_refused": checked.refused}
    body = SavedModel(model_file, "model.onnx", tuple(checked.described.nodes), extra)
    return body, _repro(finding, lambda meta: [onnx_script(finding, meta, checked.described.inputs)])


def _repro(finding: Finding, scripts: Callable[[dict[str, Any]], list[str]]) -> Repro:
    def repro(folder: Path, body: Any, meta: dict[str, Any]) -> dict[str, Any]:
        return write_script(folder, finding, meta, body.name, [s for s in scripts(meta) if s])

    return repro


def write_script(folder: Path, finding: Finding, meta: dict[str, Any], name: str, scripts: list[str]) -> dict[str, Any]:
    """repro.py and issue.md in `folder`: the first of `scripts` that shows the bug when run (a script reading no
    file first, where there is one), else the last.  Returns what meta.json records of the script."""
    record: dict[str, Any] = {}
    script = ""
    for k, script in enumerate(scripts):
        (folder / "repro.py").write_text(script)
        record = _run_script(folder, finding, meta)
        if record.get("shows") or not record.get("checked") or k == len(scripts) - 1:
            break
    text = issue(finding, meta | {"repro": record}, name, script, (folder / "err.log").read_text())
    if not folder.name.startswith(".tmp-"):  # an entry written again keeps the identity it was written under
        text = text.replace(finding.slug, folder.name).replace(finding.signature, str(meta["signature"]))
    (folder / "issue.md").write_text(text)
    return record


def rewrite(folder: Path) -> None:
    """A Keras model entry's repro.py and issue.md written again from its files (model.keras, meta.json,
    test_data_set_0/, err.log), under this build's rules: the script that reads no file when it shows the bug (the
    model as constructor lines, else as its JSON config)."""
    import json

    from onnx import load_tensor, numpy_helper

    from roundtrip.spec.model import InputSpec, ModelSpec

    meta = json.loads((folder / "meta.json").read_text())
    finding = Finding.from_dict({**meta["finding"], "details": meta["finding"].get("details") or {}})
    files = sorted((folder / "test_data_set_0").glob("input_*.pb"))
    inputs = [numpy_helper.to_array(load_tensor(str(p))) for p in files]
    spec = ModelSpec(tuple(InputSpec(f"in{k}", tuple(x.shape[1:])) for k, x in enumerate(inputs)), (),
                     tuple(f"in{k}" for k in range(len(inputs))))
    custom = str(meta.get("custom") or "")
    meta["model"] = meta.get("model") or model_words(folder / "model.keras", custom)
    model_file = folder / "model.keras"
    scripts = [keras_script(finding, meta, spec, custom, inline=lines)
               for lines in (layer_text(model_file, custom), model_text(model_file, custom))]
    scripts.append(keras_script(finding, meta, spec, custom))
    meta["repro"] = write_script(folder, finding, meta, "model.keras", [s for s in scripts if s])
    write_meta(folder, meta)


def layer_text(model_file: Path, custom: str) -> list[str]:
    """The saved Keras model as an Input and a constructor line per layer (`saved_text.layer_lines`), for a script
    that reads no file; [] when it holds custom layers or cannot be written so."""
    if custom:
        return []
    import keras

    from roundtrip.store.script.saved_text import layer_lines

    return layer_lines(keras.saving.load_model(model_file, safe_mode=True))


def model_text(model_file: Path, custom: str) -> list[str]:
    """The saved Keras model as lines of plain code, for a script that reads no file: its config as JSON and
    its weights written out; [] when the model holds custom layers (their code is the user's), or its
    config or weights are too big to read as text."""
    if custom:
        return []
    import keras

    from roundtrip.store.script.arrays import INLINE_LIMIT, literal

    model = keras.saving.load_model(model_file, safe_mode=True)
    config, weights = model.to_json(), model.get_weights()
    if len(config) > MAX_CONFIG or any(w.size > INLINE_LIMIT for w in weights):
        return []
    lines = [f"model = keras.models.model_from_json({config!r})"]
    if weights:
        lines += ["model.set_weights([", *[f"    {literal(w)}," for w in weights], "])"]
    return lines


MAX_CONFIG = 4000  # characters of a model's JSON config a script may hold


def _run_script(folder: Path, finding: Finding, meta: dict[str, Any]) -> dict[str, Any]:
    """repro.py run once where it was written (unless $ROUNDTRIP_CHECK_REPROS=0): whether it shows the bug."""
    import os

    if os.environ.get("ROUNDTRIP_CHECK_REPROS", "1") == "0" or finding.flaky:
        return {"checked": False}
    verdict = run_repro(folder, finding, meta)
    return {"checked": True, "shows": verdict.shows, "why": verdict.why} if verdict else {"checked": False}


def run_repro(folder: Path, finding: Finding, meta: dict[str, Any]) -> Any:
    """The script.verdict.Verdict of the entry's repro.py, run in its folder with this environment's module path
    (the user's custom layers are imported from it) and its ONNX -> Keras converter's Python; None when that
    converter's environment is absent here."""
    from roundtrip.convert.back import missing_environment, python_for
    from roundtrip.store.script.verdict import run

    back = str(meta["back"]) if meta["direction"] == "onnx-keras-onnx" else ""
    if back and missing_environment(back):
        return None
    return run(folder / "repro.py", python_for(back), finding, cwd=folder, isolated=False)


# ---- repro.py -------------------------------------------------------------------------------------------------
def _header(finding: Finding, meta: dict[str, Any], file: str, body: Sequence[str]) -> list[str]:
    """The script's first lines: its title, the versions of what `body` (its code) imports, what it reads."""
    reads = f"Reads {file} and test_data_set_0/ beside it." if file else "Reads no file."
    return [f"# {title(finding, meta, reads_file=bool(file))}", f"# {versions_of(meta, chr(10).join(body))}.",
            f"# {reads}  Exits 1 while the bug shows, 0 once it is fixed.", ""]


def _script(finding: Finding, meta: dict[str, Any], file: str, body: list[str]) -> str:
    return "\n".join(_header(finding, meta, file, body) + body) + "\n"


def versions_of(meta: dict[str, Any], script: str, python: bool = True) -> str:
    """The recorded versions of the packages `script` imports, the one at fault first, then in its import order
    (then Python's)."""
    recorded = meta.get("versions") or {}
    package = Finding.from_dict({**meta["finding"], "details": {}}).package
    wanted = sorted(imported_packages(script), key=lambda k: k != package)
    said = [f"{k} {recorded[k]}" for k in wanted if recorded.get(k, "absent") != "absent"]
    return ", ".join(said + ([f"Python {meta['python']}"] if python and meta.get("python") else []))


def model_words(model_file: Path, custom: str) -> str:
    """The saved Keras model in a title's words ("functional model: Normalization"), as `render.layer_kinds`
    says a spec's; "" when it holds custom layers (loading it imports the user's code) or does not load."""
    if custom or not model_file.is_file():
        return ""
    import keras

    try:
        model = keras.saving.load_model(model_file, safe_mode=True)
    except Exception:  # noqa: BLE001 - a model this Keras cannot read: the title goes without it
        return ""
    kinds = list(dict.fromkeys(type(la).__name__ for la in model.layers if type(la).__name__ != "InputLayer"))
    form = ("Sequential" if isinstance(model, keras.Sequential) else
            "functional" if type(model).__name__ == "Functional" else "subclassed")
    return f"{form} model: {', '.join(kinds)}" if kinds else f"{form} model without layers"


def title(finding: Finding, meta: dict[str, Any], *, reads_file: bool = True) -> str:
    """What breaks, in one line; the user's file named only when the script reads it (else the maintainer
    never has it)."""
    row = registry.converter(finding.path)
    who = row.api if row is not None else finding.path
    what = {Stage.CONVERT: f"raises {expected_exception(finding)}", Stage.CHECK: "writes a graph onnx.checker rejects",
            Stage.LOAD: f"fails to load ({expected_exception(finding)})",
            Stage.RUN: f"fails to run ({expected_exception(finding)})"}.get(finding.stage, "")
    if meta.get("direction") == "keras-onnx" and finding.stage in (Stage.LOAD, Stage.RUN):
        verb = "cannot load" if finding.stage == Stage.LOAD else "fails to run"
        what = f"writes a graph ONNX Runtime {verb} ({expected_exception(finding)})"
    if finding.stage == Stage.COMPARE:
        what = f"gives other output {finding.symptom}s" if finding.symptom != Symptom.VALUE else "gives other values"
    if finding.symptom in (Symptom.CRASH, Symptom.TIMEOUT):
        what = "crashes" if finding.symptom == Symptom.CRASH else "hangs"
    at = f" at a {finding.kind.split('@', 1)[1]} layer" if "@" in finding.kind else ""
    source = f" on a user's model ({Path(str(meta['source'])).name})" if reads_file else ""
    model = f" ({meta['model']})" if meta.get("model") and not reads_file else ""
    return f"{who} {what}{at}{source}{model}"


_READ_INPUTS = ["here = pathlib.Path(__file__).resolve().parent",
                'inputs = [numpy_helper.to_array(onnx.load_tensor(str(here / "test_data_set_0" / f"input_{k}.pb")))',
                "          for k in range(len(list((here / 'test_data_set_0').glob('input_*.pb'))))]"]


def keras_script(finding: Finding, meta: dict[str, Any], spec: Any, custom: str,
                 inline: list[str] | None = None) -> str:
    """A Keras model entry's repro.py: the model loaded in safe mode (the user's custom layers registered by
    importing their module), converted by the path, run, compared (or back to Keras, for a round trip).
    With `inline` (`model_text`), the model is those lines and the inputs are drawn from a seeded generator:
    the script reads no file ("" when `inline` is empty: the model cannot be written so)."""
    if inline is not None and not inline:
        return ""
    path, back, opset = str(meta["converter"]), str(meta["back"]), int(meta["opset"])
    row = registry.converter(path)
    upstream = row is not None
    runs = not back and finding.stage not in (Stage.CONVERT, Stage.CHECK)  # an ONNX Runtime session on the graph
    imports = ["import numpy as np", "import keras", "import tensorflow as tf",
               *(["import onnxruntime as ort"] if runs else []), *(row.imports if row else ())]
    imports += ["import pathlib", "import onnx", "from onnx import numpy_helper"] if inline is None else []
    imports += ["import onnx"] if inline is not None and finding.stage == Stage.CHECK else []
    if not upstream:
        module, _, function = path.partition("@")[0].partition(":")
        imports += [f"from {module} import {function}  # a converter of one's own",
                    "from roundtrip.spec.model import ModelSpec"]
    dims = [(None, *i.shape) for i in spec.inputs]  # a Keras model's batch is unknown
    imports += _back_imports(back, dims) if back else []
    if custom:
        module = Path(custom).stem if custom.endswith(".py") else custom
        imports.append(f"import {module}  # registers the custom layers")
    k = finding.output or 0
    batch = int((meta.get("case") or {}).get("batch", 1))
    drawn = [standard_normal([0, j], (batch, *i.shape), "float32") for j, i in enumerate(spec.inputs)]
    model_lines = inline if inline is not None else [
        *_READ_INPUTS, 'model = keras.saving.load_model(here / "model.keras", safe_mode=True)']
    lines = [*sorted_imports(imports), "", *model_lines,
             *([f"inputs = [{', '.join(drawn)}]"] if inline is not None else []),
             "fed = inputs[0] if len(inputs) == 1 else inputs",
             f"expected = np.asarray(keras.tree.flatten(model(fed, training=False))[{k}])", "",
             *conversion(spec, path, opset, upstream)]
    file = "model.keras" if inline is None else ""
    if back:
        return _script(finding, meta, file, lines + _way_back(finding, back, k, dims))
    if finding.stage == Stage.CONVERT:
        return _script(finding, meta, file, lines)
    if finding.stage == Stage.CHECK:
        return _script(finding, meta, file, lines + check_lines(finding))
    lines += ['session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])',
              f"actual = session.run(None, dict(zip([i.name for i in session.get_inputs()], inputs)))[{k}]"]
    if finding.stage == Stage.COMPARE:
        lines += compare_lines(finding, KERAS_MODEL, ONNX_RUNTIME_CONVERTED, half=False)
    return _script(finding, meta, file, lines)


def _way_back(finding: Finding, back: str, k: int, input_dims: Sequence[Sequence[Any]], want: str = KERAS_MODEL,
              got: str = "") -> list[str]:
    """The ONNX model back to Keras by `back` and run (in the ONNX layout), compared with `expected`, which
    `want` computed (the original Keras model, for a round trip); `got` names the converter's side."""
    got = got or keras_made_by(back)
    layout = _layout(back)
    if layout == registry.RECORDED:
        return repro_lines(back, input_dims, "")[1] + _run_recorded(finding, k, want, got)
    names = "[i.name for i in onnx_model.graph.input if i.name not in {t.name for t in onnx_model.graph.initializer}]"
    lines = [f"input_names = {names}", *repro_lines(back, input_dims, "input_names", qualified=True)[1]]
    if finding.stage == Stage.LOAD:
        return lines
    nhwc = layout == registry.CHANNELS_LAST
    fed = "[np.moveaxis(x, 1, -1) if x.ndim >= 3 else x for x in inputs]" if nhwc else "inputs"
    lines += [f"outputs = keras.tree.flatten(keras_model({fed} if len(inputs) > 1 else {fed}[0], training=False))",
              f"actual = np.asarray(outputs[{k}])"]
    if nhwc:
        lines.append("actual = np.moveaxis(actual, -1, 1) if actual.ndim >= 3 else actual")
    if finding.stage == Stage.COMPARE:
        lines += compare_lines(finding, want, got, half=False)
    return lines


def _layout(back: str) -> str:
    row = registry.converter(back)
    return row.layout if row is not None else registry.AS_THE_GRAPH


def _back_imports(back: str, input_dims: Sequence[Sequence[Any]]) -> list[str]:
    return repro_lines(back, input_dims, "", qualified=True, own="one's own")[0]


def onnx_script(finding: Finding, meta: dict[str, Any], inputs: Sequence[tuple[str, Sequence[Any], str]]) -> str:
    """An ONNX model entry's repro.py: the graph loaded, run by ONNX Runtime, converted by the ONNX -> Keras
    converter, the Keras model run (through the layout a reordering converter takes) and compared.  `inputs`:
    the graph's (name, dims, dtype)."""
    back = str(meta["back"])
    input_names, input_dims = [n for n, _, _ in inputs], [d for _, d, _ in inputs]
    imports = ["import pathlib", "import numpy as np", "import onnx", "from onnx import numpy_helper"]
    imports += ["import keras"] if _layout(back) != registry.RECORDED else []  # its run uses keras.tree
    k = finding.output or 0
    lines = ['onnx_model = onnx.load(str(here / "model.onnx"))']
    want = str(meta.get("expected_by", ONNX_RUNTIME_GIVEN))
    if "expected_by" in meta:  # ONNX Runtime cannot run the graph
        imports.append("from onnx.reference import ReferenceEvaluator")
        lines.append(f"expected = ReferenceEvaluator(onnx_model).run(None, dict(zip({input_names!r}, inputs)))[{k}]")
    else:
        imports.append("import onnxruntime as ort")
        lines += ["session = ort.InferenceSession(onnx_model.SerializeToString(), providers=['CPUExecutionProvider'])",
                  f"expected = session.run(None, dict(zip({input_names!r}, inputs)))[{k}]"]
    imports += _back_imports(back, input_dims)
    lines += _way_back(finding, back, k, input_dims, want, keras_made_by(back))
    return _script(finding, meta, "model.onnx", sorted_imports(imports) + [""] + _READ_INPUTS + lines)


def _run_recorded(finding: Finding, k: int, want: str, got: str) -> list[str]:
    """The Keras model of a converter that records its layouts run on `inputs` (channels-last where it took them
    so) and compared with `expected`."""
    layouts = finding.details.get("layouts") or {}
    nhwc_in = list(layouts.get("inputs_nhwc", []))
    nhwc_out = list(layouts.get("outputs_nhwc", []))
    if finding.stage == Stage.LOAD:
        return []
    lines = [f"nhwc_in = {nhwc_in!r}",
             "fed = [np.moveaxis(x, 1, -1) if k < len(nhwc_in) and nhwc_in[k] else x for k, x in enumerate(inputs)]",
             "outputs = keras_model(fed if len(fed) > 1 else fed[0], training=False)",
             f"actual = np.asarray(outputs[{k}] if isinstance(outputs, (list, tuple)) else outputs)"]
    if k < len(nhwc_out) and nhwc_out[k]:
        lines.append("actual = np.moveaxis(actual, -1, 1)")
    if finding.stage == Stage.COMPARE:
        lines += compare_lines(finding, want, got, half=False)
    return lines


# ---- issue.md ---------------------------------------------------------------------------------------------------
def _expected_lines(meta: dict[str, Any]) -> list[str]:
    """Where the expected outputs come from, when not from ONNX Runtime."""
    if "expected_by" not in meta:
        return []
    return [f"**Expected outputs:** {meta['expected_by']} on the graph: ONNX Runtime cannot run it "
            f"({meta.get('runtime_refused', '')}).", ""]


def reproduce(file: str, script: str) -> str:
    if "Reads no file." in script:
        return "**Reproduce** (the script runs as pasted, reads no file, and exits 1 while the bug shows):"
    return (f"**Reproduce** (attach `{file}` and `test_data_set_0/`: the script reads them from its own folder, "
            "and exits 1 while the bug shows):")


def issue(finding: Finding, meta: dict[str, Any], file: str, script: str, err_log: str) -> str:
    package = finding.package
    tracker = TRACKERS.get(package, package)
    versions_line = versions_of(meta, script, python=False)
    reads_file = "Reads no file." not in script
    lines = [f"# {title(finding, meta, reads_file=reads_file)}", "",
             f"<!-- roundtrip model entry {finding.slug}: file at {tracker} -->", "",
             f"**Versions:** {versions_line}; Python {meta['python']}, {meta['platform']}.", "",
             *_expected_lines(meta),
             reproduce(file, script), "", fence(script.rstrip(), "python"), "",
             f"**Expected:** {expected_of(finding, str(meta['direction']), str(meta.get('back', '')))}", "",
             f"**Actual:** {finding.stage}/{finding.symptom} ({finding.kind}):", "",
             fence(scrubbed(finding.message)[:3000]), ""]
    trace = trimmed(err_log, package)
    if trace:
        lines += [f"<details><summary>Traceback ({package}'s frames)</summary>", "", fence(trace), "", "</details>", ""]
    lines += [f"**Where to file:** {package} ({tracker}).", "", "---", "",
              "Found by `roundtrip check` on a user's own model, cut to the part that still shows the bug. "
              f"Its identity: `{finding.signature}`."]
    return "\n".join(lines) + "\n"
