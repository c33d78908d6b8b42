"""Task tests for Concentration: oracle, random and memoryless returns, rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory.concentration import (
    NO_PENDING_FLIP,
    NOT_YET_SEEN,
    Concentration,
)
from tests.environments.popgym_reference import assert_random_play_matches_popgym
from tests.environments.rollout import (
    assert_mean_near,
    finished_episodes,
    finished_returns,
    random_policy,
)

NUM_ENVS = 256
RANDOM_PLAY_ENVS = 1024
# Documented expected returns (estimated, see the class docstring), per id.
PERFECT_MEMORY_RETURN = {"Easy": 0.813, "Medium": 0.813, "Hard": 0.698}
MEMORYLESS_RETURN = {"Easy": 0.450, "Medium": 0.466, "Hard": -0.821}
# Slack for the uncertainty and rounding of the documented estimates.
DOCUMENTED_SLACK = 0.01


def perfect_memory_policy(env: Concentration):
    """Never forgets a flipped card: flips known pairs, else explores unseen cards."""
    positions = jnp.arange(env.num_cards)

    def policy(key, observation, state):
        seen_face_down = (state.kinds != NOT_YET_SEEN) & ~state.matched
        first_unseen = jnp.argmax(state.kinds == NOT_YET_SEEN)
        known_per_kind = (
            jnp.zeros(env.num_kinds, jnp.int32)
            .at[jnp.maximum(state.kinds, 0)]
            .add(seen_face_down.astype(jnp.int32))
        )
        pair_kind = jnp.argmax(known_per_kind >= 2)
        pair_position = jnp.argmax(seen_face_down & (state.kinds == pair_kind))
        first_flip = jnp.where(
            jnp.any(known_per_kind >= 2), pair_position, first_unseen
        )

        pending = jnp.maximum(state.pending_flip, 0)
        partner = seen_face_down & (state.kinds == state.kinds[pending])
        partner = partner & (positions != pending)
        second_flip = jnp.where(jnp.any(partner), jnp.argmax(partner), first_unseen)
        return jnp.where(state.pending_flip == NO_PENDING_FLIP, first_flip, second_flip)

    return policy


def memoryless_policy(env: Concentration):
    """Flips a random card that the current observation shows face down."""

    def policy(key, observation, state):
        face_down = observation.reshape(env.num_cards, env.num_kinds + 1)[:, -1] > 0.5
        return jax.random.categorical(key, jnp.where(face_down, 0.0, -jnp.inf))

    return policy


def episode_returns(env_id, policy_for_env, seed):
    env, params = make(env_id)
    policy = policy_for_env(env, params)
    key = jax.random.key(seed)
    return finished_returns(env, params, policy, key, NUM_ENVS, env.episode_length)


@pytest.mark.parametrize("difficulty", ["Easy", "Medium", "Hard"])
def test_random_play_matches_popgym(difficulty):
    env_id = f"Concentration-{difficulty}"
    env, params = make(env_id)
    returns, lengths, terminated = finished_episodes(
        env, params, random_policy(env, params), jax.random.key(1), RANDOM_PLAY_ENVS,
        env.episode_length,
    )
    assert_random_play_matches_popgym(env_id, returns, lengths, terminated)
    assert returns.mean() < PERFECT_MEMORY_RETURN[difficulty] - 0.5


@pytest.mark.parametrize("difficulty", ["Easy", "Medium", "Hard"])
def test_returns_of_oracle_and_memoryless(difficulty):
    env_id = f"Concentration-{difficulty}"
    oracle = episode_returns(env_id, lambda env, _: perfect_memory_policy(env), seed=0)
    assert_mean_near(oracle, PERFECT_MEMORY_RETURN[difficulty], DOCUMENTED_SLACK)
    assert np.all(oracle <= 1.0 + 1e-5)

    memoryless = episode_returns(env_id, lambda env, _: memoryless_policy(env), seed=2)
    assert_mean_near(memoryless, MEMORYLESS_RETURN[difficulty], DOCUMENTED_SLACK)
    assert memoryless.mean() < PERFECT_MEMORY_RETURN[difficulty] - 0.3


def play(env, params, actions, key):
    """Step one env through fixed `actions`; returns per-step outputs and states."""

    def step(state, inputs):
        step_key, action = inputs
        obs, next_state, reward, terminated, truncated, _ = env.step(
            step_key, state, action, params
        )
        return next_state, (obs, next_state, reward, terminated, truncated)

    reset_key, key = jax.random.split(key)
    _, state = env.reset(reset_key, params)
    keys = jax.random.split(key, len(actions))
    _, outputs = jax.lax.scan(step, state, (keys, jnp.asarray(actions, jnp.int32)))
    return outputs


def test_episode_lengths_and_reward_scale_follow_popgym():
    for difficulty, cards, length in [
        ("Easy", 52, 104),
        ("Medium", 104, 208),
        ("Hard", 52, 104),
    ]:
        env, params = make(f"Concentration-{difficulty}")
        assert env.num_cards == cards and env.episode_length == length
        assert params.max_steps_in_episode == length
        assert env.pair_reward == pytest.approx(2 / cards)
        assert env.failure_cost == pytest.approx(1 / length)


def test_flipping_the_same_card_twice_is_a_mismatch():
    env, params = make("Concentration-Hard")
    _, _, reward, _, _ = play(env, params, [5, 5], jax.random.key(0))
    np.testing.assert_allclose(reward, [0.0, -2 / env.episode_length], rtol=1e-6)


def test_a_mismatched_pair_is_shown_once_then_turned_face_down():
    env, params = make("Concentration-Hard")
    # Positions 0..3 hold a mismatch with probability 1 - 3/51; find such a key.
    for seed in range(20):
        obs, state, reward, _, _ = play(env, params, [0, 1, 2], jax.random.key(seed))
        if not bool(state.matched[1, 1]):
            break
    board = np.asarray(obs).reshape(3, env.num_cards, env.num_kinds + 1)
    face_down = board[..., -1] > 0.5
    assert not face_down[1, 0] and not face_down[1, 1]  # both shown after flip two
    assert face_down[2, 0] and face_down[2, 1] and not face_down[2, 2]
    assert float(reward[1]) == pytest.approx(-2 / env.episode_length)


def test_flipping_a_matched_card_costs_per_card_of_the_turn():
    env, params = make("Concentration-Easy")
    oracle = perfect_memory_policy(env)
    key = jax.random.key(3)
    obs, state = env.reset(key, params)
    # Play the perfect-memory player until it has matched a pair and no flip is pending.
    while not (
        bool(jnp.any(state.matched)) and int(state.pending_flip) == NO_PENDING_FLIP
    ):
        key, step_key = jax.random.split(key)
        action = oracle(step_key, obs, state)
        obs, state, *_ = env.step(step_key, state, action, params)
    matched_position = int(jnp.argmax(state.matched))
    unseen_position = int(jnp.argmax(state.kinds == NOT_YET_SEEN))
    _, alone, reward_alone, *_ = env.step(key, state, matched_position, params)
    assert float(reward_alone) == pytest.approx(-1 / env.episode_length)
    assert int(alone.pending_flip) == NO_PENDING_FLIP
    _, pending, *_ = env.step(key, state, unseen_position, params)
    _, after, reward_second, *_ = env.step(key, pending, matched_position, params)
    assert float(reward_second) == pytest.approx(-2 / env.episode_length)
    assert int(after.pending_flip) == NO_PENDING_FLIP


@pytest.mark.parametrize("difficulty", ["Easy", "Hard"])
def test_lazily_dealt_layout_has_the_deck_composition(difficulty):
    env, params = make(f"Concentration-{difficulty}")
    # Flip every position once, left to right: each is revealed exactly once.
    _, states, _, terminated, _ = play(
        env, params, np.arange(env.num_cards - 1), jax.random.key(4)
    )
    assert not bool(jnp.any(terminated))
    kinds = np.asarray(states.kinds[-1])
    remaining = np.diff(np.asarray(states.kinds_left_cumulative[-1]), prepend=0)
    assert np.sum(kinds == NOT_YET_SEEN) == 1
    counts = np.bincount(kinds[kinds >= 0], minlength=env.num_kinds) + remaining
    assert np.all(counts == env.num_cards // env.num_kinds)


def test_game_terminates_when_every_pair_is_found():
    env, params = make("Concentration-Hard")
    oracle = perfect_memory_policy(env)

    def step(carry, step_key):
        obs, state = carry
        action = oracle(step_key, obs, state)
        obs, state, reward, terminated, truncated, _ = env.step(
            step_key, state, action, params
        )
        return (obs, state), (reward, terminated, truncated)

    reset_key, key = jax.random.split(jax.random.key(5))
    carry = env.reset(reset_key, params)
    _, (reward, terminated, truncated) = jax.lax.scan(
        step, carry, jax.random.split(key, env.episode_length)
    )
    end = int(jnp.argmax(terminated))
    assert bool(terminated[end]) and not bool(jnp.any(truncated[: end + 1]))
    pair_rewards = np.asarray(reward[: end + 1])
    pair_rewards = pair_rewards[pair_rewards > 0]
    assert len(pair_rewards) == env.num_cards // 2
    assert pair_rewards.sum() == pytest.approx(1.0, abs=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_decks"):
        Concentration(num_decks=0)
    with pytest.raises(ValueError, match="match_by"):
        Concentration(match_by="suit")
