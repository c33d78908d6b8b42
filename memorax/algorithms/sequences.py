"""Rollouts cut into training sequences, for the on-policy algorithms (PPO, PQN).

A rollout of `rollout_length` steps in `num_envs` environments is cut into sequences
of `sequence_length` steps (`config.sequence_length_for` picks and checks the
length); each sequence is replayed from the carry its environment had when the
rollout reached the sequence's first step. The replay algorithms (DQN, R2D2, SAC)
sample their sequences from a buffer instead (see replay.py).
"""

from __future__ import annotations

import jax

from memorax.algorithms.network_inputs import NetworkInputs


def rollout_in_sequences(env_step, loop, key, rollout_length: int, length: int):
    """Scan `env_step(loop, key) -> (loop, record)` for `rollout_length` steps; returns
    the new loop, the carries at every sequence start (chunks, num_envs, ...) and the
    records, time-major (rollout_length, num_envs, ...)."""

    def sequence(loop, step_keys):
        start_carry = loop.carry
        loop, records = jax.lax.scan(env_step, loop, step_keys)
        return loop, (start_carry, records)

    keys = jax.random.split(key, rollout_length).reshape(
        rollout_length // length, length
    )
    loop, (start_carries, records) = jax.lax.scan(sequence, loop, keys)
    merge_time = lambda x: x.reshape((rollout_length,) + x.shape[2:])
    return loop, start_carries, jax.tree.map(merge_time, records)


def to_sequences(x, length: int):
    """Time-major (T, N, ...) -> (T // length * N, length, ...) sequences, in the order
    of the carries stored at their starts (chunk-major). Any pytree of such arrays."""

    def cut(x):
        chunks = x.shape[0] // length
        x = x.reshape((chunks, length) + x.shape[1:])
        x = x.swapaxes(1, 2)
        return x.reshape((chunks * x.shape[1], length) + x.shape[3:])

    return jax.tree.map(cut, x)


def start_carries_of_sequences(start_carries):
    """(chunks, N, ...) carries -> (chunks * N, ...), matching `to_sequences`."""
    return jax.tree.map(
        lambda c: c.reshape((c.shape[0] * c.shape[1],) + c.shape[2:]), start_carries
    )


def training_sequences(transitions, start_carries, length: int, **per_step) -> dict:
    """An iteration's experience as training sequences, batch-first (sequence, time,
    ...): the network `inputs`, the `action` taken, the `carry` stored at each
    sequence's first step, and every time-major (T, N, ...) array of `per_step`
    (targets, log-probabilities...) cut the same way."""
    return {
        "inputs": to_sequences(NetworkInputs.of(transitions), length),
        "action": to_sequences(transitions.action, length),
        "carry": start_carries_of_sequences(start_carries),
        **to_sequences(per_step, length),
    }
