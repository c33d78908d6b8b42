"""Task tests for Autoencode: oracle, random and memoryless returns, rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory.autoencode import Autoencode
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


def memoryless_return(num_cards):
    """The docstring's analytic value: the first recall is free, then 1 in 4."""
    return (3 - num_cards) / (2 * num_cards)


def oracle_policy(env: Autoencode):
    """Names the suit the env will check, read from the dealt sequence."""

    def policy(key, observation, state):
        recall_index = jnp.clip(env.recall_index(state.time), 0, env.num_cards - 1)
        return state.suits_dealt[recall_index]

    return policy


def memoryless_policy(key, observation, state):
    """Names the suit on screen (suit 0 during play-back, as POPGym shows)."""
    return jnp.argmax(observation[2:])


def episode_returns(env_id, policy_for_env, seed):
    env, params = make(env_id)
    policy = policy_for_env(env, params)
    key = jax.random.key(seed)
    return env, finished_returns(
        env, params, policy, key, NUM_ENVS, 2 * env.num_cards - 1
    )


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_random_play_matches_popgym(difficulty):
    env_id = f"Autoencode-{difficulty}"
    env, params = make(env_id)
    returns, lengths, terminated = finished_episodes(
        env, params, random_policy(env, params), jax.random.key(1), RANDOM_PLAY_ENVS,
        2 * env.num_cards - 1,
    )
    assert_random_play_matches_popgym(env_id, returns, lengths, terminated)
    assert_mean_near(returns, -0.5)  # each recall right with probability 1/4


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_returns_of_oracle_and_memoryless(difficulty):
    env_id = f"Autoencode-{difficulty}"
    _, oracle = episode_returns(env_id, lambda env, _: oracle_policy(env), seed=0)
    np.testing.assert_allclose(oracle, 1.0, atol=1e-5)

    env, memoryless = episode_returns(env_id, lambda *_: memoryless_policy, seed=2)
    expected = memoryless_return(env.num_cards)
    assert_mean_near(memoryless, expected)
    assert memoryless.mean() < 0.0  # the maximum is 1


def trajectory(env_id, policy_for_env, seed=0):
    """One env for one episode: observations shown and per-step outputs."""
    env, params = make(env_id)
    first_obs, outputs = one_env_episode(
        env, params, policy_for_env(env), jax.random.key(seed), 2 * env.num_cards - 1
    )
    return env, first_obs, outputs


@pytest.mark.parametrize("difficulty", ["Easy", "Hard"])
def test_episode_watches_the_whole_deck_then_recalls_it(difficulty):
    env, first_obs, (shown, reward, terminated, truncated) = trajectory(
        f"Autoencode-{difficulty}", oracle_policy
    )
    num_cards = env.num_cards
    assert num_cards == 52 * DIFFICULTIES[difficulty]
    # Terminates after exactly 2N - 1 steps, never truncated.
    assert np.flatnonzero(np.asarray(terminated)).tolist() == [2 * num_cards - 2]
    assert not bool(jnp.any(truncated))
    # The watch phase shows each suit 13 times per deck; the play mode comes
    # with the last card, and while playing the suit shows suit 0 (POPGym's).
    observations = np.concatenate([np.asarray(first_obs)[None], np.asarray(shown)])
    np.testing.assert_array_equal(observations.sum(axis=1), 2.0)  # two one-hots
    watched = observations[:num_cards]
    assert np.all(watched[:, 2:].sum(axis=0) == 13 * DIFFICULTIES[difficulty])
    play_mode = observations[:, 0]  # POPGym's modes: PLAY = 0, WATCH = 1
    assert np.all(play_mode[: num_cards - 1] == 0) and np.all(
        play_mode[num_cards - 1 :] == 1
    )
    np.testing.assert_array_equal(play_mode, 1 - observations[:, 1])
    np.testing.assert_array_equal(observations[num_cards:, 2:], [[1, 0, 0, 0]] * num_cards)
    # Rewards: 0 while watching, +1/N for each correct recall.
    rewards = np.asarray(reward)
    assert np.all(rewards[: num_cards - 1] == 0)
    np.testing.assert_allclose(rewards[num_cards - 1 :], 1 / num_cards, rtol=1e-6)


def test_wrong_recall_costs_one_over_deck_size():
    def always_wrong(env):
        oracle = oracle_policy(env)
        return lambda key, obs, state: (oracle(key, obs, state) + 1) % 4

    env, _, (_, reward, _, _) = trajectory("Autoencode-Easy", always_wrong)
    np.testing.assert_allclose(
        np.asarray(reward)[env.num_cards - 1 :], -1 / 52, rtol=1e-6
    )


def test_bad_arguments_raise():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_decks"):
            Autoencode(num_decks=bad)
