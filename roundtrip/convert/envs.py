"""Named environments: a pin file `envs/<name>.txt` made into a virtual environment on demand, and kept.

    env = named("ort-1.32.0")     # EnvError for a name with no pin file (it says which names there are)
    built = build(env)            # a Built: its Python, its versions, or why it did not install

An environment holds upstream packages only (TensorFlow, Keras, the converters, ONNX, ONNX Runtime): an
entry is replayed there by running its repro.py with the environment's Python (roundtrip.report.matrix), which is
what a maintainer would run.  The venv of `envs/NAME.txt` is `.envs/NAME/` (`.venv-onnx2tf/` for onnx2tf,
where `make onnx2tf-env` puts it and roundtrip.convert.remote looks); it is made with uv where uv is installed
(seconds, from uv's cache), else with venv and pip.  A stamp in it holds the pin file's hash, the versions
installed and the time the build took: a venv whose stamp matches is reused, any other is made anew.

A pin file that does not install gives a Built with no Python and the installer's last lines (`error`):
that environment is unusable, the others are not touched.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roundtrip import registry

ROOT = Path(__file__).resolve().parents[2]
PINS = ROOT / "envs"
CACHE = ROOT / ".envs"
# Environments whose venv lives where other code expects it (in ROOT).
FOLDERS = {e.name: e.folder for e in registry.ENVIRONMENTS}
STAMP = "roundtrip-env.json"
MAKE_STAMP = ".installed"  # what `make onnx2tf-env` leaves in its venv
ERROR_LINES = 12  # of the installer's output, kept when a pin file does not install
INSTALL_TIMEOUT = 1800.0
# The packages whose versions an environment reports (distribution names).
PACKAGES = (*registry.distributions(), "numpy", "protobuf")


class EnvError(ValueError):
    """A bad environment name, pin file or release range; the message names the file or the name."""


@dataclass(frozen=True)
class Env:
    """An environment: its name, its pin file and the folder of its venv; `sources` are extra installer
    options (`--no-index`, `--find-links DIR`) for packages from a local folder."""

    name: str
    pins: Path
    folder: Path
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Built:
    """An environment made (or found made): `python` is None when its pin file did not install, and then
    `error` holds the installer's last lines."""

    env: Env
    python: str | None
    versions: dict[str, str]
    seconds: float  # the time its build took (when it was built, maybe earlier)
    cached: bool  # found made, not built now
    error: str = ""

    @property
    def usable(self) -> bool:
        return self.python is not None


def names(pins: Path = PINS) -> list[str]:
    """The environments there are: the pin files in `pins`."""
    return sorted(p.stem for p in pins.glob("*.txt")) if pins.is_dir() else []


def named(name: str, pins: Path = PINS, cache: Path = CACHE) -> Env:
    """The environment `name` (its pin file `pins/name.txt`); EnvError when there is none."""
    path = pins / f"{name}.txt"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name) or not path.is_file():
        known = ", ".join(names(pins)) or "none"
        raise EnvError(f"unknown environment {name!r}: no pin file {path} (environments in {pins}: {known})")
    return Env(name, path, folder_of(name, cache))


def folder_of(name: str, cache: Path = CACHE) -> Path:
    return ROOT / FOLDERS[name] if name in FOLDERS and cache == CACHE else cache / name


def requirements(path: Path) -> list[str]:
    """The requirement lines of a pin file (comments and blank lines left out); EnvError when unreadable."""
    try:
        text = path.read_text()
    except OSError as e:
        raise EnvError(f"{path}: unreadable ({e.strerror})") from None
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line]


def pinned_version(path: Path, package: str) -> str | None:
    """The version `path` pins `package` to (`package==V`), or None."""
    for line in requirements(path):
        name, _, version = line.partition("==")
        if normalise(name) == normalise(package) and version:
            return version.strip()
    return None


def name_of(requirement: str) -> str:
    """The distribution name a requirement line starts with (`onnx2tf==1.29.0` -> `onnx2tf`)."""
    return re.split(r"[=<>!~ ;\[]", requirement, maxsplit=1)[0]


def normalise(name: str) -> str:
    """A distribution name as the package index compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name.split("[", 1)[0]).strip().lower()


def digest(env: Env) -> str:
    """What a venv must have been built from to be reused: the pin file's text and the installer options."""
    text = env.pins.read_text() + "\n" + "\n".join(env.sources)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def python_in(folder: Path) -> Path:
    return folder / "bin" / "python"


def read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return stamp if isinstance(stamp, dict) else None


def made(env: Env) -> Built | None:
    """The environment as it was made before, when its venv matches its pin file; else None."""
    python = python_in(env.folder)
    if not os.access(python, os.X_OK):
        return None
    stamp = read_stamp(env.folder)
    if stamp is not None and stamp.get("digest") == digest(env):
        return Built(env, str(python), dict(stamp.get("versions", {})), float(stamp.get("seconds", 0.0)), True)
    make_stamp = env.folder / MAKE_STAMP  # made by `make onnx2tf-env` after the pin file last changed
    if stamp is None and make_stamp.is_file() and make_stamp.stat().st_mtime >= env.pins.stat().st_mtime:
        return Built(env, str(python), installed(env, str(python)), 0.0, True)
    return None


