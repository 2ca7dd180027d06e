"""What a check is asked and what it answers: the jobs a worker runs (a Keras model through a converter path
and back, or an ONNX graph through an ONNX -> Keras converter and back: a drawn spec, or a user's own file for
`roundtrip check`), the cases it ran, and the findings in oracle order.  Plain data, shared by the checks, the
harness, the corpus and the environment of their own that some converters run in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from roundtrip.finding.findings import Finding
from roundtrip.spec.graph import GraphSpec

Report = Callable[[str], None]
# What gave a user's graph's expected outputs (`roundtrip check` on an ONNX graph).
RUNTIME = "ONNX Runtime"
REFERENCE = "onnx's ReferenceEvaluator"



@dataclass(frozen=True)
class UserFile:
    """A user's own model file as the model of a job (`roundtrip check`): read, never changed.  With `cut`, the
    model is cut first at that layer (node): everything up to its output, or (`alone`) that layer alone on
    inputs of its own.  `locate` names a mismatch after the first layer that differs; with `save`, the model
    checked is saved in that folder."""

    model: str
    custom: str = ""  # a module (or .py file) whose import registers the model's custom layers
    inputs: str = ""  # an .npz of input arrays, by input name (or arr_0, arr_1... in order)
    cut: str = ""
    alone: bool = False
    locate: bool = True
    save: str = ""
    opset: int = 0  # an ONNX graph's, once described (what its entry records)


class Route:
    file: UserFile | None

    @property
    def user(self) -> UserFile:
        """The user's file the job checks (a job of `roundtrip check`)."""
        if self.file is None:
            raise ValueError("a job on a drawn spec, not on a user's file")
        return self.file


class KerasRoute(Route):
    """The names of a check of a Keras model: through `path` to ONNX, and back to Keras through `back`."""

    path: str
    back: str

    @property
    def name(self) -> str:
        """What findings are filed under: the path, or `path>back` for a round trip."""
        return f"{self.path}>{self.back}" if self.back else self.path

    @property
    def direction(self) -> str:
        return "keras-onnx-keras" if self.back else "keras-onnx"


class GraphRoute(Route):
    """The names of a check of an ONNX graph: to Keras through `back`, and to ONNX again through `path`."""

    back: str
    path: str

    @property
    def name(self) -> str:
        return f"onnx>{self.back}" + (f">{self.path}" if self.path else "")

    @property
    def leg(self) -> str:
        """What first-leg findings are filed under."""
        return f"onnx>{self.back}"

    @property
    def direction(self) -> str:
        return "onnx-keras-onnx"


@dataclass(frozen=True)
class Job(KerasRoute):
    spec: str  # ModelSpec JSON ("" for a user's file)
    path: str  # the Keras -> ONNX path
    opset: int
    back: str = ""  # an ONNX -> Keras converter: a round trip, Keras -> ONNX -> Keras
    # An .npz of weights by "<layer>/<index>" (a user's own model's, `roundtrip check`): each layer whose
    # weights it holds at the shapes the spec gives gets them; every other layer's come from the seed.
    weights: str = ""
    file: UserFile | None = None  # the model is this file of the user's, not a spec


@dataclass(frozen=True)
class GraphJob(GraphRoute):
    graph: str  # GraphSpec JSON ("" for a user's file)
    back: str  # the ONNX -> Keras converter under test
    path: str = ""  # the Keras -> ONNX path back to ONNX ("" stops at the Keras model)
    file: UserFile | None = None  # the graph is this file of the user's, not a spec

    @property
    def opset(self) -> int:
        return self.file.opset if self.file is not None else GraphSpec.from_json(self.graph).opset

    @property
    def spec(self) -> str:
        return self.graph


@dataclass
class Case:
    batch: int
    sizes: dict[str, tuple[int, ...]]
    inputs: list[np.ndarray]
    expected: list[np.ndarray]
    actual: list[np.ndarray] | None = None
    # Per output, what rounding alone may move it by, allowed on top of the oracle's tolerance: a user's own
    # model's (`roundtrip.oracle.margins.rounding_slack`), None for a drawn one.
    slack: list[float] | None = None

    def allowance(self, k: int) -> float:
        """Output k's allowance for rounding (0 for a drawn model)."""
        return self.slack[k] if self.slack and k < len(self.slack) else 0.0

    @property
    def label(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        return f"batch {self.batch}" + (f", sizes {sizes}" if sizes else "")


@dataclass
class Outcome:
    findings: list[Finding]
    cases: list[Case] = field(default_factory=list)
    onnx: bytes | None = None
    weights: dict[str, np.ndarray] = field(default_factory=dict)



def first_of_each(findings: list[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for f in findings:
        seen.setdefault(f.signature, f)
    return list(seen.values())
