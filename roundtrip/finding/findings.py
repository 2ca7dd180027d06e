"""Findings are values: what went wrong, where (stage), how (symptom), and whom it blames.

A finding's signature is its bug identity, what makes two findings the same bug (`roundtrip.finding.identity`): the
package at fault (not the route: tf2onnx met through from_function, from_keras or Keras' export is one
package), the stage, the symptom, the exception type and the place in the package's code where it was
raised (the deepest frame and the node kind; the normalised message only where no frame of the package is
on the stack), or for a comparison the kind of mismatch and the kind of the first layer or node whose
output differs.  A finding that shows in some fresh runs and not others is flaky: an identity of its own.
One corpus entry per signature.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from roundtrip.finding.identity import converter_under_test, node_kind, package_of, place, raised_at

CASE = "|case:"  # what a variant's signature adds before its param case (recorder.case_key)
# The kind of a converter's failure on a graph whose input has a symbolic dim, where the same graph with that dim
# fixed converts and runs right (roundtrip.oracle.symbolic): `symbolic-dim:<exception type>` for a converter
# whose every such failure is one bug (its row's `static_input_dims`), `symbolic-dim[<op>]:<exception type>`
# for one whose op met it is at fault.
SYMBOLIC_DIM = "symbolic-dim"


def base_of(signature: str) -> str:
    """A signature as a check shows it: without an entry's variant case and flaky mark."""
    return signature.removesuffix("|flaky").split(CASE)[0]


class Stage(enum.StrEnum):
    BUILD = "build"  # the Keras model itself (a bug of the suite, never of a converter)
    CONVERT = "convert"
    CHECK = "check"  # onnx.checker and strict shape inference
    LOAD = "load"  # creating the runtime session or the Keras model back
    RUN = "run"
    COMPARE = "compare"


class Symptom(enum.StrEnum):
    EXCEPTION = "exception"
    CRASH = "crash"  # the process died: a signal, an abort, or memory past the limit
    TIMEOUT = "timeout"
    SHAPE = "shape"  # the actual output shape differs from Keras'
    DECLARED_SHAPE = "declared-shape"  # the graph declares dims its outputs do not have
    COUNT = "count"  # a different number of outputs
    DTYPE = "dtype"
    VALUE = "value"


