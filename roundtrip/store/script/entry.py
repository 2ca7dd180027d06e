"""An entry's repro.py written and checked: rendered from the entry's files, run once in a fresh process,
and kept in the tidiest form that still shows the bug."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from roundtrip import registry
from roundtrip.convert.back import ONNX_TO_KERAS, python_for, run_back
from roundtrip.convert.remote import EnvironmentMissing
from roundtrip.finding.findings import Symptom
from roundtrip.oracle.compare import close
from roundtrip.oracle.layouts import taken
from roundtrip.run.preload import Preloaded, imports_of, shared
from roundtrip.run.runners import fed_inputs
from roundtrip.spec.graph import GraphSpec
from roundtrip.spec.model import ModelSpec
from roundtrip.store.script import graph_steps, onnx_text, verdict
from roundtrip.store.script.render import (
    KERAS_TO_ONNX_DIRECTION,
    Source,
    input_seed,
    reheaded,
    render,
    runtime_alone,
    smaller_graphs,
    source_of,
)

MAX_CUTS = 3  # graphs cut after a node of the kind at fault, tried before the whole graph (a run each)
FLAKY_RUNS = 16  # runs of a flaky finding's script, until one shows the bug
MAX_STEP_RUNS = 80  # script runs spent making the graph smaller, after it first shows the bug


@dataclass(frozen=True)
class Written:
    checked: bool  # the script ran here
    verdict: verdict.Verdict | None
    tidy: bool
    cut: bool = False  # the script holds the graph cut after the node at fault, not all of it
    in_text: bool = True  # the graph's small initializers are in its parser text
    steps: int = 0  # reduction steps kept after the cut (nodes bypassed, side inputs folded, ...)
    minimal: bool = False  # no single node of the graph can be bypassed and the bug still show

    def record(self) -> dict[str, Any]:
        """What meta.json says of the script (its output: what issue.md shows as "Actual")."""
        if not self.checked or self.verdict is None:
            return {"checked": False}
        return {"checked": True, "shows": self.verdict.shows, "why": self.verdict.why, "tidy": self.tidy,
                "cut": self.cut, "in_text": self.in_text, "steps": self.steps, "minimal": self.minimal,
                "output": self.verdict.output}


def upstream(src: Source) -> bool:
    """Whether every converter the script calls is upstream code (not a planted fault of the tests)."""
    if src.direction == KERAS_TO_ONNX_DIRECTION:
        return registry.converter(str(src.meta["path"])) is not None
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
    then as the converter had it; the first that shows the bug stays, and is then made smaller step by step
    (`Reduction`), each step a graph ONNX Runtime runs on the script's inputs that still shows the bug.
    The tries and steps run in forks of a server that imported the script's modules (`preload.shared`);
    the script as written is then run alone, as a maintainer runs it: its output is what issue.md shows."""
    src = source_of(folder, spec, meta)
    script = folder / "repro.py"
    python = python_of(src)
    runnable = check and python is not None and upstream(src)
    if not runnable:
        script.write_text(render(src))
        return Written(False, None, True)
    assert python is not None
    if src.finding.flaky:  # shown in some runs only: run until one shows, as written (nothing to reduce)
        script.write_text(render(src))
        return Written(True, flaky_run(script, python, src), True)
    for candidate, tidy, in_text in attempts(src):
        script.write_text(render(candidate, tidy=tidy, in_text=in_text))
        preloaded = shared(python, imports_of(script.read_text()))
        if not verdict.run(script, python, src.finding, cwd=folder, via=preloaded).shows:
            continue
        reduction = Reduction(script_shows(script, python, tidy, in_text, preloaded))
        smaller, minimal = reduction.reduce(candidate)
        script.write_text(render(smaller, tidy=tidy, in_text=in_text))
        last = verdict.run(script, python, src.finding, cwd=folder)  # run alone: what issue.md shows
        if last.shows:
            return Written(True, last, tidy, candidate.onnx is not src.onnx, in_text, reduction.taken, minimal)
        if reduction.taken:  # the smaller graph showed in the forks only: the one that showed there first, alone
            script.write_text(render(candidate, tidy=tidy, in_text=in_text))
            last = verdict.run(script, python, src.finding, cwd=folder)
            if last.shows:
                return Written(True, last, tidy, candidate.onnx is not src.onnx, in_text, 0, False)
    script.write_text(render(src))
    return Written(True, verdict.run(script, python, src.finding, cwd=folder), True)


def write_header(folder: Path, spec: ModelSpec | GraphSpec, meta: dict[str, Any]) -> bool:
    """folder/repro.py's header written again under this build's rules (`render.reheaded`), its code and meta.json's
    record of its run kept; whether the file changed."""
    script = folder / "repro.py"
    before = script.read_text()
    after = reheaded(source_of(folder, spec, meta), before)
    if after != before:
        script.write_text(after)
    return after != before


