"""Roll policies through vmapped environments, for the environment tests."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


@partial(jax.jit, static_argnames=("env", "policy", "num_envs", "num_steps"))
def first_episode_returns(env, params, policy, key, num_envs: int, num_steps: int):
    """Return and whether it finished, of each env's first episode.

    `policy(key, observation, env_state) -> action` acts in one (unbatched)
    environment; an oracle reads the hidden `env_state`, a memoryless policy only
    the observation. Returns `(returns, finished)`, both of shape `(num_envs,)`.
    """
    reset_key, key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), params
    )

    def step(carry, step_key):
        obs, state, running, returns, finished = carry
        policy_key, env_key = jax.random.split(step_key)
        action = jax.vmap(policy)(
            jax.random.split(policy_key, num_envs), obs, state
        )
        obs, state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(env_key, num_envs), state, action, params)
        running = running + jnp.where(finished, 0.0, reward)
        done = jnp.logical_or(terminated, truncated)
        returns = jnp.where(done & ~finished, running, returns)
        return (obs, state, running, returns, finished | done), None

    zeros = jnp.zeros(num_envs, jnp.float32)
    carry = (obs, state, zeros, zeros, jnp.zeros(num_envs, bool))
    (_, _, _, returns, finished), _ = jax.lax.scan(
        step, carry, jax.random.split(key, num_steps)
    )
    return returns, finished


def random_policy(env, params):
    """A policy that samples the action space uniformly."""
    space = env.action_space(params)
    return lambda key, observation, state: space.sample(key)
