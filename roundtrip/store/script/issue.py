"""issue.md: an entry's upstream bug report, complete with nothing attached.

The title says what breaks; then the versions, the repro inline (runnable exactly as pasted: it reads no
file), expected against actual, the traceback trimmed to the upstream project's own frames, and which
project to file with when the bug passed through two (Keras' ONNX export runs tf2onnx inside).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from roundtrip import registry
from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.registry import TRACKERS
from roundtrip.store.script.render import (
    KERAS_TO_ONNX_DIRECTION,
    Source,
    converter_name,
    script_versions,
    shipped,
    title,
    traced_alone,
    way_back_failed,
)
from roundtrip.store.script.scrub import scrubbed
from roundtrip.store.script.verdict import expected_exception, raised


def markdown(src: Source, name: str, repro: str, err_log: str, platform: str, related: Sequence[str] = ()) -> str:
    """The report for the entry `name` whose files gave `src`, its repro.py text and its err.log."""
    finding = src.finding
    package = finding.package
    versions = ", ".join(f"{k} {v}" for k, v in script_versions(src, repro).items())
    lines = [f"# {title(shipped(src, repro))}", "",
             f"<!-- roundtrip corpus entry {name}: file at {TRACKERS.get(package, package)} -->", "",
             *[f"Known upstream: {t['url']}\n" for t in [src.meta.get("triage") or {}] if t.get("status") == "known"],
             f"**Versions:** {'; '.join(part for part in (versions, platform) if part)}.", "",
             *history_lines(src.meta), *evidence_lines(src),
             "**Reproduce** (the script runs as pasted, reads no file, and exits 1 while the bug shows):", "",
             fence(repro.rstrip(), "python"), "",
             f"**Expected:** {expected(src)}", "",
             f"**Actual:** {actual(src)}", ""]
    own = script_traceback(src)
    trace = trimmed(own or err_log, package)
    if re.search(r'^\s+File "', trace, re.MULTILINE):  # a frame of the package to show
        whose = f"{package}'s frames" if own else f"{package}'s frames, as the fuzzer met them"
        lines += [f"<details><summary>Traceback ({whose})</summary>", "", fence(trace), "", "</details>", ""]
    lines += where_to_file(src)
    if related:
        lines += ["The same bug was also met through: " + ", ".join(f"`{r}`" for r in related) + ".", ""]
    for alias in src.meta.get("aliases") or []:
        lines += [f"The same fault also shows another way ({alias['reason']}): `{alias['said']}`.", ""]
    reasons: dict[str, list[str]] = {}
    for case in src.meta.get("cases") or []:
        reasons.setdefault(str(case["reason"]), []).append(f"`{case['node']}`")
    for reason, nodes in reasons.items():
        lines += ["The same fault was also met with other parameters of this op, one cause read by hand ("
                  f"{reason}): {', '.join(nodes)}.", ""]
    lines += ["---", "", f"Found by roundtrip, a property-based fuzzer of Keras <-> ONNX converters, and reduced "
              f"to the model above. {identity_words(src)}"]
    return "\n".join(lines).rstrip() + "\n"


def identity_words(src: Source) -> str:
    """The entry's identity (meta.json "signature": what a check shows), and, for an entry its evidence blames on
    another package (a release history), that it is filed with that package."""
    finding = src.finding
    identity = str(src.meta.get("signature") or finding.signature)
    if identity.split("|")[0] == finding.package:
        return f"Its identity: `{identity}`."
    return (f"Its identity: `{identity}`, as a check meets it (through {identity.split('|')[0]}); the evidence "
            f"above blames {finding.package}.")


HISTORY_WORDS = {"fixed_in": "fixed in", "shows_since": "shows since", "changed_in": "changes in"}


def history_lines(meta: dict[str, Any]) -> list[str]:
    """What `roundtrip bisect` found of the releases (meta.json "history"), as a paragraph; none when none."""
    said = []
    for package, found in sorted((meta.get("history") or {}).items()):
        for key, words in HISTORY_WORDS.items():
            if isinstance(found, dict) and key in found:
                said.append(f"{words} {package} {found[key]} ({found.get('before')} on {found.get('last_before')}, "
                            f"{found.get('after')} on {found[key]})")
    if not said:
        return []
    return [f"**Releases:** {'; '.join(said)}, each release run with the same other packages.", ""]


def evidence_lines(src: Source) -> list[str]:
    """Why the entry blames its package, when the evidence says more than where it raised: a failure shown
    without the converter, a runtime's failure on a graph the reference evaluator runs, a release history."""
    given = (src.finding.details.get("evidence"), src.meta.get("blame_evidence"))
    said = [as_scripted(src, str(text)) for text in given if text]
    if src.finding.gap:
        said.append(f"a feature {src.finding.package} does not have ({src.finding.gap}), refused in its own code")
    return [f"**Why {src.finding.package}:** {'; '.join(said)}.", ""] if said else []


