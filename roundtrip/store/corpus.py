"""The corpus: one folder per distinct failure, plain files only.

    corpus/<path>-<stage>-<symptom>-<kind>-<hash>/
        spec.json     the model spec (roundtrip.ModelSpec JSON; a roundtrip.GraphSpec for direction onnx-keras-onnx)
        meta.json     signature, finding, opset, seeds, case, versions, date, shrink statistics
        model.onnx    the converted model, when there is one (the graph under test, for onnx-keras-onnx)
        weights.npz   every layer's weights, "<layer>/<index>" (Keras specs only)
        test_data_set_0/input_<k>.pb, output_<k>.pb   inputs and expected outputs (Keras', or ONNX Runtime's on
                      the graph), in the ONNX backend test layout
        err.log       the traceback, the worker's log or the comparison
        repro.py      the bug in plain upstream calls (roundtrip.store.script): exits 1 while it shows, 0 once fixed

That is an entry of the spec form.  An entry of the model form (`roundtrip check` on a user's model whose part
that shows the bug is not in the vocabulary) holds the saved model (model.keras, or model.onnx for a graph) where
spec.json, weights.npz and the converted model.onnx would be, and "form": "model" in its meta.json; its repro.py
and issue.md come from `roundtrip.store.model_entry`.  One writer (`write`) writes both.

Writes are atomic (a hidden temporary folder, then renames), so a killed run leaves no partial entry.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import fcntl
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from roundtrip import registry
from roundtrip.finding.findings import Blame, Finding
from roundtrip.spec.graph import GraphSpec
from roundtrip.spec.model import ModelSpec, SpecError
from roundtrip.spec.parts import size_of
from roundtrip.store.script.scrub import scrubbed

META_SCHEMA = 1
PACKAGES = (*registry.main_packages(), "numpy", "hypothesis")  # whose versions an entry records


class CorpusError(ValueError):
    """A corpus entry is unreadable; the message names the file and the field."""


def versions(back: str = "") -> dict[str, str]:
    """The versions of the packages an entry's script runs with: for a way back through a converter with an
    environment of its own, that environment's, asked of it (roundtrip.convert.remote.environment_versions);
    else this interpreter's."""
    from roundtrip.convert.remote import CONVERTER_ENVIRONMENTS, environment_versions

    if back in CONVERTER_ENVIRONMENTS:
        return dict(environment_versions(back))
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


GRAPH_DIRECTION = "onnx-keras-onnx"
FORM = "model"  # meta.json's "form" of an entry that holds a saved model instead of a spec


@dataclass(frozen=True)
class SavedModel:
    """The body of a model entry: a user's model (or the part of it that shows the bug) as saved at `file`,
    kept in the entry as `name` (model.keras, model.onnx); `parts` its layers (nodes) as (name, kind) in order;
    `meta` what meta.json says of it besides what every entry says (its source file, custom objects module...)."""

    file: Path
    name: str
    parts: tuple[tuple[str, str], ...]
    meta: dict[str, Any]

    def pretty(self) -> str:
        return "\n".join(f"{name} = {kind}(...)" for name, kind in self.parts)

    def size(self) -> list[int]:
        return [len(self.parts), 0, self.file.stat().st_size]


Body = ModelSpec | GraphSpec | SavedModel  # what an entry holds of the model that shows its bug


def body_size(body: Body) -> list[int]:
    """How big an entry's example is (`parts.size_of` of a spec; a saved model's parts and bytes)."""
    return body.size() if isinstance(body, SavedModel) else size_of(body)


def _tensor_names(body: Body, case: Any) -> tuple[list[str], list[str]]:
    if isinstance(body, SavedModel):
        return [f"input_{k}" for k in range(len(case.inputs))], [f"output_{k}" for k in range(len(case.expected))]
    if isinstance(body, GraphSpec):
        return ["input"], ["output"]
    return [i.name for i in body.inputs], list(body.outputs)


@dataclass(frozen=True)
class Entry:
    folder: Path
    meta: dict[str, Any]
    spec: ModelSpec | GraphSpec  # a GraphSpec for the ONNX -> Keras -> ONNX direction

    @property
    def signature(self) -> str:
        return str(self.meta["signature"])

    @property
    def finding(self) -> Finding:
        return Finding.from_dict(self.meta["finding"])