def flaky_run(script: Path, python: str, src: Source) -> verdict.Verdict:
    """The first of up to FLAKY_RUNS runs of the script that shows the bug (else the last): what a
    maintainer running it a few times sees."""
    last = verdict.run(script, python, src.finding, cwd=script.parent)
    for _ in range(FLAKY_RUNS - 1):
        if last.shows:
            break
        last = verdict.run(script, python, src.finding, cwd=script.parent)
    return last


def script_inputs(src: Source) -> dict[str, np.ndarray]:
    """The arrays the script feeds the graph, by input name (as `render` draws them; a script that stops
    before running its graph is given these too)."""
    out = {}
    for k, value in enumerate(fed_inputs(src.onnx)):
        seed, shape = input_seed(src, k, onnx_text.dims_of(value))
        out[value.name] = np.random.default_rng(seed).standard_normal(shape).astype(onnx_text.dtype_of(value))
    return out


def still_valid(src: Source) -> bool:
    """Whether the full checker accepts the script's graph and ONNX Runtime runs it on the script's inputs
    (a script of ONNX Runtime alone: whether the full checker accepts it, the runtime being what fails)."""
    if runtime_alone(src):
        return onnx_text.valid(src.onnx)
    try:
        feeds = script_inputs(src)
    except (IndexError, KeyError, ValueError):  # an input the spec does not describe
        return False
    return graph_steps.runs(src.onnx, feeds)


def script_shows(script: Path, python: str, tidy: bool, in_text: bool, preloaded: Preloaded | None = None
                 ) -> Callable[[Source], bool]:
    """Whether the script written from a source shows the bug, run in a process of its own (a fork of
    `preloaded`, which imported the script's modules once, when given)."""
    def shows(src: Source) -> bool:
        script.write_text(render(src, tidy=tidy, in_text=in_text))
        return verdict.run(script, python, src.finding, cwd=script.parent, via=preloaded).shows
    return shows


