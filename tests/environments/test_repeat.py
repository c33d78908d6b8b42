"""RepeatFirst and RepeatPrevious: oracles win, memoryless and random policies do not,
and the rules hold when checked against the observations alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory.repeat import RepeatFirst, RepeatPrevious
from tests.environments.popgym_reference import assert_random_play_matches_popgym
from tests.environments.rollout import (
    assert_mean_near,
    assert_one_episode_that_terminates,
    first_episode_of,
    oracle_and_memoryless_returns,
    play_random_episodes,
)

# Enough episodes to tell a memoryless mean apart from a random policy's (-0.5),
# 0.01 away in RepeatPrevious; rollouts are cheap next to compiling them.
MANY_ENVS = 8192
# Random play, also compared with POPGym's.
RANDOM_PLAY_ENVS = 512
DECKS = {"Easy": 1, "Medium": 8, "Hard": 16}
DECKS_AND_K = {"Easy": (1, 4), "Medium": (2, 32), "Hard": (3, 64)}
DIFFICULTIES = ("Easy", "Medium", "Hard")


def shown_suit(observation):
    return jnp.argmax(observation[:4]).astype(jnp.int32)


def repeat_first_memoryless(key, observation, state):
    """Name the suit on show: right at the first card, and the best guess later too."""
    return shown_suit(observation)


def repeat_first_memoryless_with_flag(key, observation, state):
    """With `first_card_flag`: on the first card name its suit; later, any suit but
    the one on show."""
    is_first_card = observation[4] > 0.5
    return jnp.where(
        is_first_card, shown_suit(observation), (shown_suit(observation) + 1) % 4
    )


def repeat_previous_memoryless(key, observation, state):
    """Any suit but the one on show: that card has left the deck."""
    return (shown_suit(observation) + 1) % 4


def repeat_first_oracle(key, observation, state):
    return state.first_suit


def repeat_previous_oracle(env):
    def policy(key, observation, state):
        cards_seen = state.time + 1
        return state.recent_suits[cards_seen % env.k].astype(jnp.int32)

    return policy


def repeat_first_memoryless_return(num_decks, first_card_flag=False):
    """The docstring's analytic values: later steps right with probability `right`."""
    cards = 52 * num_decks
    if first_card_flag:
        right = 13 * num_decks / (cards - 1)
    else:
        right = (13 * num_decks - 1) / (cards - 1)
    return (1 + (cards - 2) * (2 * right - 1)) / (cards - 1)


def repeat_previous_memoryless_return(num_decks):
    cards = 52 * num_decks
    return 2 * (13 * num_decks / (cards - 1)) - 1


def assert_whole_decks(suits, num_decks):
    """Each env was shown every card of its decks: 13 of each suit per deck."""
    per_suit = np.stack([(suits == suit).sum(1) for suit in range(4)], axis=1)
    np.testing.assert_array_equal(per_suit, 13 * num_decks)


# --- RepeatFirst -------------------------------------------------------------------


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_repeat_first_policies(difficulty):
    env, params = make(f"RepeatFirst-{difficulty}")
    assert env.num_decks == DECKS[difficulty]

    oracle, memoryless = oracle_and_memoryless_returns(
        env, params, repeat_first_oracle, repeat_first_memoryless, MANY_ENVS
    )
    np.testing.assert_allclose(oracle, 1.0, atol=1e-4)
    assert memoryless.mean() < 1.0 - 0.5
    assert_mean_near(memoryless, repeat_first_memoryless_return(env.num_decks))


