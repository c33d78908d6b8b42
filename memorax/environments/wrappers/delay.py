"""Show the agent stale observations."""

from __future__ import annotations

import numbers
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.wrappers.base import Wrapper, box_observation_space, select


@struct.dataclass
class DelayedObservationState:
    env_state: Any
    # The last `delay + 1` observations of this episode, oldest at `next_slot`.
    history: jax.Array
    # Where the next observation is written (it overwrites the oldest).
    next_slot: jax.Array


class DelayedObservation(Wrapper):
    """The agent sees the observation from `delay` steps ago.

    At step t of an episode it sees observation max(t - delay, 0): until `delay`
    observations exist it keeps seeing the episode's first observation. The history
    restarts at every episode start (auto-reset included), so a new episode never
    shows the previous one's observations. `info["final_observation"]` is what the
    agent would have seen at the episode's last step. `delay=0` changes nothing.
    """

    def __init__(self, env, delay: int):
        super().__init__(env)
        box_observation_space(env)
        if isinstance(delay, bool) or not isinstance(delay, numbers.Integral):
            raise ValueError(f"delay must be an int, got {delay!r}")
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self.delay = int(delay)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        observation, env_state = self._env.reset(key, self._params(params))
        return observation, self._fresh_state(env_state, observation)

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        observation, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, self._params(params)
        )
        history = state.history.at[state.next_slot].set(info["final_observation"])
        oldest_slot = (state.next_slot + 1) % (self.delay + 1)
        delayed_final_observation = history[oldest_slot]
        continued = DelayedObservationState(env_state, history, oldest_slot)

        done = jnp.logical_or(terminated, truncated)
        restarted = self._fresh_state(env_state, observation)
        state = select(done, restarted, continued)
        observation = jnp.where(done, observation, delayed_final_observation)
        info = {**info, "final_observation": delayed_final_observation}
        return observation, state, reward, terminated, truncated, info

    def _fresh_state(self, env_state, first_observation):
        """An episode's start: every remembered observation is its first one."""
        history = jnp.broadcast_to(
            first_observation, (self.delay + 1, *first_observation.shape)
        )
        return DelayedObservationState(env_state, history, jnp.int32(0))
