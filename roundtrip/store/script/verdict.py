"""Running a repro.py in a child process and reading how it ended: the contract the scripts no longer carry.

    1  the bug shows: the script raised the finding's exception (an AssertionError for a comparison) from
       the function its identity names, or,
       for a crash entry, died by a signal, or, for a timeout entry, ran past the timeout; or ONNX Runtime
       printed a warning about a declared shape where that is the finding
    0  it is fixed: the script ended quietly
    2  something else: another exception, a crash or timeout where none is the finding, another exit status
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roundtrip.finding.findings import Finding, Stage, Symptom
from roundtrip.run.preload import Preloaded, plain_run
from roundtrip.run.runners import SHAPE_WARNINGS
from roundtrip.store.script.scrub import scrubbed

SHOWS, FIXED, OTHER = 1, 0, 2
TIMEOUT_SECONDS = 300.0
OUTPUT_LINES = 120  # kept of a script's output: enough for the traceback of a traced TensorFlow function


@dataclass(frozen=True)
class Verdict:
    status: int  # SHOWS, FIXED or OTHER
    why: str  # one line
    output: str = ""  # the script's stdout and stderr, the last lines (see `tail_of`)

    @property
    def shows(self) -> bool:
        return self.status == SHOWS


def expected_exception(finding: Finding) -> str:
    """The exception type name a script raises while `finding` shows."""
    if finding.symptom != Symptom.EXCEPTION:
        return "AssertionError"
    kind = finding.raised
    if kind.startswith(("unsupported-op:", "missing-attribute:")):
        return "KeyError"
    return kind.split(":", 1)[1] if kind.startswith("dtype:") else kind


def last_traceback(stderr: str) -> list[str]:
    """The lines of the last Python traceback in `stderr`, from its header on ([] when there is none)."""
    lines = stderr.splitlines()
    starts = [k for k, line in enumerate(lines) if line.startswith("Traceback (most recent call last):")]
    return lines[starts[-1]:] if starts else []


def raised(stderr: str) -> str | None:
    """The type name (without its module) of the exception a Python traceback in `stderr` ends with."""
    for line in last_traceback(stderr)[1:]:
        if line and not line.startswith(" "):
            head = line.split(":", 1)[0].strip()
            return head.rsplit(".", 1)[-1] if head.replace(".", "").replace("_", "").isalnum() else None
    return None


def script_says(meta: dict[str, Any]) -> str:
    """The message of the exception an entry's repro.py ended with when it was run alone and showed its bug
    (meta.json "repro": the output's last traceback; the script names its own nodes, not the fuzzer's), ""
    when it was not run, did not show, or ended with no traceback."""
    said = meta.get("repro") or {}
    if not said.get("shows"):
        return ""
    ends = [line for line in last_traceback(str(said.get("output", "")))[1:] if line and not line.startswith(" ")]
    return ends[0].split(": ", 1)[1] if ends and ": " in ends[0] else ""


def raised_where(finding: Finding, stderr: str) -> bool:
    """Whether the traceback passes through the function the finding's identity names (`module:function`,
    as `roundtrip.finding.identity` records it; for `keras:Layer.call`, Keras' own words for a layer that raised);
    True when the identity names no function."""
    where = finding.where.split("[", 1)[0]
    called = re.fullmatch(r"keras:(\w+)\.call", where)  # a Keras layer that raised while traced (check.py)
    if called:
        return f"Exception encountered when calling {called.group(1)}.call()" in stderr
    module, _, function = where.partition(":")
    if not function or not module.replace(".", "").replace("_", "").isalnum():
        return True
    path = module.replace(".", "/")
    # `  *` / `  **` end the frames of the "in user code" block TensorFlow writes for a function it traced
    frame = re.compile(rf'File "[^"]*/{re.escape(path)}(\.py|/__init__\.py)", line \d+, in {re.escape(function)}'
                       r'( +\*{1,2})?$')
    return any(frame.search(line.strip()) for line in stderr.splitlines())


def compared_by(script: str, stderr: str) -> bool:
    """Whether the last traceback in `stderr` is the script's own comparison: its innermost frames are the
    script's, or numpy's testing helpers called from it (not an AssertionError a converter raised inside)."""
    files = [m.group(1) for line in last_traceback(stderr) for m in [re.match(r'\s+File "([^"]+)"', line)] if m]
    ours = [k for k, f in enumerate(files) if f.endswith(script)]
    def helper(path: str) -> bool:  # numpy's testing code, or the standard library it goes through
        return "/numpy/" in path or ("site-packages" not in path and "/python3." in path)

    return bool(ours) and all(map(helper, files[ours[-1] + 1:]))


def read(finding: Finding, returncode: int | None, stderr: str, script: str = "") -> Verdict:
    """The verdict on a finished run (`returncode` None: killed at the timeout).  For a comparison, the
    AssertionError must be the script's own (its last statement), not one a converter raised inside."""
    if returncode is None:
        return (Verdict(SHOWS, "ran past the timeout") if finding.symptom == Symptom.TIMEOUT
                else Verdict(OTHER, "ran past the timeout, and the finding is no hang"))
    if returncode < 0:
        known = {int(v) for v in signal.Signals}
        name = signal.Signals(-returncode).name if -returncode in known else str(-returncode)
        return (Verdict(SHOWS, f"died by {name}") if finding.symptom == Symptom.CRASH
                else Verdict(OTHER, f"died by {name}, and the finding is no crash"))
    warned = [line for line in stderr.splitlines() if SHAPE_WARNINGS.search(line)]
    if (finding.symptom == Symptom.DECLARED_SHAPE and finding.stage in (Stage.LOAD, Stage.RUN) and warned):
        return Verdict(SHOWS, "ONNX Runtime warned: " + warned[0].strip()[-200:])
    if returncode == 0:
        return Verdict(FIXED, "ended without an error: fixed")
    want, got = expected_exception(finding), raised(stderr)
    if returncode == 1 and got == want and not raised_where(finding, stderr):
        return Verdict(OTHER, f"raised {got}, but not in {finding.where}")
    if (returncode == 1 and got == want and finding.symptom != Symptom.EXCEPTION and script
            and not compared_by(script, stderr)):
        return Verdict(OTHER, f"raised {got} inside the converter, not in the script's comparison")
    if returncode == 1 and got == want:
        return Verdict(SHOWS, f"raised {got}")
    if returncode == 1 and got is not None:
        return Verdict(OTHER, f"raised {got}, the finding is {want}")
    return Verdict(OTHER, f"exit status {returncode}, no {want}")


def run(script: Path, python: str, finding: Finding, *, cwd: Path | None = None,
        timeout: float = TIMEOUT_SECONDS, isolated: bool = True, via: Preloaded | None = None) -> Verdict:
    """Runs `script` with `python` (-I: isolated, nothing of this project importable unless `isolated` is
    False) in a process group of its own, killed whole at the timeout; `via`: in a fork of that preloaded
    server (its interpreter's, isolated), for the cost of the script's own work."""
    where = cwd or script.parent
    if via is not None:
        code, out, err = via.run(script, where, timeout)
    else:
        code, out, err = plain_run(script, python, where, timeout, isolated=isolated)
    verdict = read(finding, code, err, script.name)
    return Verdict(verdict.status, scrubbed(verdict.why), tail_of(out, err))


def tail_of(out: str, err: str) -> str:
    """The last OUTPUT_LINES lines a script printed (stdout, then stderr), fit for an entry's files."""
    return "\n".join(scrubbed(out + err).rstrip().splitlines()[-OUTPUT_LINES:])
