"""Failures of the machine, not of a converter: no network, a host name that does not resolve, a file a
converter meant to download and could not get.  Such an error met while a converter runs is never a finding.

    environmental(error_type, message, traceback) -> bool   the predicate, for any caught error
    refuse_environmental(run, converter) -> run              an ONNX -> Keras BackRun, or EnvironmentFailure
    raise_if_environmental(error, converter)                 EnvironmentFailure for a caught exception

`roundtrip.convert.back.run_back` passes every BackRun through `refuse_environmental`: an environmental error there
raises EnvironmentFailure, which the worker answers as the check's own error and the harness reports as the
suite's problem (nothing is written, nothing is pending).
"""

from __future__ import annotations

import re
from typing import Any

# Exception type names (the last part of a qualified one) that only a network failure raises: the standard
# library's (socket, urllib, http.client), requests' and urllib3's.
NETWORK_TYPES = frozenset({
    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError",
    "gaierror", "herror", "URLError", "HTTPError", "ContentTooShortError", "RemoteDisconnected", "IncompleteRead",
    "NameResolutionError", "NewConnectionError", "MaxRetryError", "ProtocolError", "ConnectTimeout",
    "ConnectTimeoutError", "ReadTimeout", "ReadTimeoutError", "SSLError", "ProxyError", "ChunkedEncodingError",
})
# What resolvers and sockets say when there is no network (glibc, macOS, Windows, curl-like wording).
NETWORK_WORDS = re.compile(
    r"Temporary failure in name resolution|Name or service not known|Failed to resolve|nodename nor servname|"
    r"getaddrinfo failed|Could not resolve host|Network is unreachable|No route to host|"
    r"Max retries exceeded with url|Connection refused", re.IGNORECASE)
# A file that is missing because a download did not happen: raised under a frame that downloads.
MISSING_TYPES = frozenset({"FileNotFoundError"})
DOWNLOADING_FRAME = re.compile(r'^\s*File "[^"]*", line \d+, in \w*download\w*$|'
                               r'^\s*File "[^"]*[/\\](requests|urllib3?|http)[/\\][^"]*", line \d+', re.M | re.I)
# The exception lines of a traceback ("pkg.module.TypeName: message"), chained causes included.
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)", re.M)


class EnvironmentFailure(RuntimeError):
    """A converter met a failure of this machine's environment (no network, a missing download): no finding."""


def environmental(error_type: str, message: str, traceback: str = "") -> bool:
    """Whether an error is the environment's, not the code's: its type (or a type in its traceback's chain of
    causes) is a network error, or its message is what a resolver or socket says without a network, or it is a
    missing file raised while something was being downloaded."""
    if _short(error_type) in NETWORK_TYPES or NETWORK_WORDS.search(message):
        return True
    chained = {_short(name) for name in EXCEPTION_LINE.findall(traceback)}
    if chained & NETWORK_TYPES or NETWORK_WORDS.search(traceback):
        return True
    return _short(error_type) in MISSING_TYPES and DOWNLOADING_FRAME.search(traceback) is not None


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def refuse_environmental(run: Any, converter: str) -> Any:
    """`run` (a roundtrip.convert.made.BackRun) as it is; EnvironmentFailure when its load error, a case's error or
    its export error is the environment's.  A converter's crash or hang (an Error of type "crash" or "timeout",
    its traceback the log of a process that served other calls) stays what it is."""
    from roundtrip.finding.findings import Error

    errors = [run.load_error, *[o for o in run.outputs if isinstance(o, Error)], run.export_error]
    for error in errors:
        if error is None or error.type in ("crash", "timeout"):
            continue
        if environmental(error.type, error.message, error.traceback):
            raise failure(converter, error.type, error.message, error.traceback)
    return run


def raise_if_environmental(error: BaseException, converter: str) -> None:
    """EnvironmentFailure (caused by `error`) when `error`, caught while `converter` ran, is the environment's:
    for the places that make a finding of a caught exception (a Keras -> ONNX conversion's, say)."""
    import traceback

    text = "".join(traceback.format_exception(error))
    message = str(error) or repr(error)
    if environmental(type(error).__name__, message, text):
        raise failure(converter, type(error).__name__, message, text) from error


def failure(converter: str, error_type: str, message: str, traceback: str) -> EnvironmentFailure:
    from roundtrip.finding.findings import headline

    return EnvironmentFailure(
        f"{converter} failed for a reason of this machine, not of its code ({error_type}: "
        f"{headline(message)[:300]}): no finding is made.  Run it where it can reach what it fetches, or give it "
        f"locally (see roundtrip/convert/remote_server.py, SAMPLE_IMAGES).\n{traceback}")
