"""Episodic multi-armed bandits (POPGym's MultiarmedBandit).

Each episode draws new payout probabilities, so the agent must explore the arms and
remember which paid best: memory here holds the statistics of every arm it tried.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from memorax.environments.memory.arguments import boolean, integer_at_least

# An arm of -1 one-hot encodes to all zeros: no pull yet.
NO_ARM = -1


@struct.dataclass
class BanditState(environment.EnvState):
    odds_key: jax.Array  # raw PRNG key data; fixes every arm's payout probability
    time: int


def payout_probability(odds_key: jax.Array, arm: jax.Array) -> jax.Array:
    """The probability that `arm` pays: uniform in [0, 1), fixed for the episode by its key.

    Deriving it when the arm is pulled, rather than drawing every arm at reset, leaves
    reset with no random draw at all (gymnax computes a reset at every step).
    """
    arm_key = jax.random.fold_in(jax.random.wrap_key_data(odds_key), arm)
    return jax.random.uniform(arm_key)


def payout_probabilities(state: BanditState, num_arms: int) -> jax.Array:
    """Every arm's payout probability, shape (num_arms,): what an oracle needs."""
    arms = jnp.arange(num_arms)
    return jax.vmap(payout_probability, in_axes=(None, 0))(state.odds_key, arms)


@struct.dataclass
class BanditParams(environment.EnvParams):
    max_steps_in_episode: int = 200


class MultiarmedBandit(environment.Environment[BanditState, BanditParams]):
    """Pull arms with unknown payout odds, redrawn each episode; which arms paid must be remembered.

    By default this is POPGym 1.0.7's MultiarmedBandit; each keyword below is a
    documented deviation from it.

    Observation: whether the last pull paid, one-hot `[not paid, paid]` (POPGym's
    `Discrete(2)`); the first observation of an episode shows "not paid" (POPGym's
    0). POPGym leaves the arm pulled to a previous-action wrapper
    (`obs_requires_prev_action`).
    Action: Discrete(num_arms), the arm to pull. Arm `i` pays with a probability drawn
    uniformly in [0, 1) for each episode (`payout_probabilities(state, num_arms)`).
    Episode length: episode_length pulls, 200 / 400 / 600 (Easy / Medium / Hard, with
    10 / 20 / 30 arms); the last pull truncates the episode (the time limit).
    Reward: +1 / episode_length for a payout, -1 / episode_length otherwise.
    Maximum return: (num_arms - 1) / (num_arms + 1) in expectation, 0.818 / 0.905 /
    0.935 (analytic: always pulling the best arm earns 2 * E[max p] - 1); a uniformly
    random policy returns 0.
    Best memoryless return: unknown. The outcome alone does not say which arm paid;
    pulling arm 0 after a payout and a uniformly random arm otherwise (so play
    settles on arm 0 when that arm pays well) returns about 0.083 / 0.088 / 0.090
    (estimated from 16,384 episodes, standard error 0.003), and we know no better
    observation-only policy.

    Deviations, each off by default:

    - `observe_last_arm=True`: the observation adds the arm just pulled, one-hot
      (`[not paid, paid, arm]`, all zeros for the arm before the first pull): what
      POPGym's previous-action wrapper adds. The best memoryless policy we know,
      win-stay / lose-shift to the next arm, then returns about 0.475 / 0.556 /
      0.595 (estimated by simulation).
    - `limit_terminates=True`: the last pull ends the episode as terminated rather
      than truncated, so a learner does not bootstrap past it (no pull follows);
      the returns are unchanged.
    """

    def __init__(
        self,
        num_arms: int = 10,
        episode_length: int = 200,
        observe_last_arm: bool = False,
        limit_terminates: bool = False,
    ):
        super().__init__()
        self.num_arms = integer_at_least("num_arms", num_arms, 2)
        self.episode_length = integer_at_least("episode_length", episode_length, 1)
        self.observe_last_arm = boolean("observe_last_arm", observe_last_arm)
        self.limit_terminates = boolean("limit_terminates", limit_terminates)

    @property
    def name(self) -> str:
        return "MultiarmedBandit"

    @property
    def default_params(self) -> BanditParams:
        # With `limit_terminates` the game ends one step before this limit would.
        extra_step = 1 if self.limit_terminates else 0
        return BanditParams(max_steps_in_episode=self.episode_length + extra_step)

    @property
    def num_actions(self) -> int:
        return self.num_arms

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_arms)

    def observation_space(self, params: BanditParams) -> spaces.Box:
        size = 2 + (self.num_arms if self.observe_last_arm else 0)
        return spaces.Box(0.0, 1.0, (size,), jnp.float32)

    def reset_env(self, key, params):
        # The reset key is fresh and used for nothing else: it becomes the episode's odds.
        state = BanditState(odds_key=jax.random.key_data(key), time=0)
        return self._observation(jnp.bool_(False), NO_ARM), state

    def step_env(self, key, state, action, params):
        paid = jax.random.bernoulli(key, payout_probability(state.odds_key, action))
        reward = jnp.where(paid, 1.0, -1.0) / self.episode_length
        state = state.replace(time=state.time + 1)
        terminated = jnp.bool_(False)
        if self.limit_terminates:
            terminated = state.time >= self.episode_length
        observation = self._observation(paid, action)
        return observation, state, reward.astype(jnp.float32), terminated, {}

    def _observation(self, paid: jax.Array, arm) -> jax.Array:
        outcome = jax.nn.one_hot(paid.astype(jnp.int32), 2, dtype=jnp.float32)
        if not self.observe_last_arm:
            return outcome
        return jnp.concatenate([outcome, jax.nn.one_hot(arm, self.num_arms, dtype=jnp.float32)])


ENVIRONMENTS = {
    "MultiarmedBandit-Easy": functools.partial(MultiarmedBandit, num_arms=10, episode_length=200),
    "MultiarmedBandit-Medium": functools.partial(MultiarmedBandit, num_arms=20, episode_length=400),
    "MultiarmedBandit-Hard": functools.partial(MultiarmedBandit, num_arms=30, episode_length=600),
}
