"""Small networks and environments shared by the algorithm tests."""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper


def mlp_network(head, width: int = 16) -> Network:
    return Network(
        FeatureExtractor(observation_extractor=MLP(features=(width,))),
        SequenceModelWrapper(MLP(features=(width,))),
        head,
    )


def gru_network(head, width: int = 16) -> Network:
    return Network(
        FeatureExtractor(observation_extractor=MLP(features=(width,))),
        SequenceModelWrapper(RNN(nnx.GRUCell(width, width, rngs=nnx.Rngs(0)))),
        head,
    )


def assert_trees_equal(a, b):
    """Bit-identical pytrees (same structure, same values)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def trees_differ(a, b) -> bool:
    return any(
        not np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    )
