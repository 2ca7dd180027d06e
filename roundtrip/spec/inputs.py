"""Input arrays for a spec, from its seed."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from roundtrip.spec.model import ModelSpec


def make_inputs(spec: ModelSpec, batch: int, sizes: Mapping[str, tuple[int, ...]] | None = None,
                ) -> list[np.ndarray]:
    """One array per input, shape `(batch, *size)`: float32 standard normal values (int32 ids in [0, ids)
    for an input of token ids) from the spec's seed, the batch and the size (so batch 1 and batch 3 are
    different draws, each reproducible)."""
    arrays = []
    for k, i in enumerate(spec.inputs):
        size = tuple((sizes or {}).get(i.name, i.shape))
        rng = np.random.default_rng([spec.seed, 1 + k, batch, *size])
        if i.ids:
            arrays.append(rng.integers(0, i.ids, (batch, *size)).astype(np.int32))
        else:
            arrays.append(rng.standard_normal((batch, *size)).astype(np.float32))
    return arrays
