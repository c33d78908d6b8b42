"""RepeatFirst and RepeatPrevious: oracles win, memoryless and random policies do not,
and the rules hold when checked against the observations alone."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory import repeat
from memorax.environments.memory.repeat import RepeatFirst, RepeatPrevious
from tests.environments.rollout import first_episode_returns, random_policy

NUM_ENVS = 256
# Enough episodes to tell a memoryless mean apart from a random policy's (-0.5),
# 0.01 away in RepeatPrevious; rollouts are cheap next to compiling them.
MANY_ENVS = 8192
DECKS = {"Easy": 1, "Medium": 8, "Hard": 16}
DECKS_AND_K = {"Easy": (1, 4), "Medium": (2, 32), "Hard": (3, 64)}
DIFFICULTIES = ("Easy", "Medium", "Hard")


def shown_suit(observation):
    return jnp.argmax(observation[:4]).astype(jnp.int32)


def repeat_first_memoryless(key, observation, state):
    """On the first card name its suit; later, any suit but the one on show."""
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


def repeat_first_memoryless_return(num_decks):
    cards = 52 * num_decks
    right = 13 * num_decks / (cards - 1)
    return (1 + (cards - 2) * (2 * right - 1)) / (cards - 1)


def repeat_previous_memoryless_return(num_decks):
    cards = 52 * num_decks
    return 2 * (13 * num_decks / (cards - 1)) - 1


def returns_of(env, params, policy, seed=0, num_envs=NUM_ENVS):
    returns, finished = first_episode_returns(
        env, params, policy, jax.random.PRNGKey(seed), num_envs, env.episode_length
    )
    assert bool(jnp.all(finished)), "every episode ends after episode_length steps"
    return np.asarray(returns)


def assert_mean_near(returns, expected):
    """The sample mean is within 4 standard errors (plus float slack) of `expected`."""
    standard_error = returns.std() / np.sqrt(returns.size)
    assert abs(returns.mean() - expected) < 4 * standard_error + 1e-3, (
        returns.mean(),
        expected,
    )


def play_random_episodes(env, params, key, num_envs=128):
    """Random play in `num_envs` envs for one episode each, as numpy arrays of shape
    (envs, steps, ...): the observation each step acted on, the action, reward,
    both flags, and the observation the step produced (before any reset)."""
    records = _play_random_episodes(env, params, key, num_envs, env.episode_length)
    return [np.swapaxes(np.asarray(record), 0, 1) for record in records]


@partial(jax.jit, static_argnames=("env", "num_envs", "num_steps"))
def _play_random_episodes(env, params, key, num_envs, num_steps):
    policy = random_policy(env, params)
    reset_key, key = jax.random.split(key)
    observation, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), params
    )

    def step(carry, step_key):
        observation, state = carry
        policy_key, env_key = jax.random.split(step_key)
        action = jax.vmap(policy)(
            jax.random.split(policy_key, num_envs), observation, state
        )
        next_observation, state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(env_key, num_envs), state, action, params)
        record = (
            observation,
            action,
            reward,
            terminated,
            truncated,
            info["final_observation"],
        )
        return (next_observation, state), record

    carry = (observation, state)
    _, records = jax.lax.scan(step, carry, jax.random.split(key, num_steps))
    return records


def assert_one_episode_that_terminates(terminated, truncated):
    assert not terminated[:, :-1].any() and terminated[:, -1].all()
    assert not truncated.any()


def assert_whole_decks(suits, num_decks):
    """Each env was shown every card of its decks: 13 of each suit per deck."""
    per_suit = np.stack([(suits == suit).sum(1) for suit in range(4)], axis=1)
    np.testing.assert_array_equal(per_suit, 13 * num_decks)


# --- RepeatFirst -------------------------------------------------------------------


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_repeat_first_policies(difficulty):
    env, params = make(f"RepeatFirst-{difficulty}")
    assert env.num_decks == DECKS[difficulty]

    oracle = returns_of(env, params, repeat_first_oracle)
    np.testing.assert_allclose(oracle, 1.0, atol=1e-4)

    memoryless = returns_of(
        env, params, repeat_first_memoryless, seed=2, num_envs=MANY_ENVS
    )
    assert memoryless.mean() < 1.0 - 0.5
    assert_mean_near(memoryless, repeat_first_memoryless_return(env.num_decks))


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_repeat_first_random_play_follows_the_rules_and_loses(difficulty):
    env, params = make(f"RepeatFirst-{difficulty}")
    steps = env.episode_length
    observation, action, reward, terminated, truncated, final = play_random_episodes(
        env, params, jax.random.PRNGKey(3)
    )
    assert (observation[:, 0, 4] == 1.0).all() and not observation[:, 1:, 4].any()
    first_suit = observation[:, :1, :4].argmax(-1)
    expected = np.where(action == first_suit, 1 / steps, -1 / steps)
    np.testing.assert_allclose(reward, expected, rtol=1e-6)
    assert_one_episode_that_terminates(terminated, truncated)
    # The last card is in the final observation of the last step.
    suits = np.concatenate([observation[..., :4], final[:, -1:, :4]], axis=1).argmax(-1)
    assert_whole_decks(suits, env.num_decks)
    assert_mean_near(reward.sum(1), -0.5)


def test_repeat_first_rejects_bad_num_decks():
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="num_decks"):
            RepeatFirst(num_decks=bad)


# --- RepeatPrevious ----------------------------------------------------------------


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_repeat_previous_policies(difficulty):
    env, params = make(f"RepeatPrevious-{difficulty}")
    assert (env.num_decks, env.k) == DECKS_AND_K[difficulty]

    oracle = returns_of(env, params, repeat_previous_oracle(env))
    np.testing.assert_allclose(oracle, 1.0, atol=1e-4)

    memoryless = returns_of(
        env, params, repeat_previous_memoryless, seed=2, num_envs=MANY_ENVS
    )
    assert memoryless.mean() < 1.0 - 0.5
    assert_mean_near(memoryless, repeat_previous_memoryless_return(env.num_decks))


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_repeat_previous_random_play_follows_the_rules_and_loses(difficulty):
    env, params = make(f"RepeatPrevious-{difficulty}")
    k, steps = env.k, env.episode_length
    observation, action, reward, terminated, truncated, final = play_random_episodes(
        env, params, jax.random.PRNGKey(4)
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


def test_repeat_previous_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_decks"):
        RepeatPrevious(num_decks=0)
    for bad_k in (0, -3, 52, 2.0):
        with pytest.raises(ValueError, match="k must be"):
            RepeatPrevious(num_decks=1, k=bad_k)
    with pytest.raises(ValueError, match="k must be"):
        make("RepeatPrevious-Medium", k=104)
    assert make("RepeatPrevious-Medium", k=103)[0].k == 103


# --- the deck ----------------------------------------------------------------------


def test_deal_follows_the_cards_left():
    deck = jnp.cumsum(jnp.array([1, 0, 3, 6], jnp.int32))  # running totals
    bits = jax.random.bits(jax.random.PRNGKey(5), (20_000,), jnp.uint32)
    kinds, decks_left = jax.vmap(repeat.deal, in_axes=(0, None))(bits, deck)
    frequencies = np.bincount(np.asarray(kinds), minlength=4) / 20_000
    np.testing.assert_allclose(frequencies, [0.1, 0.0, 0.3, 0.6], atol=0.015)
    # One card of the dealt kind is gone, and no other.
    cards_before = np.array([1, 0, 3, 6])
    cards_after = np.diff(np.asarray(decks_left), prepend=0)
    np.testing.assert_array_equal(
        cards_before - cards_after, np.eye(4, dtype=int)[np.asarray(kinds)]
    )
    kind_two = jax.vmap(repeat.cards_left, in_axes=(0, None))(decks_left, 2)
    np.testing.assert_array_equal(kind_two, cards_after[:, 2])


def test_deal_first_deals_every_kind_alike():
    bits = jax.random.bits(jax.random.PRNGKey(6), (13_000,), jnp.uint32)
    kinds, decks = jax.vmap(repeat.deal_first, in_axes=(0, None, None))(bits, 13, 4)
    frequencies = np.bincount(np.asarray(kinds), minlength=13) / 13_000
    np.testing.assert_allclose(frequencies, 1 / 13, atol=0.01)
    cards_after = np.diff(np.asarray(decks), prepend=0)
    np.testing.assert_array_equal(
        cards_after, 4 - np.eye(13, dtype=int)[np.asarray(kinds)]
    )
