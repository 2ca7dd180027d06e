"""The plain values specs are made of, and the errors of an invalid spec: shared by the spec types and the
layer table without either importing the other."""

from __future__ import annotations

import math
from typing import Any

Dim = int | None
Shape = tuple[Dim, ...]
Value = int | float | str | bool | tuple[Any, ...]


class SpecError(ValueError):
    """A spec (or its JSON) is invalid.  The message names the field path and the bad value."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def _freeze(value: Any) -> Value:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value  # type: ignore[no-any-return]


def shown(value: Any) -> str:
    """A value as the JSON it came from would show it (lists, not tuples)."""
    return repr(_thaw(value))


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


class ShapeError(ValueError):
    """A layer does not fit the shape it is applied to (raised by the layer table's shape functions)."""


def numel(shape: Shape) -> int | None:
    """Product of the dims, or None when any is unknown."""
    if any(d is None for d in shape):
        return None
    return math.prod(shape)  # type: ignore[arg-type]
