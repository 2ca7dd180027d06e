"""The plain values specs are made of, and the errors of an invalid spec: shared by the spec types and the
layer table without either importing the other."""

from __future__ import annotations

import math
from collections.abc import Mapping
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


def freeze(value: Any) -> Value:
    """A JSON value as a spec holds it: lists become tuples (so specs are hashable)."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value  # type: ignore[no-any-return]


def thaw(value: Any) -> Any:
    """A spec's value as JSON writes it: tuples become lists."""
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def frozen_params(params: Mapping[str, Any]) -> tuple[tuple[str, Value], ...]:
    """A layer's or node's parameters as its spec holds them: sorted by name, each value frozen."""
    return tuple(sorted((k, freeze(v)) for k, v in params.items()))


def thawed_params(params: tuple[tuple[str, Value], ...]) -> dict[str, Any]:
    """A spec's parameters as its JSON writes them."""
    return {k: thaw(v) for k, v in params}


def shown(value: Any) -> str:
    """A value as the JSON it came from would show it (lists, not tuples)."""
    return repr(thaw(value))


def is_int(value: Any) -> bool:
    """An int, and not a bool (JSON's true is no 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


class ShapeError(ValueError):
    """A layer does not fit the shape it is applied to (raised by the layer table's shape functions)."""


def numel(shape: Shape) -> int | None:
    """Product of the dims, or None when any is unknown."""
    if any(d is None for d in shape):
        return None
    return math.prod(shape)  # type: ignore[arg-type]