def test_repeat_first_card_flag_marks_the_first_card_and_helps_a_memoryless_policy():
    env, params = make("RepeatFirst-Easy", first_card_flag=True)
    assert env.observation_space(params).shape == (5,)
    observation, state = env.reset(jax.random.PRNGKey(5), params)
    assert observation[4] == 1.0
    for key in jax.random.split(jax.random.PRNGKey(6), 3):
        observation, state, *_ = env.step(key, state, 0, params)
        assert observation[4] == 0.0
    _, memoryless = oracle_and_memoryless_returns(
        env, params, repeat_first_oracle, repeat_first_memoryless_with_flag, MANY_ENVS
    )
    expected = repeat_first_memoryless_return(1, first_card_flag=True)
    assert expected == pytest.approx(-0.4610, abs=1e-4)
    assert_mean_near(memoryless, expected)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_repeat_first_random_play_follows_the_rules_and_loses(difficulty):
    env, params = make(f"RepeatFirst-{difficulty}")
    steps = env.episode_length
    observation, action, reward, terminated, truncated, final = play_random_episodes(
        env, params, jax.random.PRNGKey(3), RANDOM_PLAY_ENVS
    )
    assert observation.shape[-1] == 4  # the suit alone, as POPGym
    first_suit = observation[:, :1, :4].argmax(-1)
    expected = np.where(action == first_suit, 1 / steps, -1 / steps)
    np.testing.assert_allclose(reward, expected, rtol=1e-6)
    assert_one_episode_that_terminates(terminated, truncated)
    # The last card is in the final observation of the last step.
    suits = np.concatenate([observation[..., :4], final[:, -1:, :4]], axis=1).argmax(-1)
    assert_whole_decks(suits, env.num_decks)
    assert_mean_near(reward.sum(1), -0.5)
    assert_random_play_matches_popgym(
        f"RepeatFirst-{difficulty}", *first_episode_of(reward, terminated, truncated)
    )


def test_repeat_first_rejects_bad_arguments():
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="num_decks"):
            RepeatFirst(num_decks=bad)
    with pytest.raises(ValueError, match="first_card_flag"):
        RepeatFirst(first_card_flag=1)


# --- RepeatPrevious ----------------------------------------------------------------


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_repeat_previous_policies(difficulty):
    env, params = make(f"RepeatPrevious-{difficulty}")
    assert (env.num_decks, env.k) == DECKS_AND_K[difficulty]

    oracle, memoryless = oracle_and_memoryless_returns(
        env, params, repeat_previous_oracle(env), repeat_previous_memoryless, MANY_ENVS
    )
    np.testing.assert_allclose(oracle, 1.0, atol=1e-4)
    assert memoryless.mean() < 1.0 - 0.5
    assert_mean_near(memoryless, repeat_previous_memoryless_return(env.num_decks))


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_repeat_previous_random_play_follows_the_rules_and_loses(difficulty):
    env, params = make(f"RepeatPrevious-{difficulty}")
    k, steps = env.k, env.episode_length
    observation, action, reward, terminated, truncated, final = play_random_episodes(
        env, params, jax.random.PRNGKey(4), RANDOM_PLAY_ENVS
    )
    suits = observation.argmax(-1)
    # After seeing cards 0..t the answer is the suit of card t + 1 - k.
    scale = 1 / (steps + 1 - k)
    np.testing.assert_array_equal(reward[:, : k - 1], 0.0)
    answers = suits[:, : steps + 1 - k]
    expected = np.where(action[:, k - 1 :] == answers, scale, -scale)
    np.testing.assert_allclose(reward[:, k - 1 :], expected, rtol=1e-6)
    assert_one_episode_that_terminates(terminated, truncated)
    assert_whole_decks(
        np.concatenate([suits, final[:, -1:].argmax(-1)], axis=1), env.num_decks
    )
    assert_mean_near(reward.sum(1), -0.5)
    assert_random_play_matches_popgym(
        f"RepeatPrevious-{difficulty}", *first_episode_of(reward, terminated, truncated)
    )


def test_repeat_previous_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_decks"):
        RepeatPrevious(num_decks=0)
    for bad_k in (0, -3, 52, 2.0):
        with pytest.raises(ValueError, match="k must be"):
            RepeatPrevious(num_decks=1, k=bad_k)
    with pytest.raises(ValueError, match="k must be"):
        make("RepeatPrevious-Medium", k=104)
    assert make("RepeatPrevious-Medium", k=103)[0].k == 103
