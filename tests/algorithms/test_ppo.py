"""PPO: the seed's contract, its semantics and its errors (fast, tiny sizes)."""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from memorax.algorithms import PPO, ConfigError, PPOConfig, PPOState
from memorax.algorithms.base import advance_steps
from memorax.environments import make
from memorax.networks import MLP, FeatureExtractor, Network, SequenceModelWrapper
from memorax.networks.heads import Categorical, Gaussian, SquashedGaussian, VNetwork
from tests.algorithms.agents import (
    assert_trees_equal,
    check_evaluate_leaves_the_state_untouched,
    check_nan_observations_are_flagged,
    gru_network,
    mlp_network,
    trees_differ,
)

TINY = {"num_envs": 4, "rollout_length": 8, "num_epochs": 2, "num_minibatches": 2}


def ppo(env_id="CartPole-v1", network=mlp_network, actor_head=Categorical, **config):
    """A tiny PPO agent; agents are cached so tests share compiled programs."""
    return _cached_ppo(env_id, network, actor_head, tuple(sorted(config.items())))


@functools.cache
def _cached_ppo(env_id, network, actor_head, config):
    env, env_params = make(env_id)
    space = env.action_space(env_params)
    head = actor_head(action_dim=space.n if hasattr(space, "n") else space.shape[0])
    cfg = PPOConfig(**{**TINY, **dict(config)})
    optimizer = optax.adam(1e-3)
    return PPO(
        cfg, env, env_params, network(head), network(VNetwork()), optimizer, optimizer
    )


def test_train_returns_the_seed_contract():
    agent = ppo()
    key, state = agent.init(jax.random.key(0))
    assert isinstance(state, PPOState)
    key, state, transitions = agent.train(key, state, num_steps=40)
    # 40 env steps round up to whole iterations of 4 envs x 8 steps.
    assert int(state.step) == 64
    assert transitions.observation.shape == (4, 8, 4)
    assert (
        transitions.action.shape
        == transitions.reward.shape
        == transitions.done.shape
        == (4, 8)
    )
    metrics = transitions.info["metrics"]
    for name in (
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "episode_return",
    ):
        assert metrics[name].shape == ()
    assert np.isfinite(float(metrics["policy_loss"]))
    assert not bool(metrics["nonfinite"])


def test_the_step_counter_saturates_instead_of_wrapping():
    # Paper-scale runs pass 2**31 env steps; a wrapped int32 would turn negative and
    # restart every schedule. Same program as the contract test (no new compile).
    agent = ppo()
    key, state = agent.init(jax.random.key(0))
    limit = np.iinfo(np.int32).max
    state = state.replace(step=jnp.int32(limit - 10))
    key, state, transitions = agent.train(key, state, num_steps=40)
    assert int(state.step) == limit
    assert not bool(transitions.info["metrics"]["nonfinite"])
    np.testing.assert_array_equal(
        advance_steps(jnp.array([0, limit - 64, limit - 63, limit], jnp.int32), 64),
        [64, limit, limit, limit],
    )


def test_nan_observations_set_the_nonfinite_flag():
    transitions = check_nan_observations_are_flagged(ppo(), 40)
    assert np.isnan(float(transitions.info["metrics"]["loss"]))


def test_same_key_gives_identical_results_and_other_keys_differ():
    agent = ppo(network=gru_network)
    runs = []
    for seed in (0, 0, 1):
        key, state = agent.init(jax.random.key(seed))
        runs.append(agent.train(key, state, num_steps=64))
    assert_trees_equal(runs[0], runs[1])
    assert trees_differ(runs[0][1].params, runs[2][1].params)


def test_train_compiled_ahead_of_time_gives_trains_results():
    agent = ppo(network=gru_network)
    key, state = agent.init(jax.random.key(0))
    compiled = agent.lower(key, state, num_steps=64).compile()
    assert_trees_equal(compiled(key, state), agent.train(key, state, num_steps=64))
    with pytest.raises(TypeError, match="key"):
        agent.lower(0, state, num_steps=64)


