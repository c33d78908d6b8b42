"""Burn-in: the first steps of a sequence refresh the carry and pass no gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from memorax.algorithms.burn_in import after_burn_in, drop_after, drop_burn_in
from memorax.algorithms.network_inputs import NetworkInputs


def summing_network(weight):
    """A toy network: the carry adds up weight x observation over time."""

    def network(observation, episode_start, previous_action, previous_reward, carry, scale=1.0):
        contributions = scale * weight * observation
        return carry + contributions.sum(axis=1), contributions

    return network


def sequences(observation):
    """Network inputs of (batch, time) observations, nothing else set."""
    zeros = jnp.zeros(observation.shape)
    return NetworkInputs(observation, zeros.astype(bool), zeros, zeros)


def test_no_gradient_flows_back_through_the_burn_in():
    inputs = sequences(jnp.arange(1.0, 7.0).reshape(1, 6))  # 1 sequence, 6 steps

    def final_carry(weight):
        network = summing_network(weight)
        (carry,), rest = after_burn_in((network,), (jnp.zeros(1),), inputs, burn_in=2)
        return rest.run(network, carry)[0].sum()

    # value: the burn-in still refreshes the carry (1 + 2), then 3 + 4 + 5 + 6
    assert float(final_carry(1.0)) == 21.0
    # gradient: only the steps after the burn-in
    assert float(jax.grad(final_carry)(1.0)) == 18.0


def test_head_inputs_reach_the_burn_in_call_and_no_burn_in_changes_nothing():
    inputs = sequences(jnp.ones((2, 5)))
    network = summing_network(1.0)
    (carry,), rest = after_burn_in((network,), (jnp.zeros(2),), inputs, 3, ({"scale": jnp.full((2, 5), 2.0)},))
    np.testing.assert_array_equal(carry, [6.0, 6.0])
    assert rest.observation.shape == rest.previous_reward.shape == (2, 2)
    _, same_inputs = after_burn_in((network,), (jnp.zeros(2),), inputs, 0)
    assert same_inputs is inputs


def test_drop_after_and_drop_burn_in_split_the_time_axis():
    x = jnp.arange(12).reshape(2, 6)
    np.testing.assert_array_equal(jnp.concatenate([drop_after(x, 2), drop_burn_in(x, 2)], axis=1), x)