@dataclass
class Reduction:
    """Makes a script's ONNX graph smaller one step at a time, keeping each step whose graph is valid
    (`still_valid`) and whose script still shows the bug, within MAX_STEP_RUNS runs of the script.

    A pass tries, in order: folding each side input into a constant, bypassing each node through each of
    its inputs (in the main graph), the first node removed and the graph input made what it made, bypassing
    each node of Loop and If bodies, dropping one input of a variadic node (Concat, Sum...), dropping a Loop's
    carried values (one its body passes on unchanged made a constant of the body) and scan outputs, keeping
    one graph output, dropping unused graph inputs, simpler small float initializers, the graph a rank lower
    (a size-1 axis of its input dropped); when none of those kept anything, bypassing two nodes at once (one
    downstream of the other: a Squeeze and the Unsqueeze that undoes it; or two of a body).
    Passes repeat until one keeps nothing: the graph is then 1-minimal (no node can be bypassed)."""

    shows: Callable[[Source], bool]  # whether the script of a source shows the bug (one run)
    budget: int = MAX_STEP_RUNS
    runs: int = 0
    taken: int = 0
    refused: bool = False  # a step went untried: the budget was spent

    def reduce(self, src: Source) -> tuple[Source, bool]:
        """The smallest graph found, and whether the last pass tried every step and kept none."""
        if src.onnx is None or src.direction == KERAS_TO_ONNX_DIRECTION and not runtime_alone(src):
            return src, False
        if not still_valid(src):  # the graph as given (the converter's own) is not reduced further
            return src, False
        while self.runs < self.budget:
            before = self.taken
            for step in (self.fold, self.bypass, self.head, self.bodies, self.variadic, self.loops, self.outputs,
                         self.inputs, self.initializers, self.ranks):
                src = step(src)
            if self.taken == before:
                src = self.pairs(src)
            if self.taken == before:
                return src, not self.refused
        return src, False

    def keeps(self, src: Source, model: Any | None, meta: dict[str, Any] | None = None) -> Source | None:
        """`src` with `model` as its graph when that is valid and its script shows the bug, else None."""
        if model is None:
            return None
        candidate = replace(src, onnx=model, meta=meta if meta is not None else src.meta)
        if not still_valid(candidate):
            return None
        relaid_candidate = relaid(candidate)
        if relaid_candidate is None:  # the suite's own check takes this graph's outputs as right
            return None
        candidate = relaid_candidate
        if self.runs >= self.budget:
            self.refused = True
            return None
        self.runs += 1
        if not self.shows(candidate):
            return None
        self.taken += 1
        return candidate

    def fold(self, src: Source) -> Source:
        """Each side input (a node's input after its first, made by nodes) replaced by its value on the
        script's inputs, the chains that fold most nodes away first."""
        found = graph_steps.values(src.onnx, script_inputs(src))
        folds = [graph_steps.folded(src.onnx, n, found[n]) for n in graph_steps.side_inputs(src.onnx) if n in found]
        for model in sorted(folds, key=lambda m: len(m.graph.node)):
            if len(model.graph.node) < len(src.onnx.graph.node):
                src = self.keeps(src, model) or src
                if src.onnx is model:
                    return self.fold(src)  # the values and side inputs of the smaller graph
        return src

    def bypass(self, src: Source) -> Source:
        """Each node bypassed through each of its inputs, last node first."""
        for name in [node.output[0] for node in reversed(src.onnx.graph.node)]:
            index = next((k for k, n in enumerate(src.onnx.graph.node) if n.output[:1] == [name]), None)
            for model in graph_steps.bypasses(src.onnx, index) if index is not None else []:
                kept = self.keeps(src, model)
                if kept is not None:
                    src = kept
                    break
        return src

    def bodies(self, src: Source) -> Source:
        """Each node of each Loop's or If's body bypassed through each of its inputs, last node first."""
        for holder, attribute in graph_steps.bodies(src.onnx):
            body = graph_steps.body_of(src.onnx, holder, attribute)
            made = [(n.output[0], len(n.input)) for n in reversed(body.node) if n.output] if body is not None else []
            for name, count in made:
                for via in range(count):
                    kept = self.keeps(src, graph_steps.body_bypassed(src.onnx, holder, attribute, name, via))
                    if kept is not None:
                        src = kept
                        break
        return src

    def head(self, src: Source) -> Source:
        """The first node removed, the graph input it read holding what it made (`graph_steps.headless`)."""
        try:
            feeds = script_inputs(src)
        except (IndexError, KeyError, ValueError):  # an input the spec does not describe
            return src
        return self.keeps(src, graph_steps.headless(src.onnx, feeds)) or src

    def ranks(self, src: Source) -> Source:
        """The graph a rank lower: each size-1 axis past the batch dropped, the last first, from all the tensors
        of a graph of elementwise nodes (`graph_steps.unit_axis_dropped`), else from its fed input alone, the
        nodes reading a smaller tensor (`graph_steps.input_axis_dropped`: Shape -> Cast on `float[N]`)."""
        for value in src.onnx.graph.input[:1]:
            for axis in reversed(range(1, len(value.type.tensor_type.shape.dim))):
                lower = graph_steps.unit_axis_dropped(src.onnx, axis) or graph_steps.input_axis_dropped(src.onnx, axis)
                src = self.keeps(src, lower) or src
        return src

    def variadic(self, src: Source) -> Source:
        """Each input of each variadic node (Concat, Sum, ...) dropped, last node first, last input first."""
        for name in [node.output[0] for node in reversed(src.onnx.graph.node) if node.output]:
            index = graph_steps.node_index(src.onnx, name)
            count = len(src.onnx.graph.node[index].input) if index is not None else 0
            for k in reversed(range(count)):
                index = graph_steps.node_index(src.onnx, name)  # nodes before it may have gone
                if index is not None:
                    src = self.keeps(src, graph_steps.input_dropped(src.onnx, index, k)) or src
        return src

    def loops(self, src: Source) -> Source:
        """Each Loop's carried values, then those its body passes on unchanged (read as constants then,
        `graph_steps.carried_made_constant`), then its scan outputs, dropped one at a time, last first."""
        for ordinal in range(len(graph_steps.loop_nodes(src.onnx))):
            for count, step in ((graph_steps.carried_count, graph_steps.carried_dropped),
                                (graph_steps.carried_count, graph_steps.carried_made_constant),
                                (graph_steps.scan_count, graph_steps.scan_dropped)):
                index = graph_steps.loop_at(src.onnx, ordinal)
                for k in reversed(range(count(src.onnx, index) if index is not None else 0)):
                    index = graph_steps.loop_at(src.onnx, ordinal)  # a step may have pruned a Loop before it
                    if index is not None:
                        src = self.keeps(src, step(src.onnx, index, k)) or src
        return src

    def pairs(self, src: Source) -> Source:
        """Two nodes bypassed at once, each through its first input, the second downstream of the first; then
        any two nodes of a Loop's or If's body (two Casts that one Less reads); the first pair that keeps ends
        the step."""
        for first, second in graph_steps.downstream_pairs(src.onnx):
            kept = self.keeps(src, graph_steps.pair_bypassed(src.onnx, first, second))
            if kept is not None:
                return kept
        for holder, attribute in graph_steps.bodies(src.onnx):
            body = graph_steps.body_of(src.onnx, holder, attribute)
            for first, second in graph_steps.graph_pairs(body, downstream=False) if body is not None else []:
                kept = self.keeps(src, graph_steps.body_pair_bypassed(src.onnx, holder, attribute, first, second))
                if kept is not None:
                    return kept
        return src

    def outputs(self, src: Source) -> Source:
        """One graph output kept: the one the finding compares, or each in turn for a failure to convert or run."""
        finding = src.finding
        if finding.symptom == Symptom.COUNT or len(src.onnx.graph.output) < 2:
            return src
        for k in [finding.output] if finding.output is not None else range(len(src.onnx.graph.output)):
            kept = self.keeps(src, graph_steps.only_output(src.onnx, k), one_output_meta(src.meta, k))
            if kept is not None:
                return kept
        return src

    def inputs(self, src: Source) -> Source:
        return self.keeps(src, graph_steps.without_unused_inputs(src.onnx)) or src

    def initializers(self, src: Source) -> Source:
        for name in [t.name for t in src.onnx.graph.initializer]:
            for model in graph_steps.simpler_initializer(src.onnx, name):
                kept = self.keeps(src, model)
                if kept is not None:
                    src = kept
                    break
        return src


