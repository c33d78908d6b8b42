"""Corrupt observations at random: Gaussian noise, or blanking (flicker)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from memorax.environments.wrappers.base import (
    ObservationWrapper,
    bounds,
    box_observation_space,
    finite_number,
    float_box_observation_space,
)


class ObservationNoise(ObservationWrapper):
    """Add independent Gaussian noise with standard deviation `std` to each entry.

    The noise is drawn from the step's key, so it is reproducible under the key and
    independent between steps and between vmapped environments. Observations are
    not clipped: the observation space becomes unbounded (unless `std == 0`).
    """

    def __init__(self, env, std: float):
        super().__init__(env)
        float_box_observation_space(env)
        self.std = finite_number(std, "std")
        if self.std < 0:
            raise ValueError(f"std must be >= 0, got {std!r}")

    def transform(self, key, observation):
        noise = jax.random.normal(key, observation.shape, observation.dtype)
        return observation + self.std * noise

    def observation_space(self, params):
        space = self._env.observation_space(params)
        if self.std == 0:
            return space
        return spaces.Box(-jnp.inf, jnp.inf, space.shape, space.dtype)


class Flicker(ObservationWrapper):
    """With probability `probability`, replace the observation by zeros.

    Each step flickers independently, the first observation of an episode
    included (so an agent cannot count on seeing the start). The agent is not told
    that a step flickered; it must tell a blank from a real observation itself.
    The observation space is widened, where needed, to contain the blank.
    """

    def __init__(self, env, probability: float):
        super().__init__(env)
        box_observation_space(env)
        self.probability = finite_number(probability, "probability")
        if not 0 <= self.probability <= 1:
            raise ValueError(f"probability must be in [0, 1], got {probability!r}")

    def transform(self, key, observation):
        blank = jax.random.bernoulli(key, self.probability)
        return jnp.where(blank, jnp.zeros_like(observation), observation)

    def observation_space(self, params):
        space = self._env.observation_space(params)
        low, high = bounds(space)
        return spaces.Box(
            low=np.minimum(low, 0).astype(space.dtype),
            high=np.maximum(high, 0).astype(space.dtype),
            shape=space.shape,
            dtype=space.dtype,
        )
