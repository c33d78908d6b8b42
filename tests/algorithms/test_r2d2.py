"""R2D2: priorities, rescaled n-step targets, stored carries, the contract, errors
and learning CartPole with a GRU."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from memorax.algorithms.config import ConfigError
from memorax.algorithms.r2d2 import (
    R2D2,
    R2D2Config,
    rescaled_n_step_targets,
    sequence_priority,
)
from memorax.environments import make
from memorax.networks import heads
from tests.algorithms.agents import (
    assert_trees_equal,
    check_evaluate_leaves_the_state_untouched,
    check_nan_observations_are_flagged,
    gru_network,
    trees_differ,
)

TINY = R2D2Config(
    num_envs=2,
    buffer_size=64,
    batch_size=4,
    sequence_length=4,
    burn_in=2,
    n_step=2,
    learning_starts=16,
    train_frequency=2,
)


def gru_q_network(width=16, head=None):
    return gru_network(head or heads.DiscreteQNetwork(action_dim=2), width)


@pytest.fixture(scope="module")
def cartpole():
    return make("CartPole-v1")


def agent_for(cartpole, cfg=TINY):
    env, params = cartpole
    return R2D2(cfg, env, params, gru_q_network(), optax.adam(1e-3))


@pytest.fixture(scope="module")
def agent(cartpole):
    """One agent for the tests that train it, so its programs compile once."""
    return agent_for(cartpole)


def h(x, epsilon=1e-3):
    return np.sign(x) * (np.sqrt(np.abs(x) + 1) - 1) + epsilon * x


# Pieces ----------------------------------------------------------------------------


def test_sequence_priority_mixes_max_and_mean():
    td = jnp.array([[1.0, -3.0, 2.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        sequence_priority(td, 0.9), [0.9 * 3 + 0.1 * 2, 0.0], rtol=1e-6
    )
    np.testing.assert_allclose(sequence_priority(td, 0.0), [2.0, 0.0], rtol=1e-6)


def test_rescaled_n_step_targets_by_hand():
    reward = jnp.array([[1.0, 2.0, 3.0, 4.0]])
    values = np.array([10.0, 20.0, 30.0, 40.0])  # of the observation after each step
    terminated = jnp.array([[False, False, True, False]])
    none = jnp.zeros((1, 4), bool)

    def targets(truncated):
        return rescaled_n_step_targets(
            reward, jnp.asarray(h(values))[None], terminated, truncated, 0.5, 2, 1e-3
        )

    # G0 = 1 + .5*2 + .25*20; G1 = 2 + .5*3 (terminal at 2); G2 = 3; G3 = 4 + .5*40
    np.testing.assert_allclose(
        targets(none), h(np.array([[7.0, 3.5, 3.0, 24.0]])), rtol=1e-4
    )
    # truncated at 0: stop there and bootstrap from the final observation's value
    np.testing.assert_allclose(
        targets(none.at[0, 0].set(True))[0, 0], h(6.0), rtol=1e-4
    )


# Agent -----------------------------------------------------------------------------


def test_buffer_keeps_the_carry_before_each_step(agent):
    key, state = agent.init(jax.random.key(0))
    key, state, _ = agent.train(key, state, num_steps=48)  # 24 rows, no wrap yet
    stored = state.buffer.data["carry"]
    initial = agent._initial_carry(state, 2)
    assert_trees_equal(jax.tree.map(lambda c: c[0], stored), initial)
    # the second row's carry is the network's after the first observation
    assert trees_differ(jax.tree.map(lambda c: c[1], stored), initial)
    assert agent.window_length == 2 + 4 + 2


def test_priorities_are_updated_after_learning(agent):
    key, state = agent.init(jax.random.key(1))
    key, state, transitions = agent.train(key, state, num_steps=48)
    metrics = transitions.info["metrics"]
    assert float(metrics["updates_applied"]) > 0
    assert np.isfinite(float(metrics["loss"]))
    written = np.asarray(state.buffer.priority)[: int(state.buffer.size)]
    assert not np.allclose(written, 1.0)  # sampled windows got their TD priorities
    assert not bool(metrics["nonfinite"])


def test_nan_observations_set_the_nonfinite_flag(agent):
    check_nan_observations_are_flagged(agent, 48)


def test_vmap_over_seeds_and_determinism(agent):
    train = jax.vmap(lambda k, s: agent.train(k, s, num_steps=48))
    init = lambda: jax.vmap(agent.init)(jax.random.split(jax.random.key(2), 2))
    _, states, _ = train(*init())
    _, again, _ = train(*init())
    assert states.step.tolist() == [48, 48]
    assert_trees_equal(states, again)
    assert trees_differ(
        jax.tree.map(lambda x: x[0], states.params),
        jax.tree.map(lambda x: x[1], states.params),
    )


def test_evaluate_leaves_the_state_untouched(agent):
    key, state = agent.init(jax.random.key(3))
    key, state, _ = agent.train(key, state, num_steps=48)
    metrics = check_evaluate_leaves_the_state_untouched(agent, key, state, 2)
    assert bool(metrics["all_finished"])


# Errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, name",
    [
        ({"burn_in": -1}, "burn_in"),
        ({"n_step": 6, "sequence_length": 5, "burn_in": 2}, "n_step"),
        ({"priority_eta": 1.5}, "priority_eta"),
        ({"importance_exponent": -0.1}, "importance_exponent"),
        ({"n_step": 0}, "n_step"),
        ({"gamma": 2.0}, "gamma"),
        ({"rescale_epsilon": float("inf")}, "rescale_epsilon"),
        ({"priority_exponent": float("nan")}, "priority_exponent"),
        ({"batch_size": 100, "buffer_size": 100, "num_envs": 1}, "batch_size"),
    ],
)
def test_bad_config_values(fields, name):
    with pytest.raises(ConfigError, match=f"R2D2Config.{name}"):
        R2D2Config(**fields)


def test_buffer_too_small_for_a_window():
    with pytest.raises(ConfigError, match=r"R2D2Config\.buffer_size"):
        R2D2Config(num_envs=2, buffer_size=60)  # 30 rows < 10 + 20 + 5


def test_wrong_head(cartpole):
    env, params = cartpole
    with pytest.raises(TypeError, match="DiscreteQNetwork"):
        R2D2(TINY, env, params, gru_q_network(head=heads.VNetwork()), optax.adam(1e-3))
    with pytest.raises(TypeError, match="R2D2Config"):
        R2D2(object(), env, params, gru_q_network(), optax.adam(1e-3))


# Learning --------------------------------------------------------------------------


@pytest.mark.slow
def test_r2d2_with_a_gru_learns_cartpole(cartpole):
    """Defaults with a GRU(64): evaluation reaches 200 within 40k env steps (seeds
    0-2 pass 300 by 20k; the best evaluation is kept as Q-learning oscillates)."""
    env, params = cartpole
    agent = R2D2(R2D2Config(), env, params, gru_q_network(64), optax.adam(1e-3))
    key, state = agent.init(jax.random.key(0))
    best = 0.0
    for _ in range(4):
        key, state, _ = agent.train(key, state, num_steps=10_000)
        key, metrics = agent.evaluate(key, state, num_episodes=20)
        best = max(best, float(metrics["mean_return"]))
        if best >= 200:
            break
    assert best >= 200, best
