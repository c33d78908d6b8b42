"""Cheap random numbers: several uniforms from one threefry block, and
integers from uniforms.

On CPU one threefry block per env costs about as much as a whole CartPole step,
and gymnax computes a reset at every step (to auto-reset), so a task that needs
several random numbers per step or reset draws 64 random bits once and spreads
them over as many numbers as it needs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cheap_uniforms(key: jax.Array, count: int) -> jax.Array:
    """`count` independent uniforms in [0, 1), float32, from a single threefry block.

    Each number hashes (seed, counter) with the murmur3 finaliser, a bijection
    with full avalanche, so neighbouring counters give unrelated numbers.
    """
    seed = jax.random.bits(key, (2,), jnp.uint32)
    counter = jnp.arange(count, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9) + seed[0]
    words = _murmur3_finalise(_murmur3_finalise(counter) ^ seed[1])
    # The top 24 bits: every float32 in the result is exact, and below 1.
    return (words >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def uniform_integer(uniform: jax.Array, size) -> jax.Array:
    """An integer in [0, size) from a uniform number in [0, 1)."""
    # The minimum guards against float32 rounding `uniform * size` up to `size`.
    return jnp.minimum(jnp.floor(uniform * size), size - 1).astype(jnp.int32)


def _murmur3_finalise(words: jax.Array) -> jax.Array:
    words = words ^ (words >> 16)
    words = words * jnp.uint32(0x85EBCA6B)
    words = words ^ (words >> 13)
    words = words * jnp.uint32(0xC2B2AE35)
    return words ^ (words >> 16)
