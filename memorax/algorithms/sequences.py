"""Rollouts cut into training sequences: what the on-policy algorithms (PPO, PQN) share.

A rollout of `rollout_length` steps in `num_envs` environments is cut into sequences
of `sequence_length` steps; each sequence is replayed from the carry its environment
had when the rollout reached the sequence's first step, and its first `burn_in` steps
only refresh that carry. Memoryless networks train on single steps (fully shuffled),
networks with memory on the whole rollout by default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.algorithms import config as checks
from memorax.algorithms.environment_loop import one_step
from memorax.algorithms.metrics import mean_over_leading_axes


def tree_select(condition, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)


def sequence_length_for(cfg, recurrent: bool) -> int:
    """`cfg.sequence_length`, or its default: the rollout with memory, else 1 step."""
    length = cfg.sequence_length or (cfg.rollout_length if recurrent else 1)
    if cfg.rollout_length % length:
        checks.fail(
            cfg,
            "sequence_length",
            f"must divide rollout_length={cfg.rollout_length} (using {length})",
        )
    if cfg.burn_in >= length:
        checks.fail(
            cfg,
            "burn_in",
            f"must be shorter than the training sequences ({length} steps)",
        )
    sequences = cfg.num_envs * (cfg.rollout_length // length)
    if sequences % cfg.num_minibatches:
        checks.fail(
            cfg,
            "num_minibatches",
            f"must divide the {sequences} training sequences of an iteration "
            f"(num_envs={cfg.num_envs} x rollout_length={cfg.rollout_length} / sequence_length={length})",
        )
    return length


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
    of the carries stored at their starts (chunk-major)."""
    chunks = x.shape[0] // length
    x = x.reshape((chunks, length) + x.shape[1:])
    x = jnp.swapaxes(x, 1, 2)
    return x.reshape((chunks * x.shape[1], length) + x.shape[3:])


def sequence_inputs(transitions, length: int) -> dict:
    """The network inputs of time-major transitions, cut into sequences."""
    fields = (
        "observation",
        "episode_start",
        "previous_action",
        "previous_reward",
        "action",
    )
    return {
        field: to_sequences(getattr(transitions, field), length) for field in fields
    }


def start_carries_of_sequences(start_carries):
    """(chunks, N, ...) carries -> (chunks * N, ...), matching `to_sequences`."""
    return jax.tree.map(
        lambda c: c.reshape((c.shape[0] * c.shape[1],) + c.shape[2:]), start_carries
    )


def after_burn_in(networks, carries, inputs, burn_in: int, head_inputs=None):
    """`(carries, inputs)` for the steps after each sequence's first `burn_in` steps.

    Burn-in steps only refresh the carry (R2D2's burn-in): the networks run over them
    from `carries`, no loss sees their outputs and no gradient flows back through the
    refreshed carries. `inputs` are batch-first (sequence, time, ...); `head_inputs`,
    one dict per network (e.g. a Q head's `action`), go to the heads."""
    if not burn_in:
        return carries, inputs
    head = drop_after(inputs, burn_in)
    head_inputs = head_inputs or tuple({} for _ in networks)
    carries = tuple(
        jax.lax.stop_gradient(network(*head, carry, **drop_after(extra, burn_in))[0])
        for network, carry, extra in zip(networks, carries, head_inputs)
    )
    return carries, drop_burn_in(inputs, burn_in)


def drop_after(tree, steps: int):
    """The first `steps` steps of batch-first (sequence, time, ...) arrays."""
    return jax.tree.map(lambda x: x[:, :steps], tree)


def drop_burn_in(tree, burn_in: int):
    """The steps after the burn-in of batch-first (sequence, time, ...) arrays."""
    return jax.tree.map(lambda x: x[:, burn_in:], tree)


def at_truncations(transition, output_at_final_observation):
    """`output_at_final_observation()` where an episode was truncated, 0 elsewhere; only
    computed when some environment was truncated at this step."""

    def compute():
        return jnp.where(transition.truncated, output_at_final_observation(), 0.0)

    return jax.lax.cond(
        jnp.any(transition.truncated),
        compute,
        lambda: jnp.zeros_like(transition.reward),
    )


def final_observation_inputs(transition, action_dtype):
    """The network inputs of each final observation, seen right after the step."""
    batch = transition.reward.shape[0]
    return (
        one_step(transition.final_observation),
        jnp.zeros((batch, 1), bool),
        one_step(transition.action.astype(action_dtype)),
        one_step(transition.reward),
    )


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


def next_values(values, last_value, truncated, final_values):
    """The value that follows each step of a time-major rollout: the next step's, the
    value after the rollout for its last step, the final observation's where an
    episode was truncated (where it terminated the returns ignore it)."""
    following = jnp.concatenate([values[1:], last_value[None]], axis=0)
    return jnp.where(truncated, final_values, following)
