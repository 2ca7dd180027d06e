"""Text fit for an entry's files: no terminal colour codes, no path of this machine, no frame of the suite.

A path into an installed package keeps the part a maintainer can read (`.../site-packages/keras/src/...`,
`.../python3.11/inspect.py`); any other path of the machine keeps its file name (`.../repro.py`).  The
frames of a traceback that lie in the suite's own code (roundtrip/, tests/, properties/, strategies/) are
left out, and one line says so where they were.
"""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# The top-level folders a path of this machine (or of a CI runner) starts with.
ROOTS = ("work", "root", "tmp", "home", "usr", "opt", "var", "private", "Users", "mnt", "srv", "nix", "builds",
         "runner", "workspace")
_SEGMENT = r"[\w.@+~-]+"
MACHINE_PATH = re.compile(rf"(?<![\w./~-])/(?:{'|'.join(ROOTS)})(?:/{_SEGMENT})+/?")
# An installed package's path written from an unknown root (a relative venv, a drive letter).
PACKAGES_PREFIX = re.compile(r"(?<![\w.])[^\s\"'()]*?[\\/](?:site|dist)-packages[\\/]")
STDLIB = re.compile(r"/lib/(python3\.\d+)/(.*)")
SUITE_FOLDERS = ("roundtrip", "tests", "properties", "strategies")
FRAME = re.compile(r'^(?P<indent>\s*)File "(?P<path>[^"]+)", line \d+')
HARNESS_NOTE = "(frames of the test harness were left out)"


def scrubbed(text: str) -> str:
    """`text` without colour codes, suite frames or machine paths (the same text when it has none)."""
    return shortened(without_suite_frames(ANSI.sub("", text)))


def shortened(text: str) -> str:
    """Every machine path in `text` cut to what a reader of another machine can use."""
    text = MACHINE_PATH.sub(lambda m: short_path(m.group(0)), text)
    return PACKAGES_PREFIX.sub(".../site-packages/", text)


def short_path(path: str) -> str:
    """`.../site-packages/PKG/...` for an installed package, `.../python3.X/...` for the standard library,
    `.../NAME` for anything else."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return ".../site-packages/" + path.rsplit(marker, 1)[1]
    stdlib = STDLIB.search(path)
    if stdlib:
        return f".../{stdlib.group(1)}/{stdlib.group(2)}"
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return f".../{name}"


def suite_frame(path: str) -> bool:
    """Whether a traceback frame's file is the suite's own code (not an installed package's)."""
    if "site-packages" in path or "dist-packages" in path:
        return False
    parts = path.replace("\\", "/").split("/")
    return any(folder in parts[:-1] for folder in SUITE_FOLDERS)


def without_suite_frames(text: str) -> str:
    """`text` with each run of suite frames (a `File "..."` line and the lines indented under it) replaced
    by one line saying that frames of the test harness were left out."""
    kept: list[str] = []
    skipping: str | None = None  # the indent of the suite frame being left out
    for line in text.split("\n"):
        frame = FRAME.match(line)
        if skipping is not None and not frame and indent_of(line) > len(skipping) and line.strip():
            continue  # the frame's source line and its ^^^ marks
        if frame and suite_frame(frame.group("path")):
            if skipping is None and not (kept and kept[-1].strip() == HARNESS_NOTE):
                kept.append(frame.group("indent") + HARNESS_NOTE)
            skipping = frame.group("indent")
            continue
        skipping = None
        kept.append(line)
    return "\n".join(kept)


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())
