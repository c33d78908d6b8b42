"""PQN: Q(lambda) targets by hand, configuration errors, the compiled contract (vmap,
determinism, evaluation purity, recurrent networks) and learning CartPole."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from memorax.algorithms.config import ConfigError
from memorax.algorithms.pqn import PQN, PQNConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper
from memorax.networks.heads import Categorical, DiscreteQNetwork
from tests.algorithms.agents import (
    check_evaluate_leaves_the_state_untouched,
    check_nan_observations_are_flagged,
    check_training_is_deterministic,
    check_vmap_over_two_seeds,
)

TINY = {"num_envs": 2, "rollout_length": 4, "num_epochs": 1, "num_minibatches": 2}


def q_network(width=16, recurrent=False):
    torso = (
        RNN(nnx.GRUCell(width, width, rngs=nnx.Rngs(0)))
        if recurrent
        else MLP((width,), layer_norm=True)
    )
    return Network(
        FeatureExtractor(MLP((width,), layer_norm=True)),
        SequenceModelWrapper(torso),
        DiscreteQNetwork(2),
    )


def make_agent(network=None, lr=1e-3, **overrides):
    env, params = make("CartPole-v1")
    cfg = PQNConfig(**{**TINY, **overrides})
    return PQN(cfg, env, params, network or q_network(), optax.adam(lr))


@pytest.fixture(scope="module")
def agent():
    return make_agent()


# Targets ----------------------------------------------------------------------------

AT_1 = jnp.array([[False], [True], [False]])
NONE = jnp.zeros((3, 1), bool)


def targets(terminated=NONE, truncated=NONE):
    agent = make_agent(gamma=0.9, q_lambda=0.5)
    transitions = SimpleNamespace(
        reward=jnp.array([[1.0], [0.0], [2.0]]),
        terminated=terminated,
        truncated=truncated,
    )
    max_q = jnp.array([[0.5], [1.0], [1.5]])
    final_value = jnp.where(truncated, 3.0, 0.0)
    return agent.q_lambda_targets(transitions, max_q, final_value, jnp.array([2.0]))


def test_targets_without_episode_ends():
    # G_2 = 2 + 0.9 * 2; G_1 = 0 + 0.9 (0.5 * 1.5 + 0.5 G_2); G_0 = 1 + 0.9 (0.5 * 1 + 0.5 G_1)
    np.testing.assert_allclose(targets()[:, 0], [2.52325, 2.385, 3.8], rtol=1e-5)


def test_truncation_bootstraps_from_the_final_observation():
    # G_1 = 0 + 0.9 * 3.0 (the final observation's max Q), the trace cut there
    result = targets(truncated=AT_1)[:, 0]
    np.testing.assert_allclose(result, [2.665, 2.7, 3.8], rtol=1e-5)


def test_termination_does_not_bootstrap():
    result = targets(terminated=AT_1)[:, 0]
    np.testing.assert_allclose(result, [1.45, 0.0, 3.8], rtol=1e-5)


def test_final_values_are_max_q_of_the_final_observation(agent):
    _key, state = agent.init(jax.random.key(0))
    final_observation = jnp.array([[0.1, -0.2, 0.03, 0.4], [1.0, 1.0, 1.0, 1.0]])
    transition = SimpleNamespace(
        reward=jnp.ones(2),
        action=jnp.array([1, 0], jnp.int32),
        truncated=jnp.array([True, False]),
        final_observation=final_observation,
    )
    carry = agent._initial_carry(state, 2)
    values = agent._final_values(state.params, transition, carry)
    _, q = agent.merged(state.params)(final_observation[:, None])
    np.testing.assert_allclose(values, [jnp.max(q[0, 0]), 0.0], rtol=1e-6)


def test_epsilon_decays_linearly_in_env_steps():
    agent = make_agent(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=100)
    np.testing.assert_allclose(
        [agent.epsilon(s) for s in (0, 50, 100, 1000)], [1.0, 0.55, 0.1, 0.1], rtol=1e-6
    )


# Configuration errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_minibatches": 3}, "num_minibatches"),
        ({"sequence_length": 2, "burn_in": 2}, "burn_in"),
        ({"sequence_length": 3}, "sequence_length"),
        ({"gamma": 1.5}, "gamma"),
        ({"epsilon_end": -0.1}, "epsilon_end"),
        ({"num_envs": 0}, "num_envs"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"rollout_length": 2.5}, "rollout_length"),
        ({"q_lambda": float("nan")}, "q_lambda"),
        ({"max_grad_norm": float("inf")}, "max_grad_norm"),
        ({"sequence_length": 2.0}, "sequence_length"),
    ],
)
def test_bad_configurations_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=f"PQNConfig.{field}"):
        make_agent(**overrides)


def test_whole_rollout_sequences_of_a_recurrent_network_checked_against_burn_in():
    with pytest.raises(ConfigError, match="burn_in"):
        make_agent(q_network(recurrent=True), burn_in=4)


def test_q_network_needs_a_discrete_q_head():
    policy = Network(
        FeatureExtractor(MLP((8,))), SequenceModelWrapper(MLP((8,))), Categorical(2)
    )
    with pytest.raises(TypeError, match="q_network"):
        make_agent(policy)


def test_optimizer_and_config_types_are_checked():
    env, params = make("CartPole-v1")
    with pytest.raises(TypeError, match="optimizer"):
        PQN(PQNConfig(**TINY), env, params, q_network(), "adam")
    with pytest.raises(TypeError, match="cfg"):
        PQN(dict(TINY), env, params, q_network(), optax.adam(1e-3))


# The compiled contract -------------------------------------------------------------


def test_training_is_deterministic_and_reports_metrics(agent):
    metrics = ("loss", "q_value", "td_error", "epsilon", "grad_norm")
    _, state, _ = check_training_is_deterministic(agent, 16, metrics)
    assert int(state.step) == 16


def test_nan_observations_set_the_nonfinite_flag(agent):
    check_nan_observations_are_flagged(agent, 16)


def test_vmap_over_two_seeds(agent):
    transitions = check_vmap_over_two_seeds(agent, 8, "loss", lambda s: s.params)
    assert transitions.reward.shape == (2, 2, 4)


def test_evaluate_leaves_the_state_untouched(agent):
    key, state = agent.init(jax.random.key(1))
    metrics = check_evaluate_leaves_the_state_untouched(agent, key, state, 2)
    assert metrics["episode_returns"].shape == (2,)


def test_recurrent_q_network_trains_with_burn_in():
    agent = make_agent(q_network(recurrent=True), burn_in=1, num_minibatches=1)
    key, state = agent.init(jax.random.key(0))
    key, state, transitions = agent.train(key, state, num_steps=16)
    assert np.isfinite(transitions.info["metrics"]["loss"])
    _, metrics = agent.evaluate(key, state, num_episodes=2)
    assert np.all(np.isfinite(metrics["episode_returns"]))


# Learning --------------------------------------------------------------------------


@pytest.mark.slow
def test_pqn_learns_cartpole():
    env, params = make("CartPole-v1")
    cfg = PQNConfig(epsilon_decay_steps=60_000)
    agent = PQN(cfg, env, params, q_network(width=64), optax.adam(3e-4))
    key, state = agent.init(jax.random.key(0))
    key, state, _ = agent.train(key, state, num_steps=300_000)
    _, metrics = agent.evaluate(key, state, num_episodes=10)
    assert metrics["mean_return"] >= 150
