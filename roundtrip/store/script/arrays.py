"""Arrays as Python source: small ones written out, large ones drawn from a seeded generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

INLINE_LIMIT = 64  # values: above this, an array is drawn from a seeded generator instead of written out


def number(value: object, dtype: np.dtype) -> str:
    """The shortest literal that reads back to the same `dtype` value."""
    if dtype.kind == "b":
        return str(bool(value))
    if dtype.kind in "iu":
        return str(int(value))  # type: ignore[call-overload]
    v = dtype.type(value)
    if np.isnan(v):
        return "np.nan"
    if np.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    text = str(v)
    return text[:-2] if text.endswith(".0") and "e" not in text else text


def nested(array: np.ndarray) -> str:
    """`array`'s values as nested Python lists."""
    if array.ndim == 0:
        return number(array.item(), array.dtype)
    return "[" + ", ".join(nested(a) for a in array) + "]"


def literal(array: np.ndarray) -> str:
    """`np.array(...)` with the values written out and the dtype named."""
    return f'np.array({nested(array)}, "{array.dtype.name}")'


def fits_inline(arrays: Sequence[np.ndarray]) -> bool:
    return sum(a.size for a in arrays) <= INLINE_LIMIT


def drawn(shape: tuple[int, ...], dtype: str, rng: str = "rng") -> str:
    """Positive values near one (any of them may be a variance), drawn from the generator named `rng`."""
    return f'{rng}.uniform(0.5, 1.5, {shape!r}).astype("{dtype}")'


def token_ids(seed: Sequence[int], shape: tuple[int, ...], ids: int) -> str:
    """The suite's token ids (roundtrip.spec.inputs): int32 in [0, ids) from a seed list."""
    return f'np.random.default_rng({list(seed)!r}).integers(0, {ids}, {shape!r}).astype("int32")'


def standard_normal(seed: Sequence[int], shape: tuple[int, ...], dtype: str) -> str:
    """The suite's inputs: standard normal values from a seed list."""
    return f'np.random.default_rng({list(seed)!r}).standard_normal({shape!r}).astype("{dtype}")'
