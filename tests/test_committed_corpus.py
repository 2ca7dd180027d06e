"""The committed corpus: every entry loads, is complete, one per bug and 1-minimal; its repro.py is short,
reads no file, is the code block of its issue.md, and, copied alone into an empty folder and run with
nothing of this project importable, still shows its bug under the pinned versions."""

from __future__ import annotations

import ast
import re
import statistics
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import onnx
import pytest

from roundtrip.convert.back import missing_environment
from roundtrip.run.preload import Preloaded, imports_of
from roundtrip.search.harness import Harness
from roundtrip.search.recorder import FLAKY_REPLAYS, job_for
from roundtrip.search.reduce import single_steps
from roundtrip.spec.graph import GraphSpec
from roundtrip.store import corpus, gaps, triage
from roundtrip.store.script import scrub, verdict
from roundtrip.store.script.entry import python_of, script_inputs
from roundtrip.store.script.render import source_of

ROOT = Path(__file__).resolve().parent.parent / "corpus"
ENTRIES = corpus.entries(ROOT)
ALLOWED = {"numpy", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "onnx2keras", "onnx2tf"}
STDLIB = set(sys.stdlib_module_names)


def _ids() -> list[str]:
    return [e.folder.name for e in ENTRIES]


def test_the_corpus_holds_the_known_from_keras_sequential_failure() -> None:
    assert any(e.meta["path"] == "tf2onnx-keras" and e.finding.kind == "KeyError" and e.spec.sequential
               for e in ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids())
def test_entry_is_complete_and_imports_only_upstream(entry: corpus.Entry) -> None:
    names = {p.name for p in entry.folder.iterdir()}
    keras = entry.meta["direction"] != "onnx-keras-onnx"  # a graph spec has its weights in model.onnx
    assert {"spec.json", "meta.json", "err.log", "repro.py", "test_data_set_0", *(["weights.npz"] * keras)} <= names
    assert ("model.onnx" in names) == (entry.meta["stage"] != "convert")
    assert entry.folder.name == entry.finding.slug
    # The signature is what a check shows; a release history may blame another package (said, with evidence).
    shown = entry.signature if "blame_evidence" not in entry.meta else \
        "|".join([entry.finding.package, *entry.signature.split("|")[1:]])
    assert shown == entry.finding.signature
    tree = ast.parse((entry.folder / "repro.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= ALLOWED | STDLIB, imported - ALLOWED - STDLIB


def _python(entry: corpus.Entry) -> str | None:
    """The interpreter a repro runs with: the converter's own environment's for one that has one (None
    when that environment is absent), else this one."""
    return python_of(source_of(entry.folder, entry.spec, entry.meta))


def _by_design(entry: corpus.Entry) -> bool:
    return triage.of(entry.meta).status == "by-design"


def _issue_script(entry: corpus.Entry) -> str:
    """The python code block of the entry's issue.md (repro.py for a by-design entry or a feature gap: it has
    no issue.md of its own; a gap's is inline in its package's request, as the test below checks)."""
    if _by_design(entry) or gaps.is_gap(entry.meta):
        return (entry.folder / "repro.py").read_text()
    text = (entry.folder / "issue.md").read_text()
    found = re.search(r"^(`{3,})python\n(.*?)\n\1$", text, re.MULTILINE | re.DOTALL)
    assert found, f"{entry.folder.name}: issue.md has no python code block"
    return found.group(2) + "\n"


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids())
def test_issue_md_holds_the_repro_as_it_is(entry: corpus.Entry) -> None:
    """Each bug's issue.md holds its repro.py; a feature gap's repro.py is in its package's one request."""
    if gaps.is_gap(entry.meta):
        assert not (entry.folder / "issue.md").exists()
        assert (entry.folder / "repro.py").read_text().rstrip() in (entry.folder.parent / "issue.md").read_text()
        return
    assert (entry.folder / "issue.md").is_file() != _by_design(entry)
    assert _issue_script(entry) == (entry.folder / "repro.py").read_text()


Servers = Callable[[str, str], Preloaded]


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """Preloaded servers by interpreter and the modules a script imports: each script runs in a fork of the
    one that imported its modules, as `python -I repro.py` would run it, without importing TensorFlow again."""
    started: dict[tuple[str, tuple[str, ...]], Preloaded] = {}

    def server(python: str, text: str) -> Preloaded:
        key = (python, tuple(imports_of(text)))
        if key not in started:
            started[key] = Preloaded(*key)
        return started[key]

    yield server
    for preloaded in started.values():
        preloaded.close()


def _run_repro(entry: corpus.Entry, root: Path, servers: Servers | None = None) -> str:
    """'' when the script of the entry's issue.md (repro.py, as the test above checks), saved alone in an
    empty folder and run isolated (-I: no cwd, no PYTHONPATH on the path), shows its bug; else how it ended.
    With `servers`, in a fork of the server that imported its modules."""
    python = _python(entry)
    if python is None:
        return ""  # said by test_every_repro_still_shows_its_bug
    folder = root / entry.folder.name
    folder.mkdir()
    script = folder / "repro.py"
    script.write_text(_issue_script(entry))
    via = servers(python, script.read_text()) if servers is not None else None
    # A flaky entry shows in some runs only (the tf2onnx pooling one about 1 run in 12 here): up to
    # FLAKY_REPLAYS runs; never showing is said as a warning, not a failure, so that CI does not go red by
    # chance.  Its replay in a fresh harness (properties/test_corpus.py) is what counts it fixed.
    for _ in range(FLAKY_REPLAYS if entry.finding.flaky else 1):
        result = verdict.run(script, python, entry.finding, cwd=folder, via=via)
        if result.shows:
            return ""
        if result.status != verdict.FIXED or not entry.finding.flaky:
            break
    else:
        warnings.warn(f"{entry.folder.name}: the flaky bug did not show in {FLAKY_REPLAYS} runs", stacklevel=1)
        return ""
    return f"{entry.folder.name}: {result.why}\n{result.output[-2500:]}"


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRIES, ids=_ids())
def test_every_repro_still_shows_its_bug(entry: corpus.Entry, tmp_path: Path, servers: Servers) -> None:
    # One test an entry, each a fork of a server that imported the script's modules (tests/test_preload.py: it
    # ends as a process of its own does); pytest -n 2 spreads them on CI's two cores.
    if _python(entry) is None:
        pytest.skip("the entry needs a converter environment that is absent (make onnx2tf-env)")
    failed = _run_repro(entry, tmp_path, servers)
    assert not failed, failed