def test_vmap_over_seeds_matches_separate_runs():
    agent = ppo(network=gru_network)
    keys = jax.random.split(jax.random.key(3), 2)
    keys, states = jax.vmap(agent.init)(keys)
    _, batched, _ = jax.vmap(lambda k, s: agent.train(k, s, num_steps=64))(keys, states)
    for i in range(2):
        _, alone, _ = agent.train(
            keys[i], jax.tree.map(lambda x, i=i: x[i], states), num_steps=64
        )
        for x, y in zip(
            jax.tree.leaves(alone.params), jax.tree.leaves(batched.params), strict=True
        ):
            np.testing.assert_allclose(x, y[i], rtol=1e-4, atol=1e-5)
    assert trees_differ(
        jax.tree.map(lambda x: x[0], batched.params),
        jax.tree.map(lambda x: x[1], batched.params),
    )


def test_evaluate_reports_episodes_and_leaves_the_state_alone():
    agent = ppo(network=gru_network)
    key, state = agent.init(jax.random.key(0))
    metrics = check_evaluate_leaves_the_state_untouched(agent, key, state, 3)
    assert metrics["episode_returns"].shape == (3,)
    assert bool(metrics["all_finished"])
    np.testing.assert_allclose(
        metrics["mean_return"], np.mean(metrics["episode_returns"]), rtol=1e-6
    )
    # CartPole pays 1 per step: return equals length.
    np.testing.assert_allclose(metrics["episode_returns"], metrics["episode_lengths"])
    with pytest.raises(TypeError, match="deterministic must be True or False"):
        agent.evaluate(key, state, num_episodes=3, deterministic="sampled")


def test_warmup_steps_the_environments_without_learning():
    agent = ppo()
    key, state = agent.init(jax.random.key(0))
    key, warmed = agent.warmup(key, state, num_steps=10)
    assert int(warmed.step) == 12  # whole batches of 4 envs
    assert_trees_equal(state.params, warmed.params)
    assert trees_differ(state.loop.observation, warmed.loop.observation)


def test_truncated_steps_bootstrap_from_the_final_observation():
    env, env_params = make("CartPole-v1", max_steps_in_episode=5)
    agent = PPO(
        PPOConfig(**TINY),
        env,
        env_params,
        mlp_network(Categorical(2)),
        mlp_network(VNetwork()),
        optax.adam(1e-3),
        optax.adam(1e-3),
    )
    key, state = agent.init(jax.random.key(0))
    _, _, records = agent._rollout(key, state)
    transitions, _, _, final_value = records
    truncated = np.asarray(transitions.truncated)
    assert truncated.any()
    assert np.all(np.asarray(final_value)[~truncated] == 0)
    _, critic = agent.merged(state.params)
    t, e = np.argwhere(truncated)[0]
    expected = critic(transitions.final_observation[t, e][None, None])[1][0, 0]
    np.testing.assert_allclose(final_value[t, e], expected, rtol=1e-5)


def test_termination_does_not_bootstrap():
    # CartPole terminates when the pole falls: those steps must not count as truncated.
    agent = ppo(rollout_length=64)
    key, state = agent.init(jax.random.key(0))
    _, _, records = agent._rollout(key, state)
    transitions, _, _, final_value = records
    terminated = np.asarray(transitions.terminated)
    assert terminated.any()
    assert np.all(np.asarray(final_value)[terminated] == 0)


@pytest.mark.parametrize("head", [Gaussian, SquashedGaussian])
def test_continuous_actions(head):
    agent = ppo("Pendulum-v1", actor_head=head)
    key, state = agent.init(jax.random.key(0))
    key, state, transitions = agent.train(key, state, num_steps=64)
    assert transitions.action.shape == (4, 8, 1)
    assert np.isfinite(float(transitions.info["metrics"]["entropy"]))
    key, metrics = agent.evaluate(key, state, num_episodes=2)
    assert np.isfinite(float(metrics["mean_return"]))


def test_recurrent_sequences_with_burn_in():
    agent = ppo(network=gru_network, sequence_length=4, burn_in=2)
    key, state = agent.init(jax.random.key(0))
    key, state, transitions = agent.train(key, state, num_steps=64)
    assert np.isfinite(float(transitions.info["metrics"]["loss"]))


