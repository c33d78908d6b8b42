"""Rescale observations and rewards by running statistics (the usual PPO tricks)."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from memorax.environments.wrappers.base import (
    Wrapper,
    finite_number,
    float_box_observation_space,
)


@struct.dataclass
class RunningMeanVariance:
    """Mean and (population) variance of the values seen so far, and their count."""

    mean: jax.Array
    variance: jax.Array
    count: jax.Array

    @classmethod
    def of_one(cls, value):
        """The statistics after seeing just `value`."""
        value = jnp.asarray(value, jnp.float32)
        return cls(value, jnp.zeros_like(value), jnp.float32(1))

    def update(self, value, weight=1.0):
        """Add `value` (Welford's update); `weight=0` leaves the statistics unchanged.

        The variance is updated in place of the sum of squares, so nothing grows
        with the count.
        """
        weight = jnp.asarray(weight, jnp.float32)
        count = self.count + weight
        delta = value - self.mean
        mean = self.mean + weight * delta / count
        variance = (
            self.variance + weight * (delta * (value - mean) - self.variance) / count
        )
        return RunningMeanVariance(mean, variance, count)


@struct.dataclass
class NormalizeObservationState:
    env_state: Any
    statistics: RunningMeanVariance


class NormalizeObservation(Wrapper):
    """Standardise each observation entry by its running mean and variance.

    observation -> clip((observation - mean) / sqrt(variance + epsilon), -clip, clip)

    The statistics start at `reset` from its observation and include every
    observation the agent is shown afterwards (the last of an episode and the
    first of the next); they are carried across episodes, not reset at auto-reset.
    The wrapper acts on one environment, so under `jax.vmap` each environment keeps
    its own statistics (no averaging across the batch). Statistics are updated
    before the observation is normalised, so the first observation is all zeros.
    """

    keeps_statistics_across_episodes = True

    def __init__(self, env, epsilon: float = 1e-8, clip: float = 10.0):
        super().__init__(env)
        float_box_observation_space(env)
        self.epsilon = finite_number(epsilon, "epsilon")
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
        try:
            self.clip = float(clip)
        except (TypeError, ValueError) as error:
            raise ValueError(f"clip must be a number, got {clip!r}") from error
        if not self.clip > 0:
            raise ValueError(f"clip must be > 0 (inf: no clipping), got {clip!r}")

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        observation, env_state = self._env.reset(key, self._params(params))
        statistics = RunningMeanVariance.of_one(observation)
        state = NormalizeObservationState(env_state, statistics)
        return self._normalize(observation, statistics), state

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        observation, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, self._params(params)
        )
        done = jnp.logical_or(terminated, truncated)
        final_observation = info["final_observation"]
        # The last observation of the step; after auto-reset, also the next episode's first.
        after_final = state.statistics.update(final_observation)
        after_next = after_final.update(observation, weight=done)
        normalized_final = self._normalize(final_observation, after_final)
        normalized = self._normalize(observation, after_next)
        state = NormalizeObservationState(env_state, after_next)
        info = {**info, "final_observation": normalized_final}
        return normalized, state, reward, terminated, truncated, info

    def observation_space(self, params):
        space = self._env.observation_space(params)
        return spaces.Box(-self.clip, self.clip, space.shape, jnp.float32)

    def _normalize(self, observation, statistics):
        scaled = (observation - statistics.mean) / jnp.sqrt(
            statistics.variance + self.epsilon
        )
        return jnp.clip(scaled, -self.clip, self.clip).astype(jnp.float32)


@struct.dataclass
class NormalizeRewardState:
    env_state: Any
    # Discounted sum of this episode's rewards so far.
    discounted_return: jax.Array
    statistics: RunningMeanVariance


class NormalizeReward(Wrapper):
    """Divide rewards by the running standard deviation of the discounted return.

    The discounted return G <- reward + gamma * G restarts at each episode's end;
    the statistics of G are carried across episodes (reset only by `reset`), one
    set per environment under `jax.vmap`. Rewards are not shifted, only scaled, so
    their sign is kept. Before any reward the statistics hold a prior of one unit
    variance pseudo-sample, so the first rewards are not divided by ~sqrt(epsilon).
    Put `EpisodeStatistics` inside this wrapper to log the unscaled returns.
    """

    keeps_statistics_across_episodes = True

    def __init__(self, env, gamma: float = 0.99, epsilon: float = 1e-8):
        super().__init__(env)
        self.gamma = finite_number(gamma, "gamma")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
        self.epsilon = finite_number(epsilon, "epsilon")
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        observation, env_state = self._env.reset(key, self._params(params))
        unit_prior = RunningMeanVariance(jnp.float32(0), jnp.float32(1), jnp.float32(1))
        return observation, NormalizeRewardState(env_state, jnp.float32(0), unit_prior)

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        observation, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, self._params(params)
        )
        done = jnp.logical_or(terminated, truncated)
        reward = jnp.asarray(reward, jnp.float32)
        discounted_return = reward + self.gamma * state.discounted_return
        statistics = state.statistics.update(discounted_return)
        scaled_reward = reward / jnp.sqrt(statistics.variance + self.epsilon)
        state = NormalizeRewardState(
            env_state, jnp.where(done, 0.0, discounted_return), statistics
        )
        # What the environment paid, for episode returns that mean what the task
        # means (an inner NormalizeReward's entry is the environment's: kept).
        info = {"unnormalized_reward": reward, **info}
        return observation, state, scaled_reward, terminated, truncated, info
