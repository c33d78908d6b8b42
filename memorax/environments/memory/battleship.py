"""Battleship on a hidden board: remember where you have fired and what you hit."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory.arguments import boolean, integer_in_range, one_of
from memorax.environments.memory.uniforms import cheap_uniforms

# While ships are placed, each row of the board is a uint32 bit mask, holding the
# horizontal placements in its low 16 bits and the vertical ones in its high 16.
MAX_BOARD_SIZE = 16
VERTICAL_BIT_OFFSET = 16
# What the first observation of an episode shows: POPGym's miss, or a miss at a
# random ship-free cell.
FIRST_OBSERVATIONS = ("miss", "free_miss")
# A row or column of -1 one-hot encodes to all zeros: no shot yet.
NO_CELL = -1


@struct.dataclass
class EnvState(environment.EnvState):
    ship_cells: jax.Array  # (board_size, board_size) bool: cells covered by a ship
    fired_cells: jax.Array  # (board_size, board_size) bool: cells fired at so far
    ship_placements: jax.Array  # (num_ships, 3) int32: (vertical, row, col) of each bow
    hits: jax.Array  # int32: ship cells hit (each counted once)
    misses: jax.Array  # int32: shots that hit nothing new
    time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
    max_steps_in_episode: int = 100


class Battleship(environment.Environment[EnvState, EnvParams]):
    """Sink hidden ships while seeing only whether your last shot hit: remember
    every shot.

    The agent never sees the board, only the outcome of its last shot, so it must
    remember which cells it has fired at and where it has hit to finish the ships.
    By default this is POPGym 1.0.7's Battleship; each keyword below is a
    documented deviation from it.

    - Observation: whether the last shot hit a new ship cell, one-hot
      (`[miss, hit]`, POPGym's `Discrete(2)`). The first observation of an
      episode shows a miss (POPGym's 0). POPGym leaves the shot's cell to a
      previous-action wrapper (`obs_requires_prev_action`).
    - Action: the cell to fire at, `row * board_size + col`: POPGym's
      `MultiDiscrete([board_size, board_size])` flattened row-major.
    - Ships: `ship_sizes` (default 2, 3, 3, 4) placed one by one, each uniformly
      among the straight placements that fit the board and miss the ships already
      placed (POPGym's distribution).
    - Reward: `+1 / num_ship_cells` for hitting a new ship cell, `-1 / (cells -
      num_ship_cells)` for any other shot (a miss or a repeated cell).
    - Episode: terminated when every ship cell is hit, truncated after `cells`
      shots: 64, 100 and 144 for Easy (8x8), Medium (10x10) and Hard (12x12).
    - Returns: at most 1 (every shot a hit); firing at every cell once scores
      at least 0 (all ships are sunk after at most `cells - num_ship_cells`
      misses); repeated cells count as misses, so the lowest return is
      `-cells / (cells - num_ship_cells)` (-1.23 on Easy). A uniformly random
      policy scores -0.448 / -0.416 / -0.400 in episodes of 64.0 / 100.0 /
      143.9 steps (POPGym 1.0.7, 100,000 episodes; memorax's tests pin their
      random play to these, `tests/environments/popgym_reference.py`).
    - Best memoryless policy: the observation alone says nothing about where
      to fire, and we know no observation-only policy better than uniformly
      random play.

    Deviations, each off by default:

    - `observe_last_shot=True`: the observation adds the last shot's row and
      column, one-hot (`[miss, hit, row, col]`, length `2 + 2 * board_size`;
      all zeros before the first shot): what POPGym's previous-action wrapper
      adds. A memoryless policy can then sweep the board row by row (fire at
      the cell after the last one shown, cell 1 first, wrapping around),
      scoring 0.165 / 0.173 / 0.178 (estimated from 100,000 episodes each,
      standard error 0.0005); its last shots fall on the bottom row and a
      corner, where ships are rarer than inside the board.
    - `first_observation="free_miss"`: the first observation shows a miss at a
      random cell without a ship (not counted as fired at), so with
      `observe_last_shot` a sweep starts at a random cell and scores 0.144 /
      0.145 / 0.149 instead (same estimate); `"miss"` (default) is POPGym's.
    - `end_after_misses=True`: the game also ends (terminated) after
      `cells - num_ship_cells` misses, which keeps every return at or above -1
      and never ends a game that could still score above 0; episodes last at
      most `cells - 1` steps. Random play then scores -0.397 / -0.385 / -0.380
      instead of -0.448 / -0.416 / -0.400, in episodes of 59.2 / 95.3 / 139.4
      steps instead of 64.0 / 100.0 / 143.9 (16,384 episodes, standard error
      0.001).
    """

    def __init__(
        self,
        board_size: int = 10,
        ship_sizes: tuple[int, ...] = (2, 3, 3, 4),
        observe_last_shot: bool = False,
        first_observation: str = "miss",
        end_after_misses: bool = False,
    ):
        super().__init__()
        ship_sizes = tuple(int(size) for size in ship_sizes)
        _check_board(board_size, ship_sizes)
        self.board_size = board_size
        self.ship_sizes = ship_sizes
        self.observe_last_shot = boolean("observe_last_shot", observe_last_shot)
        self.first_observation = one_of(
            "first_observation", first_observation, FIRST_OBSERVATIONS
        )
        self.end_after_misses = boolean("end_after_misses", end_after_misses)
        self.num_cells = board_size * board_size
        self.num_ship_cells = sum(ship_sizes)
        self.allowed_misses = self.num_cells - self.num_ship_cells

    @property
    def name(self) -> str:
        return "Battleship"

    @property
    def num_actions(self) -> int:
        return self.num_cells

    @property
    def default_params(self) -> EnvParams:
        # POPGym's limit of one shot per cell; with `end_after_misses` the game
        # always ends by its own rules first.
        return EnvParams(max_steps_in_episode=self.num_cells)

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[Any, Any]]:
        row, col = jnp.divmod(jnp.asarray(action, jnp.int32), self.board_size)
        hit = state.ship_cells[row, col] & ~state.fired_cells[row, col]
        hits = state.hits + hit.astype(jnp.int32)
        misses = state.misses + (~hit).astype(jnp.int32)
        state = state.replace(
            fired_cells=state.fired_cells | (self._cell_grid == action),
            hits=hits,
            misses=misses,
            time=state.time + 1,
        )
        reward = jnp.where(
            hit, 1.0 / self.num_ship_cells, -1.0 / self.allowed_misses
        ).astype(jnp.float32)
        terminated = hits >= self.num_ship_cells
        if self.end_after_misses:
            terminated = terminated | (misses >= self.allowed_misses)
        return self._observation(hit, row, col), state, reward, terminated, {}

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        uniforms = cheap_uniforms(key, len(self.ship_sizes) + 1)
        occupied_rows = jnp.zeros(self.board_size, jnp.uint32)
        placements = []
        for ship_size, uniform in zip(self.ship_sizes, uniforms):
            placement, occupied_rows = self._place_ship(uniform, occupied_rows, ship_size)
            placements.append(placement)
        if self.first_observation == "free_miss":
            row, col = _pick_set_bit(uniforms[-1], ~occupied_rows & self._full_row)
        else:
            row, col = jnp.int32(NO_CELL), jnp.int32(NO_CELL)
        state = EnvState(
            ship_cells=_rows_to_grid(occupied_rows, self.board_size),
            fired_cells=jnp.zeros((self.board_size, self.board_size), bool),
            ship_placements=jnp.stack(placements),
            hits=jnp.int32(0),
            misses=jnp.int32(0),
            time=0,
        )
        return self._observation(jnp.bool_(False), row, col), state

    @property
    def _cell_grid(self) -> jax.Array:
        """The flat index of every cell; comparing to it is cheaper than a scatter."""
        return jnp.arange(self.num_cells).reshape(self.board_size, self.board_size)

    @property
    def _full_row(self) -> jax.Array:
        return jnp.uint32((1 << self.board_size) - 1)

    def _place_ship(
        self, uniform: jax.Array, occupied_rows: jax.Array, ship_size: int
    ) -> tuple[jax.Array, jax.Array]:
        """Place one ship uniformly among the placements that fit; returns
        `((vertical, row, col), occupied_rows)` with the ship added."""
        n = self.board_size
        # Horizontal: a bow at column c of row r fits if cells c .. c+size-1 are free.
        blocked = occupied_rows
        for offset in range(1, ship_size):
            blocked = blocked | (occupied_rows >> offset)
        horizontal_bows = ~blocked & jnp.uint32((1 << (n - ship_size + 1)) - 1)
        # Vertical: rows past the bottom edge count as fully occupied.
        padded = jnp.concatenate(
            [occupied_rows, jnp.full(ship_size - 1, self._full_row, jnp.uint32)]
        )
        blocked = occupied_rows
        for offset in range(1, ship_size):
            blocked = blocked | padded[offset : offset + n]
        vertical_bows = ~blocked & self._full_row

        bows = horizontal_bows | (vertical_bows << VERTICAL_BIT_OFFSET)
        row, bit = _pick_set_bit(uniform, bows)
        vertical = bit >= VERTICAL_BIT_OFFSET
        col = bit % VERTICAL_BIT_OFFSET
        rows = jnp.arange(n)
        bow_bit = jnp.left_shift(jnp.uint32(1), col.astype(jnp.uint32))
        horizontal_cells = jnp.where(rows == row, bow_bit * jnp.uint32((1 << ship_size) - 1), 0)
        vertical_cells = jnp.where((rows >= row) & (rows < row + ship_size), bow_bit, 0)
        ship_rows = jnp.where(vertical, vertical_cells, horizontal_cells).astype(jnp.uint32)
        placement = jnp.stack([vertical.astype(jnp.int32), row, col])
        return placement, occupied_rows | ship_rows

    def _observation(self, hit: jax.Array, row: jax.Array, col: jax.Array) -> jax.Array:
        outcome = jax.nn.one_hot(hit.astype(jnp.int32), 2, dtype=jnp.float32)
        if not self.observe_last_shot:
            return outcome
        return jnp.concatenate(
            [
                outcome,
                jax.nn.one_hot(row, self.board_size, dtype=jnp.float32),
                jax.nn.one_hot(col, self.board_size, dtype=jnp.float32),
            ]
        )

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_cells)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        size = 2 + 2 * self.board_size if self.observe_last_shot else 2
        return spaces.Box(0.0, 1.0, (size,), jnp.float32)


def _pick_set_bit(uniform: jax.Array, line_masks: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Choose one set bit uniformly over all `line_masks` (uint32 bit masks);
    returns `(line, bit)`. Inverse-CDF sampling: one uniform, no rejection."""
    num_lines = line_masks.shape[0]
    counts = jax.lax.population_count(line_masks).astype(jnp.float32)
    # Running totals by a tiny matmul: on CPU it is much faster than jnp.cumsum.
    ends = counts @ jnp.triu(jnp.ones((num_lines, num_lines), jnp.float32))
    total = ends[-1]
    index = jnp.minimum(jnp.floor(uniform * total), total - 1)
    line = jnp.sum(ends <= index).astype(jnp.int32)
    is_line = jnp.arange(num_lines) == line
    index_in_line = index - jnp.sum(jnp.where(is_line, ends - counts, 0.0))
    mask = jnp.max(jnp.where(is_line, line_masks, jnp.uint32(0)))
    # Number of set bits at or below each position, to find the chosen one.
    bits_up_to = jnp.left_shift(jnp.uint32(2), jnp.arange(32, dtype=jnp.uint32)) - 1
    set_bits_up_to = jax.lax.population_count(mask & bits_up_to).astype(jnp.float32)
    bit = jnp.sum(set_bits_up_to <= index_in_line).astype(jnp.int32)
    return line, bit


def _rows_to_grid(row_masks: jax.Array, board_size: int) -> jax.Array:
    bits = row_masks[:, None] >> jnp.arange(board_size, dtype=jnp.uint32)
    return (bits & 1).astype(bool)


def _check_board(board_size: int, ship_sizes: tuple[int, ...]) -> None:
    """Raise ValueError unless every ship always finds a free placement."""
    integer_in_range("board_size", board_size, 2, MAX_BOARD_SIZE)
    if not ship_sizes or min(ship_sizes) < 1 or max(ship_sizes) > board_size:
        raise ValueError(
            f"ship_sizes must be a non-empty list of sizes in [1, board_size={board_size}],"
            f" got {list(ship_sizes)}"
        )
    placed = 0
    for size in ship_sizes:
        # Each occupied cell rules out at most 2 * size of the 2 * n * (n - size + 1)
        # placements of a ship of this size.
        if placed * size >= board_size * (board_size - size + 1):
            raise ValueError(
                f"ship_sizes {list(ship_sizes)} may not fit on a {board_size}x{board_size}"
                " board: use a larger board_size or fewer ships"
            )
        placed += size
    if placed >= board_size * board_size:
        raise ValueError(f"ship_sizes {list(ship_sizes)} leave no free cell on the board")


ENVIRONMENTS = {
    "Battleship-Easy": functools.partial(Battleship, board_size=8),
    "Battleship-Medium": functools.partial(Battleship, board_size=10),
    "Battleship-Hard": functools.partial(Battleship, board_size=12),
}
