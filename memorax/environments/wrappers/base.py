"""The pieces every wrapper shares: attribute delegation and observation checks."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces


class Wrapper:
    """A gymnax-style environment around another one, with the same API.

    `reset(key, params)` and `step(key, state, action, params)` behave like gymnax's
    (including auto-reset and `info["final_observation"]`), so wrappers compose and
    algorithms cannot tell a wrapped environment from a bare one. Anything a wrapper
    does not define (`name`, `num_actions`, `default_params`, ...) is looked up on the
    wrapped environment.
    """

    # Whether the state holds something resets must not erase (see TimeLimit).
    keeps_statistics_across_episodes = False

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        # Guard: copy/pickle probe attributes before `_env` exists.
        if name == "_env":
            raise AttributeError(name)
        return getattr(self._env, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._env!r})"

    @property
    def unwrapped(self):
        """The innermost (bare) environment."""
        return getattr(self._env, "unwrapped", self._env)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        return self._env.reset(key, self._params(params))

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        return self._env.step(key, state, action, self._params(params))

    def observation_space(self, params):
        return self._env.observation_space(params)

    def action_space(self, params):
        return self._env.action_space(params)

    def _params(self, params):
        return self.default_params if params is None else params


class ObservationWrapper(Wrapper):
    """A wrapper that changes each observation on its own, keeping no state.

    Its state is the inner environment's. Subclasses define
    `transform(key, observation)`; it is applied to the observation and to
    `info["final_observation"]`. On a step that does not end an episode both are
    the same observation and get the same transform (same noise, same blanking);
    on a step that ends one, the last observation and the next episode's first
    are transformed with independent keys.
    """

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        env_key, own_key = jax.random.split(key)
        observation, state = self._env.reset(env_key, self._params(params))
        return self.transform(own_key, observation), state

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        env_key, final_key, next_key = jax.random.split(key, 3)
        observation, state, reward, terminated, truncated, info = self._env.step(
            env_key, state, action, self._params(params)
        )
        done = jnp.logical_or(terminated, truncated)
        final_observation = self.transform(final_key, info["final_observation"])
        next_observation = self.transform(next_key, observation)
        observation = jnp.where(done, next_observation, final_observation)
        info = {**info, "final_observation": final_observation}
        return observation, state, reward, terminated, truncated, info

    def transform(self, key, observation):
        """The observation the agent is shown instead of `observation`."""
        raise NotImplementedError


def select(condition, on_true, on_false):
    """`jnp.where` over matching pytrees (e.g. a reset state and a stepped one)."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)


def box_observation_space(env, argument: str = "env") -> spaces.Box:
    """The Box observation space of `env` under its default params, or a ValueError."""
    space = env.observation_space(env.default_params)
    if not isinstance(space, spaces.Box):
        raise ValueError(
            f"{argument} must have a Box observation space, got {type(space).__name__}"
        )
    return space


def float_box_observation_space(env, argument: str = "env") -> spaces.Box:
    """Like `box_observation_space`, but the observations must be floats."""
    space = box_observation_space(env, argument)
    if not jnp.issubdtype(space.dtype, jnp.floating):
        raise ValueError(
            f"{argument} must have float observations, got dtype {np.dtype(space.dtype)}"
        )
    return space


def bounds(space: spaces.Box) -> tuple[np.ndarray, np.ndarray]:
    """The space's low and high, broadcast to its shape (gymnax allows scalars)."""
    low = np.broadcast_to(np.asarray(space.low, dtype=np.float64), space.shape)
    high = np.broadcast_to(np.asarray(space.high, dtype=np.float64), space.shape)
    return low, high


def finite_number(value, argument: str) -> float:
    """`value` as a float, or a ValueError naming the argument."""
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{argument} must be a number, got {value!r}") from error
    if not np.isfinite(number):
        raise ValueError(f"{argument} must be finite, got {value!r}")
    return number
