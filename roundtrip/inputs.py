"""Input arrays for a spec, from its seed."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from roundtrip.spec import ModelSpec


def make_inputs(spec: ModelSpec, batch: int, sizes: Mapping[str, tuple[int, ...]] | None = None,
                ) -> list[np.ndarray]:
    """One float32 array per input, shape `(batch, *size)`: standard normal values from the spec's seed,
    the batch and the size (so batch 1 and batch 3 are different draws, each reproducible)."""
    arrays = []
    for k, i in enumerate(spec.inputs):
        size = tuple((sizes or {}).get(i.name, i.shape))
        rng = np.random.default_rng([spec.seed, 1 + k, batch, *size])
        arrays.append(rng.standard_normal((batch, *size)).astype(np.float32))
    return arrays
