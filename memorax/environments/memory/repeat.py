"""Repeat tasks: name the suit of a card dealt earlier from a shuffled deck.

This module also holds the deck the card tasks deal from. Only the kind of each
card matters (its suit here; colour, suit or rank in CountRecall), so a deck is
the running totals of the cards left of each kind, `deck[i]` = cards of kinds
0..i, and each card's kind is drawn when it is dealt: the distribution of dealing
from a shuffled deck, a `reset` that costs one draw, and, unlike counts per kind,
no prefix sum over the kinds per card dealt.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory.cards import DECK_SIZE, NUM_RANKS, NUM_SUITS


def check_num_decks(num_decks: int) -> None:
    if isinstance(num_decks, bool) or not isinstance(num_decks, int) or num_decks < 1:
        raise ValueError(f"num_decks must be a positive integer, got {num_decks!r}")


def random_bits(key: jax.Array, count: int = 1) -> jax.Array:
    """`count` uniform uint32s from one call (cheaper than splitting the key)."""
    return jax.random.bits(key, (count,), jnp.uint32)


def deal_first(
    bits: jax.Array, num_kinds: int, per_kind: int
) -> tuple[jax.Array, jax.Array]:
    """Deal from a fresh deck of `per_kind` cards of each of `num_kinds` kinds.

    Every kind is equally likely, so no search is needed. `bits` is one uniform
    uint32. Returns `(kind, deck left)`.
    """
    kind = (bits % num_kinds).astype(jnp.int32)
    kinds = jnp.arange(num_kinds)
    return kind, per_kind * (kinds + 1) - (kinds >= kind)


def deal(bits: jax.Array, deck: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Deal one card uniformly from a non-empty `deck`; returns `(kind, deck left)`.

    The bits modulo the deck size place the card (biased by under size / 2**32,
    several times cheaper than `jax.random.randint`); its kind is the number of
    running totals at or below that place.
    """
    place = (bits % deck[-1].astype(jnp.uint32)).astype(jnp.int32)
    kind = jnp.sum(deck <= place).astype(jnp.int32)
    return kind, deck - (jnp.arange(deck.shape[0]) >= kind)


def cards_left(deck: jax.Array, kind: jax.Array) -> jax.Array:
    """How many cards of `kind` the deck holds: a difference of running totals."""
    kinds = jnp.arange(deck.shape[0])
    upto_kind = jnp.sum(jnp.where(kinds == kind, deck, 0))
    before_kind = jnp.sum(jnp.where(kinds == kind - 1, deck, 0))
    return upto_kind - before_kind


def suit_one_hot(suit: jax.Array) -> jax.Array:
    return jax.nn.one_hot(suit, NUM_SUITS, dtype=jnp.float32)


def plus_minus(correct: jax.Array, scale: float) -> jax.Array:
    """`+scale` for a correct answer, `-scale` otherwise, as a float32 scalar."""
    return jnp.where(correct, scale, -scale).astype(jnp.float32)


@struct.dataclass
class RepeatFirstState:
    time: int
    first_suit: jax.Array  # the answer, for the whole episode
    current_suit: jax.Array  # suit of the card on show
    deck: jax.Array  # (4,) running totals of the cards left by suit (see `deal`)


