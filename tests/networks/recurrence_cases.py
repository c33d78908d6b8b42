"""Shared cases for the tests of the linear-recurrent models."""

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks import initialize
from memorax.networks.sequence_models import LinearAttention

FEATURES = 4


def built(module, key=0, features=FEATURES):
    initialize([module], jax.random.key(key), (features,))
    return module


@nnx.jit
def call(module, inputs, starts, carry):
    """module(inputs, starts, carry), compiled once per model and shape: a module called
    outside jit dispatches (and first compiles) every operation on its own."""
    return module(inputs, starts, carry)


def random_case(batch, time, seed=0, reset_probability=0.2):
    inputs = jax.random.normal(jax.random.key(seed), (batch, time, FEATURES))
    starts = jax.random.bernoulli(jax.random.key(seed + 1), reset_probability, (batch, time))
    return inputs, starts


def nonzero_carry(module, batch, seed=3):
    """A carry that could have been produced by the model (z >= 0 for linear attention)."""
    carry = module.initialize_carry(batch)
    leaves, treedef = jax.tree.flatten(carry)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    noisy = []
    for leaf, key in zip(leaves, keys):
        noise = jax.random.normal(key, leaf.shape)
        if jnp.iscomplexobj(leaf):
            noise = noise + 1j * jax.random.normal(jax.random.fold_in(key, 1), leaf.shape)
        noisy.append(leaf + noise)
    carry = jax.tree.unflatten(treedef, noisy)
    if isinstance(module, LinearAttention):
        carry = carry._replace(z=jnp.abs(carry.z))
    return carry
