"""Dealing from shuffled decks of playing cards, one card at a time.

The card tasks never hold a shuffled deck: each step draws the next card from the
counts of the cards still in the deck. That has exactly the distribution of dealing
from a shuffled deck, and keeps `reset` cheap (gymnax computes a reset at every
step to auto-reset, so a permutation per reset would dominate the step cost).

A card is an integer in [0, 52): rank `card // 4` (ace, 2, ..., king) and suit
`card % 4`, the order of POPGym's deck; its colour is `card % 2`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NUM_SUITS = 4
NUM_RANKS = 13
NUM_COLORS = 2
DECK_SIZE = NUM_SUITS * NUM_RANKS


def full_deck(num_decks: int) -> jax.Array:
    """Counts of each of the 52 cards in `num_decks` fresh decks, shape (52,)."""
    return jnp.full((DECK_SIZE,), num_decks, jnp.int32)


def deal(key: jax.Array, remaining: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Draw one card uniformly from the cards left; returns `(card, remaining)`.

    `remaining` must hold at least one card.
    """
    # One uniform draw over the cards left, located by the running counts: cheaper
    # than a categorical, which draws one Gumbel number per kind of card.
    position = jax.random.randint(key, (), 0, remaining.sum())
    card = jnp.sum(jnp.cumsum(remaining) <= position).astype(jnp.int32)
    return card, remaining.at[card].add(-1)


def suit(card: jax.Array) -> jax.Array:
    return card % NUM_SUITS


def rank(card: jax.Array) -> jax.Array:
    return card // NUM_SUITS


def color(card: jax.Array) -> jax.Array:
    return card % NUM_COLORS
