"""Task tests for MineSweeper: oracle, random and memoryless returns, rules, options."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory.minesweeper import EnvState, MineSweeper
from tests.environments.popgym_reference import assert_random_play_matches_popgym
from tests.environments.rollout import (
    assert_mean_near,
    finished_episodes,
    finished_returns,
    random_policy,
)

NUM_ENVS = 384
RANDOM_PLAY_ENVS = 4096
DIFFICULTIES = ["Easy", "Medium", "Hard"]
BOARDS = {"Easy": (4, 2), "Medium": (6, 6), "Hard": (8, 10)}
# The sweep's expected return as written in the class docstring.
DOCUMENTED_SWEEP_RETURN = {"Easy": -0.233, "Medium": -0.390, "Hard": -0.428}


def oracle_policy(env: MineSweeper):
    """Knows the mines: opens the first safe cell not yet open."""

    def policy(key, observation, state):
        mines = jnp.zeros(env.num_cells, bool).at[state.mine_cells].set(True)
        return jnp.argmax(~mines & ~state.revealed.ravel())

    return policy


def sweep_policy(env: MineSweeper):
    """Memoryless (needs `observe_last_click`): opens the cell after the one the
    observation shows, row by row; cell 1 first, as no cell is shown before the
    first click."""
    n, counts = env.board_size, env.num_counts

    def policy(key, observation, state):
        row = jnp.argmax(observation[counts : counts + n])
        col = jnp.argmax(observation[counts + n :])
        return (row * n + col + 1) % env.num_cells

    return policy


def sweep_expected_return(board_size: int, num_mines: int) -> float:
    """The docstring's formula: the sweep opens K safe cells, then maybe a mine."""
    num_cells = board_size * board_size
    safe = num_cells - num_mines
    expected_safe_before_mine = safe / (num_mines + 1)
    chance_of_mine = 1 - 1 / math.comb(num_cells, num_mines)
    return expected_safe_before_mine / safe - (0.5 + 1 / safe) * chance_of_mine


def returns_of(env_id, make_policy, seed, **options):
    env, params = make(env_id, **options)
    key = jax.random.key(seed)
    # The click budget ends every game.
    return finished_returns(env, params, make_policy(env), key, NUM_ENVS, env.num_safe_cells)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_oracle_reaches_the_maximum_return(difficulty):
    returns = returns_of(f"MineSweeper-{difficulty}", oracle_policy, seed=0)
    np.testing.assert_allclose(returns, 1.0, atol=1e-5)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_random_play_matches_popgym(difficulty):
    env_id = f"MineSweeper-{difficulty}"
    env, params = make(env_id)
    returns, lengths, terminated = finished_episodes(
        env, params, random_policy(env, params), jax.random.key(1), RANDOM_PLAY_ENVS,
        env.num_safe_cells,
    )
    assert_random_play_matches_popgym(env_id, returns, lengths, terminated)
    assert returns.min() >= -1.0 - 1e-5
    # Only the budget truncates: every shorter game ended by its own rules.
    assert terminated[lengths < env.num_safe_cells].all()


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_memoryless_sweep_matches_its_analytic_return(difficulty):
    expected = sweep_expected_return(*BOARDS[difficulty])
    assert expected == pytest.approx(DOCUMENTED_SWEEP_RETURN[difficulty], abs=5e-4)
    returns = returns_of(
        f"MineSweeper-{difficulty}", sweep_policy, seed=2, observe_last_click=True
    )
    assert_mean_near(returns, expected)
    assert returns.mean() < 1.0 - 0.5


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_registered_board_sizes(difficulty):
    env, params = make(f"MineSweeper-{difficulty}")
    board_size, num_mines = BOARDS[difficulty]
    assert (env.board_size, env.num_mines) == (board_size, num_mines)
    assert params.max_steps_in_episode == board_size**2 - num_mines
    assert env.action_space(params).n == board_size**2
    # POPGym's Discrete(min(num_mines + 1, 10)): the count includes the clicked cell.
    assert env.observation_space(params).shape == (min(num_mines + 1, 10),)
    env, params = make(f"MineSweeper-{difficulty}", observe_last_click=True)
    assert env.observation_space(params).shape == (min(num_mines + 1, 10) + 2 * board_size,)


def test_mines_are_distinct_and_uniform_over_cells():
    env = MineSweeper(board_size=4, num_mines=3)
    keys = jax.random.split(jax.random.key(3), 4000)
    _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params)
    mines = np.sort(np.asarray(states.mine_cells), axis=1)
    assert ((mines >= 0) & (mines < 16)).all()
    assert (np.diff(mines, axis=1) > 0).all(), "two mines share a cell"
    # Each cell holds a mine with chance 3/16; chi-square with 15 degrees of freedom.
    counts = np.bincount(mines.ravel(), minlength=16)
    expected = len(keys) * 3 / 16
    assert ((counts - expected) ** 2 / expected).sum() < 50


