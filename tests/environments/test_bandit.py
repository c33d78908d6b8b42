"""Multi-armed bandit: an oracle that knows the odds earns (n - 1) / (n + 1), random play
earns what it earns in POPGym (0), and win-stay / lose-shift, the best memoryless policy
we know when the observation shows the arm pulled, stays well below."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from memorax.environments import make
from memorax.environments.memory.bandit import MultiarmedBandit, payout_probabilities
from tests.environments.popgym_reference import assert_random_play_matches_popgym
from tests.environments.rollout import (
    assert_mean_near,
    finished_episodes,
    finished_returns,
    random_policy,
)

# id -> (number of arms, episode length, win-stay / lose-shift return from the docstring)
DIFFICULTIES = {
    "MultiarmedBandit-Easy": (10, 200, 0.475),
    "MultiarmedBandit-Medium": (20, 400, 0.556),
    "MultiarmedBandit-Hard": (30, 600, 0.595),
}
# The docstring's estimate for `settle_on_arm_zero`, which sees the outcome alone.
OUTCOME_ONLY_RETURN = {
    "MultiarmedBandit-Easy": 0.083,
    "MultiarmedBandit-Medium": 0.088,
    "MultiarmedBandit-Hard": 0.090,
}
NUM_ENVS = 512
RANDOM_PLAY_ENVS = 1024
KEY = jax.random.PRNGKey(0)


def pull_best_arm(num_arms):
    """Oracle: pull the arm with the highest payout probability (hidden state)."""
    return lambda key, observation, state: jnp.argmax(payout_probabilities(state, num_arms))


def win_stay_lose_shift(key, observation, state):
    """Memoryless (needs `observe_last_arm`): pull the same arm after a payout,
    otherwise the next arm."""
    num_arms = observation.shape[0] - 2
    paid = observation[1] > 0
    last_arm = jnp.argmax(observation[2:])
    return jnp.where(paid, last_arm, (last_arm + 1) % num_arms)


def settle_on_arm_zero(num_arms):
    """Memoryless on the outcome alone: arm 0 after a payout, else a random arm."""

    def policy(key, observation, state):
        return jnp.where(observation[1] > 0, 0, jax.random.randint(key, (), 0, num_arms))

    return policy


def first_returns(env_id, policy, **options):
    env, params = make(env_id, **options)
    _, episode_length, _ = DIFFICULTIES[env_id]
    return finished_returns(env, params, policy, KEY, NUM_ENVS, episode_length)


@pytest.mark.parametrize("env_id", DIFFICULTIES)
def test_oracle_earns_the_expected_best_arm_return(env_id):
    num_arms, _, _ = DIFFICULTIES[env_id]
    returns = first_returns(env_id, pull_best_arm(num_arms))
    expected = (num_arms - 1) / (num_arms + 1)
    assert_mean_near(returns, expected, slack=0.0)


@pytest.mark.parametrize("env_id", DIFFICULTIES)
def test_random_play_matches_popgym(env_id):
    env, params = make(env_id)
    returns, lengths, terminated = finished_episodes(
        env, params, random_policy(env, params), KEY, RANDOM_PLAY_ENVS, env.episode_length
    )
    assert_random_play_matches_popgym(env_id, returns, lengths, terminated)


@pytest.mark.parametrize("env_id", DIFFICULTIES)
def test_win_stay_lose_shift_matches_estimate_and_stays_below_the_oracle(env_id):
    num_arms, _, documented = DIFFICULTIES[env_id]
    returns = first_returns(env_id, win_stay_lose_shift, observe_last_arm=True)
    # The documented value is itself an estimate, rounded: allow for both.
    assert_mean_near(returns, documented, slack=0.005)
    assert returns.mean() < (num_arms - 1) / (num_arms + 1) - 0.25


@pytest.mark.parametrize("env_id", DIFFICULTIES)
def test_settling_on_arm_zero_matches_estimate(env_id):
    num_arms, _, _ = DIFFICULTIES[env_id]
    returns = first_returns(env_id, settle_on_arm_zero(num_arms))
    # The documented value is itself an estimate (standard error 0.003): allow for it.
    assert_mean_near(returns, OUTCOME_ONLY_RETURN[env_id], slack=0.01)


@pytest.mark.parametrize("limit_terminates", [False, True])
def test_episode_is_a_fixed_number_of_pulls_paying_plus_or_minus_one_over_its_length(
    limit_terminates,
):
    env = MultiarmedBandit(
        num_arms=3, episode_length=5, observe_last_arm=True, limit_terminates=limit_terminates
    )
    params = env.default_params
    observation, state = env.reset(KEY, params)
    assert jnp.array_equal(observation, jnp.array([1.0, 0.0, 0.0, 0.0, 0.0]))
    for step, step_key in enumerate(jax.random.split(KEY, 5)):
        _, state, reward, terminated, truncated, info = env.step(step_key, state, 2, params)
        observation = info["final_observation"]  # before any auto-reset
        paid = float(observation[1])
        assert paid + float(observation[0]) == 1.0
        assert jnp.array_equal(observation[2:], jnp.array([0.0, 0.0, 1.0]))
        assert float(reward) == pytest.approx((2 * paid - 1) / 5)
        assert bool(terminated) == (step == 4 and limit_terminates)
        assert bool(truncated) == (step == 4 and not limit_terminates)


def test_observation_is_the_outcome_alone_by_default():
    env = MultiarmedBandit(num_arms=3, episode_length=5)
    params = env.default_params
    observation, state = env.reset(KEY, params)
    assert jnp.array_equal(observation, jnp.array([1.0, 0.0]))  # POPGym's 0: not paid
    observation, *_ = env.step(KEY, state, 1, params)
    assert observation.shape == (2,) and float(observation.sum()) == 1.0


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
    paid = observations[:, 1]
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
    assert env.observation_space(params).shape == (2,)
    assert params.max_steps_in_episode == episode_length  # the last pull truncates
    env, params = make(env_id, observe_last_arm=True, limit_terminates=True)
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
        ("observe_last_arm", 1),
        ("limit_terminates", "no"),
    ],
)
def test_bad_constructor_arguments_are_rejected(name, value):
    with pytest.raises(ValueError, match=name):
        MultiarmedBandit(**{name: value})
