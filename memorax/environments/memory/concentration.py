"""Concentration: find matching pairs among face-down cards, one flip per step."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory import cards
from memorax.environments.memory.arguments import one_of, positive_integer

NOT_YET_SEEN = -1
NO_PENDING_FLIP = -1


@struct.dataclass
class ConcentrationState(environment.EnvState):
    # (num_cards,) colour or rank at each position; -1 until first flipped.
    kinds: jax.Array
    matched: jax.Array  # (num_cards,) bool, pairs found stay face up
    pending_flip: jax.Array  # position flipped first in this turn, -1 if none
    kinds_left_cumulative: jax.Array  # (num_kinds,) never-flipped cards of kind <= k
    time: int


@struct.dataclass
class ConcentrationParams(environment.EnvParams):
    max_steps_in_episode: int = 104


class Concentration(environment.Environment[ConcentrationState, ConcentrationParams]):
    """Flip face-down cards two per turn to find pairs of the same colour or rank.

    What must be remembered: where the cards seen earlier lie, and what they are.

    Observation (`num_cards * (num_kinds + 1)` floats): for each position a
    one-hot of its kind if it is face up (matched, or flipped in this turn),
    else of the extra "face down" slot. The second card of a turn is shown in
    the observation of that step; a mismatched pair is face down again after.
    Action: `Discrete(num_cards)`, the position to flip. A turn is two flips.
    Difficulties (as POPGym): Easy matches by colour in 1 deck (52 positions),
    Medium by colour in 2 decks (104), Hard by rank in 1 deck (52).
    Episode: terminates when every card is matched, is truncated after
    `ceil(2N - N / (2N - 1))` steps: 104 / 208 / 104 for Easy / Medium / Hard.
    Reward: +1/(N/2) for each pair found; a mismatched turn costs 2/L (L the
    step limit); flipping a matched card costs 1/L per card of the turn so far
    (it ends the turn), and flipping the same card twice counts as a mismatch.
    Maximum return: finding all pairs gives `1 - 2 * mismatched_turns / L`.
    The perfect-memory player (never forgets a card it saw; flips a known pair
    if it has one, else an unseen card and then the match of the first card if
    known, else another unseen one) averages 0.813 / 0.813 / 0.698 for Easy /
    Medium / Hard (estimated over 8192 episodes, standard error < 0.001).
    Uniformly random play: -0.19 / -0.19 / -0.83 (estimated).
    Memoryless return (estimated, standard error < 0.002): flipping a random
    card that the observation shows face down, the best observation-only player
    we know of, averages 0.450 / 0.466 / -0.821.
    """

    def __init__(self, num_decks: int = 1, match_by: str = "rank"):
        super().__init__()
        self.num_decks = positive_integer("num_decks", num_decks)
        self.match_by = one_of("match_by", match_by, ("color", "rank"))
        self.num_cards = cards.DECK_SIZE * num_decks
        self.num_kinds = cards.NUM_COLORS if match_by == "color" else cards.NUM_RANKS
        n = self.num_cards
        self.episode_length = math.ceil(2 * n - n / (2 * n - 1))
        self.pair_reward = 1.0 / (n // 2)
        self.failure_cost = 1.0 / self.episode_length

    @property
    def default_params(self) -> ConcentrationParams:
        return ConcentrationParams(max_steps_in_episode=self.episode_length)

    @property
    def name(self) -> str:
        return "Concentration"

    @property
    def num_actions(self) -> int:
        return self.num_cards

    def action_space(
        self, params: ConcentrationParams | None = None
    ) -> spaces.Discrete:
        return spaces.Discrete(self.num_cards)

    def observation_space(
        self, params: ConcentrationParams | None = None
    ) -> spaces.Box:
        size = self.num_cards * (self.num_kinds + 1)
        return spaces.Box(0.0, 1.0, (size,), jnp.float32)

    def _observation(self, kinds: jax.Array, face_up: jax.Array) -> jax.Array:
        face_down_slot = self.num_kinds
        shown = jnp.where(face_up, kinds, face_down_slot)
        return jax.nn.one_hot(shown, self.num_kinds + 1, dtype=jnp.float32).reshape(-1)

    def reset_env(self, key: jax.Array, params: ConcentrationParams):
        per_kind = self.num_cards // self.num_kinds
        state = ConcentrationState(
            kinds=jnp.full((self.num_cards,), NOT_YET_SEEN, jnp.int32),
            matched=jnp.zeros((self.num_cards,), bool),
            pending_flip=jnp.array(NO_PENDING_FLIP, jnp.int32),
            kinds_left_cumulative=cards.fresh_deck(self.num_kinds, per_kind),
            time=0,
        )
        return self._observation(state.kinds, state.matched), state

    def _reveal(self, key, state: ConcentrationState, position):
        """Kind at `position`, drawn from the cards left the first time it is flipped.

        Never-flipped positions are exchangeable, so this is distributed exactly
        like a layout shuffled at reset.
        """
        unseen = state.kinds[position] == NOT_YET_SEEN
        drawn_kind, kinds_left_cumulative = cards.deal_if(
            unseen, jax.random.uniform(key), state.kinds_left_cumulative
        )
        kind = jnp.where(unseen, drawn_kind, state.kinds[position])
        kinds = jnp.where(jnp.arange(self.num_cards) == position, kind, state.kinds)
        return kind, kinds, kinds_left_cumulative

    def step_env(self, key, state: ConcentrationState, action, params):
        kind, kinds, kinds_left_cumulative = self._reveal(key, state, action)
        has_pending = state.pending_flip != NO_PENDING_FLIP
        pending = jnp.maximum(state.pending_flip, 0)
        flipped_matched = state.matched[action]
        second_flip = has_pending & ~flipped_matched
        found_pair = second_flip & (action != pending) & (kind == kinds[pending])

        matched_cost = -self.failure_cost * (1.0 + has_pending)
        turn_reward = jnp.where(found_pair, self.pair_reward, -2.0 * self.failure_cost)
        reward = jnp.where(
            flipped_matched, matched_cost, jnp.where(second_flip, turn_reward, 0.0)
        )

        positions = jnp.arange(self.num_cards)
        # The cards flipped in this turn (a pending flip of -1 matches no position).
        this_turn = (positions == action) | (positions == state.pending_flip)
        matched = state.matched | (this_turn & found_pair)
        face_up = matched | this_turn
        turn_over = has_pending | flipped_matched
        next_state = ConcentrationState(
            kinds=kinds,
            matched=matched,
            pending_flip=jnp.where(turn_over, NO_PENDING_FLIP, action).astype(
                jnp.int32
            ),
            kinds_left_cumulative=kinds_left_cumulative,
            time=state.time + 1,
        )
        terminated = jnp.all(matched)
        obs = self._observation(kinds, face_up)
        return obs, next_state, reward.astype(jnp.float32), terminated, {}


ENVIRONMENTS = {
    "Concentration-Easy": functools.partial(
        Concentration, num_decks=1, match_by="color"
    ),
    "Concentration-Medium": functools.partial(
        Concentration, num_decks=2, match_by="color"
    ),
    "Concentration-Hard": functools.partial(
        Concentration, num_decks=1, match_by="rank"
    ),
}
