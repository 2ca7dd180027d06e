"""An entry's repro.py written and checked: rendered from the entry's files, run once in a fresh process,
and kept in the tidiest form that still shows the bug."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roundtrip.back import ONNX_TO_KERAS, python_for
from roundtrip.converters import KERAS_TO_ONNX
from roundtrip.graphs import GraphSpec
from roundtrip.remote import EnvironmentMissing
from roundtrip.script import verdict
from roundtrip.script.render import KERAS_TO_ONNX_DIRECTION, Source, render, source_of
from roundtrip.spec import ModelSpec


@dataclass(frozen=True)
class Written:
    checked: bool  # the script ran here
    verdict: verdict.Verdict | None
    tidy: bool

    def record(self) -> dict[str, Any]:
        """What meta.json says of the script."""
        if not self.checked or self.verdict is None:
            return {"checked": False}
        return {"checked": True, "shows": self.verdict.shows, "why": self.verdict.why, "tidy": self.tidy}


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
    only) and, when the tidy form (short tensor names) does not show the bug, falls back to the graph as
    the converter had it."""
    src = source_of(folder, spec, meta)
    script = folder / "repro.py"
    python = python_of(src)
    runnable = check and python is not None and upstream(src) and not src.finding.flaky
    last: verdict.Verdict | None = None
    for tidy in (True, False) if src.direction != KERAS_TO_ONNX_DIRECTION else (True,):
        script.write_text(render(src, tidy=tidy))
        if not runnable:
            return Written(False, None, tidy)
        assert python is not None
        last = verdict.run(script, python, src.finding, cwd=folder)
        if last.shows:
            return Written(True, last, tidy)
    script.write_text(render(src, tidy=True))
    return Written(True, last, True)