def load(folder: Path) -> Entry:
    meta_path, spec_path = folder / "meta.json", folder / "spec.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CorpusError(f"{meta_path}: unreadable ({e})") from None
    for key in ("signature", "finding", "path", "opset", "case"):
        if key not in meta:
            raise CorpusError(f"{meta_path}: field {key!r} is missing")
    try:
        Finding.from_dict(meta["finding"])
    except (KeyError, ValueError, TypeError) as e:
        raise CorpusError(f"{meta_path}: field 'finding' is invalid ({e!r})") from None
    parse = GraphSpec.from_json if meta.get("direction") == GRAPH_DIRECTION else ModelSpec.from_json
    spec: ModelSpec | GraphSpec
    try:
        spec = parse(spec_path.read_text())
    except OSError as e:
        raise CorpusError(f"{spec_path}: unreadable ({e})") from None
    except SpecError as e:
        raise CorpusError(f"{spec_path}: {e}") from None
    return Entry(folder, meta, spec)


def entries(root: Path, problems: list[str] | None = None) -> list[Entry]:
    """Every entry below `root`, sorted by folder name.  Hidden folders (writes in flight) are skipped.
    An unreadable entry raises CorpusError, or, given a `problems` list, is left out and said there."""
    if not root.is_dir():
        return []
    found = []
    for folder in entry_folders(root):
        if is_model_entry(folder):
            continue
        try:
            found.append(load(folder))
        except CorpusError as e:
            if problems is None:
                raise
            problems.append(str(e))
    return found


def entry_folders(root: Path) -> list[Path]:
    """The entry folders: each folder of `root`, and each of a feature-gap folder (not hidden: writes in
    flight), by name."""
    found = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        if folder.name.endswith(GAPS):
            found += [f for f in sorted(folder.iterdir()) if f.is_dir() and not f.name.startswith(".")]
        else:
            found.append(folder)
    return found


def is_model_entry(folder: Path) -> bool:
    """Whether the folder holds a model entry (`roundtrip.store.model_entry`: a user's model and a script, no spec),
    which the corpus' readers leave out."""
    if (folder / "spec.json").exists():
        return False
    try:
        return bool(json.loads((folder / "meta.json").read_text()).get("form") == "model")
    except (OSError, ValueError, AttributeError):
        return False


def job_of(entry: Entry) -> Any:
    """The check.Job (or graph_check.GraphJob) that replays an entry."""
    from roundtrip.oracle.outcome import GraphJob, Job

    meta = entry.meta
    if meta.get("direction") == GRAPH_DIRECTION:
        return GraphJob(entry.spec.to_json(), meta["back"], meta.get("converter", ""))
    weights = str(entry.folder / "weights.npz") if meta.get("weights") == "given" else ""
    return Job(entry.spec.to_json(), meta.get("converter", meta["path"]), int(meta["opset"]), meta.get("back", ""),
               weights)


Repro = Callable[[Path, Body, dict[str, Any]], dict[str, Any]]


GAPS = "-feature-gaps"  # a package's feature gaps: one folder, an entry per op below it (roundtrip.store.gaps)
CARRIED = ("triage", "history", "ops", "cases", "aliases")  # what an entry keeps when written again or merged


def home_of(root: Path, finding: Finding) -> Path:
    """The folder an entry of `finding` goes in: the corpus, or its package's feature-gap folder."""
    return root / f"{finding.package}{GAPS}" if finding.gap else root


