"""Task tests for Battleship: oracle, random and memoryless returns, rules, options."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import make
from memorax.environments.memory.battleship import Battleship
from tests.environments.popgym_reference import assert_random_play_matches_popgym
from tests.environments.rollout import (
    assert_mean_near,
    finished_episodes,
    finished_returns,
    random_policy,
)

NUM_ENVS = 384
# Random play: enough episodes to tell POPGym's rules from `end_after_misses`
# (0.013 apart on Hard) within the comparison's 4 standard errors.
RANDOM_PLAY_ENVS = 4096
DIFFICULTIES = ["Easy", "Medium", "Hard"]
BOARD_SIZES = {"Easy": 8, "Medium": 10, "Hard": 12}
# The sweep's return (with `observe_last_shot`) as estimated in the class docstring
# (100,000 episodes each).
DOCUMENTED_SWEEP_RETURN = {"Easy": 0.165, "Medium": 0.173, "Hard": 0.178}


def oracle_policy(env: Battleship):
    """Knows the board: fires at the first ship cell not yet hit."""

    def policy(key, observation, state):
        return jnp.argmax((state.ship_cells & ~state.fired_cells).ravel())

    return policy


def sweep_policy(env: Battleship):
    """Memoryless (needs `observe_last_shot`): fires at the cell after the one the
    observation shows; cell 1 first, as no cell is shown before the first shot."""
    n = env.board_size

    def policy(key, observation, state):
        row = jnp.argmax(observation[2 : 2 + n])
        col = jnp.argmax(observation[2 + n :])
        return (row * n + col + 1) % env.num_cells

    return policy


def returns_of(env_id, make_policy, seed, **options):
    env, params = make(env_id, **options)
    key = jax.random.key(seed)
    return finished_returns(env, params, make_policy(env), key, NUM_ENVS, env.num_cells)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_oracle_reaches_the_maximum_return(difficulty):
    returns = returns_of(f"Battleship-{difficulty}", oracle_policy, seed=0)
    np.testing.assert_allclose(returns, 1.0, atol=1e-5)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_random_play_matches_popgym(difficulty):
    env_id = f"Battleship-{difficulty}"
    env, params = make(env_id)
    returns, lengths, terminated = finished_episodes(
        env, params, random_policy(env, params), jax.random.key(1), RANDOM_PLAY_ENVS,
        env.num_cells,
    )
    assert_random_play_matches_popgym(env_id, returns, lengths, terminated)
    # Repeated cells count as misses: the floor is every shot a miss.
    assert returns.min() >= -env.num_cells / env.allowed_misses - 1e-5


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_memoryless_sweep_matches_its_estimated_return(difficulty):
    returns = returns_of(
        f"Battleship-{difficulty}", sweep_policy, seed=2, observe_last_shot=True
    )
    assert_mean_near(returns, DOCUMENTED_SWEEP_RETURN[difficulty], slack=2e-3)
    assert returns.mean() < 1.0 - 0.5
    # A sweep fires at every cell once, so it sinks every ship after at most
    # `cells - ship cells` misses and never scores below 0.
    assert returns.min() >= -1e-5


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_registered_board_sizes(difficulty):
    env, params = make(f"Battleship-{difficulty}")
    n = BOARD_SIZES[difficulty]
    assert env.board_size == n and env.ship_sizes == (2, 3, 3, 4)
    assert env.action_space(params).n == n * n
    assert env.observation_space(params).shape == (2,)
    assert params.max_steps_in_episode == n * n  # one shot per cell, as POPGym
    env, params = make(f"Battleship-{difficulty}", observe_last_shot=True)
    assert env.observation_space(params).shape == (2 + 2 * n,)


def ship_cells_of(placements, ship_sizes, board_size):
    """Cells of each ship from its (vertical, row, col) placement; None if off board."""
    cells = []
    for (vertical, row, col), size in zip(placements, ship_sizes):
        ship = [(row + i, col) if vertical else (row, col + i) for i in range(size)]
        if any(not (0 <= r < board_size and 0 <= c < board_size) for r, c in ship):
            return None
        cells.append(ship)
    return cells


def test_ship_placements_are_valid_and_cover_every_placement():
    env = Battleship(board_size=8, observe_last_shot=True, first_observation="free_miss")
    keys = jax.random.split(jax.random.key(3), 3000)
    observations, states = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params)
    placements = np.asarray(states.ship_placements)
    boards = np.asarray(states.ship_cells)
    observations = np.asarray(observations)
    for placement, board, observation in zip(placements, boards, observations):
        ships = ship_cells_of(placement, env.ship_sizes, 8)
        assert ships is not None, f"a ship leaves the board: {placement}"
        cells = [cell for ship in ships for cell in ship]
        assert len(set(cells)) == sum(env.ship_sizes), f"ships overlap: {placement}"
        expected = np.zeros((8, 8), bool)
        expected[tuple(np.array(cells).T)] = True
        np.testing.assert_array_equal(board, expected)
        # With "free_miss" the first observation is a miss on a cell without a ship.
        assert observation[0] == 1.0 and observation.sum() == 3
        row, col = np.argmax(observation[2:10]), np.argmax(observation[10:])
        assert not board[row, col]
    # The first ship (size 2) is uniform over its 2 * 8 * 7 placements: chi-square.
    first = placements[:, 0]
    index = first[:, 0] * 64 + first[:, 1] * 8 + first[:, 2]
    counts = np.bincount(index, minlength=128)
    possible = [v * 64 + r * 8 + c for v in (0, 1) for r in range(8) for c in range(8)
                if (c < 7 if v == 0 else r < 7)]
    assert counts.sum() == counts[possible].sum()
    expected_count = len(keys) / len(possible)
    assert ((counts[possible] - expected_count) ** 2 / expected_count).sum() < 200


def test_first_observation_is_a_miss_and_no_cell_by_default():
    keys = jax.random.split(jax.random.key(4), 8)
    env = Battleship(board_size=8)
    observations, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params)
    np.testing.assert_array_equal(observations, np.tile([1.0, 0.0], (8, 1)))
    env = Battleship(board_size=8, observe_last_shot=True)
    observations, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, env.default_params)
    np.testing.assert_array_equal(observations, np.tile([1.0] + [0.0] * 17, (8, 1)))


def one_ship_board(env):
    """A reset state with a known layout: just the size-2 ship at (0, 0)-(0, 1)."""
    _, state = env.reset(jax.random.key(0), env.default_params)
    ship_cells = jnp.zeros((env.board_size, env.board_size), bool).at[0, :2].set(True)
    return state.replace(ship_cells=ship_cells, ship_placements=jnp.zeros((1, 3), jnp.int32))


def test_reward_scale_and_ending_after_all_ships_are_hit():
    env = Battleship(board_size=4, ship_sizes=(2,), observe_last_shot=True)
    params = env.default_params
    state = one_ship_board(env)
    key = jax.random.key(1)
    _, state, reward, terminated, _ = env.step_env(key, state, 0, params)
    assert reward == pytest.approx(1 / 2) and not terminated
    observation, state, reward, terminated, _ = env.step_env(key, state, 0, params)
    assert reward == pytest.approx(-1 / 14) and not terminated, "a repeat is a miss"
    assert observation[0] == 1.0, "a repeated hit shows as no hit"
    observation, state, reward, terminated, _ = env.step_env(key, state, 1, params)
    assert reward == pytest.approx(1 / 2) and terminated
    assert observation[1] == 1.0 and observation[2] == 1.0 and observation[2 + 4 + 1] == 1.0
    assert reward.dtype == jnp.float32 and terminated.dtype == jnp.bool_


def test_game_is_truncated_after_one_shot_per_cell():
    env = Battleship(board_size=4, ship_sizes=(2,))
    params = env.default_params
    state = one_ship_board(env)
    total = 0.0
    for shot, key in enumerate(jax.random.split(jax.random.key(2), 16), start=1):
        _, state, reward, terminated, truncated, _ = env.step(key, state, 15, params)
        total += float(reward)
        assert not terminated and bool(truncated) == (shot == 16)
    # All misses: below -1, as in POPGym.
    assert total == pytest.approx(-16 / 14)


def test_end_after_misses_ends_the_game_with_return_minus_one():
    env = Battleship(board_size=4, ship_sizes=(2,), end_after_misses=True)
    params = env.default_params
    state = one_ship_board(env)
    key = jax.random.key(2)
    total = 0.0
    for shot in range(1, 15):
        _, state, reward, terminated, _ = env.step_env(key, state, 15, params)
        total += float(reward)
        assert bool(terminated) == (shot == 14)
    assert total == pytest.approx(-1.0)
    assert not env.is_truncated(state, params)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(board_size=1), "board_size"),
        (dict(board_size=40), "board_size"),
        (dict(board_size=3, ship_sizes=(4,)), "ship_sizes"),
        (dict(board_size=8, ship_sizes=()), "ship_sizes"),
        (dict(board_size=8, ship_sizes=(0, 2)), "ship_sizes"),
        (dict(board_size=5, ship_sizes=(2, 3, 3, 4, 4)), "ship_sizes"),
        (dict(observe_last_shot=1), "observe_last_shot"),
        (dict(first_observation="random"), "first_observation"),
        (dict(end_after_misses="yes"), "end_after_misses"),
    ],
)
def test_bad_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        Battleship(**kwargs)
    with pytest.raises(ValueError, match=argument):
        make("Battleship-Easy", **kwargs)
