"""Report the return and length of finished episodes, for logging."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.wrappers.base import Wrapper


@struct.dataclass
class EpisodeStatisticsState:
    env_state: Any
    # The episode under way.
    running_return: jax.Array
    running_length: jax.Array
    # The most recently finished episode (zeros before the first one finishes).
    episode_return: jax.Array
    episode_length: jax.Array
    has_finished_episode: jax.Array


class EpisodeStatistics(Wrapper):
    """Add the return and length of the latest finished episode to `info`.

    info gains:
      `episode_return`, `episode_length`: of the most recently finished episode,
        held until the next one finishes; 0 before any has.
      `returned_episode`: this step finished an episode (terminated or truncated).
      `has_finished_episode`: some episode has finished since `reset`; use it to
        leave out the zeros reported before the first finish.
    It sees the rewards and episode ends of the environment it wraps: put it above
    `TimeLimit` and below `NormalizeReward` to log true returns of limited episodes.
    """

    keeps_statistics_across_episodes = True

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        observation, env_state = self._env.reset(key, self._params(params))
        zero_return, zero_length = jnp.float32(0), jnp.int32(0)
        state = EpisodeStatisticsState(
            env_state,
            running_return=zero_return,
            running_length=zero_length,
            episode_return=zero_return,
            episode_length=zero_length,
            has_finished_episode=jnp.bool_(False),
        )
        return observation, state

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        observation, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, self._params(params)
        )
        done = jnp.logical_or(terminated, truncated)
        running_return = state.running_return + reward
        running_length = state.running_length + 1
        state = EpisodeStatisticsState(
            env_state,
            running_return=jnp.where(done, 0.0, running_return),
            running_length=jnp.where(done, 0, running_length),
            episode_return=jnp.where(done, running_return, state.episode_return),
            episode_length=jnp.where(done, running_length, state.episode_length),
            has_finished_episode=jnp.logical_or(state.has_finished_episode, done),
        )
        info = {
            **info,
            "episode_return": state.episode_return,
            "episode_length": state.episode_length,
            "returned_episode": done,
            "has_finished_episode": state.has_finished_episode,
        }
        return observation, state, reward, terminated, truncated, info
