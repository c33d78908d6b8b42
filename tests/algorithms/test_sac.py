"""SAC: critic targets by hand, configuration errors, the compiled contract (vmap,
determinism, evaluation purity, replay, recurrent and shared networks) and learning
Pendulum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from memorax.algorithms.config import ConfigError
from memorax.algorithms.sac import SAC, SACConfig, reparameterized_sample
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper
from memorax.networks.heads import (
    DiscreteQNetwork,
    SquashedGaussian,
    TwinContinuousQNetwork,
    VNetwork,
)
from tests.algorithms.agents import (
    assert_trees_equal,
    check_evaluate_leaves_the_state_untouched,
    check_nan_observations_are_flagged,
    check_training_is_deterministic,
    check_vmap_over_two_seeds,
    trees_differ,
)

TINY = {"buffer_size": 64, "batch_size": 8, "learning_starts": 4}


def torso(width, recurrent):
    if recurrent:
        return SequenceModelWrapper(RNN(nnx.GRUCell(width, width, rngs=nnx.Rngs(0))))
    return SequenceModelWrapper(MLP((width,)))


def networks(width=16, recurrent=False, shared=None):
    extractor = lambda: FeatureExtractor(shared or MLP((width,)))
    actor = Network(extractor(), torso(width, recurrent), SquashedGaussian(1))
    critic = Network(
        extractor(), torso(width, recurrent), TwinContinuousQNetwork((width,))
    )
    return actor, critic


def make_agent(actor_critic=None, env_name="Pendulum-v1", lr=1e-3, **overrides):
    env, params = make(env_name)
    actor, critic = actor_critic or networks()
    cfg = SACConfig(**{**TINY, **overrides})
    return SAC(cfg, env, params, actor, critic, optax.adam(lr), optax.adam(lr))


@pytest.fixture(scope="module")
def agent():
    return make_agent()


# Critic targets --------------------------------------------------------------------


def test_critic_targets_bootstrap_on_truncation_only(agent):
    """Three windows of two rows: an ordinary step (bootstrap from the next row), a
    truncated one (from the final observation) and a terminated one (no bootstrap)."""
    _, state = agent.init(jax.random.key(0))
    shift = lambda x: x + 0.1  # the target critic differs from the critic
    state = state.replace(
        target_critic_params=jax.tree.map(shift, state.critic_params),
        log_temperature=jnp.log(jnp.float32(0.5)),
    )
    observation = jax.random.normal(jax.random.key(1), (3, 2, 3))
    final_observation = jax.random.normal(jax.random.key(2), (3, 2, 3))
    no = jnp.zeros((3, 2), bool)
    batch = {
        "observation": observation,
        "final_observation": final_observation,
        "action": jnp.full((3, 2, 1), 0.5),
        "reward": jnp.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]),
        "terminated": no.at[2, 0].set(True),
        "truncated": no.at[1, 0].set(True),
        "episode_start": no,
        "previous_action": jnp.zeros((3, 2, 1)),
        "previous_reward": jnp.zeros((3, 2)),
    }
    key = jax.random.key(3)
    targets = agent.critic_targets(state, batch, key)

    # The same noise the method draws: one array for the rows, one for final observations.
    noise_key, final_noise_key = jax.random.split(key)
    noise = jax.random.normal(noise_key, (3, 2, 1))
    final_noise = jax.random.normal(final_noise_key, (3, 2, 1))
    critic, actor = agent._networks(state.target_critic_params, state.actor_params)

    def soft_value(next_observation, next_noise):
        _, policy = actor(next_observation[None, None])
        action, log_prob = reparameterized_sample(policy, next_noise[None, None])
        _, q = critic(next_observation[None, None], action=action)
        return jnp.min(q) - 0.5 * log_prob[0, 0]

    expected = [
        1.0 + 0.99 * soft_value(observation[0, 1], noise[0, 1]),
        2.0 + 0.99 * soft_value(final_observation[1, 0], final_noise[1, 0]),
        3.0,
    ]
    assert targets.shape == (3, 1)
    np.testing.assert_allclose(targets[:, 0], expected, rtol=1e-5)


# Configuration errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sequence_length": 2, "burn_in": 2}, "burn_in"),
        ({"updates_per_step": 0.5}, "updates_per_step"),
        ({"buffer_size": 3, "num_envs": 2}, "buffer_size"),
        ({"tau": 1.5}, "tau"),
        ({"gamma": -0.1}, "gamma"),
        ({"target_entropy": float("nan")}, "target_entropy"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_starts": -1}, "learning_starts"),
        ({"tau": float("inf")}, "tau"),
        ({"target_entropy": float("-inf")}, "target_entropy"),
        ({"max_grad_norm": float("inf")}, "max_grad_norm"),
        ({"batch_size": 100, "buffer_size": 64}, "batch_size"),
    ],
)
def test_bad_configurations_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=f"SACConfig.{field}"):
        SACConfig(**overrides)


def test_discrete_action_spaces_are_rejected_naming_env():
    with pytest.raises(TypeError, match="env must have continuous"):
        make_agent(env_name="CartPole-v1")


def test_heads_and_optimizers_are_checked():
    actor, critic = networks()
    wrong_actor = Network(
        FeatureExtractor(MLP((8,))), SequenceModelWrapper(MLP((8,))), VNetwork()
    )
    wrong_critic = Network(
        FeatureExtractor(MLP((8,))),
        SequenceModelWrapper(MLP((8,))),
        DiscreteQNetwork(1),
    )
    with pytest.raises(TypeError, match="actor"):
        make_agent((wrong_actor, critic))
    with pytest.raises(TypeError, match="critic"):
        make_agent((actor, wrong_critic))
    env, params = make("Pendulum-v1")
    adam = optax.adam(1e-3)
    with pytest.raises(TypeError, match="temperature_optimizer"):
        SAC(SACConfig(), env, params, actor, critic, adam, adam, "adam")
    with pytest.raises(ValueError, match="temperature_optimizer cannot update the log temperature"):
        SAC(SACConfig(), env, params, actor, critic, adam, adam, optax.sgd("0.1"))
    with pytest.raises(TypeError, match="cfg"):
        SAC({}, env, params, actor, critic, adam, adam)


# The compiled contract -------------------------------------------------------------


def test_training_is_deterministic_and_reports_metrics(agent):
    metrics = ("critic_loss", "actor_loss", "temperature", "entropy", "q_value")
    _, state, _ = check_training_is_deterministic(agent, 12, metrics)
    assert int(state.step) == 12
    assert int(state.buffer.size) == 12


def test_nan_observations_set_the_nonfinite_flag(agent):
    check_nan_observations_are_flagged(agent, 12)


def test_warmup_fills_the_buffer_and_learning_waits_for_learning_starts():
    agent = make_agent(learning_starts=8)
    key, state = agent.init(jax.random.key(0))
    key, state = agent.warmup(key, state, num_steps=5)
    assert int(state.buffer.size) == 5
    after = state
    for _ in range(2):  # steps 6 and 7: no update yet
        key, after, _ = agent.train(key, after, num_steps=1)
    assert_trees_equal(state.actor_params, after.actor_params)
    _, after, _ = agent.train(key, after, num_steps=1)  # step 8 reaches learning_starts
    assert trees_differ(state.actor_params, after.actor_params)


def test_vmap_over_two_seeds(agent):
    transitions = check_vmap_over_two_seeds(
        agent, 8, "critic_loss", lambda s: s.actor_params
    )
    assert transitions.reward.shape == (2, 1, 1)


def test_evaluate_leaves_the_state_untouched(agent):
    key, state = agent.init(jax.random.key(1))
    metrics = check_evaluate_leaves_the_state_untouched(agent, key, state, 2)
    assert metrics["episode_returns"].shape == (2,)


def test_recurrent_networks_train_on_windows_with_burn_in():
    agent = make_agent(
        networks(recurrent=True),
        sequence_length=4,
        burn_in=1,
        num_envs=2,
        rollout_length=2,
        updates_per_step=0.5,
    )
    key, state = agent.init(jax.random.key(0))
    key, state, transitions = agent.train(key, state, num_steps=16)
    assert transitions.reward.shape == (2, 2)
    # 4 iterations of 2 steps per env; windows of 5 rows exist from the 3rd one, so
    # half of the iterations learn (0.5 x 2 x 2 = 2 updates each)
    assert int(state.buffer.size) == 8
    assert float(transitions.info["metrics"]["updates_applied"]) == 0.5
    assert np.isfinite(transitions.info["metrics"]["critic_loss"])
    _, metrics = agent.evaluate(key, state, num_episodes=2)
    assert np.all(np.isfinite(metrics["episode_returns"]))


def test_a_shared_module_belongs_to_the_critic():
    """A feature extractor both networks hold lives in the critic's parameters, so the
    actor's loss (differentiated in actor_params only) never moves it."""
    agent = make_agent(networks(shared=MLP((16,))))
    _, state = agent.init(jax.random.key(0))
    assert "feature_extractor" in state.critic_params
    assert "feature_extractor" not in state.actor_params


# Learning --------------------------------------------------------------------------


@pytest.mark.slow
def test_sac_learns_pendulum():
    env, params = make("Pendulum-v1")
    actor, critic = networks(width=64)
    adam = optax.adam(1e-3)
    agent = SAC(SACConfig(), env, params, actor, critic, adam, adam, adam)
    key, state = agent.init(jax.random.key(0))
    key, state, _ = agent.train(key, state, num_steps=8_000)
    _, metrics = agent.evaluate(key, state, num_episodes=10)
    assert metrics["mean_return"] >= -400
