"""NetworkInputs: read from loops, transitions and replay rows; the final observation's
inputs; one call shape for networks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from memorax.algorithms.network_inputs import NetworkInputs
from memorax.algorithms.transition import Transition


def transition(batch=2):
    ones = jnp.ones(batch)
    return Transition(
        observation=jnp.zeros((batch, 3)),
        action=jnp.array([1, 0]),
        reward=jnp.array([0.5, -1.0]),
        done=ones.astype(bool),
        info={},
        terminated=jnp.zeros(batch, bool),
        truncated=ones.astype(bool),
        final_observation=jnp.full((batch, 3), 7.0),
        episode_start=ones.astype(bool),
        previous_action=jnp.zeros(batch, jnp.int32),
        previous_reward=jnp.zeros(batch),
    )


def test_the_same_inputs_from_attributes_and_from_replay_rows():
    step = transition()
    rows = {name: getattr(step, name) for name in ("observation", "episode_start", "previous_action", "previous_reward")}
    for a, b in zip(jax.tree.leaves(NetworkInputs.of(step)), jax.tree.leaves(NetworkInputs.of(rows)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_final_observation_inputs_follow_the_step():
    inputs = NetworkInputs.at_final_observation(transition(), jnp.int32)
    np.testing.assert_array_equal(inputs.observation, jnp.full((2, 3), 7.0))
    assert not inputs.episode_start.any()  # seen before the auto-reset
    np.testing.assert_array_equal(inputs.previous_action, [1, 0])
    assert inputs.previous_action.dtype == jnp.int32
    np.testing.assert_array_equal(inputs.previous_reward, [0.5, -1.0])


def test_one_step_and_run_call_in_network_order():
    inputs = NetworkInputs.of(transition()).as_one_step()
    assert inputs.observation.shape == (2, 1, 3) and inputs.episode_start.shape == (2, 1)
    seen = inputs.run(lambda *args, **head: (args, head), "carry", action=1)
    assert seen[0][4] == "carry" and seen[1] == {"action": 1}
    assert seen[0][0] is inputs.observation and seen[0][3] is inputs.previous_reward
