"""The shared example database: a failure that one process saves, a fresh process replays, through Redis
and through a directory that two processes write at once; a bad URL is one prompt, clear error.

Every child runs in a tmp directory with its own Hypothesis storage, so the project's .hypothesis/ is
never touched. The Redis tests start a redis-server of their own on loopback and skip when there is none.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

from roundtrip.search.database import DEFAULT_PATH, ENV, DatabaseError, open_database

ROOT = Path(__file__).resolve().parent.parent

# One tiny Hypothesis test per child script. `find` generates and shrinks (no replay); `replay` only
# reuses the database, so it can fail only on an example some earlier process saved. The last line
# printed is the failing x that Hypothesis reports (the smallest), null when the test passed, or
# "ran nothing" when no phase ran an example (a replay with nothing in the database). After `ready` the child
# waits for the go file, so that two children write at the same moment; then it saves HAMMER values of
# its own under a key both children share and under a key of its own.
CHILD = '''
import json, sys, time, unittest
from pathlib import Path
from hypothesis import Phase, given, settings, strategies as st
from roundtrip.search.database import open_database

url, mode, go, hammer = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
PHASES = {{"find": [Phase.generate, Phase.shrink], "replay": [Phase.reuse]}}[mode]
db = open_database(url)
failures = []


@settings(database=db, phases=PHASES, max_examples=200, deadline=None)
@given(st.integers())
def test_{tag}(x):
    if x > {threshold}:
        failures.append(x)
        raise AssertionError(x)


print("ready", flush=True)
while go != "-" and not Path(go).exists():
    time.sleep(0.005)
outcome = None
try:
    test_{tag}()
except AssertionError:
    outcome = failures[-1]
except unittest.SkipTest:  # what Hypothesis raises when no phase ran a single example
    outcome = "ran nothing"
for i in range(hammer):
    db.save(b"shared", b"{tag}-%d" % i)
    db.save(b"own-{tag}", b"%d" % i)
print(json.dumps(outcome))
'''


def child_script(where: Path, tag: str, threshold: int) -> Path:
    path = where / f"child_{tag}.py"
    path.write_text(CHILD.format(tag=tag, threshold=threshold))
    return path


def start(script: Path, url: str, mode: str, go: Path | None = None, hammer: int = 0) -> subprocess.Popen[str]:
    home = script.parent / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env.update(HYPOTHESIS_STORAGE_DIRECTORY=str(home / ".hypothesis"), PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(script), url, mode, str(go or "-"), str(hammer)], cwd=home,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(child: subprocess.Popen[str]) -> int | str | None:
    """The failing x the child reports (or null, or "ran nothing"), once it has exited cleanly."""
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, f"child {child.args!r} exited {child.returncode}:\n{err}"
    result: int | str | None = json.loads(out.splitlines()[-1])
    return result


def run(*jobs: tuple[Path, str, str]) -> list[int | str | None]:
    """Runs (script, url, mode) jobs side by side; what each reports."""
    children = [start(*job) for job in jobs]
    return [finish(child) for child in children]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers(server: subprocess.Popen[bytes], port: int, within: float = 30.0) -> bool:
    import redis

    deadline = time.monotonic() + within
    while time.monotonic() < deadline and server.poll() is None:
        try:
            return bool(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """redis://127.0.0.1:PORT of a redis-server of this module's own, with no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (`make system` installs it)")
    home = tmp_path_factory.mktemp("redis")
    log = home / "redis.log"
    for _ in range(3):  # another process may take the free port first
        port = free_port()
        with log.open("wb") as out:
            server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", str(home)],
                                      cwd=home, stdout=out, stderr=subprocess.STDOUT)
        if answers(server, port):
            break
        server.kill()
        server.wait()
    else:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-2:])
        pytest.skip(f"redis-server did not start on 127.0.0.1: {tail}")
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The server, emptied for this test."""
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return redis_server


def test_a_failure_saved_by_one_process_is_replayed_by_a_fresh_one_from_redis(redis_url: str,
                                                                              tmp_path: Path) -> None:
    import redis

    script = child_script(tmp_path, "a", 1000)
    assert run((script, f"{redis_url}/0", "find")) == [1001]
    # A fresh interpreter that only replays finds it in db 0; in the empty db 1 it has nothing to run.
    assert run((script, f"{redis_url}/0", "replay"), (script, f"{redis_url}/1", "replay")) == [1001, "ran nothing"]

    client = redis.Redis.from_url(f"{redis_url}/0")
    keys = cast(list[bytes], client.keys())  # bytes: the client does not decode
    assert keys and all(key.startswith(b"hypothesis-example:") for key in keys)
    assert all(0 < client.ttl(key) <= timedelta(days=8).total_seconds() for key in keys)


def test_a_redis_database_saves_and_fetches(redis_url: str) -> None:
    db = open_database(f"{redis_url}/2")
    assert db is not None
    db.save(b"k", b"one")
    db.save(b"k", b"two")
    db.delete(b"k", b"one")
    assert set(db.fetch(b"k")) == {b"two"}


def test_two_processes_write_one_directory_database_at_once(tmp_path: Path) -> None:
    url = f"dir:{tmp_path / 'examples'}"
    scripts = {"a": child_script(tmp_path, "a", 1000), "b": child_script(tmp_path, "b", 2000)}
    go = tmp_path / "go"
    children = [start(script, url, "find", go, 300) for script in scripts.values()]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    go.touch()
    assert [finish(child) for child in children] == [1001, 2001]

    db = DirectoryBasedExampleDatabase(tmp_path / "examples")
    numbers = {b"%d" % i for i in range(300)}
    assert set(db.fetch(b"shared")) == {b"%s-%d" % (tag, i) for tag in (b"a", b"b") for i in range(300)}
    assert set(db.fetch(b"own-a")) == set(db.fetch(b"own-b")) == numbers
    # Each process's failure is there for a fresh one that only replays.
    assert run((scripts["a"], url, "replay"), (scripts["b"], url, "replay")) == [1001, 2001]


def test_an_unreachable_redis_is_one_prompt_clear_error() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with pytest.raises(DatabaseError) as raised:
        open_database(url)
    message = str(raised.value)
    assert url in message and "Connection refused" in message and "\n" not in message


def test_a_password_in_the_url_is_not_printed() -> None:
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(DatabaseError, match=r"user:\*\*\*@127\.0\.0\.1") as raised:
        open_database(url)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("form", ["dir:{}", "{}"])
def test_dir_and_plain_paths_are_directory_databases(tmp_path: Path, form: str) -> None:
    db = open_database(form.format(tmp_path / "examples"))
    assert isinstance(db, DirectoryBasedExampleDatabase) and db.path == tmp_path / "examples"
    db.save(b"k", b"v")
    assert list(db.fetch(b"k")) == [b"v"]


@pytest.mark.parametrize("url", ["none", "None", " none "])
def test_none_is_no_database(url: str) -> None:
    assert open_database(url) is None


def test_the_default_is_the_projects_examples_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert DEFAULT_PATH == ROOT / ".hypothesis" / "examples"
    for url in (None, ""):
        db = open_database(url)
        assert isinstance(db, DirectoryBasedExampleDatabase) and db.path == DEFAULT_PATH


def test_the_environment_variable_is_the_default_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV, f"dir:{tmp_path}")
    db = open_database(None)
    assert isinstance(db, DirectoryBasedExampleDatabase) and db.path == tmp_path
    default = open_database("")  # an explicit "" is the default directory, whatever the variable says
    assert isinstance(default, DirectoryBasedExampleDatabase) and default.path == DEFAULT_PATH
    monkeypatch.setenv(ENV, "none")
    assert open_database(None) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("http://example.invalid/db", "unknown scheme 'http'"),
    ("dir:", "no path after dir:"),
    ("redis://127.0.0.1:notaport/0", "Port could not be cast"),
])
def test_a_bad_url_is_a_database_error(url: str, reason: str) -> None:
    with pytest.raises(DatabaseError, match=reason):
        open_database(url)
