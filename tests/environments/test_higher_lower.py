"""Task tests for HigherLower: oracle, random and memoryless returns, rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory.higher_lower import (
    GUESS_HIGHER,
    GUESS_LOWER,
    HigherLower,
)
from tests.environments.popgym_reference import assert_random_play_matches_popgym
from tests.environments.rollout import (
    assert_mean_near,
    finished_episodes,
    finished_returns,
    one_env_episode,
    random_policy,
)

NUM_ENVS = 256
RANDOM_PLAY_ENVS = 1024
DIFFICULTIES = {"Easy": 1, "Medium": 2, "Hard": 3}
# The docstring's analytic expectations, equal at every difficulty.
ORACLE_RETURN = 12 / 13
MEMORYLESS_RETURN = 84 / 169


def oracle_policy(key, observation, state):
    """Reads the card the next step reveals."""
    return jnp.where(state.next_rank > state.current_rank, GUESS_HIGHER, GUESS_LOWER)


def memoryless_policy(key, observation, state):
    """Guesses toward the side with more ranks than the card on the table."""
    return jnp.where(jnp.argmax(observation) < 6, GUESS_HIGHER, GUESS_LOWER)


def episode_returns(env_id, policy_for_env, seed):
    env, params = make(env_id)
    policy = policy_for_env(env, params)
    key = jax.random.key(seed)
    return finished_returns(env, params, policy, key, NUM_ENVS, env.num_cards - 1)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_random_play_matches_popgym(difficulty):
    env_id = f"HigherLower-{difficulty}"
    env, params = make(env_id)
    returns, lengths, terminated = finished_episodes(
        env, params, random_policy(env, params), jax.random.key(1), RANDOM_PLAY_ENVS,
        env.num_cards - 1,
    )
    assert_random_play_matches_popgym(env_id, returns, lengths, terminated)
    assert_mean_near(returns, 0.0)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_returns_of_oracle_and_memoryless(difficulty):
    env_id = f"HigherLower-{difficulty}"
    oracle = episode_returns(env_id, lambda *_: oracle_policy, seed=0)
    assert_mean_near(oracle, ORACLE_RETURN)

    memoryless = episode_returns(env_id, lambda *_: memoryless_policy, seed=2)
    assert_mean_near(memoryless, MEMORYLESS_RETURN)
    assert memoryless.mean() < ORACLE_RETURN - 0.3


def trajectory(env_id, policy, seed=0):
    """One env for one episode: the ranks shown, per-step rewards and flags."""
    env, params = make(env_id)
    first_obs, (shown, *flags) = one_env_episode(
        env, params, policy, jax.random.key(seed), env.num_cards - 1
    )
    return env, jnp.argmax(first_obs), (jnp.argmax(shown, -1), *flags)


@pytest.mark.parametrize("difficulty", ["Easy", "Hard"])
def test_episode_deals_the_whole_deck_once(difficulty):
    env, first_rank, (ranks, reward, terminated, truncated) = trajectory(
        f"HigherLower-{difficulty}", oracle_policy
    )
    num_decks = DIFFICULTIES[difficulty]
    assert env.num_cards == 52 * num_decks
    assert np.flatnonzero(np.asarray(terminated)).tolist() == [env.num_cards - 2]
    assert not bool(jnp.any(truncated))
    dealt = np.concatenate([[int(first_rank)], np.asarray(ranks)])
    assert np.all(np.bincount(dealt, minlength=13) == 4 * num_decks)
    # The oracle earns +1/N on every change of rank and 0 on every push.
    pushes = dealt[1:] == dealt[:-1]
    expected = np.where(pushes, 0.0, 1.0 / env.num_cards)
    np.testing.assert_allclose(np.asarray(reward), expected, rtol=1e-6)


def test_wrong_guess_costs_one_over_deck_size():
    def contrarian(key, observation, state):
        return 1 - oracle_policy(key, observation, state)

    env, first_rank, (ranks, reward, _, _) = trajectory(
        "HigherLower-Medium", contrarian
    )
    dealt = np.concatenate([[int(first_rank)], np.asarray(ranks)])
    pushes = dealt[1:] == dealt[:-1]
    expected = np.where(pushes, 0.0, -1.0 / env.num_cards)
    np.testing.assert_allclose(np.asarray(reward), expected, rtol=1e-6)


def test_bad_arguments_raise():
    for bad in (0, -2, 2.0, None):
        with pytest.raises(ValueError, match="num_decks"):
            HigherLower(num_decks=bad)
