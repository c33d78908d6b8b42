"""Multi-armed bandit: an oracle that knows the odds earns (n - 1) / (n + 1), random play
earns 0, and win-stay / lose-shift, the best memoryless policy we know, stays well below."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from memorax.environments import make
from memorax.environments.memory.bandit import MultiarmedBandit, payout_probabilities
from tests.environments.rollout import assert_mean_near, finished_returns, random_policy

# id -> (number of arms, episode length, win-stay / lose-shift return from the docstring)
DIFFICULTIES = {
    "MultiarmedBandit-Easy": (10, 200, 0.475),
    "MultiarmedBandit-Medium": (20, 400, 0.556),
    "MultiarmedBandit-Hard": (30, 600, 0.595),
}
NUM_ENVS = 512
KEY = jax.random.PRNGKey(0)


def pull_best_arm(key, observation, state):
    """Oracle: pull the arm with the highest payout probability (hidden state)."""
    num_arms = observation.shape[0] - 2
    return jnp.argmax(payout_probabilities(state, num_arms))


def win_stay_lose_shift(key, observation, state):
    """Memoryless: pull the same arm after a payout, otherwise the next arm."""
    num_arms = observation.shape[0] - 2
    last_arm = jnp.argmax(observation[:num_arms])
    paid = observation[num_arms] > 0
    return jnp.where(paid, last_arm, (last_arm + 1) % num_arms)


def first_returns(env_id, policy=None):
    env, params = make(env_id)
    policy = policy or random_policy(env, params)
    _, episode_length, _ = DIFFICULTIES[env_id]
    return finished_returns(env, params, policy, KEY, NUM_ENVS, episode_length)


@pytest.mark.parametrize("env_id", DIFFICULTIES)
def test_oracle_earns_the_expected_best_arm_return(env_id):
    num_arms, _, _ = DIFFICULTIES[env_id]
    returns = first_returns(env_id, pull_best_arm)
    expected = (num_arms - 1) / (num_arms + 1)
    assert_mean_near(returns, expected, slack=0.0)


@pytest.mark.parametrize("env_id", DIFFICULTIES)
def test_random_policy_earns_nothing(env_id):
    returns = first_returns(env_id)
    assert_mean_near(returns, 0.0)


@pytest.mark.parametrize("env_id", DIFFICULTIES)
def test_win_stay_lose_shift_matches_estimate_and_stays_below_the_oracle(env_id):
    num_arms, _, documented = DIFFICULTIES[env_id]
    returns = first_returns(env_id, win_stay_lose_shift)
    # The documented value is itself an estimate, rounded: allow for both.
    assert_mean_near(returns, documented, slack=0.005)
    assert returns.mean() < (num_arms - 1) / (num_arms + 1) - 0.25


def test_episode_is_a_fixed_number_of_pulls_paying_plus_or_minus_one_over_its_length():
    env = MultiarmedBandit(num_arms=3, episode_length=5)
    params = env.default_params
    observation, state = env.reset(KEY, params)
    assert jnp.array_equal(observation, jnp.zeros(5))
    for step, step_key in enumerate(jax.random.split(KEY, 5)):
        _, state, reward, terminated, truncated, info = env.step(step_key, state, 2, params)
        observation = info["final_observation"]  # before any auto-reset
        paid = float(observation[3])
        assert jnp.array_equal(observation[:3], jnp.array([0.0, 0.0, 1.0]))
        assert paid + float(observation[4]) == 1.0
        assert float(reward) == pytest.approx((2 * paid - 1) / 5)
        assert bool(terminated) == (step == 4)
        assert not bool(truncated)


def test_payouts_follow_each_episodes_uniform_odds():
    env = MultiarmedBandit(num_arms=4, episode_length=5)
    params = env.default_params
    num_episodes = 8192
    reset_keys, step_keys = jax.random.split(KEY, (2, num_episodes))
    _, states = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)
    odds = jax.vmap(payout_probabilities, in_axes=(0, None))(states, 4)
    observations, states, *_ = jax.vmap(env.step, in_axes=(0, 0, None, None))(
        step_keys, states, 1, params
    )
    paid = observations[:, 4]
    # Uniform odds, independent across arms; pulling arm 1 pays with its odds.
    assert abs(float(odds.mean()) - 0.5) < 0.01
    assert abs(float(odds.var()) - 1 / 12) < 0.005
    assert abs(float(jnp.corrcoef(odds[:, 0], odds[:, 1])[0, 1])) < 0.05
    assert abs(float(jnp.mean(paid * odds[:, 1])) - 1 / 3) < 0.02
    assert abs(float(jnp.mean(paid * odds[:, 2])) - 1 / 4) < 0.02
    # The odds stay fixed within an episode.
    assert jnp.array_equal(jax.vmap(payout_probabilities, in_axes=(0, None))(states, 4), odds)


@pytest.mark.parametrize("env_id", DIFFICULTIES)
def test_difficulties_set_arms_and_length(env_id):
    num_arms, episode_length, _ = DIFFICULTIES[env_id]
    env, params = make(env_id)
    assert (env.name, env.num_arms, env.episode_length) == (
        "MultiarmedBandit",
        num_arms,
        episode_length,
    )
    assert env.observation_space(params).shape == (num_arms + 2,)
    # The time limit sits beyond the game's length: the last pull terminates instead.
    assert params.max_steps_in_episode > episode_length


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("num_arms", 1),
        ("num_arms", 0),
        ("num_arms", 2.5),
        ("num_arms", True),
        ("episode_length", 0),
        ("episode_length", -4),
        ("episode_length", 10.0),
    ],
)
def test_bad_constructor_arguments_are_rejected(name, value):
    with pytest.raises(ValueError, match=name):
        MultiarmedBandit(**{name: value})
