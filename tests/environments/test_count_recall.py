"""CountRecall: the oracle wins, memoryless and random policies do not, and the rules
hold when checked against the observations alone."""

from math import comb

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory.count_recall import CountRecall
from tests.environments.popgym_reference import assert_random_play_matches_popgym
from tests.environments.rollout import (
    assert_mean_near,
    assert_one_episode_that_terminates,
    first_episode_of,
    oracle_and_memoryless_returns,
    play_random_episodes,
)

# Enough episodes to tell the memoryless mean from a random answer's.
MANY_ENVS = 8192
# Random play, also compared with POPGym's.
RANDOM_PLAY_ENVS = 512

SETTINGS = {
    "Easy": (1, "colors", 2),
    "Medium": (2, "suits", 4),
    "Hard": (4, "ranks", 13),
}
DIFFICULTIES = tuple(SETTINGS)


def hypergeometric(population, successes, draws, hits):
    """Chance of `hits` successes in `draws` draws without replacement."""
    if not 0 <= hits <= min(successes, draws) or draws - hits > population - successes:
        return 0.0
    return (
        comb(successes, hits)
        * comb(population - successes, draws - hits)
        / comb(population, draws)
    )


def best_memoryless_counts(num_decks, num_kinds):
    """The counts a memoryless policy should answer when the value card's kind is
    the query's and when it is not, and that policy's expected return.

    At step t (t = 1..cards - 1) t value cards have been seen, the one on show being
    the last; the other t - 1 are a uniform draw from the rest of the deck, and the
    query's kind is independent of them and uniform over the kinds.
    """
    cards = 52 * num_decks
    per_kind = cards // num_kinds
    steps = range(1, cards)
    same = [
        sum(hypergeometric(cards - 1, per_kind - 1, t - 1, c - 1) for t in steps)
        for c in range(per_kind + 1)
    ]
    differ = [
        sum(hypergeometric(cards - 1, per_kind, t - 1, c) for t in steps)
        for c in range(per_kind + 1)
    ]
    answer_same, answer_differ = int(np.argmax(same)), int(np.argmax(differ))
    right = (
        (same[answer_same] + (num_kinds - 1) * differ[answer_differ])
        / num_kinds
        / (cards - 1)
    )
    return answer_same, answer_differ, 2 * right - 1


def memoryless_policy(env, answer_same, answer_differ):
    def policy(key, observation, state):
        value = jnp.argmax(observation[: env.num_kinds])
        query = jnp.argmax(observation[env.num_kinds :])
        return jnp.where(value == query, answer_same, answer_differ)

    return policy


def oracle(env):
    def policy(key, observation, state):
        cards_left_by_kind = jnp.diff(state.value_deck, prepend=0)
        return env.cards_per_kind - cards_left_by_kind[state.query]

    return policy


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_count_recall_policies(difficulty):
    env, params = make(f"CountRecall-{difficulty}")
    num_decks, count_by, num_kinds = SETTINGS[difficulty]
    assert (env.num_decks, env.count_by, env.num_kinds) == (
        num_decks,
        count_by,
        num_kinds,
    )

    answer_same, answer_differ, expected = best_memoryless_counts(num_decks, num_kinds)
    oracle_returns, memoryless = oracle_and_memoryless_returns(
        env,
        params,
        oracle(env),
        memoryless_policy(env, answer_same, answer_differ),
        MANY_ENVS,
    )
    np.testing.assert_allclose(oracle_returns, 1.0, atol=1e-4)
    assert memoryless.mean() < 1.0 - 1.5  # far below the maximum of 1
    assert_mean_near(memoryless, expected)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_count_recall_random_play_follows_the_rules_and_loses(difficulty):
    env, params = make(f"CountRecall-{difficulty}")
    kinds, steps = env.num_kinds, env.episode_length
    observation, action, reward, terminated, truncated, final = play_random_episodes(
        env, params, jax.random.PRNGKey(3), RANDOM_PLAY_ENVS
    )
    values = observation[..., :kinds].argmax(-1)
    queries = observation[..., kinds:].argmax(-1)
    # The answer counts the value cards shown so far, the current one included.
    seen = np.cumsum(values[..., None] == np.arange(kinds), axis=1)
    answers = np.take_along_axis(seen, queries[..., None], axis=-1)[..., 0]
    expected = np.where(action == answers, 1 / steps, -1 / steps)
    np.testing.assert_allclose(reward, expected, rtol=1e-6)
    assert_one_episode_that_terminates(terminated, truncated)
    # Both decks are dealt whole, the last cards in the final observation.
    last = final[:, -1:]
    for shown in (
        np.concatenate([values, last[..., :kinds].argmax(-1)], axis=1),
        np.concatenate([queries, last[..., kinds:].argmax(-1)], axis=1),
    ):
        per_kind = np.stack([(shown == kind).sum(1) for kind in range(kinds)], axis=1)
        np.testing.assert_array_equal(per_kind, env.cards_per_kind)
    assert_mean_near(reward.sum(1), 2 / env.num_actions - 1)
    assert_random_play_matches_popgym(
        f"CountRecall-{difficulty}", *first_episode_of(reward, terminated, truncated)
    )


def test_every_count_can_be_answered():
    env, params = make("CountRecall-Easy")
    assert env.action_space(params).n == 27  # counts 0..26 of a colour
    assert env.observation_space(params).shape == (4,)


def test_count_recall_rejects_bad_arguments():
    with pytest.raises(ValueError, match="count_by"):
        CountRecall(count_by="hearts")
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="num_decks"):
            CountRecall(num_decks=bad)
    with pytest.raises(ValueError, match="count_by"):
        make("CountRecall-Easy", count_by="values")
