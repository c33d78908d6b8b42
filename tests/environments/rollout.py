"""Roll policies through vmapped environments, for the environment tests."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


@partial(jax.jit, static_argnames=("env", "policy", "num_envs", "num_steps"))
def first_episodes(env, params, policy, key, num_envs: int, num_steps: int):
    """Return, length and ending of each env's first episode.

    `policy(key, observation, env_state) -> action` acts in one (unbatched)
    environment; an oracle reads the hidden `env_state`, a memoryless policy only
    the observation. Returns `(returns, lengths, terminated, finished)`, each of
    shape `(num_envs,)`: the return, the number of steps, whether the episode
    ended by termination, and whether it ended within `num_steps` steps.
    """
    reset_key, key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), params
    )

    def step(carry, step_key):
        obs, state, returns, lengths, ended_by_termination, finished = carry
        policy_key, env_key = jax.random.split(step_key)
        action = jax.vmap(policy)(jax.random.split(policy_key, num_envs), obs, state)
        obs, state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(env_key, num_envs), state, action, params)
        returns = returns + jnp.where(finished, 0.0, reward)
        lengths = lengths + (~finished).astype(jnp.int32)
        ended_by_termination = ended_by_termination | (terminated & ~finished)
        finished = finished | terminated | truncated
        return (obs, state, returns, lengths, ended_by_termination, finished), None

    no = jnp.zeros(num_envs, bool)
    carry = (obs, state, jnp.zeros(num_envs, jnp.float32), jnp.zeros(num_envs, jnp.int32), no, no)
    (_, _, returns, lengths, terminated, finished), _ = jax.lax.scan(
        step, carry, jax.random.split(key, num_steps)
    )
    return returns, lengths, terminated, finished


def first_episode_returns(env, params, policy, key, num_envs: int, num_steps: int):
    """`first_episodes`' returns and whether each episode finished."""
    returns, _, _, finished = first_episodes(env, params, policy, key, num_envs, num_steps)
    return returns, finished


def random_policy(env, params):
    """A policy that samples the action space uniformly."""
    space = env.action_space(params)
    return lambda key, observation, state: space.sample(key)


def finished_returns(env, params, policy, key, num_envs: int, num_steps: int):
    """`first_episode_returns` as a numpy array, checking every episode ended."""
    return finished_episodes(env, params, policy, key, num_envs, num_steps)[0]


def finished_episodes(env, params, policy, key, num_envs: int, num_steps: int):
    """`first_episodes` as numpy arrays `(returns, lengths, terminated)`, checking
    every episode ended."""
    returns, lengths, terminated, finished = first_episodes(
        env, params, policy, key, num_envs, num_steps
    )
    assert bool(jnp.all(finished)), f"{env.name}: an episode outlived {num_steps} steps"
    return np.asarray(returns), np.asarray(lengths), np.asarray(terminated)


def assert_mean_near(returns, expected, slack=1e-3):
    """The sample mean is within 4 standard errors, plus `slack` (float error, or
    the precision of an estimate), of `expected`."""
    returns = np.asarray(returns)
    standard_error = returns.std() / np.sqrt(returns.size)
    assert abs(returns.mean() - expected) < 4 * standard_error + slack, (
        returns.mean(),
        expected,
    )


def play_random_episodes(env, params, key, num_envs=128):
    """Random play in `num_envs` envs for `env.episode_length` steps, as numpy
    arrays of shape (envs, steps, ...): the observation each step acted on, the
    action, reward, both flags, and the observation the step produced (before
    any reset)."""
    records = _play_random_episodes(env, params, key, num_envs, env.episode_length)
    return [np.swapaxes(np.asarray(record), 0, 1) for record in records]


@partial(jax.jit, static_argnames=("env", "num_envs", "num_steps"))
def _play_random_episodes(env, params, key, num_envs, num_steps):
    policy = random_policy(env, params)
    reset_key, key = jax.random.split(key)
    observation, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), params
    )

    def step(carry, step_key):
        observation, state = carry
        policy_key, env_key = jax.random.split(step_key)
        action = jax.vmap(policy)(
            jax.random.split(policy_key, num_envs), observation, state
        )
        next_observation, state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(env_key, num_envs), state, action, params)
        record = (
            observation,
            action,
            reward,
            terminated,
            truncated,
            info["final_observation"],
        )
        return (next_observation, state), record

    carry = (observation, state)
    _, records = jax.lax.scan(step, carry, jax.random.split(key, num_steps))
    return records


def first_episode_of(reward, terminated, truncated):
    """Return, length and whether it ended by termination, of each env's first
    episode in `play_random_episodes`' records (arrays of shape (envs, steps));
    the episode must end within them."""
    done = np.logical_or(terminated, truncated)
    assert done.any(axis=1).all(), "an episode outlived the records"
    lengths = done.argmax(axis=1) + 1
    in_first = np.arange(done.shape[1]) < lengths[:, None]
    ended_by_termination = terminated[np.arange(done.shape[0]), lengths - 1]
    return np.where(in_first, reward, 0.0).sum(axis=1), lengths, ended_by_termination


def assert_one_episode_that_terminates(terminated, truncated):
    """Each env's first episode ends by termination at its last step, never before."""
    assert not terminated[:, :-1].any() and terminated[:, -1].all()
    assert not truncated.any()


def one_env_episode(env, params, policy, key, num_steps: int):
    """Roll a single (unbatched) env for `num_steps` steps.

    Returns the first observation and, per step, `(shown, reward, terminated,
    truncated)`, where `shown` is the observation the step produced before any
    auto-reset.
    """

    def step(carry, step_key):
        observation, state = carry
        policy_key, env_key = jax.random.split(step_key)
        action = policy(policy_key, observation, state)
        observation, state, reward, terminated, truncated, info = env.step(
            env_key, state, action, params
        )
        shown = info["final_observation"]
        return (observation, state), (shown, reward, terminated, truncated)

    reset_key, key = jax.random.split(key)
    first_observation, state = env.reset(reset_key, params)
    _, outputs = jax.lax.scan(
        step, (first_observation, state), jax.random.split(key, num_steps)
    )
    return first_observation, outputs


def oracle_and_memoryless_returns(env, params, oracle, memoryless, many_envs=8192):
    """Returns of an oracle (256 episodes, seed 0) and of a memoryless policy
    (`many_envs` episodes, seed 2), each episode `env.episode_length` steps."""
    oracle_returns = finished_returns(
        env, params, oracle, jax.random.PRNGKey(0), 256, env.episode_length
    )
    memoryless_returns = finished_returns(
        env, params, memoryless, jax.random.PRNGKey(2), many_envs, env.episode_length
    )
    return oracle_returns, memoryless_returns

