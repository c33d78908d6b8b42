"""Task tests for MineSweeper: oracle, random and memoryless returns, rules."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory.minesweeper import NUM_COUNTS, EnvState, MineSweeper
from tests.environments.rollout import assert_mean_near, finished_returns, random_policy

NUM_ENVS = 384
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
    """Memoryless: opens the cell after the one the observation shows, row by row."""
    n = env.board_size

    def policy(key, observation, state):
        row = jnp.argmax(observation[NUM_COUNTS : NUM_COUNTS + n])
        col = jnp.argmax(observation[NUM_COUNTS + n :])
        return (row * n + col + 1) % env.num_cells

    return policy


def sweep_expected_return(board_size: int, num_mines: int) -> float:
    """The docstring's formula: the sweep opens K safe cells, then maybe a mine."""
    num_cells = board_size * board_size
    safe = num_cells - num_mines
    expected_safe_before_mine = safe / (num_mines + 1)
    chance_of_mine = 1 - 1 / math.comb(num_cells, num_mines)
    return expected_safe_before_mine / safe - (0.5 + 1 / safe) * chance_of_mine


def returns_of(env_id, make_policy, seed):
    env, params = make(env_id)
    key = jax.random.key(seed)
    # The click budget ends every game.
    return finished_returns(env, params, make_policy(env), key, NUM_ENVS, env.num_safe_cells)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_oracle_reaches_the_maximum_return(difficulty):
    returns = returns_of(f"MineSweeper-{difficulty}", oracle_policy, seed=0)
    np.testing.assert_allclose(returns, 1.0, atol=1e-5)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_random_policy_falls_far_short(difficulty):
    env_id = f"MineSweeper-{difficulty}"
    returns = returns_of(env_id, lambda env: random_policy(env, env.default_params), 1)
    assert returns.mean() < 0.0


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_memoryless_sweep_matches_its_analytic_return(difficulty):
    expected = sweep_expected_return(*BOARDS[difficulty])
    assert expected == pytest.approx(DOCUMENTED_SWEEP_RETURN[difficulty], abs=5e-4)
    returns = returns_of(f"MineSweeper-{difficulty}", sweep_policy, seed=2)
    assert_mean_near(returns, expected)
    assert returns.mean() < 1.0 - 0.5


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_registered_board_sizes(difficulty):
    env, params = make(f"MineSweeper-{difficulty}")
    board_size, num_mines = BOARDS[difficulty]
    assert (env.board_size, env.num_mines) == (board_size, num_mines)
    assert params.max_steps_in_episode == board_size**2 - num_mines
    assert env.action_space(params).n == board_size**2
    assert env.observation_space(params).shape == (NUM_COUNTS + 2 * board_size,)


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
    return counts - grid[1:-1, 1:-1]


def decode(env, observation):
    n = env.board_size
    observation = np.asarray(observation)
    assert observation.sum() == 3, "one-hot blocks must each hold a single 1"
    count = int(np.argmax(observation[:NUM_COUNTS]))
    row = int(np.argmax(observation[NUM_COUNTS : NUM_COUNTS + n]))
    col = int(np.argmax(observation[NUM_COUNTS + n :]))
    return count, row, col


def test_observation_shows_the_neighbour_mine_count_of_the_clicked_cell():
    env = MineSweeper(board_size=6, num_mines=6)
    params = env.default_params
    step = jax.jit(env.step_env)
    key = jax.random.key(4)
    for _ in range(3):
        key, reset_key = jax.random.split(key)
        observation, state = env.reset(reset_key, params)
        counts = brute_force_counts(np.asarray(state.mine_cells), 6)
        count, row, col = decode(env, observation)
        assert count == counts[row, col]
        for cell in range(env.num_cells):
            observation, *_ = step(key, state, cell, params)
            assert decode(env, observation) == (counts[cell // 6, cell % 6], cell // 6, cell % 6)


def known_board(env, mine_cells):
    return EnvState(
        mine_cells=jnp.asarray(mine_cells, jnp.int32),
        revealed=jnp.zeros((env.board_size, env.board_size), bool),
        num_revealed=jnp.int32(0),
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


def test_game_ends_when_the_click_budget_is_spent():
    env = MineSweeper(board_size=4, num_mines=2)
    params = env.default_params
    state = known_board(env, [0, 1])
    key = jax.random.key(6)
    for click in range(1, 15):
        _, state, _, terminated, _ = env.step_env(key, state, 7, params)
        assert bool(terminated) == (click == 14)
    assert not env.is_truncated(state.replace(time=13), params)


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
    ],
)
def test_bad_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        MineSweeper(**kwargs)
    with pytest.raises(ValueError, match=argument):
        make("MineSweeper-Easy", **kwargs)