def test_memoryless_networks_train_on_single_steps():
    assert ppo().sequence_length == 1
    assert ppo(network=gru_network).sequence_length == 8


def test_target_kl_stops_the_update_early():
    agent = ppo(target_kl=1e-12, num_epochs=4, num_minibatches=4)
    key, state = agent.init(jax.random.key(0))
    _, _trained, transitions = agent.train(key, state, num_steps=32)
    applied = float(transitions.info["metrics"]["updates_applied"])
    assert (
        0 < applied < 1
    )  # the first update always runs, then KL > 1e-12 stops the rest


def test_shared_parameters_follow_the_actor_optimizer():
    """A module shared by actor and critic lives once in the state, under the actor;
    the actor's optimizer updates it with the gradient of the whole loss."""
    env, env_params = make("CartPole-v1")
    extractor = FeatureExtractor(observation_extractor=MLP(features=(16,)))
    torso = SequenceModelWrapper(MLP(features=(16,)))
    actor, critic = (
        Network(extractor, torso, Categorical(2)),
        Network(extractor, torso, VNetwork()),
    )

    def trained(actor_optimizer, critic_optimizer, **config):
        agent = PPO(
            PPOConfig(**TINY, **config),
            env,
            env_params,
            actor,
            critic,
            actor_optimizer,
            critic_optimizer,
        )
        key, state = agent.init(jax.random.key(0))
        return state, agent.train(key, state, num_steps=32)[1]

    state, frozen_actor = trained(optax.set_to_zero(), optax.sgd(0.1))
    assert "torso" not in state.params[1]  # shared modules appear once
    assert_trees_equal(state.params[0], frozen_actor.params[0])
    assert trees_differ(state.params[1], frozen_actor.params[1])
    # The value loss alone (no policy gradient, no entropy) still moves the shared torso.
    state, value_only = trained(
        optax.sgd(0.1), optax.set_to_zero(), clip_coef=1e-9, entropy_coef=0.0
    )
    assert trees_differ(state.params[0]["torso"], value_only.params[0]["torso"])
    assert_trees_equal(state.params[1], value_only.params[1])


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"num_envs": 0}, "num_envs"),
        ({"gamma": 1.5}, "gamma"),
        ({"num_minibatches": 2.0}, "num_minibatches"),
        ({"target_kl": -1.0}, "target_kl"),
        ({"entropy_coef": -0.1}, "entropy_coef"),
        ({"clip_coef": float("inf")}, "clip_coef"),
        ({"gamma": float("nan")}, "gamma"),
        ({"value_clip_coef": float("inf")}, "value_clip_coef"),
        ({"target_kl": float("inf")}, "target_kl"),
        ({"sequence_length": 2.0}, "sequence_length"),
    ],
)
def test_bad_config_values_name_the_field(config, field):
    with pytest.raises(ConfigError, match=f"PPOConfig.{field}"):
        PPOConfig(**config)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (
            {"num_envs": 3, "num_minibatches": 2},
            "num_minibatches",
        ),  # 3 sequences of 8 steps
        ({"burn_in": 8}, "burn_in"),
        ({"sequence_length": 3}, "sequence_length"),
    ],
)
def test_sequences_that_cannot_be_split_fail_at_construction(config, field):
    with pytest.raises(ConfigError, match=field):
        ppo(network=gru_network, **config)


def build(actor_head, critic_head, critic_optimizer=None):
    """A tiny CartPole PPO with the given heads (and critic optimizer)."""
    env, env_params = make("CartPole-v1")
    adam = optax.adam(1e-3)
    return PPO(
        PPOConfig(**TINY),
        env,
        env_params,
        mlp_network(actor_head),
        mlp_network(critic_head),
        adam,
        adam if critic_optimizer is None else critic_optimizer,
    )


def test_wrong_networks_and_optimizers_fail_at_construction():
    with pytest.raises(
        TypeError,
        match="actor needs a Categorical or Gaussian or SquashedGaussian head",
    ):
        build(VNetwork(), VNetwork())
    with pytest.raises(TypeError, match="critic needs a VNetwork head"):
        build(Categorical(2), Categorical(2))
    with pytest.raises(TypeError, match="critic_optimizer must be an optax optimizer"):
        build(Categorical(2), VNetwork(), critic_optimizer=3e-4)
    with pytest.raises(ValueError, match="Gaussian"):  # continuous head, discrete actions
        build(Gaussian(2), VNetwork())
    with pytest.raises(ValueError, match="num_steps"):
        ppo().train(jax.random.key(0), None, num_steps=-5)


