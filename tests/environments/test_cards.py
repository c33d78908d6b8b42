"""The deck the card tasks deal from: running totals of the cards left by kind."""

import jax
import jax.numpy as jnp
import numpy as np

from memorax.environments.memory import cards


def uniforms(seed, count):
    return jax.random.uniform(jax.random.PRNGKey(seed), (count,))


def test_deal_follows_the_cards_left():
    cards_before = np.array([1, 0, 3, 6])
    deck = jnp.cumsum(jnp.asarray(cards_before, jnp.int32))
    kinds, decks_left = jax.vmap(cards.deal, in_axes=(0, None))(
        uniforms(5, 20_000), deck
    )
    frequencies = np.bincount(np.asarray(kinds), minlength=4) / 20_000
    np.testing.assert_allclose(frequencies, [0.1, 0.0, 0.3, 0.6], atol=0.015)
    # One card of the dealt kind is gone, and no other.
    cards_after = np.diff(np.asarray(decks_left), prepend=0)
    np.testing.assert_array_equal(
        cards_before - cards_after, np.eye(4, dtype=int)[np.asarray(kinds)]
    )
    kind_two = jax.vmap(cards.cards_left, in_axes=(0, None))(decks_left, 2)
    np.testing.assert_array_equal(kind_two, cards_after[:, 2])


def test_dealing_a_whole_deck_deals_every_card_once():
    deck = cards.fresh_deck(cards.NUM_RANKS, 4)

    def deal_all(key):
        def step(deck, uniform):
            kind, deck = cards.deal(uniform, deck)
            return deck, kind

        return jax.lax.scan(step, deck, jax.random.uniform(key, (cards.DECK_SIZE,)))

    decks_left, kinds = jax.vmap(deal_all)(jax.random.split(jax.random.PRNGKey(7), 64))
    np.testing.assert_array_equal(decks_left, 0)
    per_rank = np.stack([(np.asarray(kinds) == rank).sum(1) for rank in range(13)], 1)
    np.testing.assert_array_equal(per_rank, 4)


def test_a_fresh_deck_deals_every_kind_alike():
    kinds, decks = jax.vmap(cards.deal, in_axes=(0, None))(
        uniforms(6, 13_000), cards.fresh_deck(13, 4)
    )
    frequencies = np.bincount(np.asarray(kinds), minlength=13) / 13_000
    np.testing.assert_allclose(frequencies, 1 / 13, atol=0.01)
    cards_after = np.diff(np.asarray(decks), prepend=0)
    np.testing.assert_array_equal(
        cards_after, 4 - np.eye(13, dtype=int)[np.asarray(kinds)]
    )


def test_deal_if_keeps_the_deck_when_not_dealing_even_if_empty():
    empty = jnp.zeros(4, jnp.int32)
    _, deck = cards.deal_if(jnp.bool_(False), jnp.float32(0.5), empty)
    np.testing.assert_array_equal(deck, empty)
    full = cards.fresh_deck(4, 13)
    _, deck = cards.deal_if(jnp.bool_(True), jnp.float32(0.5), full)
    assert int(deck[-1]) == 51
