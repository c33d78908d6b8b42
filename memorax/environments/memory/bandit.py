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

from memorax.environments.memory.arguments import integer_at_least


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
    # One step beyond the game's fixed length, so the time limit never fires.
    max_steps_in_episode: int = 201


class MultiarmedBandit(environment.Environment[BanditState, BanditParams]):
    """Pull arms with unknown payout odds, redrawn each episode; which arms paid must be remembered.

    Observation: `num_arms + 2` floats: the one-hot arm just pulled, then the one-hot
    outcome `[paid, not paid]`. The first observation of an episode is all zeros (no
    arm pulled yet). POPGym shows only the outcome and leaves the previous action to
    a wrapper; here the observation carries it.
    Action: Discrete(num_arms), the arm to pull. Arm `i` pays with a probability drawn
    uniformly in [0, 1) for each episode (`payout_probabilities(state, num_arms)`).
    Episode length: episode_length pulls, 200 / 400 / 600 (Easy / Medium / Hard, with
    10 / 20 / 30 arms); the last pull terminates the episode.
    Reward: +1 / episode_length for a payout, -1 / episode_length otherwise.
    Maximum return: (num_arms - 1) / (num_arms + 1) in expectation, 0.818 / 0.905 /
    0.935 (analytic: always pulling the best arm earns 2 * E[max p] - 1).
    Best memoryless return: unknown; the best memoryless policy we know, win-stay /
    lose-shift to the next arm, returns about 0.475 / 0.556 / 0.595 (estimated by
    simulation); a uniformly random policy returns 0.
    """

    def __init__(self, num_arms: int = 10, episode_length: int = 200):
        super().__init__()
        self.num_arms = integer_at_least("num_arms", num_arms, 2)
        self.episode_length = integer_at_least("episode_length", episode_length, 1)

    @property
    def name(self) -> str:
        return "MultiarmedBandit"

    @property
    def default_params(self) -> BanditParams:
        return BanditParams(max_steps_in_episode=self.episode_length + 1)

    @property
    def num_actions(self) -> int:
        return self.num_arms

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_arms)

    def observation_space(self, params: BanditParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.num_arms + 2,), jnp.float32)

    def reset_env(self, key, params):
        # The reset key is fresh and used for nothing else: it becomes the episode's odds.
        state = BanditState(odds_key=jax.random.key_data(key), time=0)
        return jnp.zeros(self.num_arms + 2, jnp.float32), state

    def step_env(self, key, state, action, params):
        paid = jax.random.bernoulli(key, payout_probability(state.odds_key, action))
        reward = jnp.where(paid, 1.0, -1.0) / self.episode_length
        observation = jnp.concatenate(
            [jax.nn.one_hot(action, self.num_arms), jnp.array([paid, ~paid])]
        ).astype(jnp.float32)
        state = state.replace(time=state.time + 1)
        terminated = state.time >= self.episode_length
        return observation, state, reward.astype(jnp.float32), terminated, {}


ENVIRONMENTS = {
    "MultiarmedBandit-Easy": functools.partial(MultiarmedBandit, num_arms=10, episode_length=200),
    "MultiarmedBandit-Medium": functools.partial(MultiarmedBandit, num_arms=20, episode_length=400),
    "MultiarmedBandit-Hard": functools.partial(MultiarmedBandit, num_arms=30, episode_length=600),
}
