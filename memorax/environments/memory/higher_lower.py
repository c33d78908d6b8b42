"""HigherLower: guess whether the next card of a deck ranks higher or lower."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory import cards
from memorax.environments.memory.arguments import positive_integer

GUESS_HIGHER = 0
GUESS_LOWER = 1


@struct.dataclass
class HigherLowerState(environment.EnvState):
    current_rank: jax.Array  # rank of the card on the table
    next_rank: jax.Array  # rank of the card the next step reveals (drawn ahead)
    ranks_left_cumulative: jax.Array  # (13,) cards not yet drawn of rank <= r
    time: int


@struct.dataclass
class HigherLowerParams(environment.EnvParams):
    max_steps_in_episode: int = 52


class HigherLower(environment.Environment[HigherLowerState, HigherLowerParams]):
    """Guess if the next card of a shuffled deck ranks higher or lower than this one.

    What helps to remember: which ranks have already left the deck (card counting).

    Observation (13 floats): one-hot rank of the card on the table (ace low).
    Action: `Discrete(2)`: 0 guesses higher, 1 guesses lower (POPGym's order).
    Episode: the first card is shown at reset and every step reveals the next,
    until the deck is empty: `52 * num_decks - 1` steps, 51 / 103 / 155 for
    Easy / Medium / Hard (1 / 2 / 3 decks); then it terminates.
    Reward: +1/(52 * num_decks) for a right guess, -1/(52 * num_decks) for a
    wrong one, 0 when the ranks are equal (a push).
    Maximum return: every guess right but the pushes, `1 - (1 + pushes) / N`;
    in expectation 12/13 = 0.923 (analytic: a shuffled deck has on average
    `4 * num_decks - 1` pairs of equal neighbours). Uniformly random: 0.
    Best memoryless return (analytic): guess toward the side with more ranks.
    Without memory the next card is uniform over the other `N - 1` cards, so a
    step on rank r earns `|12 - 2r| * 4 * num_decks / ((N - 1) N)`; summed over
    the episode that is 84/169 = 0.497 at every difficulty.
    """

    def __init__(self, num_decks: int = 1):
        super().__init__()
        self.num_decks = positive_integer("num_decks", num_decks)
        self.num_cards = cards.DECK_SIZE * num_decks

    @property
    def default_params(self) -> HigherLowerParams:
        # One step beyond the game's own end, so the time limit never fires.
        return HigherLowerParams(max_steps_in_episode=self.num_cards)

    @property
    def name(self) -> str:
        return "HigherLower"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: HigherLowerParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: HigherLowerParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (cards.NUM_RANKS,), jnp.float32)

    def get_obs(self, state: HigherLowerState, params=None, key=None) -> jax.Array:
        return jax.nn.one_hot(state.current_rank, cards.NUM_RANKS, dtype=jnp.float32)

    def reset_env(self, key: jax.Array, params: HigherLowerParams):
        first_uniform, second_uniform = jax.random.uniform(key, (2,))
        current_rank, ranks_left_cumulative = cards.deal(
            first_uniform,
            cards.fresh_deck(cards.NUM_RANKS, cards.NUM_SUITS * self.num_decks),
        )
        next_rank, ranks_left_cumulative = cards.deal(
            second_uniform, ranks_left_cumulative
        )
        state = HigherLowerState(
            current_rank=current_rank,
            next_rank=next_rank,
            ranks_left_cumulative=ranks_left_cumulative,
            time=0,
        )
        return self.get_obs(state), state

    def step_env(self, key, state: HigherLowerState, action, params: HigherLowerParams):
        went_up = state.next_rank > state.current_rank
        went_down = state.next_rank < state.current_rank
        guessed_higher = action == GUESS_HIGHER
        right = jnp.where(guessed_higher, went_up, went_down)
        wrong = jnp.where(guessed_higher, went_down, went_up)
        reward = (
            right.astype(jnp.float32) - wrong.astype(jnp.float32)
        ) / self.num_cards

        # Draw the card after the revealed one, unless the deck is now empty.
        deck_empty = state.ranks_left_cumulative[-1] == 0
        drawn_rank, ranks_left_cumulative = cards.deal_if(
            ~deck_empty, jax.random.uniform(key), state.ranks_left_cumulative
        )
        state = HigherLowerState(
            current_rank=state.next_rank,
            next_rank=jnp.where(deck_empty, state.next_rank, drawn_rank),
            ranks_left_cumulative=ranks_left_cumulative,
            time=state.time + 1,
        )
        terminated = state.time >= self.num_cards - 1
        return self.get_obs(state), state, reward, terminated, {}


ENVIRONMENTS = {
    "HigherLower-Easy": functools.partial(HigherLower, num_decks=1),
    "HigherLower-Medium": functools.partial(HigherLower, num_decks=2),
    "HigherLower-Hard": functools.partial(HigherLower, num_decks=3),
}