def _small(entry: corpus.Entry) -> bool:
    """A model of at most three layers (or nodes) whose ONNX graph has no control flow: the script bypasses
    top-level nodes only, so a Loop, If or Scan body the converter wrote is written as it was."""
    onnx_file = entry.folder / "model.onnx"
    flow = onnx_file.is_file() and any(n.op_type in ("Loop", "If", "Scan")
                                       for n in onnx.load(str(onnx_file)).graph.node)
    return len(entry.spec.nodes if isinstance(entry.spec, GraphSpec) else entry.spec.layers) <= 3 and not flow


TEXT_FILES = ("issue.md", "err.log", "meta.json", "repro.py", "spec.json")
# A path of the machine that wrote the entry: under a root folder of one, or an installed package's not cut to
# `.../site-packages/`; a frame of the suite's own code; a terminal colour code (raw, or escaped in JSON).
MACHINE_PATH = re.compile(rf"(?<![\w./~-])/(?:{'|'.join(scrub.ROOTS)})/|(?<!\.\.\.)/(?:site|dist)-packages/|\.venv\b")
SUITE_FRAME = re.compile(r'File "(?![^"]*-packages/)[^"]*\b(?:roundtrip|tests|properties|strategies)/[^"]*"')
ANSI = re.compile(r"\x1b|\\u001b")


def _unfit_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if MACHINE_PATH.search(line) or SUITE_FRAME.search(line) or ANSI.search(line)]


