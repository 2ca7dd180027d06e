"""An output of an ONNX -> Keras converter, taken in the axis order where it is right, when its registry row
says any order counts (`Converter.orders`).

onnx2tf makes tensors of rank 3 to 5 channels-last as it sees fit and records, per tensor, whether it
transposed it; the suite moves each output back by that record.  The record is onnx2tf's bookkeeping, not a
documented output layout, and onnx2tf's own accuracy check (`onnx_tf_tensor_validation`, in
onnx2tf/utils/common_functions.py) passes a TensorFlow output whose axes, in some order, give ONNX Runtime's
shape and values: its maintainer closes a transposed output as a layout choice.  So for a row whose `orders`
is `registry.ANY_ORDER`, an output equal to the expected one with its axes in some order is a right output;
for a row of `registry.AS_LAID`, only one equal to it as the converter's layout gives it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from itertools import islice, permutations

import numpy as np

from roundtrip import registry
from roundtrip.convert.back import channels_first, channels_last
from roundtrip.convert.made import BackRun
from roundtrip.finding.findings import Error
from roundtrip.oracle.compare import close

# The axis orders tried on one output, at most: every order of five axes of one size (5! = 120).  Axes of size 1
# go in one order only (placing them elsewhere moves no value), so a rank-5 output with a size-1 batch has at
# most 4! = 24 orders to try; a rank-6 output of six equal sizes > 1 is checked in its first 120 orders.
MOST_ORDERS = 120


def any_order(back: str) -> bool:
    """Whether the registry row of `back` counts an output in any axis order as right (a converter of the
    caller's own, with no row: only as laid)."""
    row = registry.converter(back)
    return row is not None and row.orders == registry.ANY_ORDER


def taken(back: str, run: BackRun, expected: Sequence[Sequence[np.ndarray]]) -> BackRun:
    """`run` of the converter `back`, each output that differs from `expected` (per case) taken in an axis
    order where it equals it, when `back`'s row says any order counts (`any_order`); other runs as they are.
    First the other of the two layouts a converter records (`run.layouts["outputs_nhwc"]`, flipped for that
    output, so repro.py replays it); then every order of the axes that gives the expected shape
    (`orders`), the first that gives the expected values recorded as `run.layouts["outputs_axes"][k]` (None
    where none was taken): `np.transpose(output, axes)` is the expected output."""
    if not any_order(back) or run.load_error is not None:
        return run
    record = dict(run.layouts or {})
    flags = list(record.get("outputs_nhwc", []))
    axes: list[list[int] | None] = []
    switched: set[int] = set()
    outputs = [list(o) if not isinstance(o, Error) else o for o in run.outputs]
    for got, want in zip(outputs, expected, strict=False):
        if isinstance(got, Error):
            continue
        for k, (a, e) in enumerate(zip(got, want, strict=False)):
            if a.shape == e.shape and close(a, e).all():
                continue
            if run.layouts is not None and a.ndim >= 3:
                other = channels_last(a) if k < len(flags) and flags[k] else channels_first(a)
                if other.shape == e.shape and close(other, e).all():
                    got[k] = other
                    switched.add(k)
                    continue
            order = transposing(a, e)
            if order is not None:
                got[k] = np.transpose(a, order)
                axes += [None] * (k + 1 - len(axes))
                axes[k] = axes[k] or list(order)
    if not switched and not axes:
        return replace(run, outputs=outputs)
    if switched:
        record["outputs_nhwc"] = [not flag if k in switched else flag for k, flag in enumerate(flags)]
    if axes:
        record["outputs_axes"] = axes
    return replace(run, outputs=outputs, layouts=record)


def transposing(actual: np.ndarray, expected: np.ndarray) -> tuple[int, ...] | None:
    """The first axis order (`orders`) in which `actual` equals `expected` within the comparison's tolerance
    (`compare.close`), None when there is none."""
    for order in orders(actual.shape, expected.shape):
        if close(np.transpose(actual, order), expected).all():
            return order
    return None


def orders(shape: tuple[int, ...], target: tuple[int, ...], most: int = MOST_ORDERS) -> Iterator[tuple[int, ...]]:
    """The axis orders that take an array of `shape` to one of `target` (`np.transpose(a, order).shape ==
    target`), the identity left out, one for each distinct result: axes of size 1 keep their order (moving
    them moves no value), axes of one size > 1 go in every order.  Empty when the two shapes are not the same
    dims in some order; at most `most` of them, made one at a time."""
    if sorted(shape) != sorted(target):
        return iter(())
    sizes = sorted(set(target))
    sources = {n: [i for i, m in enumerate(shape) if m == n] for n in sizes}
    places = {n: [j for j, m in enumerate(target) if m == n] for n in sizes}
    identity = tuple(range(len(shape)))

    def each(groups: list[int], order: list[int]) -> Iterator[tuple[int, ...]]:
        if not groups:
            if tuple(order) != identity:
                yield tuple(order)
            return
        n, rest = groups[0], groups[1:]
        for axes in [tuple(sources[n])] if n == 1 else permutations(sources[n]):  # lazily: never all at once
            for j, i in zip(places[n], axes, strict=True):
                order[j] = i
            yield from each(rest, order)

    return islice(each(sizes, [0] * len(target)), most)
