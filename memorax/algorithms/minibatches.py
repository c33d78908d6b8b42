"""The on-policy update loop (PPO, PQN): shuffled epochs over an iteration's training
sequences, each cut into minibatches."""

from __future__ import annotations

import jax

from memorax.algorithms.metrics import mean_over_leading_axes


def minibatch_epochs(
    minibatch_step,
    carry,
    num_sequences: int,
    key,
    num_epochs: int,
    num_minibatches: int,
):
    """`num_epochs` shuffled passes over the sequences in `num_minibatches` minibatches:
    `minibatch_step(carry, indices) -> (carry, metrics)`; metrics averaged."""

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, num_sequences)
        return jax.lax.scan(minibatch_step, carry, order.reshape(num_minibatches, -1))

    carry, metrics = jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
    return carry, mean_over_leading_axes(metrics, 2)