def build(env: Env, *, log: Any = None) -> Built:
    """The environment's venv: reused when it matches its pin file, else made anew (uv where installed,
    else venv and pip).  A pin file that does not install gives an unusable Built with the last lines."""
    found = made(env)
    if found is not None:
        return found
    requirements(env.pins)  # unreadable: EnvError
    started = time.monotonic()
    if env.folder.is_symlink():
        env.folder.unlink()
    shutil.rmtree(env.folder, ignore_errors=True)
    env.folder.parent.mkdir(parents=True, exist_ok=True)
    if log is not None:
        log(f"building environment {env.name} from {env.pins} in {env.folder} ({'uv' if uv() else 'pip'})")
    failed = install(env)
    seconds = time.monotonic() - started
    if failed is not None:
        return Built(env, None, {}, seconds, False, failed)
    python = str(python_in(env.folder))
    versions = installed(env, python)
    stamp = {"digest": digest(env), "pins": str(env.pins), "versions": versions, "seconds": round(seconds, 1),
             "installer": "uv" if uv() else "pip", "date": datetime.datetime.now(datetime.UTC).isoformat()}
    (env.folder / STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    if env.folder.name == FOLDERS.get(env.name):
        (env.folder / MAKE_STAMP).touch()  # so that `make onnx2tf-env` takes it as made
    return Built(env, python, versions, seconds, False)


def installed(env: Env, python: str) -> dict[str, str]:
    """The versions in the environment of PACKAGES and of every package its pin file names."""
    named = [name_of(line) for line in requirements(env.pins) if not line.startswith("-")]
    return versions_in(python, list(dict.fromkeys([*PACKAGES, *named])))


def uv() -> str | None:
    """The uv executable: $ROUNDTRIP_UV, else next to this Python, else on PATH, else the uv package's."""
    candidates = [os.environ.get("ROUNDTRIP_UV", ""), str(Path(sys.executable).parent / "uv"), shutil.which("uv") or ""]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def base_python() -> str:
    """The interpreter new venvs are made from: $ROUNDTRIP_ENV_PYTHON, else the one this venv came from."""
    return os.environ.get("ROUNDTRIP_ENV_PYTHON") or getattr(sys, "_base_executable", "") or sys.executable


def install(env: Env) -> str | None:
    """Makes the venv and installs the pin file into it; None when it went well, else the error's last lines."""
    tool = uv()
    python = str(python_in(env.folder))
    if tool is not None:
        steps = [[tool, "venv", "--quiet", "--python", base_python(), str(env.folder)],
                 [tool, "pip", "install", "--quiet", "--python", python, *env.sources, "-r", str(env.pins)]]
    else:
        steps = [[base_python(), "-m", "venv", str(env.folder)],
                 [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *env.sources,
                  "-r", str(env.pins)]]
    quiet = {**os.environ, "UV_NO_PROGRESS": "1", "PIP_NO_INPUT": "1"}
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, errors="replace", env=quiet,
                                  timeout=INSTALL_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{Path(step[0]).name}: {e}"
        if done.returncode != 0:
            lines = (done.stdout + done.stderr).strip().splitlines()
            return f"{Path(step[0]).name} {step[1]} exited {done.returncode}:\n" + "\n".join(lines[-ERROR_LINES:])
    return None


_VERSIONS = """
import json, sys
from importlib import metadata
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(found))
"""

_MODULES = """
import importlib.util, json, sys
print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None]))
"""


def versions_in(python: str, packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """The versions of `packages` installed for `python` (those installed)."""
    found = _ask(python, _VERSIONS, packages)
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def modules_in(python: str, modules: Sequence[str]) -> set[str]:
    """Which of the top-level `modules` `python` can import (found, not imported)."""
    found = _ask(python, _MODULES, modules)
    return {str(m) for m in found} if isinstance(found, list) else set()


def _ask(python: str, script: str, args: Sequence[str]) -> Any:
    done = subprocess.run([python, "-I", "-c", script, *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise EnvError(f"{python} could not answer: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


def with_release(env: Env, package: str, version: str, cache: Path = CACHE) -> Env:
    """`env` with `package` at `version`: a pin file of its own in cache/bisect/ (made once), from `env`'s
    pins with that release's own requirements where they differ (uv's resolver, preferring env's versions;
    without uv, only the package's line is replaced)."""
    name = f"{env.name}--{normalise(package)}-{version}"
    folder = cache / "bisect"
    pins = folder / f"{name}.txt"
    derived = Env(name, pins, folder / name, env.sources)
    if pins.is_file():
        return derived
    folder.mkdir(parents=True, exist_ok=True)
    lines = [line for line in requirements(env.pins) if normalise(name_of(line)) != normalise(package)]
    wanted = f"{package}=={version}"
    tool = uv()
    header = f"# {env.pins.name} with {wanted} (written by roundtrip bisect)\n"
    if tool is None:
        pins.write_text(header + "\n".join([*lines, wanted]) + "\n")
        return derived
    loose = folder / f"{name}.in"
    loose.write_text("\n".join([*(name_of(line) for line in lines), wanted]) + "\n")
    preferred = folder / f"{name}.resolving"
    preferred.write_text("\n".join(lines) + "\n")  # uv prefers the versions of the file it writes over
    done = subprocess.run([tool, "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--python",
                           base_python(), *env.sources, str(loose), "-o", str(preferred)],
                          capture_output=True, text=True, errors="replace", timeout=INSTALL_TIMEOUT,
                          env={**os.environ, "UV_NO_PROGRESS": "1"})
    if done.returncode != 0:  # the installer will say the same when it builds: the release is unusable
        pins.write_text(header + "\n".join([*lines, wanted]) + "\n")
    else:
        pins.write_text(header + preferred.read_text())
    loose.unlink()
    preferred.unlink()
    return derived