def write(root: Path, finding: Finding, spec: Body, job: Any, outcome: Any, shrink: dict[str, Any],
          repro: Repro, carried: dict[str, Any] | None = None) -> Path:
    """Writes (or replaces) the entry of `finding`'s signature.  `spec` is what the entry holds of the model:
    a spec, or a user's saved model (the model form).  `job` is the check's job, `outcome` its Outcome.
    `repro(folder, spec, meta)` writes repro.py into the entry's folder (from the files already there) and
    returns what meta.json records of it (under "repro").  `carried` is what an entry
    written before said of the same bug (CARRIED: its triage, release history and the ops it was met on),
    kept, as is what the entry being replaced says.  A release history that shows the status changing with
    another package's release blames that package (`reblamed`); the signature stays what a check shows.
    A feature gap goes into its package's gap folder, whose issue.md and repro.py list every gap."""
    home = home_of(root, finding)
    home.mkdir(parents=True, exist_ok=True)
    shown, evidence = reblamed(finding, (carried or {}).get("history"))
    final = home / shown.slug
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{finding.key}-", dir=home))
    try:
        _fill(tmp, finding, spec, job, outcome, shrink, repro, shown, evidence)
    except BaseException:  # an entry is written whole or not at all
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with _locked(root):  # campaign processes share the corpus: the smallest example of a signature stays
        there = _meta_there(final)
        new = json.loads((tmp / "meta.json").read_text())
        kept = merge_carried(new, carried or {}, there or {})
        if _smaller_there(final, body_size(spec)):
            shutil.rmtree(tmp, ignore_errors=True)
            write_meta(final, merge_carried(there or {}, kept))
        else:
            write_meta(tmp, kept)
            put_in_place(tmp, final)
    if finding.gap:
        from roundtrip.store import gaps

        gaps.write_summary(home)
    return final


# What an entry lists of entries folded into it by hand (roundtrip.search.recorder.fold_case), by the field
# that tells two apart: the param cases of its op, the identities of its fault.
FOLDED = {"cases": "key", "aliases": "signature"}


def merge_carried(meta: dict[str, Any], *others: dict[str, Any]) -> dict[str, Any]:
    """`meta` with the CARRIED fields of `others` where it has none (ops: the union, sorted; the FOLDED lists,
    cases and aliases: the union by their key, the entry's own first)."""
    out = dict(meta)
    sources = (meta, *others)
    for other in others:
        for name in CARRIED[:2]:  # triage, history: the entry's own when it has one
            if name not in out and other.get(name):
                out[name] = other[name]
    ops = {op for source in sources for op in source.get("ops") or []}
    if ops:
        out["ops"] = sorted(ops)
    for field, key in FOLDED.items():
        items: dict[str, Any] = {}
        for source in sources:
            for item in source.get(field) or []:
                items.setdefault(item[key], item)
        if items:
            out[field] = [items[k] for k in sorted(items)]
    return out


def add_op(entry: Entry, op: str) -> Entry:
    """The entry with `op` added to the ops its bug was met on (meta.json rewritten)."""
    meta = merge_carried(entry.meta, {"ops": [op, *([entry.finding.op] if entry.finding.op else [])]})
    with _locked(entry.folder.parent):
        write_meta(entry.folder, meta)
    return Entry(entry.folder, meta, entry.spec)


