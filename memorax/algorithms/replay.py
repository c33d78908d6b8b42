"""A replay buffer of per-environment columns, sampled as windows of consecutive steps.

Row r of the buffer holds step r (modulo the capacity) of every environment, so a
window of rows in one column is a real stretch of one environment's experience, which
recurrent networks replay in order. Windows may cross episode starts (the networks
reset their carry at the `episode_start` flags stored with the data) but never the
write pointer, where the newest row sits next to the oldest one.

The buffer is a pytree and every function is pure, so it lives in an algorithm's
state and runs under `jax.jit` and `jax.vmap`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
    """A circular buffer of `capacity` rows of `num_envs` steps."""

    data: Any  # pytree, leaves (capacity, num_envs, ...)
    position: jax.Array  # int32, the next row to write
    size: jax.Array  # int32, rows written so far (at most the capacity)
    priority: jax.Array  # (capacity, num_envs): of the window starting at each row


def create_buffer(example_step, capacity: int) -> ReplayBuffer:
    """An empty buffer for steps shaped like `example_step` (leaves (num_envs, ...))."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(
            f"create_buffer: capacity must be a positive integer, got {capacity!r}."
        )
    leaves = jax.tree.leaves(example_step)
    if not leaves:
        raise ValueError("create_buffer: example_step has no arrays to store.")
    num_envs = jnp.shape(leaves[0])[0]
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype),
        example_step,
    )
    return ReplayBuffer(
        data=data,
        position=jnp.int32(0),
        size=jnp.int32(0),
        priority=jnp.ones((capacity, num_envs), jnp.float32),
    )


def capacity_of(buffer: ReplayBuffer) -> int:
    return buffer.priority.shape[0]


def max_priority(buffer: ReplayBuffer) -> jax.Array:
    """The largest priority among written rows (1 while the buffer is empty)."""
    written = jnp.arange(capacity_of(buffer)) < buffer.size
    highest = jnp.max(jnp.where(written[:, None], buffer.priority, 0.0))
    return jnp.where(buffer.size > 0, highest, 1.0)


def add(buffer: ReplayBuffer, step, priority=None) -> ReplayBuffer:
    """Write one row (leaves (num_envs, ...)) over the oldest one. The new row's
    windows get `priority`, or the largest priority so far so that new experience is
    replayed at least once soon (prioritised replay's rule)."""
    capacity = capacity_of(buffer)
    row = buffer.position
    data = jax.tree.map(lambda column, x: column.at[row].set(x), buffer.data, step)
    new_priority = max_priority(buffer) if priority is None else priority
    return ReplayBuffer(
        data=data,
        position=(row + 1) % capacity,
        size=jnp.minimum(buffer.size + 1, capacity),
        priority=buffer.priority.at[row].set(new_priority),
    )


def can_sample(buffer: ReplayBuffer, length: int) -> jax.Array:
    """Whether at least one window of `length` consecutive rows is written."""
    return buffer.size >= length


def _oldest_row(buffer: ReplayBuffer) -> jax.Array:
    return (buffer.position - buffer.size) % capacity_of(buffer)


def _gather(buffer: ReplayBuffer, start, env, length: int):
    """Windows of `length` rows from rows `start` (batch,) of columns `env` (batch,)."""
    rows = (start[:, None] + jnp.arange(length)) % capacity_of(buffer)
    return jax.tree.map(lambda x: x[rows, env[:, None]], buffer.data)


def sample_sequences(buffer: ReplayBuffer, key, batch_size: int, length: int):
    """`batch_size` windows drawn uniformly among the valid ones: `(sequences,
    (start_row, env))`, sequences batch-first (batch_size, length, ...). Only
    meaningful when `can_sample(buffer, length)`."""
    row_key, env_key = jax.random.split(key)
    num_starts = jnp.maximum(buffer.size - length + 1, 1)
    offset = jax.random.randint(row_key, (batch_size,), 0, num_starts)
    env = jax.random.randint(env_key, (batch_size,), 0, buffer.priority.shape[1])
    start = (_oldest_row(buffer) + offset) % capacity_of(buffer)
    return _gather(buffer, start, env, length), (start, env)


def valid_starts(buffer: ReplayBuffer, length: int) -> jax.Array:
    """(capacity,) booleans: a window of `length` rows starting there is all written
    data in chronological order (it does not run past the newest row)."""
    offset = (jnp.arange(capacity_of(buffer)) - _oldest_row(buffer)) % capacity_of(
        buffer
    )
    return offset + length <= buffer.size


def sample_prioritised(
    buffer: ReplayBuffer,
    key,
    batch_size: int,
    length: int,
    priority_exponent: float,
    importance_exponent: float,
):
    """Windows drawn with probability P(i) = p_i^alpha / sum_j p_j^alpha over the
    valid windows (Schaul et al., 2016): `(sequences, (start_row, env),
    importance_weights)`. The weights (N P(i))^-beta, N the number of valid windows,
    are divided by the batch's largest so that they only ever scale updates down."""
    valid = valid_starts(buffer, length)[:, None]
    scores = jnp.where(valid, buffer.priority**priority_exponent, 0.0)
    total = jnp.sum(scores)
    probabilities = (scores / jnp.where(total > 0, total, 1.0)).reshape(-1)
    flat = jax.random.choice(
        key, probabilities.shape[0], (batch_size,), p=probabilities
    )
    start, env = jnp.divmod(flat, buffer.priority.shape[1])
    count = jnp.sum(valid) * buffer.priority.shape[1]
    chosen = probabilities[flat]
    weights = jnp.where(
        chosen > 0, (count * chosen) ** (-importance_exponent), 0.0
    )  # zero only when nothing can be sampled yet
    weights = weights / jnp.maximum(jnp.max(weights), 1e-12)
    return _gather(buffer, start, env, length), (start, env), weights


MIN_PRIORITY = 1e-6  # a window learned perfectly once may still be replayed


def update_priorities(buffer: ReplayBuffer, index, priorities) -> ReplayBuffer:
    """Set the priorities of the windows `index = (start_row, env)` (batch,), at
    least MIN_PRIORITY."""
    start, env = index
    floored = jnp.maximum(priorities.astype(jnp.float32), MIN_PRIORITY)
    priority = buffer.priority.at[start, env].set(floored)
    return buffer.replace(priority=priority)