def brute_force_counts(mine_cells, board_size):
    grid = np.zeros((board_size + 2, board_size + 2), int)
    for cell in mine_cells:
        grid[1 + cell // board_size, 1 + cell % board_size] = 1
    counts = sum(
        grid[1 + dr : 1 + dr + board_size, 1 + dc : 1 + dc + board_size]
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
    )
    return counts  # the 3x3 square around each cell, the cell itself included


def decode(env, observation):
    n, counts = env.board_size, env.num_counts
    observation = np.asarray(observation)
    assert observation.sum() == 3, "one-hot blocks must each hold a single 1"
    count = int(np.argmax(observation[:counts]))
    row = int(np.argmax(observation[counts : counts + n]))
    col = int(np.argmax(observation[counts + n :]))
    return count, row, col


def test_observation_shows_the_mine_count_around_the_clicked_cell():
    env = MineSweeper(
        board_size=6, num_mines=6, observe_last_click=True, first_observation="random_cell"
    )
    plain = MineSweeper(board_size=6, num_mines=6)
    params = env.default_params
    step, plain_step = jax.jit(env.step_env), jax.jit(plain.step_env)
    key = jax.random.key(4)
    for _ in range(3):
        key, reset_key = jax.random.split(key)
        observation, state = env.reset(reset_key, params)
        counts = brute_force_counts(np.asarray(state.mine_cells), 6)
        count, row, col = decode(env, observation)
        assert count == counts[row, col]
        for cell in range(env.num_cells):
            observation, *_ = step(key, state, cell, params)
            expected = counts[cell // 6, cell % 6]
            assert decode(env, observation) == (expected, cell // 6, cell % 6)
            observation, *_ = plain_step(key, state, cell, params)
            np.testing.assert_array_equal(observation, np.eye(7)[expected])


def test_first_observation_is_count_zero_and_no_cell_by_default():
    keys = jax.random.split(jax.random.key(8), 8)
    env = MineSweeper(board_size=4, num_mines=2)
    observations, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params)
    np.testing.assert_array_equal(observations, np.tile([1.0, 0.0, 0.0], (8, 1)))
    env = MineSweeper(board_size=4, num_mines=2, observe_last_click=True)
    observations, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params)
    np.testing.assert_array_equal(observations, np.tile([1.0] + [0.0] * 10, (8, 1)))


def known_board(env, mine_cells):
    return EnvState(
        mine_cells=jnp.asarray(mine_cells, jnp.int32),
        revealed=jnp.zeros((env.board_size, env.board_size), bool),
        num_revealed=jnp.int32(0),
        game_over=jnp.bool_(False),
        time=0,
    )


def test_reward_scale_and_the_worst_return_is_minus_one():
    env = MineSweeper(board_size=4, num_mines=2)  # 14 safe cells
    params = env.default_params
    state = known_board(env, [0, 1])
    key = jax.random.key(5)
    _, state, reward, terminated, _ = env.step_env(key, state, 5, params)
    assert reward == pytest.approx(1 / 14) and not terminated
    total = float(reward)
    for _ in range(12):  # repeated clicks on the open cell
        _, state, reward, terminated, _ = env.step_env(key, state, 5, params)
        assert reward == pytest.approx(-0.5 / 12) and not terminated
        total += float(reward)
    _, state, reward, terminated, _ = env.step_env(key, state, 1, params)
    assert reward == pytest.approx(-0.5 - 1 / 14) and terminated
    assert total + float(reward) == pytest.approx(-1.0)
    assert reward.dtype == jnp.float32 and terminated.dtype == jnp.bool_


@pytest.mark.parametrize("limit_terminates", [False, True])
def test_the_click_budget_truncates_or_with_the_option_terminates(limit_terminates):
    env = MineSweeper(board_size=4, num_mines=2, limit_terminates=limit_terminates)
    params = env.default_params
    state = known_board(env, [0, 1])
    for click, key in enumerate(jax.random.split(jax.random.key(6), 14), start=1):
        _, state, _, terminated, truncated, _ = env.step(key, state, 7, params)
        last = click == 14
        assert bool(terminated) == (last and limit_terminates)
        assert bool(truncated) == (last and not limit_terminates)


def test_a_game_lost_at_the_last_click_is_terminated_not_truncated():
    env = MineSweeper(board_size=4, num_mines=2)
    params = env.default_params
    state = known_board(env, [0, 1])
    for click, key in enumerate(jax.random.split(jax.random.key(9), 14), start=1):
        cell = 1 if click == 14 else 7
        _, state, _, terminated, truncated, _ = env.step(key, state, cell, params)
    assert bool(terminated) and not bool(truncated)


def test_game_ends_when_every_safe_cell_is_open():
    env = MineSweeper(board_size=4, num_mines=2)
    params = env.default_params
    state = known_board(env, [14, 15])
    key = jax.random.key(7)
    total = 0.0
    for cell in range(14):
        _, state, reward, terminated, _ = env.step_env(key, state, cell, params)
        total += float(reward)
        assert bool(terminated) == (cell == 13)
    assert total == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(board_size=1, num_mines=1), "board_size"),
        (dict(board_size=4, num_mines=0), "num_mines"),
        (dict(board_size=4, num_mines=14), "num_mines"),
        (dict(observe_last_click=None), "observe_last_click"),
        (dict(first_observation="none"), "first_observation"),
        (dict(limit_terminates=0), "limit_terminates"),
    ],
)
def test_bad_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        MineSweeper(**kwargs)
    with pytest.raises(ValueError, match=argument):
        make("MineSweeper-Easy", **kwargs)