def _meta_there(final: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((final / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


# Packages whose release changing an entry's status blames them, and the blame that names them.
RELEASE_BLAME = {"onnxruntime": "runtime", "tensorflow": "keras", "tensorflow-cpu": "keras", "keras": "keras"}


def reblamed(finding: Finding, history: Any) -> tuple[Finding, str]:
    """The finding as its release history blames it, and the evidence in a sentence ("" when unchanged).
    A status that changed with a release of ONNX Runtime (or of TensorFlow/Keras) while the blamed package
    stayed the same is that release's doing: the bug shows since it (or changed in it).  A fix in another
    package's release is not a blame: it may only work around the bug (said, blame kept)."""
    if not isinstance(history, dict):
        return finding, ""
    for package, found in sorted(history.items()):
        if not isinstance(found, dict) or package == finding.package:
            continue
        since = found.get("shows_since") or found.get("changed_in")
        if since and package in RELEASE_BLAME:
            evidence = (f"shows since {package} {since} ({found.get('before')} on {found.get('last_before')}), "
                        f"every other package unchanged: {package}'s")
            blame = Blame(RELEASE_BLAME[package])
            return replace(finding, blame=blame, where=""), evidence
        if found.get("fixed_in"):
            return finding, (f"fixed in {package} {found['fixed_in']} with {finding.package} unchanged: that "
                             f"release may only work around it, so the blame stays with {finding.package}")
    return finding, ""


def _fill(tmp: Path, finding: Finding, spec: Body, job: Any, outcome: Any, shrink: dict[str, Any],
          repro: Repro, shown: Finding | None = None, evidence: str = "") -> None:
    """The entry's files, written into the temporary folder `tmp`: `finding` as a check shows it (its
    signature), `shown` as its evidence blames it (default: the same)."""
    from onnx import numpy_helper

    shown = shown or finding
    case = case_of(finding, outcome.cases)
    meta = {
        "schema": META_SCHEMA,
        "signature": finding.signature,
        "finding": {k: v for k, v in shown.to_dict().items() if k not in ("details", "signature")}
        | {"message": scrubbed(shown.message)}
        | {"details": {k: v for k, v in shown.details.items() if k not in ("log", "traceback")}},
        "path": finding.path,
        "stage": str(finding.stage),
        "symptom": str(finding.symptom),
        "blame": str(shown.blame),
        "direction": job.direction,
        "converter": job.path,
        "back": job.back,
        "opset": job.opset,
        "case": {"batch": case.batch, "sizes": {k: list(v) for k, v in case.sizes.items()}} if case else None,
        "size": body_size(spec),
        "versions": versions(job.back),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "shrink": shrink,
    } | ({"weights": "given"} if getattr(job, "weights", "") else {}) \
        | ({"ops": [finding.op]} if finding.op else {}) | ({"gap": finding.gap} if finding.gap else {}) \
        | ({"blame_evidence": evidence} if evidence else {})
    _model_files(tmp, spec, outcome, meta)
    if case is not None:
        data = tmp / "test_data_set_0"
        data.mkdir()
        ins, outs = _tensor_names(spec, case)
        named = [("input", n, a) for n, a in zip(ins, case.inputs, strict=True)]
        named += [("output", n, a) for n, a in zip(outs, case.expected, strict=True)]
        counts: collections.Counter[str] = collections.Counter()
        for role, name, array in named:
            tensor = numpy_helper.from_array(array, name)
            (data / f"{role}_{counts[role]}.pb").write_bytes(tensor.SerializeToString())
            counts[role] += 1
    (tmp / "err.log").write_text(_err_log(shown, spec))  # blamed as meta.json's "blame" says
    meta["repro"] = repro(tmp, spec, meta)
    write_meta(tmp, meta)


def _model_files(tmp: Path, body: Body, outcome: Any, meta: dict[str, Any]) -> None:
    """What the entry holds of the model, and what meta.json says of it: the spec (its seed), the converted
    model.onnx and the weights; or the saved model (the model form)."""
    if isinstance(body, SavedModel):
        shutil.copyfile(body.file, tmp / body.name)
        meta |= {"form": FORM} | body.meta
        if outcome.onnx is not None and body.name != "model.onnx":
            (tmp / "model.onnx").write_bytes(outcome.onnx)
        return
    (tmp / "spec.json").write_text(body.to_json())
    meta["seeds"] = {"spec": body.seed}
    if outcome.onnx is not None:
        (tmp / "model.onnx").write_bytes(outcome.onnx)
    if not isinstance(body, GraphSpec):  # a graph's weights are in model.onnx
        np.savez(tmp / "weights.npz", **outcome.weights)


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """meta.json, atomically (a temporary file, then a rename)."""
    tmp = folder / ".meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    tmp.replace(folder / "meta.json")


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _smaller_there(final: Path, size: list[int]) -> bool:
    """Whether the entry at `final` already holds an example no bigger than `size`."""
    try:
        there = json.loads((final / "meta.json").read_text()).get("size")
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(there, list) and there <= size


def case_of(finding: Finding, cases: list[Any]) -> Any:
    label = finding.details.get("case")
    return next((c for c in cases if c.label == label), cases[0] if cases else None)


def _err_log(finding: Finding, spec: Body) -> str:
    """err.log: the finding, the model, the traceback and the worker's log; without colour codes, machine
    paths or the suite's own frames (`roundtrip.store.script.scrub`)."""
    parts = [finding.describe(), "", spec.pretty(), ""]
    if finding.details.get("traceback"):
        parts += ["Traceback:", finding.details["traceback"]]
    if finding.details.get("log"):
        parts += ["Worker log (last lines):", finding.details["log"]]
    return scrubbed("\n".join(parts) + "\n")


def put_in_place(tmp: Path, final: Path) -> None:
    """The folder `tmp` renamed to `final`, the one there before (if any) removed once it has moved aside."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
