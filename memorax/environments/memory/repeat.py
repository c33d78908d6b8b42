"""Repeat tasks: name the suit of a card dealt earlier from a shuffled deck.

The decks are those of `cards`: running totals of the cards left by suit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory.arguments import boolean, integer_in_range, positive_integer
from memorax.environments.memory.cards import (
    DECK_SIZE,
    NUM_RANKS,
    NUM_SUITS,
    deal,
    fresh_deck,
)


def suit_one_hot(suit: jax.Array) -> jax.Array:
    return jax.nn.one_hot(suit, NUM_SUITS, dtype=jnp.float32)


def plus_minus(correct: jax.Array, scale: float) -> jax.Array:
    """`+scale` for a correct answer, `-scale` otherwise, as a float32 scalar."""
    return jnp.where(correct, scale, -scale).astype(jnp.float32)


class _NameASuit(environment.Environment):
    """What both Repeat tasks share: deal `num_decks` decks, one card a step, and
    ask for a suit at every step until the deck is empty."""

    def __init__(self, num_decks: int):
        super().__init__()
        self.num_decks = positive_integer("num_decks", num_decks)
        self.episode_length = DECK_SIZE * num_decks - 1

    @property
    def num_actions(self) -> int:
        return NUM_SUITS

    @property
    def default_params(self) -> environment.EnvParams:
        # One step beyond the game, so the time limit never ends it first.
        return environment.EnvParams(max_steps_in_episode=self.episode_length + 1)

    def action_space(self, params) -> spaces.Discrete:
        return spaces.Discrete(NUM_SUITS)


@struct.dataclass
class RepeatFirstState:
    time: int
    first_suit: jax.Array  # the answer, for the whole episode
    current_suit: jax.Array  # suit of the card on show
    deck: jax.Array  # (4,) running totals of the cards left by suit (see `cards`)


class RepeatFirst(_NameASuit):
    """Say the suit of the first card dealt, at every step: remember one suit.

    Cards from `num_decks` shuffled decks are dealt one a step; by default this is
    POPGym 1.0.7's RepeatFirst.
    Observation: the suit of the card on show, one-hot (4 floats; POPGym's
    `Discrete(4)`). Nothing marks the first card.
    Action: `Discrete(4)`, a suit.
    Episode: one step per card after the first, 52 * num_decks - 1 steps
    (Easy/Medium/Hard = 1/8/16 decks: 51/415/831 steps); it ends terminated when
    the deck is empty.
    Reward: +1/(52 * num_decks - 1) for the first card's suit, minus that otherwise.
    Maximum return: 1. Uniformly random play: -0.5.
    Best memoryless policy (analytic): always name the suit on show. It is right
    at the first step, and later with probability r = (13n - 1) / (52n - 1) for
    n decks (the first card's suit has one card fewer left to show); naming
    another suit is right with probability 13n / (52n - 1) later but wrong at
    the first step, which costs more. Expected return
    (1 + (52n - 2)(2r - 1)) / (52n - 1): -0.4994 / -0.5000 / -0.5000, no better
    than random play.

    Deviation, off by default: `first_card_flag=True` adds a fifth entry, 1 on
    the first card only (POPGym's docstring describes it; its code omits it).
    The best memoryless policy then names the shown suit on the first card and
    another suit later, right with probability p = 13n / (52n - 1): expected
    return (1 + (52n - 2)(2p - 1)) / (52n - 1) = -0.4610 / -0.4952 / -0.4976.
    """

    def __init__(self, num_decks: int = 1, first_card_flag: bool = False):
        super().__init__(num_decks)
        self.first_card_flag = boolean("first_card_flag", first_card_flag)
        self.reward_scale = 1.0 / self.episode_length

    @property
    def name(self) -> str:
        return "RepeatFirst"


    def reset_env(self, key, params):
        first_suit, deck = deal(
            jax.random.uniform(key), fresh_deck(NUM_SUITS, NUM_RANKS * self.num_decks)
        )
        state = RepeatFirstState(
            time=0, first_suit=first_suit, current_suit=first_suit, deck=deck
        )
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        reward = plus_minus(action == state.first_suit, self.reward_scale)
        suit, deck = deal(jax.random.uniform(key), state.deck)
        state = state.replace(time=state.time + 1, current_suit=suit, deck=deck)
        terminated = state.time >= self.episode_length
        return self.get_obs(state), state, reward, terminated, {}

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        if not self.first_card_flag:
            return suit_one_hot(state.current_suit)
        is_first_card = jnp.asarray(state.time == 0, jnp.float32)[None]
        return jnp.concatenate([suit_one_hot(state.current_suit), is_first_card])

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (NUM_SUITS + self.first_card_flag,), jnp.float32)


@struct.dataclass
class RepeatPreviousState:
    time: int
    current_suit: jax.Array  # suit of the card on show
    deck: jax.Array  # (4,) running totals of the cards left by suit (see `cards`)
    # Suits of the last k cards dealt: card i (counting from 0) sits in slot i % k.
    # int8, as it is the bulk of the state that every step copies.
    recent_suits: jax.Array


class RepeatPrevious(_NameASuit):
    """Say the suit of the card dealt k cards ago: remember the last k suits.

    Cards from `num_decks` shuffled decks are dealt one a step; after seeing cards
    0..i the answer is the suit of card i + 1 - k, the card shown k - 1 steps
    before the current one (k = 1 asks for the card on show).
    Observation: the suit of the card on show, one-hot (4 floats).
    Action: `Discrete(4)`, a suit.
    Episode: 52 * num_decks - 1 steps, ending terminated when the deck is empty
    (Easy/Medium/Hard = (1 deck, k=4) / (2, 32) / (3, 64): 51/103/155 steps).
    Reward: 0 while fewer than k cards have been seen (the first k - 1 steps), then
    +1/(52 * num_decks - k) for the right suit and minus that otherwise.
    Maximum return: 1.
    Best memoryless policy (analytic, k >= 2): a suit other than the one on show,
    right with probability p = 13n / (52n - 1); expected return 2p - 1:
    -0.4902 / -0.4951 / -0.4968.
    """

    def __init__(self, num_decks: int = 1, k: int = 4):
        super().__init__(num_decks)
        last_card = DECK_SIZE * num_decks - 1
        self.k = integer_in_range("k", k, 1, last_card, f" for {num_decks} deck(s)")
        self.reward_scale = 1.0 / (DECK_SIZE * num_decks - k)

    @property
    def name(self) -> str:
        return "RepeatPrevious"


    def reset_env(self, key, params):
        suit, deck = deal(
            jax.random.uniform(key), fresh_deck(NUM_SUITS, NUM_RANKS * self.num_decks)
        )
        recent_suits = jnp.where(jnp.arange(self.k) == 0, suit, 0).astype(jnp.int8)
        state = RepeatPreviousState(
            time=0, current_suit=suit, deck=deck, recent_suits=recent_suits
        )
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        cards_seen = state.time + 1
        # Card cards_seen - k is the answer; it shares its slot with the next card.
        # Masks rather than indexing: gathers and scatters are slow under vmap on CPU.
        in_slot = jnp.arange(self.k) == cards_seen % self.k
        answer = jnp.sum(jnp.where(in_slot, state.recent_suits, 0))
        scored = plus_minus(action == answer, self.reward_scale)
        reward = jnp.where(cards_seen >= self.k, scored, jnp.float32(0.0))
        suit, deck = deal(jax.random.uniform(key), state.deck)
        state = state.replace(
            time=state.time + 1,
            current_suit=suit,
            deck=deck,
            recent_suits=jnp.where(in_slot, suit, state.recent_suits).astype(jnp.int8),
        )
        terminated = state.time >= self.episode_length
        return self.get_obs(state), state, reward, terminated, {}

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        return suit_one_hot(state.current_suit)

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (NUM_SUITS,), jnp.float32)


ENVIRONMENTS: dict[str, Callable] = {
    "RepeatFirst-Easy": functools.partial(RepeatFirst, num_decks=1),
    "RepeatFirst-Medium": functools.partial(RepeatFirst, num_decks=8),
    "RepeatFirst-Hard": functools.partial(RepeatFirst, num_decks=16),
    "RepeatPrevious-Easy": functools.partial(RepeatPrevious, num_decks=1, k=4),
    "RepeatPrevious-Medium": functools.partial(RepeatPrevious, num_decks=2, k=32),
    "RepeatPrevious-Hard": functools.partial(RepeatPrevious, num_decks=3, k=64),
}
