"""T-maze: an oracle that remembers the cue scores 1, memoryless play scores 0, and the
reward rules keep every return in [-1, 1].

The corridor length lives in the parameters, so one environment instance (and one
compiled rollout per policy) serves all three difficulties.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from memorax.environments import make
from memorax.environments.memory.tmaze import BACK, DOWN, FORWARD, UP, TMaze
from tests.environments.rollout import finished_returns, random_policy

IDS = ["TMaze-Easy", "TMaze-Medium", "TMaze-Hard"]
NUM_ENVS = 256
ENV = TMaze()
# Enough steps for the Hard time limit (200 + 11), so every first episode ends.
NUM_STEPS = 212
KEY = jax.random.PRNGKey(0)


def walk_and_turn_to_goal(key, observation, state):
    """Oracle: walk straight, then turn to the goal arm read from the hidden state."""
    at_junction = observation[2] > 0
    return jnp.where(at_junction, state.goal_arm, FORWARD)


def walk_and_turn_up(key, observation, state):
    """The best memoryless policy: walk straight and, at the junction, guess up."""
    return jnp.where(observation[2] > 0, UP, FORWARD)


RANDOM = random_policy(ENV, ENV.default_params)


def first_returns(env_id, policy):
    _, params = make(env_id)
    return finished_returns(ENV, params, policy, KEY, NUM_ENVS, NUM_STEPS)


@pytest.mark.parametrize("env_id", IDS)
def test_oracle_reaches_return_one(env_id):
    returns = first_returns(env_id, walk_and_turn_to_goal)
    assert jnp.allclose(returns, 1.0)


@pytest.mark.parametrize("env_id", IDS)
def test_random_policy_falls_short(env_id):
    returns = first_returns(env_id, RANDOM)
    assert float(returns.mean()) < 0.0
    assert float(returns.min()) >= -1.0 - 1e-5


@pytest.mark.parametrize("env_id", IDS)
def test_memoryless_guess_returns_zero(env_id):
    returns = first_returns(env_id, walk_and_turn_up)
    # Each return is +1 or -1 with equal odds: the standard error is 1 / sqrt(NUM_ENVS).
    assert jnp.allclose(jnp.abs(returns), 1.0)
    assert abs(float(returns.mean())) < 4 / NUM_ENVS**0.5


def play(env, params, actions, key=KEY):
    """Reset, then take `actions`; returns observations, rewards, terminated and truncated flags."""
    reset_key, key = jax.random.split(key)
    observation, state = env.reset(reset_key, params)
    observations, rewards, terminated, truncated = [observation], [], [], []
    for step_key, action in zip(jax.random.split(key, len(actions)), actions):
        observation, state, reward, term, trunc, _ = env.step(step_key, state, action, params)
        observations.append(observation)
        rewards.append(float(reward))
        terminated.append(bool(term))
        truncated.append(bool(trunc))
    return jnp.stack(observations), rewards, terminated, truncated


def goal_of_episode(params, key=KEY):
    _, state = ENV.reset(jax.random.split(key)[0], params)
    return int(state.goal_arm)


def test_walk_shows_cue_only_first_and_junction_only_at_the_end():
    params = ENV.default_params.replace(corridor_length=3, max_steps_in_episode=14)
    goal = goal_of_episode(params)
    observations, rewards, terminated, truncated = play(
        ENV, params, [FORWARD, FORWARD, FORWARD, goal]
    )
    cue = jnp.zeros(3).at[goal].set(1.0)
    assert jnp.array_equal(observations[0], cue)
    assert jnp.array_equal(observations[1], jnp.zeros(3))
    assert jnp.array_equal(observations[2], jnp.zeros(3))
    assert jnp.array_equal(observations[3], jnp.array([0.0, 0.0, 1.0]))
    assert rewards == [0.0, 0.0, 0.0, 1.0]
    assert terminated == [False, False, False, True]
    assert truncated == [False] * 4


def test_wasted_steps_cost_and_a_wrong_turn_returns_exactly_minus_one():
    params = ENV.default_params.replace(corridor_length=2, max_steps_in_episode=20)
    goal = goal_of_episode(params)
    wrong = DOWN if goal == UP else UP
    # Bump a wall, step back at the start (a wall too), walk, bump the junction's end wall.
    detour = [wrong, BACK, FORWARD, FORWARD, FORWARD]
    _, rewards, terminated, _ = play(ENV, params, detour + [goal])
    assert rewards[:5] == pytest.approx([-0.05, -0.05, 0.0, 0.0, -0.05])
    assert sum(rewards) == pytest.approx(1.0 - 3 / 20)
    assert terminated[-1]
    _, rewards, terminated, _ = play(ENV, params, detour + [wrong])
    assert sum(rewards) == pytest.approx(-1.0)
    assert terminated[-1]


def test_stepping_back_moves_away_from_the_junction():
    params = ENV.default_params.replace(corridor_length=2, max_steps_in_episode=20)
    observations, rewards, _, _ = play(ENV, params, [FORWARD, FORWARD, BACK, FORWARD])
    assert [float(o[2]) for o in observations] == [0.0, 0.0, 1.0, 0.0, 1.0]
    assert rewards == pytest.approx([0.0, 0.0, -0.05, 0.0])


def test_time_limit_truncates_with_return_minus_one():
    params = ENV.default_params.replace(corridor_length=3, max_steps_in_episode=5)
    _, rewards, terminated, truncated = play(ENV, params, [UP] * 5)
    assert sum(rewards) == pytest.approx(-1.0)
    assert terminated == [False] * 5
    assert truncated == [False] * 4 + [True]


@pytest.mark.parametrize(("env_id", "corridor_length"), list(zip(IDS, [10, 50, 200])))
def test_difficulties_set_corridor_and_time_limit(env_id, corridor_length):
    env, params = make(env_id)
    assert env.name == "TMaze"
    assert params.corridor_length == corridor_length
    assert params.max_steps_in_episode == corridor_length + 11


def test_corridor_length_is_a_make_keyword():
    env, params = make("TMaze-Easy", corridor_length=400)
    assert env.corridor_length == 400
    assert params.corridor_length == 400
    assert params.max_steps_in_episode == 411


@pytest.mark.parametrize("corridor_length", [0, -3, 2.5, True, "10"])
def test_bad_corridor_length_is_rejected(corridor_length):
    with pytest.raises(ValueError, match="corridor_length"):
        TMaze(corridor_length=corridor_length)