@pytest.mark.parametrize("folder", sorted(p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         ids=lambda p: p.name)
def test_no_entry_file_holds_a_machine_path_a_suite_frame_or_a_colour_code(folder: Path) -> None:
    unfit = {name: _unfit_lines((folder / name).read_text()) for name in TEXT_FILES if (folder / name).is_file()}
    assert not any(unfit.values()), {name: lines[:3] for name, lines in unfit.items() if lines}


def test_an_unfit_line_is_told_from_a_fit_one() -> None:
    assert _unfit_lines('File "/work/main/roundtrip/x.py"\nat /tmp/a/b\n"/v/site-packages/k/x.py"\n\x1b[1m')
    assert len(_unfit_lines('  File "roundtrip/convert/converters.py", line 4, in f\n"\\u001b[0m"')) == 2
    assert not _unfit_lines('File ".../site-packages/keras/src/x.py"\n.../python3.11/inspect.py\nnode /conv1/Conv')


def test_repros_of_small_models_are_short() -> None:
    """Among entries whose model has at most three layers or nodes: the median repro.py is at most 30 lines,
    none is over 60."""
    lengths = {e.folder.name: len((e.folder / "repro.py").read_text().splitlines()) for e in ENTRIES if _small(e)}
    assert statistics.median(lengths.values()) <= 30, sorted(lengths.values())
    assert max(lengths.values()) <= 60, max(lengths.items(), key=lambda item: item[1])


def test_every_repro_was_checked_when_written() -> None:
    """What meta.json records of the last `roundtrip render` (or the campaign that wrote the entry): the
    script ran and showed the bug (a flaky one in one of its runs)."""
    for entry in ENTRIES:
        record = entry.meta.get("repro", {})
        assert record.get("shows"), (entry.folder.name, record)


def test_one_entry_per_bug() -> None:
    """No two entries share an identity; an ONNX -> Keras bug is one entry whatever Keras -> ONNX path (or
    drawn graph) met it: its identity names the package, never the route."""
    signatures = [e.signature for e in ENTRIES]
    assert len(set(signatures)) == len(signatures)
    for entry in ENTRIES:
        package = entry.signature.split("|")[0]
        assert ">" not in package, entry.folder.name
        # A release history may blame another package than the one a check names (meta.json says why).
        assert package == entry.finding.package or "blame_evidence" in entry.meta, entry.folder.name


@pytest.mark.slow
def test_every_entry_is_one_minimal() -> None:
    """Every single-step reduction of every entry (drop one output; bypass one layer or node) no longer
    shows the entry's bug."""
    harness = Harness.open(ROOT)
    not_minimal = []
    try:
        for entry in ENTRIES:
            if entry.finding.flaky or missing_environment(entry.meta.get("back", "")):
                continue
            for smaller in single_steps(entry.spec):
                found = harness.run(job_for(corpus.job_of(entry), smaller)).findings
                if entry.signature in {f.signature for f in found}:
                    not_minimal.append(f"{entry.folder.name}: still shows as\n{smaller.pretty()}")
                    break
    finally:
        harness.close()
    assert not not_minimal, "\n\n".join(not_minimal)


_CONVERTER_LINE = re.compile(r"^(keras_model = |.*onnx2tf\.convert\(|.*onnx_to_keras\()")
_CONVERTER_IMPORT = re.compile(r"^(import onnx2tf|from onnx2keras |import onnx2keras|from onnx2tf )")


def _graph_and_feeds(entry: corpus.Entry) -> tuple[onnx.ModelProto, dict[str, object]]:
    """The ONNX graph an ONNX -> Keras script hands its converter, and the inputs it feeds: the script run up
    to the conversion (without importing the converter); a script that draws none (a conversion failure)
    is fed what the reducer checked its graph on (`script_inputs`: the entry's inputs, or inputs drawn at the
    graph's own dims where its reduction changed them, a rank lowered or a first node gone)."""
    import numpy as np

    kept = []
    for line in (entry.folder / "repro.py").read_text().splitlines():
        if _CONVERTER_LINE.match(line):
            break
        if not _CONVERTER_IMPORT.match(line):
            kept.append(line)
    space: dict[str, object] = {}
    exec(compile("\n".join(kept), "repro.py", "exec"), space)  # noqa: S102 - the corpus' own script
    model = space["onnx_model"]
    assert isinstance(model, onnx.ModelProto)
    weights = {t.name for t in model.graph.initializer}
    names = [i for i in model.graph.input if i.name not in weights]
    drawn = [v for k, v in space.items() if isinstance(v, np.ndarray) and re.fullmatch(r"x(_\w+)?|inputs?", k)]
    if len(drawn) == len(names):
        return model, {i.name: a for i, a in zip(names, drawn, strict=True)}
    src = replace(source_of(entry.folder, entry.spec, entry.meta), onnx=model)
    return model, dict(script_inputs(src))


GRAPH_ENTRIES = [e for e in ENTRIES if e.meta.get("direction") != "keras-onnx" and not e.finding.flaky]


@pytest.mark.parametrize("entry", GRAPH_ENTRIES, ids=[e.folder.name for e in GRAPH_ENTRIES])
def test_every_onnx_to_keras_graph_is_valid_and_runs_in_onnx_runtime(entry: corpus.Entry, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph a script hands its ONNX -> Keras converter passes the full checker and runs in ONNX Runtime
    on the script's inputs: what the converter fails on is a graph a runtime runs."""
    import onnxruntime as ort

    monkeypatch.chdir(tmp_path)
    model, feeds = _graph_and_feeds(entry)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(None, feeds)


def test_the_writer_s_scratch_folders_are_never_committed() -> None:
    """The corpus writer and the reducer make `.tmp-*` and `.reducing-*` folders beside the entries (renamed
    into place, or back, when they finish): one a killed process left is ignored by git, not committed."""
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None or not (ROOT.parent / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run([git, "ls-files", "corpus"], cwd=ROOT.parent, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert not [p for p in tracked if any(part.startswith((".tmp-", ".reducing-")) for part in p.split("/"))]
    scratch = ["corpus/.tmp-k-x/meta.json", "corpus/.reducing-e/meta.json", "corpus/onnx2tf-feature-gaps/.tmp-k-y/a",
               "corpus/an-entry/.meta-x"]
    ignored = subprocess.run([git, "check-ignore", *scratch], cwd=ROOT.parent, capture_output=True, text=True)
    assert ignored.stdout.splitlines() == scratch
