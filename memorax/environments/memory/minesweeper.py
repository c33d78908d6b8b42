"""MineSweeper on a hidden board: remember which cells are safe and already open."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory.arguments import boolean, integer_in_range, one_of
from memorax.environments.memory.uniforms import cheap_uniforms, uniform_integer

# A click shows how many mines lie in the 3x3 square around the cell, the cell
# itself included (POPGym's count: it differs from the neighbours' only when the
# click hits a mine, which ends the game). At most 9 and at most the mines.
MAX_COUNT = 9
# What the first observation of an episode shows: POPGym's count 0, or the count
# of a random cell.
FIRST_OBSERVATIONS = ("zero", "random_cell")
# A row or column of -1 one-hot encodes to all zeros: no click yet.
NO_CELL = -1


@struct.dataclass
class EnvState(environment.EnvState):
    mine_cells: jax.Array  # (num_mines,) int32: flat index row * board_size + col of each mine
    revealed: jax.Array  # (board_size, board_size) bool: safe cells opened so far
    num_revealed: jax.Array  # int32
    game_over: jax.Array  # bool: a mine hit, every safe cell open (or, with limit_terminates, the budget spent)
    time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
    max_steps_in_episode: int = 30


class MineSweeper(environment.Environment[EnvState, EnvParams]):
    """MineSweeper with the board hidden: remember the cells you opened and the
    mine counts they showed.

    By default this is POPGym 1.0.7's MineSweeper; each keyword below is a
    documented deviation from it.

    - Observation: the mine count of the last clicked cell, one-hot over
      `min(num_mines, 9) + 1` values (POPGym's `Discrete(min(num_mines + 1,
      10))`): the number of mines in the 3x3 square around the cell, the cell
      included. The first observation shows count 0 (POPGym's 0). POPGym leaves
      the clicked cell to a previous-action wrapper (`obs_requires_prev_action`).
    - Action: the cell to open, `row * board_size + col`: POPGym's
      `MultiDiscrete([board_size, board_size])` flattened row-major.
    - Mines: `num_mines` distinct cells, uniformly at random.
    - Reward, with `S = cells - num_mines` safe cells: `+1 / S` for opening a new
      safe cell, `-0.5 / (S - 2)` for opening an already open cell, and
      `-0.5 - 1 / S` for opening a mine.
    - Episode: terminated on a mine or when all safe cells are open; truncated
      after `S` clicks (the budget) if neither happened: at most 14, 30 and 54
      steps for Easy (4x4, 2 mines), Medium (6x6, 6 mines) and Hard (8x8, 10
      mines).
    - Returns lie in [-1, 1]. Maximum return: 1 (open every safe cell once).
      A uniformly random policy scores -0.230 / -0.400 / -0.433, and 15.5% /
      0.4% / 0.02% of its episodes on Easy / Medium / Hard are truncated by the
      budget (POPGym 1.0.7, 100,000 episodes; memorax's tests pin their random
      play to these, `tests/environments/popgym_reference.py`).
    - Best memoryless policy: the count alone says nothing about where to
      click; we know no observation-only policy better than uniformly random
      play.

    Deviations, each off by default:

    - `observe_last_click=True`: the observation adds the clicked cell's row
      and column, one-hot (all zeros before the first click): what POPGym's
      previous-action wrapper adds. A memoryless policy can then sweep the
      board (open the cell after the last one, row by row); with `K` the safe
      cells before the first mine in the sweep, `E[K] = S / (num_mines + 1)`
      and its expected return is `E[K] / S - (0.5 + 1 / S) * (1 - 1 /
      C(cells, num_mines))` (analytic): -0.233 (Easy), -0.390 (Medium), -0.428
      (Hard).
    - `first_observation="random_cell"`: the first observation shows the count
      of a random cell that is not opened (it may hold a mine) and, with
      `observe_last_click`, its row and column: a free look at the board.
      `"zero"` (default) is POPGym's.
    - `limit_terminates=True`: the budget ends an episode as terminated rather
      than truncated, so a learner does not bootstrap past it (no click
      follows): the 15.5% / 0.4% / 0.02% of random episodes truncated by
      default end terminated instead; the returns are unchanged.
    """

    def __init__(
        self,
        board_size: int = 6,
        num_mines: int = 6,
        observe_last_click: bool = False,
        first_observation: str = "zero",
        limit_terminates: bool = False,
    ):
        super().__init__()
        self.board_size = integer_in_range("board_size", board_size, 2, 64)
        num_cells = board_size * board_size
        # At most board_size**2 - 3: the repeat penalty divides by (safe cells - 2).
        self.num_mines = integer_in_range(
            "num_mines", num_mines, 1, num_cells - 3, " (board_size**2 - 3 at most)"
        )
        self.observe_last_click = boolean("observe_last_click", observe_last_click)
        self.first_observation = one_of(
            "first_observation", first_observation, FIRST_OBSERVATIONS
        )
        self.limit_terminates = boolean("limit_terminates", limit_terminates)
        self.num_cells = num_cells
        self.num_safe_cells = num_cells - num_mines
        self.num_counts = min(num_mines, MAX_COUNT) + 1

    @property
    def name(self) -> str:
        return "MineSweeper"

    @property
    def num_actions(self) -> int:
        return self.num_cells

    @property
    def default_params(self) -> EnvParams:
        # The click budget; with `limit_terminates` the game ends by its own
        # rules at the same step.
        return EnvParams(max_steps_in_episode=self.num_safe_cells)

    @property
    def _cell_grid(self) -> jax.Array:
        """The flat index of every cell; comparing to it is cheaper than a scatter."""
        return jnp.arange(self.num_cells).reshape(self.board_size, self.board_size)

    @property
    def reveal_reward(self) -> float:
        return 1.0 / self.num_safe_cells

    @property
    def repeat_reward(self) -> float:
        return -0.5 / (self.num_safe_cells - 2)

    @property
    def mine_reward(self) -> float:
        return -0.5 - 1.0 / self.num_safe_cells

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[Any, Any]]:
        cell = jnp.asarray(action, jnp.int32)
        row, col = jnp.divmod(cell, self.board_size)
        is_mine = jnp.any(state.mine_cells == cell)
        was_open = state.revealed[row, col]
        opens = ~is_mine & ~was_open
        num_revealed = state.num_revealed + opens.astype(jnp.int32)
        time = state.time + 1
        game_over = is_mine | (num_revealed >= self.num_safe_cells)
        if self.limit_terminates:
            game_over = game_over | (time >= self.num_safe_cells)
        state = state.replace(
            revealed=state.revealed | (self._cell_grid == cell) & opens,
            num_revealed=num_revealed,
            game_over=game_over,
            time=time,
        )
        reward = jnp.where(
            is_mine,
            self.mine_reward,
            jnp.where(was_open, self.repeat_reward, self.reveal_reward),
        ).astype(jnp.float32)
        count = self.mine_count(state.mine_cells, row, col)
        return self._observation(count, row, col), state, reward, game_over, {}

    def is_truncated(self, state: EnvState, params: EnvParams) -> jax.Array:
        # As POPGym: the budget truncates only a game that has not ended.
        return (state.time >= params.max_steps_in_episode) & ~state.game_over

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        uniforms = cheap_uniforms(key, self.num_mines + 1)
        mine_cells = _distinct_cells(uniforms[:-1], self.num_cells)
        state = EnvState(
            mine_cells=mine_cells,
            revealed=jnp.zeros((self.board_size, self.board_size), bool),
            num_revealed=jnp.int32(0),
            game_over=jnp.bool_(False),
            time=0,
        )
        if self.first_observation == "random_cell":
            start = uniform_integer(uniforms[-1], self.num_cells)
            row, col = jnp.divmod(start, self.board_size)
            count = self.mine_count(mine_cells, row, col)
        else:
            row, col = jnp.int32(NO_CELL), jnp.int32(NO_CELL)
            count = jnp.int32(0)
        return self._observation(count, row, col), state

    def mine_count(self, mine_cells: jax.Array, row: jax.Array, col: jax.Array) -> jax.Array:
        """Mines in the 3x3 square around `(row, col)`, the cell itself included."""
        mine_rows, mine_cols = jnp.divmod(mine_cells, self.board_size)
        around = (jnp.abs(mine_rows - row) <= 1) & (jnp.abs(mine_cols - col) <= 1)
        return jnp.sum(around).astype(jnp.int32)

    def _observation(self, count: jax.Array, row: jax.Array, col: jax.Array) -> jax.Array:
        counted = jax.nn.one_hot(count, self.num_counts, dtype=jnp.float32)
        if not self.observe_last_click:
            return counted
        return jnp.concatenate(
            [
                counted,
                jax.nn.one_hot(row, self.board_size, dtype=jnp.float32),
                jax.nn.one_hot(col, self.board_size, dtype=jnp.float32),
            ]
        )

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_cells)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        size = self.num_counts + (2 * self.board_size if self.observe_last_click else 0)
        return spaces.Box(0.0, 1.0, (size,), jnp.float32)


def _distinct_cells(uniforms: jax.Array, num_cells: int) -> jax.Array:
    """A uniformly random set of `len(uniforms)` distinct cells (Floyd's algorithm):
    one uniform per chosen cell and O(k^2) work, cheaper than shuffling every cell."""
    num_chosen = uniforms.shape[0]
    largest = jnp.arange(num_cells - num_chosen, num_cells)
    candidates = uniform_integer(uniforms, largest + 1)
    chosen = []
    for slot in range(num_chosen):
        taken = jnp.bool_(False)
        for earlier in chosen:
            taken = taken | (earlier == candidates[slot])
        chosen.append(jnp.where(taken, largest[slot], candidates[slot]))
    return jnp.stack(chosen)


ENVIRONMENTS = {
    "MineSweeper-Easy": functools.partial(MineSweeper, board_size=4, num_mines=2),
    "MineSweeper-Medium": functools.partial(MineSweeper, board_size=6, num_mines=6),
    "MineSweeper-Hard": functools.partial(MineSweeper, board_size=8, num_mines=10),
}
