"""End episodes after a fixed number of steps."""

from __future__ import annotations

import numbers
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.wrappers.base import Wrapper, select


@struct.dataclass
class TimeLimitState:
    env_state: Any
    # Steps taken in the current episode.
    steps: jax.Array


class TimeLimit(Wrapper):
    """Truncate every episode after `max_steps` steps.

    At the limit the step returns `truncated=True` (and `terminated` as the inner
    environment says), `info["final_observation"]` is the last observation and the
    observation is the first of a fresh episode: the wrapper resets the inner
    environment itself, since that only auto-resets on its own episode ends. The
    step count restarts whenever an episode ends, for whatever reason.

    Because it resets the inner environment, TimeLimit must sit below wrappers that
    keep statistics across episodes (`EpisodeStatistics`, `NormalizeObservation`,
    `NormalizeReward`); wrapping one of them raises a ValueError.
    """

    def __init__(self, env, max_steps: int):
        super().__init__(env)
        if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral):
            raise ValueError(f"max_steps must be an int, got {max_steps!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.max_steps = int(max_steps)
        for inner in _wrapped_chain(env):
            if getattr(inner, "keeps_statistics_across_episodes", False):
                raise ValueError(
                    f"env: TimeLimit cannot wrap {type(inner).__name__}, whose "
                    "statistics its resets would erase; put TimeLimit inside it"
                )

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        observation, env_state = self._env.reset(key, self._params(params))
        return observation, TimeLimitState(env_state, jnp.int32(0))

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        params = self._params(params)
        step_key, reset_key = jax.random.split(key)
        observation, env_state, reward, terminated, truncated, info = self._env.step(
            step_key, state.env_state, action, params
        )
        steps = state.steps + 1
        inner_done = jnp.logical_or(terminated, truncated)
        out_of_time = jnp.logical_and(steps >= self.max_steps, ~inner_done)
        reset_observation, reset_state = self._env.reset(reset_key, params)
        observation = jnp.where(out_of_time, reset_observation, observation)
        env_state = select(out_of_time, reset_state, env_state)

        truncated = jnp.logical_or(truncated, steps >= self.max_steps)
        done = jnp.logical_or(terminated, truncated)
        state = TimeLimitState(env_state, jnp.where(done, 0, steps))
        info = {**info, "truncated": truncated}
        return observation, state, reward, terminated, truncated, info


def _wrapped_chain(env):
    """`env` and every environment it wraps, outermost first."""
    while env is not None:
        yield env
        env = getattr(env, "__dict__", {}).get("_env")