class Blame(enum.StrEnum):
    CONVERTER = "converter"  # the ONNX graph computes something else (the reference evaluator agrees with ORT)
    KERAS = "keras"  # Keras itself raised while the converter traced the model
    RUNTIME = "runtime"  # ONNX Runtime disagrees with the reference evaluator, which agrees with Keras
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one conversion.  `kind` is the exception type, or the kind of mismatch."""

    path: str
    stage: Stage
    symptom: Symptom
    kind: str
    message: str
    blame: Blame = Blame.CONVERTER
    output: int | None = None  # the output index a comparison is about
    details: dict[str, Any] = field(default_factory=dict, compare=False)
    where: str = field(default="", kw_only=True)  # an exception's place in its package: `module:function[Node]`
    flaky: bool = field(default=False, kw_only=True)  # shows in some fresh runs only (details["rate"]: "k/N")
    # Where an exception was raised, in whichever package (identity.raised_at): with the normalised message,
    # its root cause.  "" for a finding written before it was recorded (its signature is in its meta.json).
    origin: str = field(default="", kw_only=True)
    # Another case of a known mismatch: the param case of its culprit once reduced (recorder.case_key), when
    # it differs from the known entry's; "" for the first (or only) case.  A check never sets it.
    variant: str = field(default="", kw_only=True)

    @property
    def converter(self) -> str:
        """The converter configuration under test where it went wrong (see identity.converter_under_test)."""
        return converter_under_test(self.path)

    @property
    def package(self) -> str:
        """Who is at fault: the package of `where`, else Keras or ONNX Runtime when blamed, else the
        package of the converter under test."""
        if self.where:
            return self.where.split(".")[0].split(":")[0]
        if self.blame is Blame.KERAS:
            return "keras"
        if self.blame is Blame.RUNTIME:
            return "onnxruntime"
        return package_of(self.converter)

    @property
    def signature(self) -> str:
        """The bug's identity.  An exception's is its root cause: the package at fault, the stage, the
        exception type, where it was raised (in any package) and its normalised message; not the node or
        layer kind it was met on (one fault in a converter's shared code raises the same on every op kind,
        `op` says which), so two faults on one op kind are two bugs when they raise apart or say otherwise.
        A crash's is its place (or message); a mismatch's the kind of mismatch and the first layer or node
        whose own output differs.  A failure the symbolic input dims cause (`symbolic_dim`) is one bug whatever
        exception and stage it showed on (the converter reads the input's dims when it loads the graph), and
        whatever op too where its kind names none (a converter that reads every symbolic dim wrong)."""
        if self.symbolic_dim:
            cause = self.kind.split(":", 1)[0]  # symbolic-dim, or symbolic-dim[<op>]
            return "|".join([self.package, Stage.LOAD, self.symptom, cause]) + "|flaky" * self.flaky
        if self.symptom in (Symptom.SHAPE, Symptom.VALUE):
            # Wrong shapes and wrong values of one culprit are one bug: which shows depends on the sizes
            # (a transposed square output has the right shape), not on the fault.
            culprit = self.kind.split("@", 1)[1] if "@" in self.kind else self.kind
            parts = [self.package, self.stage, "mismatch", culprit]
        else:
            place = ""
            if self.symptom is Symptom.EXCEPTION:
                place = f"{self.origin or self.where}: {normalise(self.message)}"
            elif self.symptom is Symptom.CRASH:
                place = self.where or normalise(self.message)
            parts = [self.package, self.stage, self.symptom, self.kind, place]
        return "|".join(parts) + f"{CASE}{self.variant}" * bool(self.variant) + "|flaky" * self.flaky

    @property
    def symbolic_dim(self) -> bool:
        """A failure of a graph whose input has a symbolic dim, which the same graph with it fixed does not have."""
        return self.kind.startswith(SYMBOLIC_DIM) and ":" in self.kind

    @property
    def raised(self) -> str:
        """An exception's type name (a symbolic dim's failure's kind says it after its cause)."""
        return self.kind.split(":", 1)[1] if self.symbolic_dim else self.kind

    @property
    def op(self) -> str:
        """The kind of the node or layer it was met on: an exception's from its place, a mismatch's culprit;
        "" when unknown."""
        bracket = re.search(r"\[(\w+)\]$", self.where)
        if bracket:
            return bracket.group(1)
        named = _ONNX_OP.search(self.message)  # onnx's inference names it
        return str(self.details.get("culprit") or self.details.get("node") or (named.group(1) if named else ""))

    @property
    def key(self) -> str:
        """A short stable hash of the signature, for folder names."""
        return hashlib.sha256(self.signature.encode()).hexdigest()[:10]

    @property
    def slug(self) -> str:
        """The folder name: the signature's first four parts (package, stage, symptom or `mismatch`, kind or
        culprit) in words, then its key: one signature, one folder."""
        package, stage, symptom, kind = self.signature.split("|")[:4]
        words = [re.sub(r"[^A-Za-z0-9]+", "-", part).strip("-").lower()
                 for part in (package, stage, symptom + "-flaky" * self.flaky, kind[:40])]
        return "-".join([*words, self.key])

    @property
    def gap(self) -> str:
        """The feature a converter (or runtime) does not have, when this is a missing feature rather than a
        bug: an operator it has no converter for (`unsupported-op:Abs`), or a case it refuses in its own code
        with its own words (onnx2keras' "Cannot convert non-zero padding", ONNX Runtime's "Could not find an
        implementation for Conv(11)").  The op kind, with what the message says of the case; "" for a bug."""
        if self.symptom is not Symptom.EXCEPTION or self.symbolic_dim:
            return ""
        if self.kind.startswith("unsupported-op:"):
            return self.kind.split(":", 1)[1]
        unconverted = _UNCONVERTED.search(self.message) if self.stage is Stage.CHECK else None
        if unconverted:
            return unconverted.group(1)
        own = self.origin.split(":")[0].split(".")[0] == self.package
        text = headline(self.message)
        refused = self.kind in ("NotImplementedError", "NotImplemented") or _REFUSAL.search(text)
        if not own or not refused:
            return ""
        kernel = _NO_KERNEL.search(text)
        if kernel:
            return f"{kernel.group(1)}({kernel.group(2)})"
        return self.op or "?"

    def describe(self) -> str:
        at = f" output {self.output}" if self.output is not None else ""
        place = f" at {self.where}" if self.where else ""
        flaky = f" (flaky: {self.details.get('rate', '?')} fresh runs)" if self.flaky else ""
        return (f"[{self.path}] {self.stage}/{self.symptom}{at}: {self.kind}{place}: {self.message} "
                f"(blame: {self.blame}){flaky}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["signature"] = self.signature
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Finding:
        return Finding(data["path"], Stage(data["stage"]), Symptom(data["symptom"]), data["kind"], data["message"],
                       Blame(data.get("blame", "converter")), data.get("output"), data.get("details", {}),
                       where=data.get("where", ""), flaky=bool(data.get("flaky", False)),
                       origin=data.get("origin", ""), variant=data.get("variant", ""))


@dataclass(frozen=True)
class Error:
    """An exception, caught here or in another process or environment: its type name, message, traceback."""

    type: str
    message: str
    traceback: str = ""
    node: str = ""  # the kind of the node or layer being handled where it was raised (identity.node_kind)

    @staticmethod
    def of(error: BaseException, packages: tuple[str, ...] = ()) -> Error:
        """`error` as plain data; `packages` are those whose frames may name the node being handled."""
        import traceback

        return Error(type(error).__name__, str(error) or repr(error), "".join(traceback.format_exception(error)),
                     node_kind(error, packages) if packages else "")

    def finding(self, path: str, stage: Stage, label: str = "", kind: str = "") -> Finding:
        """The finding it makes at `stage` (blamed on the converter: no Keras tracing is involved), placed
        in the code of the converter under test.  An Error of type "crash" or "timeout" is a process that
        died or hung (symptom crash or timeout)."""
        details = {"traceback": self.traceback} | ({"case": label} if label else {})
        died = {"crash": Symptom.CRASH, "timeout": Symptom.TIMEOUT}.get(self.type)
        if died is not None:
            return Finding(path, stage, died, self.type, self.message, details={"log": self.traceback})
        package = package_of(converter_under_test(path))
        where = place(self.traceback, (package,), self.node)
        details |= {"node": self.node} if self.node else {}
        return Finding(path, stage, Symptom.EXCEPTION, kind or self.type, self.message, where=where, details=details,
                       origin=raised_at(self.traceback, package))


# A package's own refusal of a case it does not implement (raised in its own code, in its own words): each
# pattern with a message it is there for.  onnx2keras 0.0.25 raises each of its refusals so (every `raise` of
# its source with words of its own: tests/test_findings.py reads the installed package and checks them all).
REFUSALS: tuple[tuple[str, str], ...] = (
    (r"not (yet )?(supported|implemented)", "Layer is not supported for now"),  # onnx2keras ConvTranspose 3-D+
    (r"\bunsupported\b", "Unsupported number of inputs"),  # onnx2keras Upsample
    (r"\bcan(not|'t) (convert|modify this type|gather)\b",
     "Cannot convert ConvTranspose2d with groups != 1"),  # onnx2keras: Pad, Resize, Transpose, Gather ...
    # onnx2keras' Reshape to a computed shape (numpy's "cannot reshape array of size 6" is no refusal).
    (r"\bcan(not|'t) reshape dynamic size\b", "Can't reshape dynamic size."),
    (r"\bcannot unsqueeze\b", "Number of axes is not equal 1. Cannot unsqueeze"),  # onnx2keras Unsqueeze
    (r"\bnumber of (inputs|axes) is not equal \d+", "Number of inputs is not equal 2 for element-wise layer"),
    (r"\b(more|less) than \d+ or (more|less) than \d+ inputs\b", "More than 3 or less than 2 inputs"),  # Gemm
    (r"\bunknown (arguments|padding)\b", "Unknown arguments for batch norm"),  # onnx2keras: input count, Pad mode
    (r"\bdoesn't have an input\. aborting\b", "Operation doesn't have an input. Aborting."),  # no-input ops
    (r"\bnot a numpy type\b", "Not a numpy type."),  # onnx2keras: a parameter given as a computed tensor
    (r"\bargument of \w+ is not set\b", "The `axes` argument of Squeeze is not set."),  # an omitted axes
    (r"could not find an implementation", "Could not find an implementation for Conv(11) node with name ''"),
    (r"must be statically known",  # Keras' adaptive pooling refuses dynamic sizes
     "Input spatial dimensions must be statically known for adaptive pooling"),
)
_REFUSAL = re.compile("|".join(f"(?:{pattern})" for pattern, _ in REFUSALS), re.I)
# onnx.checker on a graph that holds an op the converter left unconverted (tf2onnx's StatelessRandomUniformV2).
_UNCONVERTED = re.compile(r"No Op registered for (\w+) with domain_version")
_NO_KERNEL = re.compile(r"Could not find an implementation for (\w+)\((\d+)\)")

# onnx's shape inference names the op a wrong input reached: `(op_type:Mul, node name: ...)`.
_ONNX_OP = re.compile(r"\(op_type:(\w+), node name")

_NORMALISE = [
    (re.compile(r"while running \w+ node"), "while running <op> node"),  # ORT names the op its kernel ran
    (re.compile(r"calling \w+\.call\(\)"), "calling <layer>.call()"),  # Keras names the layer: `op` says it
    (re.compile(r"calling layer ['\"][^'\"]*['\"]"), "calling layer <layer>"),  # tf_keras names it so
    (re.compile(r"\bLayer [\w:/.-]+ weight shape"), "Layer <layer> weight shape"),  # Keras' set_weights
    (re.compile(r"have types \[[^\]]*\]"), "have types [<types>]"),  # TensorFlow's Concat: whichever mix
    (re.compile(r"\{\{node [^}]*\}\}"), "{{node <name>}}"),  # TensorFlow's node names: layer names
    (re.compile(r"Name:\s*'[^']*'"), "Name:'<node>'"),  # ORT's node names carry Keras' per-session counters
    (re.compile(r"input feed \(\[[^\]]*\]\)"), "input feed (<inputs>)"),  # ORT names the model's own inputs
    (re.compile(r"node name: [^)]*"), "node name: <name>"),  # onnx's: tf2onnx numbers its nodes per process
    # onnx's inference names the op a wrong input type reached: one wrong dtype, whichever op meets it first.
    (_ONNX_OP, "(op_type:<op>, node name"),
    (re.compile(r"[\w.-]*/[\w./-]+\.(py|h|cc|cpp)(:\d+)?"), "<file>"),  # source paths
    (re.compile(r"\b[\w.-]+(/[\w.:-]+)+"), "<name>"),  # scoped graph names: roundtrip_1/x2_1/Reshape
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"\b(unk_+|const_\w+?_+|Identity)_*\d+"), r"\1_N"),
    (re.compile(r"\b(functional|sequential)(_\d+)?\b"), r"\1_N"),  # Keras numbers all but a process' first
    (re.compile(r"(?<=[A-Za-z])_\d+\b"), "_N"),  # generated layer names: tf.tile_12
    (re.compile(r"\bkeras_tensor(_\d+)?\b"), "keras_tensor_N"),  # Keras numbers all but the first
    (re.compile(r"\b(x|in|v)\d+\b"), r"\1N"),  # the suite's own tensor names (v: a graph spec's)
    (re.compile(r"(?<![A-Za-z_])-?\d+(\.\d+)?(e-?\d+)?"), "N"),
    (re.compile(r"\s+"), " "),
    # Shapes of any rank are one shape: (N, N) and (None, N, N, N) name the same bug at another size.
    (re.compile(r"\((?:N|None)(?:, ?(?:N|None|np\.int\w*\(N\)))*,?\)|\[(?:N|None)(?:[, ]+(?:N|None))*\]"), "<shape>"),
]


def plain_text(message: str) -> str:
    """The message without terminal colour codes (Keras bolds its messages)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", message)


def headline(message: str) -> str:
    """The line of a message that says what went wrong: the first that names an error, else the first.
    (TensorFlow's errors start with "in user code:" and a stack before the line that matters; Keras'
    "Exception encountered when calling X.call()." says what on the line after, which is kept too.)"""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", message)  # terminal colours (Keras bolds its messages)
    lines = [line.strip() for line in plain.strip().splitlines() if line.strip()]
    named = [k for k, line in enumerate(lines)
             if re.search(r"(Error|Exception)\b", line) and not line.startswith("File ")]
    k = named[0] if named else 0
    if k + 1 < len(lines) and lines[k].startswith("Exception encountered when calling"):
        return f"{lines[k]} {lines[k + 1]}"  # Keras' wrapper: what went wrong is on the next line
    return lines[k] if lines else ""


def normalise(message: str) -> str:
    """The headline with numbers, addresses, paths and generated names replaced, its first 300 characters:
    two runs of the same bug give the same text."""
    text = headline(message)
    for pattern, repl in _NORMALISE:
        text = pattern.sub(repl, text)
    return text[:300]
