"""The sequence replay buffer: windows are real consecutive steps of one environment."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.algorithms.replay import (
    MIN_PRIORITY,
    add,
    can_sample,
    create_buffer,
    sample_prioritised,
    sample_sequences,
    update_priorities,
    valid_starts,
)

NUM_ENVS = 2


def step_row(t):
    """Row t: `time` t in every env, `env` its column, a nested leaf of shape (3,)."""
    envs = jnp.arange(NUM_ENVS)
    return {
        "time": jnp.full(NUM_ENVS, t, jnp.int32),
        "env": envs,
        "nested": {"vector": jnp.stack([envs, envs, envs], 1).astype(jnp.float32) + t},
    }


def filled(capacity, steps):
    buffer = create_buffer(step_row(0), capacity)
    return jax.lax.fori_loop(0, steps, lambda t, b: add(b, step_row(t)), buffer)


def test_create_rejects_bad_capacity():
    with pytest.raises(ValueError, match="capacity"):
        create_buffer(step_row(0), 0)


def test_add_counts_and_wraps():
    buffer = filled(4, 6)
    assert int(buffer.size) == 4 and int(buffer.position) == 2
    # rows 0, 1 were overwritten by steps 4, 5
    np.testing.assert_array_equal(buffer.data["time"][:, 0], [4, 5, 2, 3])


def test_can_sample_needs_a_whole_window():
    assert not bool(can_sample(filled(8, 2), 3))
    assert bool(can_sample(filled(8, 3), 3))


@pytest.mark.parametrize("steps", [5, 11, 13])
def test_windows_are_consecutive_and_never_cross_the_write_pointer(steps):
    capacity, length = 6, 3
    buffer = filled(capacity, steps)
    windows, (start, env) = sample_sequences(buffer, jax.random.key(0), 256, length)
    times = np.asarray(windows["time"])
    assert times.shape == (256, length)
    np.testing.assert_array_equal(np.diff(times, axis=1), 1)
    # only the last `capacity` steps are in the buffer
    assert times.min() >= max(0, steps - capacity) and times.max() <= steps - 1
    env = np.broadcast_to(np.asarray(env)[:, None], times.shape)
    np.testing.assert_array_equal(np.asarray(windows["env"]), env)
    np.testing.assert_array_equal(
        np.asarray(windows["nested"]["vector"])[..., 0], times + env
    )
    np.testing.assert_array_equal(np.asarray(start), times[:, 0] % capacity)


def test_uniform_sampling_covers_every_valid_window_evenly():
    capacity, length, steps = 5, 2, 7  # 4 valid starts x 2 envs
    buffer = filled(capacity, steps)
    draws = 8000
    windows, _ = sample_sequences(buffer, jax.random.key(1), draws, length)
    first = (
        np.asarray(windows["time"])[:, 0] * NUM_ENVS + np.asarray(windows["env"])[:, 0]
    )
    counts = np.bincount(first, minlength=steps * NUM_ENVS)
    expected = np.zeros(steps * NUM_ENVS)
    for t in range(steps - capacity, steps - length + 1):
        expected[t * NUM_ENVS : (t + 1) * NUM_ENVS] = draws / 8
    chi_square = np.sum((counts - expected) ** 2 / np.maximum(expected, 1))
    assert np.all(counts[expected == 0] == 0)
    assert chi_square < 25  # 7 degrees of freedom: p < 0.001 above ~24.3


def test_prioritised_sampling_follows_priorities_to_the_alpha():
    capacity, length, alpha = 4, 2, 0.5
    buffer = filled(capacity, 4)  # full, valid starts rows 0, 1, 2
    priorities = jnp.array([[1.0, 4.0], [9.0, 16.0], [25.0, 36.0], [100.0, 100.0]])
    buffer = buffer.replace(priority=priorities)
    draws = 20000
    _, (start, env), _ = sample_prioritised(
        buffer, jax.random.key(2), draws, length, alpha, 0.4
    )
    counts = np.bincount(np.asarray(start) * NUM_ENVS + np.asarray(env), minlength=8)
    scores = np.array([1, 2, 3, 4, 5, 6, 0, 0], float)  # sqrt(p); row 3 would wrap
    np.testing.assert_allclose(counts / draws, scores / scores.sum(), atol=0.015)
    assert counts[6:].sum() == 0


def test_importance_weights_formula():
    buffer = filled(4, 4).replace(priority=jnp.array([[1.0, 3.0], [2.0, 2.0]] * 2))
    alpha, beta = 1.0, 0.5
    _, (start, env), weights = sample_prioritised(
        buffer, jax.random.key(3), 64, 3, alpha, beta
    )
    p = np.asarray(buffer.priority)[:2]  # valid starts: rows 0 and 1
    probabilities = p / p.sum()
    raw = (4 * probabilities[np.asarray(start), np.asarray(env)]) ** -beta
    np.testing.assert_allclose(weights, raw / raw.max(), rtol=1e-5)


def test_new_rows_get_the_largest_priority_and_updates_stick():
    buffer = filled(6, 3)
    buffer = update_priorities(
        buffer, (jnp.array([0, 1]), jnp.array([1, 0])), jnp.array([5.0, 0.5])
    )
    assert float(buffer.priority[0, 1]) == 5.0 and float(buffer.priority[1, 0]) == 0.5
    buffer = add(buffer, step_row(3))
    np.testing.assert_array_equal(buffer.priority[3], [5.0, 5.0])
    buffer = add(buffer, step_row(4), priority=2.0)
    np.testing.assert_array_equal(buffer.priority[4], [2.0, 2.0])


def test_valid_starts_after_wrap_around():
    buffer = filled(5, 7)  # rows hold steps [5, 6, 2, 3, 4]; oldest row 2
    np.testing.assert_array_equal(
        valid_starts(buffer, 3), [False, False, True, True, True]
    )


def test_works_under_jit_and_vmap():
    @jax.jit
    def fill_and_sample(key):
        buffer = create_buffer(step_row(0), 5)
        buffer = jax.lax.fori_loop(0, 8, lambda t, b: add(b, step_row(t)), buffer)
        uniform, _ = sample_sequences(buffer, key, 16, 3)
        prioritised, _, weights = sample_prioritised(buffer, key, 16, 3, 0.6, 0.4)
        return uniform["time"], prioritised["time"], weights

    keys = jax.random.split(jax.random.key(4), 2)
    uniform, prioritised, weights = jax.vmap(fill_and_sample)(keys)
    assert uniform.shape == prioritised.shape == (2, 16, 3)
    for times in (np.asarray(uniform), np.asarray(prioritised)):
        np.testing.assert_array_equal(np.diff(times, axis=-1), 1)
        assert times.min() >= 3
    np.testing.assert_allclose(weights, 1.0)  # equal priorities


def test_a_zero_priority_is_floored_so_the_window_can_come_back():
    buffer = update_priorities(filled(6, 3), (jnp.array([0]), jnp.array([1])), jnp.array([0.0]))
    assert float(buffer.priority[0, 1]) == np.float32(MIN_PRIORITY)