def expected(src: Source) -> str:
    return as_scripted(src, expected_of(src.finding, src.direction, str(src.meta.get("back", ""))))


def as_scripted(src: Source, text: str) -> str:
    """`text` with the graph's input names and symbolic dims (a symbolic dim's finding says them, `unk__9`) as
    the script names them (`onnx_text.tidy`: `N`, `d1`)."""
    if src.onnx is None or not src.finding.symbolic_dim:
        return text
    from roundtrip.store.script import onnx_text

    def inputs(model: Any) -> list[Any]:
        weights = {t.name for t in model.graph.initializer}
        return [v for v in model.graph.input if v.name not in weights]

    names: dict[str, str] = {}
    for was, now in zip(inputs(src.onnx), inputs(onnx_text.tidy(src.onnx)), strict=True):
        names[was.name] = now.name
        for a, b in zip(was.type.tensor_type.shape.dim, now.type.tensor_type.shape.dim, strict=True):
            if a.dim_param:
                names[a.dim_param] = b.dim_param
    renamed = {a: b for a, b in names.items() if a != b}
    if not renamed:
        return text
    words = "|".join(map(re.escape, sorted(renamed, key=len, reverse=True)))
    pattern = re.compile(rf"(?<![\w.])({words})(?![\w.])")
    return pattern.sub(lambda m: renamed[m.group(1)], text)


def expected_of(finding: Finding, direction: str, back: str) -> str:
    """What should have happened, in the words of the stage that failed (a spec entry's or a model entry's)."""
    if traced_alone(finding):
        return "TensorFlow traces the Keras model in a tf.function (every converter starts there)."
    if direction == KERAS_TO_ONNX_DIRECTION:
        return {Stage.CONVERT: "the conversion succeeds.",
                Stage.CHECK: "onnx.checker accepts the converted graph.",
                Stage.LOAD: "ONNX Runtime loads the converted graph.",
                Stage.RUN: "ONNX Runtime runs the converted graph.",
                Stage.BUILD: "Keras builds and runs the model."}.get(
            finding.stage, f"ONNX Runtime's {what_compared(finding)} match the Keras model's.")
    who = converter_name(back)
    if finding.symbolic_dim:
        declared, fixed = finding.details.get("symbolic_dims", "?"), finding.details.get("fixed_dims", "?")
        return (f"{who} converts the graph with its input's symbolic dims ({declared}) and the Keras model "
                f"runs, as it does the same graph with them fixed ({fixed}).")
    if way_back_failed(finding):
        return f"{finding.package} converts the Keras model {who} makes to a graph onnx.checker accepts."
    return {Stage.LOAD: f"{who} converts the graph.",
            Stage.RUN: f"the Keras model {who} makes runs on the graph's inputs."}.get(
        finding.stage, f"the Keras model {who} makes gives the {what_compared(finding)} ONNX Runtime gives on "
                       "the graph.")


def what_compared(finding: Finding) -> str:
    return {Symptom.SHAPE: "output shapes", Symptom.DTYPE: "output dtypes", Symptom.COUNT: "number of outputs",
            Symptom.DECLARED_SHAPE: "output shapes, as the graph declares them"}.get(finding.symptom, "output values")


