"""The step contract, checked for every registered environment id.

One compiled rollout per id (random actions, a few envs under vmap) feeds every
check: jit and vmap work, the same key gives the same trajectory, observations stay
inside the observation space, dtypes are normalised, and auto-reset hands back the
first observation of a fresh episode together with the last step's flags.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import environment

from memorax.environments import make, memory_ids, registered_ids
from memorax.environments.registry import _NEEDS_DOWNLOAD

NUM_ENVS = 4
NUM_STEPS = 160
# Episodes are cut at this length (if longer) so every rollout sees auto-resets.
EPISODE_LIMIT = 100
IDS = [env_id for env_id in registered_ids() if env_id not in _NEEDS_DOWNLOAD]
# The quick tier (-m "not slow") checks one id of each gymnax family, and the Easy level
# of every memory task (conftest.py); the whole suite checks every id.
QUICK_GYMNAX_IDS = {"CartPole-v1", "Pendulum-v1", "Breakout-MinAtar", "MemoryChain-bsuite", "FourRooms-misc"}


@partial(jax.jit, static_argnames=("env",))
def rollout(env, params, key):
    """Random-action rollout of NUM_ENVS envs; returns per-step records."""
    reset_key, key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, NUM_ENVS), params
    )
    space = env.observation_space(params)
    action_space = env.action_space(params)

    def step(carry, step_key):
        _, state = carry
        action_key, env_key = jax.random.split(step_key)
        action = jax.vmap(action_space.sample)(jax.random.split(action_key, NUM_ENVS))
        env_keys = jax.random.split(env_key, NUM_ENVS)
        next_obs, state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(env_keys, state, action, params)
        # gymnax's auto-reset draws the new episode from the second half of the key.
        reset_obs, _ = jax.vmap(
            lambda k: env.reset(jax.random.split(k)[1], params)
        )(env_keys)
        record = dict(
            observation=next_obs,
            final_observation=info["final_observation"],
            reset_observation=reset_obs,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            time=state.time,
            in_space=jax.vmap(space.contains)(next_obs),
            final_in_space=jax.vmap(space.contains)(info["final_observation"]),
        )
        return (next_obs, state), record

    first_in_space = jax.vmap(space.contains)(obs)
    _, records = jax.lax.scan(step, (obs, state), jax.random.split(key, NUM_STEPS))
    return first_in_space, records


@pytest.fixture(
    scope="module",
    params=[pytest.param(env_id, marks=[] if env_id in QUICK_GYMNAX_IDS or env_id in memory_ids() else [pytest.mark.slow]) for env_id in IDS],
)
def trajectory(request):
    _, params = make(request.param)
    limit = min(int(params.max_steps_in_episode), EPISODE_LIMIT)
    env, params = make(request.param, max_steps_in_episode=limit)
    key = jax.random.key(7)
    first = rollout(env, params, key)
    again = rollout(env, params, key)
    other = rollout(env, params, jax.random.key(8))
    return request.param, env, params, first, again, other


def test_same_key_same_trajectory_and_other_key_differs(trajectory):
    env_id, _, _, first, again, other = trajectory
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(other))
    ), f"{env_id}: a different key gave the same trajectory"



def test_observations_stay_in_space(trajectory):
    env_id, _, _, (first_in_space, records), _, _ = trajectory
    assert bool(jnp.all(first_in_space)), f"{env_id}: reset observation outside space"
    assert bool(jnp.all(records["in_space"])), f"{env_id}: observation outside space"
    assert bool(jnp.all(records["final_in_space"])), (
        f"{env_id}: final observation outside space"
    )


def test_step_dtypes_and_shapes(trajectory):
    env_id, env, params, (_, records), _, _ = trajectory
    space = env.observation_space(params)
    assert records["observation"].shape == (NUM_STEPS, NUM_ENVS, *space.shape), env_id
    assert records["observation"].dtype == space.dtype, env_id
    assert records["reward"].dtype == jnp.float32, env_id
    assert records["terminated"].dtype == jnp.bool_, env_id
    assert records["truncated"].dtype == jnp.bool_, env_id
    assert records["reward"].shape == (NUM_STEPS, NUM_ENVS), env_id


def test_auto_reset_starts_a_fresh_episode(trajectory):
    env_id, env, _, (_, records), _, _ = trajectory
    done = np.asarray(records["terminated"] | records["truncated"])
    observation = np.asarray(records["observation"])
    reset_observation = np.asarray(records["reset_observation"])
    final_observation = np.asarray(records["final_observation"])
    assert done.any(axis=0).all(), f"{env_id}: an env never finished an episode"
    assert (np.asarray(records["time"])[done] == 0).all(), f"{env_id}: not reset"
    if _uses_gymnax_auto_reset(env):
        np.testing.assert_array_equal(observation[done], reset_observation[done])
    # On other steps the observation is the step's own: final_observation.
    np.testing.assert_array_equal(observation[~done], final_observation[~done])


def _uses_gymnax_auto_reset(env) -> bool:
    """Whether `env` steps with gymnax's own `step`, whose reset key is known.

    Tasks with a step of their own (e.g. the noisy control tasks, which share one
    noise draw) are checked by `state.time` alone, and by their own tests.
    """
    bare = getattr(env, "unwrapped", env)
    return type(bare).step is environment.Environment.step


def test_make_rejects_offline_unavailable_ids():
    for env_id in _NEEDS_DOWNLOAD:
        with pytest.raises(ValueError, match=env_id):
            make(env_id)
