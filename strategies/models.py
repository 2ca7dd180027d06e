"""`keras_models`: a strategy of ModelSpec, valid by construction."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from roundtrip import LAYERS, InputSpec, LayerSpec, ModelSpec, make_inputs
from roundtrip.spec.model import DTYPES
from strategies.layers import FOCUS, NOT_IN_POLICY, NOT_SUBCLASSED, STRATEGIES, Draw, Site, Tensor

SEEDS = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class Options:
    min_layers: int
    max_layers: int
    layers: tuple[str, ...]
    input_ranks: tuple[int, ...]
    max_inputs: int
    dynamic_spatial: bool | None
    max_elements: int
    max_dim: int
    dtypes: tuple[str, ...]


def keras_models(
    *,
    min_layers: int = 1,
    max_layers: int = 6,
    layers: Sequence[str] | None = None,
    input_ranks: Sequence[int] = (2, 3, 4, 5),
    max_inputs: int = 2,
    dynamic_spatial: bool | None = None,
    max_elements: int = 2048,
    max_dim: int = 8,
    dtypes: Sequence[str] = DTYPES,
) -> st.SearchStrategy[ModelSpec]:
    """Specs of Keras models: one or more inputs, a DAG of layers, every dangling tensor an output.

    - min_layers, max_layers: how many layers (0 <= min_layers <= max_layers).
    - layers: the kinds to draw from (default: the whole vocabulary, `roundtrip.LAYERS`).  A kind that
      fits no tensor of a drawn model is simply not used.
    - input_ranks: ranks of the inputs, the batch axis included (2: features, 3: sequences,
      4: images, 5: volumes).
    - max_inputs: how many float inputs at most; an input no layer reads is dropped.  With Embedding among
      `layers`, one model in eight also has an input "tokens" of int32 ids, read by an Embedding.
    - dynamic_spatial: declare spatial dims None in Keras (True), never (False), or draw it (None).
    - max_elements: the most elements any tensor has, the batch excluded.
    - max_dim: the largest spatial dim of an input.
    - dtypes: the Keras dtype policies to draw from (`roundtrip.spec.model.DTYPES`); float32, when it is one of
      them, is drawn half of the time.

    A chain is a `keras.Sequential` half of the time; a quarter of the other models are subclassed
    (`keras.Model` subclasses whose `call` applies the layers).

    Examples shrink towards fewer layers, one input, smaller dims and channel counts, each layer's
    simplest parameters (no crop, window 1, stride 1, 'valid'), static shapes, seed 0, float32 and a
    functional model.
    """
    kinds = tuple(LAYERS) if layers is None else tuple(layers)
    _check(isinstance(min_layers, int) and min_layers >= 0, f"min_layers={min_layers!r} must be an int >= 0")
    _check(isinstance(max_layers, int) and max_layers >= min_layers,
           f"max_layers={max_layers!r} must be an int >= min_layers={min_layers!r}")
    unknown = [k for k in kinds if k not in LAYERS]
    _check(not unknown and bool(kinds), f"layers={list(kinds)!r} must be a non-empty subset of {sorted(LAYERS)}")
    _check(bool(input_ranks) and all(r in (2, 3, 4, 5) for r in input_ranks),
           f"input_ranks={input_ranks!r} must be a non-empty subset of (2, 3, 4, 5)")
    _check(isinstance(max_inputs, int) and max_inputs >= 1, f"max_inputs={max_inputs!r} must be an int >= 1")
    _check(dynamic_spatial in (None, True, False), f"dynamic_spatial={dynamic_spatial!r} must be a bool or None")
    _check(isinstance(max_dim, int) and max_dim >= 1, f"max_dim={max_dim!r} must be an int >= 1")
    _check(bool(dtypes) and all(d in DTYPES for d in dtypes),
           f"dtypes={dtypes!r} must be a non-empty subset of {DTYPES}")
    _check(isinstance(max_elements, int) and max_elements >= 2 ** max(input_ranks),
           f"max_elements={max_elements!r} must be an int >= {2 ** max(input_ranks)} for input_ranks={input_ranks!r}")
    options = Options(min_layers, max_layers, kinds, tuple(input_ranks), max_inputs, dynamic_spatial,
                      max_elements, max_dim, tuple(dtypes))
    return _models(options)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidArgument(message)


@st.composite
def _models(draw: Draw, options: Options) -> ModelSpec:
    tokens = draw(_tokens(options)) if "Embedding" in options.layers else None
    dynamic = draw(st.booleans()) if options.dynamic_spatial is None else options.dynamic_spatial
    pool = _draw_inputs(draw, options, dynamic)
    specs = []
    if tokens is not None:  # the ids input and its Embedding first: the chain goes on from the float inputs
        length, ids, params = tokens
        pool.insert(0, Tensor("tokens", (length,), (length,), ids))
        specs.append(LayerSpec.make("x1", "Embedding", "tokens", **params))
    inputs = {t.name: t for t in pool}
    used: set[str] = {la.inputs[0] for la in specs}
    pool[1:1] = [Tensor(la.name, *_shapes(la, pool)) for la in specs]
    steps = 2 * options.max_layers
    for step in range(steps):
        if len(specs) == options.max_layers:
            break
        must = options.min_layers - len(specs) >= steps - step  # every step left must add a layer
        may_stop = len(specs) >= options.min_layers
        floats = tuple(t for t in pool if not t.ids)
        layer = draw(_steps(options, floats, f"x{len(specs) + 1}", must, may_stop))
        if layer is STOP:
            break
        if layer is SKIP:
            continue
        used.update(layer.inputs)
        specs.append(layer)
        pool.append(Tensor(layer.name, *_shapes(layer, pool)))
    kept = [inputs[n] for n in inputs if n in used] or [pool[0]]
    outputs = tuple(t.name for t in pool if t.name not in used and t.name not in inputs) or (kept[0].name,)
    chain = len(kept) == 1 and len(outputs) == 1 and all(
        la.inputs == ((specs[i - 1].name,) if i else (kept[0].name,)) for i, la in enumerate(specs))
    picks = any(LAYERS[la.kind].pick(LAYERS[la.kind].check_params(la.p, la.name)) is not None for la in specs)
    sequential = chain and not picks and bool(specs) and draw(st.booleans())
    return ModelSpec(
        inputs=tuple(InputSpec(t.name, t.shape, dynamic, t.ids) for t in kept),
        layers=tuple(specs),
        outputs=outputs,
        seed=draw(SEEDS),
        sequential=sequential,
        dtype=draw(_policies(_policies_for(options.dtypes, {la.kind for la in specs}))),
        subclassed=_subclassed(draw, sequential, {la.kind for la in specs}),
    )


def _subclassed(draw: Draw, sequential: bool, kinds: set[str]) -> bool:
    """A quarter of the models that are not Sequential, when Keras can build them so (drawn last; shrinks to
    a functional model)."""
    wanted = draw(st.integers(0, 3)) == 3  # drawn whatever the model, so that the choices after it stay aligned
    return wanted and not sequential and not kinds & set(NOT_SUBCLASSED)


def _policies_for(dtypes: tuple[str, ...], kinds: set[str]) -> tuple[str, ...]:
    """The policies under which every drawn kind runs in Keras (drawn last, so that the layers shrink as
    they would without it); float32 when none of those asked for is."""
    return tuple(d for d in dtypes if not kinds & set(NOT_IN_POLICY.get(d, ()))) or ("float32",)


def _policies(dtypes: tuple[str, ...]) -> st.SearchStrategy[str]:
    """float32 (first, so examples shrink to it) half of the time, when allowed; the others evenly."""
    others = [d for d in dtypes if d != "float32"]
    if "float32" not in dtypes or not others:
        return st.sampled_from(dtypes)
    return st.sampled_from(["float32"] * len(others) + others)


def _draw_inputs(draw: Draw, options: Options, dynamic: bool) -> list[Tensor]:
    count = draw(st.integers(1, options.max_inputs))
    first = _draw_shape(draw, options)
    # Further inputs copy the first one's shape unless drawn otherwise (so they can be merged).
    shapes = [first] + [_draw_shape(draw, options) if draw(st.booleans()) else first for _ in range(count - 1)]
    tensors = []
    for k, shape in enumerate(shapes):
        declared = InputSpec("in", shape, dynamic).declared
        tensors.append(Tensor(f"in{k}", shape, declared))
    return tensors


@st.composite
def _tokens(draw: Draw, options: Options) -> tuple[int, int, dict[str, int]] | None:
    """Whether the model also reads token ids: one model in eight (every one when Embedding is the only
    kind).  None, or (length, ids, the Embedding's params) for an input "tokens" of int32 ids (batch, length)
    in [0, ids) and the Embedding on it, the only layer that may read it.  Drawn first, and every choice
    drawn whether or not the model reads ids, so that shrinking to None leaves the rest of the model as it
    was; shrinks to None, then to length 1, 2 ids, input_dim = ids, output_dim 1."""
    wanted = options.layers == ("Embedding",) or draw(st.integers(0, 7)) == 7
    length, ids, extra = draw(st.integers(1, options.max_dim)), draw(st.integers(2, 16)), draw(st.integers(0, 2))
    output_dim = draw(st.integers(1, min(8, options.max_elements // length)))
    return (length, ids, {"input_dim": ids + extra, "output_dim": output_dim}) if wanted else None


def _draw_shape(draw: Draw, options: Options) -> tuple[int, ...]:
    """Dims drawn one by one within what the element budget leaves; the last is the channel dim."""
    rank = draw(st.sampled_from(options.input_ranks)) - 1
    dims: list[int] = []
    for axis in range(rank):
        room = options.max_elements // math.prod(dims)
        high = options.max_dim if axis < rank - 1 or rank == 1 else 4
        dims.append(draw(st.integers(1, max(1, min(high, room)))))
    return tuple(dims)


SKIP, STOP = "skip", "stop"


@st.composite
def _steps(draw: Draw, options: Options, pool: tuple[Tensor, ...], name: str, must: bool, may_stop: bool,
           ) -> LayerSpec | str:
    """One step: a layer, SKIP or STOP.  A step whose draws are all zero is SKIP, so the shrinker's
    pass that zeroes a span deletes a layer from the middle of a model; lowering a step's flag to 1
    cuts the model there."""
    flag = draw(st.integers(0, 7))
    if not must and flag == 0:
        return SKIP
    if not must and flag == 1 and may_stop:
        return STOP
    # Mostly a chain (the latest tensor); one layer in four branches off an earlier one.
    most = options.max_layers + options.max_inputs  # a fixed range, whatever was drawn before
    where = draw(st.integers(0, 4 * most - 1))
    x = pool[-1 - min(where - 3 * most, len(pool) - 1)] if where >= 3 * most else pool[-1]
    site = Site(x, pool, options.max_elements)
    kinds = [k for k in options.layers if STRATEGIES[k].applies(site)] or ["Dropout"]  # Dropout fits anything
    # The focus kinds that fit are drawn more often than the rest, crops most, in proportion to how many kinds
    # fit (so a wider vocabulary does not crowd them out): with 60 kinds, crops 20 times, the others 6 times
    # (Flatten and Reshape also come as the layers after the rank-changing kinds: weighted more, they crowd out
    # the rest of the vocabulary).
    crop, other = max(7, len(kinds) // 3), max(3, len(kinds) // 10)
    weighted = kinds + [k for k in kinds if k in FOCUS for _ in range((crop if "Crop" in k else other) - 1)]
    kind = draw(st.sampled_from(weighted))
    params, others = STRATEGIES[kind].draw(draw, site)
    return LayerSpec.make(name, kind, (x.name, *others), **params)


def _shapes(layer: LayerSpec, pool: list[Tensor]) -> tuple[tuple[int, ...], tuple[int | None, ...]]:
    entry = LAYERS[layer.kind]
    params = entry.check_params(layer.p, layer.name)
    by_name = {t.name: t for t in pool}
    ins = [by_name[n] for n in layer.inputs]
    concrete = entry.shape(params, [t.shape for t in ins])
    return tuple(concrete), entry.shape(params, [t.declared for t in ins])  # type: ignore[arg-type]


def inputs_for(spec: ModelSpec, *, batch: int, sizes: dict[str, tuple[int, ...]] | None = None,
               ) -> list[np.ndarray]:
    """The input arrays for `spec`: float32, `(batch, *shape)`, from the spec's seed (see
    `roundtrip.make_inputs`).  `sizes` gives other non-batch shapes, by input name, for dynamic specs."""
    if not isinstance(batch, int) or batch < 1:
        raise InvalidArgument(f"batch={batch!r} must be an int >= 1")
    return make_inputs(spec, batch, sizes)