def actual(src: Source) -> str:
    """What the script printed when it was run as the entry was written (meta.json "repro"), or why there
    is nothing to show."""
    record = src.meta.get("repro") or {}
    if not record.get("checked"):
        return f"not captured: the script was not run when this report was written ({not_run(src)})."
    if "output" not in record:
        return "not captured: the script ran when this report was written, but its output was not kept."
    output, why = scrubbed(str(record["output"])), str(record.get("why", ""))
    if not record.get("shows"):
        return f"the script, run when this report was written, did not show the bug ({why}):\n\n" + \
            fence(cut_tail(output, 12))
    finding = src.finding
    if finding.symptom == Symptom.CRASH:
        return f"the process dies ({why}); the script's last lines:\n\n" + fence(cut_tail(output, 12))
    if finding.symptom == Symptom.TIMEOUT:
        return f"the script does not end ({why})."
    if why.startswith("ONNX Runtime warned"):
        return f"{why}."
    error = last_exception(output)
    name = raised(output) or expected_exception(finding)
    return f"it raises {name}:\n\n" + fence(cut(error or cut_tail(output, 12), 30))


def not_run(src: Source) -> str:
    """Why write_repro did not run the entry's script (roundtrip.store.script.entry)."""
    from roundtrip.store.script.entry import python_of, upstream

    if not upstream(src):
        return "it calls a converter of the suite's own"
    if python_of(src) is None:
        return "its converter's environment was absent"
    return "it was written without running it"


def last_exception(output: str) -> str:
    """The exception a script's output ends with: its last traceback's lines after the frames."""
    lines = output.splitlines()
    starts = [k for k, line in enumerate(lines) if line.startswith("Traceback (most recent call last):")]
    if not starts:
        return ""
    after = lines[starts[-1] + 1:]
    first = next((k for k, line in enumerate(after) if line.strip() and not line.startswith((" ", "\t"))), None)
    return "\n".join(after[first:]).strip() if first is not None else ""


def cut_tail(text: str, most: int) -> str:
    lines = text.splitlines()
    return "\n".join(([f"... ({len(lines) - most} lines before)"] if len(lines) > most else []) + lines[-most:])


def cut(text: str, most: int) -> str:
    lines = text.splitlines()
    return "\n".join(lines[:most] + ([f"... ({len(lines) - most} more lines)"] if len(lines) > most else []))


def script_traceback(src: Source) -> str:
    """The traceback the script printed when it was run as the entry was written, in err.log's form; ''
    when it printed none."""
    record = src.meta.get("repro") or {}
    output = str(record.get("output", "")) if record.get("checked") and record.get("shows") else ""
    start = output.rfind("Traceback (most recent call last):")
    return "Traceback:\n" + output[start:] if start >= 0 else ""


def trimmed(err_log: str, package: str) -> str:
    """The traceback recorded in err.log, keeping the header, the frames inside `package` and the final
    exception; site-packages paths shortened."""
    text = scrubbed(err_log)
    if "Traceback:\n" not in text:
        return ""
    trace = text.split("Traceback:\n", 1)[1].split("Worker log (last lines):", 1)[0]
    modules = registry.package(package).modules  # as they appear in a traceback's file paths
    kept: list[str] = []
    keep = False  # the lines under a frame of the package, or of an exception's message
    for line in trace.rstrip().splitlines():
        frame = re.match(r'\s+File "([^"]*)"', line)
        if frame:
            keep = any(f"/site-packages/{m}/" in frame.group(1) for m in modules)
            if keep:
                kept.append(re.sub(r'"[^"\n]*/site-packages/', '".../site-packages/', line))
        elif not line.startswith((" ", "\t")) and line.strip():
            keep = not line.startswith("Traceback (most recent call last)")
            kept.append(line)
        elif keep or not line.strip():
            kept.append(line)
    return "\n".join(kept).strip()


def where_to_file(src: Source) -> list[str]:
    """A line on which project to file with, when the bug passed through two."""
    finding = src.finding
    package = finding.package
    tracker = TRACKERS.get(package, package)
    row = registry.converter(str(src.meta.get("path", "")))
    if src.direction == KERAS_TO_ONNX_DIRECTION and row is not None and row.filing and package == row.package:
        return [f"**Where to file:** {package} ({tracker}). {row.filing}", ""]
    if src.direction != KERAS_TO_ONNX_DIRECTION and way_back_failed(finding):
        return [f"**Where to file:** {package} ({tracker}). The Keras model comes from "
                f"{converter_name(str(src.meta.get('back', '')))}, but it loads and runs; what fails is {package} "
                "converting it.", ""]
    return [f"**Where to file:** {finding.package} ({tracker}).", ""]


def fence(text: str, language: str = "") -> str:
    """`text` in a code block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    mark = "`" * max(3, longest + 1)
    return f"{mark}{language}\n{text.rstrip()}\n{mark}"
