"""CountRecall: say how often cards of a queried kind have been dealt so far.

Two decks are dealt side by side, one card of each a step: the value deck, whose
cards are to be counted, and the query deck, whose card names the kind (colour,
suit or rank) to count. Both are decks of `cards`: running totals of the
cards left by kind.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory.arguments import one_of, positive_integer
from memorax.environments.memory.cards import (
    DECK_SIZE,
    NUM_COLORS,
    NUM_RANKS,
    NUM_SUITS,
    cards_left,
    deal,
    fresh_deck,
)
from memorax.environments.memory.repeat import plus_minus

# What a card counts as, and how many kinds of it a deck has.
NUM_KINDS = {"colors": NUM_COLORS, "suits": NUM_SUITS, "ranks": NUM_RANKS}


@struct.dataclass
class CountRecallState:
    time: int
    value: jax.Array  # kind of the value card on show
    query: jax.Array  # kind asked about
    # (kinds,) running totals of the cards left by kind (see `cards`). The
    # answer is cards_per_kind - cards_left(value_deck, query).
    value_deck: jax.Array
    query_deck: jax.Array


class CountRecall(environment.Environment[CountRecallState, environment.EnvParams]):
    """Count the dealt cards of the queried kind: remember a count for every kind.

    Each step shows a value card and a query card, both drawn from their own
    `num_decks` shuffled decks; the answer is how many value cards of the query's
    kind (colour, suit or rank, by `count_by`) have been dealt, the one on show
    included.
    Observation: the value card's kind and the query card's kind, each one-hot
    (2 * kinds floats in [0, 1]).
    Action: `Discrete(cards per kind + 1)`, the count 0..cards per kind.
    Episode: 52 * num_decks - 1 steps, ending terminated when the value deck is
    empty. Easy/Medium/Hard = (1 deck, colours) / (2, suits) / (4, ranks): 51/103/207
    steps, 27/27/17 actions.
    Reward: +1/(52 * num_decks - 1) for the right count, minus that otherwise.
    Maximum return: 1.
    Best memoryless policy (analytic, exact hypergeometric sum): for "value kind ==
    query kind" and for "different kinds", the single count most often right over
    the episode; expected return -0.9230 / -0.9245 / -0.8812, hardly above a uniformly
    random answer's 2 / (cards per kind + 1) - 1 = -0.9259 / -0.9259 / -0.8824.
    """

    def __init__(self, num_decks: int = 1, count_by: str = "colors"):
        super().__init__()
        self.num_decks = positive_integer("num_decks", num_decks)
        self.count_by = one_of("count_by", count_by, NUM_KINDS)
        self.num_kinds = NUM_KINDS[count_by]
        self.cards_per_kind = DECK_SIZE * num_decks // self.num_kinds
        self.episode_length = DECK_SIZE * num_decks - 1
        self.reward_scale = 1.0 / self.episode_length

    @property
    def name(self) -> str:
        return "CountRecall"

    @property
    def num_actions(self) -> int:
        return self.cards_per_kind + 1

    @property
    def default_params(self) -> environment.EnvParams:
        # One step beyond the game, so the time limit never ends it first.
        return environment.EnvParams(max_steps_in_episode=self.episode_length + 1)

    def reset_env(self, key, params):
        # Two uniforms cost one threefry block, as one does.
        value_uniform, query_uniform = jax.random.uniform(key, (2,))
        deck = fresh_deck(self.num_kinds, self.cards_per_kind)
        value, value_deck = deal(value_uniform, deck)
        query, query_deck = deal(query_uniform, deck)
        state = CountRecallState(
            time=0,
            value=value,
            query=query,
            value_deck=value_deck,
            query_deck=query_deck,
        )
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        reward = plus_minus(action == self.answer(state), self.reward_scale)
        value_uniform, query_uniform = jax.random.uniform(key, (2,))
        value, value_deck = deal(value_uniform, state.value_deck)
        query, query_deck = deal(query_uniform, state.query_deck)
        state = state.replace(
            time=state.time + 1,
            value=value,
            query=query,
            value_deck=value_deck,
            query_deck=query_deck,
        )
        terminated = state.time >= self.episode_length
        return self.get_obs(state), state, reward, terminated, {}

    def answer(self, state: CountRecallState) -> jax.Array:
        """How many value cards of the query's kind have been dealt so far."""
        return self.cards_per_kind - cards_left(state.value_deck, state.query)

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        # Two one-hot blocks: the value's kind, then the query's.
        hot = jnp.arange(2 * self.num_kinds)
        is_hot = (hot == state.value) | (hot == self.num_kinds + state.query)
        return is_hot.astype(jnp.float32)

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2 * self.num_kinds,), jnp.float32)

    def action_space(self, params) -> spaces.Discrete:
        return spaces.Discrete(self.cards_per_kind + 1)


ENVIRONMENTS: dict[str, Callable] = {
    "CountRecall-Easy": functools.partial(CountRecall, num_decks=1, count_by="colors"),
    "CountRecall-Medium": functools.partial(CountRecall, num_decks=2, count_by="suits"),
    "CountRecall-Hard": functools.partial(CountRecall, num_decks=4, count_by="ranks"),
}