def relaid(src: Source) -> Source | None:
    """For the mismatch of a converter that records the layouts it chose (onnx2tf), `src` with the layouts
    record of its own graph: onnx2tf chooses each tensor's layout per graph, so a graph made smaller (cut
    after a node, a node bypassed) does not inherit the record of the graph it came from (an output onnx2tf
    left as the graph has it would be moved, and differ).  The record is the one the suite's check takes
    (`oracle.layouts.taken`) on the script's inputs; `src` as it is when that cannot be had.  None when the
    check takes every output as right (in some axis order, where the converter's row says any order counts):
    a graph made smaller that way is no longer the bug, whatever its script's plainer comparison says."""
    finding, back = src.meta.get("finding") or {}, str(src.meta.get("back", ""))
    row = registry.converter(back)
    if row is None or row.layout != registry.RECORDED or src.onnx is None or finding.get("symptom") not in (
            Symptom.SHAPE, Symptom.VALUE):
        return src
    try:
        feeds = script_inputs(src)
        arrays = [feeds[v.name] for v in fed_inputs(src.onnx)]
        expected = list(graph_steps.outputs_of(src.onnx, feeds).values())
        run = taken(back, run_back(back, src.onnx, [arrays]), [expected])
    except Exception:  # noqa: BLE001 - no record of its own: the script decides with the one it has
        return src
    got = run.outputs[0] if run.outputs else None
    if isinstance(got, list) and len(got) == len(expected) and all(
            a.shape == e.shape and bool(close(a, e).all()) for a, e in zip(got, expected, strict=True)):
        return None
    if run.layouts is None:
        return src
    details = {**(finding.get("details") or {}), "layouts": run.layouts}
    return replace(src, meta=src.meta | {"finding": finding | {"details": details}})


def one_output_meta(meta: dict[str, Any], k: int) -> dict[str, Any]:
    """`meta` for a graph that keeps output `k` alone: the finding's output is 0, the layouts recorded for
    output `k` alone (each `outputs_` list of the record)."""
    finding = dict(meta["finding"]) | {"output": 0}
    layouts = (finding.get("details") or {}).get("layouts")
    if layouts:
        alone = {key: list(value)[k:k + 1] if key.startswith("outputs_") else value for key, value in layouts.items()}
        finding["details"] = finding["details"] | {"layouts": alone}
    return meta | {"finding": finding}


def attempts(src: Source) -> list[tuple[Source, bool, bool]]:
    """What to try, best first: the graph cut after the node at fault, then the whole graph; each with its
    small initializers in the parser text, then added as exporters write them; last, the whole graph as the
    converter had it (a converter may depend on a name or a tensor layout that tidying changes)."""
    if src.direction == KERAS_TO_ONNX_DIRECTION:
        return [(src, True, True)]
    cuts = [r for c in smaller_graphs(src) if still_valid(c) for r in [relaid(c)] if r is not None][:MAX_CUTS]
    # A converter may read an initializer's name by field position (onnx2keras 0.0.25: `ListFields()[3]`), right
    # only for tensors stored as raw bytes: for its graphs the parser's typed fields are tried last.
    row = registry.converter(str(src.meta.get("back", "")))
    forms = (False, True) if row is not None and row.typed_initializers_last else (True, False)
    return [*((c, True, form) for form in forms for c in [*cuts, src]), (src, False, False)]
