"""gymnax environments with one step contract: float32 rewards, boolean flags and
observation spaces whose bounds hold for every observation the env emits.

A few gymnax 1.0.1 envs declare bounds their observations leave (negative context
bits in MemoryChain, a time-remaining entry that rounds below zero, a last-reward
entry of MetaMaze and GaussianBandit, the normalised time of the bandits), declare
int32 observations and emit float32 ones (Catch), or return integer rewards; an algorithm that trusts
the space (normalisation, observation checks) would go wrong on them silently.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from gymnax.environments import spaces


def _memory_chain(env, params, low, high):
    # [time remaining, query index, context bits in {-1, 0, 1}]
    # 1 - time / memory_length rounds to -1.5e-8 at the last step.
    low = low.at[0].set(-1e-6).at[2:].set(-1.0)
    high = high.at[0].set(1.0).at[1].set(max(env.num_bits - 1, 0)).at[2:].set(1.0)
    return low, high


def _umbrella_chain(env, params, low, high):
    # [need umbrella, has umbrella, time remaining, distractors]; see _memory_chain.
    return low.at[2].set(-1e-6), high


def _meta_maze(env, params, low, high):
    # [..., last reward, time]; the last reward is a reward or a punishment.
    rewards = jnp.stack([0.0, params.punishment, params.reward]).astype(jnp.float32)
    low = low.at[-2].set(rewards.min())
    high = high.at[-2].set(rewards.max())
    return _normalised_time(params, low, high)


def _bandit(env, params, low, high):
    # [last reward, one-hot last action, time]
    low = low.at[0].set(-jnp.inf)
    high = high.at[0].set(jnp.inf)
    return _normalised_time(params, low, high)


def _normalised_time(params, low, high):
    low = low.at[-1].set(jnp.where(params.normalize_time, -1.0, low[-1]))
    high = high.at[-1].set(jnp.where(params.normalize_time, 1.0, high[-1]))
    return low, high


_OBSERVATION_BOUNDS = {
    "MemoryChain-bsuite": _memory_chain,
    "UmbrellaChain-bsuite": _umbrella_chain,
    "MetaMaze-misc": _meta_maze,
    "GaussianBandit-misc": _bandit,
    "BernoulliBandit-misc": _bandit,
}


class GymnaxAdapter:
    """A gymnax env seen through memorax's step contract; everything else delegates."""

    def __init__(self, env, env_id: str):
        self._env = env
        self._env_id = env_id

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
        # Catch declares int32 observations and emits float32 ones.
        emitted = jax.eval_shape(self._env.reset, jax.random.key(0), params)[0].dtype
        if fix is None and emitted == space.dtype:
            return space
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
        if fix is not None:
            low, high = fix(self._env, params, low, high)
        return spaces.Box(low, high, space.shape, emitted)
