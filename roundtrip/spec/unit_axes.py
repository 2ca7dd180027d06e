"""How a node's (or layer's) parameters read once a size-1 axis of its input is gone: one hook per kind (the op
table `roundtrip.spec.ops.GRAPH_OPS` holds it as `GraphOp.drop_axis`, the layer table `roundtrip.spec.layers.LAYERS`
as `LayerDef.drop_axis`), used by the reducer to lower a graph's or a model's rank.

A hook takes the node's parameters (defaults filled in), the axis that goes (non-negative, of a size-1 dim of
the node's first input) and that input's rank.  It returns the parameters the node has on the lower-rank input
and where the axis was in the node's output (None when the node removed it: reduced without keepdims, summed
out of an Einsum, squeezed), or None when the node cannot do without it (it acts along that axis).  A negative
axis parameter stays negative.  Nothing here checks shapes: the graph is built again, and the reducer compares
every tensor's shape with the old one less the axis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Params = dict[str, Any]
Dropped = tuple[Params, int | None] | None
Hook = Callable[[Params, int, int], Dropped]


def kept(p: Params, axis: int, rank: int) -> Dropped:
    """An op of each element alone (or of two tensors of one shape): nothing to rewrite."""
    return p, axis


def _moved(value: int, axis: int, rank: int) -> int | None:
    """Axis parameter `value` of a rank-`rank` tensor once `axis` is gone (None: it is that axis); its sign kept."""
    n = value % rank
    if n == axis:
        return None
    n -= n > axis
    return n - (rank - 1) if value < 0 else n


def along(key: str = "axis") -> Hook:
    """An op along the axis in param `key` (Softmax, Concat, CumSum, TopK...): that axis moves down; None
    when it is the axis that goes."""
    def hook(p: Params, axis: int, rank: int) -> Dropped:
        moved = _moved(p[key], axis, rank)
        return None if moved is None else ({**p, key: moved}, axis)
    return hook


def arg_reduce(p: Params, axis: int, rank: int) -> Dropped:
    """ArgMax, ArgMin: along `axis`; without keepdims the reduced axis leaves the output."""
    moved = _moved(p["axis"], axis, rank)
    if moved is None:
        return None
    out = axis if p["keepdims"] else axis - (p["axis"] % rank < axis)
    return {**p, "axis": moved}, out


def reduce(p: Params, axis: int, rank: int) -> Dropped:
    """Reduce*: each of `axes` moves down; None when the axis that goes is reduced."""
    moved = [_moved(a, axis, rank) for a in p["axes"]]
    if None in moved:
        return None
    out = axis if p["keepdims"] else axis - sum(a % rank < axis for a in p["axes"])
    return {**p, "axes": tuple(moved)}, out


def squeeze(p: Params, axis: int, rank: int) -> Dropped:
    """Squeeze: an axis it squeezes goes from `axes` (None when none would be left), the others move down."""
    axes = [a for a in p["axes"] if a % rank != axis]
    if not axes:
        return None
    if len(axes) < len(p["axes"]):
        return {**p, "axes": tuple(_moved(a, axis, rank) for a in axes)}, None
    return {**p, "axes": tuple(_moved(a, axis, rank) for a in axes)}, axis - sum(a % rank < axis for a in axes)


def slice_(p: Params, axis: int, rank: int) -> Dropped:
    """Slice: None when it slices the axis that goes; the others move down."""
    moved = [_moved(a, axis, rank) for a in p["axes"]]
    return None if None in moved else ({**p, "axes": tuple(moved)}, axis)


def transpose(p: Params, axis: int, rank: int) -> Dropped:
    """Transpose: the axis leaves `perm`, the rest renumbered; in the output it was where perm named it."""
    perm = tuple(a - (a > axis) for a in p["perm"] if a != axis)
    return {**p, "perm": perm}, p["perm"].index(axis)


def einsum(p: Params, axis: int, rank: int) -> Dropped:
    """Einsum: the axis' letter leaves the equation (None when the weight shares it), the letters then named
    a, b, c... in the order they first appear."""
    ins, out = p["equation"].split("->")
    x, _, weight = ins.partition(",")
    letter = x[axis]
    if letter in weight:
        return None
    where = out.index(letter) if letter in out else None
    equation = p["equation"].replace(letter, "")
    names = {c: chr(ord("a") + k) for k, c in enumerate(dict.fromkeys(c for c in equation if c.isalpha()))}
    return {**p, "equation": "".join(names.get(c, c) for c in equation)}, where
