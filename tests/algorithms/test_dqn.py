"""DQN: targets on hand-made cases, the contract (vmap, determinism, pure evaluate),
configuration errors and learning CartPole."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from memorax.algorithms.config import ConfigError
from memorax.algorithms.dqn import (
    DQN,
    DQNConfig,
    bootstrap_values,
    one_step_targets,
)
from memorax.algorithms.metrics import over_applied_updates
from memorax.algorithms.q_acting import linear_epsilon
from memorax.environments import make
from memorax.networks import heads
from tests.algorithms.agents import (
    assert_trees_equal,
    check_evaluate_leaves_the_state_untouched,
    gru_network,
    mlp_network,
    trees_differ,
)

TINY = DQNConfig(
    num_envs=2, buffer_size=64, batch_size=4, learning_starts=8, train_frequency=2
)


def q_network(recurrent=False, head=None, width=16):
    network = gru_network if recurrent else mlp_network
    return network(head or heads.DiscreteQNetwork(action_dim=2), width)


@pytest.fixture(scope="module")
def cartpole():
    return make("CartPole-v1")


def agent_for(cartpole, cfg=TINY, **kwargs):
    env, params = cartpole
    return DQN(cfg, env, params, q_network(**kwargs), optax.adam(1e-3))


@pytest.fixture(scope="module")
def agent(cartpole):
    """One agent for the tests that train it, so its programs compile once."""
    return agent_for(cartpole)


# Targets ---------------------------------------------------------------------------


def hand_made(double_q):
    """Three steps: truncated at 0, terminated at 1, ongoing at 2 (gamma 0.5)."""
    q_online = jnp.array([[[0.0, 0.0], [1.0, 2.0], [3.0, 0.0], [6.0, 5.0]]])
    q_target = jnp.array([[[0.0, 0.0], [10.0, 20.0], [30.0, 40.0], [50.0, 60.0]]])
    final_online = jnp.array([[[0.0, 9.0], [0.0, 0.0], [0.0, 0.0]]])
    final_target = jnp.array([[[70.0, 80.0], [0.0, 0.0], [0.0, 0.0]]])
    truncated = jnp.array([[True, False, False]])
    terminated = jnp.array([[False, True, False]])
    next_value = bootstrap_values(
        q_online, q_target, final_online, final_target, truncated, double_q
    )
    return one_step_targets(jnp.array([[1.0, 2.0, 3.0]]), next_value, terminated, 0.5)


def test_targets_bootstrap_truncation_from_the_final_observation_not_termination():
    # t0: final obs, online argmax 1 -> target 80; t1: terminal, reward only;
    # t2: next row, online argmax 0 -> target 50 (double Q)
    np.testing.assert_allclose(hand_made(double_q=True), [[41.0, 2.0, 28.0]])
    # without double Q the target network picks its own max at t2: 60
    np.testing.assert_allclose(hand_made(double_q=False), [[41.0, 2.0, 33.0]])


def window(final_observation):
    """Three windows of two rows: ended at row 0 by truncation, by termination, not."""
    batch, rows = 3, 2
    obs = jnp.linspace(-0.1, 0.1, batch * rows * 4).reshape(batch, rows, 4)
    flag = lambda i: jnp.zeros((batch, rows), bool).at[i, 0].set(True)
    return {
        "observation": obs,
        "action": jnp.array([[0, 1], [1, 0], [1, 1]], jnp.int32),
        "reward": jnp.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]),
        "terminated": flag(1),
        "truncated": flag(0),
        "final_observation": jnp.full((batch, rows, 4), final_observation),
        "episode_start": flag(0).at[:2, 1].set(True),
        "previous_action": jnp.zeros((batch, rows), jnp.int32),
        "previous_reward": jnp.zeros((batch, rows)),
    }


def test_agent_targets_use_the_final_observation_only_at_truncation(agent):
    _, state = agent.init(jax.random.key(0))

    def targets(final_observation):
        td, chosen = agent._td_errors(
            state.params, state.params, window(final_observation)
        )
        return np.asarray(td + chosen)[:, 0]

    a, b = targets(0.5), targets(-0.5)
    assert not np.isclose(a[0], b[0])  # truncated: bootstraps from the final obs
    np.testing.assert_allclose(a[1:], b[1:])  # the others never look at it
    np.testing.assert_allclose(a[1], 2.0)  # terminated: the reward alone


def test_epsilon_decays_linearly_then_stays():
    cfg = DQNConfig(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=10_000)
    np.testing.assert_allclose(
        linear_epsilon(cfg, jnp.array([0, 5_000, 10_000, 20_000])),
        [1.0, 0.55, 0.1, 0.1],
        rtol=1e-6,
    )


# Contract --------------------------------------------------------------------------


def test_vmap_over_seeds_and_determinism(agent):
    keys = jax.random.split(jax.random.key(1), 2)
    keys, states = jax.vmap(agent.init)(keys)
    train = jax.vmap(lambda k, s: agent.train(k, s, num_steps=64))
    _, states, transitions = train(keys, states)
    assert states.step.tolist() == [64, 64]
    assert transitions.info["metrics"]["updates_applied"].shape == (2,)
    assert trees_differ(
        jax.tree.map(lambda x: x[0], states.params),
        jax.tree.map(lambda x: x[1], states.params),
    )
    _, again, _ = train(
        keys, jax.vmap(agent.init)(jax.random.split(jax.random.key(1), 2))[1]
    )
    assert_trees_equal(states, again)


def test_train_metrics_and_warmup_fill_the_buffer(agent):
    key, state = agent.init(jax.random.key(2))
    key, state = agent.warmup(key, state, num_steps=16)
    assert int(state.buffer.size) == 8 and int(state.step) == 16
    key, state, transitions = agent.train(key, state, num_steps=32)
    metrics = transitions.info["metrics"]
    assert transitions.reward.shape == (2, 2)
    for name in ("loss", "td_error", "q_value", "epsilon", "updates_applied"):
        assert np.isfinite(float(metrics[name])), name
    assert float(metrics["updates_applied"]) == 1.0
    assert int(state.updates) == 8
    assert not bool(metrics["nonfinite"])


def test_nan_rewards_in_the_replay_set_the_nonfinite_flag(agent):
    key, state = agent.init(jax.random.key(2))
    key, state = agent.warmup(key, state, num_steps=16)
    data = state.buffer.data
    poisoned = state.buffer.replace(data={**data, "reward": jnp.full_like(data["reward"], jnp.nan)})
    _, _, transitions = agent.train(key, state.replace(buffer=poisoned), num_steps=32)
    metrics = transitions.info["metrics"]
    assert bool(metrics["nonfinite"]) and np.isnan(metrics["loss"])


class CountingDQN(DQN):
    """DQN's loop with stand-ins for the env step and the gradient step: the n-th
    applied update reports loss n, so the mean over applied updates is known."""

    def _act(self, state, key):
        transition = self.environment.example_transition(state.loop)
        state = self._store(state, transition)
        return state.replace(step=state.step + self.cfg.num_envs), transition

    def _learn(self, state, key):
        updates = state.updates + 1
        value = updates.astype(jnp.float32)
        metrics = {"loss": value, "td_error": 2 * value, "q_value": -value, "grad_norm": value}
        return state.replace(updates=updates), metrics


def test_a_call_crossing_learning_starts_reports_the_mean_over_the_updates_made(cartpole, agent):
    env, params = cartpole
    counting = CountingDQN(TINY, env, params, q_network(), optax.adam(1e-3))
    key, state = agent.init(jax.random.key(0))  # the same state layout, compiled already
    # 8 iterations of 4 env steps: the first ends at step 4 < learning_starts = 8 and
    # skips its update; the other 7 report losses 1..7.
    _, state, transitions = counting.train(key, state, num_steps=32)
    metrics = transitions.info["metrics"]
    assert int(state.updates) == 7
    np.testing.assert_allclose(metrics["updates_applied"], 7 / 8)
    np.testing.assert_allclose(metrics["loss"], np.mean(np.arange(1, 8)), rtol=1e-6)
    np.testing.assert_allclose(metrics["td_error"], 2 * np.mean(np.arange(1, 8)), rtol=1e-6)
    assert not bool(metrics["nonfinite"])


def test_no_updates_before_learning_starts(cartpole):
    cfg = DQNConfig(num_envs=2, buffer_size=64, batch_size=4, learning_starts=1000)
    agent = agent_for(cartpole, cfg)
    key, state = agent.init(jax.random.key(3))
    _, trained, transitions = agent.train(key, state, num_steps=40)
    metrics = transitions.info["metrics"]
    assert float(metrics["updates_applied"]) == 0.0
    assert np.isnan(metrics["loss"]) and np.isfinite(metrics["epsilon"])  # no update: no loss
    assert_trees_equal(trained.params, state.params)


def test_evaluate_leaves_the_state_untouched(agent):
    key, state = agent.init(jax.random.key(4))
    key, state, _ = agent.train(key, state, num_steps=32)
    metrics = check_evaluate_leaves_the_state_untouched(agent, key, state, 3)
    assert float(metrics["mean_return"]) > 0


def test_recurrent_q_network_with_burn_in(cartpole):
    cfg = DQNConfig(
        num_envs=2,
        buffer_size=64,
        batch_size=4,
        learning_starts=16,
        sequence_length=4,
        burn_in=2,
    )
    agent = agent_for(cartpole, cfg, recurrent=True)
    assert agent.window_length == 7
    key, state = agent.init(jax.random.key(5))
    key, state, transitions = agent.train(key, state, num_steps=48)
    metrics = transitions.info["metrics"]
    assert float(metrics["updates_applied"]) > 0
    assert np.isfinite(float(metrics["loss"]))
    _, evaluation = agent.evaluate(key, state, num_episodes=2)
    assert bool(evaluation["all_finished"])


def test_default_sequence_lengths(cartpole):
    cfg = DQNConfig(num_envs=2, buffer_size=64, batch_size=4)
    assert agent_for(cartpole, cfg).window_length == 2
    assert agent_for(cartpole, cfg, recurrent=True).window_length == 17


# Errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("gamma", 1.5),
        ("batch_size", 0),
        ("num_envs", 2.0),
        ("sequence_length", 0),
        ("burn_in", -1),
        ("max_grad_norm", -1.0),
        ("epsilon_end", 2.0),
        ("target_update_period", 0),
        ("double_q", 1),
        ("gamma", float("nan")),
        ("max_grad_norm", float("inf")),
        ("epsilon_start", float("inf")),
        ("sequence_length", 2.5),
    ],
)
def test_bad_config_values(field, value):
    with pytest.raises(ConfigError, match=f"DQNConfig.{field}"):
        DQNConfig(**{field: value})


def test_buffer_too_small_for_a_window(cartpole):
    with pytest.raises(ConfigError, match=r"DQNConfig\.buffer_size"):
        DQNConfig(num_envs=4, buffer_size=16, sequence_length=4, burn_in=1)
    # a recurrent network's default windows (16 + 1 rows) are only known with it
    with pytest.raises(ConfigError, match=r"DQNConfig\.buffer_size"):
        agent_for(cartpole, DQNConfig(num_envs=2, buffer_size=24, batch_size=4), recurrent=True)


def test_batches_larger_than_the_buffer_fail_naming_both_fields(cartpole):
    with pytest.raises(ConfigError, match=r"DQNConfig.batch_size.*DQNConfig.buffer_size=64"):
        DQNConfig(batch_size=256, buffer_size=64)
    # 2 x (32 - 17 + 1) = 32 windows of a recurrent network's 17 rows
    with pytest.raises(ConfigError, match=r"batch_size: must not exceed the 32 windows of 17"):
        agent_for(cartpole, DQNConfig(num_envs=2, buffer_size=64, batch_size=40), recurrent=True)


def test_wrong_head_or_arguments(cartpole):
    env, params = cartpole
    with pytest.raises(TypeError, match="DiscreteQNetwork"):
        DQN(TINY, env, params, q_network(head=heads.VNetwork()), optax.adam(1e-3))
    with pytest.raises(TypeError, match="cfg"):
        DQN(object(), env, params, q_network(), optax.adam(1e-3))
    with pytest.raises(TypeError, match="optimizer"):
        DQN(TINY, env, params, q_network(), "adam")


def test_continuous_actions_are_rejected():
    env, params = make("Pendulum-v1")
    with pytest.raises(TypeError, match="discrete action space"):
        DQN(TINY, env, params, q_network(), optax.adam(1e-3))


# Learning --------------------------------------------------------------------------


@pytest.mark.slow
def test_dqn_learns_cartpole(cartpole):
    """Defaults (lr 1e-3): evaluation reaches 150 within 80k env steps (it does by
    40k for seeds 0-2; DQN's returns oscillate afterwards, so the best is kept)."""
    env, params = cartpole
    agent = DQN(DQNConfig(), env, params, q_network(width=64), optax.adam(1e-3))
    key, state = agent.init(jax.random.key(0))
    best = 0.0
    for _ in range(8):
        key, state, _ = agent.train(key, state, num_steps=10_000)
        key, metrics = agent.evaluate(key, state, num_episodes=20)
        best = max(best, float(metrics["mean_return"]))
        if best >= 150:
            break
    assert best >= 150, best


def test_call_metrics_are_means_over_the_updates_made():
    # two iterations: one skipped (zeros), one learned with loss 3 -> call mean 1.5
    metrics = {"loss": jnp.float32(1.5), "epsilon": jnp.float32(0.5), "updates_applied": jnp.float32(0.5)}
    averaged = over_applied_updates(metrics, unweighted=("epsilon",))
    assert float(averaged["loss"]) == 3.0
    assert float(averaged["epsilon"]) == 0.5 and float(averaged["updates_applied"]) == 0.5