@pytest.mark.parametrize(
    ("optimizer", "named"),
    [
        (optax.adam("3e-4"), "critic_optimizer cannot update the critic's parameters"),
        (optax.inject_hyperparams(optax.adam)(learning_rate="3e-4"), "learning_rate='3e-4'"),
    ],
)
def test_optimizers_with_non_numeric_hyperparameters_fail_at_construction(optimizer, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        build(Categorical(2), VNetwork(), critic_optimizer=optimizer)


@pytest.mark.parametrize("method", ["init", "train", "warmup", "evaluate"])
@pytest.mark.parametrize("key", [0, np.zeros(3, np.int32)])
def test_keys_that_are_not_prng_keys_fail_naming_key(method, key):
    agent = ppo()
    arguments = {"init": (), "train": (None, 8), "warmup": (None, 8), "evaluate": (None, 2)}
    with pytest.raises(TypeError, match=f"PPO.{method}: key must be a JAX PRNG key, e.g. jax.random.key"):
        getattr(agent, method)(key, *arguments[method])


def test_a_batch_of_keys_without_vmap_fails_naming_key():
    with pytest.raises(ValueError, match=r"key must be a single key.*vmap"):
        ppo().init(jax.random.split(jax.random.key(0), 2))


def test_state_survives_an_orbax_round_trip(tmp_path):
    import orbax.checkpoint as ocp

    agent = ppo(network=gru_network)
    key, state = agent.init(jax.random.key(0))
    key, state, _ = agent.train(key, state, num_steps=64)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", state)
    checkpointer.wait_until_finished()
    restored = checkpointer.restore(
        tmp_path / "state", jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
    )
    assert_trees_equal(agent.train(key, state, 64), agent.train(key, restored, 64))


def test_transitions_done_is_terminated_or_truncated():
    agent = ppo(rollout_length=64)
    key, state = agent.init(jax.random.key(0))
    _, _, transitions = agent.train(key, state, num_steps=256)
    np.testing.assert_array_equal(
        transitions.done, jnp.logical_or(transitions.terminated, transitions.truncated)
    )


def test_iteration_metrics_and_returns_under_normalize_reward():
    """Per-iteration metrics come with the call's; logged and evaluated returns are the
    environment's own (CartPole pays 1 a step: return == length), not the scaled
    reward NormalizeReward trains on."""
    from memorax.environments.wrappers import NormalizeReward

    env, env_params = make("CartPole-v1")
    head = Categorical(action_dim=2)
    agent = PPO(
        PPOConfig(**TINY),
        NormalizeReward(env),
        env_params,
        mlp_network(head),
        mlp_network(VNetwork()),
        optax.adam(1e-3),
        optax.adam(1e-3),
    )
    key, state = agent.init(jax.random.key(0))
    key, state, transitions = agent.train(key, state, num_steps=32 * 12)
    per_iteration = transitions.info["iteration_metrics"]
    assert per_iteration["policy_loss"].shape == (12,)
    np.testing.assert_array_equal(per_iteration["env_steps"], 32 * np.arange(1, 13))
    metrics = transitions.info["metrics"]
    np.testing.assert_allclose(np.nanmean(per_iteration["policy_loss"]), metrics["policy_loss"], rtol=1e-5)
    assert int(metrics["episodes"]) > 0
    np.testing.assert_allclose(metrics["episode_return"], metrics["episode_length"], rtol=1e-6)
    finished = per_iteration["episodes"] > 0
    np.testing.assert_allclose(
        per_iteration["episode_return"][finished], per_iteration["episode_length"][finished], rtol=1e-6
    )
    assert not np.allclose(transitions.reward, 1.0)  # the scaled reward is what it trains on
    _, evaluation = agent.evaluate(key, state, num_episodes=3)
    np.testing.assert_allclose(evaluation["episode_returns"], evaluation["episode_lengths"])
