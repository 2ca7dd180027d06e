"""Where Hypothesis keeps the examples it has found: one URL picks the example database of a run.

    open_database(None)                       # $ROUNDTRIP_DATABASE, or .hypothesis/examples under the project
    open_database("dir:/scratch/examples")    # a directory; a plain path means the same
    open_database("redis://host:6379/0")      # a Redis server shared by several machines
    open_database("none")                     # no database: nothing saved, nothing replayed

A directory is enough for several worker processes on one machine: each example is a file of its own,
named by the hash of its content and written to a temporary file that is then renamed into place, and
every OSError is swallowed, so two processes at worst lose a save to a race, never corrupt an entry or
fail a test. (The rename is atomic when $TMPDIR is on the database's filesystem; across filesystems
Hypothesis copies instead, and an example read half-written is dropped at its next replay.) Across
machines, Redis: each test's examples are a set under `hypothesis-example:` + the test's key, and each
read or write of a test pushes its expiry back to 8 days.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

ENV = "ROUNDTRIP_DATABASE"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / ".hypothesis" / "examples"
REDIS_SCHEMES = ("redis", "rediss", "unix")
CONNECT_TIMEOUT = 3.0  # seconds, for the ping at open and each later (re)connection


class DatabaseError(Exception):
    """The example database named by a URL cannot be opened."""


def open_database(url: str | None = None) -> ExampleDatabase | None:
    """The example database named by `url`, for `settings(database=...)`.

    url: None reads $ROUNDTRIP_DATABASE; None or "" there gives the directory .hypothesis/examples under
        the project root; `dir:PATH` or a plain PATH a directory there; `redis://host:port[/db]` (also
        rediss://, unix://) a Redis server, pinged now; `none` no database at all (None, what Hypothesis
        takes for "save and replay nothing", rather than an in-memory one that would replay within one
        process only).
    Raises DatabaseError, with the URL and the reason on one line, for an unknown scheme or a Redis server
    that does not answer.
    """
    if url is None:
        url = os.environ.get(ENV, "")
    url = url.strip()
    if not url:
        return DirectoryBasedExampleDatabase(DEFAULT_PATH)
    if url.lower() == "none":
        return None
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in REDIS_SCHEMES:
        return _open_redis(url)
    if scheme:
        raise DatabaseError(f"example database {url!r}: unknown scheme {scheme!r} (use dir:, redis:// or none)")
    path = url.removeprefix("dir:")
    if not path:
        raise DatabaseError(f"example database {url!r}: no path after dir:")
    return DirectoryBasedExampleDatabase(Path(path).expanduser())


def _open_redis(url: str) -> ExampleDatabase:
    import redis
    from hypothesis.extra.redis import RedisExampleDatabase

    shown = _without_password(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
        if client.get_connection_kwargs().get("decode_responses"):
            raise DatabaseError(f"example database {shown!r}: decode_responses must be off (examples are bytes)")
        client.ping()
    except (redis.RedisError, ValueError, OSError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DatabaseError(f"example database {shown!r} cannot be opened: {reason}") from error
    return RedisExampleDatabase(client)


def _without_password(url: str) -> str:
    """The URL as it may be printed: a password in it becomes ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
