"""Planted ONNX -> Keras converters that meet a failure of the machine, not of their code (see
roundtrip/convert/environmental.py), and one whose own missing file is its own bug."""

from __future__ import annotations

from typing import Any

OFFLINE_MESSAGE = ("HTTPSConnectionPool(host='github.com', port=443): Max retries exceeded with url: /sample.npy "
                   "(Caused by NameResolutionError(\"Failed to resolve 'github.com' ([Errno -3] Temporary failure "
                   "in name resolution)\"))")


def fetch_without_network(model: Any, input_names: list[str]) -> Any:
    """A converter that fetches sample data first, the way onnx2tf does, on a machine with no network."""
    raise ConnectionError(OFFLINE_MESSAGE)


def download_sample(folder: str) -> bytes:
    with open(f"{folder}/never-downloaded.npy", "rb") as f:
        return f.read()


def read_what_was_not_downloaded(model: Any, input_names: list[str]) -> Any:
    """A converter that reads a file its download step should have left, and did not."""
    return download_sample("/nonexistent-roundtrip-folder")


def read_its_own_missing_table(model: Any, input_names: list[str]) -> Any:
    """A converter whose own data file is missing from its package: its bug, not the machine's."""
    with open("/nonexistent-roundtrip-folder/op_table.json") as f:
        return f.read()
