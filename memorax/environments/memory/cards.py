"""Decks of playing cards, dealt one card at a time.

Only the kind of each card matters to the card tasks (its suit, colour or rank),
so a deck is the running totals of the cards left of each kind: `deck[i]` counts
the cards of kinds 0..i, and `deck[-1]` all cards left. No task holds a shuffled
deck: each card's kind is drawn from the cards left when it is dealt, which has
exactly the distribution of dealing from a shuffled deck and keeps `reset` cheap
(gymnax computes a reset at every step to auto-reset, so a permutation per reset
would dominate the step cost). Running totals, unlike counts per kind, make a
deal one comparison per kind, with no prefix sum.

POPGym's deck orders ranks ace (0), 2, ..., king (12).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.environments.memory.uniforms import uniform_integer

NUM_SUITS = 4
NUM_RANKS = 13
NUM_COLORS = 2
DECK_SIZE = NUM_SUITS * NUM_RANKS


def fresh_deck(num_kinds: int, cards_per_kind: int) -> jax.Array:
    """A full deck: `cards_per_kind` cards of each of `num_kinds` kinds."""
    return cards_per_kind * jnp.arange(1, num_kinds + 1, dtype=jnp.int32)


def deal(uniform: jax.Array, deck: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Deal one card uniformly from the cards left; returns `(kind, deck left)`.

    `uniform` is a number in [0, 1). The cards left stand in a row sorted by kind
    and the card at `floor(uniform * cards left)` is dealt: its kind is the number
    of running totals at or below that place (a float product rather than bits
    modulo the total: CPUs have no vector integer division). An empty deck deals
    kind 0 and goes negative, so callers that may run it dry use `deal_if`.
    """
    place = uniform_integer(uniform, deck[-1])
    # One vector comparison; measured faster under vmap than unrolling over kinds.
    kind = jnp.sum(deck <= place).astype(jnp.int32)
    return kind, deck - (jnp.arange(deck.shape[0]) >= kind)


def deal_if(
    deal_now: jax.Array, uniform: jax.Array, deck: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """`deal`, but the deck is left as it is where `deal_now` is false (the kind
    returned then means nothing): for tasks that deal on some steps only."""
    kind, deck_left = deal(uniform, deck)
    return kind, jnp.where(deal_now, deck_left, deck)


def cards_left(deck: jax.Array, kind: jax.Array) -> jax.Array:
    """How many cards of `kind` the deck holds: a difference of running totals."""
    kinds = jnp.arange(deck.shape[0])
    up_to_kind = jnp.sum(jnp.where(kinds == kind, deck, 0))
    before_kind = jnp.sum(jnp.where(kinds == kind - 1, deck, 0))
    return up_to_kind - before_kind
