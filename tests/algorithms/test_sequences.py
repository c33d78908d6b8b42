"""Rollouts cut into sequences: each sequence lines up with the carry stored at its start."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from memorax.algorithms.sequences import rollout_in_sequences, start_carries_of_sequences, to_sequences


@struct.dataclass
class CountingLoop:
    carry: jax.Array  # counts the steps taken


def count_step(loop, key):
    """One step: record the carry the step started from, then count it."""
    return loop.replace(carry=loop.carry + 1), loop.carry


def test_each_sequence_starts_where_its_stored_carry_was_taken():
    num_envs, rollout_length, length = 3, 6, 2
    start = CountingLoop(carry=jnp.arange(num_envs) * 100)
    loop, carries, records = rollout_in_sequences(count_step, start, jax.random.key(0), rollout_length, length)
    assert records.shape == (rollout_length, num_envs)
    sequences = to_sequences(records, length)
    assert sequences.shape == (rollout_length // length * num_envs, length)
    np.testing.assert_array_equal(sequences[:, 0], start_carries_of_sequences(carries))
    np.testing.assert_array_equal(np.diff(sequences, axis=1), 1)  # consecutive steps
    np.testing.assert_array_equal(loop.carry, start.carry + rollout_length)
