"""gymnax environments with one step contract: float32 rewards, boolean flags and
observation spaces whose bounds hold for every observation the env emits.

A few gymnax 1.0.1 envs declare bounds their observations leave (negative context
bits in MemoryChain, a time-remaining entry that rounds below zero, a last-reward
entry of MetaMaze and GaussianBandit, the normalised time of the bandits), declare
int32 observations and emit float32 ones (Catch), or return integer rewards; an
algorithm that trusts the space (normalisation, observation checks) would go wrong
on them silently.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from gymnax.environments import spaces
from gymnax.environments.misc import meta_maze

# Each correction maps (env, low, high) to new (low, high) with static values only,
# so it gives the same bounds whether the params are concrete or traced.


def _memory_chain(env, low, high):
    # [time remaining, query index, context bits in {-1, 0, 1}]; the time remaining
    # 1 - time / memory_length rounds to -1.5e-8 at the last step.
    low = low.at[0].set(-1e-6).at[2:].set(-1.0)
    high = high.at[0].set(1.0).at[1].set(max(env.num_bits - 1, 0)).at[2:].set(1.0)
    return low, high


def _umbrella_chain(env, low, high):
    # [need umbrella, has umbrella, time remaining, distractors]; see _memory_chain.
    return low.at[2].set(-1e-6), high


def _last_reward_and_time(env, low, high):
    # [..., last reward, time] (MetaMaze) or [last reward, ..., time] (bandits): the
    # reward scale and the time normalisation are params, so both stay open-ended.
    reward = -2 if isinstance(env, meta_maze.MetaMaze) else 0
    low = low.at[reward].set(-jnp.inf).at[-1].set(-1.0)
    high = high.at[reward].set(jnp.inf).at[-1].set(jnp.inf)
    return low, high


_OBSERVATION_BOUNDS = {
    "MemoryChain-bsuite": _memory_chain,
    "UmbrellaChain-bsuite": _umbrella_chain,
    "MetaMaze-misc": _last_reward_and_time,
    "GaussianBandit-misc": _last_reward_and_time,
    "BernoulliBandit-misc": _last_reward_and_time,
}


class GymnaxAdapter:
    """A gymnax env seen through memorax's step contract; everything else delegates."""

    def __init__(self, env, env_id: str):
        self._env = env
        self._env_id = env_id
        # The dtype the observations really have (Catch declares int32, emits float32).
        self._observation_dtype = jax.eval_shape(
            env.reset, jax.random.key(0), env.default_params
        )[0].dtype

    def __getattr__(self, name):
        return getattr(self._env, name)

    @property
    def unwrapped(self):
        return self._env

    def __repr__(self) -> str:
        return f"GymnaxAdapter({self._env_id})"

    def reset(self, key, params=None):
        return self._env.reset(key, params)

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(
            key, state, action, params
        )
        reward = jnp.asarray(reward, jnp.float32)
        return obs, state, reward, terminated.astype(bool), truncated.astype(bool), info

    def observation_space(self, params):
        space = self._env.observation_space(params)
        fix = _OBSERVATION_BOUNDS.get(self._env_id)
        emitted = self._observation_dtype
        if fix is None and emitted == space.dtype:
            return space
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
        if fix is not None:
            low, high = fix(self._env, low, high)
        return spaces.Box(low, high, space.shape, emitted)
