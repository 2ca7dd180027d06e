"""A cause rule: an ONNX -> Keras converter that fails on a graph because an input dim is symbolic.

An ONNX graph may leave a dim of its inputs symbolic (a `dim_param`, such as the batch "N" of every drawn
graph, or the dims a Keras model with dynamic inputs is exported with).  A converter that reads such a dim as
a number (one that builds its Keras Input from `dim_value`, which is 0 for a `dim_param`) makes a model that
fails to convert or to run, on whichever op the 0 reaches first.  The rule tells that cause apart: when the
same graph with every symbolic input dim fixed to the case's (the rest unchanged) converts and runs right,
the failure is the symbolic dim's.  For a converter that reads every symbolic dim wrong (its row's
`static_input_dims`) that is one bug whichever op and stage it showed on; for one that keeps the dim
symbolic, the code of the op it showed on is at fault, one bug per op.  It costs one conversion
per failing case, and is tried only on a failure of a graph with a symbolic input dim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from roundtrip import registry
from roundtrip.convert.back import run_back
from roundtrip.finding.findings import SYMBOLIC_DIM, Error, Finding, Stage, Symptom
from roundtrip.finding.identity import operator_of
from roundtrip.oracle.compare import compare
from roundtrip.oracle.layouts import taken
from roundtrip.oracle.outcome import Case
from roundtrip.run.runners import fed_inputs


def has_symbolic_dims(proto: Any) -> bool:
    return any(d.HasField("dim_param") or not d.HasField("dim_value")
               for v in fed_inputs(proto) for d in v.type.tensor_type.shape.dim)


def fixed_dims(proto: Any, inputs: Sequence[Any]) -> Any:
    """A copy of `proto` whose inputs' symbolic dims are the dims of `inputs` (arrays in the graph's order),
    every other dim, node and output as they were."""
    fixed = type(proto)()
    fixed.CopyFrom(proto)
    for value, array in zip(fed_inputs(fixed), inputs, strict=True):
        for dim, size in zip(value.type.tensor_type.shape.dim, array.shape, strict=True):
            if dim.HasField("dim_param") or not dim.HasField("dim_value"):
                dim.dim_value = int(size)  # clears dim_param: the two are one oneof
    return fixed


def dims_text(proto: Any) -> str:
    """The inputs' dims as the graph declares them: `input (N, 2, 3)`."""
    def dim(d: Any) -> str:
        return str(d.dim_value) if d.HasField("dim_value") else d.dim_param or "?"

    return ", ".join(f"{v.name} ({', '.join(dim(d) for d in v.type.tensor_type.shape.dim)})"
                     for v in fed_inputs(proto))


@dataclass(frozen=True)
class Fixed:
    """What the graph with its symbolic input dims fixed showed: it converted and ran right, with these dims
    (`dims_text`); `one_cause` when the converter's row says each failure such dims cause is one bug
    (`registry.Converter.static_input_dims`), else the op it showed on is at fault."""

    dims: str
    one_cause: bool


def fixed_runs_right(back: str, proto: Any, cases: Sequence[Case]) -> Fixed | None:
    """Whether the graph, each of its symbolic input dims fixed to each case's, converts by `back` and runs
    to the expected outputs on every case (in either layout, as the check takes them; a dtype difference,
    a finding of its own, does not count): what it showed, or None when not (and, converting nothing, when
    there is no case or the graph has no symbolic input dim)."""
    if not cases or not has_symbolic_dims(proto):
        return None
    said = ""
    for case in cases:
        fixed = fixed_dims(proto, case.inputs)
        try:
            run = taken(back, run_back(back, fixed, [case.inputs]), [case.expected])
        except Exception:  # noqa: BLE001 - a graph the suite cannot run this way says nothing
            return None
        got = run.outputs[0] if run.load_error is None and run.outputs else None
        if got is None or isinstance(got, Error):
            return None
        found = compare(back, case.label, case.expected, got, [None] * len(got), slack=case.slack)
        if any(f.symptom is not Symptom.DTYPE for f in found):
            return None
        said = said or dims_text(fixed)
    row = registry.converter(back)
    return Fixed(said, row is not None and row.static_input_dims)


def symbolic_finding(error: Error, path: str, stage: Stage, proto: Any, fixed: Fixed, label: str = "") -> Finding:
    """The failure `error` (at `stage`, on the case `label`) as the symbolic input dim's: its kind
    `symbolic-dim:<exception type>` (`symbolic-dim[<op>]:...` where the op it was met on is at fault, as
    `Fixed.one_cause` says), its place left out (for one cause, it is where the dim reached, not the fault),
    the op it was met on kept (`Finding.op`), and what the fixed graph showed as the evidence."""
    finding = error.finding(path, stage, label)
    declared = dims_text(proto)
    evidence = (f"the graph with its input dims as declared ({declared}) fails to "
                f"{'convert' if stage is Stage.LOAD else 'run'}; the same graph with them fixed ({fixed.dims}) "
                "converts and runs right")
    op = finding.op or operator_of(finding.where)
    cause = SYMBOLIC_DIM if fixed.one_cause else f"{SYMBOLIC_DIM}[{op or '?'}]"
    details = {**finding.details, "symbolic_dims": declared, "fixed_dims": fixed.dims, "evidence": evidence}
    return replace(finding, kind=f"{cause}:{error.type}", where="",
                   details=details | ({"node": op} if op else {}))
