"""MineSweeper on a hidden board: remember which cells are safe and already open."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory.arguments import integer_in_range
from memorax.environments.memory.uniforms import cheap_uniforms, uniform_integer

# A revealed cell shows how many of its 8 neighbours hold a mine: 0 .. 8.
NUM_COUNTS = 9


@struct.dataclass
class EnvState(environment.EnvState):
    mine_cells: jax.Array  # (num_mines,) int32: flat index row * board_size + col of each mine
    revealed: jax.Array  # (board_size, board_size) bool: safe cells opened so far
    num_revealed: jax.Array  # int32
    time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
    max_steps_in_episode: int = 30


class MineSweeper(environment.Environment[EnvState, EnvParams]):
    """MineSweeper with the board hidden: remember the cells you opened and the
    mine counts they showed.

    - Observation: `[mine count, row, col]` of the last opened cell, one-hot
      encoded and concatenated, length `9 + 2 * board_size`; the count is the
      number of mines among the cell's 8 neighbours. The first observation shows
      the count of a random cell that is not opened (it may hold a mine).
    - Action: the cell to open, `row * board_size + col`: POPGym's
      `MultiDiscrete([board_size, board_size])` flattened row-major.
    - Mines: `num_mines` distinct cells, uniformly at random.
    - Reward, with `S = cells - num_mines` safe cells: `+1 / S` for opening a new
      safe cell, `-0.5 / (S - 2)` for opening an already open cell, and
      `-0.5 - 1 / S` for opening a mine, which ends the game.
    - Episode: ends (terminated) on a mine, when all safe cells are open, or after
      `S` clicks: at most 14, 30 and 54 steps for Easy (4x4, 2 mines), Medium
      (6x6, 6 mines) and Hard (8x8, 10 mines).
    - Returns lie in [-1, 1]. Maximum return: 1 (open every safe cell once).
    - Unlike POPGym, the count never includes the clicked cell itself (POPGym's
      does when it holds a mine, on the last observation of a lost game), and the
      budget is exactly `S` clicks (POPGym's off-by-one allows `S + 1`, which
      could take the return below -1).
    - Best memoryless policy: not known in closed form. The observation echoes the
      last cell, so a memoryless policy can sweep the board (open the cell after
      the last one, row by row); with `K` the safe cells before the first mine in
      the sweep, `E[K] = S / (num_mines + 1)` and its expected return is
      `E[K] / S - (0.5 + 1 / S) * (1 - 1 / C(cells, num_mines))` (analytic):
      -0.233 (Easy), -0.390 (Medium), -0.428 (Hard). A uniformly random policy
      scores about the same: -0.23, -0.40 and -0.43 (estimated).
    """

    def __init__(self, board_size: int = 6, num_mines: int = 6):
        super().__init__()
        self.board_size = integer_in_range("board_size", board_size, 2, 64)
        num_cells = board_size * board_size
        # At most board_size**2 - 3: the repeat penalty divides by (safe cells - 2).
        self.num_mines = integer_in_range(
            "num_mines", num_mines, 1, num_cells - 3, " (board_size**2 - 3 at most)"
        )
        self.num_cells = num_cells
        self.num_safe_cells = num_cells - num_mines

    @property
    def name(self) -> str:
        return "MineSweeper"

    @property
    def num_actions(self) -> int:
        return self.num_cells

    @property
    def default_params(self) -> EnvParams:
        # The click budget is a rule of the game (terminated); the time limit
        # coincides with it and never comes earlier.
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
        state = state.replace(
            revealed=state.revealed | (self._cell_grid == cell) & opens,
            num_revealed=num_revealed,
            time=time,
        )
        reward = jnp.where(
            is_mine,
            self.mine_reward,
            jnp.where(was_open, self.repeat_reward, self.reveal_reward),
        ).astype(jnp.float32)
        terminated = is_mine | (num_revealed >= self.num_safe_cells)
        terminated = terminated | (time >= self.num_safe_cells)
        observation = self._observation(state.mine_cells, row, col)
        return observation, state, reward, terminated, {}

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        uniforms = cheap_uniforms(key, self.num_mines + 1)
        mine_cells = _distinct_cells(uniforms[:-1], self.num_cells)
        start = uniform_integer(uniforms[-1], self.num_cells)
        state = EnvState(
            mine_cells=mine_cells,
            revealed=jnp.zeros((self.board_size, self.board_size), bool),
            num_revealed=jnp.int32(0),
            time=0,
        )
        start_row, start_col = jnp.divmod(start, self.board_size)
        return self._observation(mine_cells, start_row, start_col), state

    def neighbour_mines(self, mine_cells: jax.Array, row: jax.Array, col: jax.Array) -> jax.Array:
        """Mines among the 8 neighbours of `(row, col)` (the cell itself excluded)."""
        mine_rows, mine_cols = jnp.divmod(mine_cells, self.board_size)
        adjacent = (jnp.abs(mine_rows - row) <= 1) & (jnp.abs(mine_cols - col) <= 1)
        itself = (mine_rows == row) & (mine_cols == col)
        return jnp.sum(adjacent & ~itself).astype(jnp.int32)

    def _observation(self, mine_cells: jax.Array, row: jax.Array, col: jax.Array) -> jax.Array:
        return jnp.concatenate(
            [
                jax.nn.one_hot(
                    self.neighbour_mines(mine_cells, row, col), NUM_COUNTS, dtype=jnp.float32
                ),
                jax.nn.one_hot(row, self.board_size, dtype=jnp.float32),
                jax.nn.one_hot(col, self.board_size, dtype=jnp.float32),
            ]
        )

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_cells)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (NUM_COUNTS + 2 * self.board_size,), jnp.float32)


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