class RepeatFirst(environment.Environment[RepeatFirstState, environment.EnvParams]):
    """Say the suit of the first card dealt, at every step: remember one suit.

    Cards from `num_decks` shuffled decks are dealt one a step.
    Observation: the suit of the card on show (one-hot, 4) and a flag that is 1 on
    the first card only; 5 floats in [0, 1].
    Action: `Discrete(4)`, a suit.
    Episode: one step per card after the first, 52 * num_decks - 1 steps
    (Easy/Medium/Hard = 1/8/16 decks: 51/415/831 steps); it ends terminated when
    the deck is empty.
    Reward: +1/(52 * num_decks - 1) for the first card's suit, minus that otherwise.
    Maximum return: 1.
    Best memoryless policy (analytic): the shown suit on the first card, then a suit
    other than the shown one (the card on show is no longer in the deck, so its
    suit is a little less likely to be the first card's), right with probability
    p = 13n / (52n - 1) for n decks. Expected return
    (1 + (52n - 2)(2p - 1)) / (52n - 1): -0.4610 / -0.4952 / -0.4976.
    """

    def __init__(self, num_decks: int = 1):
        super().__init__()
        check_num_decks(num_decks)
        self.num_decks = num_decks
        self.episode_length = DECK_SIZE * num_decks - 1
        self.reward_scale = 1.0 / self.episode_length

    @property
    def name(self) -> str:
        return "RepeatFirst"

    @property
    def num_actions(self) -> int:
        return NUM_SUITS

    @property
    def default_params(self) -> environment.EnvParams:
        # One step beyond the game, so the time limit never ends it first.
        return environment.EnvParams(max_steps_in_episode=self.episode_length + 1)

    def reset_env(self, key, params):
        bits = random_bits(key)[0]
        first_suit, deck = deal_first(bits, NUM_SUITS, NUM_RANKS * self.num_decks)
        state = RepeatFirstState(
            time=0, first_suit=first_suit, current_suit=first_suit, deck=deck
        )
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        reward = plus_minus(action == state.first_suit, self.reward_scale)
        suit, deck = deal(random_bits(key)[0], state.deck)
        state = state.replace(time=state.time + 1, current_suit=suit, deck=deck)
        terminated = state.time >= self.episode_length
        return self.get_obs(state), state, reward, terminated, {}

    def get_obs(self, state, params=None, key=None) -> jax.Array:
        is_first_card = jnp.asarray(state.time == 0, jnp.float32)[None]
        return jnp.concatenate([suit_one_hot(state.current_suit), is_first_card])

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (NUM_SUITS + 1,), jnp.float32)

    def action_space(self, params) -> spaces.Discrete:
        return spaces.Discrete(NUM_SUITS)


@struct.dataclass
class RepeatPreviousState:
    time: int
    current_suit: jax.Array  # suit of the card on show
    deck: jax.Array  # (4,) running totals of the cards left by suit (see `deal`)
    # Suits of the last k cards dealt: card i (counting from 0) sits in slot i % k.
    # int8, as it is the bulk of the state that every step copies.
    recent_suits: jax.Array


class RepeatPrevious(
    environment.Environment[RepeatPreviousState, environment.EnvParams]
):
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
        super().__init__()
        check_num_decks(num_decks)
        if (
            isinstance(k, bool)
            or not isinstance(k, int)
            or not 1 <= k < DECK_SIZE * num_decks
        ):
            raise ValueError(
                f"k must be an integer in [1, {DECK_SIZE * num_decks}) for "
                f"{num_decks} deck(s), got {k!r}"
            )
        self.num_decks = num_decks
        self.k = k
        self.episode_length = DECK_SIZE * num_decks - 1
        self.reward_scale = 1.0 / (DECK_SIZE * num_decks - k)

    @property
    def name(self) -> str:
        return "RepeatPrevious"

    @property
    def num_actions(self) -> int:
        return NUM_SUITS

    @property
    def default_params(self) -> environment.EnvParams:
        # One step beyond the game, so the time limit never ends it first.
        return environment.EnvParams(max_steps_in_episode=self.episode_length + 1)

    def reset_env(self, key, params):
        bits = random_bits(key)[0]
        suit, deck = deal_first(bits, NUM_SUITS, NUM_RANKS * self.num_decks)
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
        suit, deck = deal(random_bits(key)[0], state.deck)
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

    def action_space(self, params) -> spaces.Discrete:
        return spaces.Discrete(NUM_SUITS)


ENVIRONMENTS: dict[str, Callable] = {
    "RepeatFirst-Easy": functools.partial(RepeatFirst, num_decks=1),
    "RepeatFirst-Medium": functools.partial(RepeatFirst, num_decks=8),
    "RepeatFirst-Hard": functools.partial(RepeatFirst, num_decks=16),
    "RepeatPrevious-Easy": functools.partial(RepeatPrevious, num_decks=1, k=4),
    "RepeatPrevious-Medium": functools.partial(RepeatPrevious, num_decks=2, k=32),
    "RepeatPrevious-Hard": functools.partial(RepeatPrevious, num_decks=3, k=64),
}
