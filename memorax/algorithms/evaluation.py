"""Run a policy for whole episodes on fresh environments."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from memorax.algorithms.environment_loop import EnvironmentLoop

# Bound for environments without `max_steps_in_episode`, so evaluation always ends.
DEFAULT_MAX_EVALUATION_STEPS = 100_000


def evaluation_step_limit(env_params) -> int:
    limit = getattr(env_params, "max_steps_in_episode", None)
    try:
        return int(limit) + 1
    except (TypeError, ValueError):
        return DEFAULT_MAX_EVALUATION_STEPS


def run_episodes(environment: EnvironmentLoop, key, num_episodes: int, carry, act):
    """Play one episode in each of `num_episodes` fresh environments, in parallel.

    `act(loop, key) -> (action, carry)` chooses the actions (a deterministic policy
    ignores the key, so its episodes do not depend on whether one is drawn: XLA drops
    an unused key); the loop runs until every
    environment finished its first episode (or the step limit). Returns the return
    and length of each episode and their mean and standard deviation.
    """
    reset_key, key = jax.random.split(key)
    loop = environment.reset(reset_key, carry, num_envs=num_episodes)
    limit = evaluation_step_limit(environment.env_params)
    zeros = jnp.zeros(num_episodes, jnp.float32)

    def running(state):
        _, _, finished, _, _, t = state
        return jnp.logical_and(jnp.logical_not(jnp.all(finished)), t < limit)

    def step(state):
        key, loop, finished, returns, lengths, t = state
        key, step_key = jax.random.split(key)
        action, carry = act(loop, jax.random.fold_in(step_key, 1))
        loop, transition = environment.step(step_key, loop, action, carry)
        playing = jnp.logical_not(finished)
        returns = returns + jnp.where(playing, transition.info["environment_reward"], 0.0)
        lengths = lengths + playing.astype(jnp.int32)
        finished = jnp.logical_or(finished, transition.done)
        return key, loop, finished, returns, lengths, t + 1

    initial = (
        key,
        loop,
        jnp.zeros(num_episodes, bool),
        zeros,
        zeros.astype(jnp.int32),
        jnp.int32(0),
    )
    _, _, finished, returns, lengths, _ = jax.lax.while_loop(running, step, initial)
    lengths = lengths.astype(jnp.float32)
    return {
        "mean_return": jnp.mean(returns),
        "std_return": jnp.std(returns),
        "mean_length": jnp.mean(lengths),
        "std_length": jnp.std(lengths),
        "episode_returns": returns,
        "episode_lengths": lengths,
        "all_finished": jnp.all(finished),
    }
