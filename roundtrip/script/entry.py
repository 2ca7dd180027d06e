"""An entry's repro.py written and checked: rendered from the entry's files, run once in a fresh process,
and kept in the tidiest form that still shows the bug."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from roundtrip.back import ONNX_TO_KERAS, python_for
from roundtrip.converters import KERAS_TO_ONNX
from roundtrip.graphs import GraphSpec
from roundtrip.remote import EnvironmentMissing
from roundtrip.script import onnx_text, verdict
from roundtrip.script.render import KERAS_TO_ONNX_DIRECTION, Source, render, smaller_graphs, source_of
from roundtrip.spec import ModelSpec

MAX_CUTS = 3  # graphs cut after a node of the kind at fault, tried before the whole graph (a run each)
SMALL_GRAPH = 3  # nodes: a graph this small is not cut
MAX_BYPASS_RUNS = 12  # script runs spent bypassing nodes of a bigger graph, after it shows the bug


@dataclass(frozen=True)
class Written:
    checked: bool  # the script ran here
    verdict: verdict.Verdict | None
    tidy: bool
    cut: bool = False  # the script holds the graph cut after the node at fault, not all of it
    in_text: bool = True  # the graph's small initializers are in its parser text
    bypassed: int = 0  # nodes bypassed after the cut (consumers read the node's input instead)

    def record(self) -> dict[str, Any]:
        """What meta.json says of the script (its output: what issue.md shows as "Actual")."""
        if not self.checked or self.verdict is None:
            return {"checked": False}
        return {"checked": True, "shows": self.verdict.shows, "why": self.verdict.why, "tidy": self.tidy,
                "cut": self.cut, "in_text": self.in_text, "bypassed": self.bypassed, "output": self.verdict.output}


def upstream(src: Source) -> bool:
    """Whether every converter the script calls is upstream code (not a planted fault of the tests)."""
    if src.direction == KERAS_TO_ONNX_DIRECTION:
        return str(src.meta["path"]) in KERAS_TO_ONNX
    return str(src.meta.get("back", "")) in ONNX_TO_KERAS


def python_of(src: Source) -> str | None:
    """The interpreter the script runs with (its converter's environment's), None when that is absent."""
    try:
        return python_for("" if src.direction == KERAS_TO_ONNX_DIRECTION else str(src.meta.get("back", "")))
    except EnvironmentMissing:
        return None


def write_repro(folder: Path, spec: ModelSpec | GraphSpec, meta: dict[str, Any], *, check: bool = True) -> Written:
    """Writes folder/repro.py.  With `check`, runs it (a flaky finding is not run: it shows in some runs
    only), trying first the ONNX graph cut after the node at fault, then the whole graph with short names,
    then as the converter had it; the first that shows the bug stays."""
    src = source_of(folder, spec, meta)
    script = folder / "repro.py"
    python = python_of(src)
    runnable = check and python is not None and upstream(src) and not src.finding.flaky
    if not runnable:
        script.write_text(render(src))
        return Written(False, None, True)
    assert python is not None
    last: verdict.Verdict | None = None
    for candidate, tidy, in_text in attempts(src):
        script.write_text(render(candidate, tidy=tidy, in_text=in_text))
        last = verdict.run(script, python, src.finding, cwd=folder)
        if last.shows:
            smaller, bypassed = bypass_nodes(candidate, script, python, tidy, in_text)
            script.write_text(render(smaller, tidy=tidy, in_text=in_text))
            if bypassed:  # what the script as written prints (issue.md shows it)
                last = verdict.run(script, python, src.finding, cwd=folder)
            return Written(True, last, tidy, candidate.onnx is not src.onnx, in_text, bypassed)
    script.write_text(render(src))
    return Written(True, last, True)


def bypass_nodes(src: Source, script: Path, python: str, tidy: bool, in_text: bool) -> tuple[Source, int]:
    """The graph of `src` with nodes bypassed one at a time (consumers read the node's input instead)
    while the script still shows the bug, within MAX_BYPASS_RUNS runs; and how many went."""
    if src.direction == KERAS_TO_ONNX_DIRECTION or len(src.onnx.graph.node) <= SMALL_GRAPH:
        return src, 0
    runs = gone = index = 0
    while index < len(src.onnx.graph.node) and runs < MAX_BYPASS_RUNS:
        smaller = onnx_text.bypassed(src.onnx, index)
        if smaller is None:
            index += 1
            continue
        candidate = replace(src, onnx=smaller)
        script.write_text(render(candidate, tidy=tidy, in_text=in_text))
        runs += 1
        if verdict.run(script, python, src.finding, cwd=script.parent).shows:
            src, gone = candidate, gone + 1  # the next node now has this index
        else:
            index += 1
    return src, gone


def attempts(src: Source) -> list[tuple[Source, bool, bool]]:
    """What to try, best first: the graph cut after the node at fault, then the whole graph; each with its
    small initializers in the parser text, then added as exporters write them; last, the whole graph as the
    converter had it (a converter may depend on a name or a tensor layout that tidying changes)."""
    if src.direction == KERAS_TO_ONNX_DIRECTION:
        return [(src, True, True)]
    cuts = smaller_graphs(src)[:MAX_CUTS] if len(src.onnx.graph.node) > SMALL_GRAPH else []
    # onnx2keras 0.0.25 reads an initializer's name by field position (`ListFields()[3]`), right only for
    # tensors stored as raw bytes: for its graphs the parser's typed fields are tried last.
    forms = (False, True) if str(src.meta.get("back", "")).startswith("onnx2keras") else (True, False)
    return [*((c, True, form) for form in forms for c in [*cuts, src]), (src, False, False)]
