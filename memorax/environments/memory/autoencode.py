"""Autoencode: watch a sequence of card suits, then play it back in reverse."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory import cards
from memorax.environments.memory.arguments import positive_integer

# POPGym's modes, in its order.
PLAY, WATCH = 0, 1


@struct.dataclass
class AutoencodeState(environment.EnvState):
    suits_dealt: jax.Array  # (num_cards,) int8 suit of each card in the order dealt
    suits_left_cumulative: jax.Array  # (4,) cards not dealt yet of suit <= s
    time: int


@struct.dataclass
class AutoencodeParams(environment.EnvParams):
    max_steps_in_episode: int = 104


class Autoencode(environment.Environment[AutoencodeState, AutoencodeParams]):
    """Watch the suits of a whole shuffled deck, then name them in reverse order.

    What must be remembered: the full sequence of suits dealt.

    This is POPGym 1.0.7's Autoencode.

    Observation (6 floats): POPGym's `(mode, suit)`, each one-hot: the mode
    (`[play, watch]`, POPGym's PLAY = 0, WATCH = 1), then the suit of the card
    just dealt. In the play phase no card is dealt and the suit shows suit 0,
    as POPGym does. The observation that shows the last card already carries
    the play mode.
    Action: `Discrete(4)`, a suit; ignored while watching.
    Episode: the first card is shown at reset, the other `52 * num_decks - 1`
    at the following steps, then one step per card to recall it, so
    `2 * 52 * num_decks - 1` steps: 103 / 207 / 311 for Easy / Medium / Hard
    (1 / 2 / 3 decks). The episode terminates after the last recall.
    Reward: +1/(52 * num_decks) for each suit recalled correctly and
    -1/(52 * num_decks) for each wrong one, 0 while watching.
    Maximum return: 1. Uniformly random play: -0.5 in expectation (each recall
    is right with probability 1/4).
    Best memoryless return (analytic): the first recall asks for the card still
    on screen, every later one sees the same observation (the play mode with
    suit 0) and is right with probability 1/4 on average, giving
    `(3 - N) / (2N)` with `N = 52 * num_decks`:
    -0.471 / -0.486 / -0.490 for Easy / Medium / Hard.
    """

    def __init__(self, num_decks: int = 1):
        super().__init__()
        self.num_decks = positive_integer("num_decks", num_decks)
        self.num_cards = cards.DECK_SIZE * num_decks

    @property
    def default_params(self) -> AutoencodeParams:
        # One step beyond the game's own end, so the time limit never fires.
        return AutoencodeParams(max_steps_in_episode=2 * self.num_cards)

    @property
    def name(self) -> str:
        return "Autoencode"

    @property
    def num_actions(self) -> int:
        return cards.NUM_SUITS

    def action_space(self, params: AutoencodeParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(cards.NUM_SUITS)

    def observation_space(self, params: AutoencodeParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2 + cards.NUM_SUITS,), jnp.float32)

    def recall_index(self, time) -> jax.Array:
        """Which dealt card the action at step `time` must name (play phase only)."""
        return 2 * self.num_cards - 2 - time

    def _observation(self, in_play_phase, shown_suit) -> jax.Array:
        # One comparison over all 6 slots: [play, watch, suit 0..3] (cheaper than
        # concatenating two one-hots).
        slots = jnp.arange(2 + cards.NUM_SUITS)
        mode_slot = slots == jnp.where(in_play_phase, PLAY, WATCH)
        suit_slot = slots == 2 + shown_suit
        return (mode_slot | suit_slot).astype(jnp.float32)

    def reset_env(self, key: jax.Array, params: AutoencodeParams):
        first_suit, suits_left_cumulative = cards.deal(
            jax.random.uniform(key),
            cards.fresh_deck(cards.NUM_SUITS, cards.NUM_RANKS * self.num_decks),
        )
        suits_dealt = (
            jnp.zeros((self.num_cards,), jnp.int8)
            .at[0]
            .set(first_suit.astype(jnp.int8))
        )
        state = AutoencodeState(
            suits_dealt=suits_dealt, suits_left_cumulative=suits_left_cumulative, time=0
        )
        return self._observation(jnp.array(False), first_suit), state

    def step_env(self, key, state: AutoencodeState, action, params: AutoencodeParams):
        watching = state.time < self.num_cards - 1
        # Watch phase: deal the next card.
        new_suit, suits_left_cumulative = cards.deal_if(
            watching, jax.random.uniform(key), state.suits_left_cumulative
        )
        # A mask rather than a scatter: cheaper under vmap, and no write once all are dealt.
        deal_here = jnp.arange(self.num_cards) == state.time + 1
        suits_dealt = jnp.where(deal_here, new_suit.astype(jnp.int8), state.suits_dealt)
        # Play phase: the action names a card, last dealt first.
        recall_index = jnp.clip(self.recall_index(state.time), 0, self.num_cards - 1)
        correct = action == state.suits_dealt[recall_index]
        reward_scale = 1.0 / self.num_cards
        reward = jnp.where(
            watching, 0.0, jnp.where(correct, reward_scale, -reward_scale)
        )

        time = state.time + 1
        state = AutoencodeState(
            suits_dealt=suits_dealt,
            suits_left_cumulative=suits_left_cumulative,
            time=time,
        )
        in_play_phase = time >= self.num_cards - 1
        # While playing, POPGym shows suit 0 (the suit of its unshuffled deck's first card).
        obs = self._observation(in_play_phase, jnp.where(watching, new_suit, 0))
        terminated = time >= 2 * self.num_cards - 1
        return obs, state, reward.astype(jnp.float32), terminated, {}


ENVIRONMENTS = {
    "Autoencode-Easy": functools.partial(Autoencode, num_decks=1),
    "Autoencode-Medium": functools.partial(Autoencode, num_decks=2),
    "Autoencode-Hard": functools.partial(Autoencode, num_decks=3),
}
