"""Return targets against values computed by hand (gamma, lambda chosen so they are exact)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from memorax.algorithms.returns import (
    generalized_advantage_estimation,
    lambda_returns,
    n_step_returns,
    rescale_value,
    unrescale_value,
)

REWARDS = jnp.array([1.0, 0.0, 2.0])
VALUES = jnp.array([0.5, 1.0, 1.5])
NEXT_VALUES = jnp.array([1.0, 1.5, 2.0])
NONE = jnp.zeros(3, bool)
AT_1 = jnp.array([False, True, False])


def gae(next_values=NEXT_VALUES, terminated=NONE, truncated=NONE):
    return generalized_advantage_estimation(
        REWARDS, VALUES, next_values, terminated, truncated, gamma=0.9, gae_lambda=0.5
    )


def test_gae_without_episode_ends():
    # delta = (1.4, 0.35, 2.3); A_t = delta_t + 0.45 A_{t+1}
    advantages, returns = gae()
    np.testing.assert_allclose(advantages, [2.02325, 1.385, 2.3], rtol=1e-6)
    np.testing.assert_allclose(
        returns, np.asarray(advantages) + np.asarray(VALUES), rtol=1e-6
    )


def test_gae_termination_neither_bootstraps_nor_carries_the_trace():
    # delta_1 = 0 - 1.0 (no bootstrap); A_1 is not followed by A_2
    advantages, _ = gae(next_values=NEXT_VALUES.at[1].set(99.0), terminated=AT_1)
    np.testing.assert_allclose(advantages, [0.95, -1.0, 2.3], rtol=1e-6)


def test_gae_truncation_bootstraps_from_the_final_observation_only():
    # delta_1 = 0 + 0.9 * 3.0 - 1.0 = 1.7, trace cut after it
    advantages, _ = gae(next_values=NEXT_VALUES.at[1].set(3.0), truncated=AT_1)
    np.testing.assert_allclose(advantages, [2.165, 1.7, 2.3], rtol=1e-6)


@pytest.mark.parametrize(
    ("lambda_", "expected"),
    [
        # one-step targets r + 0.9 v'
        (0.0, [1.9, 1.35, 3.8]),
        # Monte Carlo, bootstrapped at the end: 3.8; 0 + 0.9 * 3.8; 1 + 0.9 * 3.42
        (1.0, [4.078, 3.42, 3.8]),
    ],
)
def test_lambda_returns_limits(lambda_, expected):
    targets = lambda_returns(REWARDS, NEXT_VALUES, NONE, NONE, 0.9, lambda_)
    np.testing.assert_allclose(targets, expected, rtol=1e-6)


def test_lambda_returns_are_batched_over_trailing_axes():
    rewards = jnp.stack([REWARDS, 2 * REWARDS], axis=1)
    next_values = jnp.stack([NEXT_VALUES, 2 * NEXT_VALUES], axis=1)
    flags = jnp.zeros((3, 2), bool)
    targets = lambda_returns(rewards, next_values, flags, flags, 0.9, 1.0)
    np.testing.assert_allclose(targets[:, 1], 2 * targets[:, 0], rtol=1e-6)


N_REWARDS = jnp.array([1.0, 2.0, 3.0, 4.0])
N_NEXT = jnp.array([10.0, 20.0, 30.0, 40.0])
N_NONE = jnp.zeros(4, bool)
N_AT_1 = jnp.array([False, True, False, False])


@pytest.mark.parametrize(
    ("terminated", "truncated", "expected"),
    [
        # 1 + .5*2 + .25*20 ; 2 + .5*3 + .25*30 ; 3 + .5*4 + .25*40 ; 4 + .5*40 (rollout end)
        (N_NONE, N_NONE, [7.0, 11.0, 15.0, 24.0]),
        # the episode terminates at step 1: nothing after it, no bootstrap
        (N_AT_1, N_NONE, [2.0, 2.0, 15.0, 24.0]),
        # truncated at step 1: bootstrap from its final observation's value (20)
        (N_NONE, N_AT_1, [7.0, 12.0, 15.0, 24.0]),
    ],
)
def test_two_step_returns(terminated, truncated, expected):
    returns = n_step_returns(N_REWARDS, N_NEXT, terminated, truncated, 0.5, 2)
    np.testing.assert_allclose(returns, expected, rtol=1e-6)


def test_one_step_returns_are_td_targets():
    returns = n_step_returns(N_REWARDS, N_NEXT, N_NONE, N_NONE, 0.5, 1)
    np.testing.assert_allclose(returns, N_REWARDS + 0.5 * N_NEXT, rtol=1e-6)


def test_value_rescaling_by_hand_and_inverse():
    np.testing.assert_allclose(
        rescale_value(jnp.array([0.0, 3.0, -8.0])), [0.0, 1.003, -2.008], rtol=1e-6
    )
    x = jnp.array([-1e4, -37.5, -1.0, 0.0, 0.25, 12.0, 1e4])
    np.testing.assert_allclose(
        unrescale_value(rescale_value(x)), x, rtol=1e-4, atol=1e-4
    )
