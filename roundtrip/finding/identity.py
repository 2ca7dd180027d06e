"""Where a bug lives: the package at fault and the place in its code, never the route that reached it.

A converter path names a configuration of the suite (`tf2onnx-function`, `keras-export`, `onnx2keras-nhwc`);
the package is what a maintainer owns (`tf2onnx`, `onnx2keras`).  An exception is placed at the deepest
frame of its traceback inside that package (module and function, no line number) and the kind of the node or
layer being converted when it raised: that stays put while Hypothesis shrinks the model around it, and it is
the same whichever path or round trip met it.
"""

from __future__ import annotations

import re
from types import TracebackType

from roundtrip import registry

_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)', re.MULTILINE)


def converter_under_test(path: str) -> str:
    """The converter a finding filed under `path` is about: `P` for Keras -> ONNX, `B` for the way back of a
    round trip `P>B` (its first leg's failures are the one-way property's), `B` for `onnx>B`, and `P` for the
    ONNX made again in `onnx>B>P`."""
    parts = path.split(">")
    if parts[0] == "onnx":
        return parts[-1] if len(parts) > 2 else parts[1]
    return parts[-1]


def package_of(converter: str) -> str:
    """The package a converter configuration belongs to (its registry row's); for a `module:function` converter
    of the caller's own (the suite's planted faults), its top-level module."""
    row = registry.converter(converter)
    if row is not None:
        return row.package
    return converter.partition(":")[0].split(".")[0]


def module_of(filename: str) -> str:
    """The dotted module of a source file: below site-packages where installed, else the path's own parts
    (`/work/main/tests/planted.py` -> `work.main.tests.planted`: its package is found by suffix)."""
    path = filename.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            path = path.rsplit(marker, 1)[1]
            break
    else:  # the standard library's own modules: `inspect`, not the machine's path to it
        path = re.split(r"/lib/python3\.\d+/", path)[-1]
    path = re.sub(r"\.py$", "", path).strip("/")
    return ".".join(part for part in path.split("/") if part and part != "__init__")


def frames(traceback_text: str) -> list[tuple[str, str]]:
    """(module, function) of each frame of a formatted traceback, outermost first.  A chained traceback
    ("During handling ...") lists the first exception's frames first: the last block is the one raised."""
    return [(module_of(file), function) for file, function in _FRAME.findall(traceback_text)]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".") or f".{package}." in f".{module}."


def _trimmed(module: str, package: str) -> str:
    """`work.main.tests.planted` -> `tests.planted` for package `tests`."""
    parts = module.split(".")
    return ".".join(parts[parts.index(package):]) if package in parts else module


# Frames that only re-raise: Keras filters its tracebacks down to this wrapper, which names no place.
_WRAPPERS = ("keras.src.utils.traceback_utils",)


def deepest(traceback_text: str, packages: tuple[str, ...]) -> str:
    """`module:function` of the deepest frame inside any of `packages`, or "" when none is on the stack."""
    for module, function in reversed(frames(traceback_text)):
        if module.endswith(_WRAPPERS):
            continue
        for package in packages:
            if _in(module, package):
                return f"{_trimmed(module, package)}:{function}"
    return ""


def node_kind(error: BaseException, packages: tuple[str, ...]) -> str:
    """The kind of the graph node or Keras layer being handled where `error` was raised: the deepest frame
    of `packages` holding a local `node` (tf2onnx's Node.type, onnx's NodeProto.op_type), else the deepest
    frame of any package holding a Keras layer as `self` (a layer Keras was tracing or running).  "" when no
    frame holds one (read while the exception is live: the frames are gone once it is formatted)."""
    node_found = layer_found = ""
    tb: TracebackType | None = error.__traceback__
    while tb is not None:
        local = tb.tb_frame.f_locals
        node = local.get("node")
        kind = getattr(node, "op_type", None) or getattr(node, "type", None)
        module = module_of(tb.tb_frame.f_code.co_filename)
        if isinstance(kind, str) and kind and any(_in(module, p) for p in packages):
            node_found = kind
        owner = local.get("self")
        if owner is not None and type(owner).__module__.startswith("keras.src.layers") \
                and hasattr(owner, "compute_output_spec"):
            layer_found = type(owner).__name__
        tb = tb.tb_next
    return node_found or layer_found


# The suite's own code: never where an upstream bug is raised.
SUITE = ("roundtrip", "tests", "properties", "strategies", "bench")


def raised_at(traceback_text: str, package: str = "") -> str:
    """`module:function` of the deepest frame outside the suite's own code (and outside wrappers that only
    re-raise): where the exception was raised, whichever package that is (Keras' Lambda for a converter
    that makes Lambda layers Keras 3 refuses).  Frames of `package` count even when it is the suite's (a
    planted fault of its tests).  "" when no frame counts."""
    for module, function in reversed(frames(traceback_text)):
        if module.endswith(_WRAPPERS):
            continue
        if package and _in(module, package):
            return f"{_trimmed(module, package)}:{function}"
        if any(_in(module, p) for p in SUITE):
            continue
        return f"{module}:{function}"
    return ""


def operator_of(where: str) -> str:
    """The kind of node a place names: its `[Node]`, or the submodule of its package's module with one per
    operator (`registry.Package.op_modules`: `onnx2tf.ops.Unsqueeze:make_node` names Unsqueeze); "" for none."""
    ops = registry.package(where.split(".")[0].split(":")[0]).op_modules if where else ""
    if ops and where.startswith(ops + "."):
        return where.split(":")[0].split(".")[ops.count(".") + 1]
    return where.rsplit("[", 1)[1].rstrip("]") if "[" in where else ""


def place(traceback_text: str, packages: tuple[str, ...], node: str = "") -> str:
    """Where an exception lives: the deepest frame in `packages`, with the node kind when known
    (`tf2onnx.onnx_opset.nn:version_1[MaxPool]`); "" when no frame of those packages is on the stack."""
    where = deepest(traceback_text, packages)
    return f"{where}[{node}]" if where and node else where
